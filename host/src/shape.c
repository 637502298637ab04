/* Shape validation and strides. */
#include "shape.h"

#include <math.h>
#include <stdio.h>

static const int supported_dims[] = {16, 32, 64, 80, 96, 128, 256};

scl_status scli_shape_normalize(const scl_shape *in, scl_shape *out, char *msg, size_t len)
{
    if (!in) {
        snprintf(msg, len, "shape is NULL");
        return SCL_ERR_INVALID_ARGUMENT;
    }
    scl_shape s = *in;
    if (s.kv_heads == 0) s.kv_heads = s.heads;
    if (s.seq_k == 0) s.seq_k = s.seq_q;
#define BAD(...)                                                                                               \
    do {                                                                                                       \
        snprintf(msg, len, __VA_ARGS__);                                                                       \
        return SCL_ERR_INVALID_ARGUMENT;                                                                       \
    } while (0)
    if (s.batch < 1) BAD("batch must be >= 1, got %d", s.batch);
    if (s.heads < 1) BAD("heads must be >= 1, got %d", s.heads);
    if (s.kv_heads < 1) BAD("kv_heads must be >= 1, got %d", s.kv_heads);
    if (s.heads % s.kv_heads != 0) BAD("heads (%d) must be a multiple of kv_heads (%d)", s.heads, s.kv_heads);
    if (s.seq_q < 1) BAD("query length must be >= 1, got %lld", (long long)s.seq_q);
    if (s.seq_k < 1) BAD("key length must be >= 1, got %lld", (long long)s.seq_k);
    if (s.seq_q > (1 << 30) || s.seq_k > (1 << 30)) BAD("sequence lengths above 2^30 are not supported");
    int dim_ok = 0;
    for (size_t i = 0; i < sizeof supported_dims / sizeof supported_dims[0]; i++) dim_ok |= s.head_dim == supported_dims[i];
    if (!dim_ok) BAD("head dim %d is not supported (16, 32, 64, 80, 96, 128, 256)", s.head_dim);
    if (s.block < 8 || s.block > 256 || (s.block & (s.block - 1)))
        BAD("block size %d must be a power of two in 8..256", s.block);
    if (!(s.scale >= 0.0f) || isinf(s.scale)) BAD("scale must be finite and >= 0 (0 = 1/sqrt(d))");
    if (s.scale == 0.0f) s.scale = (float)(1.0 / sqrt((double)s.head_dim));
    if (s.layout != SCL_LAYOUT_BHND && s.layout != SCL_LAYOUT_BNHD) BAD("unknown tensor layout %d", (int)s.layout);
    double elems = (double)s.batch * s.heads * (double)(s.seq_q > s.seq_k ? s.seq_q : s.seq_k) * s.head_dim;
    if (elems > 9e15) BAD("tensor of %.3g elements is too large", elems);
#undef BAD
    *out = s;
    return SCL_OK;
}

static void strides(const scl_shape *s, int heads, int64_t n, scli_strides *out)
{
    if (s->layout == SCL_LAYOUT_BNHD) {
        out->n = (int64_t)heads * s->head_dim;
        out->h = s->head_dim;
        out->b = n * out->n;
    } else {
        out->n = s->head_dim;
        out->h = n * s->head_dim;
        out->b = heads * out->h;
    }
}

void scli_shape_strides(const scl_shape *s, scli_strides *q, scli_strides *kv)
{
    strides(s, s->heads, s->seq_q, q);
    strides(s, s->kv_heads, s->seq_k, kv);
}

int64_t scli_shape_q_elems(const scl_shape *s)
{
    return (int64_t)s->batch * s->heads * s->seq_q * s->head_dim;
}

int64_t scli_shape_kv_elems(const scl_shape *s)
{
    return (int64_t)s->batch * s->kv_heads * s->seq_k * s->head_dim;
}
