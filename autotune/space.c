/* Kernel parameter spaces from parameter schemas, and their pruning. */
#include "space.h"

#include <stdlib.h>
#include <string.h>

static void apply(const at_kspace *s, const at_point *pt, at_params *out)
{
    *out = s->base;
    for (int d = 0; d < s->n_dims; d++)
        *scli_param_at(s->kernel, out, s->dims[d].param) = s->dims[d].values[pt->v[d]];
    if (s->kernel->tie) s->kernel->tie(out, s->family);
}

/* The schema's searched rows of a family, in table order. */
static void dims_of(at_kspace *s)
{
    const scli_param_schema *k = s->kernel;
    for (int i = 0; i < k->n && s->n_dims < AT_MAX_DIMS; i++) {
        const int *v = k->defs[i].search[s->family];
        at_dim d = {.param = i};
        while (d.n < SCL_PARAM_VALUES && v[d.n] >= 0) {
            d.values[d.n] = v[d.n];
            d.n++;
        }
        if (d.n > 0) s->dims[s->n_dims++] = d;
    }
}

int at_kspace_build(const scli_param_schema *k, const scli_param_context *pc, int family, FILE *verbose,
                    at_kspace *out)
{
    memset(out, 0, sizeof *out);
    out->kernel = k;
    out->family = family == SCLI_FAMILY_GPU ? SCLI_FAMILY_GPU : SCLI_FAMILY_CPU;
    dims_of(out);
    scli_params_start(k, out->family, &out->base);
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
        if (scli_params_check(k, &p, pc, reason, sizeof reason)) {
            out->space.points[out->space.n_points++] = pt;
        } else if (verbose) {
            char text[256];
            scli_params_text(k, &p, text, sizeof text);
            fprintf(verbose, "rejected %s %s: %s\n", k->kernel, text, reason);
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
