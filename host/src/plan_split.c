/* Split rows (split-KV): a query tile whose LUT row is many times longer than a work-group's share
 * of the plan's work is the kernel's critical path however the tiles are ordered (BigBird's global
 * rows: 256 blocks against ~77 a work-group slot on an H200; Longformer's gathered global rows: 16
 * work-groups in all). Such tiles run as chunks on work-groups of their own, each writing its
 * normalised O and LSE to scratch, and attn_fwd_split_merge combines them by LSE
 * (kernels/attn_fwd_mma.cl). SPARSECL_SPLIT_ROWS=N splits every row longer than N blocks into
 * chunks of N (tests and timing), 0 splits nothing. */
#include "plan_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Work-groups a compute unit runs at once, about (the mma forward's tiles on an H200: 2-4). */
#define GROUPS_PER_UNIT 4
/* The shortest chunk worth a work-group: its prologue and epilogue against the tiles it runs. */
#define MIN_CHUNK_BLOCKS 8

void scli_split_release(scl_plan *p)
{
    cl_mem m[] = {p->split.work, p->split.tiles, p->split.part_o, p->split.part_l};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (m[i]) clReleaseMemObject(m[i]);
    if (p->split.merge) clReleaseKernel(p->split.merge);
    memset(&p->split, 0, sizeof p->split);
}

/* Blocks of query tile t's row in layout lay. */
static int row_blocks(const spc_lut *l, int lay, int t, int bq)
{
    const int brow = (int)((int64_t)t * bq / l->block);
    const int32_t *rp = l->row_ptr + (size_t)lay * (l->nb_q + 1);
    return rp[brow + 1] - rp[brow];
}

/* Chunk length in blocks and the rows longer than `over` blocks to split (chunk 0: split nothing). */
static scl_status chunk_length(const scl_plan *p, int bq, int n_t, int *chunk, int *over)
{
    const char *e = getenv("SPARSECL_SPLIT_ROWS");
    if (e && *e) {
        char *end;
        errno = 0;
        const long n = strtol(e, &end, 10);
        if (*end || errno || n < 0 || n > INT_MAX)
            return scli_fail(p->rt, SCL_ERR_INVALID_ARGUMENT,
                             "SPARSECL_SPLIT_ROWS='%s': expected a block count (0 splits nothing)", e);
        *chunk = *over = (int)n;
        return SCL_OK;
    }
    const spc_lut *l = p->lut;
    double total = 0; /* blocks over all work-groups */
    for (int h = 0; h < p->shape.heads; h++)
        for (int t = 0; t < n_t; t++) total += row_blocks(l, l->head_layout[h], t, bq);
    total *= p->shape.batch;
    const double slots = (double)(p->rt->dev.compute_units ? p->rt->dev.compute_units : 1) * GROUPS_PER_UNIT;
    const double share = total / slots;
    *chunk = share > MIN_CHUNK_BLOCKS ? (int)(share + 0.999) : MIN_CHUNK_BLOCKS;
    *over = 2 * *chunk; /* about one share: not worth a merge */
    return SCL_OK;
}

static void put4(cl_int *dst, cl_int a, cl_int b, cl_int c, cl_int d)
{
    dst[0] = a, dst[1] = b, dst[2] = c, dst[3] = d;
}

scl_status scli_split_plan(scl_plan *p)
{
    scli_split_release(p);
    if (!p->variant->splits_rows || !p->lut) return SCL_OK;
    const spc_lut *l = p->lut;
    const scl_shape *s = &p->shape;
    const int bq = p->variant->rows_per_group(&p->fwd);
    const int n_t = (int)((s->seq_q + bq - 1) / bq);
    int chunk = 0, over = 0;
    scl_status st = chunk_length(p, bq, n_t, &chunk, &over);
    if (st != SCL_OK || chunk == 0) return st;
    int *chunks = malloc((size_t)n_t * sizeof *chunks);
    if (!chunks) return scli_fail(p->rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    int n_split = 0, n_slots = 0;
    for (int t = 0; t < n_t; t++) {
        int len = 0;
        for (int lay = 0; lay < l->n_layouts; lay++) {
            const int b = row_blocks(l, lay, t, bq);
            len = b > len ? b : len;
        }
        chunks[t] = len > over ? (len + chunk - 1) / chunk : 1;
        if (chunks[t] > 1) n_split++, n_slots += chunks[t];
    }
    const size_t part = (size_t)n_slots * s->batch * s->heads * bq * sizeof(float);
    if (n_split == 0 || part * s->head_dim > p->rt->dev.max_alloc_bytes / 4) { /* nothing to split, or too big */
        free(chunks);
        return SCL_OK;
    }
    /* Work-groups: the unsplit tiles in order, then the chunks (launched first under REVERSE). */
    const int n_work = n_t - n_split + n_slots;
    cl_int *work = malloc((size_t)n_work * 4 * sizeof *work), *tiles = malloc((size_t)n_split * 4 * sizeof *tiles);
    if (!work || !tiles) st = scli_fail(p->rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int t = 0, w = 0, slot = 0, k = 0; st == SCL_OK && t < n_t; t++) {
        if (chunks[t] == 1) {
            put4(work + 4 * w++, t, 0, 1, 0);
            continue;
        }
        put4(tiles + 4 * k++, t, chunks[t], slot, 0);
        for (int c = 0; c < chunks[t]; c++)
            put4(work + 4 * (n_work - n_slots + slot + c), t, c, chunks[t], slot + c);
        slot += chunks[t];
    }
    if (st == SCL_OK)
        st = scli_plan_buffer(p, CL_MEM_READ_ONLY, (size_t)n_work * 4 * sizeof(cl_int), work, &p->split.work,
                              "split-row work list");
    if (st == SCL_OK)
        st = scli_plan_buffer(p, CL_MEM_READ_ONLY, (size_t)n_split * 4 * sizeof(cl_int), tiles, &p->split.tiles,
                              "split-row tiles");
    if (st == SCL_OK)
        st = scli_plan_buffer(p, CL_MEM_READ_WRITE, part * s->head_dim, NULL, &p->split.part_o, "split-row partial O");
    if (st == SCL_OK)
        st = scli_plan_buffer(p, CL_MEM_READ_WRITE, part, NULL, &p->split.part_l, "split-row partial LSE");
    free(chunks);
    free(work);
    free(tiles);
    if (st != SCL_OK) return st;
    p->split.n_work = n_work;
    p->split.n_tiles = n_split;
    p->split.n_slots = n_slots;
    return SCL_OK;
}

scl_status scli_split_kernel(scl_plan *p)
{
    if (!p->split.n_work) return SCL_OK;
    cl_int err;
    p->split.merge = clCreateKernel(p->fwd_program, "attn_fwd_split_merge", &err);
    return err == CL_SUCCESS ? SCL_OK : scli_fail_cl(p->rt, "clCreateKernel", err, "attn_fwd_split_merge");
}

scl_status scli_split_merge(scl_plan *p, cl_mem o, cl_mem lse, cl_event after, scli_events *all, cl_event *done)
{
    const scl_shape *s = &p->shape;
    cl_kernel k = p->split.merge;
    const cl_int n_q = (cl_int)s->seq_q, heads = s->heads, merge = p->merge;
    const cl_int lse_n = (cl_int)(p->lse_rows ? p->lse_rows : s->seq_q);
    const cl_long qs[3] = {p->qs.b, p->qs.h, p->qs.n};
    cl_mem m[] = {o, lse, p->split.tiles, p->split.part_o, p->split.part_l};
    cl_uint a = 0;
    cl_int err = CL_SUCCESS;
    for (; a < 5; a++)
        err |= clSetKernelArg(k, a, sizeof(cl_mem), &m[a]);
    err |= clSetKernelArg(k, a++, sizeof n_q, &n_q);
    err |= clSetKernelArg(k, a++, sizeof heads, &heads);
    for (int i = 0; i < 3; i++)
        err |= clSetKernelArg(k, a++, sizeof(cl_long), &qs[i]);
    err |= clSetKernelArg(k, a++, sizeof(cl_mem), &p->q_map);
    err |= clSetKernelArg(k, a++, sizeof lse_n, &lse_n);
    err |= clSetKernelArg(k, a++, sizeof merge, &merge);
    if (err != CL_SUCCESS) return scli_fail(p->rt, SCL_ERR_OPENCL, "clSetKernelArg failed for attn_fwd_split_merge");
    const size_t d = (size_t)s->head_dim, bq = (size_t)p->variant->rows_per_group(&p->fwd);
    size_t gws[2] = {(size_t)p->split.n_tiles * bq * d, (size_t)s->batch * s->heads}, lws[2] = {d, 1};
    err = clEnqueueNDRangeKernel(p->rt->queue, k, 2, NULL, gws, lws, 1, &after, done);
    if (err != CL_SUCCESS) return scli_fail_cl(p->rt, "clEnqueueNDRangeKernel", err, "attn_fwd_split_merge");
    scli_events_push(all, *done, "attn_fwd_split_merge");
    return SCL_OK;
}
