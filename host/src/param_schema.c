/* Everything a parameter table gives without kernel knowledge: start values, per-value checks,
 * overrides, build options, text. */
#include "param_schema.h"

#include "matrix_engine.h"

#include <stdio.h>
#include <string.h>

void scli_param_context_init(scli_param_context *c, const scl_device_info *dev, int head_dim, int block)
{
    c->head_dim = head_dim;
    c->block = block;
    c->max_work_group_size = dev->max_work_group_size;
    c->local_mem_bytes = (size_t)dev->local_mem_bytes;
    /* GPUs spill beyond ~255 registers per thread; CPUs keep private arrays in L1 anyway. */
    c->max_private_floats = (dev->type & CL_DEVICE_TYPE_GPU) ? 192 : 4096;
    char why[160];
    c->matrix_engine = scli_mma_native(dev, why, sizeof why);
    c->local_mem_static_bytes = c->matrix_engine ? SCLI_NV_STATIC_LOCAL_BYTES : 0;
    c->full_blocks_only = 0; /* plans set it from their LUT */
}

int scli_param_family(const scl_device_info *dev)
{
    return dev && (dev->type & CL_DEVICE_TYPE_GPU) ? SCLI_FAMILY_GPU : SCLI_FAMILY_CPU;
}

int *scli_param_at(const scli_param_schema *s, void *p, int i)
{
    return (int *)((char *)p + s->defs[i].offset);
}

int scli_param_index(const scli_param_schema *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->defs[i].name, name) == 0) return i;
    return -1;
}

void scli_params_start(const scli_param_schema *s, int family, void *out)
{
    memset(out, 0, s->size);
    for (int i = 0; i < s->n; i++)
        *scli_param_at(s, out, i) = s->defs[i].start[family];
}

static bool value_ok(const scli_param_def *d, int v)
{
    switch (d->type) {
    case SCL_PARAM_BOOL:
        return v == 0 || v == 1;
    case SCL_PARAM_POW2:
        return v >= d->lo && v <= d->hi && (v & (v - 1)) == 0;
    default:
        return v >= d->lo && v <= d->hi;
    }
}

bool scli_params_check(const scli_param_schema *s, const void *p, const scli_param_context *c, char *reason,
                      size_t len)
{
    for (int i = 0; i < s->n; i++) {
        const scli_param_def *d = &s->defs[i];
        int v = *scli_param_at(s, (void *)p, i);
        if (value_ok(d, v)) continue;
        if (d->type == SCL_PARAM_BOOL)
            snprintf(reason, len, "%s=%d must be 0 or 1", d->name, v);
        else if (d->type == SCL_PARAM_POW2)
            snprintf(reason, len, "%s=%d: tile parameters must be powers of two in %d..%d", d->name, v, d->lo,
                     d->hi);
        else
            snprintf(reason, len, "%s=%d must be in %d..%d", d->name, v, d->lo, d->hi);
        return false;
    }
    return s->constraint(p, c, reason, len);
}

bool scli_params_default(const scli_param_schema *s, const scl_device_info *dev, const scli_param_context *c,
                        void *out)
{
    int family = scli_param_family(dev);
    scli_params_start(s, family, out);
    char reason[256];
    if (s->fit) return s->fit(out, c, family);
    return scli_params_check(s, out, c, reason, sizeof reason);
}

bool scli_params_override(const scli_param_schema *s, void *p, const char *text, char *msg, size_t len)
{
    const char *at = text;
    while (at && *at) {
        char name[32];
        int value, used = 0;
        if (sscanf(at, " %31[a-z_] = %d%n", name, &value, &used) != 2) {
            snprintf(msg, len, "cannot parse '%s' (expected name=value[,name=value...])", at);
            return false;
        }
        int i = scli_param_index(s, name);
        if (i < 0) {
            int k = snprintf(msg, len, "unknown %s parameter '%s' (", s->direction, name);
            for (int j = 0; j < s->n && k > 0 && (size_t)k < len; j++)
                k += snprintf(msg + k, len - (size_t)k, "%s%s", j ? ", " : "", s->defs[j].name);
            if (k > 0 && (size_t)k < len) snprintf(msg + k, len - (size_t)k, ")");
            return false;
        }
        *scli_param_at(s, p, i) = value;
        at += used;
        while (*at == ' ' || *at == ',')
            at++;
    }
    return true;
}

void scli_params_options(const scli_param_schema *s, const void *p, const scli_param_context *c, scl_dtype dtype,
                        char *out, size_t len)
{
    int k = snprintf(out, len, "%s -DD=%d -DBLOCK=%d", s->flags, c->head_dim, c->block);
    for (int i = 0; i < s->n && k > 0 && (size_t)k < len; i++)
        k += snprintf(out + k, len - (size_t)k, " -D%s=%d", s->defs[i].macro, *scli_param_at(s, (void *)p, i));
    const char *m = scli_dtype_macro(dtype);
    if (*m && k > 0 && (size_t)k < len) snprintf(out + k, len - (size_t)k, " -D%s", m);
}

void scli_params_text(const scli_param_schema *s, const void *p, char *out, size_t len)
{
    int used = 0;
    out[0] = '\0';
    for (int i = 0; i < s->n && used >= 0 && (size_t)used < len; i++)
        used += snprintf(out + used, len - (size_t)used, "%s%s=%d", i ? "," : "", s->defs[i].name,
                         *scli_param_at(s, (void *)p, i));
}

size_t scli_dtype_size(scl_dtype t)
{
    return t == SCL_F32 ? 4 : 2;
}

const char *scli_dtype_macro(scl_dtype t)
{
    return t == SCL_F16 ? "SCL_F16" : t == SCL_BF16 ? "SCL_BF16" : "";
}

const char *scli_dtype_name(scl_dtype t)
{
    return t == SCL_F16 ? "f16" : t == SCL_BF16 ? "bf16" : "f32";
}

bool scli_dtype_valid(scl_dtype t)
{
    return t == SCL_F32 || t == SCL_F16 || t == SCL_BF16;
}
