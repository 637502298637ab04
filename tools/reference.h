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

#endif
