/* Forward-kernel parameter spaces and their pruning. */
#include "space.h"

#include <stdlib.h>
#include <string.h>

/* Values in increasing order, so one index step is a small change (the local search relies on it). */
static const at_dim gpu_dims[] = {
    {"bq", 4, {16, 32, 64, 128}}, {"bk", 3, {16, 32, 64}},  {"tm", 4, {1, 2, 4, 8}},
    {"tn", 4, {1, 2, 4, 8}},      {"stage_q", 2, {0, 1}},   {"stage_kv", 2, {0, 1}},
};
static const at_dim cpu_dims[] = {
    {"bq", 3, {8, 16, 32}},    {"bk", 3, {32, 64, 128}}, {"ri", 3, {4, 8, 16}},
    {"rj", 3, {16, 32, 64}},   {"vec", 2, {8, 16}},      {"stage_q", 2, {0, 1}},
};

static int *field(scl_fwd_params *p, const char *name)
{
    int n;
    const scl_param_field *f = scl_fwd_param_fields(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0) return (int *)((char *)p + f[i].offset);
    return NULL;
}

static void apply(const at_fwd_space *s, const at_point *pt, scl_fwd_params *out)
{
    *out = s->base;
    for (int d = 0; d < s->n_dims; d++) {
        int *f = field(out, s->dims[d].name);
        if (f) *f = s->dims[d].values[pt->v[d]];
    }
    /* Tied parameters: GPU register block = thread tile; CPU thread owns whole rows. */
    if (s->gpu_family) {
        out->ri = out->tm;
        out->rj = out->tn;
    } else {
        out->tm = out->bq;
        out->tn = out->bk;
    }
}

void at_fwd_params_text(const scl_fwd_params *p, char *out, size_t len)
{
    int n, used = 0;
    const scl_param_field *f = scl_fwd_param_fields(&n);
    out[0] = '\0';
    for (int i = 0; i < n && used < (int)len; i++)
        used += snprintf(out + used, len - (size_t)used, "%s%s=%d", i ? "," : "", f[i].name,
                         *(const int *)((const char *)p + f[i].offset));
}

int at_fwd_space_build(const scl_param_context *pc, int gpu_family, FILE *verbose, at_fwd_space *out)
{
    memset(out, 0, sizeof *out);
    out->gpu_family = gpu_family != 0;
    const at_dim *dims = gpu_family ? gpu_dims : cpu_dims;
    out->n_dims = (int)(gpu_family ? sizeof gpu_dims / sizeof gpu_dims[0] : sizeof cpu_dims / sizeof cpu_dims[0]);
    memcpy(out->dims, dims, sizeof(at_dim) * (size_t)out->n_dims);
    out->base = scl_fwd_params_start(gpu_family);
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
        scl_fwd_params p;
        apply(out, &pt, &p);
        char reason[256];
        if (scl_fwd_params_check(&p, pc, reason, sizeof reason)) {
            out->space.points[out->space.n_points++] = pt;
        } else if (verbose) {
            char text[256];
            at_fwd_params_text(&p, text, sizeof text);
            fprintf(verbose, "rejected %s: %s\n", text, reason);
        }
    }
    return 0;
}

void at_fwd_space_free(at_fwd_space *s)
{
    free(s->space.points);
    s->space.points = NULL;
}

void at_fwd_point_params(const at_fwd_space *s, int index, scl_fwd_params *out)
{
    apply(s, &s->space.points[index], out);
}

int at_fwd_space_find(const at_fwd_space *s, const scl_fwd_params *p)
{
    for (int i = 0; i < s->space.n_points; i++) {
        scl_fwd_params q;
        at_fwd_point_params(s, i, &q);
        if (memcmp(&q, p, sizeof q) == 0) return i;
    }
    return -1;
}
