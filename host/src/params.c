/* Forward-kernel parameter validity and built-in defaults. */
#include "params.h"

#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static bool pow2(int x)
{
    return x > 0 && (x & (x - 1)) == 0;
}

size_t scl_fwd_work_group_size(const scl_fwd_params *p)
{
    return (size_t)(p->bq / p->tm) * (size_t)(p->bk / p->tn);
}

/* Mirrors the __local arrays of kernels/attn_fwd.cl (PAD = 1). */
size_t scl_fwd_local_bytes(const scl_fwd_params *p, int d)
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

void scl_param_context_init(scl_param_context *c, const scl_device_info *dev, int head_dim, int block)
{
    c->head_dim = head_dim;
    c->block = block;
    c->max_work_group_size = dev->max_work_group_size;
    c->local_mem_bytes = (size_t)dev->local_mem_bytes;
    /* GPUs spill beyond ~255 registers per thread; CPUs keep private arrays in L1 anyway. */
    c->max_private_floats = (dev->type & CL_DEVICE_TYPE_GPU) ? 192 : 4096;
}

bool scl_fwd_params_check(const scl_fwd_params *p, const scl_param_context *c, char *reason, size_t len)
{
#define REJECT(...)                                                                                          \
    do {                                                                                                     \
        snprintf(reason, len, __VA_ARGS__);                                                                  \
        return false;                                                                                        \
    } while (0)
    if (!pow2(p->bq) || !pow2(p->bk) || !pow2(p->tm) || !pow2(p->tn) || !pow2(p->ri) || !pow2(p->rj))
        REJECT("bq=%d bk=%d tm=%d tn=%d ri=%d rj=%d must be powers of two", p->bq, p->bk, p->tm, p->tn, p->ri,
               p->rj);
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
    if ((p->stage_q | p->stage_kv | p->fast_exp | p->prep_by_column) & ~1)
        REJECT("stage_q, stage_kv, fast_exp and prep_by_column are 0 or 1");
    if (!pow2(p->vec) || p->vec > 16) REJECT("vec=%d must be 1, 2, 4, 8 or 16", p->vec);
    if (p->vec > 1 && (tx != 1 || p->rj % p->vec || rjo % p->vec))
        REJECT("vec=%d needs tn = bk and rj (%d) and output block (%d) multiples of it", p->vec, p->rj, rjo);
    size_t wg = scl_fwd_work_group_size(p);
    if (wg > c->max_work_group_size)
        REJECT("work-group of %zu exceeds the device maximum %zu", wg, c->max_work_group_size);
    size_t lm = scl_fwd_local_bytes(p, c->head_dim);
    if (lm > c->local_mem_bytes)
        REJECT("needs %zu bytes of local memory, device has %zu", lm, c->local_mem_bytes);
    /* Per-thread registers: scores, output accumulators, row state; beyond this it spills. */
    int regs = p->tm * p->tn + p->tm * dn + 2 * p->tm;
    if (regs > c->max_private_floats)
        REJECT("per-thread tile needs ~%d registers (budget %d)", regs, c->max_private_floats);
    return true;
#undef REJECT
}

scl_fwd_params scl_fwd_params_start(int gpu)
{
    /* Measured best on an H100 (d = 64) and on PoCL (AVX-512, d = 64), see results/. */
    return gpu ? (scl_fwd_params){64, 32, 4, 4, 4, 4, 1, 1, 0, 1, 0}
               : (scl_fwd_params){16, 64, 16, 64, 8, 32, 1, 0, 1, 16, 1};
}

bool scl_fwd_params_default(const scl_device_info *dev, const scl_param_context *c, scl_fwd_params *out)
{
    /* Starting points per device type, then shrink until valid for this block/dim/device.
     * GPUs: many threads per tile, each a small register tile, K/V tiles in local memory.
     * CPUs (PoCL runs a work-group as a loop over work-items): one thread owns whole score rows
     * (tn = bk), so its inner loops run over consecutive keys / head-dim elements and vectorize,
     * and no barrier splits the loop; K/V are read through the cache. */
    bool gpu = dev && (dev->type & CL_DEVICE_TYPE_GPU);
    scl_fwd_params p = scl_fwd_params_start(gpu);
    char reason[256];
    for (int tries = 0; tries < 64; tries++) {
        if (p.ri > p.tm) p.ri = p.tm;
        if (p.rj > p.tn) p.rj = p.tn;
        while (p.vec > 1 && (p.rj % p.vec || (c->head_dim % p.vec)))
            p.vec /= 2;
        if (scl_fwd_params_check(&p, c, reason, sizeof reason)) {
            *out = p;
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

void scl_fwd_params_options(const scl_fwd_params *p, const scl_param_context *c, scl_dtype dtype, char *out,
                            size_t len)
{
    snprintf(out, len,
             "-cl-mad-enable -DD=%d -DBLOCK=%d -DBQ=%d -DBK=%d -DTM=%d -DTN=%d -DRI=%d -DRJ=%d -DSTAGE_Q=%d "
             "-DSTAGE_KV=%d -DFAST_EXP=%d -DVEC=%d -DPREP_BY_COLUMN=%d%s",
             c->head_dim, c->block, p->bq, p->bk, p->tm, p->tn, p->ri, p->rj, p->stage_q, p->stage_kv,
             p->fast_exp, p->vec, p->prep_by_column, dtype == SCL_F16 ? " -DSCL_F16" : "");
}

static const scl_param_field fwd_fields[] = {
    {"bq", offsetof(scl_fwd_params, bq)},
    {"bk", offsetof(scl_fwd_params, bk)},
    {"tm", offsetof(scl_fwd_params, tm)},
    {"tn", offsetof(scl_fwd_params, tn)},
    {"ri", offsetof(scl_fwd_params, ri)},
    {"rj", offsetof(scl_fwd_params, rj)},
    {"stage_q", offsetof(scl_fwd_params, stage_q)},
    {"stage_kv", offsetof(scl_fwd_params, stage_kv)},
    {"fast_exp", offsetof(scl_fwd_params, fast_exp)},
    {"vec", offsetof(scl_fwd_params, vec)},
    {"prep_by_column", offsetof(scl_fwd_params, prep_by_column)},
};

const scl_param_field *scl_fwd_param_fields(int *count)
{
    *count = (int)(sizeof fwd_fields / sizeof fwd_fields[0]);
    return fwd_fields;
}

bool scl_params_override(void *p, const scl_param_field *fields, int n, const char *what, const char *text,
                         char *msg, size_t len)
{
    const char *s = text;
    while (s && *s) {
        char name[32];
        int value, used = 0;
        if (sscanf(s, " %31[a-z_] = %d%n", name, &value, &used) != 2) {
            snprintf(msg, len, "cannot parse '%s' (expected name=value[,name=value...])", s);
            return false;
        }
        int f = 0;
        while (f < n && strcmp(fields[f].name, name) != 0)
            f++;
        if (f == n) {
            int k = snprintf(msg, len, "unknown %s parameter '%s' (", what, name);
            for (int i = 0; i < n && k > 0 && (size_t)k < len; i++)
                k += snprintf(msg + k, len - (size_t)k, "%s%s", i ? ", " : "", fields[i].name);
            if (k > 0 && (size_t)k < len) snprintf(msg + k, len - (size_t)k, ")");
            return false;
        }
        *(int *)((char *)p + fields[f].offset) = value;
        s += used;
        while (*s == ' ' || *s == ',')
            s++;
    }
    return true;
}

bool scl_fwd_params_override(scl_fwd_params *p, const char *text, char *msg, size_t len)
{
    return scl_params_override(p, fwd_fields, (int)(sizeof fwd_fields / sizeof fwd_fields[0]), "forward",
                               text, msg, len);
}
