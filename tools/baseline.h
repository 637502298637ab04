/* Dense attention through CLBlast, the baseline the sparse kernels are benchmarked against:
 *   S = Q K^T       CLBlastSgemmBatched, one item per batch*head (S is [B*H, N_q, N_k] fp32)
 *   P = softmax(S)  kernels/softmax_rows.cl, scale applied, optional causal mask, in place
 *   O = P V         CLBlastSgemmBatched
 * Grouped-query attention works through the per-item offsets: query head h reads kv head
 * h / (H / H_kv). Both tensor layouts of scl_shape (BHND, BNHD) work through the GEMM leading
 * dimensions. The causal mask is the pattern compiler's `causal` (key j allowed for query i when
 * j <= i); rows with no allowed key give O = 0. */
#ifndef SCL_BASELINE_H
#define SCL_BASELINE_H

#include "internal.h"

typedef struct scl_baseline scl_baseline;

/* Bytes of the score matrix S for the shape (B*H*N_q*N_k*4), SIZE_MAX when that overflows or the
 * shape is invalid. */
size_t scl_baseline_scores_bytes(const scl_shape *shape);

/* Validates the shape, builds softmax_rows.cl and allocates S.
 * SCL_ERR_OUT_OF_MEMORY, with a message giving the bytes S needs against the device's maximum
 * allocation and global memory, when the scores do not fit (or the allocation fails).
 * SCL_ERR_UNSUPPORTED for SCL_F16: the baseline computes in float32 only (CLBlast's half GEMM,
 * Hgemm, would also need cl_khr_fp16). */
scl_status scl_baseline_create(scl_runtime *rt, const scl_shape *shape, scl_dtype dtype, int causal,
                               scl_baseline **out);

/* Enqueues the three steps on the runtime's queue for float32 buffers q [B,H,N_q,d],
 * k, v [B,H_kv,N_k,d], o like q (in the shape's layout), waits, and returns in *ms (may be NULL)
 * the device time from the start of the first step to the end of the last one, from profiling
 * events (host time when the queue has no profiling). Buffers too small for the shape are
 * refused with SCL_ERR_INVALID_ARGUMENT naming the tensor. */
scl_status scl_baseline_run(scl_baseline *b, cl_mem q, cl_mem k, cl_mem v, cl_mem o, double *ms);

void scl_baseline_destroy(scl_baseline *b);

#endif
