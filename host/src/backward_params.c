/* Backward-kernel parameters: placeholder. */
typedef int scl_backward_params_placeholder;
