/* scl_mpi_plan: shards, the choice between the two exchange plans, and the collective entry
 * points. */
#include "mpi_internal.h"
#include "scl_patterns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static scl_status check_shape(scl_mpi_plan *p, const scl_shape *s)
{
    if (s->seq_k != 0 && s->seq_k != s->seq_q)
        return smpi_fail(p, SCL_ERR_INVALID_ARGUMENT,
                         "seq_k (%lld) must equal seq_q (%lld): the sequence is sharded", (long long)s->seq_k,
                         (long long)s->seq_q);
    if (s->layout != SCL_LAYOUT_BHND)
        return smpi_fail(p, SCL_ERR_UNSUPPORTED, "only the BHND layout is sharded");
    if (s->batch < 1 || s->heads < 1 || s->seq_q < 1 || s->block < 8 || s->block > 256 ||
        (s->block & (s->block - 1)))
        return smpi_fail(p, SCL_ERR_INVALID_ARGUMENT, "bad shape (batch %d, heads %d, seq %lld, block %d)",
                         s->batch, s->heads, (long long)s->seq_q, s->block);
    int kv = s->kv_heads ? s->kv_heads : s->heads;
    if (kv < 1 || s->heads % kv)
        return smpi_fail(p, SCL_ERR_INVALID_ARGUMENT, "heads (%d) must be a multiple of kv_heads (%d)",
                         s->heads, kv);
    if (s->seq_q > ((int64_t)1 << 40)) return smpi_fail(p, SCL_ERR_INVALID_ARGUMENT, "sequence too long");
    return SCL_OK;
}

/* Whole blocks per rank, so the planner's block rows never straddle two ranks. */
static void shard(scl_mpi_plan *p)
{
    const int64_t N = p->shape.seq_q, b = p->shape.block, nb = (N + b - 1) / b;
    for (int r = 0; r < p->size; r++) {
        int64_t a = r * nb / p->size * b, e = (r + 1) * nb / p->size * b;
        p->start[r] = a < N ? a : N;
        p->len[r] = (e < N ? e : N) - p->start[r];
    }
}

static scl_status setup(scl_mpi_plan *p, const char *spec, scl_mpi_exchange want)
{
    int kv_ok = 0;
    double max_heads = 0, max_kv = 0;
    scl_status st = smpi_plan_traffic(p, spec, &kv_ok, &max_heads, &max_kv);
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) return st;
    if (want == SCL_MPI_KV && !kv_ok)
        return smpi_fail(p, SCL_ERR_UNSUPPORTED, "the pattern-aware plan cannot run '%s'", spec);
    /* The cost model (planner.c): the busiest rank's bytes plus its work, so a KV plan that moves
     * a little less but leaves causal work piled on the last ranks loses to the balanced heads. */
    /* A tie (one rank, say) goes to KV: it stages only halos through the host, the heads plan all. */
    p->exchange = want != SCL_MPI_AUTO ? want : kv_ok && max_kv <= max_heads ? SCL_MPI_KV : SCL_MPI_HEADS;
    st = p->exchange == SCL_MPI_KV ? smpi_kv_setup(p, spec) : smpi_heads_setup(p, spec);
    return smpi_agree(p, st, p->err);
}

scl_status scl_mpi_plan_create(scl_runtime *rt, MPI_Comm comm, const char *spec, const scl_shape *shape,
                               scl_dtype dtype, scl_mpi_exchange exchange, scl_mpi_plan **out)
{
    if (!out) return SCL_ERR_INVALID_ARGUMENT;
    *out = NULL;
    scl_mpi_plan *p = calloc(1, sizeof *p);
    if (!p) MPI_Abort(comm, 1);
    MPI_Comm_dup(comm, &p->comm);
    p->graph[0] = p->graph[1] = MPI_COMM_NULL;
    MPI_Comm_rank(p->comm, &p->rank);
    MPI_Comm_size(p->comm, &p->size);
    const int P = p->size;
    p->start = calloc((size_t)P * 4, sizeof *p->start);
    p->h0 = calloc((size_t)P * 4, sizeof *p->h0);
    if (!p->start || !p->h0) MPI_Abort(comm, 1);
    p->len = p->start + P, p->k_lo = p->start + 2 * P, p->k_hi = p->start + 3 * P;
    p->hn = p->h0 + P, p->kv0 = p->h0 + 2 * P, p->kvn = p->h0 + 3 * P;
    p->rt = rt;
    p->dtype = dtype;
    p->esz = dtype == SCL_F16 ? 2 : 4;
    scl_status st = SCL_OK;
    if (!rt || !spec || !shape)
        st = smpi_fail(p, SCL_ERR_INVALID_ARGUMENT, "NULL runtime, spec or shape");
    else if (dtype != SCL_F32 && dtype != SCL_F16)
        st = smpi_fail(p, SCL_ERR_INVALID_ARGUMENT, "bad dtype %d", dtype);
    else if ((unsigned)exchange > SCL_MPI_KV)
        st = smpi_fail(p, SCL_ERR_INVALID_ARGUMENT, "bad exchange %d", exchange);
    else if (smpi_overlap_wanted() < 0) /* refused whichever plan runs, not read as on or off */
        st = smpi_fail(p, SCL_ERR_INVALID_ARGUMENT, "SPARSECL_MPI_OVERLAP=%s: expected on or off",
                       getenv("SPARSECL_MPI_OVERLAP"));
    else
        st = check_shape(p, shape);
    if (st == SCL_OK) {
        p->shape = *shape;
        if (!p->shape.kv_heads) p->shape.kv_heads = p->shape.heads;
        p->shape.seq_k = p->shape.seq_q;
        shard(p);
        smpi_heads_partition(p);
    }
    if ((st = smpi_agree(p, st, p->err)) == SCL_OK) st = setup(p, spec, exchange);
    *out = p; /* also on failure: it carries the agreed message */
    return st;
}

void scl_mpi_plan_destroy(scl_mpi_plan *p)
{
    if (!p) return;
    scl_plan_destroy(p->local);
    smpi_overlap_free(p);
    spc_lut_free(p->lut);
    for (int i = 0; i < 9; i++)
        if (p->frame[i]) clReleaseMemObject(p->frame[i]);
    for (int i = 0; i < 2; i++)
        if (p->graph[i] != MPI_COMM_NULL) MPI_Comm_free(&p->graph[i]);
    if (p->comm != MPI_COMM_NULL) MPI_Comm_free(&p->comm);
    free(p->start);
    free(p->h0);
    if (p->need_fwd != p->need) free(p->need_fwd);
    free(p->need);
    free(p->grow);
    free(p->g_rows);
    free(p);
}

const char *scl_mpi_plan_error(const scl_mpi_plan *p)
{
    return p ? p->err : "no plan";
}

void scl_mpi_plan_shard(const scl_mpi_plan *p, int rank, int64_t *start, int64_t *len)
{
    int ok = p && rank >= 0 && rank < p->size;
    if (start) *start = ok ? p->start[rank] : 0;
    if (len) *len = ok ? p->len[rank] : 0;
}

scl_mpi_exchange scl_mpi_plan_exchange(const scl_mpi_plan *p)
{
    return p ? p->exchange : SCL_MPI_AUTO;
}

void scl_mpi_plan_traffic(const scl_mpi_plan *p, scl_mpi_traffic *out)
{
    if (p && out) *out = p->traffic;
}

/* Each buffer at least as large as this rank's shard of its tensor: a short buffer on one rank is
 * that rank's bad input, reported by every rank, never an out-of-bounds kernel. */
static scl_status check_buffers(scl_mpi_plan *p, cl_mem *m, const int *kind, const char *const *name, int n)
{
    const int64_t rows = p->len[p->rank], B = p->shape.batch;
    for (int i = 0; i < n; i++) {
        if (!m[i] || !rows) continue;
        int64_t heads = kind[i] == 1 ? p->shape.kv_heads : p->shape.heads;
        size_t need =
            (size_t)(B * heads * rows) * (kind[i] == 2 ? sizeof(float) : (size_t)p->shape.head_dim * p->esz);
        size_t have = 0;
        if (clGetMemObjectInfo(m[i], CL_MEM_SIZE, sizeof have, &have, NULL) != CL_SUCCESS)
            return smpi_fail(p, SCL_ERR_INVALID_ARGUMENT, "%s is not a valid buffer", name[i]);
        if (have < need)
            return smpi_fail(p, SCL_ERR_INVALID_ARGUMENT,
                             "%s holds %zu bytes; this rank's shard (%lld rows) needs %zu", name[i], have,
                             (long long)rows, need);
    }
    return SCL_OK;
}

static void reset_counters(scl_mpi_plan *p)
{
    p->traffic.sent = p->traffic.received = 0;
    p->traffic.overlapped = 0;
    p->traffic.comm_ms = p->traffic.compute_ms = 0;
    p->err[0] = '\0';
}

scl_status scl_mpi_plan_forward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse)
{
    if (!p) return SCL_ERR_INVALID_ARGUMENT;
    reset_counters(p);
    scl_status st = p->len[p->rank] && (!q || !k || !v || !o)
                        ? smpi_fail(p, SCL_ERR_INVALID_ARGUMENT, "forward: q, k, v and o are required")
                        : SCL_OK;
    cl_mem m[5] = {q, k, v, o, lse};
    static const int kind[5] = {0, 1, 1, 0, 2};
    static const char *const name[5] = {"q", "k", "v", "o", "lse"};
    if (st == SCL_OK) st = check_buffers(p, m, kind, name, 5);
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) return st;
    if (p->exchange == SCL_MPI_HEADS) return smpi_heads_forward(p, q, k, v, o, lse);
    return p->overlap ? smpi_overlap_forward(p, q, k, v, o, lse) : smpi_kv_forward(p, q, k, v, o, lse);
}

scl_status scl_mpi_plan_backward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                 cl_mem dout, cl_mem dq, cl_mem dk, cl_mem dv)
{
    if (!p) return SCL_ERR_INVALID_ARGUMENT;
    reset_counters(p);
    scl_status st = p->len[p->rank] && (!q || !k || !v || !o || !lse || !dout || !dq || !dk || !dv)
                        ? smpi_fail(p, SCL_ERR_INVALID_ARGUMENT, "backward: every tensor is required")
                        : SCL_OK;
    cl_mem m[9] = {q, k, v, o, lse, dout, dq, dk, dv};
    static const int kind[9] = {0, 1, 1, 0, 2, 0, 0, 1, 1};
    static const char *const name[9] = {"q", "k", "v", "o", "lse", "dout", "dq", "dk", "dv"};
    if (st == SCL_OK) st = check_buffers(p, m, kind, name, 9);
    if ((st = smpi_agree(p, st, p->err)) != SCL_OK) return st;
    if (p->exchange == SCL_MPI_KV)
        return p->overlap ? smpi_overlap_backward(p, q, k, v, o, lse, dout, dq, dk, dv)
                          : smpi_kv_backward(p, q, k, v, o, lse, dout, dq, dk, dv);
    return smpi_heads_backward(p, q, k, v, o, lse, dout, dq, dk, dv);
}
