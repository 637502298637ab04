/* Global query rows reduced at the key owners (the overlapped forward, patterns of absolute
 * positions): a query block that needs most of the other ranks' key blocks (a Longformer or
 * BigBird global row) would make its owner fetch nearly the whole sequence. Instead every rank
 * all-gathers the queries of those rows (MPI_Iallgatherv, in flight with the K/V exchange), runs
 * them against its own keys, and the partial (O, LSE) are merged at their owners by
 * MPI_Reduce_scatter with an LSE-merge MPI_Op on records (lse, o[d]): LSE = log(e^a + e^b),
 * O = (e^a O_a + e^b O_b) / (e^a + e^b). Every rank's keys are its own, so the merge over ranks is
 * exactly softmax attention; the owner's other parts leave these rows empty.
 *
 * Packing: a rank's reduced rows go block by block, each [B*H][rows][d]; records in the same
 * order; blocks ascend with the ranks, so each owner's records are one contiguous run.
 *
 * The overlapped backward treats these rows the same way (smpi_reduce_bwd_*, below): their Q, O,
 * dO and LSE are all-gathered, every rank runs their backward against its own keys, and their dQ
 * partials are summed at the owners; they are not left on the frame plan. */
#include "mpi_internal.h"
#include "scl_npy.h"
#include "scl_patterns.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct smpi_reduce {
    scl_plan *plan;  /* every rank's reduced rows x this rank's keys (NULL: none needs them) */
    cl_mem q, o, lse; /* [B*H][g][d] gathered queries, partial O; [B*H][g] partial LSE */
    char *mine, *all; /* this rank's reduced query rows; every rank's (host, packed) */
    float *rec, *res; /* records of every rank's rows; this rank's merged ones */
    int *qc, *qd, *rc; /* per rank: bytes of queries and their displacement; records */
    int32_t *blocks;   /* the reduced query blocks, ascending */
    int nblocks;
    MPI_Op op;
    MPI_Datatype rec_type;
    MPI_Request req;
    /* Backward (made on the first one): this rank's reduced rows of O, dO (packed like mine) and
     * LSE ([B*H][rows] per block), every rank's (like all); per rank the bytes and displacements of
     * the LSE rows (lc, ld) and the dQ floats (fc); gathered dO, partial dQ of every reduced row,
     * partial dK, dV of this rank's keys; dQ partials on the host in record order, this rank's sums. */
    char *bmine[3], *ball[3];
    int *lc, *ld, *fc;
    cl_mem dout, dq, dk, dv;
    float *part, *sum;
    MPI_Request breq[4];
} smpi_reduce;

static void lse_merge(void *in, void *inout, int *len, MPI_Datatype *type)
{
    int bytes = 0;
    MPI_Type_size(*type, &bytes);
    const int w = bytes / (int)sizeof(float);
    const float *a = in;
    float *b = inout;
    for (int i = 0; i < *len; i++, a += w, b += w) {
        if (a[0] == -INFINITY) continue; /* no key: the identity */
        if (b[0] == -INFINITY) {
            memcpy(b, a, (size_t)w * sizeof *b);
            continue;
        }
        const float m = fmaxf(a[0], b[0]), wa = expf(a[0] - m), wb = expf(b[0] - m), s = wa + wb;
        for (int c = 1; c < w; c++)
            b[c] = (wa * a[c] + wb * b[c]) / s;
        b[0] = m + logf(s);
    }
}

static int64_t block_rows(const scl_mpi_plan *p, int64_t R)
{
    const int64_t b = p->shape.block, r = p->shape.seq_q - R * b;
    return r < b ? r : b;
}

/* The plan of every reduced row against this rank's keys, cut from the LUT. */
static scl_status service_plan(scl_mpi_plan *p, smpi_reduce *rd)
{
    const int b = p->shape.block;
    const int64_t r0 = p->start[p->rank] / b, r1 = (p->start[p->rank] + p->len[p->rank] + b - 1) / b;
    int32_t *col = malloc(((size_t)p->nb + 1) * sizeof *col);
    if (!col) return smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "reduced rows' layout");
    for (int64_t c = 0; c < p->nb; c++)
        col[c] = c >= r0 && c < r1 ? (int32_t)(c - r0) : -1;
    scl_pattern *pat = NULL;
    scl_status st = smpi_cut_layout(p, rd->blocks, rd->nblocks, col, r1 - r0, NULL, NULL, &pat);
    free(col);
    scl_shape s = p->shape;
    s.seq_q = p->g_total, s.seq_k = p->len[p->rank];
    if (st == SCL_OK && pat) st = scl_plan_create(p->rt, pat, &s, p->dtype, &rd->plan);
    scl_pattern_destroy(pat);
    if (st != SCL_OK && !p->err[0]) smpi_fail(p, st, "reduced rows' plan: %s", scl_last_error_message(p->rt));
    return st;
}

scl_status smpi_reduce_setup(scl_mpi_plan *p)
{
    if (p->g_total <= 0) return SCL_OK;
    const int P = p->size;
    const size_t bh = (size_t)p->shape.batch * p->shape.heads, row = (size_t)p->shape.head_dim * p->esz;
    const size_t words = (size_t)p->shape.head_dim + 1, g = (size_t)p->g_total;
    if (g * bh * row > (size_t)INT_MAX) /* MPI counts are ints */
        return smpi_fail(p, SCL_ERR_UNSUPPORTED, "%zu reduced query rows of %zu bytes: over 2 GiB", g, bh * row);
    smpi_reduce *rd = calloc(1, sizeof *rd);
    p->red = rd;
    if (!rd) return smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "reduced rows");
    rd->op = MPI_OP_NULL, rd->rec_type = MPI_DATATYPE_NULL, rd->req = MPI_REQUEST_NULL;
    for (int i = 0; i < 4; i++)
        rd->breq[i] = MPI_REQUEST_NULL;
    rd->qc = calloc((size_t)P * 3, sizeof *rd->qc);
    rd->blocks = malloc(((size_t)p->nb + 1) * sizeof *rd->blocks);
    rd->all = malloc(g * bh * row + 1), rd->rec = malloc(g * bh * words * sizeof(float) + 1);
    rd->mine = malloc((size_t)p->g_rows[p->rank] * bh * row + 1);
    rd->res = malloc((size_t)p->g_rows[p->rank] * bh * words * sizeof(float) + 1);
    if (!rd->qc || !rd->blocks || !rd->all || !rd->rec || !rd->mine || !rd->res)
        return smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "reduced rows: %zu rows", g);
    rd->qd = rd->qc + P, rd->rc = rd->qc + 2 * P;
    for (int64_t R = 0; R < p->nb; R++)
        if (p->grow[R]) rd->blocks[rd->nblocks++] = (int32_t)R;
    for (int r = 0, off = 0; r < P; r++) {
        rd->qc[r] = (int)((size_t)p->g_rows[r] * bh * row), rd->qd[r] = off, off += rd->qc[r];
        rd->rc[r] = (int)((size_t)p->g_rows[r] * bh);
    }
    MPI_Op_create(lse_merge, 1, &rd->op);
    MPI_Type_contiguous((int)words, MPI_FLOAT, &rd->rec_type);
    MPI_Type_commit(&rd->rec_type);
    if (!p->len[p->rank]) return SCL_OK;
    scl_status st = service_plan(p, rd);
    if (st == SCL_OK && rd->plan) {
        rd->q = smpi_buffer(p, g * bh * row, &st);
        if (st == SCL_OK) rd->o = smpi_buffer(p, g * bh * row, &st);
        if (st == SCL_OK) rd->lse = smpi_buffer(p, g * bh * sizeof(float), &st);
    }
    return st;
}

/* Rect copies between a [B*H][pitch]-row buffer at row `at` and a packed host chunk [B*H][rows]. */
static scl_status rect(scl_mpi_plan *p, cl_mem dev, int write, size_t at, size_t pitch, size_t rows, size_t row,
                       void *host)
{
    const cl_bool block = write != 2; /* 2: a write that does not wait (the host buffer stays) */
    const size_t bh = (size_t)p->shape.batch * p->shape.heads;
    size_t o[3] = {at * row, 0, 0}, zero[3] = {0, 0, 0}, region[3] = {rows * row, bh, 1};
    cl_int e = write ? clEnqueueWriteBufferRect(scl_runtime_queue(p->rt), dev, block, o, zero, region, pitch * row,
                                                0, rows * row, 0, host, 0, NULL, NULL)
                     : clEnqueueReadBufferRect(scl_runtime_queue(p->rt), dev, CL_TRUE, o, zero, region, pitch * row,
                                               0, rows * row, 0, host, 0, NULL, NULL);
    return e == CL_SUCCESS ? SCL_OK : smpi_fail(p, SCL_ERR_OPENCL, "reduced rows' copy: CL error %d", e);
}

/* Rows [at, at + rows) of this rank's shard when reduced block i is this rank's, else -1. */
static int64_t my_block(const scl_mpi_plan *p, const smpi_reduce *rd, int i, int64_t *rows)
{
    const int64_t at = (int64_t)rd->blocks[i] * p->shape.block - p->start[p->rank];
    *rows = block_rows(p, rd->blocks[i]);
    return at >= 0 && at < p->len[p->rank] ? at : -1;
}

scl_status smpi_reduce_read(scl_mpi_plan *p, cl_mem q)
{
    smpi_reduce *rd = p->red;
    if (!rd) return SCL_OK;
    const size_t row = (size_t)p->shape.head_dim * p->esz, bh = (size_t)p->shape.batch * p->shape.heads;
    char *dst = rd->mine;
    scl_status st = SCL_OK;
    int64_t rows, at;
    for (int i = 0; i < rd->nblocks && st == SCL_OK; i++)
        if ((at = my_block(p, rd, i, &rows)) >= 0) {
            st = rect(p, q, 0, (size_t)at, (size_t)p->len[p->rank], (size_t)rows, row, dst);
            dst += (size_t)rows * bh * row;
        }
    return st;
}

scl_status smpi_reduce_post(scl_mpi_plan *p)
{
    smpi_reduce *rd = p->red;
    if (!rd) return SCL_OK;
    const int me = p->rank;
    int e = MPI_Iallgatherv(rd->mine, rd->qc[me], MPI_BYTE, rd->all, rd->qc, rd->qd, MPI_BYTE, p->comm, &rd->req);
    for (int r = 0; r < p->size; r++) /* as if sent to and received from every other rank */
        if (r != me) p->traffic.sent += rd->qc[me], p->traffic.received += rd->qc[r];
    return e == MPI_SUCCESS ? SCL_OK : smpi_fail(p, SCL_ERR_IO, "MPI_Iallgatherv failed (code %d)", e);
}

scl_status smpi_reduce_compute(scl_mpi_plan *p, cl_mem k, cl_mem v)
{
    smpi_reduce *rd = p->red;
    if (!rd) return SCL_OK;
    int done = 0;
    while (rd->req != MPI_REQUEST_NULL && !done && MPI_Test(&rd->req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS)
        if (!done) nanosleep(&(struct timespec){0, 50000}, NULL);
    if (!rd->plan) return SCL_OK;
    const size_t row = (size_t)p->shape.head_dim * p->esz, bh = (size_t)p->shape.batch * p->shape.heads;
    const char *src = rd->all;
    scl_status st = SCL_OK;
    for (int i = 0, at = 0; i < rd->nblocks && st == SCL_OK; i++) {
        const int64_t rows = block_rows(p, rd->blocks[i]);
        st = rect(p, rd->q, 2, (size_t)at, (size_t)p->g_total, (size_t)rows, row, (void *)src);
        src += (size_t)rows * bh * row, at += (int)rows;
    }
    if (st == SCL_OK) st = scl_plan_forward(rd->plan, rd->q, k, v, rd->o, rd->lse, 0, NULL, NULL);
    if (st != SCL_OK && !p->err[0]) smpi_fail(p, st, "reduced rows' plan: %s", scl_last_error_message(p->rt));
    return st;
}

static float load(const scl_mpi_plan *p, const char *a, size_t i)
{
    return p->dtype == SCL_F16 ? npy_half_to_float(((const uint16_t *)a)[i]) : ((const float *)a)[i];
}
static void store(const scl_mpi_plan *p, char *a, size_t i, float x)
{
    if (p->dtype == SCL_F16)
        ((uint16_t *)a)[i] = npy_float_to_half(x);
    else
        ((float *)a)[i] = x;
}

/* Records (lse, o[d]) of every reduced row against this rank's keys; -inf, 0 (the merge's identity)
 * where this rank ran nothing. */
static scl_status records(scl_mpi_plan *p, smpi_reduce *rd)
{
    const size_t d = (size_t)p->shape.head_dim, w = d + 1, bh = (size_t)p->shape.batch * p->shape.heads;
    const size_t g = (size_t)p->g_total;
    char *oh = rd->plan ? malloc(g * bh * d * p->esz + 1) : NULL;
    float *lh = rd->plan ? malloc(g * bh * sizeof *lh + 1) : NULL;
    scl_status st = rd->plan && (!oh || !lh) ? smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "reduced rows") : SCL_OK;
    if (st == SCL_OK && rd->plan) st = smpi_read(p, rd->o, oh, g * bh * d * p->esz);
    if (st == SCL_OK && rd->plan) st = smpi_read(p, rd->lse, lh, g * bh * sizeof *lh);
    float *r = rd->rec;
    for (int i = 0, at = 0; i < rd->nblocks && st == SCL_OK; i++) {
        const size_t rows = (size_t)block_rows(p, rd->blocks[i]);
        for (size_t h = 0; h < bh; h++)
            for (size_t t = 0; t < rows; t++, r += w) {
                const size_t x = h * g + (size_t)at + t;
                r[0] = lh ? lh[x] : -INFINITY;
                for (size_t c = 0; c < d; c++)
                    r[1 + c] = oh ? load(p, oh, x * d + c) : 0.0f;
            }
        at += (int)rows;
    }
    free(oh), free(lh);
    return st;
}

scl_status smpi_reduce_finish(scl_mpi_plan *p, cl_mem o, cl_mem lse)
{
    smpi_reduce *rd = p->red;
    if (!rd) return SCL_OK;
    const int me = p->rank;
    const size_t d = (size_t)p->shape.head_dim, w = d + 1, bh = (size_t)p->shape.batch * p->shape.heads;
    scl_status st = smpi_agree(p, records(p, rd), p->err);
    if (st != SCL_OK) return st;
    int e = MPI_Reduce_scatter(rd->rec, rd->res, rd->rc, rd->rec_type, rd->op, p->comm);
    if (e != MPI_SUCCESS) return smpi_fail(p, SCL_ERR_IO, "MPI_Reduce_scatter failed (code %d)", e);
    const double rec = (double)w * sizeof(float);
    p->traffic.sent += (double)(p->g_total - p->g_rows[me]) * (double)bh * rec;
    p->traffic.received += (double)p->g_rows[me] * (double)bh * rec * (p->size - 1);
    int64_t rows, at;
    const float *r = rd->res;
    for (int i = 0; i < rd->nblocks && st == SCL_OK; i++) {
        if ((at = my_block(p, rd, i, &rows)) < 0) continue;
        char *oc = malloc((size_t)rows * bh * d * p->esz + 1);
        float *lc = malloc((size_t)rows * bh * sizeof *lc + 1);
        if (!oc || !lc) st = smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "reduced rows");
        for (size_t x = 0; st == SCL_OK && x < (size_t)rows * bh; x++, r += w) {
            lc[x] = r[0];
            for (size_t c = 0; c < d; c++)
                store(p, oc, x * d + c, r[1 + c]);
        }
        if (st == SCL_OK) st = rect(p, o, 1, (size_t)at, (size_t)p->len[me], (size_t)rows, d * p->esz, oc);
        if (st == SCL_OK && lse) st = rect(p, lse, 1, (size_t)at, (size_t)p->len[me], (size_t)rows, sizeof *lc, lc);
        free(oc), free(lc);
    }
    return st;
}

/* The backward of the reduced rows, exact by the same partition of the keys: every rank runs the
 * gathered rows (Q, O, dO and the merged LSE of the whole row, so P = e^(S - LSE) and
 * D = rowsum(dO O) are the whole row's, not a part's) against its own keys. The dK, dV of its keys
 * are then exact sums over those rows (the caller adds them to its own), and each row's dQ is the
 * sum over the ranks of their partials, summed at the owner by MPI_Reduce_scatter (MPI_SUM). The
 * gathers are in flight with the K/V exchange; the sum of dQ is one blocking collective at the end. */
static scl_status bwd_alloc(scl_mpi_plan *p, smpi_reduce *rd)
{
    if (rd->lc) return SCL_OK;
    const int P = p->size, me = p->rank;
    const size_t bh = (size_t)p->shape.batch * p->shape.heads, d = (size_t)p->shape.head_dim,
                 row = d * p->esz;
    const size_t g = (size_t)p->g_total, mine = (size_t)p->g_rows[me];
    int *lc = calloc((size_t)P * 3, sizeof *lc);
    for (int i = 0; i < 2; i++)
        rd->bmine[i] = malloc(mine * bh * row + 1), rd->ball[i] = malloc(g * bh * row + 1);
    rd->bmine[2] = malloc(mine * bh * sizeof(float) + 1), rd->ball[2] = malloc(g * bh * sizeof(float) + 1);
    rd->part = malloc(g * bh * d * sizeof(float) + 1), rd->sum = malloc(mine * bh * d * sizeof(float) + 1);
    int ok = lc && rd->part && rd->sum;
    for (int i = 0; i < 3; i++)
        ok = ok && rd->bmine[i] && rd->ball[i];
    if (!ok) {
        free(lc);
        return smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "reduced rows' backward: %zu rows", g);
    }
    rd->ld = lc + P, rd->fc = lc + 2 * P;
    for (int r = 0, off = 0; r < P; r++) {
        lc[r] = (int)((size_t)p->g_rows[r] * bh * sizeof(float)), rd->ld[r] = off, off += lc[r];
        rd->fc[r] = (int)((size_t)p->g_rows[r] * bh * d);
    }
    scl_status st = SCL_OK;
    if (rd->plan) {
        const size_t kv = (size_t)p->len[me] * p->shape.batch * p->shape.kv_heads * row;
        rd->dout = smpi_buffer(p, g * bh * row, &st);
        if (st == SCL_OK) rd->dq = smpi_buffer(p, g * bh * row, &st);
        if (st == SCL_OK) rd->dk = smpi_buffer(p, kv, &st);
        if (st == SCL_OK) rd->dv = smpi_buffer(p, kv, &st);
    }
    if (st == SCL_OK)
        rd->lc = lc; /* made: the next backward reuses it all */
    else
        free(lc);
    return st;
}

scl_status smpi_reduce_bwd_read(scl_mpi_plan *p, cl_mem q, cl_mem o, cl_mem dout, cl_mem lse)
{
    smpi_reduce *rd = p->red;
    if (!rd) return SCL_OK;
    scl_status st = bwd_alloc(p, rd);
    const size_t row = (size_t)p->shape.head_dim * p->esz, bh = (size_t)p->shape.batch * p->shape.heads;
    const cl_mem src[4] = {q, o, dout, lse};
    const size_t w[4] = {row, row, row, sizeof(float)};
    char *dst[4] = {rd->mine, rd->bmine[0], rd->bmine[1], rd->bmine[2]};
    int64_t rows, at;
    for (int i = 0; i < rd->nblocks && st == SCL_OK; i++)
        if ((at = my_block(p, rd, i, &rows)) >= 0)
            for (int t = 0; t < 4 && st == SCL_OK; t++) {
                st = rect(p, src[t], 0, (size_t)at, (size_t)p->len[p->rank], (size_t)rows, w[t], dst[t]);
                dst[t] += (size_t)rows * bh * w[t];
            }
    return st;
}

scl_status smpi_reduce_bwd_post(scl_mpi_plan *p)
{
    smpi_reduce *rd = p->red;
    if (!rd) return SCL_OK;
    const int me = p->rank;
    int e = MPI_Iallgatherv(rd->mine, rd->qc[me], MPI_BYTE, rd->all, rd->qc, rd->qd, MPI_BYTE, p->comm,
                            &rd->breq[0]);
    for (int i = 0; i < 2 && e == MPI_SUCCESS; i++)
        e = MPI_Iallgatherv(rd->bmine[i], rd->qc[me], MPI_BYTE, rd->ball[i], rd->qc, rd->qd, MPI_BYTE,
                            p->comm, &rd->breq[1 + i]);
    if (e == MPI_SUCCESS)
        e = MPI_Iallgatherv(rd->bmine[2], rd->lc[me], MPI_BYTE, rd->ball[2], rd->lc, rd->ld, MPI_BYTE,
                            p->comm, &rd->breq[3]);
    for (int r = 0; r < p->size; r++) /* as if sent to and received from every other rank */
        if (r != me) {
            p->traffic.sent += 3.0 * rd->qc[me] + rd->lc[me];
            p->traffic.received += 3.0 * rd->qc[r] + rd->lc[r];
        }
    return e == MPI_SUCCESS ? SCL_OK : smpi_fail(p, SCL_ERR_IO, "MPI_Iallgatherv failed (code %d)", e);
}

scl_status smpi_reduce_bwd_compute(scl_mpi_plan *p, cl_mem k, cl_mem v)
{
    smpi_reduce *rd = p->red;
    if (!rd) return SCL_OK;
    int done = 0;
    MPI_Status mst[4]; /* not MPI_STATUSES_IGNORE: MPICH's (MPI_Status *)1 trips GCC's -Wstringop-overflow */
    while (!done && MPI_Testall(4, rd->breq, &done, mst) == MPI_SUCCESS)
        if (!done) nanosleep(&(struct timespec){0, 50000}, NULL);
    if (!rd->plan) return SCL_OK;
    const size_t row = (size_t)p->shape.head_dim * p->esz, bh = (size_t)p->shape.batch * p->shape.heads;
    const cl_mem dst[4] = {rd->q, rd->o, rd->dout, rd->lse};
    const size_t w[4] = {row, row, row, sizeof(float)};
    const char *src[4] = {rd->all, rd->ball[0], rd->ball[1], rd->ball[2]};
    scl_status st = SCL_OK;
    for (int i = 0, at = 0; i < rd->nblocks && st == SCL_OK; i++) {
        const int64_t rows = block_rows(p, rd->blocks[i]);
        for (int t = 0; t < 4 && st == SCL_OK; t++) {
            st = rect(p, dst[t], 2, (size_t)at, (size_t)p->g_total, (size_t)rows, w[t], (void *)src[t]);
            src[t] += (size_t)rows * bh * w[t];
        }
        at += (int)rows;
    }
    if (st == SCL_OK)
        st = scl_plan_backward(rd->plan, rd->q, k, v, rd->o, rd->lse, rd->dout, rd->dq, rd->dk, rd->dv, 0,
                               NULL, NULL);
    if (st != SCL_OK && !p->err[0])
        smpi_fail(p, st, "reduced rows' backward: %s", scl_last_error_message(p->rt));
    return st;
}

int smpi_reduce_bwd_dkv(const scl_mpi_plan *p, cl_mem *dk, cl_mem *dv)
{
    const smpi_reduce *rd = p->red;
    *dk = rd && rd->plan ? rd->dk : NULL, *dv = rd && rd->plan ? rd->dv : NULL;
    return *dk != NULL;
}

scl_status smpi_reduce_bwd_finish(scl_mpi_plan *p, cl_mem dq)
{
    smpi_reduce *rd = p->red;
    if (!rd) return SCL_OK;
    const int me = p->rank;
    const size_t d = (size_t)p->shape.head_dim, row = d * p->esz,
                 bh = (size_t)p->shape.batch * p->shape.heads;
    const size_t g = (size_t)p->g_total;
    char *dh = malloc(g * bh * row + 1);
    scl_status st = dh ? SCL_OK : smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "reduced rows' dQ");
    if (st == SCL_OK && rd->plan) st = smpi_read(p, rd->dq, dh, g * bh * row);
    float *r = rd->part; /* record order: block by block, [B*H][rows][d] each */
    for (int i = 0, at = 0; i < rd->nblocks && st == SCL_OK; i++) {
        const size_t rows = (size_t)block_rows(p, rd->blocks[i]);
        for (size_t h = 0; h < bh; h++)
            for (size_t t = 0; t < rows; t++, r += d)
                for (size_t c = 0; c < d; c++)
                    r[c] = rd->plan ? load(p, dh, (h * g + (size_t)at + t) * d + c) : 0.0f;
        at += (int)rows;
    }
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) {
        free(dh);
        return st;
    }
    int e = MPI_Reduce_scatter(rd->part, rd->sum, rd->fc, MPI_FLOAT, MPI_SUM, p->comm);
    if (e != MPI_SUCCESS) st = smpi_fail(p, SCL_ERR_IO, "MPI_Reduce_scatter failed (code %d)", e);
    p->traffic.sent += (double)(g - (size_t)p->g_rows[me]) * (double)(bh * d * sizeof(float));
    p->traffic.received += (double)p->g_rows[me] * (double)(bh * d * sizeof(float)) * (p->size - 1);
    int64_t rows, at;
    const float *s = rd->sum;
    for (int i = 0; i < rd->nblocks && st == SCL_OK; i++) {
        if ((at = my_block(p, rd, i, &rows)) < 0) continue;
        for (size_t x = 0; x < (size_t)rows * bh * d; x++)
            store(p, dh, x, *s++);
        st = rect(p, dq, 1, (size_t)at, (size_t)p->len[me], (size_t)rows, row, dh);
    }
    free(dh);
    return st;
}

void smpi_reduce_free(scl_mpi_plan *p)
{
    smpi_reduce *rd = p->red;
    if (!rd) return;
    scl_plan_destroy(rd->plan);
    cl_mem m[7] = {rd->q, rd->o, rd->lse, rd->dout, rd->dq, rd->dk, rd->dv};
    for (int i = 0; i < 7; i++)
        if (m[i]) clReleaseMemObject(m[i]);
    for (int i = 0; i < 3; i++)
        free(rd->bmine[i]), free(rd->ball[i]);
    free(rd->lc), free(rd->part), free(rd->sum);
    if (rd->op != MPI_OP_NULL) MPI_Op_free(&rd->op);
    if (rd->rec_type != MPI_DATATYPE_NULL) MPI_Type_free(&rd->rec_type);
    free(rd->mine), free(rd->all), free(rd->rec), free(rd->res), free(rd->qc), free(rd->blocks);
    free(rd);
    p->red = NULL;
}
