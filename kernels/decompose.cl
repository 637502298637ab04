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
 * One work-item per (head-dim element, row, batch*head): consecutive work-items touch
 * consecutive addresses. A part's rows are found through inv[i] (mapped row of original row i,
 * -1 = not in that part; a NULL inv is the identity). Parts arrive as separate arguments
 * (OpenCL C has no arrays of buffers); parts >= NPARTS are ignored.
 * Compile-time: D head dim, NPARTS 1..4, SCL_F16 for half storage. */
#include "common.clh"

__kernel void gather_rows(__global const scl_store_t *src, __global scl_store_t *dst, __global const int *map,
                          const int n_dst, const int heads, const long sb, const long sh, const long sn)
{
    const int c = get_global_id(0), p = get_global_id(1), bh = get_global_id(2);
    if (c >= D || p >= n_dst) return;
    const int b = bh / heads, h = bh % heads, i = map[p];
    STORE(dst, ((long)bh * n_dst + p) * D + c, i >= 0 ? LOAD(src, b * sb + h * sh + (long)i * sn + c) : 0.0f);
}

__kernel void gather_lse(__global const float *src, __global float *dst, __global const int *map, const int n_dst,
                         const int n_src)
{
    const int p = get_global_id(0), bh = get_global_id(1);
    if (p >= n_dst) return;
    const int i = map[p];
    dst[(long)bh * n_dst + p] = i >= 0 ? src[(long)bh * n_src + i] : 0.0f;
}

/* Row of part k for original row i, or -1. */
#define PART_ROW(inv, i) ((inv) ? (inv)[i] : (i))

#define PART_ARGS(k)                                                                                           \
    __global const scl_store_t *x##k, __global const float *l##k, __global const int *inv##k, const int n##k,  \
        const long sb##k, const long sh##k, const long sn##k
#define PART_OFFSET(k, p) (b * sb##k + h * sh##k + (long)(p) * sn##k)

__kernel void merge_parts(__global scl_store_t *o, __global float *lse, const int n, const int heads,
                          const long sb, const long sh, const long sn, PART_ARGS(0), PART_ARGS(1), PART_ARGS(2),
                          PART_ARGS(3))
{
    const int c = get_global_id(0), i = get_global_id(1), bh = get_global_id(2);
    if (c >= D || i >= n) return;
    const int b = bh / heads, h = bh % heads;
    int p[4] = {PART_ROW(inv0, i), NPARTS > 1 ? PART_ROW(inv1, i) : -1, NPARTS > 2 ? PART_ROW(inv2, i) : -1,
                NPARTS > 3 ? PART_ROW(inv3, i) : -1};
    float lk[4];
    lk[0] = p[0] >= 0 ? l0[(long)bh * n0 + p[0]] : -INFINITY;
    lk[1] = p[1] >= 0 ? l1[(long)bh * n1 + p[1]] : -INFINITY;
    lk[2] = p[2] >= 0 ? l2[(long)bh * n2 + p[2]] : -INFINITY;
    lk[3] = p[3] >= 0 ? l3[(long)bh * n3 + p[3]] : -INFINITY;
    float m = fmax(fmax(lk[0], lk[1]), fmax(lk[2], lk[3]));
    float out = 0.0f, sum = 0.0f;
    if (m != -INFINITY) { /* a row no part allows keeps O = 0, LSE = -inf, as in the plain kernel */
        float w;
#define MERGE(k)                                                                                               \
    if (lk[k] != -INFINITY) {                                                                                  \
        w = exp(lk[k] - m);                                                                                    \
        sum += w;                                                                                              \
        out += w * LOAD(x##k, PART_OFFSET(k, p[k]) + c);                                                       \
    }
        MERGE(0) MERGE(1) MERGE(2) MERGE(3)
        out /= sum;
    }
    STORE(o, b * sb + h * sh + (long)i * sn + c, out);
    if (lse && c == 0) lse[(long)bh * n + i] = m == -INFINITY ? -INFINITY : m + log(sum);
}

__kernel void sum_parts(__global scl_store_t *dst, const int n, const int heads, const long sb, const long sh,
                        const long sn, PART_ARGS(0), PART_ARGS(1), PART_ARGS(2), PART_ARGS(3))
{
    const int c = get_global_id(0), i = get_global_id(1), bh = get_global_id(2);
    if (c >= D || i >= n) return;
    const int b = bh / heads, h = bh % heads;
    (void)l0, (void)l1, (void)l2, (void)l3;
    float acc = 0.0f;
    int p;
#define ADD(k)                                                                                                 \
    if (NPARTS > k && (p = PART_ROW(inv##k, i)) >= 0) acc += LOAD(x##k, PART_OFFSET(k, p) + c);
    ADD(0) ADD(1) ADD(2) ADD(3)
    STORE(dst, b * sb + h * sh + (long)i * sn + c, acc);
}
