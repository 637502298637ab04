/* Backward-kernel parameter validity and built-in defaults (kernels/attn_bwd.cl). */
#include "backward_params.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static bool pow2(int x)
{
    return x > 0 && (x & (x - 1)) == 0;
}

static int imin(int a, int b)
{
    return a < b ? a : b;
}

/* A thread always owns whole rows (dK and dV: 2 d accumulators), so the register budget never
 * drops below one such row. */
static int regs_budget(const scl_param_context *c)
{
    int d = c->head_dim;
    return c->max_private_floats > 2 * d + 64 ? c->max_private_floats : 2 * d + 64;
}

size_t scl_bwd_dq_work_group_size(const scl_bwd_params *p)
{
    return (size_t)(p->dq_bq / p->dq_tm);
}

size_t scl_bwd_dkv_work_group_size(const scl_bwd_params *p)
{
    return (size_t)(p->kv_bk / p->kv_tn);
}

/* Mirrors the __local arrays of kernels/attn_bwd.cl (PAD = 1). */
size_t scl_bwd_local_bytes(const scl_bwd_params *p, int d)
{
    if (!p->stage) return 0;
    size_t dq = 2 * (size_t)d * (p->dq_bk + 1) + (size_t)p->dq_bk * (d + 1);
    size_t kv = 2 * (size_t)d * (p->kv_bq + 1) + 2 * (size_t)p->kv_bq * (d + 1) + 2 * (size_t)p->kv_bq;
    return (dq > kv ? dq : kv) * sizeof(float);
}

bool scl_bwd_params_check(const scl_bwd_params *p, const scl_param_context *c, char *reason, size_t len)
{
#define REJECT(...)                                                                                          \
    do {                                                                                                     \
        snprintf(reason, len, __VA_ARGS__);                                                                  \
        return false;                                                                                        \
    } while (0)
    if (!pow2(p->dq_bq) || !pow2(p->dq_bk) || !pow2(p->dq_tm) || !pow2(p->kv_bk) || !pow2(p->kv_bq) ||
        !pow2(p->kv_tn) || !pow2(p->ri) || !pow2(p->rj))
        REJECT("dq_bq=%d dq_bk=%d dq_tm=%d kv_bk=%d kv_bq=%d kv_tn=%d ri=%d rj=%d must be powers of two",
               p->dq_bq, p->dq_bk, p->dq_tm, p->kv_bk, p->kv_bq, p->kv_tn, p->ri, p->rj);
    if (p->dq_bq > c->block || p->dq_bk > c->block || p->kv_bk > c->block || p->kv_bq > c->block)
        REJECT("tiles dq_bq=%d dq_bk=%d kv_bk=%d kv_bq=%d must not exceed the layout block %d", p->dq_bq,
               p->dq_bk, p->kv_bk, p->kv_bq, c->block);
    if (p->dq_tm > p->dq_bq) REJECT("dq_tm=%d exceeds dq_bq=%d", p->dq_tm, p->dq_bq);
    if (p->kv_tn > p->kv_bk) REJECT("kv_tn=%d exceeds kv_bk=%d", p->kv_tn, p->kv_bk);
    if (p->ri > p->dq_tm || p->ri > p->kv_tn)
        REJECT("ri=%d exceeds the rows per thread (dq_tm=%d, kv_tn=%d)", p->ri, p->dq_tm, p->kv_tn);
    if ((p->stage | p->fast_exp) & ~1) REJECT("stage and fast_exp are 0 or 1");
    /* Column blocks of the kernels: min(rj, dq_bk), min(rj, kv_bq), min(rj, lowest set bit of d). */
    int lowbit_d = c->head_dim & -c->head_dim;
    int narrowest = imin(imin(p->rj, p->dq_bk), imin(p->kv_bq, lowbit_d));
    if (!pow2(p->vec) || p->vec > 16) REJECT("vec=%d must be 1, 2, 4, 8 or 16", p->vec);
    if (p->vec > narrowest)
        REJECT("vec=%d exceeds the narrowest column block %d (rj, dq_bk, kv_bq, largest power of two "
               "dividing d)",
               p->vec, narrowest);
    size_t wq = scl_bwd_dq_work_group_size(p), wk = scl_bwd_dkv_work_group_size(p);
    if (wq > c->max_work_group_size || wk > c->max_work_group_size)
        REJECT("work-groups of %zu (dQ) and %zu (dK/dV) must not exceed the device maximum %zu", wq, wk,
               c->max_work_group_size);
    size_t lm = scl_bwd_local_bytes(p, c->head_dim);
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

scl_bwd_params scl_bwd_params_start(int gpu)
{
    /* GPUs: one query (key) row per thread, the shared K/V (Q/dO) tiles in local memory, read as
     * broadcasts. CPUs (PoCL runs a work-group as a loop): one thread owns 16 whole rows, its
     * loops run over consecutive keys / queries / head-dim elements in 16-wide vectors. */
    return gpu ? (scl_bwd_params){64, 32, 1, 64, 32, 1, 1, 8, 1, 0, 1}
               : (scl_bwd_params){16, 64, 16, 16, 64, 16, 8, 32, 0, 1, 16};
}

bool scl_bwd_params_default(const scl_device_info *dev, const scl_param_context *c, scl_bwd_params *out)
{
    bool gpu = dev && (dev->type & CL_DEVICE_TYPE_GPU);
    scl_bwd_params p = scl_bwd_params_start(gpu);
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
        if (scl_bwd_params_check(&p, c, reason, sizeof reason)) {
            *out = p;
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

void scl_bwd_params_options(const scl_bwd_params *p, const scl_param_context *c, scl_dtype dtype, char *out,
                            size_t len)
{
    snprintf(
        out, len,
        "-cl-mad-enable -DD=%d -DBLOCK=%d -DDQ_BQ=%d -DDQ_BK=%d -DDQ_TM=%d -DKV_BK=%d -DKV_BQ=%d -DKV_TN=%d "
        "-DRI=%d -DRJ=%d -DSTAGE=%d -DFAST_EXP=%d -DVEC=%d%s",
        c->head_dim, c->block, p->dq_bq, p->dq_bk, p->dq_tm, p->kv_bk, p->kv_bq, p->kv_tn, p->ri, p->rj,
        p->stage, p->fast_exp, p->vec, dtype == SCL_F16 ? " -DSCL_F16" : "");
}

static const scl_param_field bwd_fields[] = {
    {"dq_bq", offsetof(scl_bwd_params, dq_bq)}, {"dq_bk", offsetof(scl_bwd_params, dq_bk)},
    {"dq_tm", offsetof(scl_bwd_params, dq_tm)}, {"kv_bk", offsetof(scl_bwd_params, kv_bk)},
    {"kv_bq", offsetof(scl_bwd_params, kv_bq)}, {"kv_tn", offsetof(scl_bwd_params, kv_tn)},
    {"ri", offsetof(scl_bwd_params, ri)},       {"rj", offsetof(scl_bwd_params, rj)},
    {"stage", offsetof(scl_bwd_params, stage)}, {"fast_exp", offsetof(scl_bwd_params, fast_exp)},
    {"vec", offsetof(scl_bwd_params, vec)},
};

const scl_param_field *scl_bwd_param_fields(int *count)
{
    *count = (int)(sizeof bwd_fields / sizeof bwd_fields[0]);
    return bwd_fields;
}

bool scl_bwd_params_override(scl_bwd_params *p, const char *text, char *msg, size_t len)
{
    return scl_params_override(p, bwd_fields, (int)(sizeof bwd_fields / sizeof bwd_fields[0]), "backward",
                               text, msg, len);
}
