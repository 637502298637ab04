/* Double-precision backward reference: placeholder. */
typedef int scl_reference_backward_placeholder;
