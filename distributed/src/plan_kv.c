/* Pattern-aware plan: rank r fetches from each owner only the key/value rows in the range its
 * queries need (the planner's [k_lo, k_hi)), and runs one single-device plan over a shifted frame
 * that starts at f0 = min(k_lo, first query): frame row t is global row f0 + t for queries and keys
 * alike. For a predicate of i - j alone that plan computes exactly the global pattern; the frame
 * rows before the first query are padding (zero Q, their outputs dropped; in the backward their
 * dO is zero and their LSE huge, so they add nothing to dK, dV). The backward sends each owner the
 * partial dK, dV of its rows, and the owner sums them. */
#include "mpi_internal.h"
#include "scl_npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t ov_lo(int64_t a0, int64_t b0) { return a0 > b0 ? a0 : b0; }
static int64_t ov_n(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    int64_t lo = ov_lo(a0, b0), hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0;
}

/* The rows of rank s's shard that rank r fetches: [*lo, *lo + return). */
static int64_t fetch(const scl_mpi_plan *p, int r, int s, int64_t *lo)
{
    if (!p->len[r]) return 0;
    *lo = ov_lo(p->k_lo[r], p->start[s]);
    return ov_n(p->k_lo[r], p->k_hi[r], p->start[s], p->start[s] + p->len[s]);
}

/* Forward direction: this rank's shard [B][X][n][w] -> its key frame [B][X][fk][w]. Reverse: its
 * frame's partial gradients -> summed into its shard (f32, or f16 accumulated in f32). */
static scl_status exchange(scl_mpi_plan *p, void *shard, void *frame, int X, size_t row, int reverse)
{
    const int P = p->size, me = p->rank, B = p->shape.batch;
    const int64_t n = p->len[me];
    int *sc = calloc((size_t)P * 4, sizeof *sc), *sd = sc + P, *rc = sc + 2 * P, *rd = sc + 3 * P;
    if (!sc) MPI_Abort(p->comm, 1); /* a few ints: nothing sensible is left to agree with */
    for (int s = 0, so = 0, ro = 0; s < P; s++) {
        int64_t lo, give = fetch(p, s, me, &lo), take = fetch(p, me, s, &lo);
        sc[s] = (int)(B * X * (reverse ? take : give)), rc[s] = (int)(B * X * (reverse ? give : take));
        sd[s] = so, rd[s] = ro, so += sc[s], ro += rc[s];
    }
    size_t ns = (size_t)(sd[P - 1] + sc[P - 1]), nr = (size_t)(rd[P - 1] + rc[P - 1]);
    char *sb = malloc(ns * row + 1), *rb = malloc(nr * row + 1), *sh = shard, *fr = frame;
    scl_status st = SCL_OK;
    if (!sb || !rb) st = smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "exchange buffers of %zu rows", ns + nr);
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done; /* all ranks enter the all-to-all or none */
    for (int s = 0, o = 0; s < P; s++) {
        int64_t lo = 0, cnt = reverse ? fetch(p, me, s, &lo) : fetch(p, s, me, &lo);
        for (int64_t bh = 0; bh < (int64_t)B * X && cnt > 0; bh++, o += (int)cnt) {
            size_t at = reverse ? (size_t)(bh * p->fk + lo - p->f0) : (size_t)(bh * n + lo - p->start[me]);
            memcpy(sb + (size_t)o * row, (reverse ? fr : sh) + at * row, (size_t)cnt * row);
        }
    }
    if ((st = smpi_alltoallv_rows(p, sb, sc, sd, rb, rc, rd, row)) != SCL_OK) goto done;
    if (reverse) memset(sh, 0, (size_t)B * X * n * row);
    for (int s = 0, o = 0; s < P; s++) {
        int64_t lo = 0, cnt = reverse ? fetch(p, s, me, &lo) : fetch(p, me, s, &lo);
        for (int64_t bh = 0; bh < (int64_t)B * X && cnt > 0; bh++, o += (int)cnt) {
            const char *src = rb + (size_t)o * row;
            if (!reverse) {
                memcpy(fr + (size_t)(bh * p->fk + lo - p->f0) * row, src, (size_t)cnt * row);
                continue;
            }
            size_t at = (size_t)(bh * n + lo - p->start[me]) * row, m = (size_t)cnt * row / p->esz;
            if (p->dtype == SCL_F32) {
                float *d = (float *)(sh + at);
                const float *a = (const float *)src;
                for (size_t i = 0; i < m; i++) d[i] += a[i];
            } else {
                uint16_t *d = (uint16_t *)(sh + at);
                const uint16_t *a = (const uint16_t *)src;
                for (size_t i = 0; i < m; i++) d[i] = npy_float_to_half(npy_half_to_float(d[i]) + npy_half_to_float(a[i]));
            }
        }
    }
done:
    free(sb);
    free(rb);
    free(sc);
    return st;
}

/* Copy this rank's query rows between its shard [B][H][n][w] and its frame [B][H][fq][w]. */
static void frame_rows(const scl_mpi_plan *p, char *shard, char *frame, size_t row, int to_frame)
{
    const int64_t n = p->len[p->rank], off = p->start[p->rank] - p->f0;
    for (int64_t bh = 0; bh < (int64_t)p->shape.batch * p->shape.heads; bh++) {
        char *a = shard + (size_t)(bh * n) * row, *f = frame + (size_t)(bh * p->fq + off) * row;
        if (to_frame) memcpy(f, a, (size_t)n * row);
        else memcpy(a, f, (size_t)n * row);
    }
}

enum { T_Q, T_KV, T_LSE };
typedef struct tensor {
    int kind, out; /* out: the plan writes it */
    cl_mem shard;
    char *hs, *hf; /* host shard, host frame */
    cl_mem dev;    /* frame on the device */
} tensor;

static size_t row_of(const scl_mpi_plan *p, int kind)
{
    return kind == T_LSE ? sizeof(float) : (size_t)p->shape.head_dim * p->esz;
}
static size_t rows_of(const scl_mpi_plan *p, const tensor *t, int frame)
{
    int64_t x = t->kind == T_KV ? p->shape.kv_heads : p->shape.heads;
    int64_t n = frame ? (t->kind == T_KV ? p->fk : p->fq) : p->len[p->rank];
    return (size_t)(p->shape.batch * x * n);
}

/* Stage inputs into frames (K, V through the exchange), run, and return outputs to the shards. */
static scl_status run(scl_mpi_plan *p, tensor *t, int nt, int backward)
{
    const int have = p->len[p->rank] > 0;
    scl_status st = SCL_OK;
    for (int i = 0; i < nt && st == SCL_OK; i++) {
        size_t row = row_of(p, t[i].kind), ns = rows_of(p, &t[i], 0) * row, nf = rows_of(p, &t[i], 1) * row;
        t[i].hs = malloc(ns + 1);
        t[i].hf = calloc(nf + 1, 1);
        if (!t[i].hs || !t[i].hf) st = smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "staging of %zu bytes", ns + nf);
        if (st == SCL_OK && have) t[i].dev = smpi_buffer(p, nf, &st);
        if (st == SCL_OK && have && !t[i].out) st = smpi_read(p, t[i].shard, t[i].hs, ns);
        if (st == SCL_OK && t[i].kind == T_LSE && have) { /* padding rows: P = exp(S - LSE) = 0 */
            float *l = (float *)t[i].hf;
            for (size_t e = 0; e < nf / sizeof(float); e++) l[e] = 1e30f;
        }
    }
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
    /* Collectives only ever follow an agreement, so a local failure never strands another rank. */
    for (int i = 0; i < nt; i++) {
        if (t[i].out) continue;
        size_t row = row_of(p, t[i].kind);
        if (t[i].kind == T_KV) {
            if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
            st = exchange(p, t[i].hs, t[i].hf, p->shape.kv_heads, row, 0);
        } else if (have && st == SCL_OK) {
            frame_rows(p, t[i].hs, t[i].hf, row, 1);
        }
        if (st == SCL_OK && have) st = smpi_write(p, t[i].dev, t[i].hf, rows_of(p, &t[i], 1) * row);
    }
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
    double t0 = smpi_now_ms();
    if (st == SCL_OK && p->local) {
        if (!backward)
            st = scl_plan_forward(p->local, t[0].dev, t[1].dev, t[2].dev, t[3].dev, t[4].dev, 0, NULL, NULL);
        else
            st = scl_plan_backward(p->local, t[0].dev, t[1].dev, t[2].dev, t[3].dev, t[4].dev, t[5].dev, t[6].dev,
                                   t[7].dev, t[8].dev, 0, NULL, NULL);
        if (st == SCL_OK && clFinish(scl_runtime_queue(p->rt)) != CL_SUCCESS) st = SCL_ERR_OPENCL;
        if (st != SCL_OK) smpi_fail(p, st, "local plan: %s", scl_last_error_message(p->rt));
    }
    p->traffic.compute_ms += smpi_now_ms() - t0;
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
    for (int i = 0; i < nt; i++) {
        if (!t[i].out) continue;
        size_t row = row_of(p, t[i].kind);
        if (have && st == SCL_OK) st = smpi_read(p, t[i].dev, t[i].hf, rows_of(p, &t[i], 1) * row);
        if (t[i].kind == T_KV) {
            if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
            st = exchange(p, t[i].hs, t[i].hf, p->shape.kv_heads, row, 1);
        } else if (have && st == SCL_OK) {
            frame_rows(p, t[i].hs, t[i].hf, row, 0);
        }
        if (st == SCL_OK && have && t[i].shard) st = smpi_write(p, t[i].shard, t[i].hs, rows_of(p, &t[i], 0) * row);
    }
done:
    for (int i = 0; i < nt; i++) {
        free(t[i].hs);
        free(t[i].hf);
        if (t[i].dev) clReleaseMemObject(t[i].dev);
    }
    return smpi_agree(p, st, p->err);
}

scl_status smpi_kv_forward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse)
{
    tensor t[5] = {{T_Q, 0, q, 0, 0, 0}, {T_KV, 0, k, 0, 0, 0}, {T_KV, 0, v, 0, 0, 0}, {T_Q, 1, o, 0, 0, 0},
                   {T_LSE, 1, lse, 0, 0, 0}};
    return run(p, t, 5, 0);
}

scl_status smpi_kv_backward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_mem dout,
                            cl_mem dq, cl_mem dk, cl_mem dv)
{
    tensor t[9] = {{T_Q, 0, q, 0, 0, 0},    {T_KV, 0, k, 0, 0, 0},  {T_KV, 0, v, 0, 0, 0},
                   {T_Q, 0, o, 0, 0, 0},    {T_LSE, 0, lse, 0, 0, 0}, {T_Q, 0, dout, 0, 0, 0},
                   {T_Q, 1, dq, 0, 0, 0},   {T_KV, 1, dk, 0, 0, 0}, {T_KV, 1, dv, 0, 0, 0}};
    return run(p, t, 9, 1);
}

scl_status smpi_kv_setup(scl_mpi_plan *p, const char *spec)
{
    const int me = p->rank;
    if (!p->len[me]) return SCL_OK;
    p->f0 = p->k_lo[me] < p->start[me] ? p->k_lo[me] : p->start[me];
    p->fq = p->start[me] + p->len[me] - p->f0;
    p->fk = p->k_hi[me] - p->f0;
    scl_shape s = p->shape;
    s.seq_q = p->fq;
    s.seq_k = p->fk;
    scl_pattern *pat = NULL;
    scl_status st = scl_pattern_create(p->rt, spec, &pat);
    if (st == SCL_OK) st = scl_plan_create(p->rt, pat, &s, p->dtype, &p->local);
    if (st != SCL_OK) smpi_fail(p, st, "%s", scl_last_error_message(p->rt));
    scl_pattern_destroy(pat);
    return st;
}
