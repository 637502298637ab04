/* Verification of tuning candidates against the double-precision reference, on a small awkward
 * problem (a tail block, grouped-query heads, a global row), with one tolerance per storage type
 * (relative to the output or gradient scale): f32 1e-4, f16 2e-3, bf16 8e-3. Also the storage
 * conversions of the tuner's problems. */
#ifndef SCL_TUNE_VERIFY_H
#define SCL_TUNE_VERIFY_H

#include "internal.h"
#include "param_schema.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct at_verify {
    scl_runtime *rt;
    scl_dtype dtype;
    scl_pattern *pattern;
    scl_shape shape;
    float *q, *k, *v, *dout;  /* inputs as float, exactly the values stored */
    void *sq, *sk, *sv, *sdo; /* the same in the storage type (aliases of q.. for f32) */
    double *o_ref, *l_ref, o_scale;
    /* Backward: a plan that keeps its forward (default parameters) and rebuilds only the backward
     * kernels per candidate, its O and LSE, and the reference gradients dQ, dK, dV with scales. */
    scl_plan *plan;
    void *so;
    float *lse;
    double *gref[3], gscale[3];
} at_verify;

/* Fills x with reproducible values in [-1, 1). */
void at_fill_random(float *x, size_t n, unsigned seed);
/* n floats into dtype t (f32: a copy; f16, bf16: their bits) at dst. */
void at_store(scl_dtype t, const float *src, void *dst, size_t n);
/* Element i of a tensor stored in dtype t. */
double at_load(scl_dtype t, const void *src, size_t i);
/* The verification tolerance of dtype t, relative to the output (gradient) scale. */
double at_tolerance(scl_dtype t);

/* The verification problem for head_dim x block in dtype and its forward reference; with
 * backward also dO, the default-parameter forward of the kernels and the reference gradients. */
scl_status at_verify_init(at_verify *v, scl_runtime *rt, scl_dtype dtype, int head_dim, int block,
                          bool backward);
/* 0 when forward parameters p of variant k pass (*err = the error), INFINITY with *why otherwise. */
double at_verify_forward(at_verify *v, const scli_param_schema *k, const void *p, double *err, char *why,
                         size_t len);
/* The same for backward parameters p, on dQ, dK and dV (the worst of the three). */
double at_verify_backward(at_verify *v, const void *p, double *err, char *why, size_t len);
void at_verify_free(at_verify *v);

#endif
