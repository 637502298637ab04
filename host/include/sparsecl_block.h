/* sparsecl: a Sparse Transformer block (Child et al. 2019) forward pass on the device.
 *
 *   h   = LN1(x)                          LayerNorm over d_model, gamma/beta, eps (default 1e-5)
 *   q|k|v = h W_qkv + b_qkv               CLBlast GEMMs; W_qkv [D, 3D], columns [0,D) give Q,
 *                                         [D,2D) K, [2D,3D) V; each [B, N, H, d] (d = D / H)
 *   a   = attention(q, k, v)              scl_plan_forward with SCL_LAYOUT_BNHD: no transposes
 *   out = x + a W_o + b_o                 W_o [D, D]
 *   y   = out + GELU(LN2(out) W_1 + b_1) W_2 + b_2     W_1 [D, D_ff], W_2 [D_ff, D]
 *
 * GELU is the tanh approximation 0.5 t (1 + tanh(sqrt(2/pi) (t + 0.044715 t^3))), as in GPT-2.
 * All tensors are float32, row-major: x and y [B, N, D]. Weights are the (in, out) matrices of
 * y = x W, i.e. PyTorch's nn.Linear.weight transposed.
 *
 * Declared here, defined in libsparsecl_block (CMake sparsecl::sparsecl_block, pkg-config
 * sparsecl_block), which links libsparsecl and CLBlast; libsparsecl itself does not.
 *
 * Same ABI and thread rules as sparsecl.h: a block sets its kernels' arguments and reuses its
 * scratch buffers on every call, so calls that take the same block must not overlap (lock
 * around them); different blocks may run from different threads. */
#ifndef SPARSECL_BLOCK_H
#define SPARSECL_BLOCK_H

#include "sparsecl.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct scl_block scl_block;

typedef struct scl_block_config {
    int batch;   /* B >= 1 */
    int64_t seq; /* N >= 1 (any length: the tail block is partial) */
    int d_model; /* D = heads * head_dim, head_dim one of 16, 32, 64, 80, 96, 128, 256 */
    int heads;   /* H >= 1 */
    int d_ff;    /* MLP width >= 1 */
    int block;   /* layout block size of the attention pattern: power of two 8..256 */
    float eps;   /* LayerNorm epsilon; 0 means 1e-5 */
} scl_block_config;

/* Host arrays, float32, row-major; copied to the device by scl_block_create (not kept). */
typedef struct scl_block_weights {
    const float *ln1_g, *ln1_b; /* [D] */
    const float *w_qkv;         /* [D, 3D] */
    const float *b_qkv;         /* [3D] */
    const float *w_o, *b_o;     /* [D, D], [D] */
    const float *ln2_g, *ln2_b; /* [D] */
    const float *w_1, *b_1;     /* [D, D_ff], [D_ff] */
    const float *w_2, *b_2;     /* [D_ff, D], [D] */
} scl_block_weights;

/* Validates the configuration, makes the attention plan for the pattern (any pattern, per-head
 * ones included), builds the block kernels and uploads the weights. The pattern may be destroyed
 * afterwards. Errors name the offending field or weight in scl_last_error_message(rt). */
SCL_API scl_status scl_block_create(scl_runtime *rt, const scl_pattern *pattern,
                                    const scl_block_config *config, const scl_block_weights *weights,
                                    scl_block **out);
SCL_API void scl_block_destroy(scl_block *block);

/* Bytes of x and of y: B * N * D * sizeof(float). */
SCL_API size_t scl_block_tensor_bytes(const scl_block *block);
/* The attention plan inside the block (owned by the block), for its statistics and parameters. */
SCL_API const scl_plan *scl_block_plan(const scl_block *block);

/* y = block(x) on the caller's buffers (sub-buffers are fine; x and y must not overlap).
 * Enqueues only. The wait list (may be NULL/0) is honoured, on in-order and out-of-order queues;
 * if `event` is non-NULL it receives an event, complete when y is written, that the caller must
 * release. */
SCL_API scl_status scl_block_forward(scl_block *block, cl_mem x, cl_mem y, cl_uint num_wait,
                                     const cl_event *wait_list, cl_event *event);
/* Host-array convenience: copies x in, runs, copies y out, blocks until done. */
SCL_API scl_status scl_block_forward_host(scl_block *block, const float *x, float *y);

#ifdef __cplusplus
}
#endif
#endif
