/* The pattern-aware forward with the transfer behind the compute: each rank posts its K/V exchange
 * (MPI_Ineighbor_alltoallv), runs the attention of its queries over its own keys while the remote
 * keys are in flight, then over the fetched keys, and merges the two parts by their log-sum-exps
 * with the library's merge kernel (kernels/decompose.cl merge_parts, the decomposed plans' merge).
 * The keys partition into own and fetched, so the merge is exactly softmax attention.
 *
 * Both parts are plans over block layouts cut from the pattern's LUT over the whole sequence
 * (element masks included), renumbered into their own index spaces: the local part is the shard
 * against itself, on the caller's buffers (zero copy); the remote part is the shard's queries
 * against the fetched key rows packed in (owner, run) order. Neither needs a frame of absolute
 * positions, so this forward holds the shard and the fetched rows only, whatever the pattern.
 *
 * The backward (below) runs the same parts the same way, each with the caller's whole-row O and
 * LSE, adds the two dQ parts and returns the fetched keys' partial dK, dV to their owners. */
#include "mpi_internal.h"
#include "scl_patterns.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct smpi_overlap {
    scl_plan *local, *remote; /* own queries x own keys; own queries x fetched keys (either may be NULL) */
    int64_t m;                /* fetched key rows: [B][H_kv][m][d] */
    cl_mem k, v, o, lse, lse_local;
    cl_mem dq, dk, dv; /* backward: the remote part's dQ; its partial dK, dV of the fetched rows */
    /* The remote part's queries: only the shard's query blocks that need a fetched key (with a local
     * part; else all of them). nq rows, packed from the shard's rows by runs (src, dst, count: nruns
     * triples); inv[i] (device, int): the packed row of shard row i, or -1. inv NULL: all rows, in
     * place (nq = n, no packing). qr, orr, dor, lr: packed Q, O, dO and LSE (backward: O, dO, LSE). */
    int64_t nq, *runs;
    int nruns;
    cl_mem inv, qr, orr, dor, lr;
    cl_program program;
    cl_kernel merge, sum;
    int row_form; /* decompose.cl's work-item mapping: 1 on CPUs (a row a work-item), 0 on GPUs */
} smpi_overlap;

static cl_mem make(scl_mpi_plan *p, size_t bytes, scl_status *st)
{
    return *st == SCL_OK ? smpi_buffer(p, bytes, st) : NULL;
}

/* (mpi_internal.h) *missed is 0 when the map holds every needed block: a check of the planner's runs. */
scl_status smpi_cut_layout(scl_mpi_plan *p, const int32_t *rows, int64_t nbq, const int32_t *col, int64_t nbk,
                           const unsigned char *need, int64_t *missed, scl_pattern **out)
{
    const spc_lut *lut = p->lut;
    const int heads = lut->n_layouts == 1 ? 1 : lut->heads, b = p->shape.block;
    const int64_t cells = (int64_t)heads * nbq * nbk, r0 = p->start[p->rank] / b,
                  r1 = (p->start[p->rank] + p->len[p->rank] + b - 1) / b;
    uint8_t *lay = calloc((size_t)cells + 1, 1);
    int32_t *ids = malloc(((size_t)cells + 1) * sizeof *ids);
    *out = NULL;
    if (!lay || !ids) {
        free(lay), free(ids);
        return smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "overlap layout of %lld blocks", (long long)cells);
    }
    int64_t any = 0;
    for (int64_t i = 0; i < cells; i++)
        ids[i] = -1;
    for (int h = 0; h < heads; h++) {
        const int32_t *ptr = lut->row_ptr + (size_t)(heads == 1 ? 0 : lut->head_layout[h]) * (lut->nb_q + 1);
        for (int64_t i = 0; i < nbq; i++)
            for (int32_t e = rows[i] < 0 ? 0 : ptr[rows[i]]; rows[i] >= 0 && e < ptr[rows[i] + 1]; e++) {
                int32_t c = lut->col_idx[e];
                if (col[c] < 0) {
                    if (missed) *missed += need[c] && (c < r0 || c >= r1); /* own keys: the local part's */
                    continue;
                }
                int64_t at = ((int64_t)h * nbq + i) * nbk + col[c];
                lay[at] = 1, ids[at] = lut->row_mask[e], any++;
            }
    }
    scl_status st = SCL_OK;
    if (any)
        st = scl_pattern_create_layout(p->rt, lay, heads, nbq, nbk, lut->block, lut->n_masks ? ids : NULL,
                                       lut->n_masks ? lut->masks : NULL, lut->n_masks, out);
    if (st != SCL_OK) smpi_fail(p, st, "overlap layout: %s", scl_last_error_message(p->rt));
    free(lay), free(ids);
    return st;
}

static scl_status sub_plan(scl_mpi_plan *p, scl_pattern *pat, int64_t nq, int64_t nk, scl_plan **out)
{
    scl_shape s = p->shape;
    s.seq_q = nq, s.seq_k = nk;
    scl_status st = pat ? scl_plan_create(p->rt, pat, &s, p->dtype, out) : SCL_OK;
    if (st != SCL_OK) smpi_fail(p, st, "overlap plan: %s", scl_last_error_message(p->rt));
    scl_pattern_destroy(pat);
    return st;
}

static scl_status build_merge(scl_mpi_plan *p, smpi_overlap *ov)
{
    char opt[128];
    ov->row_form = (scl_runtime_device(p->rt)->type & CL_DEVICE_TYPE_CPU) != 0;
    snprintf(opt, sizeof opt, "-D D=%d -D NPARTS=2 -D ROW_FORM=%d%s", p->shape.head_dim, ov->row_form,
             p->dtype == SCL_F16 ? " -D SCL_F16" : "");
    scl_status st = scl_build_program(p->rt, "decompose.cl", opt, &ov->program, NULL);
    if (st != SCL_OK) return smpi_fail(p, st, "decompose.cl: %s", scl_last_error_message(p->rt));
    cl_int e;
    ov->merge = clCreateKernel(ov->program, "merge_parts", &e);
    if (e == CL_SUCCESS) ov->sum = clCreateKernel(ov->program, "sum_parts", &e); /* the backward's */
    return e == CL_SUCCESS ? SCL_OK
                           : smpi_fail(p, SCL_ERR_OPENCL, "clCreateKernel(decompose.cl): CL error %d", e);
}

/* Key block maps: own blocks -> the shard's; fetched runs (whole blocks: shards and key ranges are
 * block-aligned, only the sequence's last block may be short) -> the packed fetched rows. */
static scl_status make_parts(scl_mpi_plan *p, smpi_overlap *ov, int32_t *col)
{
    const int me = p->rank, b = p->shape.block;
    const int64_t nb = p->lut->nb_k, r0 = p->start[me] / b, r1 = (p->start[me] + p->len[me] + b - 1) / b;
    const unsigned char *need = p->need_fwd + (size_t)me * (size_t)nb;
    int64_t missed = 0, m = 0, lo, cnt;
    scl_pattern *pl = NULL, *pr = NULL;
    int32_t *rows = col + nb; /* the shard's query blocks; reduced ones left empty (plan_reduce.c) */
    for (int64_t c = 0; c < nb; c++)
        col[c] = c >= r0 && c < r1 ? (int32_t)(c - r0) : -1;
    for (int64_t r = r0; r < r1; r++)
        rows[r - r0] = p->grow && p->grow[r] ? -1 : (int32_t)r;
    scl_status st = smpi_cut_layout(p, rows, r1 - r0, col, r1 - r0, need, NULL, &pl);
    for (int64_t c = 0; c < nb; c++)
        col[c] = -1;
    for (int s = 0; s < p->size; s++)
        for (int64_t pos = p->start[s]; s != me && (cnt = smpi_next_run_in(p, p->need_fwd, me, s, &pos, &lo)) > 0; m += cnt) {
            if (m % b || lo % b) return smpi_fail(p, SCL_ERR_UNSUPPORTED, "overlap: a fetched run off the blocks");
            for (int64_t i = 0; i * b < cnt; i++)
                col[lo / b + i] = (int32_t)(m / b + i);
        }
    /* With a local part, the remote part runs only the query blocks that need a fetched key (a
     * window's edge blocks, not the whole shard): less work, and its rows merge or add back by inv. */
    const int64_t nbq = r1 - r0, n = p->len[me];
    int32_t *sel = malloc(((size_t)nbq + 1) * sizeof *sel);
    int64_t nsel = 0;
    if (!sel) st = smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "overlap plan");
    for (int64_t i = 0; st == SCL_OK && i < nbq; i++) {
        int any = !pl; /* no local part: every row */
        const spc_lut *lut = p->lut;
        const int heads = lut->n_layouts == 1 ? 1 : lut->heads;
        for (int h = 0; h < heads && !any && rows[i] >= 0; h++) {
            const int32_t *ptr =
                lut->row_ptr + (size_t)(heads == 1 ? 0 : lut->head_layout[h]) * (lut->nb_q + 1);
            for (int32_t e = ptr[rows[i]]; e < ptr[rows[i] + 1] && !any; e++)
                any = col[lut->col_idx[e]] >= 0;
        }
        if (any) sel[nsel++] = (int32_t)i;
    }
    ov->nq = n;
    if (st == SCL_OK && pl && nsel < nbq) { /* packed: runs of selected blocks and the row map */
        int32_t *inv = malloc(((size_t)n + 1) * sizeof *inv);
        ov->runs = malloc(((size_t)nsel * 3 + 1) * sizeof *ov->runs);
        if (!inv || !ov->runs) st = smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "overlap plan");
        for (int64_t i = 0; st == SCL_OK && i < n; i++)
            inv[i] = -1;
        int64_t at = 0;
        for (int64_t j = 0; st == SCL_OK && j < nsel; j++) {
            const int64_t r = (int64_t)sel[j] * b, cnt = n - r < b ? n - r : b;
            if (ov->nruns && ov->runs[3 * (ov->nruns - 1)] + ov->runs[3 * (ov->nruns - 1) + 2] == r)
                ov->runs[3 * (ov->nruns - 1) + 2] += cnt; /* continues the last run */
            else {
                int64_t *run = ov->runs + 3 * ov->nruns++;
                run[0] = r, run[1] = at, run[2] = cnt;
            }
            for (int64_t t = 0; t < cnt; t++)
                inv[r + t] = (int32_t)(at + t);
            at += cnt;
            sel[j] = rows[sel[j]];
        }
        ov->nq = at;
        if (st == SCL_OK) ov->inv = smpi_buffer(p, ((size_t)n + 1) * sizeof *inv, &st);
        if (st == SCL_OK) st = smpi_write(p, ov->inv, inv, (size_t)n * sizeof *inv);
        free(inv);
    } else {
        for (int64_t i = 0; i < nbq; i++)
            sel[i] = rows[i];
        nsel = nbq;
    }
    if (st == SCL_OK) st = smpi_cut_layout(p, sel, nsel, col, (m + b - 1) / b, need, &missed, &pr);
    free(sel);
    if (st == SCL_OK && missed)
        st = smpi_fail(p, SCL_ERR_UNSUPPORTED, "overlap: %lld needed key blocks not fetched", (long long)missed);
    ov->m = m;
    if (st == SCL_OK) st = sub_plan(p, pl, n, n, &ov->local), pl = NULL;
    if (st == SCL_OK) st = sub_plan(p, pr, ov->nq, m, &ov->remote), pr = NULL;
    scl_pattern_destroy(pl);
    scl_pattern_destroy(pr);
    return st;
}

int smpi_overlap_wanted(void)
{
    const char *env = getenv("SPARSECL_MPI_OVERLAP");
    if (!env || !*env || !strcmp(env, "on") || !strcmp(env, "1")) return 1;
    return !strcmp(env, "off") || !strcmp(env, "0") ? 0 : -1;
}

scl_status smpi_overlap_setup(scl_mpi_plan *p, int *ok)
{
    *ok = 0;
    if (smpi_overlap_wanted() != 1) return SCL_OK; /* off (a bad value is refused at plan creation) */
    *ok = 1;
    scl_status st = smpi_reduce_setup(p); /* every rank, idle ones too: they take part in reductions */
    if (st != SCL_OK || !p->len[p->rank]) return st; /* an idle rank only takes part in the exchanges */
    smpi_overlap *ov = calloc(1, sizeof *ov);
    int32_t *col = calloc(2 * (size_t)p->lut->nb_k + 1, sizeof *col);
    p->ov = ov;
    if (!ov || !col) {
        free(col);
        return smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "overlap plan");
    }
    st = make_parts(p, ov, col);
    free(col);
    const size_t bh = (size_t)p->shape.batch * p->shape.heads, n = (size_t)p->len[p->rank];
    const size_t kvrow = (size_t)p->shape.batch * p->shape.kv_heads * p->shape.head_dim * p->esz;
    const size_t qrow = (size_t)p->shape.head_dim * p->esz, nq = (size_t)ov->nq;
    if (ov->remote) {
        ov->k = make(p, (size_t)ov->m * kvrow, &st), ov->v = make(p, (size_t)ov->m * kvrow, &st);
        ov->lse = make(p, bh * nq * sizeof(float), &st);
    }
    if (ov->remote && ov->inv) ov->qr = make(p, bh * nq * qrow, &st);
    if (ov->remote && ov->local) {
        ov->o = make(p, bh * nq * qrow, &st);
        ov->lse_local = make(p, bh * n * sizeof(float), &st);
        if (st == SCL_OK) st = build_merge(p, ov);
    }
    return st;
}

void smpi_overlap_free(scl_mpi_plan *p)
{
    smpi_overlap *ov = p->ov;
    smpi_reduce_free(p);
    if (!ov) return;
    scl_plan_destroy(ov->local);
    scl_plan_destroy(ov->remote);
    cl_mem m[13] = {ov->k,  ov->v,   ov->o,  ov->lse, ov->lse_local, ov->dq, ov->dk,
                    ov->dv, ov->inv, ov->qr, ov->orr, ov->dor,       ov->lr};
    for (int i = 0; i < 13; i++)
        if (m[i]) clReleaseMemObject(m[i]);
    free(ov->runs);
    if (ov->merge) clReleaseKernel(ov->merge);
    if (ov->sum) clReleaseKernel(ov->sum);
    if (ov->program) clReleaseProgram(ov->program);
    free(ov);
    p->ov = NULL;
}

/* One launch of merge_parts or sum_parts over n rows of B x H slices. */
static scl_status launch(scl_mpi_plan *p, smpi_overlap *ov, cl_kernel kr, const char *name, int n, int H)
{
    const int d = p->shape.head_dim;
    const size_t bh = (size_t)p->shape.batch * H, maxwg = scl_runtime_device(p->rt)->max_work_group_size;
    /* GPU form: work-groups of about 256 (d/4 columns x rows), as the decomposed plans launch it. */
    const size_t wg = maxwg < 256 ? maxwg : 256, cols = (size_t)d / 4, per = cols >= wg ? 1 : wg / cols;
    size_t rows[2] = {(size_t)n, bh}, elems[3] = {cols, ((size_t)n + per - 1) / per * per, bh},
           local[3] = {cols, per, 1};
    if (!n || !bh) return SCL_OK;
    cl_int e =
        clEnqueueNDRangeKernel(scl_runtime_queue(p->rt), kr, ov->row_form ? 2 : 3, NULL,
                               ov->row_form ? rows : elems, ov->row_form ? NULL : local, 0, NULL, NULL);
    return e == CL_SUCCESS ? SCL_OK : smpi_fail(p, SCL_ERR_OPENCL, "%s: CL error %d", name, e);
}

/* merge_parts (with_lse: out the merged LSE, may be NULL) or sum_parts over dst [B][H][n][d]: part 0
 * is dst itself (l0 its LSE), part 1 x1 over n1 rows (l1 its LSE), row i of dst being row inv1[i]
 * of x1 (-1: none; inv1 NULL: the identity, n1 = n). In place is safe: each work-item reads its
 * own elements of dst before it writes them. */
static scl_status combine(scl_mpi_plan *p, smpi_overlap *ov, int with_lse, cl_mem dst, cl_mem out, cl_mem l0,
                          cl_mem x1, cl_mem l1, cl_mem inv1, int n1, int n, int H)
{
    const int d = p->shape.head_dim;
    cl_kernel kr = with_lse ? ov->merge : ov->sum;
    const cl_long str[3] = {(cl_long)H * n * d, (cl_long)n * d, d},
                  str1[3] = {(cl_long)H * n1 * d, (cl_long)n1 * d, d};
    const cl_mem none = NULL, x[4] = {dst, x1, dst, dst}, l[4] = {l0, l1, l0, l0},
                 inv[4] = {none, inv1, none, none};
    const int nk[4] = {n, n1, n, n};
    cl_uint a = 0;
    cl_int e = CL_SUCCESS;
    e |= clSetKernelArg(kr, a++, sizeof dst, &dst);
    if (with_lse) e |= clSetKernelArg(kr, a++, sizeof out, &out);
    e |= clSetKernelArg(kr, a++, sizeof n, &n);
    e |= clSetKernelArg(kr, a++, sizeof H, &H);
    for (int i = 0; i < 3; i++)
        e |= clSetKernelArg(kr, a++, sizeof str[i], &str[i]);
    for (int k = 0; k < 4; k++) { /* parts 2, 3 repeat part 0: NPARTS = 2 ignores them */
        const cl_long *sk = k == 1 ? str1 : str;
        e |= clSetKernelArg(kr, a++, sizeof x[k], &x[k]);
        e |= clSetKernelArg(kr, a++, sizeof l[k], &l[k]);
        e |= clSetKernelArg(kr, a++, sizeof inv[k], &inv[k]);
        e |= clSetKernelArg(kr, a++, sizeof nk[k], &nk[k]);
        for (int i = 0; i < 3; i++)
            e |= clSetKernelArg(kr, a++, sizeof sk[i], &sk[i]);
    }
    if (e != CL_SUCCESS)
        return smpi_fail(p, SCL_ERR_OPENCL, "clSetKernelArg(%s) failed",
                         with_lse ? "merge_parts" : "sum_parts");
    return launch(p, ov, kr, with_lse ? "merge_parts" : "sum_parts", n, H);
}

/* o = the merge of (o, lse_local) and the remote part's (ov->o, ov->lse); lse (may be NULL) the
 * merged LSE. */
static scl_status merge(scl_mpi_plan *p, smpi_overlap *ov, cl_mem o, cl_mem lse)
{
    return combine(p, ov, 1, o, lse, ov->lse_local, ov->o, ov->lse, ov->inv, (int)ov->nq,
                   (int)p->len[p->rank], p->shape.heads);
}

/* dst += x, both [B][H][n][d]. */
static scl_status add_into(scl_mpi_plan *p, smpi_overlap *ov, cl_mem dst, cl_mem x, int n, int H)
{
    return combine(p, ov, 0, dst, NULL, NULL, x, NULL, NULL, n, n, H);
}

/* The remote part's rows of a shard tensor [B*H][n][w] packed into dst [B*H][nq][w] (by runs). */
static scl_status pack_rows(scl_mpi_plan *p, smpi_overlap *ov, cl_mem src, cl_mem dst, size_t w)
{
    const size_t bh = (size_t)p->shape.batch * p->shape.heads;
    scl_status st = SCL_OK;
    for (int r = 0; r < ov->nruns && st == SCL_OK; r++)
        st = smpi_copy_rows(p, src, (size_t)ov->runs[3 * r], (size_t)p->len[p->rank], dst,
                            (size_t)ov->runs[3 * r + 1], (size_t)ov->nq, (size_t)ov->runs[3 * r + 2], bh, w);
    return st;
}

/* The fetched rows as they arrived (per owner and run, [B*H_kv][cnt] rows each) into the packed
 * device buffer [B*H_kv][m]; non-blocking: rb stays until the queue is finished. */
static scl_status write_fetched(scl_mpi_plan *p, cl_mem dev, const smpi_rows *x, size_t row)
{
    const int me = p->rank;
    const size_t bh = (size_t)p->shape.batch * p->shape.kv_heads, pitch = (size_t)p->ov->m * row;
    int64_t lo, cnt, m = 0;
    for (int s = 0; s < p->size; s++) {
        const char *src = x->rb + (size_t)x->rd[s] * row;
        for (int64_t pos = p->start[s]; s != me && (cnt = smpi_next_run_in(p, p->need_fwd, me, s, &pos, &lo)) > 0; m += cnt) {
            size_t at[3] = {(size_t)m * row, 0, 0}, zero[3] = {0, 0, 0}, region[3] = {(size_t)cnt * row, bh, 1};
            cl_int e = clEnqueueWriteBufferRect(scl_runtime_queue(p->rt), dev, CL_FALSE, at, zero, region, pitch, 0,
                                                (size_t)cnt * row, 0, src, 0, NULL, NULL);
            if (e != CL_SUCCESS) return smpi_fail(p, SCL_ERR_OPENCL, "clEnqueueWriteBufferRect: CL error %d", e);
            src += (size_t)cnt * row * bh;
        }
    }
    return SCL_OK;
}

/* This rank's parts: the local one is enqueued before the exchange is waited for (the device
 * computes while MPI moves the keys), the remote one and the merge after. */
static scl_status local_part(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse)
{
    smpi_overlap *ov = p->ov;
    if (!ov || !ov->local) return SCL_OK;
    scl_status st = scl_plan_forward(ov->local, q, k, v, o, ov->remote ? ov->lse_local : lse, 0, NULL, NULL);
    if (st != SCL_OK) return smpi_fail(p, st, "local keys' plan: %s", scl_last_error_message(p->rt));
    return clFlush(scl_runtime_queue(p->rt)) == CL_SUCCESS ? SCL_OK
                                                          : smpi_fail(p, SCL_ERR_OPENCL, "clFlush failed");
}

static scl_status remote_part(scl_mpi_plan *p, cl_mem q, cl_mem o, cl_mem lse, const smpi_rows *x, size_t row)
{
    smpi_overlap *ov = p->ov;
    scl_status st = SCL_OK;
    if (!ov) return SCL_OK;
    if (!ov->local && !ov->remote) { /* no allowed key at all: O = 0, LSE = -inf, as the plain kernel */
        const float zero = 0.0f, minus = -INFINITY;
        size_t n = (size_t)p->len[p->rank] * p->shape.batch * p->shape.heads;
        cl_int e = clEnqueueFillBuffer(scl_runtime_queue(p->rt), o, &zero, sizeof zero, 0,
                                       n * p->shape.head_dim * p->esz, 0, NULL, NULL);
        if (lse && e == CL_SUCCESS)
            e = clEnqueueFillBuffer(scl_runtime_queue(p->rt), lse, &minus, sizeof minus, 0, n * sizeof minus, 0,
                                    NULL, NULL);
        return e == CL_SUCCESS ? SCL_OK : smpi_fail(p, SCL_ERR_OPENCL, "clEnqueueFillBuffer: CL error %d", e);
    }
    if (!ov->remote) return SCL_OK;
    st = write_fetched(p, ov->k, &x[0], row);
    if (st == SCL_OK) st = write_fetched(p, ov->v, &x[1], row);
    if (st == SCL_OK && ov->inv) st = pack_rows(p, ov, q, ov->qr, (size_t)p->shape.head_dim * p->esz);
    if (st == SCL_OK) {
        st = scl_plan_forward(ov->remote, ov->inv ? ov->qr : q, ov->k, ov->v, ov->local ? ov->o : o,
                              ov->local ? ov->lse : lse, 0, NULL, NULL);
        if (st != SCL_OK) smpi_fail(p, st, "fetched keys' plan: %s", scl_last_error_message(p->rt));
    }
    return st == SCL_OK && ov->local ? merge(p, ov, o, lse) : st;
}

scl_status smpi_overlap_forward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse)
{
    const int me = p->rank, have = p->len[me] > 0;
    const size_t row = (size_t)p->shape.head_dim * p->esz, bh = (size_t)p->shape.batch * p->shape.kv_heads;
    const size_t shard = bh * (size_t)p->len[me] * row;
    char *hs[2] = {malloc(shard + 1), malloc(shard + 1)};
    smpi_rows x[2];
    smpi_inflight f[2];
    cl_mem kv[2] = {k, v};
    scl_status st = hs[0] && hs[1] ? SCL_OK : smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "staging of %zu bytes", shard);
    for (int i = 0; i < 2 && st == SCL_OK && have; i++)
        st = smpi_read_given(p, kv[i], hs[i], bh, row);
    if (st == SCL_OK) st = smpi_reduce_read(p, q);
    int posted = 0;
    double t0 = smpi_now_ms(), t1 = t0, t2 = t0;
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
    st = smpi_kv_pack(p, p->need_fwd, &x[0], hs[0], NULL, p->shape.kv_heads, row, 0);
    if (st == SCL_OK) st = smpi_kv_pack(p, p->need_fwd, &x[1], hs[1], NULL, p->shape.kv_heads, row, 0);
    else smpi_rows_counts(p, &x[1]);
    if (st != SCL_OK) goto freed;
    for (posted = 0; posted < 2; posted++) /* K, then V: every rank posts in this order */
        if ((st = smpi_neighbor_post(p, p->graph[0], x[posted].sb, x[posted].sc, x[posted].sd, x[posted].rb,
                                     x[posted].rc, x[posted].rd, row, &f[posted])) != SCL_OK)
            break;
    scl_status sr = st == SCL_OK ? smpi_reduce_post(p) : SCL_OK; /* reduced rows' queries to every rank */
    scl_status sl = st == SCL_OK && have ? local_part(p, q, k, v, o, lse) : SCL_OK;
    t1 = smpi_now_ms();
    for (int i = 0; i < posted; i++) {
        scl_status sw = smpi_neighbor_wait(p, &f[i]);
        if (st == SCL_OK) st = sw;
    }
    if (st == SCL_OK && sr == SCL_OK) sr = smpi_reduce_compute(p, k, v); /* waits for the queries */
    t2 = smpi_now_ms();
    if (st == SCL_OK) st = sr;
    if (st == SCL_OK) st = sl;
    if (st == SCL_OK && have) st = remote_part(p, q, o, lse, x, row);
    if (clFinish(scl_runtime_queue(p->rt)) != CL_SUCCESS && st == SCL_OK)
        st = smpi_fail(p, SCL_ERR_OPENCL, "clFinish after the overlapped forward failed");
    p->traffic.compute_ms += smpi_now_ms() - t2 + (t1 - t0);
    p->traffic.overlapped = 1;
    if (p->g_total > 0 && (st = smpi_agree(p, st, p->err)) == SCL_OK) st = smpi_reduce_finish(p, o, lse);
    if (getenv("SPARSECL_MPI_TRACE"))
        fprintf(stderr,
                "rank %d: overlapped: posted + local part enqueued %.1f ms, wait %.1f ms, rest %.1f ms; %lld "
                "reduced rows\n",
                me, t1 - t0, t2 - t1, smpi_now_ms() - t2, (long long)p->g_total);
freed:
    smpi_rows_free(&x[0]);
    smpi_rows_free(&x[1]);
done:
    free(hs[0]);
    free(hs[1]);
    return smpi_agree(p, st, p->err);
}

/* ---- Backward --------------------------------------------------------------------------------
 * The same two parts (and the reduced rows, plan_reduce.c), each run with the caller's O and LSE:
 * those of the merged forward, i.e. of the whole row. The backward recomputes P = e^(S - LSE) and
 * D = rowsum(dO O) from them, so each part's P is exactly the whole softmax's restricted to its
 * keys, its dQ is the whole dQ's sum over those keys (the two dQ parts add), and the dK, dV of
 * every key are exact (each key is in one part). A part's own LSE would be wrong here: its P
 * would be renormalised over its keys. */

/* The backward's buffers, made on its first call. */
static scl_status ensure_backward(scl_mpi_plan *p, smpi_overlap *ov)
{
    scl_status st = SCL_OK;
    const size_t row = (size_t)p->shape.head_dim * p->esz;
    const size_t kvrow = (size_t)p->shape.batch * p->shape.kv_heads * row;
    cl_mem rdk, rdv;
    if (ov->remote && !ov->dk) {
        ov->dk = make(p, (size_t)ov->m * kvrow, &st), ov->dv = make(p, (size_t)ov->m * kvrow, &st);
        const size_t q = (size_t)p->shape.batch * p->shape.heads * (size_t)ov->nq;
        if (ov->local) ov->dq = make(p, q * row, &st);
        if (ov->inv) {
            ov->orr = make(p, q * row, &st), ov->dor = make(p, q * row, &st);
            ov->lr = make(p, q * sizeof(float), &st);
        }
    }
    if (st == SCL_OK && !ov->sum && ov->local && (ov->remote || smpi_reduce_bwd_dkv(p, &rdk, &rdv)))
        st = build_merge(p, ov);
    return st;
}

static scl_status fill_zero(scl_mpi_plan *p, cl_mem m, size_t bytes)
{
    const float zero = 0.0f;
    cl_int e = clEnqueueFillBuffer(scl_runtime_queue(p->rt), m, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    return e == CL_SUCCESS ? SCL_OK : smpi_fail(p, SCL_ERR_OPENCL, "clEnqueueFillBuffer: CL error %d", e);
}

static scl_status local_backward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                 cl_mem dout, cl_mem dq, cl_mem dk, cl_mem dv)
{
    smpi_overlap *ov = p->ov;
    if (!ov || !ov->local) return SCL_OK;
    scl_status st = scl_plan_backward(ov->local, q, k, v, o, lse, dout, dq, dk, dv, 0, NULL, NULL);
    if (st != SCL_OK) return smpi_fail(p, st, "local keys' backward: %s", scl_last_error_message(p->rt));
    return clFlush(scl_runtime_queue(p->rt)) == CL_SUCCESS ? SCL_OK
                                                           : smpi_fail(p, SCL_ERR_OPENCL, "clFlush failed");
}

/* After the exchange: the own keys' dK, dV completed on the device (the reduced rows' added, or
 * set when there is no local part), the fetched keys' backward, its dQ added, and its partial dK,
 * dV read into hd[0], hd[1] ([B*H_kv][m] rows, as ov->k). */
static scl_status remote_backward(scl_mpi_plan *p, cl_mem q, cl_mem o, cl_mem lse, cl_mem dout, cl_mem dq,
                                  cl_mem dk, cl_mem dv, const smpi_rows *x, size_t row, char **hd)
{
    smpi_overlap *ov = p->ov;
    const int n = (int)p->len[p->rank], H = p->shape.heads, Hk = p->shape.kv_heads;
    const size_t kvb = (size_t)p->shape.batch * Hk * (size_t)n * row;
    cl_mem rdk, rdv;
    const int red = smpi_reduce_bwd_dkv(p, &rdk, &rdv);
    scl_status st = SCL_OK;
    cl_int e = CL_SUCCESS;
    if (!ov->local) { /* nothing wrote the own keys' dK, dV (nor dQ, without a remote part) */
        if (red) {
            e |= clEnqueueCopyBuffer(scl_runtime_queue(p->rt), rdk, dk, 0, 0, kvb, 0, NULL, NULL);
            e |= clEnqueueCopyBuffer(scl_runtime_queue(p->rt), rdv, dv, 0, 0, kvb, 0, NULL, NULL);
            if (e != CL_SUCCESS) st = smpi_fail(p, SCL_ERR_OPENCL, "clEnqueueCopyBuffer failed");
        } else {
            st = fill_zero(p, dk, kvb);
            if (st == SCL_OK) st = fill_zero(p, dv, kvb);
        }
        if (st == SCL_OK && !ov->remote) st = fill_zero(p, dq, (size_t)p->shape.batch * H * (size_t)n * row);
    } else if (red) {
        st = add_into(p, ov, dk, rdk, n, Hk);
        if (st == SCL_OK) st = add_into(p, ov, dv, rdv, n, Hk);
    }
    if (st != SCL_OK || !ov->remote) return st;
    st = write_fetched(p, ov->k, &x[0], row);
    if (st == SCL_OK) st = write_fetched(p, ov->v, &x[1], row);
    const cl_mem src[4] = {q, o, dout, lse}, packed[4] = {ov->qr, ov->orr, ov->dor, ov->lr};
    for (int t = 0; t < 4 && st == SCL_OK && ov->inv; t++) /* the rows that need a fetched key */
        st = pack_rows(p, ov, src[t], packed[t], t == 3 ? sizeof(float) : row);
    const cl_mem *in = ov->inv ? packed : src;
    if (st == SCL_OK) {
        st = scl_plan_backward(ov->remote, in[0], ov->k, ov->v, in[1], in[3], in[2], ov->local ? ov->dq : dq,
                               ov->dk, ov->dv, 0, NULL, NULL);
        if (st != SCL_OK) smpi_fail(p, st, "fetched keys' backward: %s", scl_last_error_message(p->rt));
    }
    if (st == SCL_OK && ov->local)
        st = combine(p, ov, 0, dq, NULL, NULL, ov->dq, NULL, ov->inv, (int)ov->nq, n, H);
    const size_t bytes = (size_t)ov->m * p->shape.batch * Hk * row;
    if (st == SCL_OK) st = smpi_read(p, ov->dk, hd[0], bytes);
    if (st == SCL_OK) st = smpi_read(p, ov->dv, hd[1], bytes);
    return st;
}

/* The reverse exchange's counts and send buffer: to each owner the partial dK or dV of the rows
 * fetched from it, in the forward's (owner, run, batch-head) order, from hd ([B*H_kv][m]). Agreed. */
static scl_status pack_back(scl_mpi_plan *p, smpi_rows *y, const char *hd, size_t row)
{
    const int me = p->rank;
    const int64_t BX = (int64_t)p->shape.batch * p->shape.kv_heads, m = p->ov ? p->ov->m : 0;
    int64_t lo, cnt;
    smpi_rows_counts(p, y);
    for (int s = 0; s < p->size; s++) {
        if (s == me) continue;
        for (int64_t pos = p->start[s]; (cnt = smpi_next_run_in(p, p->need_fwd, me, s, &pos, &lo)) > 0;)
            y->sc[s] += (int)(BX * cnt);
        for (int64_t pos = p->start[me]; (cnt = smpi_next_run_in(p, p->need_fwd, s, me, &pos, &lo)) > 0;)
            y->rc[s] += (int)(BX * cnt);
    }
    scl_status st = smpi_rows_buffers(p, y, row);
    if (st != SCL_OK) return st;
    int64_t o = 0, at = 0;
    for (int s = 0; s < p->size; s++)
        for (int64_t pos = p->start[s];
             s != me && (cnt = smpi_next_run_in(p, p->need_fwd, me, s, &pos, &lo)) > 0; at += cnt)
            for (int64_t bh = 0; bh < BX; bh++, o += cnt)
                memcpy(y->sb + (size_t)o * row, hd + (size_t)(bh * m + at) * row, (size_t)cnt * row);
    return SCL_OK;
}

/* The partials the other ranks returned, added into this rank's host shard [B*H_kv][n]. */
static void add_back(scl_mpi_plan *p, const smpi_rows *y, char *hs, size_t row)
{
    const int me = p->rank;
    const int64_t BX = (int64_t)p->shape.batch * p->shape.kv_heads, n = p->len[me];
    int64_t lo, cnt;
    for (int s = 0; s < p->size; s++) {
        int64_t o = y->rd[s];
        for (int64_t pos = p->start[me];
             s != me && (cnt = smpi_next_run_in(p, p->need_fwd, s, me, &pos, &lo)) > 0;)
            for (int64_t bh = 0; bh < BX; bh++, o += cnt)
                smpi_accumulate(p, hs + (size_t)(bh * n + lo - p->start[me]) * row, y->rb + (size_t)o * row,
                                (size_t)cnt * row / p->esz);
    }
}

scl_status smpi_overlap_backward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                 cl_mem dout, cl_mem dq, cl_mem dk, cl_mem dv)
{
    const int me = p->rank, have = p->len[me] > 0;
    smpi_overlap *ov = p->ov;
    const size_t row = (size_t)p->shape.head_dim * p->esz, bh = (size_t)p->shape.batch * p->shape.kv_heads;
    const size_t shard = bh * (size_t)p->len[me] * row, fetched = bh * (size_t)(ov ? ov->m : 0) * row;
    char *hs[2] = {malloc(shard + 1), malloc(shard + 1)}, *hd[2] = {malloc(fetched + 1), malloc(fetched + 1)};
    smpi_rows x[2], y[2];
    smpi_inflight f[2], g[2];
    cl_mem kv[2] = {k, v}, dkv[2] = {dk, dv};
    int posted = 0, back = 0, packed = 0;
    scl_status st = hs[0] && hs[1] && hd[0] && hd[1]
                        ? SCL_OK
                        : smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "staging of %zu bytes", 2 * (shard + fetched));
    for (int i = 0; i < 2 && st == SCL_OK && have; i++)
        st = smpi_read_given(p, kv[i], hs[i], bh, row);
    if (st == SCL_OK)
        st = smpi_reduce_bwd_read(p, q, o, dout, lse); /* first: makes the reduced rows' dK, dV */
    if (st == SCL_OK && ov) st = ensure_backward(p, ov);
    double t0 = smpi_now_ms(), t1 = t0, t2 = t0, t3 = t0;
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
    st = smpi_kv_pack(p, p->need_fwd, &x[0], hs[0], NULL, p->shape.kv_heads, row, 0);
    if (st == SCL_OK)
        st = smpi_kv_pack(p, p->need_fwd, &x[1], hs[1], NULL, p->shape.kv_heads, row, 0);
    else
        smpi_rows_counts(p, &x[1]);
    packed = 1;
    if (st != SCL_OK) goto done;
    for (posted = 0; posted < 2; posted++) /* K, then V: every rank posts in this order */
        if ((st = smpi_neighbor_post(p, p->graph[0], x[posted].sb, x[posted].sc, x[posted].sd, x[posted].rb,
                                     x[posted].rc, x[posted].rd, row, &f[posted])) != SCL_OK)
            break;
    scl_status sr = st == SCL_OK ? smpi_reduce_bwd_post(p) : SCL_OK; /* reduced rows' Q, O, dO, LSE */
    scl_status sl = st == SCL_OK && have ? local_backward(p, q, k, v, o, lse, dout, dq, dk, dv) : SCL_OK;
    t1 = smpi_now_ms();
    for (int i = 0; i < posted; i++) {
        scl_status sw = smpi_neighbor_wait(p, &f[i]);
        if (st == SCL_OK) st = sw;
    }
    if (st == SCL_OK && sr == SCL_OK) sr = smpi_reduce_bwd_compute(p, k, v); /* waits for the gathers */
    t2 = smpi_now_ms();
    if (st == SCL_OK) st = sr;
    if (st == SCL_OK) st = sl;
    if (st == SCL_OK && have) st = remote_backward(p, q, o, lse, dout, dq, dk, dv, x, row, hd);
    if (clFinish(scl_runtime_queue(p->rt)) != CL_SUCCESS && st == SCL_OK)
        st = smpi_fail(p, SCL_ERR_OPENCL, "clFinish after the overlapped backward failed");
    t3 = smpi_now_ms();
    p->traffic.compute_ms += t3 - t2 + (t1 - t0);
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
    /* The fetched keys' partials back to their owners, in flight while the reduced rows' dQ is
     * summed and the own keys' dK, dV are read. */
    st = pack_back(p, &y[0], hd[0], row);
    if (st == SCL_OK)
        st = pack_back(p, &y[1], hd[1], row);
    else
        smpi_rows_counts(p, &y[1]);
    packed = 2;
    if (st != SCL_OK) goto done;
    for (back = 0; back < 2; back++)
        if ((st = smpi_neighbor_post(p, p->graph[1], y[back].sb, y[back].sc, y[back].sd, y[back].rb,
                                     y[back].rc, y[back].rd, row, &g[back])) != SCL_OK)
            break;
    scl_status sq = p->g_total > 0 ? smpi_reduce_bwd_finish(p, dq) : SCL_OK; /* collective: every rank */
    for (int i = 0; i < 2 && st == SCL_OK && have; i++)
        st = smpi_read(p, dkv[i], hs[i], shard);
    for (int i = 0; i < back; i++) {
        scl_status sw = smpi_neighbor_wait(p, &g[i]);
        if (st == SCL_OK) st = sw;
    }
    for (int i = 0; i < 2 && st == SCL_OK && have; i++) {
        add_back(p, &y[i], hs[i], row);
        st = smpi_write(p, dkv[i], hs[i], shard);
    }
    if (st == SCL_OK) st = sq;
    p->traffic.overlapped = 1;
    if (getenv("SPARSECL_MPI_TRACE"))
        fprintf(stderr,
                "rank %d: overlapped backward: posted + local part enqueued %.1f ms, wait %.1f ms, fetched "
                "part %.1f ms, return %.1f ms; fetched keys' part over %lld of %lld query rows; %lld reduced "
                "rows\n",
                me, t1 - t0, t2 - t1, t3 - t2, smpi_now_ms() - t3, (long long)(ov && ov->remote ? ov->nq : 0),
                (long long)p->len[me], (long long)p->g_total);
done:
    if (packed >= 1) smpi_rows_free(&x[0]), smpi_rows_free(&x[1]);
    if (packed >= 2) smpi_rows_free(&y[0]), smpi_rows_free(&y[1]);
    for (int i = 0; i < 2; i++)
        free(hs[i]), free(hd[i]);
    return smpi_agree(p, st, p->err);
}
