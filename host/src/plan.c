/* Plans: pattern + shape + device -> LUT buffers + compiled kernels; forward execution. */
#include "plan_internal.h"

#include "decomposed.h"
#include "tuning_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t elem_size(scl_dtype t)
{
    return t == SCL_F16 ? 2 : 4;
}

scl_status scl_plan_buffer(scl_plan *p, cl_mem_flags flags, size_t bytes, const void *data, cl_mem *out,
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
        return scl_fail_cl(p->rt, "clCreateBuffer", err, ctx);
    }
    return SCL_OK;
}

static scl_status upload(scl_plan *p, const void *data, size_t count, size_t elem, cl_mem *out, const char *what)
{
    return scl_plan_buffer(p, CL_MEM_READ_ONLY, count * elem, data, out, what);
}

static scl_status pattern_error(scl_plan *p, const spc_error *err)
{
    if (err->column > 0)
        return scl_fail(p->rt, SCL_ERR_PATTERN, "pattern column %d: %s", err->column, err->message);
    return scl_fail(p->rt, SCL_ERR_PATTERN, "pattern: %s", err->message);
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

static scl_status upload_lut(scl_plan *p)
{
    const spc_lut *l = p->lut;
    scl_status st;
    if ((st = upload(p, l->row_ptr, (size_t)l->n_layouts * (l->nb_q + 1), 4, &p->row_ptr, "row_ptr")) ||
        (st = upload(p, l->col_idx, (size_t)l->nnz, 4, &p->col_idx, "col_idx")) ||
        (st = upload(p, l->row_mask, (size_t)l->nnz, 4, &p->row_mask, "row_mask")) ||
        (st = upload(p, l->masks, (size_t)l->n_masks * l->mask_words, 4, &p->masks, "masks")) ||
        (st = upload(p, l->head_layout, (size_t)l->heads, 4, &p->head_layout, "head_layout")))
        return st;
    return SCL_OK;
}

scl_status scl_choose_params(scl_runtime *rt, const scl_param_kind *kind, const scl_param_context *pc,
                             scl_dtype dtype, const void *explicit_params, void *out, char *source,
                             size_t len)
{
    char reason[256];
    if (explicit_params) {
        if (!kind->check(explicit_params, pc, reason, sizeof reason))
            return scl_fail(rt, SCL_ERR_INVALID_ARGUMENT, "%s parameters rejected: %s", kind->what, reason);
        memcpy(out, explicit_params, kind->size);
        snprintf(source, len, "explicit parameters");
        return SCL_OK;
    }
    if (!kind->lookup(&rt->dev, pc, dtype, out, source, len)) {
        if (!kind->defaults(&rt->dev, pc, out))
            return scl_fail(rt, SCL_ERR_UNSUPPORTED, "no valid %s-kernel parameters for d=%d, block=%d on %s",
                            kind->what, pc->head_dim, pc->block, rt->dev.name);
        snprintf(source, len, "built-in %s defaults", rt->dev.type & CL_DEVICE_TYPE_GPU ? "GPU" : "CPU");
    }
    const char *env = getenv(kind->env);
    if (env && *env) {
        if (!kind->override(out, env, reason, sizeof reason))
            return scl_fail(rt, SCL_ERR_INVALID_ARGUMENT, "%s: %s", kind->env, reason);
        if (!kind->check(out, pc, reason, sizeof reason))
            return scl_fail(rt, SCL_ERR_INVALID_ARGUMENT, "%s='%s' rejected: %s", kind->env, env, reason);
        size_t n = strlen(source);
        snprintf(source + n, len - n, " + %s=%.400s", kind->env, env);
    }
    return SCL_OK;
}

/* The forward kernel's parameter kind, in the types scl_choose_params works with. */
static bool fwd_check(const void *p, const scl_param_context *c, char *r, size_t n)
{
    return scl_fwd_params_check(p, c, r, n);
}
static bool fwd_defaults(const scl_device_info *d, const scl_param_context *c, void *out)
{
    return scl_fwd_params_default(d, c, out);
}
static bool fwd_lookup(const scl_device_info *d, const scl_param_context *c, scl_dtype t, void *out, char *s,
                       size_t n)
{
    return scl_tuning_lookup_fwd(d, c, t, out, s, n);
}
static bool fwd_override(void *p, const char *text, char *m, size_t n)
{
    return scl_fwd_params_override(p, text, m, n);
}
static const scl_param_kind fwd_kind = {"forward",   "SPARSECL_FWD_PARAMS", sizeof(scl_fwd_params),
                                        fwd_check,   fwd_defaults,          fwd_lookup,
                                        fwd_override};

static scl_status build_forward(scl_plan *p, const scl_fwd_params *explicit_params)
{
    scl_runtime *rt = p->rt;
    scl_param_context pc;
    scl_param_context_init(&pc, &rt->dev, p->shape.head_dim, p->shape.block);
    /* Explicit (the autotuner's candidates), else a tuning database entry, else the built-in
     * defaults; then single-parameter overrides from SPARSECL_FWD_PARAMS for experiments. */
    scl_status st = scl_choose_params(rt, &fwd_kind, &pc, p->dtype, explicit_params, &p->fwd, p->fwd_source,
                                      sizeof p->fwd_source);
    if (st != SCL_OK) return st;
    scl_fwd_params_options(&p->fwd, &pc, p->dtype, p->fwd_options, sizeof p->fwd_options);
    st = scl_build_program(rt, "attn_fwd.cl", p->fwd_options, &p->fwd_program, &p->from_cache);
    if (st != SCL_OK) return st;
    cl_int err;
    p->fwd_kernel = clCreateKernel(p->fwd_program, "attn_fwd", &err);
    if (err != CL_SUCCESS) return scl_fail_cl(rt, "clCreateKernel", err, "attn_fwd");
    p->prep_kernel = clCreateKernel(p->fwd_program, "attn_prep_kv", &err);
    if (err != CL_SUCCESS) return scl_fail_cl(rt, "clCreateKernel", err, "attn_prep_kv");
    return SCL_OK;
}

static scl_status alloc_scratch(scl_plan *p)
{
    const scl_shape *s = &p->shape;
    p->nkp = (s->seq_k + s->block - 1) / s->block * s->block;
    size_t bytes = (size_t)s->batch * s->kv_heads * (size_t)p->nkp * s->head_dim * elem_size(p->dtype);
    cl_int err;
    p->kt = clCreateBuffer(p->rt->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err == CL_SUCCESS) p->vp = clCreateBuffer(p->rt->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        char ctx[160];
        snprintf(ctx, sizeof ctx, "2 scratch buffers of %zu bytes for the padded K^T and V", bytes);
        return scl_fail_cl(p->rt, "clCreateBuffer", err, ctx);
    }
    return SCL_OK;
}

scl_status scl_plan_create(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                           scl_dtype dtype, scl_plan **out)
{
    return scl_plan_create_with_params(rt, pattern, shape, dtype, NULL, out);
}

scl_status scl_plan_create_with_params(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                                       scl_dtype dtype, const scl_fwd_params *params, scl_plan **out)
{
    return scl_plan_create_mode(rt, pattern, shape, dtype, params, SCL_DECOMPOSE_ENV, out);
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
    return scl_fail(rt, SCL_ERR_INVALID_ARGUMENT, "SPARSECL_DECOMPOSE='%s': expected auto, off or force", e);
}

static scl_plan *plan_new(scl_runtime *rt, scl_dtype dtype)
{
    scl_plan *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->rt = rt;
    p->dtype = dtype;
    return p;
}

static scl_status plan_check(scl_runtime *rt, scl_dtype dtype, scl_plan **out)
{
    if (!out) return scl_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_create: out is NULL");
    *out = NULL;
    if (!rt) return SCL_ERR_INVALID_ARGUMENT;
    if (!rt->ctx) return scl_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_create: runtime has no context");
    if (dtype != SCL_F32 && dtype != SCL_F16)
        return scl_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_create: unknown dtype %d", (int)dtype);
    return SCL_OK;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) * 1e-6;
}

scl_status scl_plan_create_mode(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                                scl_dtype dtype, const scl_fwd_params *params, int mode, scl_plan **out)
{
    scl_status st = plan_check(rt, dtype, out);
    if (st != SCL_OK) return st;
    if (!pattern) return scl_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_create: pattern is NULL");
    spc_decompose_mode dmode = (spc_decompose_mode)mode;
    if (mode == SCL_DECOMPOSE_ENV && (st = decompose_mode_from_env(rt, &dmode)) != SCL_OK) return st;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    scl_plan *p = plan_new(rt, dtype);
    if (!p) return scl_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    char msg[512];
    st = scl_shape_normalize(shape, &p->shape, msg, sizeof msg);
    if (st != SCL_OK) {
        free(p);
        return scl_fail(rt, st, "shape: %s", msg);
    }
    scl_shape_strides(&p->shape, &p->qs, &p->ks);
    spc_decomposition *d = NULL;
    spc_error err = {0};
    if ((st = compile_pattern(p, pattern)) == SCL_OK &&
        spc_decompose(p->bound, &p->stats, dmode, &d, &err) != 0)
        st = pattern_error(p, &err);
    if (st == SCL_OK && d->n > 0) { /* components of their own: the plain LUT only gave the statistics */
        spc_lut_free(p->lut);
        p->lut = NULL;
        st = scl_decomp_create(p, d, params);
    }
    else if (st == SCL_OK)
        st = upload_lut(p);
    if (st == SCL_OK && !p->dec && (st = build_forward(p, params)) == SCL_OK) st = alloc_scratch(p);
    spc_decomposition_free(d);
    if (st != SCL_OK) {
        scl_plan_destroy(p);
        return st;
    }
    p->create_ms = ms_since(&t0);
    *out = p;
    return SCL_OK;
}

scl_status scl_plan_create_from_lut(scl_runtime *rt, spc_lut *lut, const scl_shape *shape, scl_dtype dtype,
                                    const scl_fwd_params *params, scl_plan **out)
{
    scl_status st = plan_check(rt, dtype, out);
    if (st != SCL_OK) {
        spc_lut_free(lut);
        return st;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    scl_plan *p = plan_new(rt, dtype);
    if (!p) {
        spc_lut_free(lut);
        return scl_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    p->lut = lut;
    char msg[512];
    if ((st = scl_shape_normalize(shape, &p->shape, msg, sizeof msg)) != SCL_OK)
        st = scl_fail(rt, st, "shape: %s", msg);
    if (st == SCL_OK) {
        scl_shape_strides(&p->shape, &p->qs, &p->ks);
        spc_lut_stats(p->lut, &p->stats);
        if ((st = upload_lut(p)) == SCL_OK && (st = build_forward(p, params)) == SCL_OK) st = alloc_scratch(p);
    }
    if (st != SCL_OK) {
        scl_plan_destroy(p);
        return st;
    }
    p->create_ms = ms_since(&t0);
    *out = p;
    return SCL_OK;
}

void scl_plan_destroy(scl_plan *p)
{
    if (!p) return;
    cl_mem bufs[] = {p->row_ptr, p->col_idx, p->row_mask, p->masks, p->head_layout, p->kt, p->vp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) clReleaseMemObject(bufs[i]);
    if (p->fwd_kernel) clReleaseKernel(p->fwd_kernel);
    if (p->prep_kernel) clReleaseKernel(p->prep_kernel);
    if (p->last_fwd) clReleaseEvent(p->last_fwd);
    scl_decomp_free(p->dec);
    scl_bwd_state_free(p->bwd);
    if (p->fwd_program) clReleaseProgram(p->fwd_program);
    spc_lut_free(p->lut);
    spc_bound_free(p->bound);
    free(p);
}

void scl_plan_tensor_sizes(const scl_plan *p, scl_plan_sizes *out)
{
    if (!p || !out) return;
    size_t e = elem_size(p->dtype);
    out->q = out->o = (size_t)scl_shape_q_elems(&p->shape) * e;
    out->k = out->v = (size_t)scl_shape_kv_elems(&p->shape) * e;
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
    out->components = p->dec ? scl_decomp_count(p) : 0;
    out->computed_pairs = p->dec ? scl_decomp_computed_pairs(p)
                                 : (double)(p->stats.full_blocks + p->stats.partial_blocks) * p->shape.block *
                                       p->shape.block * p->shape.batch;
}

const char *scl_plan_kernel_options(const scl_plan *p)
{
    return p ? p->fwd_options : "";
}

const char *scl_plan_kernel_source(const scl_plan *p)
{
    return p ? p->fwd_source : "";
}

size_t scl_plan_device_bytes(const scl_plan *p)
{
    if (p->dec) return scl_decomp_device_bytes(p);
    cl_mem bufs[] = {p->row_ptr, p->col_idx, p->row_mask, p->masks, p->head_layout, p->kt, p->vp};
    return scl_mem_bytes(bufs, sizeof bufs / sizeof bufs[0]);
}

size_t scl_mem_bytes(const cl_mem *m, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t s = 0;
        if (m[i] && clGetMemObjectInfo(m[i], CL_MEM_SIZE, sizeof s, &s, NULL) == CL_SUCCESS) total += s;
    }
    return total;
}

scl_status scl_plan_check_tensors(scl_plan *p, const cl_mem t[9], bool backward)
{
    static const char *names[9] = {"q", "k", "v", "o", "lse", "dout", "dq", "dk", "dv"};
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(p, &sz);
    if (!backward && p->kv_map) sz.k = sz.v = p->kv_src_bytes; /* the forward gathers from these */
    const size_t need[9] = {sz.q, sz.k, sz.v, sz.o, sz.lse, sz.o, sz.q, sz.k, sz.v};
    scl_status st = SCL_OK;
    for (int i = 0; i < (backward ? 9 : 5) && st == SCL_OK; i++) /* forward: lse is optional */
        st = scl_plan_check_buffer(p, t[i], need[i], names[i], !backward && i == 4);
    return st;
}

scl_status scl_plan_check_buffer(scl_plan *p, cl_mem m, size_t need, const char *name, bool optional)
{
    if (!m) {
        if (optional) return SCL_OK;
        return scl_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "tensor %s is NULL", name);
    }
    size_t size = 0;
    cl_int err = clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS) return scl_fail_cl(p->rt, "clGetMemObjectInfo", err, name);
    if (size < need)
        return scl_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "tensor %s has %zu bytes, the shape needs %zu", name,
                        size, need);
    return SCL_OK;
}

static double event_ns(cl_event e, cl_profiling_info what)
{
    cl_ulong t = 0;
    clGetEventProfilingInfo(e, what, sizeof t, &t, NULL);
    return (double)t;
}

void scl_events_push(scl_events *all, cl_event e, const char *what)
{
    if (!all || !e || all->n >= (int)(sizeof all->e / sizeof all->e[0])) return;
    clRetainEvent(e);
    all->what[all->n] = what;
    all->e[all->n++] = e;
}

void scl_events_print(const scl_events *all, FILE *f)
{
    double span = all->n ? scl_events_span_ms(all->e, all->n) : 0;
    for (int i = 0; i < all->n; i++) {
        double ms = event_ns(all->e[i], CL_PROFILING_COMMAND_END) * 1e-6 -
                    event_ns(all->e[i], CL_PROFILING_COMMAND_START) * 1e-6;
        fprintf(f, "    %2d %-14s %9.3f ms  %5.1f%%\n", i + 1, all->what[i], ms, span > 0 ? 100 * ms / span : 0);
    }
    fprintf(f, "       %-14s %9.3f ms  (first start to last end)\n", "span", span);
}

void scl_events_release(scl_events *all)
{
    for (int i = 0; i < all->n; i++)
        clReleaseEvent(all->e[i]);
    all->n = 0;
}

/* Enqueues the K/V copy and the fused kernel (or a decomposed plan's components); `all`
 * (internal, may be NULL) collects every command's event for timing. */
scl_status scl_plan_forward_events(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                   cl_uint num_wait, const cl_event *wait_list, scl_events *all, cl_event *event)
{
    if (!p) return SCL_ERR_INVALID_ARGUMENT;
    if (p->dec) return scl_decomp_forward(p, q, k, v, o, lse, num_wait, wait_list, all, event);
    if (num_wait > 0 && !wait_list)
        return scl_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "num_wait is %u but wait_list is NULL", num_wait);
    scl_status st = scl_plan_check_tensors(p, (cl_mem[9]){q, k, v, o, lse}, false);
    if (st != SCL_OK) return st;
    const scl_shape *s = &p->shape;
    cl_int n_q = (cl_int)s->seq_q, n_k = (cl_int)s->seq_k, nkp = (cl_int)p->nkp, heads = s->heads,
           kv_heads = s->kv_heads, group = s->heads / s->kv_heads;
    cl_int nb_q = p->lut->nb_q, mask_words = p->lut->mask_words;
    cl_float scale = s->scale;
    cl_int err = CL_SUCCESS;

    /* 1. K^T and V into the padded scratch buffers. */
    cl_kernel kp = p->prep_kernel;
    cl_mem pargs[] = {k, v, p->kt, p->vp, p->kv_map};
    cl_uint a = 0;
    for (; a < 5; a++)
        err |= clSetKernelArg(kp, a, sizeof(cl_mem), &pargs[a]);
    err |= clSetKernelArg(kp, a++, sizeof n_k, &n_k);
    err |= clSetKernelArg(kp, a++, sizeof nkp, &nkp);
    err |= clSetKernelArg(kp, a++, sizeof kv_heads, &kv_heads);
    const scl_strides *kvs = p->kv_map ? &p->kv_src : &p->ks;
    cl_long kstr[3] = {kvs->b, kvs->h, kvs->n};
    for (int i = 0; i < 3; i++)
        err |= clSetKernelArg(kp, a++, sizeof(cl_long), &kstr[i]);
    if (err != CL_SUCCESS) return scl_fail(p->rt, SCL_ERR_OPENCL, "clSetKernelArg failed for attn_prep_kv");
    /* Work-item mapping as in kernels/attn_fwd.cl: (column, run of 64 keys), or 32 x 32 tiles of
     * (column, key) on 32 x 2 work-items. */
    size_t bhk = (size_t)s->batch * s->kv_heads;
    size_t pg_col[3] = {(size_t)s->head_dim, (size_t)(p->nkp + 63) / 64, bhk};
    size_t pg_row[3] = {((size_t)s->head_dim + 31) / 32 * 32, (size_t)(p->nkp + 31) / 32 * 2, bhk},
           pl_row[3] = {32, 2, 1};
    /* The copy waits for the caller's events and for this plan's previous forward, which may still
     * be reading the scratch buffers on an out-of-order queue. */
    cl_event waits[65];
    cl_uint n_waits = 0;
    for (cl_uint i = 0; i < num_wait && n_waits < 64; i++)
        waits[n_waits++] = wait_list[i];
    if (num_wait > 64) return scl_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "wait list longer than 64 events");
    if (p->last_fwd) waits[n_waits++] = p->last_fwd;
    cl_event prep = NULL;
    err = p->fwd.prep_by_column ? clEnqueueNDRangeKernel(p->rt->queue, kp, 3, NULL, pg_col, NULL, n_waits,
                                                         n_waits ? waits : NULL, &prep)
                                : clEnqueueNDRangeKernel(p->rt->queue, kp, 3, NULL, pg_row, pl_row, n_waits,
                                                         n_waits ? waits : NULL, &prep);
    if (err != CL_SUCCESS) return scl_fail_cl(p->rt, "clEnqueueNDRangeKernel", err, "attn_prep_kv");

    /* 2. The fused attention, after the copy (also on out-of-order queues). */
    cl_kernel kr = p->fwd_kernel;
    cl_mem args[] = {q, p->kt, p->vp, o, lse, p->row_ptr, p->col_idx, p->row_mask, p->masks, p->head_layout};
    a = 0;
    for (; a < sizeof args / sizeof args[0]; a++)
        err |= clSetKernelArg(kr, a, sizeof(cl_mem), &args[a]);
    err |= clSetKernelArg(kr, a++, sizeof n_q, &n_q);
    err |= clSetKernelArg(kr, a++, sizeof n_k, &n_k);
    err |= clSetKernelArg(kr, a++, sizeof nkp, &nkp);
    err |= clSetKernelArg(kr, a++, sizeof heads, &heads);
    err |= clSetKernelArg(kr, a++, sizeof group, &group);
    cl_long qstr[3] = {p->qs.b, p->qs.h, p->qs.n};
    for (int i = 0; i < 3; i++)
        err |= clSetKernelArg(kr, a++, sizeof(cl_long), &qstr[i]);
    err |= clSetKernelArg(kr, a++, sizeof nb_q, &nb_q);
    err |= clSetKernelArg(kr, a++, sizeof mask_words, &mask_words);
    err |= clSetKernelArg(kr, a++, sizeof scale, &scale);
    if (err != CL_SUCCESS) {
        clReleaseEvent(prep);
        return scl_fail(p->rt, SCL_ERR_OPENCL, "clSetKernelArg failed for attn_fwd");
    }
    size_t wg = scl_fwd_work_group_size(&p->fwd);
    size_t tiles = (size_t)((s->seq_q + p->fwd.bq - 1) / p->fwd.bq);
    size_t gws[2] = {tiles * wg, (size_t)s->batch * s->heads}, lws[2] = {wg, 1};
    cl_event done = NULL;
    err = clEnqueueNDRangeKernel(p->rt->queue, kr, 2, NULL, gws, lws, 1, &prep, &done);
    if (err != CL_SUCCESS) {
        clReleaseEvent(prep);
        return scl_fail_cl(p->rt, "clEnqueueNDRangeKernel", err, "attn_fwd");
    }
    scl_events_push(all, prep, "attn_prep_kv");
    scl_events_push(all, done, "attn_fwd");
    clReleaseEvent(prep);
    if (p->last_fwd) clReleaseEvent(p->last_fwd);
    p->last_fwd = done; /* the plan keeps one reference */
    if (event) {
        clRetainEvent(done);
        *event = done;
    }
    return SCL_OK;
}

scl_status scl_plan_forward(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_uint num_wait,
                            const cl_event *wait_list, cl_event *event)
{
    return scl_plan_forward_events(p, q, k, v, o, lse, num_wait, wait_list, NULL, event);
}


double scl_events_span_ms(const cl_event *ev, int n)
{
    double t0 = event_ns(ev[0], CL_PROFILING_COMMAND_START), t1 = event_ns(ev[0], CL_PROFILING_COMMAND_END);
    for (int i = 1; i < n; i++) {
        double s0 = event_ns(ev[i], CL_PROFILING_COMMAND_START),
               s1 = event_ns(ev[i], CL_PROFILING_COMMAND_END);
        if (s0 < t0) t0 = s0;
        if (s1 > t1) t1 = s1;
    }
    return (t1 - t0) * 1e-6;
}

scl_status scl_plan_time_forward(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, double *ms)
{
    if (!ms) return scl_fail(p ? p->rt : NULL, SCL_ERR_INVALID_ARGUMENT, "scl_plan_time_forward: ms is NULL");
    scl_events all = {.n = 0};
    scl_status st = scl_plan_forward_events(p, q, k, v, o, lse, 0, NULL, &all, NULL);
    if (st != SCL_OK) {
        scl_events_release(&all);
        return st;
    }
    cl_int err = clWaitForEvents(all.n, all.e);
    if (err != CL_SUCCESS)
        st = scl_fail_cl(p->rt, "clWaitForEvents", err, "forward pass failed on the device");
    else
        *ms = scl_events_span_ms(all.e, all.n);
    scl_events_release(&all);
    return st;
}

scl_status scl_plan_forward_host(scl_plan *p, const void *q, const void *k, const void *v, void *o,
                                 float *lse)
{
    if (!p) return SCL_ERR_INVALID_ARGUMENT;
    if (!q || !k || !v || !o)
        return scl_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_forward_host: NULL array");
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(p, &sz);
    cl_context ctx = p->rt->ctx;
    cl_int e[5] = {0};
    cl_mem bq = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sz.q, (void *)q, &e[0]);
    cl_mem bk = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sz.k, (void *)k, &e[1]);
    cl_mem bv = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sz.v, (void *)v, &e[2]);
    cl_mem bo = clCreateBuffer(ctx, CL_MEM_WRITE_ONLY, sz.o, NULL, &e[3]);
    cl_mem bl = lse ? clCreateBuffer(ctx, CL_MEM_WRITE_ONLY, sz.lse, NULL, &e[4]) : NULL;
    scl_status st = SCL_OK;
    for (int i = 0; i < 5 && st == SCL_OK; i++)
        if (e[i] != CL_SUCCESS) st = scl_fail_cl(p->rt, "clCreateBuffer", e[i], "host-array convenience");
    cl_event done = NULL;
    if (st == SCL_OK) st = scl_plan_forward(p, bq, bk, bv, bo, bl, 0, NULL, &done);
    if (st == SCL_OK) { /* reads wait for the kernel: the queue may be out of order */
        cl_int err = clEnqueueReadBuffer(p->rt->queue, bo, CL_TRUE, 0, sz.o, o, 1, &done, NULL);
        if (err == CL_SUCCESS && lse)
            err = clEnqueueReadBuffer(p->rt->queue, bl, CL_TRUE, 0, sz.lse, lse, 1, &done, NULL);
        if (err != CL_SUCCESS) st = scl_fail_cl(p->rt, "clEnqueueReadBuffer", err, "reading results");
    }
    if (done) clReleaseEvent(done);
    cl_mem all[] = {bq, bk, bv, bo, bl};
    for (int i = 0; i < 5; i++)
        if (all[i]) clReleaseMemObject(all[i]);
    return st;
}
