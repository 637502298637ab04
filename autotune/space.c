/* Kernel parameter spaces, their pruning, and the descriptors of the tuned kernels. */
#include "space.h"

#include <stdlib.h>
#include <string.h>

/* ---- attn_fwd ---------------------------------------------------------------------------- */
/* Values in increasing order, so one index step is a small change (the local search relies on it). */
static const at_dim fwd_gpu_dims[] = {
    {"bq", 4, {16, 32, 64, 128}}, {"bk", 3, {16, 32, 64}}, {"tm", 4, {1, 2, 4, 8}},
    {"tn", 4, {1, 2, 4, 8}},      {"stage_q", 2, {0, 1}},  {"stage_kv", 2, {0, 1}},
};
static const at_dim fwd_cpu_dims[] = {
    {"bq", 3, {8, 16, 32}},  {"bk", 3, {32, 64, 128}}, {"ri", 3, {4, 8, 16}},
    {"rj", 3, {16, 32, 64}}, {"vec", 2, {8, 16}},      {"stage_q", 2, {0, 1}},
};

static bool fwd_check(const at_params *p, const scl_param_context *c, char *reason, size_t len)
{
    return scl_fwd_params_check(&p->fwd, c, reason, len);
}

static at_params fwd_start(int gpu)
{
    at_params p;
    memset(&p, 0, sizeof p);
    p.fwd = scl_fwd_params_start(gpu);
    return p;
}

static bool fwd_defaults(const scl_device_info *dev, const scl_param_context *c, at_params *out)
{
    memset(out, 0, sizeof *out);
    return scl_fwd_params_default(dev, c, &out->fwd);
}

/* GPU register block = thread tile; a CPU thread owns whole rows. */
static void fwd_tie(at_params *p, int gpu_family)
{
    scl_fwd_params *f = &p->fwd;
    if (gpu_family) {
        f->ri = f->tm;
        f->rj = f->tn;
    } else {
        f->tm = f->bq;
        f->tn = f->bk;
    }
}

const at_kernel at_kernel_fwd = {
    "attn_fwd",
    "forward",
    sizeof(scl_fwd_params),
    scl_fwd_param_fields,
    fwd_check,
    fwd_start,
    fwd_defaults,
    {fwd_cpu_dims, fwd_gpu_dims},
    {(int)(sizeof fwd_cpu_dims / sizeof fwd_cpu_dims[0]),
     (int)(sizeof fwd_gpu_dims / sizeof fwd_gpu_dims[0])},
    fwd_tie,
    4.0,
};

/* ---- attn_bwd ---------------------------------------------------------------------------- */
/* Around scl_bwd_params_start: GPUs keep few rows per thread and stage the shared tiles; CPUs
 * give a thread whole rows (dq_tm = dq_bq, kv_tn = kv_bk) and search the register block and the
 * vector width. */
static const at_dim bwd_gpu_dims[] = {
    {"dq_bq", 3, {32, 64, 128}}, {"dq_bk", 3, {16, 32, 64}}, {"dq_tm", 3, {1, 2, 4}},
    {"kv_bk", 3, {32, 64, 128}}, {"kv_bq", 3, {16, 32, 64}}, {"kv_tn", 3, {1, 2, 4}},
    {"rj", 3, {4, 8, 16}},       {"stage", 2, {0, 1}},
};
static const at_dim bwd_cpu_dims[] = {
    {"dq_bq", 3, {8, 16, 32}}, {"dq_bk", 2, {32, 64}}, {"kv_bk", 3, {8, 16, 32}}, {"kv_bq", 2, {32, 64}},
    {"ri", 3, {4, 8, 16}},     {"rj", 2, {16, 32}},    {"vec", 2, {8, 16}},       {"stage", 2, {0, 1}},
};

static bool bwd_check(const at_params *p, const scl_param_context *c, char *reason, size_t len)
{
    return scl_bwd_params_check(&p->bwd, c, reason, len);
}

static at_params bwd_start(int gpu)
{
    at_params p;
    memset(&p, 0, sizeof p);
    p.bwd = scl_bwd_params_start(gpu);
    return p;
}

static bool bwd_defaults(const scl_device_info *dev, const scl_param_context *c, at_params *out)
{
    memset(out, 0, sizeof *out);
    return scl_bwd_params_default(dev, c, &out->bwd);
}

static void bwd_tie(at_params *p, int gpu_family)
{
    scl_bwd_params *b = &p->bwd;
    if (gpu_family) { /* the register block covers a thread's rows in both kernels */
        b->ri = b->dq_tm < b->kv_tn ? b->dq_tm : b->kv_tn;
    } else {
        b->dq_tm = b->dq_bq;
        b->kv_tn = b->kv_bk;
    }
}

/* 10 d flops per allowed pair: the usual 2.5 x forward convention (five d-long products per
 * pair; the recomputation of S and dP in the second kernel is not counted). */
const at_kernel at_kernel_bwd = {
    "attn_bwd",
    "backward",
    sizeof(scl_bwd_params),
    scl_bwd_param_fields,
    bwd_check,
    bwd_start,
    bwd_defaults,
    {bwd_cpu_dims, bwd_gpu_dims},
    {(int)(sizeof bwd_cpu_dims / sizeof bwd_cpu_dims[0]),
     (int)(sizeof bwd_gpu_dims / sizeof bwd_gpu_dims[0])},
    bwd_tie,
    10.0,
};

const at_kernel *at_kernel_find(const char *name)
{
    const at_kernel *all[] = {&at_kernel_fwd, &at_kernel_bwd};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, all[i]->name) == 0 || strcmp(name, all[i]->direction) == 0) return all[i];
    return NULL;
}

/* ---- spaces ------------------------------------------------------------------------------ */
static int *field(const at_kernel *k, at_params *p, const char *name)
{
    int n;
    const scl_param_field *f = k->fields(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0) return (int *)((char *)p + f[i].offset);
    return NULL;
}

static void apply(const at_kspace *s, const at_point *pt, at_params *out)
{
    *out = s->base;
    for (int d = 0; d < s->n_dims; d++) {
        int *f = field(s->kernel, out, s->dims[d].name);
        if (f) *f = s->dims[d].values[pt->v[d]];
    }
    s->kernel->tie(out, s->gpu_family);
}

void at_params_text(const at_kernel *k, const at_params *p, char *out, size_t len)
{
    int n, used = 0;
    const scl_param_field *f = k->fields(&n);
    out[0] = '\0';
    for (int i = 0; i < n && used < (int)len; i++)
        used += snprintf(out + used, len - (size_t)used, "%s%s=%d", i ? "," : "", f[i].name,
                         *(const int *)((const char *)p + f[i].offset));
}

int at_kspace_build(const at_kernel *k, const scl_param_context *pc, int gpu_family, FILE *verbose,
                    at_kspace *out)
{
    memset(out, 0, sizeof *out);
    out->kernel = k;
    out->gpu_family = gpu_family != 0;
    out->n_dims = k->n_dims[out->gpu_family];
    memcpy(out->dims, k->dims[out->gpu_family], sizeof(at_dim) * (size_t)out->n_dims);
    out->base = k->start(out->gpu_family);
    out->space.n_dims = out->n_dims;
    int total = 1;
    for (int d = 0; d < out->n_dims; d++) {
        out->space.n_values[d] = out->dims[d].n;
        total *= out->dims[d].n;
    }
    out->total = total;
    out->space.points = malloc(sizeof(at_point) * (size_t)total);
    if (!out->space.points) return -1;
    for (int idx = 0; idx < total; idx++) {
        at_point pt = {{0}};
        for (int d = 0, rest = idx; d < out->n_dims; d++) {
            pt.v[d] = rest % out->dims[d].n;
            rest /= out->dims[d].n;
        }
        at_params p;
        apply(out, &pt, &p);
        char reason[256];
        if (k->check(&p, pc, reason, sizeof reason)) {
            out->space.points[out->space.n_points++] = pt;
        } else if (verbose) {
            char text[256];
            at_params_text(k, &p, text, sizeof text);
            fprintf(verbose, "rejected %s %s: %s\n", k->name, text, reason);
        }
    }
    return 0;
}

void at_kspace_free(at_kspace *s)
{
    free(s->space.points);
    s->space.points = NULL;
}

void at_kspace_point(const at_kspace *s, int index, at_params *out)
{
    apply(s, &s->space.points[index], out);
}

int at_kspace_find(const at_kspace *s, const at_params *p)
{
    for (int i = 0; i < s->space.n_points; i++) {
        at_params q;
        at_kspace_point(s, i, &q);
        if (memcmp(&q, p, s->kernel->size) == 0) return i;
    }
    return -1;
}

/* ---- forward names ----------------------------------------------------------------------- */
int at_fwd_space_build(const scl_param_context *pc, int gpu_family, FILE *verbose, at_fwd_space *out)
{
    return at_kspace_build(&at_kernel_fwd, pc, gpu_family, verbose, out);
}

void at_fwd_space_free(at_fwd_space *s)
{
    at_kspace_free(s);
}

void at_fwd_point_params(const at_fwd_space *s, int index, scl_fwd_params *out)
{
    at_params p;
    at_kspace_point(s, index, &p);
    *out = p.fwd;
}

int at_fwd_space_find(const at_fwd_space *s, const scl_fwd_params *p)
{
    at_params q;
    memset(&q, 0, sizeof q);
    q.fwd = *p;
    return at_kspace_find(s, &q);
}

void at_fwd_params_text(const scl_fwd_params *p, char *out, size_t len)
{
    at_params q;
    memset(&q, 0, sizeof q);
    q.fwd = *p;
    at_params_text(&at_kernel_fwd, &q, out, len);
}
