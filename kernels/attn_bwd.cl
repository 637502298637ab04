/* Block-sparse attention backward (FlashAttention-2 style, LUT driven, no atomics).
 *
 * With P_ij = exp(scale S_ij - LSE_i) on allowed pairs (S = Q K^T), D_i = dO_i . O_i:
 *   dV_j = sum_i P_ij dO_i,  dP_ij = dO_i . V_j,  dS_ij = P_ij (dP_ij - D_i),
 *   dQ_i = scale sum_j dS_ij K_j,  dK_j = scale sum_i dS_ij Q_i.
 * P is recomputed from Q, K and the forward's LSE; nothing N x N is stored.
 *
 * bwd_prep_q / bwd_prep_k copy the inputs once per call into zero-padded float32 scratch, in
 * row and transposed form ([BH][NP][D] and [BH][D][NP], NP = N rounded up to the layout block;
 * V only transposed), so every inner loop runs over consecutive memory without bounds checks. bwd_prep_q
 * also writes D_i and L_i = LSE_i log2(e) (+inf for padding and for rows with no allowed key:
 * exp2(s - inf) = 0, so those rows give P = 0 and zero gradients, never NaN).
 *
 * bwd_dq: one work-group per (query tile of DQ_BQ rows, batch*head); walks the row LUT like the
 * forward; each thread owns DQ_TM whole query rows: S = Q K^T, dP = dO V^T, dS, dQ += dS K.
 * bwd_dkv: one work-group per (key tile of KV_BK rows, batch*kv_head); walks the column LUT of
 * every query head of its GQA group (heads may have different layouts); each thread owns KV_TN
 * whole key rows: S^T = K Q^T, dP^T = V dO^T, dV += P^T dO, dK += dS^T Q; written once.
 * Partial blocks apply the same bitmasks as the forward (bwd_dkv reads the transposed masks, so
 * its bits run along the query axis).
 *
 * Compile-time parameters (validated on the host, host/src/backward_params.c): D, BLOCK,
 * DQ_BQ/DQ_BK/DQ_TM, KV_BK/KV_BQ/KV_TN, RI x RJ register block, STAGE (shared tiles in local
 * memory: GPUs; 0 reads them through the cache: CPUs), FAST_EXP, VEC, SCL_F16. */
#include "common.clh"
#include "simt.clh"

/* Defaults (the CPU family's start values, host/src/params_bwd_simt.c) so the file compiles alone;
 * the host always passes every one of them. */
#ifndef DQ_BQ
#define DQ_BQ 16
#endif
#ifndef DQ_BK
#define DQ_BK 64
#endif
#ifndef DQ_TM
#define DQ_TM 16
#endif
#ifndef KV_BK
#define KV_BK 16
#endif
#ifndef KV_BQ
#define KV_BQ 64
#endif
#ifndef KV_TN
#define KV_TN 16
#endif
#ifndef RI
#define RI 8
#endif
#ifndef RJ
#define RJ 32
#endif
#ifndef STAGE
#define STAGE 0
#endif
#ifndef FAST_EXP
#define FAST_EXP 1
#endif
#ifndef VEC
#define VEC 16
#endif

#define DQ_WG (DQ_BQ / DQ_TM)
#define KV_WG (KV_BK / KV_TN)
#define MINI(a, b) ((a) < (b) ? (a) : (b))
/* Column blocks of the loop nests: tile widths and d (80, 96: its largest power-of-two divisor). */
#define RJ_DQ MINI(RJ, DQ_BK)
#define RJ_KV MINI(RJ, KV_BQ)
#define RJ_D MINI(RJ, (D & -D))

#if VEC > 1
typedef CAT(float, VEC) vfloat;
#define VL(p) CAT(vload, VEC)(0, (p))
#define VS(x, p) CAT(vstore, VEC)((x), 0, (p))
#else
typedef float vfloat;
#define VL(p) (*(p))
#define VS(x, p) (*(p) = (x))
#endif


/* The register-blocked GEMM of simt.clh; BP(c, j) gives the address of VEC consecutive B elements
 * of row c. */
#define GEMM(OUT, ACCUM, NI, NJ, KD, A, BP, RJX) SCL_GEMM(OUT, ACCUM, NI, NJ, KD, A, BP, RJX, VL)

/* The copies work in TT x TT tiles (rows x head-dim columns): both the row copy and the
 * transposed copy are written in runs of TT consecutive floats, whatever the device runs a
 * work-group as. d and the padded lengths are multiples of 8. */
#define TT 8

/* The TT x TT tiles at rows r0.., columns c0.. of a and b (one head from base, row stride sn; zero
 * past row n) into float copies padded to np rows per (bh): rows into ar (and br unless NULL),
 * transposed into at and bt. */
__attribute__((always_inline)) inline void
copy_tiles(__global const scl_store_t *a, __global const scl_store_t *b, const long base, const long sn,
           const int n, const int np, const int bh, const int r0, const int c0, __global float *ar,
           __global float *br, __global float *at, __global float *bt)
{
    float ta[TT][TT], tb[TT][TT];
    for (int r = 0; r < TT; r++) {
        const bool in = r0 + r < n;
        const long src = base + (long)(r0 + r) * sn + c0, dst = ((long)bh * np + r0 + r) * D + c0;
        for (int c = 0; c < TT; c++) {
            ta[r][c] = in ? LOAD(a, src + c) : 0.0f;
            tb[r][c] = in ? LOAD(b, src + c) : 0.0f;
            ar[dst + c] = ta[r][c];
            if (br) br[dst + c] = tb[r][c];
        }
    }
    for (int c = 0; c < TT; c++) {
        const long dst = ((long)bh * D + c0 + c) * np + r0;
        for (int r = 0; r < TT; r++) {
            at[dst + r] = ta[r][c];
            bt[dst + r] = tb[r][c];
        }
    }
}

/* Query side: one work-item per (column tile, row tile, batch*head); the column-tile-0 items
 * also compute D and L of their rows. */
__kernel void bwd_prep_q(__global const scl_store_t *q, __global const scl_store_t *o,
                         __global const scl_store_t *dout, __global const float *lse, __global float *qr,
                         __global float *qt, __global float *dor, __global float *dot, __global float *lrow,
                         __global float *drow, const int n_q, const int nqp, const int heads, const long q_sb,
                         const long q_sh, const long q_sn)
{
    const int c0 = get_global_id(0) * TT, r0 = get_global_id(1) * TT, bh = get_global_id(2);
    if (c0 >= D || r0 >= nqp) return;
    const int b = bh / heads, h = bh % heads;
    const long base = b * q_sb + h * q_sh;
    copy_tiles(q, dout, base, q_sn, n_q, nqp, bh, r0, c0, qr, dor, qt, dot);
    if (c0 != 0) return;
    for (int r = 0; r < TT; r++) {
        const int row = r0 + r;
        const bool in = row < n_q;
        const long src = base + (long)row * q_sn;
        float dsum = 0.0f;
        if (in)
            for (int c = 0; c < D; c++) dsum = fma(LOAD(dout, src + c), LOAD(o, src + c), dsum);
        const float l = in ? lse[(long)bh * n_q + row] : -INFINITY;
        lrow[(long)bh * nqp + row] = l == -INFINITY ? INFINITY : l * LOG2E;
        drow[(long)bh * nqp + row] = dsum;
    }
}

/* Key side: one work-item per (column tile, row tile, batch*kv_head). */
__kernel void bwd_prep_k(__global const scl_store_t *k, __global const scl_store_t *v, __global float *kr,
                         __global float *kt, __global float *vt, const int n_k, const int nkp,
                         const int kv_heads, const long k_sb, const long k_sh, const long k_sn)
{
    const int c0 = get_global_id(0) * TT, r0 = get_global_id(1) * TT, bh = get_global_id(2);
    if (c0 >= D || r0 >= nkp) return;
    const int b = bh / kv_heads, h = bh % kv_heads;
    const long base = b * k_sb + h * k_sh;
    copy_tiles(k, v, base, k_sn, n_k, nkp, bh, r0, c0, kr, 0, kt, vt);
}

__kernel __attribute__((reqd_work_group_size(DQ_WG, 1, 1))) void
bwd_dq(__global const float *qt, __global const float *dot, __global const float *lrow,
       __global const float *drow, __global const float *kr, __global const float *kt, __global const float *vt,
       __global scl_store_t *dq, __global const int *row_ptr, __global const int *col_idx,
       __global const int *row_mask, __global const uint *masks, __global const int *head_layout, const int n_q,
       const int n_k, const int nqp, const int nkp, const int heads, const int group, const long q_sb,
       const long q_sh, const long q_sn, const int nb_q, const int mask_words, const float scale)
{
    const int lid = get_local_id(0);
    const int q0 = get_group_id(0) * DQ_BQ, bh = get_group_id(1);
    const int b = bh / heads, h = bh % heads;
    const int bhk = b * (heads / group) + h / group;
    const int r0 = q0 + lid * DQ_TM; /* this thread's first row */
    const int brow = q0 / BLOCK, rib0 = r0 % BLOCK;
    const float qscale = scale * LOG2E;

    /* A thread's own rows are read from the transposed copies: coalesced across GPU threads. */
    __global const float *qp = qt + (long)bh * D * nqp + r0;
    __global const float *gp = dot + (long)bh * D * nqp + r0;
    __global const float *ktp = kt + (long)bhk * D * nkp;
    __global const float *vtp = vt + (long)bhk * D * nkp;
    __global const float *krp = kr + (long)bhk * nkp * D;
    /* L and D of the own rows are read where they are used, not held in private arrays across the
     * tile loop: Intel's CPU runtime (2026.2) returns wrong dQ for the first 16 work-items of a
     * 32-wide work-group when such arrays live across the staging barriers. */
    __global const float *lrp = lrow + (long)bh * nqp + r0, *drp = drow + (long)bh * nqp + r0;
#define QA(i, c) qp[(long)(c) * nqp + (i)]
#define GA(i, c) gp[(long)(c) * nqp + (i)]
#define SA(i, c) s[i][c]
#if STAGE
    __local float kts[D * (DQ_BK + PAD)], vts[D * (DQ_BK + PAD)], krs[DQ_BK * (D + PAD)];
#define KTP(c, j) &kts[(c) * (DQ_BK + PAD) + (j)]
#define VTP(c, j) &vts[(c) * (DQ_BK + PAD) + (j)]
#define KRP(j, c) &krs[(j) * (D + PAD) + (c)]
#else
#define KTP(c, j) (ktp + (long)(c) * nkp + k0 + (j))
#define VTP(c, j) (vtp + (long)(c) * nkp + k0 + (j))
#define KRP(j, c) (krp + (long)(k0 + (j)) * D + (c))
#endif

    float acc[DQ_TM][D], s[DQ_TM][DQ_BK], dp[DQ_TM][DQ_BK];
    for (int i = 0; i < DQ_TM; i++)
        for (int c = 0; c < D; c++) acc[i][c] = 0.0f;

    const int lay = head_layout[h];
    const int e0 = row_ptr[lay * (nb_q + 1) + brow], e1 = row_ptr[lay * (nb_q + 1) + brow + 1];
    for (int e = e0; e < e1; e++) {
        const int bcol = col_idx[e];
        const int mid = row_mask[e];
        __global const uint *mask = masks + (long)(mid < 0 ? 0 : mid) * mask_words;
        for (int kt0 = 0; kt0 < BLOCK; kt0 += DQ_BK) {
            const int k0 = bcol * BLOCK + kt0;
            if (k0 >= n_k) break; /* uniform across the work-group: rest of a tail block */
#if STAGE
            barrier(CLK_LOCAL_MEM_FENCE); /* previous tiles fully consumed */
            for (int x = lid; x < DQ_BK * D; x += DQ_WG) {
                const int c = x / DQ_BK, j = x % DQ_BK;
                kts[c * (DQ_BK + PAD) + j] = ktp[(long)c * nkp + k0 + j];
                vts[c * (DQ_BK + PAD) + j] = vtp[(long)c * nkp + k0 + j];
            }
            for (int x = lid; x < DQ_BK * D; x += DQ_WG) {
                const int j = x / D, c = x % D;
                krs[j * (D + PAD) + c] = krp[(long)(k0 + j) * D + c];
            }
            barrier(CLK_LOCAL_MEM_FENCE);
#endif
            GEMM(s, 0, DQ_TM, DQ_BK, D, QA, KTP, RJ_DQ)
            GEMM(dp, 0, DQ_TM, DQ_BK, D, GA, VTP, RJ_DQ)
            if (mid >= 0) { /* partial block: its bitmask (tails are partial too) */
                for (int i = 0; i < DQ_TM; i++) {
                    const int rowbit = (rib0 + i) * BLOCK + kt0;
                    for (int j = 0; j < DQ_BK; j++) {
                        const int bit = rowbit + j;
                        s[i][j] = (mask[bit >> 5] >> (bit & 31)) & 1u ? s[i][j] : -INFINITY;
                    }
                }
            }
            for (int i = 0; i < DQ_TM; i++) {
                const float l = lrp[i], dd = drp[i];
                /* Rolled: the loop vectorizer handles it (P = 0 for masked scores and empty rows). */
                for (int j = 0; j < DQ_BK; j++) s[i][j] = EXP2(fma(s[i][j], qscale, -l)) * (dp[i][j] - dd);
            }
            GEMM(acc, 1, DQ_TM, D, DQ_BK, SA, KRP, RJ_D)
        }
    }
    for (int i = 0; i < DQ_TM; i++) {
        const int r = r0 + i;
        if (r >= n_q) continue;
        __global scl_store_t *out = dq + b * q_sb + h * q_sh + (long)r * q_sn;
        for (int c = 0; c < D; c++) STORE(out, c, acc[i][c] * scale);
    }
#undef QA
#undef GA
#undef SA
}

__kernel __attribute__((reqd_work_group_size(KV_WG, 1, 1))) void
bwd_dkv(__global const float *qr, __global const float *qt, __global const float *dor, __global const float *dot,
        __global const float *lrow, __global const float *drow, __global const float *kt,
        __global const float *vt, __global scl_store_t *dk, __global scl_store_t *dv,
        __global const int *col_ptr, __global const int *row_idx, __global const int *col_mask,
        __global const uint *masks_t, __global const int *head_layout, const int n_q, const int n_k,
        const int nqp, const int nkp, const int heads, const int group, const long k_sb, const long k_sh,
        const long k_sn, const int nb_k, const int mask_words, const float scale)
{
    const int lid = get_local_id(0);
    const int k0 = get_group_id(0) * KV_BK, bhk = get_group_id(1);
    const int kv_heads = heads / group;
    const int b = bhk / kv_heads, hk = bhk % kv_heads;
    const int j0 = k0 + lid * KV_TN; /* this thread's first key row */
    const int bcol = k0 / BLOCK, cib0 = j0 % BLOCK;
    const float qscale = scale * LOG2E;

    __global const float *kp = kt + (long)bhk * D * nkp + j0; /* own rows, transposed copies */
    __global const float *vp = vt + (long)bhk * D * nkp + j0;
#define KA(j, c) kp[(long)(c) * nkp + (j)]
#define VA(j, c) vp[(long)(c) * nkp + (j)]
#define PA(j, i) s[j][i]
#define DSA(j, i) dp[j][i]
#if STAGE
    __local float qts[D * (KV_BQ + PAD)], dots[D * (KV_BQ + PAD)], qrs[KV_BQ * (D + PAD)],
        dors[KV_BQ * (D + PAD)], ls[KV_BQ], ds[KV_BQ];
#define QTP(c, i) &qts[(c) * (KV_BQ + PAD) + (i)]
#define GTP(c, i) &dots[(c) * (KV_BQ + PAD) + (i)]
#define QRP(i, c) &qrs[(i) * (D + PAD) + (c)]
#define GRP(i, c) &dors[(i) * (D + PAD) + (c)]
#define LAT(i) ls[i]
#define DAT(i) ds[i]
#else
#define QTP(c, i) (qtp + (long)(c) * nqp + i0 + (i))
#define GTP(c, i) (dotp + (long)(c) * nqp + i0 + (i))
#define QRP(i, c) (qrp + (long)(i0 + (i)) * D + (c))
#define GRP(i, c) (dorp + (long)(i0 + (i)) * D + (c))
#define LAT(i) lp[i0 + (i)]
#define DAT(i) dp_[i0 + (i)]
#endif

    float dka[KV_TN][D], dva[KV_TN][D], s[KV_TN][KV_BQ], dp[KV_TN][KV_BQ];
    for (int j = 0; j < KV_TN; j++)
        for (int c = 0; c < D; c++) dka[j][c] = dva[j][c] = 0.0f;

    for (int g = 0; g < group; g++) {
        const int h = hk * group + g, bh = b * heads + h;
        __global const float *qtp = qt + (long)bh * D * nqp, *dotp = dot + (long)bh * D * nqp;
        __global const float *qrp = qr + (long)bh * nqp * D, *dorp = dor + (long)bh * nqp * D;
        __global const float *lp = lrow + (long)bh * nqp, *dp_ = drow + (long)bh * nqp;
        const int lay = head_layout[h];
        const int e0 = col_ptr[lay * (nb_k + 1) + bcol], e1 = col_ptr[lay * (nb_k + 1) + bcol + 1];
        for (int e = e0; e < e1; e++) {
            const int brow = row_idx[e];
            const int mid = col_mask[e];
            __global const uint *mask = masks_t + (long)(mid < 0 ? 0 : mid) * mask_words;
            for (int qt0 = 0; qt0 < BLOCK; qt0 += KV_BQ) {
                const int i0 = brow * BLOCK + qt0;
                if (i0 >= n_q) break; /* uniform: rest of a tail block */
#if STAGE
                barrier(CLK_LOCAL_MEM_FENCE);
                for (int x = lid; x < KV_BQ * D; x += KV_WG) {
                    const int c = x / KV_BQ, i = x % KV_BQ;
                    qts[c * (KV_BQ + PAD) + i] = qtp[(long)c * nqp + i0 + i];
                    dots[c * (KV_BQ + PAD) + i] = dotp[(long)c * nqp + i0 + i];
                }
                for (int x = lid; x < KV_BQ * D; x += KV_WG) {
                    const int i = x / D, c = x % D;
                    qrs[i * (D + PAD) + c] = qrp[(long)(i0 + i) * D + c];
                    dors[i * (D + PAD) + c] = dorp[(long)(i0 + i) * D + c];
                }
                for (int x = lid; x < KV_BQ; x += KV_WG) {
                    ls[x] = lp[i0 + x];
                    ds[x] = dp_[i0 + x];
                }
                barrier(CLK_LOCAL_MEM_FENCE);
#endif
                GEMM(s, 0, KV_TN, KV_BQ, D, KA, QTP, RJ_KV)
                GEMM(dp, 0, KV_TN, KV_BQ, D, VA, GTP, RJ_KV)
                if (mid >= 0) { /* transposed mask: bit (key c, query r) = c * BLOCK + r */
                    for (int j = 0; j < KV_TN; j++) {
                        const int colbit = (cib0 + j) * BLOCK + qt0;
                        for (int i = 0; i < KV_BQ; i++) {
                            const int bit = colbit + i;
                            s[j][i] = (mask[bit >> 5] >> (bit & 31)) & 1u ? s[j][i] : -INFINITY;
                        }
                    }
                }
                for (int j = 0; j < KV_TN; j++)
                    for (int i = 0; i < KV_BQ; i++) {
                        const float pv = EXP2(fma(s[j][i], qscale, -LAT(i)));
                        s[j][i] = pv;
                        dp[j][i] = pv * (dp[j][i] - DAT(i));
                    }
                GEMM(dva, 1, KV_TN, D, KV_BQ, PA, GRP, RJ_D)
                GEMM(dka, 1, KV_TN, D, KV_BQ, DSA, QRP, RJ_D)
            }
        }
    }
    for (int j = 0; j < KV_TN; j++) {
        const int r = j0 + j;
        if (r >= n_k) continue;
        const long off = b * k_sb + hk * k_sh + (long)r * k_sn;
        for (int c = 0; c < D; c++) {
            STORE(dk, off + c, dka[j][c] * scale);
            STORE(dv, off + c, dva[j][c]);
        }
    }
}
