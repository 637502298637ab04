/* Double-precision reference of masked softmax attention, evaluating the pattern's element
 * predicate directly (never the LUT), for tests and for verifying autotuner candidates. */
#ifndef SCL_REFERENCE_H
#define SCL_REFERENCE_H

#include "scl_patterns.h"
#include "sparsecl.h"

/* q, k, v in float, laid out as `shape` says; o (like q) and lse ([B, H, N_q]) in double.
 * Rows with no allowed key get O = 0, LSE = -inf. Returns 0, or -1 on allocation failure. */
int scl_reference_forward(const spc_bound *pattern, const scl_shape *shape, const float *q, const float *k,
                          const float *v, double *o, double *lse);

/* One query row's scores, shared by both references: scores[j] = scale * (q_i . k_j) in double where
 * the pattern allows (h, i, j), else -inf, for j < seq_k. qi: the row of Q; kh: K of the row's batch
 * and key/value head, rows kn floats apart. Returns the largest score (-inf when none is allowed). */
double scl_reference_scores(const spc_bound *pattern, const scl_shape *shape, int h, int64_t i,
                            const float *qi, const float *kh, int64_t kn, double *scores);

#endif
