/* Double-precision C reference of the Sparse Transformer block (formulas in sparsecl_block.h),
 * the attention through scl_reference_forward, which evaluates the pattern predicate directly. */
#ifndef SCL_TEST_REFERENCE_BLOCK_H
#define SCL_TEST_REFERENCE_BLOCK_H

#include "sparsecl_block.h"

/* y [B, N, D] in double. Returns 0, or -1 (bad spec, allocation failure) with a message. */
int reference_block(const char *spec, const scl_block_config *cfg, const scl_block_weights *w, const float *x,
                    double *y, char *msg, size_t msg_len);

/* Deterministic uniform values in [-scale, scale). */
void fill_uniform(float *p, size_t n, unsigned seed, float scale);

/* Random weights for cfg (fan-in scaled); free with free_weights. */
void make_weights(const scl_block_config *cfg, unsigned seed, scl_block_weights *w);
void free_weights(scl_block_weights *w);

/* max |got - ref| and max |ref| over n values. */
void compare(const float *got, const double *ref, size_t n, double *worst, double *scale);

#endif
