/* Block-LUT plans at run time: tensor checks, the K/V copy and the fused forward kernel of the
 * plan's variant, events and timing, the host-array convenience; the plan-kind operations. */
#include "plan_internal.h"

#include "backward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t scli_mem_bytes(const cl_mem *m, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t s = 0;
        if (m[i] && clGetMemObjectInfo(m[i], CL_MEM_SIZE, sizeof s, &s, NULL) == CL_SUCCESS) total += s;
    }
    return total;
}

scl_status scli_plan_check_tensors(scl_plan *p, const cl_mem t[9], bool backward)
{
    static const char *names[9] = {"q", "k", "v", "o", "lse", "dout", "dq", "dk", "dv"};
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(p, &sz);
    if (!backward && p->kv_map) sz.k = sz.v = p->kv_src_bytes; /* the forward gathers from these */
    if (!backward && p->q_map) sz.q = sz.o = p->q_src_bytes;  /* ... and reads and writes these */
    if (!backward && p->lse_rows)
        sz.lse = (size_t)p->shape.batch * p->shape.heads * (size_t)p->lse_rows * sizeof(float);
    const size_t need[9] = {sz.q, sz.k, sz.v, sz.o, sz.lse, sz.o, sz.q, sz.k, sz.v};
    scl_status st = SCL_OK;
    for (int i = 0; i < (backward ? 9 : 5) && st == SCL_OK; i++) /* forward: lse is optional unless merged into */
        st = scli_plan_check_buffer(p, t[i], need[i], names[i], !backward && i == 4 && !p->merge);
    return st;
}

scl_status scli_plan_check_buffer(scl_plan *p, cl_mem m, size_t need, const char *name, bool optional)
{
    if (!m) {
        if (optional) return SCL_OK;
        return scli_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "tensor %s is NULL", name);
    }
    size_t size = 0;
    cl_int err = clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS) return scli_fail_cl(p->rt, "clGetMemObjectInfo", err, name);
    if (size < need)
        return scli_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "tensor %s has %zu bytes, the shape needs %zu", name,
                        size, need);
    return SCL_OK;
}

static double event_ns(cl_event e, cl_profiling_info what)
{
    cl_ulong t = 0;
    clGetEventProfilingInfo(e, what, sizeof t, &t, NULL);
    return (double)t;
}

void scli_events_push(scli_events *all, cl_event e, const char *what)
{
    if (!all || !e || all->n >= (int)(sizeof all->e / sizeof all->e[0])) return;
    clRetainEvent(e);
    all->what[all->n] = what;
    all->e[all->n++] = e;
}

void scli_events_print(const scli_events *all, FILE *f)
{
    double span = all->n ? scli_events_span_ms(all->e, all->n) : 0;
    for (int i = 0; i < all->n; i++) {
        double ms = event_ns(all->e[i], CL_PROFILING_COMMAND_END) * 1e-6 -
                    event_ns(all->e[i], CL_PROFILING_COMMAND_START) * 1e-6;
        fprintf(f, "    %2d %-14s %9.3f ms  %5.1f%%\n", i + 1, all->what[i], ms,
                span > 0 ? 100 * ms / span : 0);
    }
    fprintf(f, "       %-14s %9.3f ms  (first start to last end)\n", "span", span);
}

void scli_events_release(scli_events *all)
{
    for (int i = 0; i < all->n; i++)
        clReleaseEvent(all->e[i]);
    all->n = 0;
}

/* Enqueues the K/V copy and the fused kernel; `all` (may be NULL) collects every command's event. */
static scl_status lut_forward(scl_plan *p, const cl_mem t[5], cl_uint num_wait, const cl_event *wait_list,
                              scli_events *all, cl_event *event)
{
    cl_mem q = t[0], k = t[1], v = t[2], o = t[3], lse = t[4];
    scl_status st = scli_plan_check_tensors(p, (cl_mem[9]){q, k, v, o, lse}, false);
    if (st != SCL_OK) return st;
    const scl_shape *s = &p->shape;
    cl_int n_q = (cl_int)s->seq_q, n_k = (cl_int)s->seq_k, nkp = (cl_int)p->nkp, heads = s->heads,
           kv_heads = s->kv_heads, group = s->heads / s->kv_heads;
    cl_int nb_q = p->lut->nb_q, mask_words = p->lut->mask_words;
    cl_float scale = s->scale;
    cl_int err = CL_SUCCESS;

    /* The commands wait for the caller's events and for this plan's previous forward, which may
     * still be reading the scratch buffers on an out-of-order queue. */
    cl_event waits[65];
    cl_uint n_waits = 0;
    if (num_wait > 64) return scli_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "wait list longer than 64 events");
    for (cl_uint i = 0; i < num_wait; i++)
        waits[n_waits++] = wait_list[i];
    if (p->last_fwd) waits[n_waits++] = p->last_fwd;

    /* 1. K and V into the padded scratch buffers, unless the kernel reads them in place. */
    cl_event prep = NULL;
    if (!p->kv_in_place) {
        cl_kernel kp = p->prep_kernel;
        cl_mem pargs[] = {k, v, p->kt, p->vp, p->kv_map};
        cl_uint a = 0;
        for (; a < 5; a++)
            err |= clSetKernelArg(kp, a, sizeof(cl_mem), &pargs[a]);
        err |= clSetKernelArg(kp, a++, sizeof n_k, &n_k);
        err |= clSetKernelArg(kp, a++, sizeof nkp, &nkp);
        err |= clSetKernelArg(kp, a++, sizeof kv_heads, &kv_heads);
        const scli_strides *kvs = p->kv_map ? &p->kv_src : &p->ks;
        cl_long kstr[3] = {kvs->b, kvs->h, kvs->n};
        for (int i = 0; i < 3; i++)
            err |= clSetKernelArg(kp, a++, sizeof(cl_long), &kstr[i]);
        if (err != CL_SUCCESS) return scli_fail(p->rt, SCL_ERR_OPENCL, "clSetKernelArg failed for attn_prep_kv");
        /* Work-item mapping as in kernels/attn_fwd.cl (every variant's copy has it): (column, run of
         * 64 keys), or 32 x 32 tiles of (column, key) on 32 x 2 work-items. */
        size_t bhk = (size_t)s->batch * s->kv_heads;
        size_t pg_col[3] = {(size_t)s->head_dim, (size_t)(p->nkp + 63) / 64, bhk};
        size_t pg_row[3] = {((size_t)s->head_dim + 31) / 32 * 32, (size_t)(p->nkp + 31) / 32 * 2, bhk},
               pl_row[3] = {32, 2, 1};
        err = p->variant->prep_by_column(&p->fwd)
                  ? clEnqueueNDRangeKernel(p->rt->queue, kp, 3, NULL, pg_col, NULL, n_waits,
                                           n_waits ? waits : NULL, &prep)
                  : clEnqueueNDRangeKernel(p->rt->queue, kp, 3, NULL, pg_row, pl_row, n_waits,
                                           n_waits ? waits : NULL, &prep);
        if (err != CL_SUCCESS) return scli_fail_cl(p->rt, "clEnqueueNDRangeKernel", err, "attn_prep_kv");
        waits[0] = prep, n_waits = 1;
    }

    /* 2. The fused attention, after the copy (also on out-of-order queues). */
    cl_kernel kr = p->fwd_kernel;
    cl_mem kt = p->kv_in_place ? k : p->kt, vp = p->kv_in_place ? v : p->vp;
    cl_mem args[] = {q, kt, vp, o, lse, p->row_ptr, p->col_idx, p->row_mask, p->masks, p->head_layout};
    cl_uint a = 0;
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
    if (p->variant->reads_kv_in_place) { /* K/V strides: the caller's, or the padded copy's */
        const cl_long d = s->head_dim;
        const scli_strides *kvs = p->kv_map ? &p->kv_src : &p->ks;
        cl_long kvstr[3] = {kvs->b, kvs->h, kvs->n};
        if (!p->kv_in_place) kvstr[0] = (cl_long)kv_heads * nkp * d, kvstr[1] = (cl_long)nkp * d, kvstr[2] = d;
        for (int i = 0; i < 3; i++)
            err |= clSetKernelArg(kr, a++, sizeof(cl_long), &kvstr[i]);
    }
    if (p->variant->maps_rows) { /* a component's maps (the copy applied kv_map where there is one) */
        cl_mem maps[2] = {p->q_map, p->kv_in_place ? p->kv_map : NULL};
        cl_int lse_n = (cl_int)(p->lse_rows ? p->lse_rows : s->seq_q), merge = p->merge;
        for (int i = 0; i < 2; i++)
            err |= clSetKernelArg(kr, a++, sizeof(cl_mem), &maps[i]);
        err |= clSetKernelArg(kr, a++, sizeof lse_n, &lse_n);
        err |= clSetKernelArg(kr, a++, sizeof merge, &merge);
    }
    if (p->variant->splits_rows) { /* split rows: the work list and the chunks' scratch (NULL: none) */
        cl_mem sp[3] = {p->split.work, p->split.part_o, p->split.part_l};
        for (int i = 0; i < 3; i++)
            err |= clSetKernelArg(kr, a++, sizeof(cl_mem), &sp[i]);
    }
    if (err != CL_SUCCESS) {
        if (prep) clReleaseEvent(prep);
        return scli_fail(p->rt, SCL_ERR_OPENCL, "clSetKernelArg failed for attn_fwd");
    }
    size_t wg = p->variant->work_group_size(&p->fwd);
    const int rows = p->variant->rows_per_group(&p->fwd);
    size_t tiles = p->split.n_work ? (size_t)p->split.n_work : (size_t)((s->seq_q + rows - 1) / rows);
    size_t gws[2] = {tiles * wg, (size_t)s->batch * s->heads}, lws[2] = {wg, 1};
    cl_event done = NULL;
    err = clEnqueueNDRangeKernel(p->rt->queue, kr, 2, NULL, gws, lws, n_waits, n_waits ? waits : NULL, &done);
    if (err != CL_SUCCESS) {
        if (prep) clReleaseEvent(prep);
        return scli_fail_cl(p->rt, "clEnqueueNDRangeKernel", err, p->variant->kernel_name);
    }
    if (prep) scli_events_push(all, prep, "attn_prep_kv");
    scli_events_push(all, done, p->variant->kernel_name);
    if (prep) clReleaseEvent(prep);
    if (p->split.n_work) { /* 3. the split rows' chunks merged: the forward ends there */
        cl_event merged = NULL;
        scl_status st = scli_split_merge(p, o, lse, done, all, &merged);
        clReleaseEvent(done);
        if (st != SCL_OK) return st;
        done = merged;
    }
    if (p->last_fwd) clReleaseEvent(p->last_fwd);
    p->last_fwd = done; /* the plan keeps one reference */
    if (event) {
        clRetainEvent(done);
        *event = done;
    }
    return SCL_OK;
}

scl_status scli_plan_forward_events(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                   cl_uint num_wait, const cl_event *wait_list, scli_events *all,
                                   cl_event *event)
{
    if (!p) return SCL_ERR_INVALID_ARGUMENT;
    if (num_wait > 0 && !wait_list)
        return scli_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "num_wait is %u but wait_list is NULL", num_wait);
    return p->ops->forward(p, (const cl_mem[5]){q, k, v, o, lse}, num_wait, wait_list, all, event);
}

scl_status scl_plan_forward(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_uint num_wait,
                            const cl_event *wait_list, cl_event *event)
{
    return scli_plan_forward_events(p, q, k, v, o, lse, num_wait, wait_list, NULL, event);
}

double scli_events_span_ms(const cl_event *ev, int n)
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
    if (!ms) return scli_fail(p ? p->rt : NULL, SCL_ERR_INVALID_ARGUMENT, "scl_plan_time_forward: ms is NULL");
    scli_events all = {.n = 0};
    scl_status st = scli_plan_forward_events(p, q, k, v, o, lse, 0, NULL, &all, NULL);
    if (st != SCL_OK) {
        scli_events_release(&all);
        return st;
    }
    cl_int err = clWaitForEvents(all.n, all.e);
    if (err != CL_SUCCESS)
        st = scli_fail_cl(p->rt, "clWaitForEvents", err, "forward pass failed on the device");
    else
        *ms = scli_events_span_ms(all.e, all.n);
    scli_events_release(&all);
    return st;
}

scl_status scl_plan_forward_host(scl_plan *p, const void *q, const void *k, const void *v, void *o,
                                 float *lse)
{
    if (!p) return SCL_ERR_INVALID_ARGUMENT;
    if (!q || !k || !v || !o)
        return scli_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_forward_host: NULL array");
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
        if (e[i] != CL_SUCCESS) st = scli_fail_cl(p->rt, "clCreateBuffer", e[i], "host-array convenience");
    cl_event done = NULL;
    if (st == SCL_OK) st = scl_plan_forward(p, bq, bk, bv, bo, bl, 0, NULL, &done);
    if (st == SCL_OK) { /* reads wait for the kernel: the queue may be out of order */
        cl_int err = clEnqueueReadBuffer(p->rt->queue, bo, CL_TRUE, 0, sz.o, o, 1, &done, NULL);
        if (err == CL_SUCCESS && lse)
            err = clEnqueueReadBuffer(p->rt->queue, bl, CL_TRUE, 0, sz.lse, lse, 1, &done, NULL);
        if (err != CL_SUCCESS) st = scli_fail_cl(p->rt, "clEnqueueReadBuffer", err, "reading results");
    }
    if (done) clReleaseEvent(done);
    cl_mem all[] = {bq, bk, bv, bo, bl};
    for (int i = 0; i < 5; i++)
        if (all[i]) clReleaseMemObject(all[i]);
    return st;
}

static double lut_computed_pairs(const scl_plan *p)
{
    return (double)(p->stats.full_blocks + p->stats.partial_blocks) * p->shape.block * p->shape.block *
           p->shape.batch;
}

static int lut_components(const scl_plan *p)
{
    (void)p;
    return 0;
}

static size_t lut_device_bytes(const scl_plan *p)
{
    cl_mem bufs[] = {p->row_ptr,  p->col_idx,     p->row_mask,     p->masks,        p->head_layout, p->kt,
                     p->vp,       p->split.work, p->split.tiles, p->split.part_o, p->split.part_l};
    return scli_mem_bytes(bufs, sizeof bufs / sizeof bufs[0]);
}

static const scl_plan *lut_backward_owner(const scl_plan *p)
{
    return p;
}

const scli_plan_ops scli_lut_plan_ops = {
    .forward = lut_forward,
    .backward = scli_lut_backward,
    .prepare_backward = scli_lut_prepare_backward,
    .backward_owner = lut_backward_owner,
    .computed_pairs = lut_computed_pairs,
    .components = lut_components,
    .device_bytes = lut_device_bytes,
    .backward_bytes = scli_lut_backward_bytes,
};
