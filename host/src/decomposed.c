/* Decomposed plans: each component of the pattern (patterns/decompose.c) is an ordinary
 * block-LUT sub-plan over its mapped positions. Forward, where the variant reads rows through
 * maps (maps_rows: the matrix-engine kernel) and the first component keeps every query row in
 * place ("direct", d <= 64): each component's kernel reads the caller's Q, K, V through its maps, the
 * first writes O and LSE, and each later one merges into them by LSE in its epilogue, one after
 * the other. Otherwise: gather the component's Q rows and K/V rows (permuted or compacted;
 * identity dimensions read the caller's buffers directly), run the sub-plan into the component's
 * own O and LSE, then merge all components per row by LSE (kernels/decompose.cl). Backward: the
 * components' gradients are independent once they share the final O and LSE (P = exp(S - LSE)
 * and D = rowsum(dO * O) use the merged values), so each sub-plan runs its backward on gathered
 * Q, K, V, O, LSE, dO and the gradients are summed back. The forward gathers no keys of its own:
 * a sub-plan's K/V copy (or kernel) reads them through its map.
 * Nothing N x N is stored; the extra memory is O(components * B * H * N * d). */
#include "decomposed.h"

#include "backward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 4

extern const scli_plan_ops scli_decomp_plan_ops;

typedef struct scli_part {
    int64_t n_q, n_k; /* mapped lengths */
    scl_plan *sub;
    cl_mem row_map, col_map, row_inv, col_inv; /* NULL: identity */
    cl_mem q, k, v;       /* gathered Q (row-mapped parts); K, V for the backward (column-mapped parts) */
    cl_mem o, lse;        /* the component's output over its rows */
    cl_mem og, dog, lseg; /* backward: final O, dO, LSE in its rows (row-mapped) */
    cl_mem dq, dk, dv;    /* backward: its gradients */
} scli_part;

struct scli_decomp {
    int n;
    scli_part part[MAX_PARTS];
    cl_program program;
    cl_kernel gather, gather_lse, merge, sum;
    cl_event last; /* the previous call's final command: part buffers are reused */
    bool direct;   /* components read and merge through their maps (above); no component O, LSE */
    cl_mem lse;    /* direct: the LSE the components merge by when the caller passes none */
    int row_form;  /* helper kernels' work-item mapping (kernels/decompose.cl): the forward's prep form */
    int cw;        /* GPU form: head-dim elements a work-item, 16 bytes of storage where d allows */
};

static scli_strides contiguous(int heads, int64_t n, int d)
{
    scli_strides s = {(int64_t)heads * n * d, n * d, d};
    return s;
}

#define PART_BUFFERS 15
static void part_buffers(const scli_part *pt, cl_mem m[PART_BUFFERS])
{
    const cl_mem all[PART_BUFFERS] = {pt->row_map, pt->col_map, pt->row_inv, pt->col_inv, pt->q,
                                      pt->k,       pt->v,       pt->o,       pt->lse,     pt->og,
                                      pt->dog,     pt->lseg,    pt->dq,      pt->dk,      pt->dv};
    memcpy(m, all, sizeof all);
}

void scli_decomp_free(scli_decomp *dec)
{
    if (!dec) return;
    for (int k = 0; k < dec->n; k++) {
        scli_part *pt = &dec->part[k];
        cl_mem m[PART_BUFFERS];
        part_buffers(pt, m);
        for (size_t i = 0; i < PART_BUFFERS; i++)
            if (m[i]) clReleaseMemObject(m[i]);
        scl_plan_destroy(pt->sub);
    }
    cl_kernel ks[] = {dec->gather, dec->gather_lse, dec->merge, dec->sum};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        if (ks[i]) clReleaseKernel(ks[i]);
    if (dec->program) clReleaseProgram(dec->program);
    if (dec->lse) clReleaseMemObject(dec->lse);
    if (dec->last) clReleaseEvent(dec->last);
    free(dec);
}

static int decomp_count(const scl_plan *p)
{
    return p->dec->n;
}

static double decomp_computed_pairs(const scl_plan *p)
{
    double n = 0;
    for (int k = 0; k < p->dec->n; k++) {
        scl_plan_stats s;
        scl_plan_get_stats(p->dec->part[k].sub, &s);
        n += s.computed_pairs;
    }
    return n;
}

static size_t decomp_device_bytes(const scl_plan *p)
{
    size_t n = 0;
    for (int k = 0; k < p->dec->n; k++) {
        const scli_part *pt = &p->dec->part[k];
        cl_mem m[] = {pt->row_map, pt->col_map, pt->row_inv, pt->col_inv, pt->q, pt->o, pt->lse};
        n += scli_mem_bytes(m, sizeof m / sizeof m[0]) + pt->sub->ops->device_bytes(pt->sub);
    }
    return n + scli_mem_bytes(&p->dec->lse, 1);
}

/* The buffers prepare_backward_buffers makes, and the components' own backward. */
static size_t decomp_backward_bytes(const scl_plan *p)
{
    const scl_shape *s = &p->shape;
    const size_t e = scli_dtype_size(p->dtype), dim = (size_t)s->head_dim;
    size_t n = 0;
    for (int k = 0; k < p->dec->n; k++) {
        const scli_part *pt = &p->dec->part[k];
        const size_t qb = (size_t)s->batch * s->heads * (size_t)pt->n_q * dim * e;
        const size_t kb = (size_t)s->batch * s->kv_heads * (size_t)pt->n_k * dim * e;
        const size_t lb = (size_t)s->batch * s->heads * (size_t)pt->n_q * 4;
        n += (pt->row_map ? 2 * qb + lb : 0) + (pt->col_map ? 2 * kb : 0) + 2 * kb + qb;
        if (pt->row_map && p->dec->direct) n += qb; /* the gathered Q, which the forward did not need */
        n += pt->sub->ops->backward_bytes(pt->sub);
    }
    return n;
}

static const scl_plan *decomp_backward_owner(const scl_plan *p)
{
    return p->dec->part[0].sub;
}

const scl_plan *scli_decomp_part(const scl_plan *p, int k)
{
    return p->dec->part[k].sub;
}

scl_plan *scli_decomp_first(const scl_plan *p)
{
    return p->dec->part[0].sub;
}

static scl_status map_buffer(scl_plan *p, const int32_t *map, int64_t n, cl_mem *out, const char *what)
{
    return map ? scli_plan_buffer(p, CL_MEM_READ_ONLY, (size_t)n * sizeof *map, map, out, what) : SCL_OK;
}

static scl_status build_kernels(scl_plan *p)
{
    scli_decomp *dec = p->dec;
    char options[128];
    const int piece = 16 / (int)scli_dtype_size(p->dtype);
    dec->cw = p->shape.head_dim % piece == 0 ? piece : 4;
    snprintf(options, sizeof options, "-D D=%d -D NPARTS=%d -D ROW_FORM=%d -D CW=%d%s%s", p->shape.head_dim,
             dec->n, dec->row_form, dec->cw, *scli_dtype_macro(p->dtype) ? " -D " : "",
             scli_dtype_macro(p->dtype));
    scl_status st = scl_build_program(p->rt, "decompose.cl", options, &dec->program, NULL);
    if (st != SCL_OK) return st;
    const char *names[] = {"gather_rows", "gather_lse", "merge_parts", "sum_parts"};
    cl_kernel *ks[] = {&dec->gather, &dec->gather_lse, &dec->merge, &dec->sum};
    for (int i = 0; i < 4; i++) {
        cl_int err;
        *ks[i] = clCreateKernel(dec->program, names[i], &err);
        if (err != CL_SUCCESS) return scli_fail_cl(p->rt, "clCreateKernel", err, names[i]);
    }
    return SCL_OK;
}

scl_status scli_decomp_create(scl_plan *p, spc_decomposition *d)
{
    if (d->n < 1 || d->n > MAX_PARTS)
        return scli_fail(p->rt, SCL_ERR_UNSUPPORTED, "a decomposition into %d components", d->n);
    scli_decomp *dec = calloc(1, sizeof *dec);
    if (!dec) return scli_fail(p->rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    p->dec = dec;
    p->ops = &scli_decomp_plan_ops;
    const scl_shape *s = &p->shape;
    const size_t e = scli_dtype_size(p->dtype), dim = (size_t)s->head_dim;
    scl_status st = SCL_OK;
    for (int k = 0; k < d->n && st == SCL_OK; k++) {
        spc_component *c = &d->comp[k];
        scli_part *pt = &dec->part[k];
        dec->n = k + 1;
        pt->n_q = c->n_q;
        pt->n_k = c->n_k;
        scl_shape ss = *s;
        ss.seq_q = c->n_q;
        ss.seq_k = c->n_k;
        ss.layout = SCL_LAYOUT_BHND;
        const size_t qb = (size_t)s->batch * s->heads * (size_t)c->n_q * dim * e;
        const cl_mem_flags rw = CL_MEM_READ_WRITE;
        if ((st = map_buffer(p, c->row_map, c->n_q, &pt->row_map, "row map")) ||
            (st = map_buffer(p, c->row_inv, s->seq_q, &pt->row_inv, "row inverse map")) ||
            (st = map_buffer(p, c->col_map, c->n_k, &pt->col_map, "column map")) ||
            (st = map_buffer(p, c->col_inv, s->seq_k, &pt->col_inv, "column inverse map")))
            break;
        if (c->row_map && !dec->direct && (st = scli_plan_buffer(p, rw, qb, NULL, &pt->q, "gathered Q"))) break;
        /* Gathered dimensions are contiguous [B][H][n][d]; the others are the caller's tensors. A
         * column-mapped component's K/V copy (or kernel) gathers the keys itself; direct, so do
         * the later components' kernels with their query rows. */
        scl_plan_sizes psz;
        scl_plan_tensor_sizes(p, &psz);
        const bool gathered_q = c->row_map && !dec->direct;
        scli_subplan_io io = {.qs = gathered_q ? contiguous(s->heads, c->n_q, s->head_dim) : p->qs,
                             .ks = c->col_map ? contiguous(s->kv_heads, c->n_k, s->head_dim) : p->ks,
                             .kv_map = c->col_map ? pt->col_map : NULL,
                             .kv_src = p->ks,
                             .kv_src_bytes = c->col_map ? psz.k : 0,
                             .q_map = dec->direct ? pt->row_map : NULL,
                             .q_src_bytes = dec->direct && c->row_map ? psz.q : 0,
                             .lse_rows = dec->direct ? s->seq_q : 0,
                             .merge = dec->direct && k > 0};
        spc_lut *lut = c->lut;
        c->lut = NULL; /* the sub-plan owns it now */
        if ((st = scli_plan_create_from_lut(p->rt, lut, &ss, p->dtype, &p->cfg, &io, &pt->sub)) != SCL_OK)
            break;
        /* Direct when the first component keeps the query rows in place and its kernel reads
         * through maps: it writes O and LSE of every row, and the others merge into them. Up to
         * d = 64 only, where it was measured to pay (H200 bf16, N=16384: strided 0.193 -> 0.165 ms,
         * fixed 0.329 -> 0.309, Longformer 0.527 -> 0.511); at d = 128 the mapped component cost
         * what the gather and merge kernels save and more (strided 0.365 -> 0.370, fixed 0.581 ->
         * 0.607), with the same registers (ptxas: 227 vs 228). SPARSECL_DECOMP_COPY=1 keeps the
         * gathered form (for side-by-side timing). */
        bool copy_form = false;
        if (k == 0 && (st = scli_env_flag(p->rt, "SPARSECL_DECOMP_COPY", &copy_form)) != SCL_OK) break;
        if (k == 0)
            dec->direct = d->n > 1 && !c->row_map && pt->sub->variant->maps_rows && s->head_dim <= 64 && !copy_form;
        if (dec->direct) continue;
        if ((st = scli_plan_buffer(p, rw, qb, NULL, &pt->o, "component O")) ||
            (st = scli_plan_buffer(p, rw, (size_t)s->batch * s->heads * (size_t)c->n_q * 4, NULL, &pt->lse,
                                  "component LSE")))
            break;
    }
    if (st == SCL_OK && dec->direct)
        st = scli_plan_buffer(p, CL_MEM_READ_WRITE, (size_t)s->batch * s->heads * (size_t)s->seq_q * 4, NULL,
                              &dec->lse, "LSE the components merge by");
    if (st != SCL_OK) return st; /* the caller destroys p, and with it everything made here */
    const scl_plan *first = dec->part[0].sub;
    dec->row_form = first->variant->prep_by_column(&first->fwd);
    if ((st = build_kernels(p)) != SCL_OK) return st;
    p->variant = first->variant;
    snprintf(p->variant_reason, sizeof p->variant_reason, "%s", first->variant_reason);
    p->fwd = first->fwd;
    p->from_cache = first->from_cache;
    snprintf(p->fwd_options, sizeof p->fwd_options, "%s", first->fwd_options);
    snprintf(p->fwd_source, sizeof p->fwd_source, "%s", first->fwd_source);
    p->fwd_tuned = first->fwd_tuned;
    return SCL_OK;
}

static scl_status decomp_prepare_backward(scl_plan *p, const scli_bwd_params *params)
{
    scl_status st = SCL_OK;
    for (int k = 0; k < p->dec->n && st == SCL_OK; k++)
        st = scli_plan_prepare_backward(p->dec->part[k].sub, params);
    return st;
}

/* The wait list of a call's first commands: the caller's events and the previous call's end. */
typedef struct waits {
    cl_event e[65];
    cl_uint n;
} waits;

static scl_status make_waits(scl_plan *p, cl_uint num_wait, const cl_event *wait_list, waits *w)
{
    if (num_wait > 0 && !wait_list)
        return scli_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "num_wait is %u but wait_list is NULL", num_wait);
    if (num_wait > 64) return scli_fail(p->rt, SCL_ERR_INVALID_ARGUMENT, "wait list longer than 64 events");
    w->n = 0;
    for (cl_uint i = 0; i < num_wait; i++)
        w->e[w->n++] = wait_list[i];
    if (p->dec->last) w->e[w->n++] = p->dec->last;
    return SCL_OK;
}

/* Enqueues a row kernel over n rows of `bh` batch*heads in the plan's work-item mapping (GPU form:
 * dec->cw head-dim elements a work-item, kernels/decompose.cl). */
static scl_status enqueue(scl_plan *p, cl_kernel kr, const char *name, int64_t n, size_t bh, cl_uint nw,
                          const cl_event *w, scli_events *all, cl_event *ev)
{
    /* GPU form: work-groups of ~256 (d/cw columns x rows); left to the driver, they came out
     * tiny (a fifth of the memory bandwidth on an H200). */
    const size_t wg = p->rt->dev.max_work_group_size < 256 ? p->rt->dev.max_work_group_size : 256;
    const size_t cols = (size_t)(p->shape.head_dim / p->dec->cw), per = cols >= wg ? 1 : wg / cols;
    size_t rows[3] = {(size_t)n, bh, 1}, elems[3] = {cols, ((size_t)n + per - 1) / per * per, bh},
           local[3] = {cols, per, 1};
    cl_int err = clEnqueueNDRangeKernel(p->rt->queue, kr, p->dec->row_form ? 2 : 3, NULL,
                                        p->dec->row_form ? rows : elems, p->dec->row_form ? NULL : local, nw,
                                        nw ? w : NULL, ev);
    if (err != CL_SUCCESS) return scli_fail_cl(p->rt, "clEnqueueNDRangeKernel", err, name);
    scli_events_push(all, *ev, name);
    return SCL_OK;
}

/* The first arguments of both gathers: source, destination, the map and its length. */
static cl_int gather_args(cl_kernel kr, cl_mem src, cl_mem dst, cl_mem map, cl_int n_dst)
{
    cl_int err = clSetKernelArg(kr, 0, sizeof src, &src);
    err |= clSetKernelArg(kr, 1, sizeof dst, &dst);
    err |= clSetKernelArg(kr, 2, sizeof map, &map);
    return err | clSetKernelArg(kr, 3, sizeof n_dst, &n_dst);
}

/* dst[bh][p][:] = src[b, h, map[p], :] over a tensor with `heads` heads and strides st. */
static scl_status gather(scl_plan *p, cl_mem src, cl_mem dst, cl_mem map, int64_t n_dst, int heads,
                         const scli_strides *st, const waits *w, scli_events *all, cl_event *ev)
{
    cl_kernel kr = p->dec->gather;
    cl_int h = heads;
    cl_long str[3] = {st->b, st->h, st->n};
    cl_uint a = 4;
    cl_int err = gather_args(kr, src, dst, map, (cl_int)n_dst);
    err |= clSetKernelArg(kr, a++, sizeof h, &h);
    for (int i = 0; i < 3; i++)
        err |= clSetKernelArg(kr, a++, sizeof str[i], &str[i]);
    if (err != CL_SUCCESS) return scli_fail(p->rt, SCL_ERR_OPENCL, "clSetKernelArg failed for gather_rows");
    return enqueue(p, kr, "gather_rows", n_dst, (size_t)p->shape.batch * heads, w->n, w->e, all, ev);
}

static scl_status gather_lse(scl_plan *p, cl_mem src, cl_mem dst, cl_mem map, int64_t n_dst, const waits *w,
                             scli_events *all, cl_event *ev)
{
    cl_kernel kr = p->dec->gather_lse;
    cl_int ns = (cl_int)p->shape.seq_q;
    cl_int err = gather_args(kr, src, dst, map, (cl_int)n_dst) | clSetKernelArg(kr, 4, sizeof ns, &ns);
    if (err != CL_SUCCESS) return scli_fail(p->rt, SCL_ERR_OPENCL, "clSetKernelArg failed for gather_lse");
    size_t gws[2] = {(size_t)n_dst, (size_t)p->shape.batch * p->shape.heads};
    cl_int e = clEnqueueNDRangeKernel(p->rt->queue, kr, 2, NULL, gws, NULL, w->n, w->n ? w->e : NULL, ev);
    if (e != CL_SUCCESS) return scli_fail_cl(p->rt, "clEnqueueNDRangeKernel", e, "gather_lse");
    scli_events_push(all, *ev, "gather_lse");
    return SCL_OK;
}

/* Arguments of merge_parts / sum_parts: the destination, then one (x, lse, inv, n, strides) group
 * per part; groups past the plan's parts repeat part 0 (the kernel ignores them). */
typedef struct part_arg {
    cl_mem x, lse, inv;
    int64_t n;
    scli_strides st;
} part_arg;

static scl_status combine(scl_plan *p, cl_kernel kr, const char *name, cl_mem dst, cl_mem lse, int64_t n,
                          int heads, const scli_strides *st, const part_arg *parts, cl_uint nw,
                          const cl_event *w, scli_events *all, cl_event *ev)
{
    cl_int nn = (cl_int)n, h = heads, err = CL_SUCCESS;
    cl_uint a = 0;
    cl_long str[3] = {st->b, st->h, st->n};
    err |= clSetKernelArg(kr, a++, sizeof dst, &dst);
    if (kr == p->dec->merge) err |= clSetKernelArg(kr, a++, sizeof lse, &lse);
    err |= clSetKernelArg(kr, a++, sizeof nn, &nn);
    err |= clSetKernelArg(kr, a++, sizeof h, &h);
    for (int i = 0; i < 3; i++)
        err |= clSetKernelArg(kr, a++, sizeof str[i], &str[i]);
    for (int k = 0; k < MAX_PARTS; k++) {
        const part_arg *pa = &parts[k < p->dec->n ? k : 0];
        cl_int pn = (cl_int)pa->n;
        cl_long ps[3] = {pa->st.b, pa->st.h, pa->st.n};
        err |= clSetKernelArg(kr, a++, sizeof pa->x, &pa->x);
        err |= clSetKernelArg(kr, a++, sizeof pa->lse, &pa->lse);
        err |= clSetKernelArg(kr, a++, sizeof pa->inv, &pa->inv);
        err |= clSetKernelArg(kr, a++, sizeof pn, &pn);
        for (int i = 0; i < 3; i++)
            err |= clSetKernelArg(kr, a++, sizeof ps[i], &ps[i]);
    }
    if (err != CL_SUCCESS) return scli_fail(p->rt, SCL_ERR_OPENCL, "clSetKernelArg failed for %s", name);
    return enqueue(p, kr, name, n, (size_t)p->shape.batch * heads, nw, w, all, ev);
}

/* Ends a call: `done` becomes the plan's last command and, retained, the caller's event. */
static void finish(scl_plan *p, cl_event done, cl_event *event)
{
    if (p->dec->last) clReleaseEvent(p->dec->last);
    p->dec->last = done;
    if (event) {
        clRetainEvent(done);
        *event = done;
    }
}

static void release(cl_event *e, int n)
{
    for (int i = 0; i < n; i++)
        if (e[i]) clReleaseEvent(e[i]);
}

static scl_status decomp_forward(scl_plan *p, const cl_mem t[5], cl_uint num_wait, const cl_event *wait_list,
                                 scli_events *all, cl_event *event)
{
    cl_mem q = t[0], k = t[1], v = t[2], o = t[3], lse = t[4];
    scli_decomp *dec = p->dec;
    const scl_shape *s = &p->shape;
    waits w0;
    scl_status st;
    if ((st = scli_plan_check_tensors(p, (cl_mem[9]){q, k, v, o, lse}, false)) != SCL_OK ||
        (st = make_waits(p, num_wait, wait_list, &w0)) != SCL_OK)
        return st;
    cl_event done[MAX_PARTS] = {NULL};
    if (dec->direct) { /* each component after the previous one, whose O and LSE it merges into */
        cl_mem l = lse ? lse : dec->lse;
        for (int c = 0; c < dec->n && st == SCL_OK; c++)
            st = scli_plan_forward_events(dec->part[c].sub, q, k, v, o, l, c ? 1 : w0.n,
                                         c ? &done[c - 1] : w0.e, all, &done[c]);
        if (st == SCL_OK) {
            clRetainEvent(done[dec->n - 1]);
            finish(p, done[dec->n - 1], event);
        }
        release(done, dec->n);
        return st;
    }
    part_arg pa[MAX_PARTS];
    for (int c = 0; c < dec->n && st == SCL_OK; c++) {
        scli_part *pt = &dec->part[c];
        waits g = {.n = 0};
        if (pt->row_map)
            st = gather(p, q, pt->q, pt->row_map, pt->n_q, s->heads, &p->qs, &w0, all, &g.e[g.n++]);
        const waits *sw = g.n ? &g : &w0;
        if (st == SCL_OK) /* keys: the sub-plan's K/V copy reads the caller's K, V through its map */
            st = scli_plan_forward_events(pt->sub, pt->row_map ? pt->q : q, k, v, pt->o, pt->lse, sw->n,
                                         sw->n ? sw->e : NULL, all, &done[c]);
        release(g.e, (int)g.n);
        pa[c] = (part_arg){pt->o, pt->lse, pt->row_inv, pt->n_q, pt->sub->qs};
    }
    cl_event merged = NULL;
    if (st == SCL_OK)
        st = combine(p, dec->merge, "merge_parts", o, lse, s->seq_q, s->heads, &p->qs, pa, (cl_uint)dec->n,
                     done, all, &merged);
    release(done, dec->n);
    if (st == SCL_OK) finish(p, merged, event);
    return st;
}

/* Backward scratch, made on the first backward call. */
static scl_status prepare_backward_buffers(scl_plan *p)
{
    const scl_shape *s = &p->shape;
    const size_t e = scli_dtype_size(p->dtype), dim = (size_t)s->head_dim;
    const cl_mem_flags rw = CL_MEM_READ_WRITE;
    scl_status st = SCL_OK;
    for (int c = 0; c < p->dec->n && st == SCL_OK; c++) {
        scli_part *pt = &p->dec->part[c];
        if (pt->dq) continue;
        const size_t qb = (size_t)s->batch * s->heads * (size_t)pt->n_q * dim * e;
        const size_t kb = (size_t)s->batch * s->kv_heads * (size_t)pt->n_k * dim * e;
        if (pt->row_map && !pt->q && (st = scli_plan_buffer(p, rw, qb, NULL, &pt->q, "gathered Q"))) break;
        if (pt->row_map && ((st = scli_plan_buffer(p, rw, qb, NULL, &pt->og, "gathered O")) ||
                            (st = scli_plan_buffer(p, rw, qb, NULL, &pt->dog, "gathered dO")) ||
                            (st = scli_plan_buffer(p, rw, (size_t)s->batch * s->heads * (size_t)pt->n_q * 4,
                                                  NULL, &pt->lseg, "gathered LSE"))))
            break;
        if (pt->col_map && ((st = scli_plan_buffer(p, rw, kb, NULL, &pt->k, "gathered K")) ||
                            (st = scli_plan_buffer(p, rw, kb, NULL, &pt->v, "gathered V"))))
            break;
        if ((st = scli_plan_buffer(p, rw, kb, NULL, &pt->dk, "component dK")) ||
            (st = scli_plan_buffer(p, rw, kb, NULL, &pt->dv, "component dV")))
            break;
        st = scli_plan_buffer(p, rw, qb, NULL, &pt->dq, "component dQ"); /* last: marks the part ready */
    }
    return st;
}

static scl_status decomp_backward(scl_plan *p, const cl_mem t[9], cl_uint num_wait, const cl_event *wait_list,
                                  scli_events *all, cl_event *event)
{
    cl_mem q = t[0], k = t[1], v = t[2], o = t[3], lse = t[4], dout = t[5], dq = t[6], dk = t[7], dv = t[8];
    scli_decomp *dec = p->dec;
    const scl_shape *s = &p->shape;
    waits w0;
    scl_status st;
    if ((st = scli_plan_check_tensors(p, (cl_mem[9]){q, k, v, o, lse, dout, dq, dk, dv}, true)) != SCL_OK ||
        (st = prepare_backward_buffers(p)) != SCL_OK ||
        (st = make_waits(p, num_wait, wait_list, &w0)) != SCL_OK)
        return st;
    cl_event done[MAX_PARTS] = {NULL};
    part_arg pq[MAX_PARTS], pk[MAX_PARTS], pv[MAX_PARTS];
    for (int c = 0; c < dec->n && st == SCL_OK; c++) {
        scli_part *pt = &dec->part[c];
        waits g = {.n = 0};
        if (pt->row_map) {
            cl_mem src[3] = {q, o, dout}, dst[3] = {pt->q, pt->og, pt->dog};
            for (int i = 0; i < 3 && st == SCL_OK; i++)
                st = gather(p, src[i], dst[i], pt->row_map, pt->n_q, s->heads, &p->qs, &w0, all, &g.e[g.n++]);
            if (st == SCL_OK) st = gather_lse(p, lse, pt->lseg, pt->row_map, pt->n_q, &w0, all, &g.e[g.n++]);
        }
        if (pt->col_map) {
            cl_mem src[2] = {k, v}, dst[2] = {pt->k, pt->v};
            for (int i = 0; i < 2 && st == SCL_OK; i++)
                st = gather(p, src[i], dst[i], pt->col_map, pt->n_k, s->kv_heads, &p->ks, &w0, all,
                            &g.e[g.n++]);
        }
        const waits *sw = g.n ? &g : &w0;
        bool rows = pt->row_map != NULL, cols = pt->col_map != NULL;
        if (st == SCL_OK)
            st = scli_plan_backward_events(pt->sub, rows ? pt->q : q, cols ? pt->k : k, cols ? pt->v : v,
                                          rows ? pt->og : o, rows ? pt->lseg : lse, rows ? pt->dog : dout,
                                          pt->dq, pt->dk, pt->dv, sw->n, sw->n ? sw->e : NULL, all, &done[c]);
        release(g.e, (int)g.n);
        pq[c] = (part_arg){pt->dq, NULL, pt->row_inv, pt->n_q, pt->sub->qs};
        pk[c] = (part_arg){pt->dk, NULL, pt->col_inv, pt->n_k, pt->sub->ks};
        pv[c] = (part_arg){pt->dv, NULL, pt->col_inv, pt->n_k, pt->sub->ks};
    }
    /* The three sums in a chain, so the last one's event ends the whole pass. */
    cl_event e1 = NULL, e2 = NULL, e3 = NULL;
    if (st == SCL_OK)
        st = combine(p, dec->sum, "sum_parts", dq, NULL, s->seq_q, s->heads, &p->qs, pq, (cl_uint)dec->n,
                     done, all, &e1);
    if (st == SCL_OK)
        st = combine(p, dec->sum, "sum_parts", dk, NULL, s->seq_k, s->kv_heads, &p->ks, pk, 1, &e1, all, &e2);
    if (st == SCL_OK)
        st = combine(p, dec->sum, "sum_parts", dv, NULL, s->seq_k, s->kv_heads, &p->ks, pv, 1, &e2, all, &e3);
    release(done, dec->n);
    cl_event tmp[2] = {e1, e2};
    release(tmp, 2);
    if (st == SCL_OK) finish(p, e3, event);
    return st;
}

const scli_plan_ops scli_decomp_plan_ops = {
    .forward = decomp_forward,
    .backward = decomp_backward,
    .prepare_backward = decomp_prepare_backward,
    .backward_owner = decomp_backward_owner,
    .computed_pairs = decomp_computed_pairs,
    .components = decomp_count,
    .device_bytes = decomp_device_bytes,
    .backward_bytes = decomp_backward_bytes,
};
