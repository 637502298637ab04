/* Helpers of decomposed plans (patterns/decompose.c): each component of a pattern runs the
 * ordinary block-sparse kernels over a mapped space of gathered or permuted positions.
 *
 * gather_rows   dst[bh][p][:] = src[b, h, map[p], :] (0 for padding, map[p] < 0): Q, K, V, O, dO
 *               into a component's mapped order, contiguous [B*H][n][D].
 * gather_lse    the same for a float [B*H][n] row vector (the final LSE, for the backward pass).
 * merge_parts   O and LSE of up to NPARTS components combined per row by their log-sum-exps (the
 *               merge flash-decoding uses): LSE = log sum_k e^LSE_k, O = sum_k e^(LSE_k - LSE) O_k.
 *               The components partition the allowed keys, so this is exactly softmax attention.
 * sum_parts     gradients of the components summed per row (dQ over queries, dK/dV over keys).
 *
 * Two work-item mappings, like attn_prep_kv's (ROW_FORM follows the forward parameter
 * prep_by_column, so the autotuner picks it with the rest): ROW_FORM 0 (GPUs) one work-item per
 * (CW head-dim elements, row, batch*head), so consecutive work-items touch consecutive
 * addresses; CW is 16 bytes of storage where d allows (the host passes it), else 4 (every
 * supported d is a multiple of 4), read and written as one 16-byte vector where the strides are
 * multiples of CW (2-byte accesses ran at a third of an H200's bandwidth). ROW_FORM 1 (CPUs) one
 * work-item per (row, batch*head) looping over the row, so the merge weights are computed once
 * per row and the copies are plain vectorizable loops. A part's rows are found through inv[i]
 * (mapped row of original row i, -1 = not in that part; a NULL inv is the identity). Parts arrive
 * as separate arguments (OpenCL C has no arrays of buffers); parts >= NPARTS are ignored.
 * Compile-time: D head dim, NPARTS 1..4, ROW_FORM, CW, SCL_F16 / SCL_BF16 for 16-bit storage. */
#include "common.clh"

/* Defaults so the file compiles alone; the host passes all three. */
#ifndef D
#define D 64
#endif
#ifndef NPARTS
#define NPARTS 2
#endif
#ifndef ROW_FORM
#define ROW_FORM 1
#endif

/* Work-item coordinates: CW columns [c0, c1), row, batch*head. */
#if ROW_FORM
#undef CW
#define CW D
#define COORDS(n)                                                                                              \
    const int row = get_global_id(0), bh = get_global_id(1), c0 = 0, c1 = D;                                   \
    if (row >= (n)) return;
#else
#ifndef CW
#define CW 4
#endif
#define COORDS(n)                                                                                              \
    const int c0 = get_global_id(0) * CW, c1 = c0 + CW, row = get_global_id(1), bh = get_global_id(2);         \
    if (c0 >= D || row >= (n)) return;
#endif

/* VEC: CW elements are 16 bytes, one vector access where the strides (in elements) keep it aligned. */
#if defined(SCL_F16) || defined(SCL_BF16)
#define VEC (!ROW_FORM && CW == 8)
#else
#define VEC (!ROW_FORM && CW == 4)
#endif
#define ALIGNED(sb, sh, sn) (VEC && (((sb) | (sh) | (sn)) & (CW - 1)) == 0)
#define PIECE(p) (*(__global uint4 *)(p))
#define CPIECE(p) (*(__global const uint4 *)(p))

#if VEC
/* The CW floats of the 16-byte piece at p, and back (round to nearest even, as STORE); f16 by
 * vload_half8 / vstore_half8_rte (half has no other use without cl_khr_fp16). */
__attribute__((always_inline)) inline void load_piece(__global const scl_store_t *p, float *f)
{
#if defined(SCL_F16)
    vstore8(vload_half8(0, p), 0, f);
#else
    const uint4 r = CPIECE(p);
    const uint u[4] = {r.s0, r.s1, r.s2, r.s3};
#if defined(SCL_BF16)
    for (int i = 0; i < 4; i++)
        f[2 * i] = as_float(u[i] << 16), f[2 * i + 1] = as_float(u[i] & 0xffff0000u);
#else
    for (int i = 0; i < 4; i++)
        f[i] = as_float(u[i]);
#endif
#endif
}

__attribute__((always_inline)) inline void store_piece(__global scl_store_t *p, const float *f)
{
#if defined(SCL_F16)
    vstore_half8_rte(vload8(0, f), 0, p);
#elif defined(SCL_BF16)
    uint u[4];
    for (int i = 0; i < 4; i++)
        u[i] = (uint)scl_float_to_bf16(f[2 * i]) | (uint)scl_float_to_bf16(f[2 * i + 1]) << 16;
    PIECE(p) = (uint4)(u[0], u[1], u[2], u[3]);
#else
    PIECE(p) = as_uint4(vload4(0, f));
#endif
}
#define ADD_PIECE(xr, wk)                                                                                     \
    {                                                                                                         \
        float f[CW];                                                                                          \
        load_piece((xr) + c0, f);                                                                \
        for (int c = 0; c < CW; c++)                                                                          \
            acc[c] += (wk)*f[c];                                                                              \
    }
#define STORE_PIECE(d) store_piece((d) + c0, acc)
#else
#define ADD_PIECE(xr, wk)                                                                                     \
    {                                                                                                         \
    }
#define STORE_PIECE(d) (void)0
#endif

__kernel void gather_rows(__global const scl_store_t *src, __global scl_store_t *dst, __global const int *map,
                          const int n_dst, const int heads, const long sb, const long sh, const long sn)
{
    COORDS(n_dst)
    const int b = bh / heads, h = bh % heads, i = map[row];
    __global const scl_store_t *s = src + b * sb + h * sh + (long)(i < 0 ? 0 : i) * sn;
    __global scl_store_t *d = dst + ((long)bh * n_dst + row) * D;
    if (ALIGNED(sb, sh, sn)) {
        PIECE(d + c0) = i >= 0 ? CPIECE(s + c0) : (uint4)(0u);
        return;
    }
    for (int c = c0; c < c1; c++)
        STORE(d, c, i >= 0 ? LOAD(s, c) : 0.0f);
}

__kernel void gather_lse(__global const float *src, __global float *dst, __global const int *map,
                         const int n_dst, const int n_src)
{
    const int p = get_global_id(0), bh = get_global_id(1);
    if (p >= n_dst) return;
    const int i = map[p];
    dst[(long)bh * n_dst + p] = i >= 0 ? src[(long)bh * n_src + i] : 0.0f;
}

/* Row of part k for original row i, or -1; parts >= NPARTS have none. */
#define PART_ROW(k, i) (NPARTS > k ? (inv##k ? inv##k[i] : (i)) : -1)

#define PART_ARGS(k)                                                                                           \
    __global const scl_store_t *x##k, __global const float *l##k, __global const int *inv##k,                 \
        const int n##k, const long sb##k, const long sh##k, const long sn##k
#define PART_PTR(k, p) (x##k + b * sb##k + h * sh##k + (long)(p)*sn##k)
/* d[c] = sum over the parts that have this row of w[k] * x_k[p_k][c], one part at a time so each
 * inner loop is a plain vectorizable row operation; by 16-byte pieces where the strides allow it. */
#define ADD_PART(k)                                                                                            \
    if (p[k] >= 0) {                                                                                           \
        __global const scl_store_t *xr = PART_PTR(k, p[k]);                                                     \
        if (vec && ALIGNED(sb##k, sh##k, sn##k))                                                              \
            ADD_PIECE(xr, w[k])                                                                               \
        else                                                                                                  \
            for (int c = c0; c < c1; c++)                                                                     \
                acc[c - c0] += w[k] * LOAD(xr, c);                                                            \
    }
#define ACCUMULATE(sb, sh, sn)                                                                                \
    const bool vec = ALIGNED(sb, sh, sn);                                                                     \
    float acc[CW];                                                                                             \
    for (int c = 0; c < CW; c++)                                                                              \
        acc[c] = 0.0f;                                                                                        \
    ADD_PART(0) ADD_PART(1) ADD_PART(2) ADD_PART(3) if (vec) STORE_PIECE(d);                                  \
    else for (int c = c0; c < c1; c++) STORE(d, c, acc[c - c0]);

__kernel void merge_parts(__global scl_store_t *o, __global float *lse, const int n, const int heads,
                          const long sb, const long sh, const long sn, PART_ARGS(0), PART_ARGS(1),
                          PART_ARGS(2), PART_ARGS(3))
{
    COORDS(n)
    const int b = bh / heads, h = bh % heads;
    const int p[4] = {PART_ROW(0, row), PART_ROW(1, row), PART_ROW(2, row), PART_ROW(3, row)};
    const float lk[4] = {
        p[0] >= 0 ? l0[(long)bh * n0 + p[0]] : -INFINITY, p[1] >= 0 ? l1[(long)bh * n1 + p[1]] : -INFINITY,
        p[2] >= 0 ? l2[(long)bh * n2 + p[2]] : -INFINITY, p[3] >= 0 ? l3[(long)bh * n3 + p[3]] : -INFINITY};
    const float m = fmax(fmax(lk[0], lk[1]), fmax(lk[2], lk[3]));
    /* A row no part allows keeps O = 0 and LSE = -inf, as in the plain kernel. */
    float w[4], sum = 0.0f;
    for (int k = 0; k < 4; k++) {
        w[k] = lk[k] == -INFINITY ? 0.0f : exp(lk[k] - m);
        sum += w[k];
    }
    const float inv_sum = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int k = 0; k < 4; k++)
        w[k] *= inv_sum;
    __global scl_store_t *d = o + b * sb + h * sh + (long)row * sn;
    ACCUMULATE(sb, sh, sn)
    if (lse && c0 == 0) lse[(long)bh * n + row] = sum > 0.0f ? m + log(sum) : -INFINITY;
}

__kernel void sum_parts(__global scl_store_t *dst, const int n, const int heads, const long sb, const long sh,
                        const long sn, PART_ARGS(0), PART_ARGS(1), PART_ARGS(2), PART_ARGS(3))
{
    COORDS(n)
    const int b = bh / heads, h = bh % heads;
    (void)l0, (void)l1, (void)l2, (void)l3;
    const int p[4] = {PART_ROW(0, row), PART_ROW(1, row), PART_ROW(2, row), PART_ROW(3, row)};
    const float w[4] = {1.0f, 1.0f, 1.0f, 1.0f}; /* a plain sum: x * 1 is exact */
    __global scl_store_t *d = dst + b * sb + h * sh + (long)row * sn;
    ACCUMULATE(sb, sh, sn)
}
