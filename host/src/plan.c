/* Plans: pattern + shape + options + device -> LUT buffers, the chosen forward variant and its
 * parameters, compiled kernels. Execution is in plan_forward.c and backward.c. */
#include "plan_internal.h"

#include "block_choice.h"
#include "decomposed.h"
#include "tuning_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

scl_status scli_env_flag(scl_runtime *rt, const char *name, bool *on)
{
    const char *e = getenv(name);
    *on = e && strcmp(e, "1") == 0;
    if (!e || !*e || *on || strcmp(e, "0") == 0) return SCL_OK;
    return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "%s='%s': expected 0 or 1", name, e);
}

scl_status scli_plan_buffer(scl_plan *p, cl_mem_flags flags, size_t bytes, const void *data, cl_mem *out,
                           const char *what)
{
    static const int32_t zero = 0;
    cl_int err;
    if (bytes == 0) { /* OpenCL refuses zero-sized buffers: an empty table gets one element */
        bytes = sizeof zero;
        if (data) data = &zero;
    }
    *out = clCreateBuffer(p->rt->ctx, flags | (data ? CL_MEM_COPY_HOST_PTR : 0), bytes, (void *)data, &err);
    if (err != CL_SUCCESS) {
        char ctx[160];
        snprintf(ctx, sizeof ctx, "buffer %s of %zu bytes", what, bytes);
        return scli_fail_cl(p->rt, "clCreateBuffer", err, ctx);
    }
    return SCL_OK;
}

static scl_status upload(scl_plan *p, const void *data, size_t count, size_t elem, cl_mem *out,
                         const char *what)
{
    return scli_plan_buffer(p, CL_MEM_READ_ONLY, count * elem, data, out, what);
}

static scl_status pattern_error_rt(scl_runtime *rt, const spc_error *err)
{
    if (err->column > 0)
        return scli_fail(rt, SCL_ERR_PATTERN, "pattern column %d: %s", err->column, err->message);
    return scli_fail(rt, SCL_ERR_PATTERN, "pattern: %s", err->message);
}

static scl_status pattern_error(scl_plan *p, const spc_error *err)
{
    return pattern_error_rt(p->rt, err);
}

/* SCL_BLOCK_AUTO(_BACKWARD): the block chosen for the pattern and shape (block_choice.c) into
 * s->block, with why; any other block is the caller's. */
static scl_status choose_block(scl_runtime *rt, const scl_pattern *pattern, scl_shape *s, scl_dtype dtype,
                               const scli_plan_config *cfg, spc_decompose_mode mode, char *why, size_t len)
{
    if (!scli_block_is_auto(s->block)) {
        snprintf(why, len, "given by the caller");
        return SCL_OK;
    }
    bool backward = s->block == SCL_BLOCK_AUTO_BACKWARD;
    scl_shape probe = *s, norm;
    char msg[512];
    probe.block = 64;
    if (scli_shape_normalize(&probe, &norm, msg, sizeof msg) != SCL_OK) {
        s->block = 64; /* the plan refuses the shape with its own message */
        return SCL_OK;
    }
    int block = 0;
    bool from_db = false;
    spc_error err = {{0}, 0};
    const scli_tuning_set *set = cfg->ignore_tuning ? NULL : scli_runtime_tuning(rt);
    if (scli_block_choose(set, pattern->spec, &norm, dtype, backward, mode, &block, &from_db, why, len, &err) != 0)
        return pattern_error_rt(rt, &err);
    s->block = block;
    return SCL_OK;
}

static scl_status compile_pattern(scl_plan *p, const scl_pattern *pattern)
{
    spc_geometry g = {p->shape.seq_q, p->shape.seq_k, p->shape.block, p->shape.heads};
    spc_error err = {0};
    if (spc_bind(pattern->spec, &g, &p->bound, &err) != 0 || spc_compile(p->bound, &p->lut, &err) != 0)
        return pattern_error(p, &err);
    spc_lut_stats(p->lut, &p->stats);
    return SCL_OK;
}

/* The row CSR as the kernels read it: each row's full blocks first, then its partial ones, each
 * group in ascending column order (the tail block, partial, stays last). The kernels' sums do not
 * depend on the order; the matrix-engine forward runs the tiles before a row's first partial block
 * without its mask code (kernels/attn_fwd_mma.cl). */
static void rows_full_first(const spc_lut *l, int32_t *col, int32_t *mask)
{
    for (int64_t r = 0; r < (int64_t)l->n_layouts * l->nb_q; r++) {
        const int64_t lay = r / l->nb_q, e0 = l->row_ptr[lay * (l->nb_q + 1) + r % l->nb_q],
                      e1 = l->row_ptr[lay * (l->nb_q + 1) + r % l->nb_q + 1];
        int64_t o = e0;
        for (int pass = 0; pass < 2; pass++)
            for (int64_t e = e0; e < e1; e++)
                if ((l->row_mask[e] >= 0) == pass) col[o] = l->col_idx[e], mask[o++] = l->row_mask[e];
    }
}

static scl_status upload_lut(scl_plan *p)
{
    const spc_lut *l = p->lut;
    int32_t *col = malloc(((size_t)l->nnz + 1) * 4), *mask = malloc(((size_t)l->nnz + 1) * 4);
    if (!col || !mask) {
        free(col), free(mask);
        return scli_fail(p->rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory for the LUT (%lld entries)",
                         (long long)l->nnz);
    }
    rows_full_first(l, col, mask);
    scl_status st = upload(p, l->row_ptr, (size_t)l->n_layouts * (l->nb_q + 1), 4, &p->row_ptr, "row_ptr");
    if (st == SCL_OK) st = upload(p, col, (size_t)l->nnz, 4, &p->col_idx, "col_idx");
    if (st == SCL_OK) st = upload(p, mask, (size_t)l->nnz, 4, &p->row_mask, "row_mask");
    if (st == SCL_OK) st = upload(p, l->masks, (size_t)l->n_masks * l->mask_words, 4, &p->masks, "masks");
    if (st == SCL_OK) st = upload(p, l->head_layout, (size_t)l->heads, 4, &p->head_layout, "head_layout");
    free(col), free(mask);
    return st;
}

static scl_status apply_overrides(scl_runtime *rt, const scli_param_schema *k, const scli_param_context *pc,
                                  const char *what, const char *text, void *out, char *source, size_t len)
{
    char reason[256];
    if (!text || !*text) return SCL_OK;
    if (!scli_params_override(k, out, text, reason, sizeof reason))
        return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "%s: %s", what, reason);
    if (!scli_params_check(k, out, pc, reason, sizeof reason))
        return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "%s='%s' rejected: %s", what, text, reason);
    size_t n = strlen(source);
    snprintf(source + n, len - n, " + %s=%.400s", what, text);
    return SCL_OK;
}

scl_status scli_choose_params(scl_runtime *rt, const scli_param_schema *k, const scli_param_context *pc,
                             scl_dtype dtype, scli_param_choice *how, void *out, char *source, size_t len)
{
    char reason[256];
    how->from_database = false;
    if (how->explicit_params) {
        if (!scli_params_check(k, how->explicit_params, pc, reason, sizeof reason))
            return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "%s parameters rejected: %s", k->direction, reason);
        memcpy(out, how->explicit_params, k->size);
        snprintf(source, len, "explicit parameters");
        return SCL_OK;
    }
    const scli_tuning_set *db = how->ignore_tuning ? NULL : scli_runtime_tuning(rt);
    how->from_database = db && scli_tuning_set_lookup(db, k, pc, dtype, out, source, len);
    if (!how->from_database) {
        if (!scli_params_default(k, &rt->dev, pc, out))
            return scli_fail(rt, SCL_ERR_UNSUPPORTED, "no valid %s-kernel parameters for d=%d, block=%d on %s",
                            k->direction, pc->head_dim, pc->block, rt->dev.name);
        snprintf(source, len, "built-in %s defaults", rt->dev.type & CL_DEVICE_TYPE_GPU ? "GPU" : "CPU");
    }
    scl_status st = apply_overrides(rt, k, pc, "options", how->overrides, out, source, len);
    if (st == SCL_OK) st = apply_overrides(rt, k, pc, k->env, getenv(k->env), out, source, len);
    return st;
}

/* Parameters, options and kernels of variant v (p->variant). */
static scl_status build_variant(scl_plan *p, const scli_variant_query *q)
{
    scl_runtime *rt = p->rt;
    const scli_param_schema *k = p->variant->schema;
    scli_param_context pc;
    scli_param_context_init(&pc, &rt->dev, p->shape.head_dim, p->shape.block);
    pc.full_blocks_only = q->full_blocks_only;
    scli_param_choice how = {p->cfg.fwd_explicit, p->cfg.fwd_params, p->cfg.ignore_tuning, false};
    scl_status st =
        scli_choose_params(rt, k, &pc, p->dtype, &how, &p->fwd, p->fwd_source, sizeof p->fwd_source);
    if (st != SCL_OK) return st;
    p->fwd_tuned = how.from_database;
    if ((st = scli_split_plan(p)) != SCL_OK) return st;
    scli_variant_query qs = *q;
    qs.split = p->split.n_work > 0;
    scli_params_options(k, &p->fwd, &pc, p->dtype, p->fwd_options, sizeof p->fwd_options);
    if (p->variant->extra_options) {
        size_t n = strlen(p->fwd_options);
        p->variant->extra_options(&qs, p->fwd_options + n, sizeof p->fwd_options - n);
    }
    st = scl_build_program(rt, p->variant->kernel_file, p->fwd_options, &p->fwd_program, &p->from_cache);
    if (st != SCL_OK) return st;
    cl_int err;
    p->fwd_kernel = clCreateKernel(p->fwd_program, p->variant->kernel_name, &err);
    if (err != CL_SUCCESS) return scli_fail_cl(rt, "clCreateKernel", err, p->variant->kernel_name);
    p->prep_kernel = clCreateKernel(p->fwd_program, "attn_prep_kv", &err);
    if (err != CL_SUCCESS) return scli_fail_cl(rt, "clCreateKernel", err, "attn_prep_kv");
    return scli_split_kernel(p);
}

static void release_forward(scl_plan *p)
{
    if (p->fwd_kernel) clReleaseKernel(p->fwd_kernel);
    if (p->prep_kernel) clReleaseKernel(p->prep_kernel);
    if (p->fwd_program) clReleaseProgram(p->fwd_program);
    p->fwd_kernel = p->prep_kernel = NULL;
    p->fwd_program = NULL;
    scli_split_release(p);
}

/* Whether p->variant reads the caller's K and V in place (no padded copy). 16-bit rows at multiples
 * of 8 elements are 16-byte aligned (cl_mem bases are); a key map (gathered keys) needs the copy
 * unless the kernel reads through it (maps_rows) and each key block is loaded by few query tiles:
 * the map read before each cp.async costs per load (H200, d=64: strided's ~2 loads per key block
 * 0.195 -> 0.166 ms through the map, fixed's summary columns, ~128 loads each, 0.214 -> 0.280 ms).
 * force_copy (SPARSECL_KV_COPY=1, for side-by-side timing) keeps the copy. */
static bool reads_kv_in_place(const scl_plan *p, bool force_copy)
{
    const scli_strides *kvs = p->kv_map ? &p->kv_src : &p->ks;
    double loads_per_key_block = p->lut ? (double)p->lut->nnz / ((double)p->lut->n_layouts * p->lut->nb_k) : 0;
    bool map_ok = !p->kv_map || (p->variant->maps_rows && loads_per_key_block <= 8.0);
    return p->variant->reads_kv_in_place && map_ok && kvs->b % 8 == 0 && kvs->h % 8 == 0 && kvs->n % 8 == 0 &&
           !force_copy;
}

static scl_status build_forward(scl_plan *p)
{
    scl_runtime *rt = p->rt;
    scli_variant_query q = {&rt->dev, p->dtype, p->shape.head_dim, p->shape.block,
                            p->lut && p->lut->n_masks == 0, 0, 0};
    p->variant = scli_fwd_variant_choose(&q, p->cfg.variant, p->variant_reason, sizeof p->variant_reason);
    if (!p->variant) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "%s", p->variant_reason);
    if ((p->q_map || p->merge) && !p->variant->maps_rows) /* decomposed.c asks only where it can */
        return scli_fail(rt, SCL_ERR_UNSUPPORTED, "variant %s cannot read a component's rows through a map",
                        p->variant->name);
    bool kv_copy;
    scl_status st = scli_env_flag(rt, "SPARSECL_KV_COPY", &kv_copy);
    if (st != SCL_OK) return st;
    p->kv_in_place = reads_kv_in_place(p, kv_copy);
    q.mapped = p->variant->maps_rows && (p->q_map || p->merge || (p->kv_map && p->kv_in_place));
    if (p->cfg.fwd_explicit && p->cfg.variant && strcmp(p->variant->name, p->cfg.variant) != 0)
        return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT,
                        "explicit parameters of variant %s, which cannot run this: %s", p->cfg.variant,
                        p->variant_reason);
    st = build_variant(p, &q);
    const scli_fwd_variant *simt = scli_fwd_variant_find("simt");
    if (st != SCL_ERR_BUILD || p->cfg.fwd_explicit || p->variant == simt) return st;
    if (p->q_map || p->merge) return st; /* the portable kernel cannot serve a mapped component */
    /* The build is the trial of a parameter set the device query cannot vouch for (static local
     * memory beyond CL_DEVICE_LOCAL_MEM_SIZE): when it fails, the portable kernel runs instead. */
    char failed[200];
    snprintf(failed, sizeof failed, "%.199s", scl_last_error_message(rt));
    char *nl = strchr(failed, '\n');
    if (nl) *nl = '\0';
    release_forward(p);
    snprintf(p->variant_reason, sizeof p->variant_reason, "simt: %s did not build here (%s)",
             p->variant->name, failed);
    p->variant = simt;
    p->kv_in_place = reads_kv_in_place(p, kv_copy);
    q.mapped = 0;
    return build_variant(p, &q);
}

static scl_status alloc_scratch(scl_plan *p)
{
    const scl_shape *s = &p->shape;
    p->nkp = (s->seq_k + s->block - 1) / s->block * s->block;
    if (p->kv_in_place) return SCL_OK;
    size_t bytes = (size_t)s->batch * s->kv_heads * (size_t)p->nkp * s->head_dim * scli_dtype_size(p->dtype);
    /* Refused here, not left to the driver: drivers may accept buffers above their own
     * CL_DEVICE_MAX_MEM_ALLOC_SIZE and fail only when they are used (on the H200 the cli test's
     * 268M-token case was OOM-killed instead of refused: this check is the likely fix, unverified). */
    if (bytes > p->rt->dev.max_alloc_bytes || 2.0 * (double)bytes > (double)p->rt->dev.global_mem_bytes)
        return scli_fail(p->rt, SCL_ERR_OUT_OF_MEMORY,
                        "2 scratch buffers of %zu bytes for the padded K^T and V: above the device's maximum "
                        "allocation (%llu bytes) or its global memory (%llu bytes)",
                        bytes, (unsigned long long)p->rt->dev.max_alloc_bytes,
                        (unsigned long long)p->rt->dev.global_mem_bytes);
    cl_int err;
    p->kt = clCreateBuffer(p->rt->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err == CL_SUCCESS) p->vp = clCreateBuffer(p->rt->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        char ctx[160];
        snprintf(ctx, sizeof ctx, "2 scratch buffers of %zu bytes for the padded K^T and V", bytes);
        return scli_fail_cl(p->rt, "clCreateBuffer", err, ctx);
    }
    return SCL_OK;
}

/* SPARSECL_DECOMPOSE=auto|off|force (default auto). */
static scl_status decompose_mode_from_env(scl_runtime *rt, spc_decompose_mode *out)
{
    const char *e = getenv("SPARSECL_DECOMPOSE");
    *out = SPC_DECOMPOSE_AUTO;
    if (!e || !*e || strcmp(e, "auto") == 0) return SCL_OK;
    if (strcmp(e, "off") == 0) {
        *out = SPC_DECOMPOSE_OFF;
        return SCL_OK;
    }
    if (strcmp(e, "force") == 0) {
        *out = SPC_DECOMPOSE_FORCE;
        return SCL_OK;
    }
    return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "SPARSECL_DECOMPOSE='%s': expected auto, off or force", e);
}

static scl_status plan_check(scl_runtime *rt, scl_dtype dtype, scl_plan **out)
{
    if (!out) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_create: out is NULL");
    *out = NULL;
    if (!rt) return SCL_ERR_INVALID_ARGUMENT;
    if (!rt->ctx) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_create: runtime has no context");
    if (!scli_dtype_valid(dtype))
        return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_create: unknown dtype %d", (int)dtype);
    return SCL_OK;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) * 1e-6;
}

/* A new plan with its shape checked and normalised; NULL with the error recorded. */
static scl_plan *plan_new(scl_runtime *rt, const scl_shape *shape, scl_dtype dtype,
                          const scli_plan_config *cfg, scl_status *st)
{
    scl_plan *p = calloc(1, sizeof *p);
    if (!p) {
        *st = scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
        return NULL;
    }
    p->ops = &scli_lut_plan_ops;
    p->rt = rt;
    p->dtype = dtype;
    if (cfg) p->cfg = *cfg;
    char msg[512];
    if ((*st = scli_shape_normalize(shape, &p->shape, msg, sizeof msg)) != SCL_OK) {
        *st = scli_fail(rt, *st, "shape: %s", msg);
        free(p);
        return NULL;
    }
    scli_shape_strides(&p->shape, &p->qs, &p->ks);
    return p;
}

/* A block-LUT plan's device side: LUT buffers, kernels, scratch. */
static scl_status make_lut_plan(scl_plan *p)
{
    scl_status st = upload_lut(p);
    if (st == SCL_OK) st = build_forward(p);
    if (st == SCL_OK) st = alloc_scratch(p);
    return st;
}

scl_status scli_plan_create_config(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                                  scl_dtype dtype, const scli_plan_config *cfg, scl_plan **out)
{
    scl_status st = plan_check(rt, dtype, out);
    if (st != SCL_OK) return st;
    if (!pattern) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_create: pattern is NULL");
    spc_decompose_mode dmode = (spc_decompose_mode)cfg->decompose;
    if (cfg->decompose == SCLI_DECOMPOSE_ENV && (st = decompose_mode_from_env(rt, &dmode)) != SCL_OK)
        return st;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char block_why[sizeof((scl_plan *)0)->block_reason];
    scl_shape chosen;
    if (!shape) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_create: shape is NULL");
    chosen = *shape;
    if ((st = choose_block(rt, pattern, &chosen, dtype, cfg, dmode, block_why, sizeof block_why)) != SCL_OK)
        return st;
    scl_plan *p = plan_new(rt, &chosen, dtype, cfg, &st);
    if (!p) return st;
    memcpy(p->block_reason, block_why, sizeof block_why);
    spc_decomposition *d = NULL;
    spc_error err = {0};
    if ((st = compile_pattern(p, pattern)) == SCL_OK &&
        spc_decompose(p->bound, &p->stats, dmode, &d, &err) != 0)
        st = pattern_error(p, &err);
    if (st == SCL_OK && d->n > 0) { /* components of their own: the plain LUT only gave the statistics */
        spc_lut_free(p->lut);
        p->lut = NULL;
        st = scli_decomp_create(p, d);
    } else if (st == SCL_OK)
        st = make_lut_plan(p);
    spc_decomposition_free(d);
    if (st != SCL_OK) {
        scl_plan_destroy(p);
        return st;
    }
    p->create_ms = ms_since(&t0);
    *out = p;
    return SCL_OK;
}

scl_status scli_plan_create_from_lut(scl_runtime *rt, spc_lut *lut, const scl_shape *shape, scl_dtype dtype,
                                    const scli_plan_config *cfg, const scli_subplan_io *io, scl_plan **out)
{
    scl_status st = plan_check(rt, dtype, out);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    scl_plan *p = st == SCL_OK ? plan_new(rt, shape, dtype, cfg, &st) : NULL;
    if (!p) {
        spc_lut_free(lut);
        return st;
    }
    p->lut = lut;
    spc_lut_stats(p->lut, &p->stats);
    if (io) {
        p->qs = io->qs;
        p->ks = io->ks;
        p->kv_map = io->kv_map;
        p->kv_src = io->kv_src;
        p->kv_src_bytes = io->kv_src_bytes;
        p->q_map = io->q_map;
        p->q_src_bytes = io->q_src_bytes;
        p->lse_rows = io->lse_rows;
        p->merge = io->merge;
    }
    if ((st = make_lut_plan(p)) != SCL_OK) {
        scl_plan_destroy(p);
        return st;
    }
    p->create_ms = ms_since(&t0);
    *out = p;
    return SCL_OK;
}

static scli_plan_config default_config(void)
{
    return (scli_plan_config){.decompose = SCLI_DECOMPOSE_ENV};
}

scl_status scl_plan_create(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                           scl_dtype dtype, scl_plan **out)
{
    scli_plan_config cfg = default_config();
    return scli_plan_create_config(rt, pattern, shape, dtype, &cfg, out);
}

scl_status scli_plan_create_with_params(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                                       scl_dtype dtype, const scli_param_schema *k, const void *fwd_params,
                                       scl_plan **out)
{
    scli_plan_config cfg = default_config();
    cfg.fwd_explicit = fwd_params;
    cfg.variant = k ? k->variant : NULL;
    return scli_plan_create_config(rt, pattern, shape, dtype, &cfg, out);
}

void scl_plan_options_init(scl_plan_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

scl_status scl_plan_create_with_options(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                                        scl_dtype dtype, const scl_plan_options *o, scl_plan **out)
{
    scli_plan_config cfg = default_config();
    if (!o) return scli_plan_create_config(rt, pattern, shape, dtype, &cfg, out);
    if (o->size < sizeof *o)
        return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT,
                        "scl_plan_create_with_options: options.size is %zu (call scl_plan_options_init)",
                        o->size);
    static const int modes[] = {SCLI_DECOMPOSE_ENV, SPC_DECOMPOSE_AUTO, SPC_DECOMPOSE_OFF,
                                SPC_DECOMPOSE_FORCE};
    if ((int)o->decompose < 0 || (int)o->decompose > 3)
        return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT,
                        "scl_plan_create_with_options: decompose mode %d unknown", (int)o->decompose);
    cfg.decompose = modes[o->decompose];
    cfg.variant = o->forward_variant;
    cfg.fwd_params = o->forward_params;
    cfg.bwd_params = o->backward_params;
    cfg.ignore_tuning = o->ignore_tuning != 0;
    scl_shape s;
    if (!shape) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_create: shape is NULL");
    s = *shape;
    if (o->block) s.block = o->block;
    return scli_plan_create_config(rt, pattern, &s, dtype, &cfg, out);
}

void scl_plan_destroy(scl_plan *p)
{
    if (!p) return;
    cl_mem bufs[] = {p->row_ptr, p->col_idx, p->row_mask, p->masks, p->head_layout, p->kt, p->vp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) clReleaseMemObject(bufs[i]);
    release_forward(p);
    if (p->last_fwd) clReleaseEvent(p->last_fwd);
    scli_decomp_free(p->dec);
    scli_bwd_state_free(p->bwd);
    spc_lut_free(p->lut);
    spc_bound_free(p->bound);
    free(p);
}

void scl_plan_tensor_sizes(const scl_plan *p, scl_plan_sizes *out)
{
    if (!p || !out) return;
    size_t e = scli_dtype_size(p->dtype);
    out->q = out->o = (size_t)scli_shape_q_elems(&p->shape) * e;
    out->k = out->v = (size_t)scli_shape_kv_elems(&p->shape) * e;
    out->lse = (size_t)p->shape.batch * p->shape.heads * (size_t)p->shape.seq_q * sizeof(float);
}

void scl_plan_get_stats(const scl_plan *p, scl_plan_stats *out)
{
    if (!p || !out) return;
    out->allowed_pairs = (double)p->stats.allowed * p->shape.batch;
    out->density = p->stats.density;
    out->block_density = p->stats.block_density;
    out->lut_bytes = p->stats.lut_bytes;
    out->create_ms = p->create_ms;
    out->kernels_from_cache = p->from_cache;
    out->components = p->ops->components(p);
    out->computed_pairs = p->ops->computed_pairs(p);
}

void scl_plan_get_memory(const scl_plan *p, scl_plan_memory *out)
{
    if (!p || !out) return;
    out->forward_bytes = p->ops->device_bytes(p);
    out->backward_bytes = p->ops->backward_bytes(p);
}

const char *scl_plan_kernel_options(const scl_plan *p)
{
    return p ? p->fwd_options : "";
}

const char *scl_plan_kernel_source(const scl_plan *p)
{
    return p ? p->fwd_source : "";
}

const char *scl_plan_variant(const scl_plan *p)
{
    return p && p->variant ? p->variant->name : "";
}

scl_runtime *scl_plan_runtime(const scl_plan *p)
{
    return p ? p->rt : NULL;
}

int scl_plan_kernel_tuned(const scl_plan *p)
{
    return p && p->fwd_tuned;
}

const char *scl_plan_variant_reason(const scl_plan *p)
{
    return p ? p->variant_reason : "";
}

int scl_plan_block(const scl_plan *p)
{
    return p ? p->shape.block : 0;
}

const char *scl_plan_block_reason(const scl_plan *p)
{
    return p ? p->block_reason : "";
}
