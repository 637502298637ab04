/* The SIMT backward kernels' parameter table (kernels/attn_bwd.cl), constraints and fitting. */
#include "params_bwd_simt.h"

#include <stdio.h>

static int imin(int a, int b)
{
    return a < b ? a : b;
}

/* A thread always owns whole rows (dK and dV: 2 d accumulators), so the register budget never
 * drops below one such row. */
static int regs_budget(const scli_param_context *c)
{
    int d = c->head_dim;
    return c->max_private_floats > 2 * d + 64 ? c->max_private_floats : 2 * d + 64;
}

size_t scli_bwd_dq_work_group_size(const scli_bwd_params *p)
{
    return (size_t)(p->dq_bq / p->dq_tm);
}

size_t scli_bwd_dkv_work_group_size(const scli_bwd_params *p)
{
    return (size_t)(p->kv_bk / p->kv_tn);
}

/* Mirrors the __local arrays of kernels/attn_bwd.cl (PAD = 1). */
size_t scli_bwd_local_bytes(const scli_bwd_params *p, int d)
{
    if (!p->stage) return 0;
    size_t dq = 2 * (size_t)d * (p->dq_bk + 1) + (size_t)p->dq_bk * (d + 1);
    size_t kv = 2 * (size_t)d * (p->kv_bq + 1) + 2 * (size_t)p->kv_bq * (d + 1) + 2 * (size_t)p->kv_bq;
    return (dq > kv ? dq : kv) * sizeof(float);
}

static bool constraint(const void *params, const scli_param_context *c, char *reason, size_t len)
{
    const scli_bwd_params *p = params;
#define REJECT(...)                                                                                          \
    do {                                                                                                     \
        snprintf(reason, len, __VA_ARGS__);                                                                  \
        return false;                                                                                        \
    } while (0)
    if (p->dq_bq > c->block || p->dq_bk > c->block || p->kv_bk > c->block || p->kv_bq > c->block)
        REJECT("tiles dq_bq=%d dq_bk=%d kv_bk=%d kv_bq=%d must not exceed the layout block %d", p->dq_bq,
               p->dq_bk, p->kv_bk, p->kv_bq, c->block);
    if (p->dq_tm > p->dq_bq) REJECT("dq_tm=%d exceeds dq_bq=%d", p->dq_tm, p->dq_bq);
    if (p->kv_tn > p->kv_bk) REJECT("kv_tn=%d exceeds kv_bk=%d", p->kv_tn, p->kv_bk);
    if (p->ri > p->dq_tm || p->ri > p->kv_tn)
        REJECT("ri=%d exceeds the rows per thread (dq_tm=%d, kv_tn=%d)", p->ri, p->dq_tm, p->kv_tn);
    /* Column blocks of the kernels: min(rj, dq_bk), min(rj, kv_bq), min(rj, lowest set bit of d). */
    int lowbit_d = c->head_dim & -c->head_dim;
    int narrowest = imin(imin(p->rj, p->dq_bk), imin(p->kv_bq, lowbit_d));
    if (p->vec > narrowest)
        REJECT("vec=%d exceeds the narrowest column block %d (rj, dq_bk, kv_bq, largest power of two "
               "dividing d)",
               p->vec, narrowest);
    size_t wq = scli_bwd_dq_work_group_size(p), wk = scli_bwd_dkv_work_group_size(p);
    if (wq > c->max_work_group_size || wk > c->max_work_group_size)
        REJECT("work-groups of %zu (dQ) and %zu (dK/dV) must not exceed the device maximum %zu", wq, wk,
               c->max_work_group_size);
    size_t lm = scli_bwd_local_bytes(p, c->head_dim);
    if (lm > c->local_mem_bytes)
        REJECT("needs %zu bytes of local memory, device has %zu", lm, c->local_mem_bytes);
    /* Per-thread registers: two score tiles and the d-wide accumulators of each owned row. */
    int d = c->head_dim, budget = regs_budget(c);
    int regs_dq = p->dq_tm * (2 * p->dq_bk + d), regs_kv = p->kv_tn * (2 * p->kv_bq + 2 * d);
    if (regs_dq > budget || regs_kv > budget)
        REJECT("per-thread tiles need ~%d (dQ) and ~%d (dK/dV) registers (budget %d)", regs_dq, regs_kv,
               budget);
    return true;
#undef REJECT
}

static bool fit(void *out, const scli_param_context *c, int family)
{
    (void)family;
    scli_bwd_params p = *(scli_bwd_params *)out;
    char reason[256];
    const int d = c->head_dim, lowbit_d = d & -d, budget = regs_budget(c);
    if (p.dq_bq > c->block) p.dq_bq = c->block;
    if (p.dq_bk > c->block) p.dq_bk = c->block;
    if (p.kv_bk > c->block) p.kv_bk = c->block;
    if (p.kv_bq > c->block) p.kv_bq = c->block;
    /* Registers: fewer rows per thread first (keeps the vector-wide tiles), then narrower tiles;
     * each kernel on its own. */
    while (p.dq_tm * (2 * p.dq_bk + d) > budget && (p.dq_tm > 1 || p.dq_bk > 8)) {
        if (p.dq_tm > 1)
            p.dq_tm /= 2;
        else
            p.dq_bk /= 2;
    }
    while (p.kv_tn * (2 * p.kv_bq + 2 * d) > budget && (p.kv_tn > 1 || p.kv_bq > 8)) {
        if (p.kv_tn > 1)
            p.kv_tn /= 2;
        else
            p.kv_bq /= 2;
    }
    for (int tries = 0; tries < 64; tries++) {
        if (p.dq_tm > p.dq_bq) p.dq_tm = p.dq_bq;
        if (p.kv_tn > p.kv_bk) p.kv_tn = p.kv_bk;
        if (p.ri > p.dq_tm) p.ri = p.dq_tm;
        if (p.ri > p.kv_tn) p.ri = p.kv_tn;
        while (p.vec > 1 && (p.vec > p.rj || p.vec > p.dq_bk || p.vec > p.kv_bq || p.vec > lowbit_d))
            p.vec /= 2;
        if (scli_params_check(&scli_bwd_simt_schema, &p, c, reason, sizeof reason)) {
            *(scli_bwd_params *)out = p;
            return true;
        }
        /* Still too big for the device (work-group, local memory): shrink the tiles. */
        if (p.kv_bq > 8)
            p.kv_bq /= 2;
        else if (p.dq_bk > 8)
            p.dq_bk /= 2;
        else if (p.dq_bq > 8 && p.dq_bq > p.dq_tm)
            p.dq_bq /= 2;
        else if (p.kv_bk > 8 && p.kv_bk > p.kv_tn)
            p.kv_bk /= 2;
        else if (p.dq_tm > 1 || p.kv_tn > 1) {
            if (p.dq_tm > 1) p.dq_tm /= 2;
            if (p.kv_tn > 1) p.kv_tn /= 2;
        } else if (p.stage)
            p.stage = 0;
        else
            return false;
    }
    return false;
}

static void tie(void *params, int family)
{
    scli_bwd_params *b = params;
    if (family == SCLI_FAMILY_GPU) { /* the register block covers a thread's rows in both kernels */
        b->ri = b->dq_tm < b->kv_tn ? b->dq_tm : b->kv_tn;
    } else {
        b->dq_tm = b->dq_bq;
        b->kv_tn = b->kv_bk;
    }
}

/* Start values. GPUs: one query (key) row per thread, the shared K/V (Q/dO) tiles in local
 * memory, read as broadcasts. CPUs (PoCL runs a work-group as a loop): one thread owns 16 whole
 * rows, its loops run over consecutive keys / queries / head-dim elements in 16-wide vectors.
 * Search: GPUs keep few rows per thread and stage the shared tiles; CPUs give a thread whole rows
 * (dq_tm = dq_bq, kv_tn = kv_bk) and search the register block and the vector width. */
#define ROW(...) SCL_PARAM_ROW(scli_bwd_params, __VA_ARGS__)
static const scli_param_def defs[] = {
    /* name, macro, type, lo, hi, CPU start, GPU start, CPU search, GPU search */
    ROW(dq_bq, DQ_BQ, POW2, 1, 256, 16, 64, (8, 16, 32, -1), (32, 64, 128, -1)),
    ROW(dq_bk, DQ_BK, POW2, 1, 256, 64, 32, (32, 64, -1), (16, 32, 64, -1)),
    ROW(dq_tm, DQ_TM, POW2, 1, 256, 16, 1, (-1), (1, 2, 4, -1)),
    ROW(kv_bk, KV_BK, POW2, 1, 256, 16, 64, (8, 16, 32, -1), (32, 64, 128, -1)),
    ROW(kv_bq, KV_BQ, POW2, 1, 256, 64, 32, (32, 64, -1), (16, 32, 64, -1)),
    ROW(kv_tn, KV_TN, POW2, 1, 256, 16, 1, (-1), (1, 2, 4, -1)),
    ROW(ri, RI, POW2, 1, 256, 8, 1, (4, 8, 16, -1), (-1)),
    ROW(rj, RJ, POW2, 1, 256, 32, 8, (16, 32, -1), (4, 8, 16, -1)),
    ROW(stage, STAGE, BOOL, 0, 1, 0, 1, (0, 1, -1), (0, 1, -1)),
    ROW(fast_exp, FAST_EXP, BOOL, 0, 1, 1, 0, (-1), (-1)),
    ROW(vec, VEC, POW2, 1, 16, 16, 1, (8, 16, -1), (-1)),
};
#undef ROW

/* 10 d flops per allowed pair: the usual 2.5 x forward convention (five d-long products per
 * pair; the recomputation of S and dP in the second kernel is not counted). */
const scli_param_schema scli_bwd_simt_schema = {
    .kernel = "attn_bwd",
    .variant = "simt",
    .direction = "backward",
    .env = "SPARSECL_BWD_PARAMS",
    .flags = "-cl-mad-enable",
    .size = sizeof(scli_bwd_params),
    .defs = defs,
    .n = (int)(sizeof defs / sizeof defs[0]),
    .constraint = constraint,
    .fit = fit,
    .tie = tie,
    .flops_per_pair = 10.0,
};
