/* Sparse Transformer block: placeholder. */
typedef int scl_block_placeholder;
