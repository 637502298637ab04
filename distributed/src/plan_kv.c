/* Pattern-aware plan: rank r fetches from each owner only the key/value rows its queries need and
 * runs one single-device plan over a frame of positions. Patterns of i - j alone use a shifted
 * frame that starts at f0 = min(k_lo, first query), with the planner's key range [k_lo, k_hi):
 * frame row t is global row f0 + t for queries and keys alike, so the plan computes exactly the
 * global pattern. Other patterns use the absolute frame (f0 = 0, the whole sequence) with only
 * this rank's query rows allowed, and exactly the needed key blocks fetched (the rest stay zero:
 * no allowed element reaches them). Padding rows: zero Q, outputs dropped; in the backward their
 * dO is zero and their LSE huge, so they add nothing to dK, dV. The backward sends each owner the
 * partial dK, dV of its rows, and the owner sums them. */
#include "mpi_internal.h"
#include "scl_npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t ov_lo(int64_t a0, int64_t b0)
{
    return a0 > b0 ? a0 : b0;
}
static int64_t ov_n(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    int64_t lo = ov_lo(a0, b0), hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0;
}

/* The next run of rows of rank s's shard that rank r fetches, at or after *pos (start at s's first
 * row): its first row in *lo, its length returned (0: no more); *pos moves past it. A shifted frame
 * fetches one range; the absolute frame exactly the key blocks the planner found needed. Sender
 * and receiver walk the same runs in the same order, which is what keeps the packing in step. */
int64_t smpi_next_run_in(const scl_mpi_plan *p, const unsigned char *need_all, int r, int s, int64_t *pos,
                         int64_t *lo)
{
    const int64_t end = p->start[s] + p->len[s], b = p->shape.block;
    if (!p->len[r] || *pos >= end) return 0;
    if (!p->exact) {
        *lo = ov_lo(p->k_lo[r], p->start[s]);
        *pos = end;
        return ov_n(p->k_lo[r], p->k_hi[r], p->start[s], end);
    }
    const unsigned char *need = need_all + (size_t)r * (size_t)p->nb;
    int64_t c = *pos / b, c1;
    while (c * b < end && !need[c])
        c++;
    for (c1 = c; c1 * b < end && need[c1]; c1++) {
    }
    *lo = c * b;
    *pos = c1 * b < end ? c1 * b : end;
    return *pos > *lo ? *pos - *lo : 0;
}

int64_t smpi_next_run(const scl_mpi_plan *p, int r, int s, int64_t *pos, int64_t *lo)
{
    return smpi_next_run_in(p, p->need, r, s, pos, lo);
}

static int64_t fetched(const scl_mpi_plan *p, const unsigned char *need, int r, int s)
{
    int64_t total = 0, lo, n;
    for (int64_t pos = p->start[s]; (n = smpi_next_run_in(p, need, r, s, &pos, &lo)) > 0;)
        total += n;
    return total;
}

/* Add n elements of a into d (f32, or f16 accumulated in f32). */
void smpi_accumulate(const scl_mpi_plan *p, char *d, const char *a, size_t n)
{
    if (p->dtype == SCL_F32) {
        for (size_t i = 0; i < n; i++)
            ((float *)d)[i] += ((const float *)a)[i];
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float x = npy_half_to_float(((uint16_t *)d)[i]) + npy_half_to_float(((const uint16_t *)a)[i]);
        ((uint16_t *)d)[i] = npy_float_to_half(x);
    }
}

scl_status smpi_kv_pack(scl_mpi_plan *p, const unsigned char *need, smpi_rows *xr, const void *shard,
                        const void *frame, int X, size_t row, int reverse)
{
    const int P = p->size, me = p->rank;
    const int64_t n = p->len[me], BX = (int64_t)p->shape.batch * X;
    smpi_rows_counts(p, xr);
    for (int s = 0; s < P; s++) {
        int64_t give = s == me && !reverse ? 0 : fetched(p, need, s, me),
                take = s == me && !reverse ? 0 : fetched(p, need, me, s);
        xr->sc[s] = (int)(BX * (reverse ? take : give)), xr->rc[s] = (int)(BX * (reverse ? give : take));
    }
    const char *sh = shard, *fr = frame;
    scl_status st = smpi_rows_buffers(p, xr, row);
    if (st != SCL_OK) return st;
    for (int s = 0, o = 0; s < P; s++) {
        if (s == me && !reverse) continue; /* forward: a rank's own keys are copied on its device */
        int r = reverse ? me : s, owner = reverse ? s : me;
        int64_t lo, cnt;
        for (int64_t pos = p->start[owner]; (cnt = smpi_next_run_in(p, need, r, owner, &pos, &lo)) > 0;)
            for (int64_t bh = 0; bh < BX; bh++, o += (int)cnt) {
                size_t at =
                    reverse ? (size_t)(bh * p->fk + lo - p->f0) : (size_t)(bh * n + lo - p->start[me]);
                memcpy(xr->sb + (size_t)o * row, (reverse ? fr : sh) + at * row, (size_t)cnt * row);
            }
    }
    return SCL_OK;
}

/* Forward direction: this rank's shard [B][X][n][w] -> its key frame [B][X][fk][w] (the other
 * ranks' rows only). Reverse: its frame's partial gradients -> summed into its shard (its own
 * partials included). */
static scl_status exchange(scl_mpi_plan *p, void *shard, void *frame, int X, size_t row, int reverse)
{
    const int P = p->size, me = p->rank;
    const int64_t n = p->len[me], BX = (int64_t)p->shape.batch * X;
    smpi_rows xr;
    char *sh = shard, *fr = frame;
    scl_status st = smpi_kv_pack(p, p->need, &xr, shard, frame, X, row, reverse);
    const int *sc = xr.sc, *sd = xr.sd, *rc = xr.rc, *rd = xr.rd;
    char *sb = xr.sb, *rb = xr.rb;
    if (st != SCL_OK) goto done;
    /* Only the ranks that share keys talk; a rank's own partials (reverse) stay in sb. */
    if ((st = smpi_neighbor_rows(p, p->graph[reverse], sb, sc, sd, rb, rc, rd, row)) != SCL_OK) goto done;
    if (reverse) memset(sh, 0, (size_t)(BX * n) * row);
    for (int s = 0, o = 0; s < P; s++) {
        if (s == me && !reverse) continue;
        int r = reverse ? s : me, owner = reverse ? me : s;
        int64_t lo, cnt;
        for (int64_t pos = p->start[owner]; (cnt = smpi_next_run(p, r, owner, &pos, &lo)) > 0;)
            for (int64_t bh = 0; bh < BX; bh++, o += (int)cnt) {
                const char *src = s == me ? sb + (size_t)(sd[me] + o - rd[me]) * row : rb + (size_t)o * row;
                if (!reverse)
                    memcpy(fr + (size_t)(bh * p->fk + lo - p->f0) * row, src, (size_t)cnt * row);
                else
                    smpi_accumulate(p, sh + (size_t)(bh * n + lo - p->start[me]) * row, src,
                                    (size_t)cnt * row / p->esz);
            }
    }
done:
    smpi_rows_free(&xr);
    return st;
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

/* Rows [r0, r0 + rows) of every (batch, head) slice between buffers whose slices hold `sp` and
 * `dp` rows: one rectangular copy on the device, no host round trip. */
scl_status smpi_copy_rows(scl_mpi_plan *p, cl_mem src, size_t s0, size_t sp, cl_mem dst, size_t d0,
                            size_t dp, size_t rows, size_t bh, size_t row)
{
    if (!rows || !bh) return SCL_OK;
    size_t so[3] = {s0 * row, 0, 0}, dor[3] = {d0 * row, 0, 0}, region[3] = {rows * row, bh, 1};
    cl_int e = clEnqueueCopyBufferRect(scl_runtime_queue(p->rt), src, dst, so, dor, region, sp * row, 0,
                                       dp * row, 0, 0, NULL, NULL);
    return e == CL_SUCCESS ? SCL_OK : smpi_fail(p, SCL_ERR_OPENCL, "clEnqueueCopyBufferRect: CL error %d", e);
}

/* The rows other ranks sent, from the host frame into the device frame (same layout). */
static scl_status write_remote(scl_mpi_plan *p, cl_mem dev, const char *hf, size_t bh, size_t row)
{
    for (int s = 0; s < p->size; s++) {
        int64_t lo, cnt;
        for (int64_t pos = p->start[s]; s != p->rank && (cnt = smpi_next_run(p, p->rank, s, &pos, &lo)) > 0;) {
            size_t o[3] = {(size_t)(lo - p->f0) * row, 0, 0}, region[3] = {(size_t)cnt * row, bh, 1};
            cl_int e =
                clEnqueueWriteBufferRect(scl_runtime_queue(p->rt), dev, CL_TRUE, o, o, region,
                                         (size_t)p->fk * row, 0, (size_t)p->fk * row, 0, hf, 0, NULL, NULL);
            if (e != CL_SUCCESS)
                return smpi_fail(p, SCL_ERR_OPENCL, "clEnqueueWriteBufferRect: CL error %d", e);
        }
    }
    return SCL_OK;
}

/* The rows of this rank's keys that other ranks fetch, from its device shard into the host shard
 * (same layout): a halo, not the whole shard, crosses to the host. */
scl_status smpi_read_given(scl_mpi_plan *p, cl_mem dev, char *hs, size_t bh, size_t row)
{
    const int me = p->rank;
    for (int s = 0; s < p->size; s++) {
        int64_t lo, cnt;
        for (int64_t pos = p->start[me]; s != me && (cnt = smpi_next_run(p, s, me, &pos, &lo)) > 0;) {
            size_t o[3] = {(size_t)(lo - p->start[me]) * row, 0, 0}, region[3] = {(size_t)cnt * row, bh, 1};
            size_t pitch = (size_t)p->len[me] * row;
            cl_int e = clEnqueueReadBufferRect(scl_runtime_queue(p->rt), dev, CL_TRUE, o, o, region, pitch, 0,
                                               pitch, 0, hs, 0, NULL, NULL);
            if (e != CL_SUCCESS)
                return smpi_fail(p, SCL_ERR_OPENCL, "clEnqueueReadBufferRect: CL error %d", e);
        }
    }
    return SCL_OK;
}

static scl_status fill(scl_mpi_plan *p, cl_mem dev, float value, size_t bytes)
{
    cl_int e =
        clEnqueueFillBuffer(scl_runtime_queue(p->rt), dev, &value, sizeof value, 0, bytes, 0, NULL, NULL);
    return e == CL_SUCCESS ? SCL_OK : smpi_fail(p, SCL_ERR_OPENCL, "clEnqueueFillBuffer: CL error %d", e);
}

static size_t slices(const scl_mpi_plan *p, int kind)
{
    return (size_t)p->shape.batch * (kind == T_KV ? p->shape.kv_heads : p->shape.heads);
}

/* An input into its device frame. Queries and LSE: padding rows filled (zero Q, O, dO; LSE so
 * large that P = exp(S - LSE) = 0), this rank's rows copied on the device. Keys and values: the
 * other ranks' rows through the exchange, this rank's own on the device. Collective for K, V. */
static scl_status stage_in(scl_mpi_plan *p, tensor *t, scl_status st)
{
    const int me = p->rank, have = p->len[me] > 0;
    const size_t row = row_of(p, t->kind), bh = slices(p, t->kind), n = (size_t)p->len[me];
    const size_t off = (size_t)(p->start[me] - p->f0);
    if (t->kind != T_KV) {
        if (st == SCL_OK && have && t->dev != t->shard)
            st = smpi_copy_rows(p, t->shard, 0, n, t->dev, off, (size_t)p->fq, n, bh, row);
        return st;
    }
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) return st;
    if ((st = exchange(p, t->hs, t->hf, p->shape.kv_heads, row, 0)) != SCL_OK || !have) return st;
    int64_t lo, own;
    for (int64_t pos = p->start[me]; st == SCL_OK && (own = smpi_next_run(p, me, me, &pos, &lo)) > 0;)
        st = smpi_copy_rows(p, t->shard, (size_t)(lo - p->start[me]), n, t->dev, (size_t)(lo - p->f0),
                       (size_t)p->fk, (size_t)own, bh, row);
    return st == SCL_OK ? write_remote(p, t->dev, t->hf, bh, row) : st;
}

/* An output back to the caller: queries' rows copied on the device; dK, dV partials sent to
 * their owners and summed there. Collective for K, V. */
static scl_status stage_out(scl_mpi_plan *p, tensor *t, scl_status st)
{
    const int me = p->rank, have = p->len[me] > 0;
    const size_t row = row_of(p, t->kind), bh = slices(p, t->kind), n = (size_t)p->len[me];
    if (t->kind != T_KV) {
        if (st == SCL_OK && have && t->shard && t->dev != t->shard)
            st = smpi_copy_rows(p, t->dev, (size_t)(p->start[me] - p->f0), (size_t)p->fq, t->shard, 0, n, n, bh,
                           row);
        return st;
    }
    if (st == SCL_OK && have) st = smpi_read(p, t->dev, t->hf, rows_of(p, t, 1) * row);
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) return st;
    st = exchange(p, t->hs, t->hf, p->shape.kv_heads, row, 1);
    if (st == SCL_OK && have) st = smpi_write(p, t->shard, t->hs, rows_of(p, t, 0) * row);
    return st;
}

/* The device frame of tensor slot i. Queries, outputs and LSE of a frame without padding rows are
 * the caller's own buffers (no copy). Other frames are the plan's, made on first use and kept:
 * zero once, which is all the padding rows and the keys never fetched need (the pattern reaches
 * neither: padding rows are cut out of it, and every key block an allowed element touches is
 * fetched whole), and fresh allocations each call would cost their page faults every time. */
static scl_status frame_buffer(scl_mpi_plan *p, tensor *t, int i, size_t bytes)
{
    scl_status st = SCL_OK;
    if (t->kind != T_KV && p->f0 == p->start[p->rank] && p->fq == p->len[p->rank]) {
        t->dev = t->shard;
        return SCL_OK;
    }
    if (!p->frame[i]) {
        p->frame[i] = smpi_buffer(p, bytes, &st);
        if (st == SCL_OK) st = fill(p, p->frame[i], 0.0f, bytes);
    }
    t->dev = p->frame[i];
    return st;
}

/* Stage inputs into frames, run the plan, return the outputs. Every collective follows an
 * agreement, so a local failure never strands another rank. */
static scl_status run(scl_mpi_plan *p, tensor *t, int nt, int backward)
{
    const int have = p->len[p->rank] > 0;
    scl_status st = SCL_OK;
    for (int i = 0; i < nt && st == SCL_OK; i++) {
        size_t row = row_of(p, t[i].kind), ns = rows_of(p, &t[i], 0) * row, nf = rows_of(p, &t[i], 1) * row;
        if (t[i].kind == T_KV) { /* only keys and values pass through the host */
            t[i].hs = malloc(ns + 1);
            t[i].hf = malloc(nf + 1);
            if (!t[i].hs || !t[i].hf)
                st = smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "staging of %zu bytes", ns + nf);
            if (st == SCL_OK && have && !t[i].out)
                st = smpi_read_given(p, t[i].shard, t[i].hs, slices(p, T_KV), row);
        }
        if (st == SCL_OK && have) st = frame_buffer(p, &t[i], i, nf);
    }
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
    double t0 = smpi_now_ms();
    for (int i = 0; i < nt; i++) /* no early exit: every rank must reach the same agreements */
        if (!t[i].out) st = stage_in(p, &t[i], st);
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
    double t1 = smpi_now_ms();
    if (p->local) {
        if (!backward)
            st = scl_plan_forward(p->local, t[0].dev, t[1].dev, t[2].dev, t[3].dev, t[4].dev, 0, NULL, NULL);
        else
            st = scl_plan_backward(p->local, t[0].dev, t[1].dev, t[2].dev, t[3].dev, t[4].dev, t[5].dev,
                                   t[6].dev, t[7].dev, t[8].dev, 0, NULL, NULL);
        if (st == SCL_OK && clFinish(scl_runtime_queue(p->rt)) != CL_SUCCESS) st = SCL_ERR_OPENCL;
        if (st != SCL_OK) smpi_fail(p, st, "local plan: %s", scl_last_error_message(p->rt));
    }
    double t2 = smpi_now_ms();
    p->traffic.compute_ms += t2 - t1;
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) goto done;
    for (int i = 0; i < nt; i++)
        if (t[i].out) st = stage_out(p, &t[i], st);
    if (st == SCL_OK && clFinish(scl_runtime_queue(p->rt)) != CL_SUCCESS)
        st = smpi_fail(p, SCL_ERR_OPENCL, "clFinish after the output copies failed");
    if (getenv("SPARSECL_MPI_TRACE"))
        fprintf(stderr, "rank %d: inputs %.1f ms, plan %.1f ms, wait + outputs %.1f ms\n", p->rank, t1 - t0,
                t2 - t1, smpi_now_ms() - t2);
done:
    for (int i = 0; i < nt; i++) {
        free(t[i].hs);
        free(t[i].hf);
    }
    return smpi_agree(p, st, p->err);
}

scl_status smpi_kv_forward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse)
{
    tensor t[5] = {{T_Q, 0, q, 0, 0, 0},
                   {T_KV, 0, k, 0, 0, 0},
                   {T_KV, 0, v, 0, 0, 0},
                   {T_Q, 1, o, 0, 0, 0},
                   {T_LSE, 1, lse, 0, 0, 0}};
    return run(p, t, 5, 0);
}

scl_status smpi_kv_backward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_mem dout,
                            cl_mem dq, cl_mem dk, cl_mem dv)
{
    tensor t[9] = {{T_Q, 0, q, 0, 0, 0},  {T_KV, 0, k, 0, 0, 0},    {T_KV, 0, v, 0, 0, 0},
                   {T_Q, 0, o, 0, 0, 0},  {T_LSE, 0, lse, 0, 0, 0}, {T_Q, 0, dout, 0, 0, 0},
                   {T_Q, 1, dq, 0, 0, 0}, {T_KV, 1, dk, 0, 0, 0},   {T_KV, 1, dv, 0, 0, 0}};
    return run(p, t, 9, 1);
}

/* The frame's spec when it has padding rows: the pattern intersected with a block layout (frame
 * blocks) that allows only this rank's query rows. Shards are whole blocks, so the layout is exact
 * at element level, and the compiler then skips every other row: no work for the padding rows. The layout
 * goes through a temporary .npy file because specs are text; it is read when the plan binds and removed
 * after. */
static scl_status rows_spec(scl_mpi_plan *p, const char *spec, char *out, size_t len, char *path, size_t plen)
{
    const int64_t b = p->shape.block, nq = (p->fq + b - 1) / b, nk = (p->fk + b - 1) / b;
    const int64_t r0 = (p->start[p->rank] - p->f0) / b,
                  r1 = (p->start[p->rank] + p->len[p->rank] - p->f0 + b - 1) / b;
    const char *dir = getenv("TMPDIR");
    snprintf(path, plen, "%s/sparsecl_mpi_rows_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return smpi_fail(p, SCL_ERR_IO, "cannot create a temporary file in %s", dir && *dir ? dir : "/tmp");
    close(fd);
    unsigned char *m = calloc((size_t)(nq * nk), 1);
    if (!m)
        return smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "row layout of %lld x %lld blocks", (long long)nq,
                         (long long)nk);
    memset(m + (size_t)(r0 * nk), 1, (size_t)((r1 - r0) * nk));
    int64_t shape[2] = {nq, nk};
    char msg[256];
    int rc = npy_write(path, NPY_U8, 2, shape, m, msg, sizeof msg);
    free(m);
    if (rc != 0) return smpi_fail(p, SCL_ERR_IO, "%s: %s", path, msg);
    if ((size_t)snprintf(out, len, "(%s) & layout(%s)", spec, path) >= len)
        return smpi_fail(p, SCL_ERR_PATTERN, "spec too long");
    return SCL_OK;
}

/* The two graph topologies of the exchanges, neighbours in rank order (the packing's order). */
static void make_graphs(scl_mpi_plan *p)
{
    const int P = p->size, me = p->rank;
    int *in = calloc((size_t)P * 3 + 2, sizeof *in), *out = in + P, *w = out + P, ni = 0, no = 0;
    if (!in) MPI_Abort(p->comm, 1);
    for (int s = 0; s < P; s++)
        w[s] = 1; /* equal weights: gcc refuses MPI_UNWEIGHTED as an array */
    for (int s = 0; s < P; s++) {
        if (s != me && fetched(p, p->need, me, s) > 0) in[ni++] = s;
        if (s != me && fetched(p, p->need, s, me) > 0) out[no++] = s;
    }
    MPI_Dist_graph_create_adjacent(p->comm, ni, in, w, no, out, w, MPI_INFO_NULL, 0, &p->graph[0]);
    MPI_Dist_graph_create_adjacent(p->comm, no, out, w, ni, in, w, MPI_INFO_NULL, 0, &p->graph[1]);
    free(in);
}

/* The frame plan of a rank with rows (the backward's, and the forward's without overlap). */
static scl_status frame_setup(scl_mpi_plan *p, const char *spec)
{
    const int me = p->rank;
    char text[8192], path[512] = "";
    scl_status st = SCL_OK;
    if (p->exact) { /* frame row t is global row t */
        p->f0 = 0, p->fq = p->fk = p->shape.seq_q;
    } else {
        p->f0 = p->k_lo[me] < p->start[me] ? p->k_lo[me] : p->start[me];
        p->fq = p->start[me] + p->len[me] - p->f0;
        p->fk = p->k_hi[me] - p->f0;
    }
    /* Padding query rows (whole blocks: shards and f0 are block-aligned) are cut out of the pattern,
     * so no kernel works on them. */
    if (p->exact || p->f0 < p->start[me])
        st = rows_spec(p, spec, text, sizeof text, path, sizeof path);
    else
        snprintf(text, sizeof text, "%s", spec);
    scl_shape s = p->shape;
    s.seq_q = p->fq;
    s.seq_k = p->fk;
    scl_pattern *pat = NULL;
    if (st == SCL_OK) st = scl_pattern_create(p->rt, text, &pat);
    if (st == SCL_OK) st = scl_plan_create(p->rt, pat, &s, p->dtype, &p->local);
    if (st != SCL_OK && !p->err[0]) smpi_fail(p, st, "%s", scl_last_error_message(p->rt));
    scl_pattern_destroy(pat);
    if (path[0]) remove(path);
    return st;
}

scl_status smpi_kv_setup(scl_mpi_plan *p, const char *spec)
{
    make_graphs(p); /* collective: before any rank may leave */
    scl_status st = p->len[p->rank] ? frame_setup(p, spec) : SCL_OK;
    int ok = 0;
    if (st == SCL_OK) st = smpi_overlap_setup(p, &ok);
    /* Every rank takes the same path: the two post their exchanges and agree in another order. */
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, p->comm);
    p->overlap = ok;
    if (!ok) smpi_overlap_free(p);
    return st;
}
