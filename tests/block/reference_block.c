/* Double-precision reference of the Sparse Transformer block: LayerNorm, plain GEMM loops, the
 * pattern-predicate attention reference, GELU (tanh approximation, as the kernel). */
#include "reference_block.h"

#include "reference.h"
#include "scl_patterns.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fill_uniform(float *p, size_t n, unsigned seed, float scale)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = ((float)((s >> 8) / 16777216.0) * 2.0f - 1.0f) * scale;
    }
}

static float *uniform(size_t n, unsigned seed, float scale, float offset)
{
    float *p = malloc(n * sizeof *p);
    if (!p) return NULL;
    fill_uniform(p, n, seed, scale);
    for (size_t i = 0; i < n; i++)
        p[i] += offset;
    return p;
}

void make_weights(const scl_block_config *c, unsigned seed, scl_block_weights *w)
{
    const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff;
    const float sd = 1.0f / sqrtf((float)D), sf = 1.0f / sqrtf((float)F);
    w->ln1_g = uniform(D, seed + 1, 0.2f, 1.0f);
    w->ln1_b = uniform(D, seed + 2, 0.1f, 0.0f);
    w->w_qkv = uniform(D * 3 * D, seed + 3, sd, 0.0f);
    w->b_qkv = uniform(3 * D, seed + 4, 0.1f, 0.0f);
    w->w_o = uniform(D * D, seed + 5, sd, 0.0f);
    w->b_o = uniform(D, seed + 6, 0.1f, 0.0f);
    w->ln2_g = uniform(D, seed + 7, 0.2f, 1.0f);
    w->ln2_b = uniform(D, seed + 8, 0.1f, 0.0f);
    w->w_1 = uniform(D * F, seed + 9, sd, 0.0f);
    w->b_1 = uniform(F, seed + 10, 0.1f, 0.0f);
    w->w_2 = uniform(F * D, seed + 11, sf, 0.0f);
    w->b_2 = uniform(D, seed + 12, 0.1f, 0.0f);
}

void free_weights(scl_block_weights *w)
{
    const float *all[] = {w->ln1_g, w->ln1_b, w->w_qkv, w->b_qkv, w->w_o, w->b_o,
                          w->ln2_g, w->ln2_b, w->w_1,   w->b_1,   w->w_2, w->b_2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free((void *)all[i]);
    memset(w, 0, sizeof *w);
}

void compare(const float *got, const double *ref, size_t n, double *worst, double *scale)
{
    *worst = 0;
    *scale = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= *worst)) *worst = e; /* NaN counts as the worst */
        if (fabs(ref[i]) > *scale) *scale = fabs(ref[i]);
    }
}

static void layernorm(const double *x, double *y, size_t rows, size_t cols, const float *g, const float *b,
                      double eps)
{
    for (size_t r = 0; r < rows; r++) {
        const double *xr = x + r * cols;
        double mean = 0, var = 0;
        for (size_t c = 0; c < cols; c++)
            mean += xr[c];
        mean /= (double)cols;
        for (size_t c = 0; c < cols; c++)
            var += (xr[c] - mean) * (xr[c] - mean);
        var /= (double)cols;
        const double inv = 1.0 / sqrt(var + eps);
        for (size_t c = 0; c < cols; c++)
            y[r * cols + c] = (xr[c] - mean) * inv * g[c] + b[c];
    }
}

/* y[rows, n] = x[rows, k] W[:, col0 : col0 + n] (W has ldw columns) + bias[col0 ...]. */
static void linear(const double *x, double *y, size_t rows, size_t k, size_t n, const float *w, size_t ldw,
                   size_t col0, const float *bias)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) {
            double s = bias[col0 + j];
            for (size_t i = 0; i < k; i++)
                s += x[r * k + i] * (double)w[i * ldw + col0 + j];
            y[r * n + j] = s;
        }
}

static double gelu(double t)
{
    return 0.5 * t * (1.0 + tanh(0.7978845608028654 /* sqrt(2/pi) */ * (t + 0.044715 * t * t * t)));
}

int reference_block(const char *spec, const scl_block_config *c, const scl_block_weights *w, const float *x,
                    double *y, char *msg, size_t msg_len)
{
    const size_t M = (size_t)c->batch * (size_t)c->seq, D = (size_t)c->d_model, F = (size_t)c->d_ff;
    const double eps = c->eps > 0 ? c->eps : 1e-5;
    spc_pattern *pat = NULL;
    spc_bound *bound = NULL;
    spc_error err = {0};
    spc_geometry g = {c->seq, c->seq, c->block, c->heads};
    if (spc_parse(spec, &pat, &err) != 0 || spc_bind(pat, &g, &bound, &err) != 0) {
        snprintf(msg, msg_len, "pattern '%s': %s", spec, err.message);
        spc_pattern_free(pat);
        return -1;
    }
    double *xd = malloc(M * D * sizeof *xd), *h = malloc(M * D * sizeof *h), *t = malloc(M * D * sizeof *t),
           *out = calloc(M * D, sizeof *out), *f = malloc(M * F * sizeof *f), *o = malloc(M * D * sizeof *o),
           *lse = malloc(M * (size_t)c->heads * sizeof *lse);
    float *qkv[3] = {malloc(M * D * sizeof(float)), malloc(M * D * sizeof(float)),
                     malloc(M * D * sizeof(float))};
    int rc = -1;
    if (!xd || !h || !t || !out || !f || !o || !lse || !qkv[0] || !qkv[1] || !qkv[2]) {
        snprintf(msg, msg_len, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < M * D; i++)
        xd[i] = x[i];
    layernorm(xd, h, M, D, w->ln1_g, w->ln1_b, eps);
    for (int s = 0; s < 3; s++) {
        linear(h, t, M, D, D, w->w_qkv, 3 * D, (size_t)s * D, w->b_qkv);
        for (size_t i = 0; i < M * D; i++)
            qkv[s][i] = (float)t[i];
    }
    scl_shape shape = {c->batch,       c->heads,
                       c->heads,       c->seq,
                       c->seq,         c->d_model / c->heads,
                       c->block,       (float)(1.0 / sqrt((double)(c->d_model / c->heads))),
                       SCL_LAYOUT_BNHD};
    if (scl_reference_forward(bound, &shape, qkv[0], qkv[1], qkv[2], o, lse) != 0) {
        snprintf(msg, msg_len, "attention reference failed");
        goto done;
    }
    linear(o, t, M, D, D, w->w_o, D, 0, w->b_o);
    for (size_t i = 0; i < M * D; i++)
        out[i] = xd[i] + t[i];
    layernorm(out, h, M, D, w->ln2_g, w->ln2_b, eps);
    linear(h, f, M, D, F, w->w_1, F, 0, w->b_1);
    for (size_t i = 0; i < M * F; i++)
        f[i] = gelu(f[i]);
    linear(f, t, M, F, D, w->w_2, D, 0, w->b_2);
    for (size_t i = 0; i < M * D; i++)
        y[i] = out[i] + t[i];
    rc = 0;
done:
    free(xd), free(h), free(t), free(out), free(f), free(o), free(lse);
    for (int s = 0; s < 3; s++)
        free(qkv[s]);
    spc_bound_free(bound);
    spc_pattern_free(pat);
    return rc;
}
