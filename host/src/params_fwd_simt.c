/* The SIMT forward kernel's parameter table, constraints and fitting of the start values. */
#include "params_fwd_simt.h"

#include <stdio.h>

size_t scli_fwd_work_group_size(const scli_fwd_params *p)
{
    return (size_t)(p->bq / p->tm) * (size_t)(p->bk / p->tn);
}

/* Mirrors the __local arrays of kernels/attn_fwd.cl (PAD = 1). */
size_t scli_fwd_local_bytes(const scli_fwd_params *p, int d)
{
    size_t f = 0;
    if (p->stage_q) f += (size_t)p->bq * (d + 1);
    if (p->stage_kv) {
        size_t kt = (size_t)d * (p->bk + 1), v = (size_t)p->bk * (d + 1);
        f += kt > v ? kt : v;
    }
    if (p->bk / p->tn > 1) f += (size_t)p->bq * (p->bk + 1) + (size_t)p->bq * (p->bk / p->tn);
    return f * sizeof(float);
}

static bool constraint(const void *params, const scli_param_context *c, char *reason, size_t len)
{
    const scli_fwd_params *p = params;
#define REJECT(...)                                                                                          \
    do {                                                                                                     \
        snprintf(reason, len, __VA_ARGS__);                                                                  \
        return false;                                                                                        \
    } while (0)
    if (p->bq > c->block) REJECT("bq=%d exceeds the layout block %d", p->bq, c->block);
    if (p->bk > c->block) REJECT("bk=%d exceeds the layout block %d", p->bk, c->block);
    if (p->tm > p->bq) REJECT("tm=%d exceeds bq=%d", p->tm, p->bq);
    if (p->tn > p->bk) REJECT("tn=%d exceeds bk=%d", p->tn, p->bk);
    if (p->ri > p->tm) REJECT("ri=%d exceeds tm=%d", p->ri, p->tm);
    if (p->rj > p->tn) REJECT("rj=%d exceeds tn=%d", p->rj, p->tn);
    int tx = p->bk / p->tn;
    if (c->head_dim % tx != 0) REJECT("head dim %d is not a multiple of bk/tn=%d", c->head_dim, tx);
    int dn = c->head_dim / tx, rjo = dn < p->rj ? dn : p->rj;
    if (dn % rjo != 0) REJECT("output columns per thread (%d) not a multiple of rj=%d", dn, rjo);
    if (p->vec > 1 && (tx != 1 || p->rj % p->vec || rjo % p->vec))
        REJECT("vec=%d needs tn = bk and rj (%d) and output block (%d) multiples of it", p->vec, p->rj, rjo);
    size_t wg = scli_fwd_work_group_size(p);
    if (wg > c->max_work_group_size)
        REJECT("work-group of %zu exceeds the device maximum %zu", wg, c->max_work_group_size);
    size_t lm = scli_fwd_local_bytes(p, c->head_dim);
    if (lm > c->local_mem_bytes)
        REJECT("needs %zu bytes of local memory, device has %zu", lm, c->local_mem_bytes);
    /* Per-thread registers: scores, output accumulators, row state; beyond this it spills. */
    int regs = p->tm * p->tn + p->tm * dn + 2 * p->tm;
    if (regs > c->max_private_floats)
        REJECT("per-thread tile needs ~%d registers (budget %d)", regs, c->max_private_floats);
    return true;
#undef REJECT
}

static bool fit(void *out, const scli_param_context *c, int family)
{
    /* Starting points per device type, then shrink until valid for this block/dim/device.
     * GPUs: many threads per tile, each a small register tile, K/V tiles in local memory.
     * CPUs (PoCL runs a work-group as a loop over work-items): one thread owns whole score rows
     * (tn = bk), so its inner loops run over consecutive keys / head-dim elements and vectorize,
     * and no barrier splits the loop; K/V are read through the cache. */
    bool gpu = family == SCLI_FAMILY_GPU;
    scli_fwd_params p = *(scli_fwd_params *)out;
    char reason[256];
    for (int tries = 0; tries < 64; tries++) {
        if (p.ri > p.tm) p.ri = p.tm;
        if (p.rj > p.tn) p.rj = p.tn;
        while (p.vec > 1 && (p.rj % p.vec || (c->head_dim % p.vec)))
            p.vec /= 2;
        if (scli_params_check(&scli_fwd_simt_schema, &p, c, reason, sizeof reason)) {
            *(scli_fwd_params *)out = p;
            return true;
        }
        int tx = p.bk / p.tn, dn = c->head_dim / (tx ? tx : 1);
        if (p.bq > c->block)
            p.bq = c->block;
        else if (p.bk > c->block)
            p.bk = c->block;
        else if (p.tm > p.bq)
            p.tm = p.bq;
        else if (p.tn > p.bk)
            p.tn = p.bk;
        else if (!gpu && p.tn < p.bk)
            p.tn = p.bk;
        else if (c->head_dim % tx != 0)
            p.tn *= 2;
        else if (dn % (dn < p.rj ? dn : p.rj) != 0)
            p.rj /= 2;
        else if (p.bq > 8)
            p.bq /= 2;
        else if (p.bk > 8)
            p.bk /= 2;
        else if (p.tm > 1)
            p.tm /= 2;
        else
            return false;
    }
    return false;
}

/* GPU register block = thread tile; a CPU thread owns whole rows. */
static void tie(void *params, int family)
{
    scli_fwd_params *f = params;
    if (family == SCLI_FAMILY_GPU) {
        f->ri = f->tm;
        f->rj = f->tn;
    } else {
        f->tm = f->bq;
        f->tn = f->bk;
    }
}

/* Start values: measured best on an H100 (d = 64) and on PoCL (AVX-512, d = 64), see results/.
 * Search values are increasing, so one index step is a small change (the local search relies on it). */
#define ROW(...) SCL_PARAM_ROW(scli_fwd_params, __VA_ARGS__)
static const scli_param_def defs[] = {
    /* name, macro, type, lo, hi, CPU start, GPU start, CPU search, GPU search */
    ROW(bq, BQ, POW2, 1, 256, 16, 64, (8, 16, 32, -1), (16, 32, 64, 128, -1)),
    ROW(bk, BK, POW2, 1, 256, 64, 32, (32, 64, 128, -1), (16, 32, 64, -1)),
    ROW(tm, TM, POW2, 1, 256, 16, 4, (-1), (1, 2, 4, 8, -1)),
    ROW(tn, TN, POW2, 1, 256, 64, 4, (-1), (1, 2, 4, 8, -1)),
    ROW(ri, RI, POW2, 1, 256, 8, 4, (4, 8, 16, -1), (-1)),
    ROW(rj, RJ, POW2, 1, 256, 32, 4, (16, 32, 64, -1), (-1)),
    ROW(stage_q, STAGE_Q, BOOL, 0, 1, 1, 1, (0, 1, -1), (0, 1, -1)),
    ROW(stage_kv, STAGE_KV, BOOL, 0, 1, 0, 1, (-1), (0, 1, -1)),
    ROW(fast_exp, FAST_EXP, BOOL, 0, 1, 1, 0, (-1), (-1)),
    ROW(vec, VEC, POW2, 1, 16, 16, 1, (8, 16, -1), (-1)),
    ROW(prep_by_column, PREP_BY_COLUMN, BOOL, 0, 1, 1, 0, (-1), (-1)),
};
#undef ROW

const scli_param_schema scli_fwd_simt_schema = {
    .kernel = "attn_fwd",
    .variant = "simt",
    .direction = "forward",
    .env = "SPARSECL_FWD_PARAMS",
    .flags = "-cl-mad-enable",
    .size = sizeof(scli_fwd_params),
    .defs = defs,
    .n = (int)(sizeof defs / sizeof defs[0]),
    .constraint = constraint,
    .fit = fit,
    .tie = tie,
    .flops_per_pair = 4.0,
};
