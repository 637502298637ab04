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
    int exact;
    /* KV exchanges on graph topologies: in-neighbours = the ranks this one fetches keys from,
     * out-neighbours = the ranks fetching from it (graph[0]); graph[1] is the reverse, for dK, dV. */
    MPI_Comm graph[2];
    cl_mem frame[9]; /* the KV plan's device frames, by tensor slot, kept between calls */
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

/* MPI_Neighbor_alltoallv over a graph communicator, with counts and displacements (in rows)
 * given for every rank of the plan (only the neighbours' are used). Counts the bytes. */
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

/* Pattern-aware plan (plan_kv.c). */
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
