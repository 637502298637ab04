/* Fused block-sparse attention forward (FlashAttention-style, LUT driven).
 *
 * attn_prep_kv copies K transposed and V into zero-padded scratch buffers once per call:
 * K^T [B*H_kv][D][NKP] and V [B*H_kv][NKP][D] with NKP = n_k rounded up to the layout block.
 * Key r is row map[r] of K and V (-1: a zero row), or row r when map is NULL: a component of a
 * decomposed plan gathers its keys in the same pass (host/src/decomposed.c).
 * Consecutive keys are then consecutive in memory for the score loop (coalesced on GPUs,
 * vectorizable on CPUs) and no inner loop needs a bounds check.
 *
 * attn_fwd: one work-group per (query tile of BQ rows, batch*head). It walks the row LUT of its
 * block row and, for every non-empty key block, the BK-wide key tiles inside it: S = Q K^T
 * (scale and log2(e) folded into Q: base-2 exponent), the partial-block bitmask only when the
 * LUT marks the block partial, online softmax (running max m, running sum l, rescale of the
 * accumulator), O += P V. Writes O = acc / l and LSE = ln(sum exp). Nothing N x N is stored.
 *
 * Thread layout: TY = BQ/TM row groups x TX = BK/TN column groups. Thread (ty, tx) owns rows
 * ty*TM .. +TM, score columns tx + j*TX (j < TN) and output columns tx + j*TX (j < D/TX):
 * strided columns keep local-memory reads conflict-free and global writes coalesced. With
 * TX = 1 (CPU style) a thread owns whole rows: no cross-thread reductions, no barriers unless
 * K/V tiles are staged.
 *
 * Compile-time parameters (validated on the host, host/src/params.c):
 *   D head dim, BLOCK layout block size, BQ, BK tile sizes (divide BLOCK), TM, TN per-thread
 *   tile, RI, RJ register block of the inner loop nests, STAGE_Q / STAGE_KV (1: tiles in local
 *   memory, 0: read through the cache), FAST_EXP (1: polynomial exp2 that CPU compilers
 *   vectorize, 0: built-in exp2), VEC explicit vector width of the CPU path, PREP_BY_COLUMN the
 *   K/V copy's work-item mapping (1: CPU form, 0: GPU form), SCL_F16 / SCL_BF16 for 16-bit storage. */
#include "common.clh"
#include "simt.clh"

/* Defaults (the CPU family's start values, host/src/params_fwd_simt.c) so the file compiles alone;
 * the host always passes every one of them. */
#ifndef BQ
#define BQ 16
#endif
#ifndef BK
#define BK 64
#endif
#ifndef TM
#define TM 16
#endif
#ifndef TN
#define TN 64
#endif
#ifndef STAGE_Q
#define STAGE_Q 1
#endif
#ifndef STAGE_KV
#define STAGE_KV 0
#endif
#ifndef FAST_EXP
#define FAST_EXP 1
#endif
#ifndef PREP_BY_COLUMN
#define PREP_BY_COLUMN 1
#endif

#define TX (BK / TN)
#define TY (BQ / TM)
#define WG (TX * TY)
#define DN (D / TX)
#define ROW_LOCAL (TX == 1)
#ifndef RI
#define RI TM
#endif
#ifndef RJ
#define RJ TN
#endif
#define RJO (DN < RJ ? DN : RJ)
/* VEC: explicit vector width of the CPU path (TX = 1); 1 = scalar loops (GPU path). */
#ifndef VEC
#define VEC 1
#endif
#if VEC > 1
typedef CAT(float, VEC) vfloat;
#define VLOAD CAT(vload, VEC)
#define VSTORE CAT(vstore, VEC)
#define VL(p) VLOAD(0, (p))
#define VS(x, p) VSTORE((x), 0, (p))
#ifdef SCL_F16
#define VLOAD_STORE CAT(vload_half, VEC)
#elif defined(SCL_BF16)
#define VLOAD_STORE(i, p) CAT(as_float, VEC)(CAT(convert_uint, VEC)(CAT(vload, VEC)((i), (p))) << 16)
#else
#define VLOAD_STORE VLOAD
#endif
#else
typedef float vfloat;
#define VL(p) (*(p))
#define VS(x, p) (*(p) = (x))
#endif
/* Reductions over a thread's TN scores use RW independent partials (vectorizable, short chains). */
#define RW (TN < 16 ? TN : 16)
#define KV_LOCAL (D * (BK + PAD) > BK * (D + PAD) ? D * (BK + PAD) : BK * (D + PAD))
#define LN2 0.6931471805599453f
/* A select, not fmax: no NaN-handling branches in vectorized loops (a NaN score still turns
 * into NaN through the exponential). */
#define MAXF(a, b) ((a) > (b) ? (a) : (b))

#if PREP_BY_COLUMN
/* CPU form: one work-item per (head-dim column c, run of PREP_ROWS keys): its K^T writes are
 * consecutive (one row-major walk of the work-item per page instead of D pages per key), which
 * keeps the TLB and caches happy when a work-group runs as a loop over work-items. */
#define PREP_ROWS 64
__kernel void attn_prep_kv(__global const scl_store_t *k, __global const scl_store_t *v, __global scl_store_t *kt,
                           __global scl_store_t *vp, __global const int *map, const int n_k, const int nkp,
                           const int kv_heads, const long k_sb, const long k_sh, const long k_sn)
{
    const int c = get_global_id(0), r0 = get_global_id(1) * PREP_ROWS, bh = get_global_id(2);
    if (c >= D || r0 >= nkp) return;
    const int b = bh / kv_heads, h = bh % kv_heads;
    __global const scl_store_t *ks = k + b * k_sb + h * k_sh + c;
    __global const scl_store_t *vs = v + b * k_sb + h * k_sh + c;
    __global scl_store_t *ktd = kt + ((long)bh * D + c) * nkp;
    __global scl_store_t *vpd = vp + (long)bh * nkp * D + c;
    const int r1 = min(r0 + PREP_ROWS, nkp);
    for (int r = r0; r < r1; r++) {
        const int src = r < n_k ? (map ? map[r] : r) : -1;
        STORE(ktd, r, src >= 0 ? LOAD(ks, (long)src * k_sn) : 0.0f);
        STORE(vpd, (long)r * D, src >= 0 ? LOAD(vs, (long)src * k_sn) : 0.0f);
    }
}
#else
/* GPU form: 32 x 32 tiles (keys x head-dim columns) per work-group of 32 x 2 work-items (64 fit
 * every device). Reads of K and V and writes of V run along the head dim, writes of K^T along the
 * keys (through a local tile), so every global access is coalesced. */
#define PT 32
__kernel __attribute__((reqd_work_group_size(PT, 2, 1))) void
attn_prep_kv(__global const scl_store_t *k, __global const scl_store_t *v, __global scl_store_t *kt,
             __global scl_store_t *vp, __global const int *map, const int n_k, const int nkp, const int kv_heads,
             const long k_sb, const long k_sh, const long k_sn)
{
    __local float tile[PT][PT + 1];
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int c0 = get_group_id(0) * PT, r0 = get_group_id(1) * PT, bh = get_global_id(2);
    const int b = bh / kv_heads, h = bh % kv_heads;
    __global const scl_store_t *ks = k + b * k_sb + h * k_sh, *vs = v + b * k_sb + h * k_sh;
    __global scl_store_t *ktd = kt + (long)bh * D * nkp, *vpd = vp + (long)bh * nkp * D;
    for (int j = ty; j < PT; j += 2) { /* rows r0 + j, column c0 + tx */
        const int r = r0 + j, c = c0 + tx, src = r < n_k ? (map ? map[r] : r) : -1;
        const bool in = src >= 0 && c < D;
        tile[j][tx] = in ? LOAD(ks, (long)src * k_sn + c) : 0.0f;
        if (r < nkp && c < D) STORE(vpd, (long)r * D + c, in ? LOAD(vs, (long)src * k_sn + c) : 0.0f);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int j = ty; j < PT; j += 2) { /* K^T row c0 + j, keys r0 + tx */
        const int c = c0 + j, r = r0 + tx;
        if (c < D && r < nkp) STORE(ktd, (long)c * nkp + r, tile[tx][j]);
    }
}
#endif


/* One level of the tree reductions below (halves 8, 4, 2, 1 of RW <= 16, those below RW): a constant
 * trip count, so it unrolls. A loop over the halves left the inner trip count unknown to the
 * unroller ("loop not unrolled" warnings) and part[] indexed at run time. */
#define TREE_LEVEL(hw, OP)                                                                                     \
    _Pragma("unroll") for (int w = 0; w < ((hw) < RW ? (hw) : 0); w++) part[w] = OP(part[w], part[w + (hw)]);
#define ADDF(a, b) ((a) + (b))

/* row_max and row_sum: a thread's TN scores folded by OP into RW partials, then the tree. */
#define ROW_REDUCE(NAME, OP)                                                                                 \
    __attribute__((always_inline)) inline float NAME(const float *x)                                         \
    {                                                                                                        \
        float part[RW];                                                                                      \
        _Pragma("unroll") for (int w = 0; w < RW; w++) part[w] = x[w];                                       \
        for (int j = RW; j < TN; j += RW)                                                                    \
            _Pragma("unroll") for (int w = 0; w < RW; w++) part[w] = OP(part[w], x[j + w]);                  \
        TREE_LEVEL(8, OP) TREE_LEVEL(4, OP) TREE_LEVEL(2, OP) TREE_LEVEL(1, OP)                              \
        return part[0];                                                                                      \
    }
ROW_REDUCE(row_max, MAXF)
ROW_REDUCE(row_sum, ADDF)

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
attn_fwd(__global const scl_store_t *q, __global const scl_store_t *kt, __global const scl_store_t *vp,
         __global scl_store_t *o, __global float *lse,
         __global const int *row_ptr, __global const int *col_idx, __global const int *row_mask,
         __global const uint *masks, __global const int *head_layout,
         const int n_q, const int n_k, const int nkp, const int heads, const int group, /* group = H / H_kv */
         const long q_sb, const long q_sh, const long q_sn, /* strides (elements) of Q and O */
         const int nb_q, const int mask_words, const float scale)
{
    const int lid = get_local_id(0);
    const int tx = lid % TX, ty = lid / TX;
    const int q0 = get_group_id(0) * BQ; /* first query row of the tile */
    const int bh = get_group_id(1);
    const int b = bh / heads, h = bh % heads;
    const int bhk = b * (heads / group) + h / group;
    const int brow = q0 / BLOCK, row_in_block0 = q0 % BLOCK;

    __global const scl_store_t *qp = q + b * q_sb + h * q_sh;
    __global const scl_store_t *ktp = kt + (long)bhk * D * nkp;
    __global const scl_store_t *vpp = vp + (long)bhk * nkp * D;
    const float qscale = scale * LOG2E;

#if STAGE_Q
    __local float qs[BQ * (D + PAD)];
#if ROW_LOCAL /* each thread stages its own rows: no barrier */
    for (int i = 0; i < TM; i++) {
        const int r = ty * TM + i;
        for (int c = 0; c < D; c++)
            qs[r * (D + PAD) + c] = q0 + r < n_q ? LOAD(qp, (long)(q0 + r) * q_sn + c) * qscale : 0.0f;
    }
#else
    for (int i = lid; i < BQ * D; i += WG) {
        const int r = i / D, c = i % D;
        qs[r * (D + PAD) + c] = q0 + r < n_q ? LOAD(qp, (long)(q0 + r) * q_sn + c) * qscale : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
#define QAT(r, c) qs[(r) * (D + PAD) + (c)]
#else
#define QAT(r, c) (q0 + (r) < n_q ? LOAD(qp, (long)(q0 + (r)) * q_sn + (c)) * qscale : 0.0f)
#endif

#if STAGE_KV
    __local float kvs[KV_LOCAL]; /* K^T tile [D][BK], then V tile [BK][D] */
#define KAT(c, j) kvs[(c) * (BK + PAD) + (j)]
#define VAT(j, c) kvs[(j) * (D + PAD) + (c)]
#else
#define KAT(c, j) LOAD(ktp, (long)(c) * nkp + k0 + (j))
#define VAT(j, c) LOAD(vpp, (long)(k0 + (j)) * D + (c))
#endif
#if VEC > 1 /* vector loads of VEC consecutive keys (K^T) or head-dim elements (V) */
#if STAGE_KV
#define KVEC(c, j) VLOAD(0, &kvs[(c) * (BK + PAD) + (j)])
#define VVEC(j, c) VLOAD(0, &kvs[(j) * (D + PAD) + (c)])
#else
#define KVEC(c, j) VLOAD_STORE(0, ktp + (long)(c) * nkp + k0 + (j))
#define VVEC(j, c) VLOAD_STORE(0, vpp + (long)(k0 + (j)) * D + (c))
#endif
#endif
/* The operands of the two GEMMs: Q rows of this thread, K^T and V by the thread's columns. */
#define QROW(i, c) QAT(ty * TM + (i), c)
#if VEC > 1
#define KB KVEC
#define VB VVEC
#else
#define KB(c, j) KAT(c, tx + (j) * TX)
#define VB(c, j) VAT(c, tx + (j) * TX)
#endif
#if ROW_LOCAL
#define PAT(i, j) s[i][j]
#else
    __local float ps[BQ * (BK + PAD)];
    __local float red[BQ * TX];
#define PAT(i, j) ps[(ty * TM + (i)) * (BK + PAD) + (j)]
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
        for (int kt0 = 0; kt0 < BLOCK; kt0 += BK) {
            const int k0 = bcol * BLOCK + kt0;
            if (k0 >= n_k) break; /* uniform across the work-group: rest of a tail block */
#if STAGE_KV
            barrier(CLK_LOCAL_MEM_FENCE); /* previous V tile fully consumed */
            for (int i = lid; i < BK * D; i += WG) {
                const int c = i / BK, j = i % BK;
                kvs[c * (BK + PAD) + j] = LOAD(ktp, (long)c * nkp + k0 + j);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
#endif
            /* S = Q K^T in RI x RJ register blocks (SCL_GEMM): on the CPU path (TX = 1) explicit
             * vectors over consecutive keys, so compilers that prefer narrow vectors for plain loops
             * (PoCL uses 256-bit on AVX-512) use the full width; on the GPU path a thread's keys are
             * TX apart. */
            float s[TM][TN];
            SCL_GEMM(s, 0, TM, TN, D, QROW, KB, RJ, SCL_VALUE)
            if (mid >= 0) { /* partial block: apply its bitmask (tails are partial too) */
                for (int i = 0; i < TM; i++) {
                    const int rowbit = (row_in_block0 + ty * TM + i) * BLOCK + kt0 + tx;
                    /* Rolled and branch-free so CPU compilers vectorize it (variable shifts). */
                    for (int j = 0; j < TN; j++) {
                        const int bit = rowbit + j * TX;
                        s[i][j] = (mask[bit >> 5] >> (bit & 31)) & 1u ? s[i][j] : -INFINITY;
                    }
                }
            }
#if !ROW_LOCAL
            for (int i = 0; i < TM; i++) red[(ty * TM + i) * TX + tx] = row_max(s[i]);
            barrier(CLK_LOCAL_MEM_FENCE); /* also: every thread is done reading the K tile */
#endif
            for (int i = 0; i < TM; i++) {
#if ROW_LOCAL
                const float mx = MAXF(m[i], row_max(s[i]));
#else
                float mx = m[i];
                for (int t = 0; t < TX; t++) mx = MAXF(mx, red[(ty * TM + i) * TX + t]);
#endif
                /* A row that has seen no allowed key keeps m = -inf and contributes p = 0. */
                const float alpha = mx == -INFINITY ? 1.0f : EXP2(m[i] - mx);
                const float msub = mx == -INFINITY ? 0.0f : mx;
                m[i] = mx;
                /* Left rolled on purpose: the loop vectorizer handles it, fully unrolled it stays scalar. */
                for (int j = 0; j < TN; j++) s[i][j] = EXP2(s[i][j] - msub);
#if !ROW_LOCAL
                for (int j = 0; j < TN; j++) ps[(ty * TM + i) * (BK + PAD) + tx + j * TX] = s[i][j];
#endif
                l[i] = l[i] * alpha + row_sum(s[i]); /* per-thread partial sum; reduced at the end */
                for (int j = 0; j < DN; j++) acc[i][j] *= alpha;
            }
#if STAGE_KV
#if ROW_LOCAL
            barrier(CLK_LOCAL_MEM_FENCE); /* every thread is done reading the K tile */
#endif
            for (int i = lid; i < BK * D; i += WG) {
                const int j = i / D, c = i % D;
                kvs[j * (D + PAD) + c] = LOAD(vpp, (long)(k0 + j) * D + c);
            }
#endif
#if STAGE_KV || !ROW_LOCAL
            barrier(CLK_LOCAL_MEM_FENCE);
#endif
            /* O += P V, again in RI x RJO register blocks over the thread's rows and columns. */
            SCL_GEMM(acc, 1, TM, DN, BK, PAT, VB, RJO, SCL_VALUE)
        }
    }

    /* Row sums: each thread holds the partial sum of its own columns, all scaled to the same m. */
#if !ROW_LOCAL
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int i = 0; i < TM; i++) red[(ty * TM + i) * TX + tx] = l[i];
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
    for (int i = 0; i < TM; i++) {
        const int r = q0 + ty * TM + i;
        if (r >= n_q) continue;
#if ROW_LOCAL
        const float sum = l[i];
#else
        float sum = 0.0f;
        for (int t = 0; t < TX; t++) sum += red[(ty * TM + i) * TX + t];
#endif
        const bool empty = sum == 0.0f; /* no allowed key: O = 0, LSE = -inf (NaN inputs stay NaN) */
        const float inv = empty ? 0.0f : 1.0f / sum;
        __global scl_store_t *op = o + b * q_sb + h * q_sh + (long)r * q_sn;
        for (int j = 0; j < DN; j++) STORE(op, tx + j * TX, acc[i][j] * inv);
        if (lse && tx == 0) lse[(long)bh * n_q + r] = empty ? -INFINITY : (m[i] + log2(sum)) * LN2;
    }
}
