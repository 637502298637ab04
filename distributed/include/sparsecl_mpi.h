/* sparsecl_mpi: sequence-parallel block-sparse attention over MPI (libsparsecl_mpi).
 *
 * Each rank owns a contiguous shard of the sequence (rows of Q, K, V, O, LSE and their
 * gradients, all heads, [B, H, n_rank, d] row-major, BHND) in its own cl_mem buffers on the
 * device of its runtime. Shards are whole layout blocks: rank r holds blocks
 * [r*nb/P, (r+1)*nb/P) of nb = ceil(N / block), so the last shard carries the tail; a rank may
 * own nothing when nb < P. Data goes through host memory for MPI (no GPU-direct assumption).
 *
 * Every call below that takes a plan is collective over the plan's communicator and blocking.
 * When any rank fails, every rank returns the same error status and the failing rank's message
 * (scl_mpi_plan_error), so no rank is left waiting in a collective.
 *
 * The core library never depends on MPI: this header and library are separate. Only standard
 * MPI-3 calls are used (built and tested with Open MPI; nothing Open MPI specific). */
#ifndef SPARSECL_MPI_H
#define SPARSECL_MPI_H

#include "sparsecl.h"

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which exchange runs. HEADS: sequence shards -> head shards (MPI_Alltoallv), the ordinary
 * single-device plan on H/P heads over the whole sequence, and back; works for every pattern.
 * KV: pattern-aware: each rank fetches only the key/value rows its queries need, from their owners,
 * and runs one plan over its queries and those keys; the backward returns the partial dK, dV to
 * their owners, which sum them. AUTO: the cost model picks the cheaper plan (bytes and the busiest
 * rank's work; see scl_mpi_traffic). */
typedef enum scl_mpi_exchange { SCL_MPI_AUTO = 0, SCL_MPI_HEADS = 1, SCL_MPI_KV = 2 } scl_mpi_exchange;

/* Create a runtime for this rank. selector as in scl_runtime_create; NULL or "" with
 * SPARSECL_DEVICE unset picks the local rank's GPU (rank index within MPI_COMM_TYPE_SHARED, modulo
 * the number of GPUs), else the default device. Collective over comm: a failure on one rank is a
 * failure on all, and msg (may be NULL) then receives "rank R: why" of the first failing rank
 * (*out may still hold a runtime carrying a message; destroy it). */
scl_status scl_mpi_runtime_create(MPI_Comm comm, const char *selector, scl_runtime **out, char *msg,
                                  size_t msg_len);

typedef struct scl_mpi_plan scl_mpi_plan;

/* Plan for the global shape (seq_q = seq_k = N: self-attention over the sharded sequence; layout
 * BHND). `exchange` forces a plan or lets the cost model choose (SCL_MPI_AUTO). KV runs every
 * pattern: those of i - j alone (dense, causal, local, strided, dilated, unions/intersections, per
 * head too) on a shifted frame of the shard and its halo, the others on a whole-sequence frame
 * (exact bytes, unsharded memory; distributed/README.md). Collective. */
scl_status scl_mpi_plan_create(scl_runtime *rt, MPI_Comm comm, const char *spec, const scl_shape *shape,
                               scl_dtype dtype, scl_mpi_exchange exchange, scl_mpi_plan **out);
void scl_mpi_plan_destroy(scl_mpi_plan *plan);

/* The message of the plan's last failure on any rank, prefixed with that rank ("" if none). */
const char *scl_mpi_plan_error(const scl_mpi_plan *plan);
/* The rows [*start, *start + *len) of the sequence that `rank` owns. */
void scl_mpi_plan_shard(const scl_mpi_plan *plan, int rank, int64_t *start, int64_t *len);
scl_mpi_exchange scl_mpi_plan_exchange(const scl_mpi_plan *plan); /* HEADS or KV */

/* Forward on this rank's shard: q, o [B,H,n,d]; k, v [B,H_kv,n,d]; lse float32 [B,H,n] (may be
 * NULL). Buffers of a rank with n = 0 may be NULL. Collective and blocking. */
scl_status scl_mpi_plan_forward(scl_mpi_plan *plan, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse);
/* Backward on this rank's shard: the forward's inputs, its o and lse (required), dout; writes dq,
 * dk, dv of this shard (dk, dv summed over every rank's queries). Collective and blocking. */
scl_status scl_mpi_plan_backward(scl_mpi_plan *plan, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                 cl_mem dout, cl_mem dq, cl_mem dk, cl_mem dv);

/* Bytes per rank. Predicted figures are computed by the planner for this rank from the shape and
 * the compiled pattern (the same on every run); `sent`/`received` count what the last forward or
 * backward call actually passed to MPI on this rank. */
typedef struct scl_mpi_traffic {
    double heads_bytes;  /* head all-to-all forward: Q, K, V out and O, LSE back, sent + received */
    double kv_bytes;     /* pattern-aware forward: exactly the key blocks this rank's queries need
                          * from others plus the ones others need from it, K and V, sent + received */
    double kv_run_bytes; /* what the KV plan's forward really moves (shifted frames: whole key
                          * ranges; absolute frames: kv_bytes). With reduced rows (reduced_rows > 0)
                          * both count, instead of those rows' keys, their queries out and in and the
                          * (lse, o[d]) float records back, as if sent to and received from every rank */
    double ring_bytes;   /* ring attention forward: K and V of the P - 1 other shards pass through
                          * every rank, sent + received */
    /* The cost model, the same on every rank: the busiest rank's bytes under the plan plus the
     * busiest rank's work (non-empty blocks x block^2 x 4d flops) divided by
     * SPARSECL_MPI_FLOP_PER_BYTE (default 1000); the cheaper plan runs. kv_cost -1: cannot run KV. */
    double heads_cost, kv_cost;
    double sent, received;      /* last call on this rank */
    double comm_ms, compute_ms; /* last call on this rank: MPI + staging, and the local plan */
    int overlapped; /* last forward or backward call on every rank: the K/V exchange was in flight
                     * while the plan over each rank's own keys ran; the forward merged the two
                     * parts by their LSE, the backward added their dQ and returned the fetched
                     * keys' partial dK, dV to their owners (KV plan; SPARSECL_MPI_OVERLAP=off runs
                     * the frame plan instead, both directions) */
    double reduced_rows; /* planner: query rows of all ranks whose queries the overlapped forward
                          * all-gathers, (O, LSE) merged back at their owners by an MPI reduction,
                          * instead of fetching the keys they need (global rows) */
} scl_mpi_traffic;
void scl_mpi_plan_traffic(const scl_mpi_plan *plan, scl_mpi_traffic *out);

#ifdef __cplusplus
}
#endif
#endif
