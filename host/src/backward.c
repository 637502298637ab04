/* Backward pass: lazily built kernels (kernels/attn_bwd.cl), column-LUT buffers, scratch, and
 * the four launches: query-side prep (D, LSE in base 2, padded Q/dO copies), key-side prep,
 * dQ over the row LUT, dK/dV over the column LUT. */
#include "backward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scli_bwd_state {
    scli_bwd_params prm;
    char options[512];
    char source[1400]; /* where the parameters came from: database entry, defaults, override */
    cl_program program;
    cl_kernel prep_q, prep_k, dq, dkv;
    cl_mem col_ptr, row_idx, col_mask, masks_t;
    int64_t nqp;
    /* float32 scratch, zero-padded: query side [B*H][nqp][d] / [B*H][d][nqp] and [B*H][nqp];
     * key side [B*H_kv][nkp][d] / [B*H_kv][d][nkp]. O(B H N d), nothing N x N. */
    cl_mem qr, qt, dor, dot, lrow, drow, kr, kt, vt;
};

void scli_bwd_state_free(scli_bwd_state *b)
{
    if (!b) return;
    cl_mem bufs[] = {b->col_ptr, b->row_idx, b->col_mask, b->masks_t, b->qr, b->qt, b->dor,
                     b->dot,     b->lrow,    b->drow,     b->kr,      b->kt, b->vt};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) clReleaseMemObject(bufs[i]);
    cl_kernel ks[] = {b->prep_q, b->prep_k, b->dq, b->dkv};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        if (ks[i]) clReleaseKernel(ks[i]);
    if (b->program) clReleaseProgram(b->program);
    free(b);
}

/* Partial-block masks with rows and columns swapped, for the column walk of bwd_dkv. */
static uint32_t *transpose_masks(const spc_lut *l)
{
    size_t words = (size_t)l->n_masks * l->mask_words;
    uint32_t *t = calloc(words ? words : 1, sizeof *t);
    if (!t) return NULL;
    const int bs = l->block;
    for (int32_t m = 0; m < l->n_masks; m++) {
        const uint32_t *src = l->masks + (size_t)m * l->mask_words;
        uint32_t *dst = t + (size_t)m * l->mask_words;
        for (int r = 0; r < bs; r++)
            for (int c = 0; c < bs; c++) {
                const int from = r * bs + c, to = c * bs + r;
                if (src[from >> 5] >> (from & 31) & 1u) dst[to >> 5] |= 1u << (to & 31);
            }
    }
    return t;
}

static scl_status build_state(scl_plan *p, scli_bwd_state *b, const scli_bwd_params *explicit_params)
{
    scl_runtime *rt = p->rt;
    const scl_shape *s = &p->shape;
    const spc_lut *l = p->lut;
    scli_param_context pc;
    scli_param_context_init(&pc, &rt->dev, s->head_dim, s->block);
    const scli_param_schema *k = &scli_bwd_simt_schema;
    scli_param_choice how = {explicit_params, p->cfg.bwd_params, p->cfg.ignore_tuning, false};
    scl_status st = scli_choose_params(rt, k, &pc, p->dtype, &how, &b->prm, b->source, sizeof b->source);
    if (st != SCL_OK) return st;
    scli_params_options(k, &b->prm, &pc, p->dtype, b->options, sizeof b->options);
    if ((st = scl_build_program(rt, "attn_bwd.cl", b->options, &b->program, NULL)) != SCL_OK) return st;
    const char *names[] = {"bwd_prep_q", "bwd_prep_k", "bwd_dq", "bwd_dkv"};
    cl_kernel *ks[] = {&b->prep_q, &b->prep_k, &b->dq, &b->dkv};
    for (int i = 0; i < 4; i++) {
        cl_int err;
        *ks[i] = clCreateKernel(b->program, names[i], &err);
        if (err != CL_SUCCESS) return scli_fail_cl(rt, "clCreateKernel", err, names[i]);
    }
    uint32_t *mt = transpose_masks(l);
    if (!mt) return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory (transposed masks)");
    const cl_mem_flags ro = CL_MEM_READ_ONLY, rw = CL_MEM_READ_WRITE;
    st = scli_plan_buffer(p, ro, (size_t)l->n_layouts * (l->nb_k + 1) * 4, l->col_ptr, &b->col_ptr, "col_ptr");
    if (st == SCL_OK) st = scli_plan_buffer(p, ro, (size_t)l->nnz * 4, l->row_idx, &b->row_idx, "row_idx");
    if (st == SCL_OK) st = scli_plan_buffer(p, ro, (size_t)l->nnz * 4, l->col_mask, &b->col_mask, "col_mask");
    if (st == SCL_OK)
        st = scli_plan_buffer(p, ro, (size_t)l->n_masks * l->mask_words * 4, mt, &b->masks_t, "masks_t");
    free(mt);
    if (st != SCL_OK) return st;
    b->nqp = (s->seq_q + s->block - 1) / s->block * s->block;
    const size_t d = (size_t)s->head_dim;
    const size_t qrows = (size_t)s->batch * s->heads * (size_t)b->nqp;
    const size_t krows = (size_t)s->batch * s->kv_heads * (size_t)p->nkp;
    struct {
        cl_mem *m;
        size_t bytes;
        const char *name;
    } scratch[] = {
        {&b->qr, qrows * d * 4, "Q rows"},   {&b->qt, qrows * d * 4, "Q^T"},
        {&b->dor, qrows * d * 4, "dO rows"}, {&b->dot, qrows * d * 4, "dO^T"},
        {&b->lrow, qrows * 4, "LSE"},        {&b->drow, qrows * 4, "D"},
        {&b->kr, krows * d * 4, "K rows"},   {&b->kt, krows * d * 4, "K^T"},
        {&b->vt, krows * d * 4, "V^T"},
    };
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0] && st == SCL_OK; i++)
        st = scli_plan_buffer(p, rw, scratch[i].bytes, NULL, scratch[i].m, scratch[i].name);
    return st;
}

scl_status scli_lut_prepare_backward(scl_plan *p, const scli_bwd_params *params)
{
    scli_bwd_state_free(p->bwd);
    p->bwd = NULL;
    scli_bwd_state *b = calloc(1, sizeof *b);
    if (!b) return scli_fail(p->rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    scl_status st = build_state(p, b, params);
    if (st != SCL_OK) {
        scli_bwd_state_free(b);
        return st;
    }
    p->bwd = b;
    return SCL_OK;
}

scl_status scli_plan_prepare_backward(scl_plan *p, const scli_bwd_params *params)
{
    if (!p) return SCL_ERR_INVALID_ARGUMENT;
    return p->ops->prepare_backward(p, params);
}

const char *scl_plan_backward_kernel_options(const scl_plan *p)
{
    if (!p) return "";
    const scl_plan *b = p->ops->backward_owner(p);
    return b->bwd ? b->bwd->options : "";
}

const char *scl_plan_backward_kernel_source(const scl_plan *p)
{
    if (!p) return "";
    const scl_plan *b = p->ops->backward_owner(p);
    return b->bwd ? b->bwd->source : "";
}

/* Scratch and column LUT of the backward kernels (build_state's buffers), from the shape. */
size_t scli_lut_backward_bytes(const scl_plan *p)
{
    if (p->bwd) {
        const scli_bwd_state *b = p->bwd;
        cl_mem bufs[] = {b->col_ptr, b->row_idx, b->col_mask, b->masks_t, b->qr, b->qt, b->dor,
                         b->dot,     b->lrow,    b->drow,     b->kr,      b->kt, b->vt};
        return scli_mem_bytes(bufs, sizeof bufs / sizeof bufs[0]);
    }
    const scl_shape *s = &p->shape;
    const spc_lut *l = p->lut;
    const size_t nqp = (size_t)((s->seq_q + s->block - 1) / s->block * s->block);
    const size_t qrows = (size_t)s->batch * s->heads * nqp,
                 krows = (size_t)s->batch * s->kv_heads * (size_t)p->nkp;
    const size_t d = (size_t)s->head_dim;
    size_t lut =
        ((size_t)l->n_layouts * (l->nb_k + 1) + 2 * (size_t)l->nnz + (size_t)l->n_masks * l->mask_words) * 4;
    return lut + (4 * qrows * d + 2 * qrows + 3 * krows * d) * 4;
}

static cl_int set_args(cl_kernel k, cl_uint *a, const cl_mem *mems, size_t n)
{
    cl_int err = CL_SUCCESS;
    for (size_t i = 0; i < n; i++)
        err |= clSetKernelArg(k, (*a)++, sizeof(cl_mem), &mems[i]);
    return err;
}

/* The scalar arguments that follow the buffers of bwd_dq and bwd_dkv: lengths, heads and group,
 * the strides of the side the kernel walks, its block count, mask words, scale. */
typedef struct sweep_args {
    cl_int dims[6]; /* n_q, n_k, nqp, nkp, heads, group */
    cl_long strides[3];
    cl_int nb, mask_words;
    cl_float scale;
} sweep_args;

static cl_int set_sweep(cl_kernel k, cl_uint *a, const sweep_args *s)
{
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < 6; i++)
        err |= clSetKernelArg(k, (*a)++, sizeof(cl_int), &s->dims[i]);
    for (int i = 0; i < 3; i++)
        err |= clSetKernelArg(k, (*a)++, sizeof(cl_long), &s->strides[i]);
    err |= clSetKernelArg(k, (*a)++, sizeof(cl_int), &s->nb);
    err |= clSetKernelArg(k, (*a)++, sizeof(cl_int), &s->mask_words);
    err |= clSetKernelArg(k, (*a)++, sizeof(cl_float), &s->scale);
    return err;
}

/* One prep kernel: its buffers m, then rows, padded rows and heads (dims) and the side's strides,
 * over (d / 8, padded rows / 8, batch * heads) work-items; *set_failed tells a failed argument. */
static cl_int prep(scl_plan *p, cl_kernel kr, const cl_mem *m, size_t nm, const cl_int dims[3],
                   const cl_long str[3], cl_uint num_wait, const cl_event *wait_list, cl_event *ev,
                   bool *set_failed)
{
    cl_uint a = 0;
    cl_int err = set_args(kr, &a, m, nm);
    for (int i = 0; i < 3; i++)
        err |= clSetKernelArg(kr, a++, sizeof(cl_int), &dims[i]);
    for (int i = 0; i < 3; i++)
        err |= clSetKernelArg(kr, a++, sizeof(cl_long), &str[i]);
    if (err != CL_SUCCESS) {
        *set_failed = true;
        return err;
    }
    size_t gws[3] = {(size_t)p->shape.head_dim / 8, (size_t)dims[1] / 8, (size_t)p->shape.batch * dims[2]};
    return clEnqueueNDRangeKernel(p->rt->queue, kr, 3, NULL, gws, NULL, num_wait, wait_list, ev);
}

/* One sweep kernel (bwd_dq, bwd_dkv): its buffers m, then the sweep's scalars, over `tiles`
 * work-groups of wg for each of batch * heads, after the first nwait events of wait. */
static cl_int sweep(scl_plan *p, cl_kernel kr, const cl_mem *m, size_t nm, const sweep_args *sa, size_t wg,
                    size_t tiles, int heads, cl_uint nwait, const cl_event *wait, cl_event *ev,
                    bool *set_failed)
{
    cl_uint a = 0;
    cl_int err = set_args(kr, &a, m, nm);
    err |= set_sweep(kr, &a, sa);
    if (err != CL_SUCCESS) {
        *set_failed = true;
        return err;
    }
    size_t gws[2] = {tiles * wg, (size_t)p->shape.batch * heads}, lws[2] = {wg, 1};
    return clEnqueueNDRangeKernel(p->rt->queue, kr, 2, NULL, gws, lws, nwait, wait, ev);
}

/* Enqueues the four kernels; `all` (may be NULL) collects every command's event, `event`
 * receives the last one. */
scl_status scli_lut_backward(scl_plan *p, const cl_mem t[9], cl_uint num_wait, const cl_event *wait_list,
                            scli_events *all, cl_event *event)
{
    cl_mem q = t[0], k = t[1], v = t[2], o = t[3], lse = t[4], dout = t[5], dq = t[6], dk = t[7], dv = t[8];
    scl_status st = scli_plan_check_tensors(p, (cl_mem[9]){q, k, v, o, lse, dout, dq, dk, dv}, true);
    if (st != SCL_OK) return st;
    if (!p->bwd && (st = scli_plan_prepare_backward(p, NULL)) != SCL_OK) return st;
    scli_bwd_state *b = p->bwd;
    const scl_shape *s = &p->shape;
    cl_int n_q = (cl_int)s->seq_q, n_k = (cl_int)s->seq_k, nqp = (cl_int)b->nqp, nkp = (cl_int)p->nkp,
           heads = s->heads, kv_heads = s->kv_heads, group = s->heads / s->kv_heads;
    cl_int nb_q = p->lut->nb_q, nb_k = p->lut->nb_k, mask_words = p->lut->mask_words;
    cl_float scale = s->scale;
    cl_long qstr[3] = {p->qs.b, p->qs.h, p->qs.n}, kstr[3] = {p->ks.b, p->ks.h, p->ks.n};
    cl_event e[4] = {NULL, NULL, NULL, NULL};

    /* 1. Query side: D, base-2 LSE, padded Q / dO (rows and transposed), in 8 x 8 tiles (attn_bwd.cl).
     * 2. Key side: padded K (rows and transposed) and V (transposed). */
    bool set_failed = false;
    const char *what = "bwd_prep_q";
    cl_int err =
        prep(p, b->prep_q, (const cl_mem[]){q, o, dout, lse, b->qr, b->qt, b->dor, b->dot, b->lrow, b->drow},
             10, (cl_int[3]){n_q, nqp, heads}, qstr, num_wait, wait_list, &e[0], &set_failed);
    if (err == CL_SUCCESS) {
        what = "bwd_prep_k";
        err = prep(p, b->prep_k, (const cl_mem[]){k, v, b->kr, b->kt, b->vt}, 5,
                   (cl_int[3]){n_k, nkp, kv_heads}, kstr, num_wait, wait_list, &e[1], &set_failed);
    }
    if (set_failed) goto set_failed;
    if (err != CL_SUCCESS) goto enqueue_failed;
    /* 3. dQ over the row LUT, after both preps (also on out-of-order queues). */
    what = "bwd_dq";
    const cl_mem mq[] = {b->qt, b->dot,     b->lrow,    b->drow,     b->kr,    b->kt,         b->vt,
                         dq,    p->row_ptr, p->col_idx, p->row_mask, p->masks, p->head_layout};
    const sweep_args sq = {
        {n_q, n_k, nqp, nkp, heads, group}, {qstr[0], qstr[1], qstr[2]}, nb_q, mask_words, scale};
    err = sweep(p, b->dq, mq, 13, &sq, scli_bwd_dq_work_group_size(&b->prm),
                (size_t)((s->seq_q + b->prm.dq_bq - 1) / b->prm.dq_bq), heads, 2, e, &e[2], &set_failed);
    /* 4. dK/dV over the column LUT; waits for dQ too, so its event ends the whole pass. */
    if (err == CL_SUCCESS) {
        what = "bwd_dkv";
        const cl_mem mk[] = {b->qr,      b->qt,      b->dor,      b->dot,     b->lrow,
                             b->drow,    b->kt,      b->vt,       dk,         dv,
                             b->col_ptr, b->row_idx, b->col_mask, b->masks_t, p->head_layout};
        const sweep_args sk = {
            {n_q, n_k, nqp, nkp, heads, group}, {kstr[0], kstr[1], kstr[2]}, nb_k, mask_words, scale};
        err =
            sweep(p, b->dkv, mk, 15, &sk, scli_bwd_dkv_work_group_size(&b->prm),
                  (size_t)((s->seq_k + b->prm.kv_bk - 1) / b->prm.kv_bk), kv_heads, 3, e, &e[3], &set_failed);
    }
    if (set_failed) goto set_failed;
    if (err != CL_SUCCESS) goto enqueue_failed;
    static const char *names[4] = {"bwd_prep_q", "bwd_prep_k", "bwd_dq", "bwd_dkv"};
    for (int i = 0; i < 4; i++)
        scli_events_push(all, e[i], names[i]);
    for (int i = 0; i < 3; i++)
        clReleaseEvent(e[i]);
    if (event)
        *event = e[3];
    else
        clReleaseEvent(e[3]);
    return SCL_OK;

set_failed:
    st = scli_fail(p->rt, SCL_ERR_OPENCL, "clSetKernelArg failed for %s", what);
    goto release;
enqueue_failed:
    st = scli_fail_cl(p->rt, "clEnqueueNDRangeKernel", err, what);
release:
    for (int i = 0; i < 4; i++)
        if (e[i]) clReleaseEvent(e[i]);
    return st;
}

scl_status scli_plan_backward_events(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                    cl_mem dout, cl_mem dq, cl_mem dk, cl_mem dv, cl_uint num_wait,
                                    const cl_event *wait_list, scli_events *all, cl_event *event)
{
    if (!p) return SCL_ERR_INVALID_ARGUMENT;
    if (num_wait > 0 && !wait_list)
        return scli_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "num_wait is %u but wait_list is NULL", num_wait);
    return p->ops->backward(p, (const cl_mem[9]){q, k, v, o, lse, dout, dq, dk, dv}, num_wait, wait_list, all,
                            event);
}

scl_status scl_plan_backward(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_mem dout,
                             cl_mem dq, cl_mem dk, cl_mem dv, cl_uint num_wait, const cl_event *wait_list,
                             cl_event *event)
{
    return scli_plan_backward_events(p, q, k, v, o, lse, dout, dq, dk, dv, num_wait, wait_list, NULL, event);
}

scl_status scl_plan_time_backward(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                  cl_mem dout, cl_mem dq, cl_mem dk, cl_mem dv, double *ms)
{
    if (!ms)
        return scli_fail(p ? p->rt : NULL, SCL_ERR_INVALID_ARGUMENT, "scl_plan_time_backward: ms is NULL");
    scli_events all = {.n = 0};
    scl_status st = scli_plan_backward_events(p, q, k, v, o, lse, dout, dq, dk, dv, 0, NULL, &all, NULL);
    if (st != SCL_OK) {
        scli_events_release(&all);
        return st;
    }
    cl_int err = clWaitForEvents(all.n, all.e);
    if (err != CL_SUCCESS) /* else: first start to last end over all kernels (any queue order) */
        st = scli_fail_cl(p->rt, "clWaitForEvents", err, "backward pass failed on the device");
    else
        *ms = scli_events_span_ms(all.e, all.n);
    scli_events_release(&all);
    return st;
}

scl_status scl_plan_backward_host(scl_plan *p, const void *q, const void *k, const void *v, const void *o,
                                  const float *lse, const void *dout, void *dq, void *dk, void *dv)
{
    if (!p) return SCL_ERR_INVALID_ARGUMENT;
    if (!q || !k || !v || !o || !lse || !dout || !dq || !dk || !dv)
        return scli_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "scl_plan_backward_host: NULL array");
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(p, &sz);
    cl_context ctx = p->rt->ctx;
    const cl_mem_flags in = CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR;
    size_t sizes[9] = {sz.q, sz.k, sz.v, sz.o, sz.lse, sz.o, sz.q, sz.k, sz.v};
    const void *src[9] = {q, k, v, o, lse, dout, NULL, NULL, NULL};
    cl_mem m[9] = {NULL};
    scl_status st = SCL_OK;
    for (int i = 0; i < 9 && st == SCL_OK; i++) {
        cl_int err;
        m[i] = clCreateBuffer(ctx, src[i] ? in : CL_MEM_WRITE_ONLY, sizes[i], (void *)src[i], &err);
        if (err != CL_SUCCESS) st = scli_fail_cl(p->rt, "clCreateBuffer", err, "host-array convenience");
    }
    cl_event done = NULL;
    if (st == SCL_OK)
        st = scl_plan_backward(p, m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], 0, NULL, &done);
    if (st == SCL_OK) { /* reads wait for the kernels: the queue may be out of order */
        void *dst[3] = {dq, dk, dv};
        for (int i = 0; i < 3 && st == SCL_OK; i++) {
            cl_int err =
                clEnqueueReadBuffer(p->rt->queue, m[6 + i], CL_TRUE, 0, sizes[6 + i], dst[i], 1, &done, NULL);
            if (err != CL_SUCCESS) st = scli_fail_cl(p->rt, "clEnqueueReadBuffer", err, "reading gradients");
        }
    }
    if (done) clReleaseEvent(done);
    for (int i = 0; i < 9; i++)
        if (m[i]) clReleaseMemObject(m[i]);
    return st;
}
