/* The kernel-variant registry and the choice among variants. */
#include "variants.h"

#include "matrix_engine.h"
#include "params_bwd_simt.h"
#include "params_fwd_mma.h"
#include "params_fwd_simt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SIMT forward: every device, every dtype, every block the library accepts. ----------- */
static bool simt_qualifies(const scli_variant_query *q, char *why, size_t len)
{
    (void)q, (void)why, (void)len;
    return true;
}
static size_t simt_work_group(const void *p)
{
    return scli_fwd_work_group_size(p);
}
static int simt_rows(const void *p)
{
    return ((const scli_fwd_params *)p)->bq;
}
static int simt_prep_by_column(const void *p)
{
    return ((const scli_fwd_params *)p)->prep_by_column;
}

static const scli_fwd_variant fwd_simt = {
    .name = "simt",
    .schema = &scli_fwd_simt_schema,
    .kernel_file = "attn_fwd.cl",
    .kernel_name = "attn_fwd",
    .qualifies = simt_qualifies,
    .work_group_size = simt_work_group,
    .rows_per_group = simt_rows,
    .prep_by_column = simt_prep_by_column,
};

/* ---- Matrix engine forward (kernels/attn_fwd_mma.cl): f16/bf16, blocks of 16+, d a multiple of
 * 16. Chosen by default where the device runs the primitives natively; elsewhere only when asked
 * for by name, through the portable emulation (how CI tests the kernel on CPUs). ----------- */
static bool mma_shape_ok(const scli_variant_query *q, char *why, size_t len)
{
    if (q->dtype == SCL_F32) {
        snprintf(why, len, "float32 storage (the matrix engine runs f16/bf16)");
        return false;
    }
    if (q->block < 16 || q->head_dim % 16) {
        snprintf(why, len, "block %d / head dim %d (the tile needs blocks of 16+ and d a multiple of 16)",
                 q->block, q->head_dim);
        return false;
    }
    return true;
}
static bool mma_qualifies(const scli_variant_query *q, char *why, size_t len)
{
    return mma_shape_ok(q, why, len) && scli_mma_native(q->dev, why, len);
}
static bool mma_runs_emulated(const scli_variant_query *q, char *why, size_t len)
{
    return mma_shape_ok(q, why, len);
}
static void mma_options(const scli_variant_query *q, char *out, size_t len)
{
    char why[160];
    snprintf(out, len, "%s%s%s%s", scli_mma_native(q->dev, why, sizeof why) ? " -DSCL_MMA_PTX" : "",
             q->full_blocks_only ? " -DHAS_MASKS=0" : "", q->mapped ? " -DMAPPED=1" : "",
             q->split ? " -DSPLIT=1" : "");
}
static size_t mma_work_group(const void *p)
{
    return 32 * (size_t)((const scli_fwd_mma_params *)p)->warps;
}
static int mma_rows(const void *p)
{
    return ((const scli_fwd_mma_params *)p)->bq;
}
static int mma_prep_by_column(const void *p)
{
    (void)p;
    return 0;
}

static const scli_fwd_variant fwd_mma = {
    .name = "mma",
    .schema = &scli_fwd_mma_schema,
    .kernel_file = "attn_fwd_mma.cl",
    .kernel_name = "attn_fwd_mma",
    .qualifies = mma_qualifies,
    .emulated = mma_runs_emulated,
    .extra_options = mma_options,
    .work_group_size = mma_work_group,
    .rows_per_group = mma_rows,
    .prep_by_column = mma_prep_by_column,
    .reads_kv_in_place = 1,
    .maps_rows = 1,
    .splits_rows = 1,
};

static const scli_fwd_variant *const fwd_variants[] = {&fwd_mma, &fwd_simt};

int scli_fwd_variant_count(void)
{
    return (int)(sizeof fwd_variants / sizeof fwd_variants[0]);
}

const scli_fwd_variant *scli_fwd_variant_at(int i)
{
    return i >= 0 && i < scli_fwd_variant_count() ? fwd_variants[i] : NULL;
}

const scli_fwd_variant *scli_fwd_variant_find(const char *name)
{
    for (int i = 0; name && i < scli_fwd_variant_count(); i++)
        if (strcmp(fwd_variants[i]->name, name) == 0) return fwd_variants[i];
    return NULL;
}

const scli_fwd_variant *scli_fwd_variant_choose(const scli_variant_query *q, const char *preferred, char *reason,
                                              size_t len)
{
    if (!preferred || !*preferred) preferred = getenv("SPARSECL_FWD_VARIANT");
    char why[256] = "";
    if (preferred && *preferred && strcmp(preferred, "auto") != 0) {
        const scli_fwd_variant *v = scli_fwd_variant_find(preferred);
        if (!v) {
            int k = snprintf(reason, len, "unknown forward variant '%s' (known: auto", preferred);
            for (int i = 0; i < scli_fwd_variant_count() && k > 0 && (size_t)k < len; i++)
                k += snprintf(reason + k, len - (size_t)k, ", %s", fwd_variants[i]->name);
            if (k > 0 && (size_t)k < len) snprintf(reason + k, len - (size_t)k, ")");
            return NULL;
        }
        if (v->qualifies(q, why, sizeof why)) {
            snprintf(reason, len, "%s: requested", v->name);
            return v;
        }
        char ewhy[256];
        if (v->emulated && v->emulated(q, ewhy, sizeof ewhy)) {
            snprintf(reason, len, "%s: requested; portable emulation (%s)", v->name, why);
            return v;
        }
    }
    char skipped[512] = "";
    for (int i = 0; i < scli_fwd_variant_count(); i++) {
        const scli_fwd_variant *v = fwd_variants[i];
        char w[256];
        if (v->qualifies(q, w, sizeof w)) {
            if (why[0])
                snprintf(reason, len, "%s: requested %s cannot run this (%s)", v->name, preferred, why);
            else if (skipped[0])
                snprintf(reason, len, "%s: first that qualifies (%s)", v->name, skipped);
            else
                snprintf(reason, len, "%s: first that qualifies", v->name);
            return v;
        }
        size_t n = strlen(skipped);
        snprintf(skipped + n, sizeof skipped - n, "%s%s: %s", n ? "; " : "", v->name, w);
    }
    snprintf(reason, len, "no forward variant can run this: %s", skipped);
    return NULL;
}

const scli_param_schema *scli_schema_find(const char *kernel, const char *variant)
{
    if (!variant || !*variant) variant = "simt";
    const scli_param_schema *all[SCL_PARAM_MAX];
    int n = 0;
    for (int i = 0; i < scli_fwd_variant_count(); i++)
        all[n++] = fwd_variants[i]->schema;
    all[n++] = &scli_bwd_simt_schema;
    for (int i = 0; kernel && i < n; i++)
        if ((strcmp(kernel, all[i]->kernel) == 0 || strcmp(kernel, all[i]->direction) == 0) &&
            strcmp(variant, all[i]->variant) == 0)
            return all[i];
    return NULL;
}
