/* Fused block-sparse attention forward (FlashAttention-style, LUT driven).
 *
 * One work-group per (query tile of BQ rows, batch*head). It walks the row LUT of its block row,
 * and for every non-empty key block the BK-wide key tiles inside it: S = Q K^T (scale folded
 * into Q, base-2 exponent), the partial-block bitmask only when the LUT says the block is
 * partial, online softmax (running max m, running sum l, rescale of the accumulator), O += P V.
 * Writes O = acc / l and LSE = ln(sum exp) per row. Nothing N x N is ever stored.
 *
 * Thread layout: TY = BQ/TM row groups x TX = BK/TN column groups. Thread (ty, tx) owns rows
 * ty*TM .. +TM, score columns tx + j*TX (j < TN) and output columns tx + j*TX (j < D/TX):
 * strided columns keep local-memory reads conflict-free and global writes coalesced.
 *
 * Compile-time parameters (validated on the host, see host/src/params.c):
 *   D head dim, BLOCK layout block size, BQ, BK tile sizes (divide BLOCK), TM, TN per-thread
 *   tile, STAGE_Q (1: Q tile in local memory, 0: read from global through the cache),
 *   FAST_EXP (1: polynomial exp2 that CPU compilers vectorize, 0: the built-in exp2),
 *   SCL_F16 for half storage. */
#include "common.clh"

#define TX (BK / TN)
#define TY (BQ / TM)
#define WG (TX * TY)
#define DN (D / TX)
#define PAD 1
#define KV_LOCAL (D * (BK + PAD) > BK * (D + PAD) ? D * (BK + PAD) : BK * (D + PAD))
#define LOG2E 1.4426950408889634f

#if FAST_EXP
/* 2^x from arithmetic only, so CPU compilers vectorize it (a libm call per score otherwise
 * dominates on PoCL). x = n + f with f in [-0.5, 0.5]; degree-6 Taylor of 2^f (relative error
 * ~1e-7); the exponent is added to the bits. Arguments here are <= 0 (score - running max);
 * below -125 the result is 0, so masked scores (-inf) give exactly 0. */
inline float exp2_fast(float x)
{
    const float xc = fmax(x, -125.0f);
    const float n = rint(xc), f = xc - n;
    float p = fma(fma(fma(fma(fma(fma(1.5403530e-4f, f, 1.3333558e-3f), f, 9.6181291e-3f), f, 5.5504109e-2f), f,
                          2.4022651e-1f), f, 6.9314718e-1f), f, 1.0f);
    p = as_float(as_int(p) + ((int)n << 23));
    return x < -125.0f ? 0.0f : p;
}
#define EXP2 exp2_fast
#else
#define EXP2 exp2
#endif
#define LN2 0.6931471805599453f

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
attn_fwd(__global const scl_store_t *q, __global const scl_store_t *k, __global const scl_store_t *v,
         __global scl_store_t *o, __global float *lse,
         __global const int *row_ptr, __global const int *col_idx, __global const int *row_mask,
         __global const uint *masks, __global const int *head_layout,
         const int n_q, const int n_k, const int heads, const int group, /* group = H / H_kv */
         const long q_sb, const long q_sh, const long q_sn,  /* strides (elements) of Q and O */
         const long k_sb, const long k_sh, const long k_sn,  /* strides of K and V */
         const int nb_q, const int mask_words, const float scale)
{
    const int lid = get_local_id(0);
    const int tx = lid % TX, ty = lid / TX;
    const int q0 = get_group_id(0) * BQ; /* first query row of the tile */
    const int bh = get_group_id(1);
    const int b = bh / heads, h = bh % heads, hk = h / group;
    const int brow = q0 / BLOCK, row_in_block0 = q0 % BLOCK;

    __global const scl_store_t *qp = q + b * q_sb + h * q_sh;
    __global const scl_store_t *kp = k + b * k_sb + hk * k_sh;
    __global const scl_store_t *vp = v + b * k_sb + hk * k_sh;

#if STAGE_Q
    __local float qs[BQ * (D + PAD)];
#endif
    /* K tile transposed [D][BK] (score loop reads consecutive keys: conflict-free on GPUs,
     * vectorizable on CPUs), then V tile [BK][D]. */
    __local float kvs[KV_LOCAL];
    __local float ps[BQ * (BK + PAD)];
    __local float red[BQ * TX];

    const float qscale = scale * LOG2E;
#if STAGE_Q
    for (int i = lid; i < BQ * D; i += WG) {
        const int r = i / D, c = i % D;
        qs[r * (D + PAD) + c] = q0 + r < n_q ? LOAD(qp, (long)(q0 + r) * q_sn + c) * qscale : 0.0f;
    }
#define QAT(r, c) qs[(r) * (D + PAD) + (c)]
#else
#define QAT(r, c) (q0 + (r) < n_q ? LOAD(qp, (long)(q0 + (r)) * q_sn + (c)) * qscale : 0.0f)
#endif

    float m[TM], l[TM], acc[TM][DN];
    for (int i = 0; i < TM; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        for (int j = 0; j < DN; j++) acc[i][j] = 0.0f;
    }

    const int lay = head_layout[h];
    const int e0 = row_ptr[lay * (nb_q + 1) + brow], e1 = row_ptr[lay * (nb_q + 1) + brow + 1];
    for (int e = e0; e < e1; e++) {
        const int bcol = col_idx[e];
        const int mid = row_mask[e];
        __global const uint *mask = masks + (long)(mid < 0 ? 0 : mid) * mask_words;
        for (int kt = 0; kt < BLOCK; kt += BK) {
            const int k0 = bcol * BLOCK + kt;
            if (k0 >= n_k) break; /* uniform across the work-group: tail block */
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int i = lid; i < BK * D; i += WG) {
                const int r = i / D, c = i % D;
                kvs[c * (BK + PAD) + r] = k0 + r < n_k ? LOAD(kp, (long)(k0 + r) * k_sn + c) : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);

            float s[TM][TN];
            for (int i = 0; i < TM; i++)
                for (int j = 0; j < TN; j++) s[i][j] = 0.0f;
            for (int c = 0; c < D; c++) {
                float qv[TM], kv[TN];
                for (int i = 0; i < TM; i++) qv[i] = QAT(ty * TM + i, c);
                for (int j = 0; j < TN; j++) kv[j] = kvs[c * (BK + PAD) + tx + j * TX];
                for (int i = 0; i < TM; i++)
                    for (int j = 0; j < TN; j++) s[i][j] = fma(qv[i], kv[j], s[i][j]);
            }
            if (mid >= 0) { /* partial block: apply its bitmask (tails are partial too) */
                for (int i = 0; i < TM; i++) {
                    const int rb = row_in_block0 + ty * TM + i;
                    for (int j = 0; j < TN; j++) {
                        const int bit = rb * BLOCK + kt + tx + j * TX;
                        if (!((mask[bit >> 5] >> (bit & 31)) & 1u)) s[i][j] = -INFINITY;
                    }
                }
            }
            for (int i = 0; i < TM; i++) {
                float mx = -INFINITY;
                for (int j = 0; j < TN; j++) mx = fmax(mx, s[i][j]);
                red[(ty * TM + i) * TX + tx] = mx;
            }
            barrier(CLK_LOCAL_MEM_FENCE); /* also: every thread is done reading the K tile */

            for (int i = 0; i < TM; i++) {
                float mx = m[i];
                for (int t = 0; t < TX; t++) mx = fmax(mx, red[(ty * TM + i) * TX + t]);
                /* A row that has seen no allowed key keeps m = -inf and contributes p = 0. */
                const float alpha = mx == -INFINITY ? 1.0f : EXP2(m[i] - mx);
                const float msub = mx == -INFINITY ? 0.0f : mx;
                m[i] = mx;
                for (int j = 0; j < TN; j++) s[i][j] = EXP2(s[i][j] - msub); /* separate loop: vectorizes */
                float rowsum = 0.0f;
                for (int j = 0; j < TN; j++) {
                    ps[(ty * TM + i) * (BK + PAD) + tx + j * TX] = s[i][j];
                    rowsum += s[i][j];
                }
                l[i] = l[i] * alpha + rowsum; /* per-thread partial sum; reduced once at the end */
                for (int j = 0; j < DN; j++) acc[i][j] *= alpha;
            }
            for (int i = lid; i < BK * D; i += WG) {
                const int r = i / D, c = i % D;
                kvs[r * (D + PAD) + c] = k0 + r < n_k ? LOAD(vp, (long)(k0 + r) * k_sn + c) : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);

            for (int c = 0; c < BK; c++) {
                float pv[TM], vv[DN];
                for (int i = 0; i < TM; i++) pv[i] = ps[(ty * TM + i) * (BK + PAD) + c];
                for (int j = 0; j < DN; j++) vv[j] = kvs[c * (D + PAD) + tx + j * TX];
                for (int i = 0; i < TM; i++)
                    for (int j = 0; j < DN; j++) acc[i][j] = fma(pv[i], vv[j], acc[i][j]);
            }
        }
    }

    /* Row sums: each thread holds the partial sum of its own columns, all scaled to the same m. */
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int i = 0; i < TM; i++) red[(ty * TM + i) * TX + tx] = l[i];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int i = 0; i < TM; i++) {
        const int r = q0 + ty * TM + i;
        if (r >= n_q) continue;
        float sum = 0.0f;
        for (int t = 0; t < TX; t++) sum += red[(ty * TM + i) * TX + t];
        const bool empty = sum == 0.0f; /* no allowed key: O = 0, LSE = -inf (NaN inputs stay NaN) */
        const float inv = empty ? 0.0f : 1.0f / sum;
        __global scl_store_t *op = o + b * q_sb + h * q_sh + (long)r * q_sn;
        for (int j = 0; j < DN; j++) STORE(op, tx + j * TX, acc[i][j] * inv);
        if (lse && tx == 0) lse[(long)bh * n_q + r] = empty ? -INFINITY : (m[i] + log2(sum)) * LN2;
    }
}
