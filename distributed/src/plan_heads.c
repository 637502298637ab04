/* Head all-to-all plan (Ulysses-style, Jacobs et al. 2023): sequence shards -> head shards, the
 * ordinary single-device plan over the whole sequence on this rank's heads, and back. It moves
 * O(N H d / P) per rank whatever the pattern, and it runs every pattern exactly. */
#include "mpi_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One tensor of `x` heads per batch, rows of `w` elements. to_heads: this rank's shard
 * [B][x][n_me][w] -> its head shard [B][xn_me][N][w]; else the reverse. x0/xn: head partition. */
static scl_status exchange(scl_mpi_plan *p, const void *in, void *out, int x, const int *x0, const int *xn,
                           size_t row_bytes, int to_heads)
{
    const int P = p->size, me = p->rank, B = p->shape.batch;
    const int64_t N = p->shape.seq_q, n_me = p->len[me];
    smpi_rows xr;
    smpi_rows_counts(p, &xr);
    for (int s = 0; s < P; s++) {
        int64_t send = to_heads ? (int64_t)B * xn[s] * n_me : (int64_t)B * xn[me] * p->len[s];
        int64_t recv = to_heads ? (int64_t)B * xn[me] * p->len[s] : (int64_t)B * xn[s] * n_me;
        xr.sc[s] = (int)send, xr.rc[s] = (int)recv;
    }
    const char *src = in;
    char *dst = out;
    scl_status st = smpi_rows_buffers(p, &xr, row_bytes);
    const int *sc = xr.sc, *sd = xr.sd, *rc = xr.rc, *rd = xr.rd;
    char *sb = xr.sb, *rb = xr.rb;
    if (st != SCL_OK) goto done;
    /* Pack in (destination, batch, head, row) order: each (batch, head) run of rows is contiguous
     * on both sides, so packing and unpacking are one memcpy per run. */
    for (int s = 0, o = 0; s < P; s++)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < (to_heads ? xn[s] : xn[me]); h++) {
                int64_t rows = to_heads ? n_me : p->len[s];
                int64_t from = to_heads ? ((int64_t)b * x + x0[s] + h) * n_me
                                        : ((int64_t)b * xn[me] + h) * N + p->start[s];
                memcpy(sb + (size_t)o * row_bytes, src + (size_t)from * row_bytes, (size_t)rows * row_bytes);
                o += (int)rows;
            }
    st = smpi_alltoallv_rows(p, sb, sc, sd, rb, rc, rd, row_bytes);
    if (st != SCL_OK) goto done;
    for (int r = 0, o = 0; r < P; r++)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < (to_heads ? xn[me] : xn[r]); h++) {
                int64_t rows = to_heads ? p->len[r] : n_me;
                int64_t at = to_heads ? ((int64_t)b * xn[me] + h) * N + p->start[r]
                                      : ((int64_t)b * x + x0[r] + h) * n_me;
                memcpy(dst + (size_t)at * row_bytes, rb + (size_t)o * row_bytes, (size_t)rows * row_bytes);
                o += (int)rows;
            }
done:
    smpi_rows_free(&xr);
    return st;
}

/* Tensor kinds of the exchange: query-like (H heads, d wide), key-like (H_kv heads), LSE. */
enum { T_Q, T_KV, T_LSE };

typedef struct tensor {
    int kind;
    cl_mem shard; /* the caller's buffer */
    void *host_shard, *host_heads;
    cl_mem heads; /* this rank's head shard on the device */
} tensor;

static void geom(const scl_mpi_plan *p, int kind, int *x, const int **x0, const int **xn, size_t *row)
{
    *x = kind == T_KV ? p->shape.kv_heads : p->shape.heads;
    *x0 = kind == T_KV ? p->kv0 : p->h0;
    *xn = kind == T_KV ? p->kvn : p->hn;
    *row = kind == T_LSE ? sizeof(float) : (size_t)p->shape.head_dim * p->esz;
}

static scl_status alloc_tensor(scl_mpi_plan *p, tensor *t)
{
    int x;
    const int *x0, *xn;
    size_t row;
    geom(p, t->kind, &x, &x0, &xn, &row);
    size_t ns = (size_t)p->shape.batch * x * p->len[p->rank] * row;
    size_t nh = (size_t)p->shape.batch * xn[p->rank] * p->shape.seq_q * row;
    scl_status st = SCL_OK;
    t->host_shard = malloc(ns + 1);
    t->host_heads = calloc(nh + 1, 1);
    if (!t->host_shard || !t->host_heads)
        return smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "staging of %zu bytes", ns + nh);
    t->heads = smpi_buffer(p, nh, &st);
    return st;
}

static void free_tensors(tensor *t, int n)
{
    for (int i = 0; i < n; i++) {
        free(t[i].host_shard);
        free(t[i].host_heads);
        if (t[i].heads) clReleaseMemObject(t[i].heads);
    }
}

static size_t shard_bytes(const scl_mpi_plan *p, int kind)
{
    int x;
    const int *x0, *xn;
    size_t row;
    geom(p, kind, &x, &x0, &xn, &row);
    return (size_t)p->shape.batch * x * p->len[p->rank] * row;
}

static size_t heads_bytes(const scl_mpi_plan *p, int kind)
{
    int x;
    const int *x0, *xn;
    size_t row;
    geom(p, kind, &x, &x0, &xn, &row);
    return (size_t)p->shape.batch * xn[p->rank] * p->shape.seq_q * row;
}

/* Caller's shards -> head shards on the device, for tensors [0, n_in). */
static scl_status scatter(scl_mpi_plan *p, tensor *t, int n_in)
{
    scl_status failed = SCL_OK;
    for (int i = 0; i < n_in; i++) {
        int x;
        const int *x0, *xn;
        size_t row;
        geom(p, t[i].kind, &x, &x0, &xn, &row);
        double t0 = smpi_now_ms();
        scl_status st = t[i].shard && !failed
                            ? smpi_read(p, t[i].shard, t[i].host_shard, shard_bytes(p, t[i].kind))
                            : failed;
        p->traffic.comm_ms += smpi_now_ms() - t0;
        if ((st = smpi_agree(p, st, p->err)) != SCL_OK) return st;
        if ((st = exchange(p, t[i].host_shard, t[i].host_heads, x, x0, xn, row, 1)) != SCL_OK) return st;
        t0 = smpi_now_ms();
        failed = smpi_write(p, t[i].heads, t[i].host_heads, heads_bytes(p, t[i].kind));
        p->traffic.comm_ms += smpi_now_ms() - t0;
    }
    return failed; /* may be this rank's alone: the caller agrees on it */
}

/* Head shards on the device -> the caller's shards, for tensors [from, n). */
static scl_status gather(scl_mpi_plan *p, tensor *t, int from, int n)
{
    scl_status failed = SCL_OK;
    for (int i = from; i < n; i++) {
        int x;
        const int *x0, *xn;
        size_t row;
        geom(p, t[i].kind, &x, &x0, &xn, &row);
        double t0 = smpi_now_ms();
        scl_status st =
            failed ? failed : smpi_read(p, t[i].heads, t[i].host_heads, heads_bytes(p, t[i].kind));
        p->traffic.comm_ms += smpi_now_ms() - t0;
        if ((st = smpi_agree(p, st, p->err)) != SCL_OK) return st;
        if ((st = exchange(p, t[i].host_heads, t[i].host_shard, x, x0, xn, row, 0)) != SCL_OK) return st;
        t0 = smpi_now_ms();
        failed = t[i].shard ? smpi_write(p, t[i].shard, t[i].host_shard, shard_bytes(p, t[i].kind)) : SCL_OK;
        p->traffic.comm_ms += smpi_now_ms() - t0;
    }
    return failed; /* may be this rank's alone: the caller agrees on it */
}

static scl_status run(scl_mpi_plan *p, tensor *t, int n, int n_in, int backward)
{
    scl_status st = SCL_OK;
    for (int i = 0; i < n && st == SCL_OK; i++)
        st = alloc_tensor(p, &t[i]);
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
    if ((st = smpi_agree(p, scatter(p, t, n_in), p->err)) != SCL_OK) goto done;
    double t0 = smpi_now_ms();
    if (p->local) {
        if (!backward)
            st = scl_plan_forward(p->local, t[0].heads, t[1].heads, t[2].heads, t[3].heads, t[4].heads, 0,
                                  NULL, NULL);
        else
            st = scl_plan_backward(p->local, t[0].heads, t[1].heads, t[2].heads, t[3].heads, t[4].heads,
                                   t[5].heads, t[6].heads, t[7].heads, t[8].heads, 0, NULL, NULL);
        if (st == SCL_OK && clFinish(scl_runtime_queue(p->rt)) != CL_SUCCESS) st = SCL_ERR_OPENCL;
        if (st != SCL_OK) smpi_fail(p, st, "local plan: %s", scl_last_error_message(p->rt));
    }
    p->traffic.compute_ms += smpi_now_ms() - t0;
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
    st = gather(p, t, n_in, n);
done:
    free_tensors(t, n);
    return smpi_agree(p, st, p->err);
}

scl_status smpi_heads_forward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse)
{
    tensor t[5] = {
        {T_Q, q, 0, 0, 0}, {T_KV, k, 0, 0, 0}, {T_KV, v, 0, 0, 0}, {T_Q, o, 0, 0, 0}, {T_LSE, lse, 0, 0, 0}};
    return run(p, t, 5, 3, 0);
}

scl_status smpi_heads_backward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                               cl_mem dout, cl_mem dq, cl_mem dk, cl_mem dv)
{
    tensor t[9] = {{T_Q, q, 0, 0, 0},  {T_KV, k, 0, 0, 0},    {T_KV, v, 0, 0, 0},
                   {T_Q, o, 0, 0, 0},  {T_LSE, lse, 0, 0, 0}, {T_Q, dout, 0, 0, 0},
                   {T_Q, dq, 0, 0, 0}, {T_KV, dk, 0, 0, 0},   {T_KV, dv, 0, 0, 0}};
    return run(p, t, 9, 6, 1);
}

/* Whole GQA groups per rank: key/value heads split as evenly as they go, query heads follow. */
void smpi_heads_partition(scl_mpi_plan *p)
{
    const int P = p->size, Hkv = p->shape.kv_heads, g = p->shape.heads / Hkv;
    for (int r = 0; r < P; r++) {
        p->kv0[r] = (int)((int64_t)r * Hkv / P);
        p->kvn[r] = (int)((int64_t)(r + 1) * Hkv / P) - p->kv0[r];
        p->h0[r] = p->kv0[r] * g;
        p->hn[r] = p->kvn[r] * g;
    }
}

scl_status smpi_heads_setup(scl_mpi_plan *p, const char *spec)
{
    scl_status st = SCL_OK;
    if (p->hn[p->rank] > 0) {
        char sliced[4096];
        scl_pattern *pat = NULL;
        if (smpi_slice_heads(spec, p->h0[p->rank], p->hn[p->rank], sliced, sizeof sliced) != 0)
            return smpi_fail(p, SCL_ERR_PATTERN, "cannot restrict the spec to heads %d-%d", p->h0[p->rank],
                             p->h0[p->rank] + p->hn[p->rank] - 1);
        scl_shape s = p->shape;
        s.heads = p->hn[p->rank];
        s.kv_heads = p->kvn[p->rank];
        st = scl_pattern_create(p->rt, sliced, &pat);
        if (st == SCL_OK) st = scl_plan_create(p->rt, pat, &s, p->dtype, &p->local);
        if (st != SCL_OK) smpi_fail(p, st, "%s", scl_last_error_message(p->rt));
        scl_pattern_destroy(pat);
    }
    return st;
}
