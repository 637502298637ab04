/* The matrix-engine forward kernel's parameter table, constraints and fitting of the start values. */
#include "params_fwd_mma.h"

#include "matrix_engine.h"

#include <stdio.h>

size_t scli_fwd_mma_local_bytes(const scli_fwd_mma_params *p, int d, int emulated)
{
    size_t kv_tiles = p->wg_pp ? 5 : 2 * (size_t)p->stages;
    size_t tiles = 2 * (size_t)d * ((size_t)p->bq + kv_tiles * p->bk) + (p->wg_pp ? 10 * 8 : 0);
    /* kernels/mma.clh SCL_MMA_SCRATCH_WORDS(warps, 2 * m16 tiles per warp) */
    size_t mt = (size_t)p->bq / (16 * (size_t)(p->warps > 0 ? p->warps : 1)), a = 384 * (size_t)p->warps,
           b = 64 * (size_t)p->warps * mt;
    return tiles + (emulated ? 4 * (a > b ? a : b) : 0);
}

/* Local memory: the device query, or on NVIDIA the static limit measured on sm_90 (227 KiB,
 * shared/matrix-engines/README.md): static __local arrays above the query build and run there;
 * the plan's build is the trial that confirms it (a failure falls back to the SIMT variant). */
static bool constraint(const void *params, const scli_param_context *c, char *reason, size_t len)
{
    const scli_fwd_mma_params *p = params;
#define REJECT(...)                                                                                          \
    do {                                                                                                     \
        snprintf(reason, len, __VA_ARGS__);                                                                  \
        return false;                                                                                        \
    } while (0)
    if (c->head_dim % 16) REJECT("head dim %d is not a multiple of 16 (the mma k-step)", c->head_dim);
    if (p->bq % (16 * p->warps)) REJECT("bq=%d is not a multiple of 16 x warps (%d)", p->bq, 16 * p->warps);
    if (p->bk % 16) REJECT("bk=%d is not a multiple of 16", p->bk);
    if (p->bk % (16 * p->subs)) REJECT("subs=%d does not divide bk / 16 = %d", p->subs, p->bk / 16);
    if (c->block % p->bq || c->block % p->bk)
        REJECT("bq=%d and bk=%d must divide the layout block %d", p->bq, p->bk, c->block);
    size_t wg = 32 * (size_t)p->warps;
    if (wg > c->max_work_group_size)
        REJECT("work-group of %zu exceeds the device maximum %zu", wg, c->max_work_group_size);
    size_t lm = scli_fwd_mma_local_bytes(p, c->head_dim, !c->matrix_engine);
    size_t limit = c->matrix_engine && c->local_mem_static_bytes > c->local_mem_bytes
                       ? c->local_mem_static_bytes
                       : c->local_mem_bytes;
    if (lm > limit) REJECT("needs %zu bytes of local memory, device has %zu", lm, limit);
    if (p->wgmma) {
        if (c->matrix_engine && c->matrix_engine != SCLI_CC_WGMMA)
            REJECT("wgmma=1 needs compute capability 9.0 (this device: %d.%d)", c->matrix_engine / 10,
                   c->matrix_engine % 10);
        if (p->warps % 4 || p->subs != 1 || p->fuse_pv)
            REJECT("wgmma=1 needs whole warpgroups (warps 4 or 8), subs=1, fuse_pv=0");
        if (!p->qreg && (c->head_dim % 64 || !p->swizzle))
            REJECT("wgmma=1 with qreg=0 (Q read by descriptor) needs swizzle=1 and d a multiple of 64");
        if (c->head_dim > 128) REJECT("wgmma=1 serves head dims up to 128 (registers)");
        if (p->bk == 16 && c->head_dim == 16)
            REJECT("wgmma=1 with bk = d = 16 has no safe split of P V (kernels/attn_fwd_mma.cl, WGN_V)");
        if (p->wg_pipe && p->stages != 2) REJECT("wg_pipe=1 needs stages=2 (double-buffered K and V)");
    }
    if (p->wg_pp && !(p->wgmma && p->wg_pipe && p->warps == 8))
        REJECT("wg_pp=1 (two warpgroups taking turns) needs wgmma=1, wg_pipe=1 and warps=8");
    if (p->min_groups && !p->wgmma)
        REJECT("min_groups=%d is applied by the wgmma build only (wgmma=1)", p->min_groups);
    if (p->min_groups > 1 && c->matrix_engine && (size_t)p->min_groups * lm > 228 * 1024)
        REJECT("min_groups=%d work-groups of %zu bytes of local memory do not fit in an SM (228 KiB)",
               p->min_groups, lm);
    /* Per-lane accumulators: O (d/8 n8 tiles x 4 floats per m16 tile) and S (bk/8 x 4), plus Q
     * fragments (d/16 x 4 words per m16 tile) when held. 255 registers per thread on NVIDIA. */
    int mt = p->bq / (16 * p->warps);
    int regs = mt * (c->head_dim / 2 + p->bk / 2 + (p->qreg ? c->head_dim / 4 : 0));
    if (c->matrix_engine && regs > 224)
        REJECT("per-lane accumulators and fragments need ~%d registers (budget 224)", regs);
    return true;
#undef REJECT
}

/* Hopper (compute capability 9.0), d = 64 or 128, blocks of 64 or more: the wgmma form on the
 * swizzled tiles, measured faster than mma.sync on every such shape (H200, bf16, dense, kernel
 * alone: d = 64 384 vs 302 TFLOP/s, d = 128 458 vs 337; results/matrix-engine/h200-session5/):
 * 4 warps with the pipelined softmax (64-row tiles), except with 128-row tiles:
 * - d = 128: 8 warps (one m64 tile per warpgroup, the registers of d = 128) over 128-key tiles,
 *   pipelined, the two warpgroups taking turns (wg_pp=1: 513 vs 460 TFLOP/s for the unpipelined
 *   form without turns, session 6), Q read by descriptor (qreg=0: 513 vs 500 with Q in registers);
 * - d = 64: 4 warps of two m64 tiles over 128-key tiles, not pipelined, Q read by descriptor
 *   (FlexAttention's tile there): through plans 388 vs 377 TFLOP/s for 64-key tiles pipelined
 *   with Q in registers (session 8, same call), 410 with the mask read by words (the next call),
 *   402 with one K/V buffer (stages=1); the turns (8 warps of one m64 tile each) were slower
 *   (337 vs 382, session 6). 64-row tiles not pipelined: 2-5% faster on local, strided and fixed,
 *   4-10% slower on Longformer and BigBird (session 8): they stay pipelined. */
static bool fit_wgmma(scli_fwd_mma_params *p, const scli_param_context *c)
{
    if (c->matrix_engine != SCLI_CC_WGMMA || (c->head_dim != 64 && c->head_dim != 128) || c->block < 64) return false;
    scli_fwd_mma_params w = *p;
    w.bq = c->block < 128 ? c->block : 128;
    w.wgmma = 1;
    w.stages = 2;
    w.subs = 1;
    w.fuse_pv = 0;
    w.swizzle = 1;
    const int wide = c->head_dim == 128 && w.bq == 128, narrow = c->head_dim == 64 && w.bq == 128;
    w.bk = wide || narrow ? 128 : 64;
    w.warps = wide ? 8 : 4;
    w.wg_pipe = !narrow;
    w.wg_pp = wide;
    w.qreg = !wide && !narrow;
    /* d = 64, 64-row tiles (141 registers, 42 KB): four work-groups per SM, registers fitted to them
     * (128, 8 bytes of spills): kernel alone 375 -> 393 / 355 -> 368 TFLOP/s dense / causal; through
     * plans local(256) 0.147 -> 0.137 ms, strided 0.321 -> 0.308, fixed 0.365 -> 0.350, Longformer
     * level, but BigBird (no partial block, the mask-free build) 0.322 -> 0.326-0.335: not there
     * (session 9, call 6). */
    w.min_groups = c->head_dim == 64 && w.bq == 64 && !c->full_blocks_only ? 4 : 0;
    char reason[256];
    if (!scli_params_check(&scli_fwd_mma_schema, &w, c, reason, sizeof reason)) return false;
    *p = w;
    return true;
}

/* The start values fitted to the problem, as measured best on the H200 (results/matrix-engine/):
 * the wgmma form where it serves (above); else query tiles of min(block, 128) rows, 64-key tiles,
 * 4 warps for 128-row tiles and for 64-row tiles above d = 64 (2 warps at d <= 64), Q fragments
 * in registers only while they fit (d <= 64), d = 256 with at most 64 x 32 tiles; then shrunk
 * until the device takes them. */
static bool fit(void *out, const scli_param_context *c, int family)
{
    (void)family;
    scli_fwd_mma_params p = *(scli_fwd_mma_params *)out;
    if (fit_wgmma(&p, c)) {
        *(scli_fwd_mma_params *)out = p;
        return true;
    }
    p.wgmma = p.wg_pipe = p.wg_pp = p.min_groups = 0;
    char reason[256];
    p.qreg = c->head_dim <= 64;
    if (c->head_dim >= 256) {
        if (p.bq > 64) p.bq = 64;
        if (p.bk > 32) p.bk = 32;
    }
    for (int tries = 0; tries < 16; tries++) {
        if (p.bk > c->block) p.bk = c->block;
        while (p.bq > c->block && p.bq > 16)
            p.bq /= 2;
        p.warps = p.bq >= 128 ? 4 : p.bq == 64 ? (c->head_dim <= 64 ? 2 : 4) : p.bq / 16;
        if (p.bk % (16 * p.subs)) p.subs = 1;
        if (scli_params_check(&scli_fwd_mma_schema, &p, c, reason, sizeof reason)) {
            *(scli_fwd_mma_params *)out = p;
            return true;
        }
        if (p.stages > 1)
            p.stages = 1;
        else if (p.bk > 16)
            p.bk /= 2;
        else if (p.bq > 16)
            p.bq /= 2;
        else
            return false;
    }
    return false;
}

/* Start values: FlashAttention-2's forward (128 x 64 tiles, 4 warps, double-buffered), fitted per
 * problem above; the emulation (CPU family) runs the same tiles. */
#define ROW(...) SCL_PARAM_ROW(scli_fwd_mma_params, __VA_ARGS__)
static const scli_param_def defs[] = {
    /* name, macro, type, lo, hi, CPU start, GPU start, CPU search, GPU search */
    ROW(bq, BQ, POW2, 16, 256, 128, 128, (-1), (32, 64, 128, -1)),
    ROW(bk, BK, POW2, 16, 256, 64, 64, (-1), (32, 64, 128, -1)),
    ROW(warps, WARPS, POW2, 1, 8, 4, 4, (-1), (2, 4, 8, -1)),
    ROW(stages, STAGES, INT, 1, 2, 2, 2, (-1), (1, 2, -1)),
    ROW(swizzle, SWIZZLE, BOOL, 0, 1, 1, 1, (-1), (0, 1, -1)),
    ROW(qreg, QREG, BOOL, 0, 1, 1, 1, (-1), (0, 1, -1)),
    ROW(subs, SUBS, POW2, 1, 4, 1, 1, (-1), (1, 2, -1)),
    ROW(fuse_pv, FUSE_PV, BOOL, 0, 1, 0, 0, (-1), (0, 1, -1)),
    ROW(wgmma, WGMMA, BOOL, 0, 1, 0, 0, (-1), (0, 1, -1)),
    ROW(wg_pipe, WG_PIPE, BOOL, 0, 1, 0, 0, (-1), (0, 1, -1)),
    ROW(wg_pp, WG_PP, BOOL, 0, 1, 0, 0, (-1), (0, 1, -1)),
    ROW(min_groups, MIN_GROUPS, INT, 0, 4, 0, 0, (-1), (0, 4, -1)),
};
#undef ROW

const scli_param_schema scli_fwd_mma_schema = {
    .kernel = "attn_fwd",
    .variant = "mma",
    .direction = "forward",
    .env = "SPARSECL_FWD_PARAMS",
    .flags = "-cl-mad-enable",
    .size = sizeof(scli_fwd_mma_params),
    .defs = defs,
    .n = (int)(sizeof defs / sizeof defs[0]),
    .constraint = constraint,
    .fit = fit,
    .flops_per_pair = 4.0,
};
