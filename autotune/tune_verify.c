/* Verification of tuning candidates: the small problem, its double reference (forward and
 * backward) and the comparison of a candidate's results with it. */
#include "tune_verify.h"

#include "backward.h"
#include "plan_internal.h"
#include "reference.h"
#include "reference_backward.h"
#include "scl_bf16.h"
#include "scl_npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void at_fill_random(float *x, size_t n, unsigned seed)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) / 16777216.0) * 2.0f - 1.0f;
    }
}

void at_store(scl_dtype t, const float *src, void *dst, size_t n)
{
    if (t == SCL_F32) {
        memmove(dst, src, n * sizeof *src);
        return;
    }
    for (size_t i = 0; i < n; i++)
        ((uint16_t *)dst)[i] = t == SCL_F16 ? npy_float_to_half(src[i]) : scl_float_to_bf16(src[i]);
}

double at_load(scl_dtype t, const void *src, size_t i)
{
    uint16_t h = t == SCL_F32 ? 0 : ((const uint16_t *)src)[i];
    return t == SCL_F32   ? ((const float *)src)[i]
           : t == SCL_F16 ? npy_half_to_float(h)
                          : scl_bf16_to_float(h);
}

double at_tolerance(scl_dtype t)
{
    /* Storage rounding of the output alone is 2^-11 (f16) or 2^-8 (bf16) of its scale. */
    return t == SCL_F16 ? 2e-3 : t == SCL_BF16 ? 8e-3 : 1e-4;
}

/* x as stored in dtype t: *stored receives the storage copy (x itself for f32), x the values
 * the device sees. NULL when out of memory. */
static void *stored_copy(scl_dtype t, float *x, size_t n)
{
    if (t == SCL_F32) return x;
    void *s = malloc(n * 2);
    if (!s) return NULL;
    at_store(t, x, s, n);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)at_load(t, s, i);
    return s;
}

static double max_abs(const double *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m > 0 ? m : 1;
}

/* Largest |got - ref| over n elements of a tensor stored in t (NaN: infinite). */
static double max_error(scl_dtype t, const void *got, const double *ref, size_t n)
{
    double err = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(at_load(t, got, i) - ref[i]);
        if (!(e <= err)) err = isnan(e) ? INFINITY : e;
    }
    return err;
}

static scl_status forward_reference(at_verify *v)
{
    const scl_shape *vs = &v->shape;
    size_t nq = (size_t)vs->heads * vs->seq_q * vs->head_dim,
           nk = (size_t)vs->kv_heads * vs->seq_k * vs->head_dim;
    v->q = malloc(nq * 4), v->k = malloc(nk * 4), v->v = malloc(nk * 4);
    v->o_ref = malloc(nq * 8), v->l_ref = malloc((size_t)vs->heads * vs->seq_q * 8);
    if (!v->q || !v->k || !v->v || !v->o_ref || !v->l_ref)
        return scli_fail(v->rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    at_fill_random(v->q, nq, 1), at_fill_random(v->k, nk, 2), at_fill_random(v->v, nk, 3);
    /* the reference sees exactly the stored values */
    if (!(v->sq = stored_copy(v->dtype, v->q, nq)) || !(v->sk = stored_copy(v->dtype, v->k, nk)) ||
        !(v->sv = stored_copy(v->dtype, v->v, nk)))
        return scli_fail(v->rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    spc_geometry g = {vs->seq_q, vs->seq_k, vs->block, vs->heads};
    spc_bound *bound = NULL;
    spc_error perr;
    scl_shape vsn;
    char msg[256];
    scli_shape_normalize(vs, &vsn, msg, sizeof msg);
    if (spc_bind(v->pattern->spec, &g, &bound, &perr) != 0 ||
        scl_reference_forward(bound, &vsn, v->q, v->k, v->v, v->o_ref, v->l_ref) != 0) {
        spc_bound_free(bound);
        return scli_fail(v->rt, SCL_ERR_PATTERN, "verification reference: %s", perr.message);
    }
    spc_bound_free(bound);
    v->o_scale = max_abs(v->o_ref, nq);
    return SCL_OK;
}

/* dO, the kernels' own O and LSE (default forward parameters), and the reference gradients. */
static scl_status backward_reference(at_verify *v)
{
    scl_runtime *rt = v->rt;
    scl_status st = scl_plan_create(rt, v->pattern, &v->shape, v->dtype, &v->plan);
    if (st != SCL_OK) return st;
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(v->plan, &sz);
    size_t es = scli_dtype_size(v->dtype), nq = sz.q / es, nk = sz.k / es;
    v->dout = malloc(nq * 4), v->lse = malloc(sz.lse), v->so = malloc(sz.o);
    for (int t = 0; t < 3; t++)
        v->gref[t] = malloc((t ? nk : nq) * 8);
    if (!v->dout || !v->lse || !v->so || !v->gref[0] || !v->gref[1] || !v->gref[2])
        return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    at_fill_random(v->dout, nq, 4);
    if (!(v->sdo = stored_copy(v->dtype, v->dout, nq)))
        return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    if ((st = scl_plan_forward_host(v->plan, v->sq, v->sk, v->sv, v->so, v->lse)) != SCL_OK) return st;
    if (scl_reference_backward(v->plan->bound, &v->plan->shape, v->q, v->k, v->v, v->dout, v->gref[0],
                               v->gref[1], v->gref[2]) != 0)
        return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory (reference gradients)");
    for (int t = 0; t < 3; t++)
        v->gscale[t] = max_abs(v->gref[t], t ? nk : nq);
    return SCL_OK;
}

scl_status at_verify_init(at_verify *v, scl_runtime *rt, scl_dtype dtype, int head_dim, int block,
                          bool backward)
{
    memset(v, 0, sizeof *v);
    v->rt = rt;
    v->dtype = dtype;
    /* Small, awkward shape: a tail block, grouped-query heads, a global row. */
    int64_t vn = 2 * (int64_t)block + 3;
    v->shape = (scl_shape){1, 2, 1, vn, vn, head_dim, block, 0.0f, SCL_LAYOUT_BHND};
    scl_status st = scl_pattern_create(rt, "causal | global(1)", &v->pattern);
    if (st == SCL_OK) st = forward_reference(v);
    if (st == SCL_OK && backward) st = backward_reference(v);
    return st;
}

double at_verify_forward(at_verify *v, const scli_param_schema *k, const void *p, double *err_out, char *why,
                         size_t len)
{
    scl_runtime *rt = v->rt;
    scl_plan *plan = NULL;
    scl_status st = scli_plan_create_with_params(rt, v->pattern, &v->shape, v->dtype, k, p, &plan);
    if (st != SCL_OK) {
        snprintf(why, len, "build: %.400s", scl_last_error_message(rt));
        return INFINITY;
    }
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(plan, &sz);
    size_t nq = sz.q / scli_dtype_size(v->dtype), nl = sz.lse / 4;
    void *o = malloc(sz.o);
    float *lse = malloc(sz.lse);
    double result = INFINITY;
    if (!o || !lse) {
        snprintf(why, len, "out of host memory");
    } else if (scl_plan_forward_host(plan, v->sq, v->sk, v->sv, o, lse) != SCL_OK) {
        snprintf(why, len, "verification run: %.400s", scl_last_error_message(rt));
    } else {
        double err = max_error(v->dtype, o, v->o_ref, nq);
        for (size_t i = 0; i < nl; i++)
            if (!isinf(v->l_ref[i]) && !(fabs(lse[i] - v->l_ref[i]) <= 1e-3)) err = INFINITY;
        *err_out = err /= v->o_scale;
        double tol = at_tolerance(v->dtype);
        if (!(err <= tol))
            snprintf(why, len, "verification failed: max error %.3g relative (tolerance %.0e)", err, tol);
        else
            result = 0;
    }
    free(o), free(lse);
    scl_plan_destroy(plan);
    return result;
}

double at_verify_backward(at_verify *v, const void *p, double *err_out, char *why, size_t len)
{
    scl_runtime *rt = v->rt;
    if (scli_plan_prepare_backward(v->plan, p) != SCL_OK) {
        snprintf(why, len, "build: %.400s", scl_last_error_message(rt));
        return INFINITY;
    }
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(v->plan, &sz);
    size_t bytes[3] = {sz.q, sz.k, sz.v};
    void *g[3] = {malloc(sz.q), malloc(sz.k), malloc(sz.v)};
    double result = INFINITY;
    if (!g[0] || !g[1] || !g[2]) {
        snprintf(why, len, "out of host memory");
    } else if (scl_plan_backward_host(v->plan, v->sq, v->sk, v->sv, v->so, v->lse, v->sdo, g[0], g[1],
                                      g[2]) != SCL_OK) {
        snprintf(why, len, "verification run: %.400s", scl_last_error_message(rt));
    } else {
        /* Each gradient relative to its own scale (as tests/backward does); the worst of the three. */
        double err = 0, rel[3];
        for (int t = 0; t < 3; t++) {
            rel[t] =
                max_error(v->dtype, g[t], v->gref[t], bytes[t] / scli_dtype_size(v->dtype)) / v->gscale[t];
            err = fmax(err, rel[t]);
        }
        *err_out = err;
        double tol = at_tolerance(v->dtype);
        if (!(err <= tol))
            snprintf(why, len,
                     "verification failed: max error relative to gradient scale dq %.3g dk %.3g dv %.3g "
                     "(tolerance %.0e)",
                     rel[0], rel[1], rel[2], tol);
        else
            result = 0;
    }
    free(g[0]), free(g[1]), free(g[2]);
    return result;
}

void at_verify_free(at_verify *v)
{
    void *stored[] = {v->sq, v->sk, v->sv, v->sdo}, *plain[] = {v->q, v->k, v->v, v->dout};
    for (int i = 0; i < 4; i++)
        if (stored[i] != plain[i]) free(stored[i]);
    free(v->q), free(v->k), free(v->v), free(v->dout), free(v->o_ref), free(v->l_ref);
    free(v->so), free(v->lse), free(v->gref[0]), free(v->gref[1]), free(v->gref[2]);
    scl_plan_destroy(v->plan);
    scl_pattern_destroy(v->pattern);
    memset(v, 0, sizeof *v);
}
