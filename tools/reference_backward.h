/* Double-precision reference gradients of masked softmax attention, evaluating the pattern's
 * element predicate directly (never the LUT), for tests and for verifying autotuner candidates. */
#ifndef SCL_REFERENCE_BACKWARD_H
#define SCL_REFERENCE_BACKWARD_H

#include "scl_patterns.h"
#include "sparsecl.h"

/* Analytic gradients of O = softmax(scale * Q K^T masked by allowed(i, j)) V for the upstream
 * gradient dout. q, k, v, dout in float, laid out as `shape` says; dq (like q), dk and dv (like
 * k, summed over the query heads of a GQA group) in double. The softmax is recomputed here in
 * double (its own O and LSE, not the kernel's). Rows with no allowed key contribute nothing.
 * Returns 0, or -1 on allocation failure. */
int scl_reference_backward(const spc_bound *pattern, const scl_shape *shape, const float *q, const float *k,
                           const float *v, const float *dout, double *dq, double *dk, double *dv);

#endif
