/* Internal state of libsparsecl_mpi, shared by its source files (not installed). */
#ifndef SCL_MPI_INTERNAL_H
#define SCL_MPI_INTERNAL_H

#include "sparsecl_mpi.h"

#include <stddef.h>
#include <stdint.h>

struct scl_mpi_plan {
    MPI_Comm comm; /* a duplicate: our messages never meet the caller's */
    int rank, size;
    scl_runtime *rt;
    scl_shape shape; /* global; kv_heads, seq_k and scale filled in */
    scl_dtype dtype;
    size_t esz; /* bytes per element of Q, K, V, O */
    scl_mpi_exchange exchange;
    int64_t *start, *len; /* [size]: each rank's rows */
    /* Head all-to-all: rank r computes query heads [h0[r], h0[r] + hn[r]) and key/value heads
     * [kv0[r], kv0[r] + kvn[r]); whole GQA groups, so a rank never needs another's K/V heads. */
    int *h0, *hn, *kv0, *kvn;
    /* Pattern-aware plan: this rank's frame starts at global row f0; its queries are frame rows
     * [start - f0, start - f0 + len), its keys frame rows [0, fk). k_lo[r], k_hi[r]: the key range
     * rank r fetches (global rows, contiguous), for every rank. */
    int64_t f0, fq, fk;
    int64_t *k_lo, *k_hi;
    /* need[r * nb + c]: rank r's queries attend key block c (any head). exact: the KV plan runs
     * the absolute frame (f0 = 0, the whole sequence's positions, only this rank's query rows
     * allowed) and fetches exactly those blocks: the way for patterns not of i - j alone. */
    unsigned char *need;
    int64_t nb;
    /* Reduced rows (plan_reduce.c): grow[R] marks query blocks that need most of the other ranks' key
     * blocks; the overlapped forward ships their queries to every rank and merges the partial (O,
     * LSE) by an MPI reduction instead of fetching the keys. need_fwd: the key blocks the other rows
     * need (p->need itself when no row is reduced); g_rows[r]: rank r's reduced rows, g_total all. */
    unsigned char *grow, *need_fwd;
    int64_t *g_rows, g_total;
    struct smpi_reduce *red;
    int exact;
    /* KV exchanges on graph topologies: in-neighbours = the ranks this one fetches keys from,
     * out-neighbours = the ranks fetching from it (graph[0]); graph[1] is the reverse, for dK, dV. */
    MPI_Comm graph[2];
    cl_mem frame[9]; /* the KV plan's device frames, by tensor slot, kept between calls */
    struct spc_lut *lut;      /* the pattern's block LUT over the whole sequence (planner) */
    struct smpi_overlap *ov;  /* the overlapped forward, backward (plan_overlap.c); NULL: the frame plan's */
    int overlap;              /* the same on every rank: the KV forward and backward run overlapped */
    scl_plan *local; /* the single-device plan this rank runs (NULL when it has no work) */
    scl_mpi_traffic traffic;
    char err[1024];
};

/* Agree on the outcome of a step: every rank passes its own status (and message); all return the
 * lowest status of any rank, and plan->err then holds "rank R: message" of that rank. */
scl_status smpi_agree(scl_mpi_plan *p, scl_status mine, const char *msg);
/* Record a local failure in p->err (without agreeing) and return s. */
scl_status smpi_fail(scl_mpi_plan *p, scl_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
double smpi_now_ms(void);

/* Device <-> host staging on the plan's queue, blocking. */
scl_status smpi_read(scl_mpi_plan *p, cl_mem buf, void *host, size_t bytes);
scl_status smpi_write(scl_mpi_plan *p, cl_mem buf, const void *host, size_t bytes);
cl_mem smpi_buffer(scl_mpi_plan *p, size_t bytes, scl_status *st);

/* MPI_Alltoallv of rows of `row_bytes` bytes; counts and displacements in rows. Adds the bytes to
 * the plan's traffic counters. Returns SCL_OK or SCL_ERR_IO with p->err set. */
scl_status smpi_alltoallv_rows(scl_mpi_plan *p, const void *send, const int *scount, const int *sdispl,
                               void *recv, const int *rcount, const int *rdispl, size_t row_bytes);

/* The host side of one exchange of rows, shared by both plans: per rank the send and receive counts
 * (sc, rc: the caller fills them) and displacements (sd, rd), in rows, and the packed buffers. */
typedef struct smpi_rows {
    int *sc, *sd, *rc, *rd;
    char *sb, *rb;
} smpi_rows;
/* Zeroed counts and displacements for the plan's P ranks (MPI_Abort when even they cannot be had). */
void smpi_rows_counts(scl_mpi_plan *p, smpi_rows *x);
/* The displacements from the counts, then the buffers of rows of `row_bytes` bytes; agreed: every
 * rank goes on to the exchange (SCL_OK) or none does. */
scl_status smpi_rows_buffers(scl_mpi_plan *p, smpi_rows *x, size_t row_bytes);
void smpi_rows_free(smpi_rows *x);

/* A neighbour exchange in flight (smpi_neighbor_post, then smpi_neighbor_wait). */
typedef struct smpi_inflight {
    MPI_Request req;
    int *arrays; /* its counts and displacements, in neighbour order */
    double sent, received, t0;
} smpi_inflight;
/* MPI_Ineighbor_alltoallv over a graph communicator, with counts and displacements (in rows)
 * given for every rank of the plan (only the neighbours' are used); the buffers must stay until
 * the wait, which counts the bytes. Post and wait are collective in the order the ranks call them. */
scl_status smpi_neighbor_post(scl_mpi_plan *p, MPI_Comm graph, const void *send, const int *scount,
                              const int *sdispl, void *recv, const int *rcount, const int *rdispl,
                              size_t row_bytes, smpi_inflight *f);
scl_status smpi_neighbor_wait(scl_mpi_plan *p, smpi_inflight *f);
/* Both at once: the blocking exchange. */
scl_status smpi_neighbor_rows(scl_mpi_plan *p, MPI_Comm graph, const void *send, const int *scount,
                              const int *sdispl, void *recv, const int *rcount, const int *rdispl,
                              size_t row_bytes);

/* Head all-to-all plan (plan_heads.c). */
void smpi_heads_partition(scl_mpi_plan *p);
scl_status smpi_heads_setup(scl_mpi_plan *p, const char *spec);
scl_status smpi_heads_forward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse);
scl_status smpi_heads_backward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                               cl_mem dout, cl_mem dq, cl_mem dk, cl_mem dv);
/* The spec restricted to heads [h0, h0 + hn), renumbered from 0 (heads() clauses rewritten). */
int smpi_slice_heads(const char *spec, int h0, int hn, char *out, size_t out_len);

/* Pattern-aware plan (plan_kv.c). The runs of rows of rank s's shard that rank r fetches, one at a
 * time from *pos (start at s's first row): first row in *lo, the length returned (0: no more). */
int64_t smpi_next_run(const scl_mpi_plan *p, int r, int s, int64_t *pos, int64_t *lo);
/* The same over another need array (the overlapped forward's, need_fwd). */
int64_t smpi_next_run_in(const scl_mpi_plan *p, const unsigned char *need, int r, int s, int64_t *pos,
                         int64_t *lo);
/* The counts, displacements and packed send buffer of one K/V exchange (forward: this rank's host
 * shard [B][X][n][w], of which only the rows others fetch are read; reverse: its frame's partial
 * gradients), in (peer, run, batch-head) order, over the runs of `need` (p->need or p->need_fwd). Agreed (smpi_rows_buffers); free with smpi_rows_free. */
scl_status smpi_kv_pack(scl_mpi_plan *p, const unsigned char *need, smpi_rows *xr, const void *shard,
                        const void *frame, int X, size_t row, int reverse);
/* The rows of this rank's shard `dev` that other ranks fetch, into the host shard (same layout). */
scl_status smpi_read_given(scl_mpi_plan *p, cl_mem dev, char *hs, size_t bh, size_t row);
/* Add n elements of a into d (f32, or f16 accumulated in f32 and rounded once). */
void smpi_accumulate(const scl_mpi_plan *p, char *d, const char *a, size_t n);
/* Rows [r0, r0 + rows) of `bh` slices of `sp` rows -> slices of `dp` rows at d0, on the device. */
scl_status smpi_copy_rows(scl_mpi_plan *p, cl_mem src, size_t s0, size_t sp, cl_mem dst, size_t d0, size_t dp,
                          size_t rows, size_t bh, size_t row);
/* The overlapped forward (plan_overlap.c): the plans over this rank's own keys and over the fetched
 * ones, made from the LUT. *ok: this rank can run it (SPARSECL_MPI_OVERLAP=off: 0). */
scl_status smpi_overlap_setup(scl_mpi_plan *p, int *ok);
scl_status smpi_overlap_forward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse);
/* The overlapped backward: the same parts, each with the caller's whole O and LSE (the merged
 * forward's), so the two dQ parts add and every key's dK, dV is exact; the fetched keys' partial
 * dK, dV go back to their owners (the reverse exchange) and are summed there. */
scl_status smpi_overlap_backward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                 cl_mem dout, cl_mem dq, cl_mem dk, cl_mem dv);
void smpi_overlap_free(scl_mpi_plan *p);
/* A pattern of the LUT's blocks of query blocks rows[i] (i < nbq; -1: an empty row) against the key
 * blocks c with col[c] >= 0, renumbered to (i, col[c]) over nbk key blocks, element masks kept
 * (scl_pattern_create_layout); *out stays NULL when no block is left. *missed (may be NULL) counts
 * the blocks outside the map of other ranks' keys that `need` marks. */
scl_status smpi_cut_layout(scl_mpi_plan *p, const int32_t *rows, int64_t nbq, const int32_t *col, int64_t nbk,
                           const unsigned char *need, int64_t *missed, scl_pattern **out);
/* SPARSECL_MPI_OVERLAP: 1 on (unset, on, 1), 0 off (off, 0), -1 anything else. */
int smpi_overlap_wanted(void);

/* Reduced rows (plan_reduce.c), every step collective when g_total > 0 and a no-op otherwise:
 * setup; read this rank's reduced query rows (before the agreement that precedes the exchanges);
 * post their all-gather; wait and enqueue the plan of every rank's reduced rows over this rank's keys;
 * after the queue is finished and the ranks agreed, reduce the partial results at their owners
 * (MPI_Reduce_scatter with an LSE-merge MPI_Op) and write them into o and lse. */
scl_status smpi_reduce_setup(scl_mpi_plan *p);
scl_status smpi_reduce_read(scl_mpi_plan *p, cl_mem q);
scl_status smpi_reduce_post(scl_mpi_plan *p);
scl_status smpi_reduce_compute(scl_mpi_plan *p, cl_mem k, cl_mem v);
scl_status smpi_reduce_finish(scl_mpi_plan *p, cl_mem o, cl_mem lse);
/* Their backward, in the same steps: read this rank's reduced rows of Q, O, dO, LSE; post their
 * all-gathers; wait and enqueue the backward of every rank's reduced rows over this rank's keys
 * (partial dQ of those rows; dK, dV of this rank's keys, which smpi_reduce_bwd_dkv gives: NULL
 * when this rank's keys serve no reduced row); after the ranks agreed, sum the dQ partials at their
 * owners (MPI_Reduce_scatter) and write them into dq. */
scl_status smpi_reduce_bwd_read(scl_mpi_plan *p, cl_mem q, cl_mem o, cl_mem dout, cl_mem lse);
scl_status smpi_reduce_bwd_post(scl_mpi_plan *p);
scl_status smpi_reduce_bwd_compute(scl_mpi_plan *p, cl_mem k, cl_mem v);
int smpi_reduce_bwd_dkv(const scl_mpi_plan *p, cl_mem *dk, cl_mem *dv);
scl_status smpi_reduce_bwd_finish(scl_mpi_plan *p, cl_mem dq);
void smpi_reduce_free(scl_mpi_plan *p);
scl_status smpi_kv_setup(scl_mpi_plan *p, const char *spec);
scl_status smpi_kv_forward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse);
scl_status smpi_kv_backward(scl_mpi_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_mem dout,
                            cl_mem dq, cl_mem dk, cl_mem dv);

/* Planner (planner.c): fills k_lo/k_hi, need, exact and this rank's predicted traffic; *kv_ok
 * tells whether the KV plan can run (always, now: shifted or absolute frame); max_*: the cost model's figure
 * for each plan (the busiest rank's forward bytes plus the busiest rank's work in byte units, see planner.c).
 * Every rank computes every rank's figures from the compiled pattern: no messages. Needs the head partition
 * (smpi_heads_partition). */
scl_status smpi_plan_traffic(scl_mpi_plan *p, const char *spec, int *kv_ok, double *max_heads,
                             double *max_kv_run);
/* Does the predicate of the spec depend on i - j only (so a shifted frame computes it exactly)? */
int smpi_shift_invariant(const char *spec);

#endif
