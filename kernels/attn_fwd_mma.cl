/* Block-sparse attention forward on matrix engines (FlashAttention-2 structure, LUT driven).
 *
 * The same algorithm, arguments, LUT and outputs as attn_fwd in attn_fwd.cl, with the two products
 * on the tensor cores through kernels/mma.clh: NVIDIA mma.sync m16n8k16 by inline PTX with
 * -DSCL_MMA_PTX (compute capability >= 8.0), else the header's portable emulation (any OpenCL 1.2
 * device: PoCL in CI; slow, for testing only).
 *
 * K and V are read in place (kt, vp = the caller's K and V, strides kv_sb, kv_sh, kv_sn in
 * elements: rows 16-byte aligned) or, where a key map applies (gathered keys of decomposed plans),
 * from the padded copy that attn_prep_kv makes (same arguments and GPU launch geometry as the SIMT
 * one: global {ceil(D/32)*32, ceil(NKP/32)*2, B*H_kv}, local {32, 2, 1}; K and V NOT transposed,
 * [B*H_kv][NKP][D], zero rows beyond n_k or where map[r] = -1; 16-bit values copied bit for bit).
 * Key rows at or beyond n_k are zero-filled by cp.async without being read.
 *
 * attn_fwd_mma: one work-group of WARPS warps per (query tile of BQ rows, batch*head); launch
 * local {WARPS*32, 1}, global {ceil(n_q/BQ)*WARPS*32, B*H}. Warp w owns query rows w*WM.. +WM
 * (WM = BQ/WARPS = 16*MT). Q is staged in local memory once (cp.async) and its A fragments are
 * kept in registers (QREG=1) or re-read by ldmatrix at every k-step (QREG=0: fewer registers,
 * for d >= 128). For each LUT entry of the block row, the BK-key tiles inside the block (tiles
 * wholly beyond n_k skipped): K and V tiles are copied by cp.async into swizzled local tiles,
 * S = Q K^T in f32 accumulators (ldmatrix), the partial-block bitmask (only when the LUT entry is
 * partial), online softmax on the fragments (row max over the quad by shfl.sync.bfly; for scale > 0
 * on the raw scores, p = exp2(s * scale*log2(e) - m) as one fma, else the scores are scaled first),
 * P rounded to f16/bf16 (round to nearest even, as FlashAttention does) and reused in registers as
 * the A operand of O += P V (ldmatrix.trans for V); O is rescaled only when a row max moved. The row
 * sum uses the unrounded f32 P. Output O = acc / l rounded to the storage type; LSE = ln(sum exp) as
 * float [B*H][n_q], -inf and O = 0 for rows with no allowed key; rows >= n_q are not written.
 *
 * Components of decomposed plans (MAPPED=1; host/src/decomposed.c): the kernel reads the caller's
 * tensors through the component's maps instead of gathered copies. Query row r is row q_map[r] of
 * Q, O and LSE (NULL: r; -1: padding, zero and not written), key k is row kv_map[k] of K and V
 * (NULL: k; -1: a zero row), LSE rows are lse_n apart; with merge != 0 each row is merged by LSE
 * into the O and LSE the previous components left there (lse is then required).
 *
 * Split rows (SPLIT=1; host/src/plan_split.c): work-group w runs split[w] = (query tile, chunk,
 * chunks, slot): chunk of chunks equal parts of the tile's LUT entries. A tile of one chunk writes O
 * and LSE as above; the chunks of a split tile write their normalised f32 O and base-2 LSE to
 * part_o / part_l at their slot, and attn_fwd_split_merge (below) combines them by LSE. This is
 * split-KV for rows far longer than a work-group's share (BigBird's and Longformer's global rows).
 *
 * Pipelines: STAGES=2 double-buffers K and V (tile t+1 is copied while tile t is computed, one
 * barrier per tile); STAGES=1 has one K and one V buffer in FlashAttention-2's order (V[t] copied
 * during S = QK^T, K[t+1] during O += PV, two barriers per tile).
 *
 * Compile-time parameters (each has a default, so the file builds alone):
 *   D       head dim: 16, 32, 64, 80, 96, 128, 256 (any multiple of 16)
 *   BLOCK   layout block: 16, 32, 64, 128, 256 (BLOCK 8 is not served: BQ >= 16; host falls back)
 *   BQ      query rows per work-group: 16*WARPS*MT, divides BLOCK
 *   BK      keys per tile: multiple of 16, divides BLOCK
 *   WARPS   warps per work-group: 1, 2, 4, 8 (BQ = 16*WARPS*MT; 1 warp for BLOCK 16)
 *   STAGES  1 or 2, SWIZZLE 0 or 1, QREG 0 or 1
 *   SUBS    online-softmax sub-tiles per key tile (1, 2, 4; divides BK / 16): the row max, rescale,
 *           P and P V per sub-tile, so one sub-tile's softmax can overlap the next one's products
 *   FUSE_PV 0 or 1: each k16 step's P V right after its exponentials (same results as 0)
 *   WGMMA   0 or 1: both products as Hopper warpgroup MMAs (sm_90a through the patched PTX, see
 *           mma.clh): WARPS 4 or 8 (warpgroup w / 4 owns rows 64 (w / 4).. of each 16 * WARPS-row
 *           tile), SUBS=1, FUSE_PV=0; QREG=0 reads Q by descriptor from its tile (a slab tile then:
 *           fewer registers; needs WG_SWZ); for d a multiple of 64 the K and V tiles in wgmma's
 *           128-byte-swizzle layout (WG_SWZ: 64-column slabs, mma.clh's scl_kv_off; at d = 64 the
 *           swizzled tiles above), else in the core-matrix layout; WGN_S / WGN_V columns per wgmma of
 *           S and of P V, WG_PIPE and WG_PP (below). Emulated like the rest off NVIDIA.
 *   HAS_MASKS 0 where the plan's layout has no partial block (no mask code built); FREE_LOOP (PTX, d <= 64):
 *           the tiles before a row's first partial block in a loop without the mask code (plans
 *           upload each row's full blocks first; correct for any order)
 *   MAPPED  1: read q_map, kv_map and merge (above); 0: ignore them (key rows in place or copied)
 *   MIN_GROUPS not read here: host/src/ptx_wgmma.c gives the wgmma build `.minnctapersm MIN_GROUPS`
 *   SCL_F16 (default) or SCL_BF16 storage, 16-bit patterns in ushort; SCL_MMA_PTX for NVIDIA.
 * Supported (BLOCK, D): BLOCK in {16, 32, 64, 128, 256} x D in {16, 32, 64, 80, 96, 128, 256}, with
 * local bytes = 2*D*(BQ + 2*STAGES*BK) + 16 (+ emulation scratch) within the device's static limit
 * (227 KiB on sm_90: shared/matrix-engines/README.md). Verified on the H200 (PTX) for every D with
 * BLOCK 16, 64, 128 and for D 32/64/128 with BLOCK 32, 256 (tests/mma/test_mma_fwd.c --full); D = 256
 * with BQ <= 64, BK <= 32 (its O accumulators take 4*D/8*MT registers). Measured best, to pass by -D
 * (mma_defaults() in tests/mma/test_mma_fwd.c; H200, results/matrix-engine): BQ = min(BLOCK, 128), BK = min(BLOCK, 64), STAGES 2, SWIZZLE 1; 2 m16 tiles
 * per warp (BQ 128: WARPS 4; BQ 64 and D <= 64: WARPS 2); QREG = (D <= 64) (mma.sync). The wgmma
 * forms the library picks on Hopper: host/src/params_fwd_mma.c fit_wgmma.
 * Experiments only (default off): ABLATE=1 (no exponentials) / 2 (no P V) for timing, wrong results;
 * SCL_ASM_VOLATILE=0 and SCL_LDSM_LANEID=1 in mma.clh.
 * Tensor addresses: the Q/O strides (elements) must be multiples of 8 and the buffers 16-byte
 * aligned (true for [B,H,N,d] and [B,N,H,d] with D % 8 == 0). */
#ifndef D
#define D 64
#endif
#ifndef BLOCK
#define BLOCK 64
#endif
#ifndef WARPS
#define WARPS 4
#endif
#ifndef BQ
#define BQ (BLOCK < 32 * WARPS ? BLOCK : 32 * WARPS) /* 2 m16 tiles per warp where possible */
#endif
#ifndef BK
#define BK (BLOCK < 64 ? BLOCK : 64)
#endif
#ifndef STAGES
#define STAGES 2
#endif
#ifndef SWIZZLE
#define SWIZZLE 1
#endif
#ifndef QREG
#define QREG (D <= 64)
#endif
#ifndef SUBS
#define SUBS 1 /* online-softmax sub-tiles per key tile */
#endif
#ifndef FUSE_PV
#define FUSE_PV 0 /* each k16 step's P V products right after its P */
#endif
#ifndef HAS_MASKS
#define HAS_MASKS 1 /* 0: the layout has no partial block (the host knows): no mask code at all */
#endif
/* 1: the tiles before a row's first partial block in a loop of their own, without the mask code
 * (the plan uploads each row's full blocks first). Measured on the H200 (bf16, kernel alone, blocks
 * of 64): d = 64 dense / causal 353 -> 378 / 339 -> 358 TFLOP/s; d = 128 413 -> 405 / 418 -> 407
 * (its larger loop body twice): off there (results/matrix-engine/h200-session9/). Not with the
 * turns (WG_PP: the library's d = 128 form). The emulation builds it only when asked (-DFREE_LOOP=1,
 * tests/mma/test_mma_fwd.c): the loop twice doubles PoCL's compile time. */
#ifndef FREE_LOOP
#ifdef SCL_MMA_PTX
#define FREE_LOOP (HAS_MASKS && D <= 64 && !WG_PP)
#else
#define FREE_LOOP 0
#endif
#endif
#ifndef MAPPED
#define MAPPED 0 /* 1: the component arguments q_map, kv_map, merge are read (decomposed plans) */
#endif
#ifndef SPLIT
#define SPLIT 0 /* 1: split[] assigns work-groups chunks of query tiles (above) */
#endif
#ifndef REVERSE
#define REVERSE 1 /* query tiles in reverse launch order */
#endif
#ifndef ABLATE
#define ABLATE 0 /* timing experiments only: 1 = no exponentials, 2 = no P V products */
#endif
#ifndef WGMMA
#define WGMMA 0 /* Hopper warpgroup MMA (sm_90a, through the patched PTX) instead of mma.sync */
#endif
#ifndef WG_SWZ /* wgmma: 1 = K and V in wgmma's 128-byte swizzle (64-column slabs, mma.clh), 0 = core matrices */
#define WG_SWZ (D % 64 == 0 && SWIZZLE)
#endif
#if WGMMA && WG_SWZ
#if D % 64 != 0 || !SWIZZLE
#error "WG_SWZ=1 needs D a multiple of 64 and SWIZZLE=1 (128-byte swizzle atoms of 64 columns)"
#endif
#define SCL_WG_SWZ128 1 /* kernels/mma.clh: K and V in 64-column slabs, 128-byte-swizzle descriptors */
#define SCL_KV_ROWS BK
#elif WGMMA
#define SCL_CORE_LAYOUT 1 /* local tiles in wgmma's core-matrix layout (kernels/mma.clh) */
#endif
#if WGMMA
#ifndef WG_PIPE
#define WG_PIPE 0 /* 1: tile t's softmax overlaps tile t-1's P V (FlashAttention-3's intra-warpgroup overlap) */
#endif
/* Keys per wgmma of S = Q K^T (16 to 128) and head-dim columns per wgmma of O += P V. On the swizzled
 * tiles: the whole key tile and the whole head dim in one wgmma each where they fit (128), except
 * where, outside the pipelined form, S and P V would each be one wgmma of the same width (BK = D =
 * WGN_S = WGN_V: d = 64 with 64-key tiles, d = 128 with 128): the H200 gave wrong scores there
 * (LSE off by 0.05-0.25, results/matrix-engine/h200-session4/; cause not found: the same source
 * is exact in the emulation, in the pipelined form and with any other split), so S (d = 64) or
 * P V (d = 128) is split in two. On core-matrix tiles: at most 64 keys per wgmma of S. */
#if WG_SWZ
#ifndef WGN_S
#define WGN_S (BK > 128 ? 64 : !WG_PIPE && BK == 64 && D == 64 ? 32 : BK)
#endif
#ifndef WGN_V
#define WGN_V (D <= 128 && (WG_PIPE || BK != D || WGN_S != BK) ? D : 64)
#endif
#else
#ifndef WGN_S
#define WGN_S (BK < 64 ? BK : 64)
#endif
#ifndef WGN_V
#define WGN_V (D % 64 == 0 && !(BK == D && WGN_S == 64) ? 64 : D % 32 == 0 && !(BK == D && WGN_S == 32) ? 32 : 16)
#endif
#endif
#if defined(SCL_MMA_PTX) && !WG_PIPE && BK == D && WGN_S == BK && WGN_V == D
#error "WGMMA with BK = D = WGN_S = WGN_V gives wrong results on sm_90 (see above): use another WGN_S or WGN_V"
#endif
#endif
#if !defined(SCL_F16) && !defined(SCL_BF16)
#define SCL_F16
#endif
#if defined(SCL_F16) && defined(SCL_BF16)
#error "SCL_F16 and SCL_BF16 are exclusive"
#endif
#include "mma.clh"

#define WG (WARPS * 32)
#define WM (BQ / WARPS) /* query rows per warp */
#define MT (WM / 16)    /* m16 tiles per warp */
#define NT (BK / 8)     /* n8 tiles of S */
#define KS (D / 16)     /* k-steps of S = Q K^T */
#define DT (D / 8)      /* n8 tiles of O */
#define TPB (BLOCK / BK)
#define NTS (NT / SUBS)                  /* n8 tiles of S per softmax sub-tile */
#define KSU (BK / 16 / SUBS)             /* k16 steps of P V per sub-tile */
#define S_SUBS (QREG ? SUBS : 1)         /* passes of S = Q K^T (Q re-read: one pass) */
#define NCH (D / 8) /* 16-byte chunks per row */
#define KV_TILE (BK * D)
#define CP_KV ((BK * NCH + WG - 1) / WG) /* chunks each work-item copies per K or V tile */
#define CP_Q ((BQ * NCH + WG - 1) / WG)
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

#if D % 16 != 0
#error "D must be a multiple of 16"
#endif
#if WM % 16 != 0 || WM < 16
#error "BQ must be a multiple of 16 * WARPS"
#endif
#if BK % 16 != 0 || BLOCK % BK != 0 || BLOCK % BQ != 0
#error "BK must be a multiple of 16, BQ and BK must divide BLOCK"
#endif
#if STAGES != 1 && STAGES != 2
#error "STAGES must be 1 or 2"
#endif
#if SUBS < 1 || BK % (16 * SUBS) != 0
#error "SUBS must divide BK / 16"
#endif
#if WGMMA && (WARPS % 4 != 0 || SUBS != 1 || FUSE_PV || ABLATE || BK % WGN_S != 0 || D % WGN_V != 0)
#error "WGMMA needs whole warpgroups (WARPS 4 or 8), SUBS=1, FUSE_PV=0, WGN_S | BK, WGN_V | D"
#endif
#if WGMMA && !QREG && !WG_SWZ
#error "WGMMA with QREG=0 (Q read by descriptor) needs the swizzled slab tiles (WG_SWZ=1)"
#endif
/* wgmma with Q read from its local tile by descriptor (QREG=0): no Q fragments in registers; the Q
 * tile is then a slab tile too (mma.clh scl_slab_off). */
#define WG_SS (WGMMA && !QREG)
#if WG_SS
#define Q_OFF(r, col) scl_slab_off(BQ, r, col)
#else
#define Q_OFF(r, col) scl_tile_off(D, r, col)
#endif
#if WGMMA && WG_PIPE && STAGES != 2
#error "WG_PIPE needs STAGES=2"
#endif
#define PIPE (WGMMA && WG_PIPE) /* WG_PIPE means nothing to the mma.sync form */
/* WG_PP=1: the pipelined form with two warpgroups that take turns issuing their wgmma batches
 * (FlashAttention-3's ping-pong: one warpgroup's softmax while the other's products run). K and V
 * tiles are published and freed by mbarriers instead of a work-group barrier per tile, which
 * would hold the two in step; V takes a third buffer, so that a warpgroup never waits for the
 * other one to free the V buffer it copies into next. */
#ifndef WG_PP
#define WG_PP 0
#endif
#if WG_PP && !(PIPE && WARPS == 8)
#error "WG_PP needs the pipelined wgmma form (WGMMA=1, WG_PIPE=1) with two warpgroups (WARPS=8)"
#endif
#define V_BUFS (WG_PP ? 3 : STAGES)
#define V_BUF(j) (WG_PP ? ((j) + 3) % 3 : ((j) + 2) & 1) /* the buffer of V(j), j >= -1 */
/* First query row (in the tile) of m16 tile mi of this warp: mma.sync gives each warp WM
 * consecutive rows; wgmma gives warpgroup warp / 4 rows 64 (warp / 4).. of each 16 * WARPS-row
 * tile, 16 rows per warp. */
#if WGMMA
#define ROW_OF(mi) ((mi) * 16 * WARPS + warp * 16)
#define WG_ROW0(mi) ((mi) * 16 * WARPS + (warp & ~3) * 16) /* the warpgroup's first row */
#else
#define ROW_OF(mi) (warp * WM + (mi) * 16)
#endif
/* Copies landed for everyone (and, for wgmma, visible to the async proxy). */
#define TILES_LANDED()                                                                                       \
    do {                                                                                                     \
        SCL_CP_WAIT(0);                                                                                      \
        if (WGMMA) scl_wg_proxy_fence();                                                                     \
        barrier(CLK_LOCAL_MEM_FENCE);                                                                        \
    } while (0)

/* GPU form of the SIMT prep (same geometry): 32 x 32 tiles (keys x head-dim columns) per group of
 * 32 x 2 work-items, rows read and written along the head dim (coalesced), no transpose. Where the
 * source strides are multiples of 8 elements (16 bytes; buffers are aligned at least that much),
 * each work-item copies two 16-byte pieces: 2-byte copies ran at a third of an H200's bandwidth. */
#define PT 32
__kernel __attribute__((reqd_work_group_size(PT, 2, 1))) void
attn_prep_kv(__global const ushort *k, __global const ushort *v, __global ushort *kt, __global ushort *vp,
             __global const int *map, const int n_k, const int nkp, const int kv_heads, const long k_sb,
             const long k_sh, const long k_sn)
{
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int c0 = get_group_id(0) * PT, r0 = get_group_id(1) * PT, bh = get_global_id(2);
    const int b = bh / kv_heads, h = bh % kv_heads;
    __global const ushort *ks = k + b * k_sb + h * k_sh, *vs = v + b * k_sb + h * k_sh;
    __global ushort *ktd = kt + (long)bh * nkp * D, *vpd = vp + (long)bh * nkp * D;
    if (((k_sb | k_sh | k_sn) & 7) == 0) { /* D is a multiple of 16: whole pieces */
        for (int q = ty * PT + tx; q < PT * PT / 8; q += 2 * PT) {
            const int r = r0 + q / (PT / 8), c = c0 + q % (PT / 8) * 8;
            if (r >= nkp || c >= D) continue;
            const int src = r < n_k ? (map ? map[r] : r) : -1;
            __global uint4 *kd = (__global uint4 *)(ktd + (long)r * D + c), *vd = (__global uint4 *)(vpd + (long)r * D + c);
            *kd = src >= 0 ? *(__global const uint4 *)(ks + (long)src * k_sn + c) : (uint4)(0u);
            *vd = src >= 0 ? *(__global const uint4 *)(vs + (long)src * k_sn + c) : (uint4)(0u);
        }
        return;
    }
    const int c = c0 + tx;
    if (c >= D) return; /* no barriers here: early exit is fine */
    for (int j = ty; j < PT; j += 2) {
        const int r = r0 + j;
        if (r >= nkp) break;
        const int src = r < n_k ? (map ? map[r] : r) : -1;
        ktd[(long)r * D + c] = src >= 0 ? ks[(long)src * k_sn + c] : (ushort)0;
        vpd[(long)r * D + c] = src >= 0 ? vs[(long)src * k_sn + c] : (ushort)0;
    }
}

/* Copy one BK x D tile (rows k0.. of K or V: row stride sn elements) into a swizzled local tile;
 * rows at or beyond n_k are zero-filled without being read (only the last tile of a sequence has
 * them: that one takes the checked path). When the work-group covers whole 8-row swizzle periods
 * per pass (the usual case), each work-item keeps its chunk column and the swizzle is computed
 * once: the passes differ by constant offsets. */
#define CP_REGULAR (WG % NCH == 0 && (WG / NCH) % 8 == 0 && (BK * NCH) % WG == 0)
/* Row and chunk column a work-item copies in the regular case: for the core-matrix layout 8
 * consecutive work-items take 8 rows of one chunk column (one contiguous core matrix). */
#if SCL_CORE_LAYOUT && WG % (8 * NCH) == 0
#define CP_ROW(lid) (((lid) & 7) + 8 * ((lid) / (8 * NCH)))
#define CP_COL(lid) (((lid) >> 3) % NCH)
#else
#define CP_ROW(lid) ((lid) / NCH)
#define CP_COL(lid) ((lid) % NCH)
#endif
__attribute__((always_inline)) inline void load_tile(__local ushort *dst, __global const ushort *base, const long k0,
                                                     const long sn, const int n_k, const int lid,
                                                     __global const int *map)
{
    __global const ushort *src = base + k0 * sn;
    const int whole = k0 + BK <= n_k;
#if !MAPPED
    (void)map;
#endif
#if CP_REGULAR
    const int r0 = CP_ROW(lid), c = CP_COL(lid), doff = scl_kv_off(D, r0, c * 8); /* period: 8 rows */
    const int pass = (WG / NCH) * SCL_KV_ROW_STRIDE(D); /* elements between one pass's rows and the next's */
#if MAPPED
    if (map) { /* key k0 + r is row map[k0 + r] of the caller's K or V (-1: padding, zero) */
        SCL_UNROLL
        for (int it = 0; it < CP_KV; it++) {
            const int r = r0 + it * (WG / NCH), kr = k0 + r < n_k ? map[k0 + r] : -1;
            scl_cp16_zfill(dst + it * pass + doff, base + (kr >= 0 ? (long)kr * sn : 0) + c * 8, kr >= 0);
        }
        return;
    }
#endif
    if (whole) {
        SCL_UNROLL
        for (int it = 0; it < CP_KV; it++) {
            const int r = r0 + it * (WG / NCH);
            scl_cp16(dst + it * pass + doff, src + r * sn + c * 8);
        }
    }
    else {
        SCL_UNROLL
        for (int it = 0; it < CP_KV; it++) {
            const int r = r0 + it * (WG / NCH), ok = k0 + r < n_k;
            scl_cp16_zfill(dst + it * pass + doff, src + (ok ? r * sn : 0) + c * 8, ok);
        }
    }
#else
    SCL_UNROLL
    for (int it = 0; it < CP_KV; it++) {
        const int i = lid + it * WG, r = i / NCH, c = i % NCH;
#if MAPPED
        const int kr = !map ? k0 + r : k0 + r < n_k ? map[k0 + r] : -1, ok = kr >= 0 && (whole || k0 + r < n_k);
        if (CP_KV * WG == BK * NCH || i < BK * NCH)
            scl_cp16_zfill(dst + scl_kv_off(D, r, c * 8), base + (ok ? kr * sn : 0) + c * 8, ok);
#else
        const int ok = whole || k0 + r < n_k;
        if (CP_KV * WG == BK * NCH || i < BK * NCH)
            scl_cp16_zfill(dst + scl_kv_off(D, r, c * 8), src + (ok ? r * sn : 0) + c * 8, ok);
#endif
    }
#endif
}

/* log2(2^a + 2^b) for a finite a or b: two base-2 LSEs merged. */
__attribute__((always_inline)) inline float log2_add(const float a, const float b)
{
    return fmax(a, b) + log2(1.0f + exp2(-fabs(a - b)));
}

/* Two output values of a previous component (merge): 16-bit pairs, low half first. */
__attribute__((always_inline)) inline float2 prev_o2(__global const uint *p)
{
#ifdef SCL_BF16
    const uint u = *p;
    return (float2)(as_float(u << 16), as_float(u & 0xffff0000u));
#else
    return vload_half2(0, (__global const half *)p);
#endif
}

/* One n8 tile of scores (rows g and g + 8 of the lane) -> p = exp2(s * sfma - m): summed in f32
 * into the lane's row sums, returned rounded as two words of 16-bit pairs (row g, row g + 8). */
__attribute__((always_inline)) inline uint2 p_tile(const float4 sv, const float sfma, const float m0, const float m1,
                                                   float *l0, float *l1)
{
    float4 p;
#if ABLATE == 1 /* timing experiment only: no exponentials (wrong results) */
    p = sv;
    (void)sfma, (void)m0, (void)m1;
#else
    p.x = SCL_EXP2(fma(sv.x, sfma, -m0));
    p.y = SCL_EXP2(fma(sv.y, sfma, -m0));
    p.z = SCL_EXP2(fma(sv.z, sfma, -m1));
    p.w = SCL_EXP2(fma(sv.w, sfma, -m1));
#endif
    *l0 += p.x + p.y;
    *l1 += p.z + p.w;
    return (uint2)(scl_pack2(p.x, p.y), scl_pack2(p.z, p.w));
}

#if ABLATE == 2 /* timing experiment only: no P V products (wrong results); P stays alive */
#define PV_MMA(c, a, b) (keep ^= (a).x ^ (a).y ^ (a).z ^ (a).w ^ (b).x)
#else
#define PV_MMA(c, a, b) scl_mma(c, a, b, scl_scr)
#endif
/* STAGES = 1, before the first P V of a tile: V[t] has landed for everyone, K[t] is free: K[t+1]
 * is copied during O += P V. */
#define V_LANDED_LOAD_NEXT_K()                                                                               \
    do {                                                                                                     \
        TILES_LANDED();                                                                                      \
        if (t + 1 < n_tiles) load_tile(ks, kp, TILE_K0(t + 1), kv_sn, n_k, lid, kv_map);                     \
        scl_cp_commit();                                                                                     \
    } while (0)

#if WGMMA
/* The wgmma batches of a tile (the caller fences before and waits after): S = Q K^T into s from the
 * K tile kb; O += P V into acc from pa and the V tile vb, sub-tile u. */
#if WG_SS
#define WG_MMA_S(c, mi, kk, kb, key0) scl_wgmma_k_ss(c, WGN_S / 8, qs, BQ, WG_ROW0(mi), kb, D, key0, (kk) * 16, scl_scr)
#else
#define WG_MMA_S(c, mi, kk, kb, key0) scl_wgmma_k(c, WGN_S / 8, QF(mi, kk), kb, D, key0, (kk) * 16, scl_scr)
#endif
#define WG_ISSUE_S()                                                                                            \
    SCL_UNROLL                                                                                                  \
    for (int mi = 0; mi < MT; mi++)                                                                             \
        SCL_UNROLL                                                                                              \
        for (int kk = 0; kk < KS; kk++)                                                                         \
            SCL_UNROLL                                                                                          \
            for (int jn = 0; jn < BK / WGN_S; jn++)                                                             \
                WG_MMA_S(&s[mi][jn * (WGN_S / 8)], mi, kk, kb, jn * WGN_S)
#define WG_ISSUE_PV(u)                                                                                          \
    SCL_UNROLL                                                                                                  \
    for (int kk = 0; kk < KSU; kk++)                                                                            \
        SCL_UNROLL                                                                                              \
        for (int mi = 0; mi < MT; mi++)                                                                         \
            SCL_UNROLL                                                                                          \
            for (int jn = 0; jn < D / WGN_V; jn++)                                                              \
                scl_wgmma_v(&acc[mi][jn * (WGN_V / 8)], WGN_V / 8, pa[mi][kk], vb, D, ((u) * KSU + kk) * 16,    \
                            jn * WGN_V, scl_scr)
/* Register fences on O and P around a P V batch. */
#define WG_HOLD_PV_OPERANDS()                                                                                   \
    do {                                                                                                        \
        SCL_UNROLL                                                                                              \
        for (int mi = 0; mi < MT; mi++) {                                                                       \
            SCL_UNROLL                                                                                          \
            for (int j = 0; j < DT; j++) scl_wg_hold4(&acc[mi][j]);                                             \
            SCL_UNROLL                                                                                          \
            for (int kk = 0; kk < KSU; kk++) scl_wg_hold_a(&pa[mi][kk]);                                        \
        }                                                                                                       \
    } while (0)
#endif

/* Steps of the tile loop, shared by its two forms, as statements in its scope (s, mid, masks, m, l,
 * ...). MASK_SCORES(MASKED): the bitmask of a partial block (tails included) where MASKED (the
 * tiles from the row's first partial block on; a constant: the tiles before it are built without
 * the mask code); S stays unscaled (see sfma) unless scale <= 0. ONLINE_MAX(u): the row max of
 * sub-tile u over the lane's columns, then over the quad; declares mx (then O's rescale factors
 * alpha), msub (what the exponent subtracts) and rescale. */
/* MASK_BITS(mk, mi): the bitmask of a partial block on the lane's scores of m16 tile mi. With
 * MASK_WORDS (BK % 32 == 0) the key tile's bits of a lane's row are whole 32-bit words, each read
 * once for 4 n8 tiles, instead of one read per n8 tile: fewer registers (the d = 64 form no longer
 * spills on the H200) and 2-4% faster on the sparse patterns at d = 64; the two-warpgroup form
 * keeps the per-tile reads (faster there on dense and causal, which never read a mask: register
 * allocation; results/matrix-engine/h200-session8/). */
#define MASK_WORDS (BK % 32 == 0 && !WG_PP)
#define MASK_SET(v, w0, w1)                                                                                     \
    do {                                                                                                        \
        v.x = (w0 & 1u) ? v.x : -INFINITY;                                                                      \
        v.y = (w0 & 2u) ? v.y : -INFINITY;                                                                      \
        v.z = (w1 & 1u) ? v.z : -INFINITY;                                                                      \
        v.w = (w1 & 2u) ? v.w : -INFINITY;                                                                      \
    } while (0)
#if MASK_WORDS
#define MASK_BITS(mk, mi)                                                                                       \
    do {                                                                                                        \
        const int b0 = (rib0 + ROW_OF(mi)) * BLOCK + kt0, b1 = b0 + 8 * BLOCK; /* word aligned */               \
        SCL_UNROLL                                                                                              \
        for (int jw = 0; jw < NT / 4; jw++) {                                                                   \
            const uint r0 = mk[(b0 >> 5) + jw] >> (2 * t4), r1 = mk[(b1 >> 5) + jw] >> (2 * t4);                \
            SCL_UNROLL                                                                                          \
            for (int jj = 0; jj < 4; jj++) {                                                                    \
                const uint w0 = r0 >> (8 * jj), w1 = r1 >> (8 * jj);                                            \
                float4 v = s[mi][4 * jw + jj];                                                                  \
                MASK_SET(v, w0, w1);                                                                            \
                s[mi][4 * jw + jj] = v;                                                                         \
            }                                                                                                   \
        }                                                                                                       \
    } while (0)
#else
#define MASK_BITS(mk, mi)                                                                                       \
    do {                                                                                                        \
        const int b0 = (rib0 + ROW_OF(mi)) * BLOCK + kt0 + 2 * t4, b1 = b0 + 8 * BLOCK;                         \
        SCL_UNROLL                                                                                              \
        for (int j = 0; j < NT; j++) {                                                                          \
            const uint w0 = mk[(b0 + j * 8) >> 5] >> ((b0 + j * 8) & 31);                                       \
            const uint w1 = mk[(b1 + j * 8) >> 5] >> ((b1 + j * 8) & 31);                                       \
            float4 v = s[mi][j];                                                                                \
            MASK_SET(v, w0, w1);                                                                                \
            s[mi][j] = v;                                                                                       \
        }                                                                                                       \
    } while (0)
#endif
#define MASK_SCORES(MASKED)                                                                                     \
    /* The bitmask of a partial block (tails included); S stays unscaled (see sfma). */                         \
    if ((MASKED) && HAS_MASKS && mid >= 0) {                                                                    \
        __global const uint *mk = masks + (long)mid * mask_words;                                               \
        SCL_UNROLL                                                                                              \
        for (int mi = 0; mi < MT; mi++) MASK_BITS(mk, mi);                                                      \
    }                                                                                                           \
    if (smul != 1.0f) { /* scale <= 0 only (uniform): the max must be taken on scaled scores */                 \
        SCL_UNROLL                                                                                              \
        for (int mi = 0; mi < MT; mi++)                                                                         \
            SCL_UNROLL                                                                                          \
            for (int j = 0; j < NT; j++) s[mi][j] *= smul;                                                      \
    }

#define ONLINE_MAX(u)                                                                                           \
    /* Row max over the lane's columns, then over the quad. */                                                  \
    float mx[2 * MT];                                                                                           \
    SCL_UNROLL                                                                                                  \
    for (int mi = 0; mi < MT; mi++) {                                                                           \
        float a = -INFINITY, c = -INFINITY;                                                                     \
        SCL_UNROLL                                                                                              \
        for (int j = u * NTS; j < (u + 1) * NTS; j++) {                                                         \
            a = fmax(a, fmax(s[mi][j].x, s[mi][j].y));                                                          \
            c = fmax(c, fmax(s[mi][j].z, s[mi][j].w));                                                          \
        }                                                                                                       \
        mx[2 * mi] = a;                                                                                         \
        mx[2 * mi + 1] = c;                                                                                     \
    }                                                                                                           \
    scl_quad_max(mx, 2 * MT, scl_scr);                                                                          \
    float msub[2 * MT];                                                                                         \
    bool rescale = false;                                                                                       \
    SCL_UNROLL                                                                                                  \
    for (int i = 0; i < 2 * MT; i++) {                                                                          \
        const float mn = fmax(m[i], mx[i] * sfma); /* running max, base-2 scaled domain */                      \
        /* A row that has seen no allowed key keeps m = -inf and gets p = 0. */                                 \
        const float alpha = mn == -INFINITY ? 1.0f : SCL_EXP2(m[i] - mn);                                       \
        msub[i] = mn == -INFINITY ? 0.0f : mn;                                                                  \
        m[i] = mn;                                                                                              \
        l[i] *= alpha;                                                                                          \
        mx[i] = alpha;                                                                                          \
        rescale |= alpha != 1.0f;                                                                               \
    }

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
attn_fwd_mma(__global const ushort *q, __global const ushort *kt, __global const ushort *vp, __global ushort *o,
             __global float *lse, __global const int *row_ptr, __global const int *col_idx,
             __global const int *row_mask, __global const uint *masks, __global const int *head_layout,
             const int n_q, const int n_k, const int nkp, const int heads, const int group, /* group = H / H_kv */
             const long q_sb, const long q_sh, const long q_sn, /* strides (elements) of Q and O */
             const int nb_q, const int mask_words, const float scale,
             const long kv_sb, const long kv_sh, const long kv_sn, /* strides (elements) of K and V */
             __global const int *q_map, __global const int *kv_map, const int lse_n, const int merge,
             __global const int4 *split, __global float *part_o, __global float *part_l)
{
    __local ushort qs[BQ * D] __attribute__((aligned(WG_SS ? 1024 : 16)));
    /* 1024-byte alignment: the period of the 128-byte swizzle, which wgmma applies to absolute addresses */
    __local ushort ks[STAGES * KV_TILE] __attribute__((aligned(1024)));
    __local ushort vs[V_BUFS * KV_TILE] __attribute__((aligned(1024)));
#if FREE_LOOP
    __local int first_partial; /* the row's first LUT entry with a partial block (e1: none) */
#endif
#if WG_PP
    __local ulong pp_bar[10] __attribute__((aligned(8))); /* full K 0-1, full V 2-4, empty K 5-6, empty V 7-9 */
#endif
    SCL_MMA_SCRATCH(WARPS, 2 * MT);

    const int lid = get_local_id(0), lane = lid & 31, warp = lid >> 5, g = lane >> 2, t4 = lane & 3;
#if FREE_LOOP
    if (lid == 0) first_partial = INT_MAX;
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
#if WG_PP
    const int wg = warp >> 2; /* warpgroup */
    if (lid == 0) /* every phase completes with one arrival per work-item; published by the prologue barrier */
        for (int i = 0; i < 10; i++) scl_mbar_init(pp_bar + i, WG);
#endif
    /* Query tiles in reverse (REVERSE=1): under a causal pattern the longest rows start first and
     * the shortest fill the last wave. */
    const int tile = REVERSE ? (int)get_num_groups(0) - 1 - (int)get_group_id(0) : (int)get_group_id(0);
#if SPLIT
    const int4 sp = split[tile]; /* (query tile, chunk, chunks, slot) */
#else
    const int4 sp = (int4)(tile, 0, 1, 0);
    (void)split, (void)part_o, (void)part_l;
#endif
    const int q0 = sp.x * BQ, bh = get_group_id(1);
    const int b = bh / heads, h = bh % heads;
    const int brow = q0 / BLOCK, rib0 = q0 % BLOCK + g; /* + ROW_OF(mi): row in block of the lane's rows */
    __global const ushort *qp = q + b * q_sb + h * q_sh;
    (void)nkp; /* the strides say where rows are: the caller's K and V, or the plan's padded copy */
    __global const ushort *kp = kt + b * kv_sb + (h / group) * kv_sh, *vpp = vp + b * kv_sb + (h / group) * kv_sh;
    /* Scores in base 2: p = exp2(s * scale * log2(e) - m). For scale > 0 the row max is taken on
     * the raw scores and the scaling folds into the exponent's fma (sfma); otherwise the scores
     * are scaled first (smul) and sfma = 1. */
    const float qscale = scale * LOG2E;
    const float sfma = qscale > 0.0f ? qscale : 1.0f, smul = qscale > 0.0f ? 1.0f : qscale;

    /* Q tile: rows beyond n_q are zero (never read from memory). */
    SCL_UNROLL
    for (int it = 0; it < CP_Q; it++) {
        const int i = lid + it * WG, r = i / NCH, c = i % NCH;
        if (CP_Q * WG == BQ * NCH || i < BQ * NCH) {
            __local ushort *dst = qs + Q_OFF(r, c * 8);
#if MAPPED
            const int qr = q0 + r < n_q ? (q_map ? q_map[q0 + r] : q0 + r) : -1;
#else
            const int qr = q0 + r < n_q ? q0 + r : -1;
#endif
            if (qr >= 0) scl_cp16(dst, qp + (long)qr * q_sn + c * 8);
            else vstore4((uint4)(0u), 0, (__local uint *)dst);
        }
    }
    scl_cp_commit();

    /* Tiles of this block row: TPB per LUT entry, minus the tiles of the tail block beyond n_k
     * (only the last entry can be the tail: col_idx ascends). */
    const int lay = head_layout[h];
    const int r0 = row_ptr[lay * (nb_q + 1) + brow], r1 = row_ptr[lay * (nb_q + 1) + brow + 1];
    const int e0 = r0 + (r1 - r0) * sp.y / sp.z, e1 = r0 + (r1 - r0) * (sp.y + 1) / sp.z; /* this chunk */
    int n_tiles = (e1 - e0) * TPB;
    if (e1 > e0) {
        const int valid = min(BLOCK, n_k - col_idx[e1 - 1] * BLOCK);
        n_tiles -= TPB - (valid + BK - 1) / BK;
    }
#define TILE_K0(tt) (col_idx[e0 + (tt) / TPB] * BLOCK + ((tt) % TPB) * BK)

    if (n_tiles > 0) {
        const long k0 = TILE_K0(0);
        load_tile(ks, kp, k0, kv_sn, n_k, lid, kv_map);
#if STAGES == 2
        load_tile(vs, vpp, k0, kv_sn, n_k, lid, kv_map);
#endif
#if WG_PP /* K(1) too: the loop's copies run two K tiles and one V tile ahead */
        if (n_tiles > 1) load_tile(ks + KV_TILE, kp, TILE_K0(1), kv_sn, n_k, lid, kv_map);
#endif
    }
    /* FREE_LOOP: the row's first partial block, every work-item looking at a few entries (the plan
     * orders each row's full blocks first); correct for any order, mask-free for the tiles before it. */
#if FREE_LOOP
    for (int e = e0 + lid; e < e1; e += WG)
        if (row_mask[e] >= 0) {
            atomic_min(&first_partial, e);
            break;
        }
#endif
    scl_cp_commit();
    TILES_LANDED(); /* also publishes first_partial */
#if FREE_LOOP
    const int n_free = min(n_tiles, (min(first_partial, e1) - e0) * TPB); /* tiles before it */
#else
    const int n_free = HAS_MASKS ? 0 : n_tiles; /* one loop: every tile with the mask code, or none */
#endif

#if QREG
    uint4 qf[MT][KS];
    SCL_UNROLL
    for (int mi = 0; mi < MT; mi++)
        SCL_UNROLL
        for (int kk = 0; kk < KS; kk++) qf[mi][kk] = scl_ldsm_a(qs, D, ROW_OF(mi), kk * 16);
#define QF(mi, kk) qf[mi][kk]
#else
#define QF(mi, kk) scl_ldsm_a(qs, D, ROW_OF(mi), (kk) * 16)
#endif

    /* Per lane: rows (mi, hh) = warp*WM + mi*16 + g + 8*hh, index i = 2*mi + hh. */
    float m[2 * MT], l[2 * MT];
    float4 acc[MT][DT];
    SCL_UNROLL
    for (int i = 0; i < 2 * MT; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    SCL_UNROLL
    for (int mi = 0; mi < MT; mi++)
        SCL_UNROLL
        for (int j = 0; j < DT; j++) acc[mi][j] = (float4)(0.0f);

#if ABLATE == 2
    uint keep = 0;
#endif
    /* The next tile's first key, read one tile ahead: its cp.async does not wait on the load. */
#if STAGES == 2
    long k_next = n_tiles > 1 ? TILE_K0(1) : 0;
#endif
#if WG_PP
    /* The two-warpgroup form's steps (PIPE_STEP). K(j) lives in K buffer j & 1 and V(j) in V buffer
     * j % 3; K(0), V(0) and K(1) came with the prologue barrier, every later tile through its full
     * barrier (phase = the buffer's use count after the prologue). Each work-item frees K(t) once
     * S(t) is done and V(t-1) once P(t-1) V(t-1) is; step t >= 1 starts by copying K(t+1) and V(t)
     * once everyone has freed K(t-1) and V(t-3) (before the fence: copies between a wgmma and the
     * end of its stage make ptxas serialize the wgmma). Warpgroup 1 starts one turn behind. */
    long v_k0 = n_tiles > 1 ? TILE_K0(1) : 0;
    k_next = n_tiles > 2 ? TILE_K0(2) : 0;
#define PP_FULL_K(j) (pp_bar + ((j) & 1))
#define PP_FULL_V(j) (pp_bar + 2 + (j) % 3)
#define PP_EMPTY_K(j) (pp_bar + 5 + ((j) & 1))
#define PP_EMPTY_V(j) (pp_bar + 7 + (j) % 3)
#define PP_TILES_READY(t)                                                                                       \
    do {                                                                                                        \
        if ((t) >= 2) {                                                                                         \
            scl_mbar_wait(PP_FULL_K(t), (((t) >> 1) + 1) & 1);                                                  \
            scl_mbar_wait(PP_FULL_V((t) - 1), (((t) - 2) / 3) & 1);                                             \
            scl_wg_proxy_fence(); /* the landed copies visible to this work-item's wgmma */                     \
        }                                                                                                       \
    } while (0)
#ifndef WG_PP_TURNS
#define WG_PP_TURNS 1 /* experiments only: 0 = the mbarrier pipeline without the turns */
#endif
#if WG_PP_TURNS
#define PP_TURN_WAIT() scl_bar_sync(1 + wg, WG)
/* No branch between a wgmma and its wait (ptxas would serialize them): warpgroup 1 passes after
 * its last step too, and warpgroup 0 takes that turn after the loop. */
#define PP_TURN_PASS(t) scl_bar_arrive(2 - wg, WG)
#else
#define PP_TURN_WAIT() ((void)0)
#define PP_TURN_PASS(t) ((void)0)
#endif
#define PP_RELEASE_K(t) scl_mbar_arrive(PP_EMPTY_K(t))
#define PP_RELEASE_V(j) scl_mbar_arrive(PP_EMPTY_V(j))
#define PP_COPY_NEXT(t)                                                                                         \
    do {                                                                                                        \
        if ((t) + 1 < n_tiles) { /* K(t+1) into K(t-1)'s buffer */                                               \
            scl_mbar_wait(PP_EMPTY_K((t) + 1), (((t) - 1) >> 1) & 1);                                           \
            load_tile(ks + ((t) + 1 & 1) * KV_TILE, kp, k_next, kv_sn, n_k, lid, kv_map);                       \
            scl_cp_arrive(PP_FULL_K((t) + 1));                                                                  \
        }                                                                                                       \
        if ((t) >= 3) scl_mbar_wait(PP_EMPTY_V(t), (((t) - 3) / 3) & 1); /* V(t) into V(t-3)'s */               \
        load_tile(vs + (t) % 3 * KV_TILE, vpp, v_k0, kv_sn, n_k, lid, kv_map);                                  \
        scl_cp_arrive(PP_FULL_V(t));                                                                            \
        scl_cp_commit();                                                                                        \
        v_k0 = k_next;                                                                                          \
        k_next = (t) + 2 < n_tiles ? TILE_K0((t) + 2) : 0;                                                      \
    } while (0)
    if (WG_PP_TURNS && wg == 1 && n_tiles > 0) scl_bar_arrive(1, WG); /* warpgroup 0's first turn */
#else
#define PP_TILES_READY(t) ((void)0)
#define PP_TURN_WAIT() ((void)0)
#define PP_TURN_PASS(t) ((void)0)
#define PP_RELEASE_K(t) ((void)0)
#define PP_RELEASE_V(j) ((void)0)
#define PP_COPY_NEXT(t) ((void)0)
#endif
#if PIPE
    /* Step t issues S(t) = Q K(t)^T and then O += P(t-1) V(t-1) as two wgmma groups, waits for the
     * first only, and computes tile t's softmax while P V runs; O is rescaled once P V is done.
     * Buffers: K(t+1) is copied into K buffer (t+1) & 1 and V(t) into V buffer t & 1 during step t
     * (V(0) came with K(0)), so step t reads K buffer t & 1 and V buffer (t-1) & 1. P is held in pa
     * while its products run; the next P is computed into pn. Step 0 (FIRST, no P V yet) is peeled
     * off the loop: a branch between a wgmma and its wait makes ptxas serialize every wgmma.
     * (Copying two and three tiles ahead, STAGES 3 and 4, was tried: 2-3% slower on the H200,
     * results/matrix-engine/h200-session5/.) */
    uint4 pa[MT][KSU];
#define PIPE_STEP(FIRST, MASKED)                                                                                \
    do {                                                                                                        \
        const int e = e0 + t / TPB, kt0 = (t % TPB) * BK;                                                       \
        const int mid = row_mask[e];                                                                            \
        if (WG_PP) {                                                                                            \
            PP_TILES_READY(t);                                                                                  \
            if (!(FIRST)) PP_COPY_NEXT(t);                                                                      \
        }                                                                                                       \
        else {                                                                                                  \
            if (!(FIRST)) TILES_LANDED(); /* K(t) and V(t-1) for everyone; K(t-1), V(t-2) buffers free */       \
            if (t + 1 < n_tiles) load_tile(ks + ((t + 1) & 1) * KV_TILE, kp, k_next, kv_sn, n_k, lid, kv_map);  \
            if (!(FIRST)) load_tile(vs + (t & 1) * KV_TILE, vpp, TILE_K0(t), kv_sn, n_k, lid, kv_map);          \
            scl_cp_commit();                                                                                    \
            k_next = t + 2 < n_tiles ? TILE_K0(t + 2) : 0;                                                      \
        }                                                                                                       \
        __local const ushort *kb = ks + (t & 1) * KV_TILE, *vb = vs + V_BUF(t - 1) * KV_TILE;                   \
        (void)vb;                                                                                               \
        float4 s[MT][NT];                                                                                       \
        SCL_UNROLL                                                                                              \
        for (int mi = 0; mi < MT; mi++)                                                                         \
            SCL_UNROLL                                                                                          \
            for (int j = 0; j < NT; j++) {                                                                      \
                s[mi][j] = (float4)(0.0f);                                                                      \
                scl_wg_hold4(&s[mi][j]);                                                                        \
            }                                                                                                   \
        if (!(FIRST)) WG_HOLD_PV_OPERANDS();                                                                    \
        PP_TURN_WAIT();                                                                                         \
        scl_wg_fence();                                                                                         \
        WG_ISSUE_S();                                                                                           \
        scl_wg_commit();                                                                                        \
        if (!(FIRST)) {                                                                                         \
            WG_ISSUE_PV(0);                                                                                     \
            scl_wg_commit();                                                                                    \
            PP_TURN_PASS(t);                                                                                    \
            SCL_WG_WAIT(1); /* S(t) done; P(t-1) V(t-1) may still run */                                        \
        }                                                                                                       \
        else {                                                                                                  \
            PP_TURN_PASS(t);                                                                                    \
            SCL_WG_WAIT(0);                                                                                     \
        }                                                                                                       \
        PP_RELEASE_K(t);                                                                                        \
        SCL_UNROLL                                                                                              \
        for (int mi = 0; mi < MT; mi++)                                                                         \
            SCL_UNROLL                                                                                          \
            for (int j = 0; j < NT; j++) scl_wg_hold4(&s[mi][j]);                                               \
        MASK_SCORES(MASKED);                                                                                    \
        ONLINE_MAX(0);                                                                                          \
        (void)rescale; /* O is rescaled unconditionally below (no divergent branch before the wgmma) */         \
        uint4 pn[MT][KSU];                                                                                      \
        SCL_UNROLL                                                                                              \
        for (int mi = 0; mi < MT; mi++)                                                                         \
            SCL_UNROLL                                                                                          \
            for (int kk = 0; kk < KSU; kk++) {                                                                  \
                pn[mi][kk].xy = p_tile(s[mi][2 * kk], sfma, msub[2 * mi], msub[2 * mi + 1], &l[2 * mi], &l[2 * mi + 1]); \
                pn[mi][kk].zw = p_tile(s[mi][2 * kk + 1], sfma, msub[2 * mi], msub[2 * mi + 1], &l[2 * mi], &l[2 * mi + 1]); \
            }                                                                                                   \
        if (!(FIRST)) {                                                                                         \
            SCL_WG_WAIT(0);                                                                                     \
            WG_HOLD_PV_OPERANDS(); /* P(t-1) V(t-1) landed in O; pa was alive until here */                     \
            PP_RELEASE_V(t - 1);                                                                                \
        }                                                                                                       \
        SCL_UNROLL                                                                                              \
        for (int mi = 0; mi < MT; mi++)                                                                         \
            SCL_UNROLL                                                                                          \
            for (int j = 0; j < DT; j++) {                                                                      \
                acc[mi][j].xy *= mx[2 * mi];                                                                    \
                acc[mi][j].zw *= mx[2 * mi + 1];                                                                \
            }                                                                                                   \
        SCL_UNROLL                                                                                              \
        for (int mi = 0; mi < MT; mi++)                                                                         \
            SCL_UNROLL                                                                                          \
            for (int kk = 0; kk < KSU; kk++) pa[mi][kk] = pn[mi][kk];                                           \
    } while (0)
    if (n_tiles > 0) {
        const int t = 0;
        PIPE_STEP(1, 1);
    }
    for (int t = 1; t < n_free; t++) PIPE_STEP(0, 0);
    for (int t = max(n_free, 1); t < n_tiles; t++) PIPE_STEP(0, 1);
#if WG_PP
    if (WG_PP_TURNS && wg == 0 && n_tiles > 0) PP_TURN_WAIT(); /* warpgroup 1's last pass */
#endif
    if (n_tiles > 0) { /* the last tile's P V */
#if WG_PP
        if (n_tiles > 1) { /* V(n_tiles - 1) came through its full barrier */
            scl_mbar_wait(PP_FULL_V(n_tiles - 1), ((n_tiles - 2) / 3) & 1);
            scl_wg_proxy_fence();
        }
#else
        TILES_LANDED();
#endif
        __local const ushort *vb = vs + V_BUF(n_tiles - 1) * KV_TILE;
        const int u = 0;
        WG_HOLD_PV_OPERANDS();
        scl_wg_fence();
        WG_ISSUE_PV(u);
        scl_wg_commit_wait();
        WG_HOLD_PV_OPERANDS();
    }
#else
    SCL_UNROLL
    for (int masked = 0; masked < 2; masked++) /* the tiles before the first partial block, then the rest */
    for (int t = masked ? n_free : 0; t < (masked ? n_tiles : n_free); t++) {
        const int e = e0 + t / TPB, kt0 = (t % TPB) * BK;
        const int mid = row_mask[e];
#if STAGES == 2
        if (t > 0) TILES_LANDED(); /* tile t landed for everyone, and tile t-1's buffers are free */
        if (t + 1 < n_tiles) {
            load_tile(ks + ((t + 1) & 1) * KV_TILE, kp, k_next, kv_sn, n_k, lid, kv_map);
            load_tile(vs + ((t + 1) & 1) * KV_TILE, vpp, k_next, kv_sn, n_k, lid, kv_map);
        }
        scl_cp_commit();
        k_next = t + 2 < n_tiles ? TILE_K0(t + 2) : 0;
        __local const ushort *kb = ks + (t & 1) * KV_TILE, *vb = vs + (t & 1) * KV_TILE;
#else
        load_tile(vs, vpp, (long)col_idx[e] * BLOCK + kt0, kv_sn, n_k, lid, kv_map); /* V[t] during S = QK^T */
        scl_cp_commit();
        __local const ushort *kb = ks, *vb = vs;
#endif

        /* S = Q K^T. With SUBS > 1 and Q in registers, sub-tile by sub-tile: the first sub-tile's
         * scores are complete first, so its softmax can run while the next one's products are in
         * flight. (With Q re-read by ldmatrix, one pass, so that Q is read once per k-step.) */
        float4 s[MT][NT];
        SCL_UNROLL
        for (int mi = 0; mi < MT; mi++)
            SCL_UNROLL
            for (int j = 0; j < NT; j++) s[mi][j] = (float4)(0.0f);
#if WGMMA /* one warpgroup MMA per (m64 tile, k16 step, WGN_S keys); B = the K tile */
        SCL_UNROLL
        for (int mi = 0; mi < MT; mi++)
            SCL_UNROLL
            for (int j = 0; j < NT; j++) scl_wg_hold4(&s[mi][j]); /* zeroed before the fence */
        scl_wg_fence();
        WG_ISSUE_S();
        scl_wg_commit_wait();
        SCL_UNROLL
        for (int mi = 0; mi < MT; mi++)
            SCL_UNROLL
            for (int j = 0; j < NT; j++) scl_wg_hold4(&s[mi][j]); /* read only after the wait */
#else
        SCL_UNROLL
        for (int u = 0; u < S_SUBS; u++)
            SCL_UNROLL
            for (int kk = 0; kk < KS; kk++) {
                uint4 qa[MT]; /* once per k-step (ldmatrix is volatile: never re-read per key tile) */
                SCL_UNROLL
                for (int mi = 0; mi < MT; mi++) qa[mi] = QF(mi, kk);
                SCL_UNROLL
                for (int jp = u * (NT / 2 / S_SUBS); jp < (u + 1) * (NT / 2 / S_SUBS); jp++) {
                    const uint4 bk = scl_ldsm_b2(kb, D, jp * 16, kk * 16);
                    SCL_UNROLL
                    for (int mi = 0; mi < MT; mi++) {
                        scl_mma(&s[mi][2 * jp], qa[mi], bk.xy, scl_scr);
                        scl_mma(&s[mi][2 * jp + 1], qa[mi], bk.zw, scl_scr);
                    }
                }
            }
#endif

        MASK_SCORES(masked);

        /* Online softmax per sub-tile of NTS n8 tiles (SUBS = 1: the whole key tile). */
        SCL_UNROLL
        for (int u = 0; u < SUBS; u++) {
            ONLINE_MAX(u);
            /* Once a row's max has settled, alpha = 1: skip the multiplications (exact either way). */
            if (rescale) {
                SCL_UNROLL
                for (int mi = 0; mi < MT; mi++)
                    SCL_UNROLL
                    for (int j = 0; j < DT; j++) {
                        acc[mi][j].xy *= mx[2 * mi];
                        acc[mi][j].zw *= mx[2 * mi + 1];
                    }
            }
            /* P = exp2(S * sfma - m) (one fma per score): f32 for the row sum, rounded to the storage
             * type for P V. Two n8 tiles of S are one A fragment of the k16 step (accumulator layout =
             * A layout). FUSE_PV: each k16 step's products right after its P (the exponentials of the
             * next step are independent of them); else all of P, then all of P V. */
#if FUSE_PV
            SCL_UNROLL
            for (int kk = u * KSU; kk < (u + 1) * KSU; kk++) {
                uint4 pk[MT];
                SCL_UNROLL
                for (int mi = 0; mi < MT; mi++) {
                    pk[mi].xy = p_tile(s[mi][2 * kk], sfma, msub[2 * mi], msub[2 * mi + 1], &l[2 * mi], &l[2 * mi + 1]);
                    pk[mi].zw = p_tile(s[mi][2 * kk + 1], sfma, msub[2 * mi], msub[2 * mi + 1], &l[2 * mi], &l[2 * mi + 1]);
                }
#if STAGES == 1
                if (u == 0 && kk == 0) V_LANDED_LOAD_NEXT_K();
#endif
                SCL_UNROLL
                for (int dp = 0; dp < D / 16; dp++) {
                    const uint4 bv = scl_ldsm_bt2(vb, D, kk * 16, dp * 16);
                    SCL_UNROLL
                    for (int mi = 0; mi < MT; mi++) {
                        PV_MMA(&acc[mi][2 * dp], pk[mi], bv.xy);
                        PV_MMA(&acc[mi][2 * dp + 1], pk[mi], bv.zw);
                    }
                }
            }
#else
            uint4 pa[MT][KSU];
            SCL_UNROLL
            for (int mi = 0; mi < MT; mi++)
                SCL_UNROLL
                for (int kk = 0; kk < KSU; kk++) {
                    const int j = (u * KSU + kk) * 2;
                    pa[mi][kk].xy = p_tile(s[mi][j], sfma, msub[2 * mi], msub[2 * mi + 1], &l[2 * mi], &l[2 * mi + 1]);
                    pa[mi][kk].zw = p_tile(s[mi][j + 1], sfma, msub[2 * mi], msub[2 * mi + 1], &l[2 * mi], &l[2 * mi + 1]);
                }
#if STAGES == 1
            if (u == 0) V_LANDED_LOAD_NEXT_K();
#endif
            /* O += P V */
#if WGMMA /* B = the V tile, transposed by the descriptor */
            WG_HOLD_PV_OPERANDS(); /* O rescaled, P written before the fence */
            scl_wg_fence();
            WG_ISSUE_PV(u);
            scl_wg_commit_wait();
            WG_HOLD_PV_OPERANDS();
#else
            SCL_UNROLL
            for (int kk = 0; kk < KSU; kk++)
                SCL_UNROLL
                for (int dp = 0; dp < D / 16; dp++) {
                    const uint4 bv = scl_ldsm_bt2(vb, D, (u * KSU + kk) * 16, dp * 16);
                    SCL_UNROLL
                    for (int mi = 0; mi < MT; mi++) {
                        PV_MMA(&acc[mi][2 * dp], pa[mi][kk], bv.xy);
                        PV_MMA(&acc[mi][2 * dp + 1], pa[mi][kk], bv.zw);
                    }
                }
#endif
#endif
        }
#if ABLATE == 2
        acc[0][0].x += as_float(keep) * 0.0f;
#endif
#if STAGES == 1
        TILES_LANDED(); /* K[t+1] landed for everyone; everyone is done with V[t] */
#endif
    }
#endif
    SCL_CP_WAIT(0); /* nothing left in flight at exit */

    /* The lane's output rows (mapped: the caller's rows, -1 = padding) and, when merging, their
     * previous LSE, read by every lane before the quad sum (whose shuffles order them before the
     * first lane writes the new one). */
    int orow[2 * MT];
    float lprev[2 * MT];
    SCL_UNROLL
    for (int i = 0; i < 2 * MT; i++) {
        const int r = q0 + ROW_OF(i / 2) + g + 8 * (i & 1);
#if MAPPED
        orow[i] = r < n_q ? (q_map ? q_map[r] : r) : -1;
        lprev[i] = merge && orow[i] >= 0 ? lse[(long)bh * lse_n + orow[i]] * LOG2E : -INFINITY;
#else
        orow[i] = r < n_q ? r : -1;
        lprev[i] = -INFINITY;
#endif
    }
    /* Each lane summed its own columns: reduce over the quad, then normalise and store. */
    scl_quad_sum(l, 2 * MT, scl_scr);
#if SPLIT
    if (sp.z > 1) { /* a chunk of a split tile: normalised O and base-2 LSE for the merge */
        const long base = ((long)sp.w * get_num_groups(1) + bh) * BQ;
        SCL_UNROLL
        for (int mi = 0; mi < MT; mi++)
            SCL_UNROLL
            for (int hh = 0; hh < 2; hh++) {
                const int i = 2 * mi + hh, rt = ROW_OF(mi) + g + 8 * hh;
                const bool empty = l[i] == 0.0f;
                const float inv = empty ? 0.0f : 1.0f / l[i];
                __global float *po = part_o + (base + rt) * D + 2 * t4;
                SCL_UNROLL
                for (int j = 0; j < DT; j++)
                    vstore2((hh ? acc[mi][j].zw : acc[mi][j].xy) * inv, 0, po + j * 8);
                if (t4 == 0) part_l[base + rt] = empty ? -INFINITY : m[i] + log2(l[i]);
            }
        return;
    }
#endif
    SCL_UNROLL
    for (int mi = 0; mi < MT; mi++)
        SCL_UNROLL
        for (int hh = 0; hh < 2; hh++) {
            const int i = 2 * mi + hh, r = orow[i];
            if (r < 0) continue;
            const bool empty = l[i] == 0.0f; /* no allowed key: O = 0, LSE = -inf */
            __global uint *op = (__global uint *)(o + b * q_sb + h * q_sh + (long)r * q_sn + 2 * t4);
            /* Base-2 LSE of this row: m + log2(l); O = acc / l (= acc * 2^(m - lse)). Merging into a
             * previous component's O and LSE (lprev): lse' = log2(2^lprev + 2^lse), O' = O_prev *
             * 2^(lprev - lse') + acc * 2^(m - lse'); a row this component leaves empty keeps them. */
            const float lse2 = empty ? -INFINITY : m[i] + log2(l[i]);
            if (MAPPED && merge && empty) continue;
            const bool both = MAPPED && merge && lprev[i] != -INFINITY;
            const float lnew = both ? log2_add(lprev[i], lse2) : lse2;
            const float wo = empty ? 0.0f : both ? exp2(m[i] - lnew) : 1.0f / l[i];
            const float wp = both ? exp2(lprev[i] - lnew) : 0.0f;
            SCL_UNROLL
            for (int j = 0; j < DT; j++) {
                const float2 v = hh ? acc[mi][j].zw : acc[mi][j].xy;
                const float2 pv = both ? prev_o2(op + j * 4) : (float2)(0.0f);
                op[j * 4] = scl_pack2(v.x * wo + pv.x * wp, v.y * wo + pv.y * wp);
            }
            if (lse && t4 == 0) lse[(long)bh * lse_n + r] = lnew * LN2;
        }
}

#if SPLIT
/* The chunks of the split tiles: tiles[w] = (query tile, chunks, first slot, -); one work-group of D
 * work-items a row (global size: tiles x BQ x D, B*H). Chunk c's row has base-2 LSE l_c and
 * normalised O_c: lse = log2(sum 2^l_c), O = sum 2^(l_c - lse) O_c; then stored, or merged into a
 * previous component's O and LSE as attn_fwd_mma's epilogue does. */
__attribute__((always_inline)) inline float o16_load(__global const ushort *p)
{
#ifdef SCL_BF16
    return as_float((uint)*p << 16);
#else
    return vload_half(0, (__global const half *)p);
#endif
}

__kernel void attn_fwd_split_merge(__global ushort *o, __global float *lse, __global const int4 *tiles,
                                   __global const float *part_o, __global const float *part_l, const int n_q,
                                   const int heads, const long q_sb, const long q_sh, const long q_sn,
                                   __global const int *q_map, const int lse_n, const int merge)
{
    const int d = get_local_id(0), row = get_group_id(0) % BQ, bh = get_group_id(1);
    const int4 tl = tiles[get_group_id(0) / BQ];
    const int r = tl.x * BQ + row;
    if (r >= n_q) return; /* the whole work-group */
#if MAPPED
    const int orow = q_map ? q_map[r] : r;
    if (orow < 0) return;
#else
    const int orow = r;
    (void)q_map, (void)merge;
#endif
    const long stride = (long)get_num_groups(1) * BQ; /* between one slot's rows and the next's */
    const long at = ((long)tl.z * get_num_groups(1) + bh) * BQ + row;
    float mx = -INFINITY;
    for (int c = 0; c < tl.y; c++) mx = fmax(mx, part_l[at + c * stride]);
    float sum = 0.0f, acc = 0.0f;
    if (mx != -INFINITY)
        for (int c = 0; c < tl.y; c++) {
            const float w = exp2(part_l[at + c * stride] - mx);
            sum += w;
            acc += w * part_o[(at + c * stride) * D + d];
        }
    const bool empty = mx == -INFINITY;
    const float lse2 = empty ? -INFINITY : mx + log2(sum);
    __global ushort *op = o + (bh / heads) * q_sb + (bh % heads) * q_sh + (long)orow * q_sn + d;
#if MAPPED
    const float lprev = merge ? lse[(long)bh * lse_n + orow] * LOG2E : -INFINITY;
    barrier(CLK_GLOBAL_MEM_FENCE); /* every work-item read the previous LSE before it is replaced */
    if (merge && empty) return; /* the row keeps what the previous components left */
    const bool both = merge && lprev != -INFINITY;
#else
    const bool both = false;
    const float lprev = -INFINITY;
#endif
    const float lnew = both ? log2_add(lprev, lse2) : lse2;
    const float wo = empty ? 0.0f : both ? exp2(lse2 - lnew) / sum : 1.0f / sum;
    const float val = acc * wo + (both ? o16_load(op) * exp2(lprev - lnew) : 0.0f);
    *op = (ushort)(scl_pack2(val, 0.0f) & 0xffffu);
    if (lse && d == 0) lse[(long)bh * lse_n + orow] = lnew * LN2;
}
#endif
