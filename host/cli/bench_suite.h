/* Benchmark pieces shared by `sparsecl bench` (one shape) and `sparsecl bench --suite` (a named,
 * versioned sweep written to results/<device-slug>/): random device tensors, event-timed
 * repetitions with a time budget, the CLBlast baseline, device-memory accounting, JSON of a
 * timing. */
#ifndef SCL_BENCH_SUITE_H
#define SCL_BENCH_SUITE_H

#include "internal.h"

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct bench_timing {
    int ran;
    int reps;                /* timed runs actually made (the budget may lower the request) */
    double median, min, max; /* ms */
    double flops;            /* per run, counted on allowed elements */
    char note[512];          /* why it did not run */
} bench_timing;

/* Forward tensors and, when made with backward, dO and the three gradients. */
typedef struct bench_buffers {
    cl_mem q, k, v, o, lse, dout, dq, dk, dv;
    size_t bytes; /* sum of their sizes */
} bench_buffers;

/* FLOPs per allowed (query, key) pair and head-dim element: forward 4 (two GEMMs), backward
 * 2.5x the forward (FlashAttention's convention: five GEMMs against two). */
#define BENCH_BWD_FLOP_RATIO 2.5

/* Random inputs of the (normalised, BHND) shape in dtype; with backward also dO (random) and dQ,
 * dK, dV. */
scl_status bench_make_buffers(scl_runtime *rt, const scl_shape *shape, scl_dtype dt, int backward,
                              bench_buffers *b);
void bench_free_buffers(bench_buffers *b);

/* `warmup` untimed runs, then up to `reps` timed runs; when budget_s > 0 the number of timed runs
 * is lowered (to at least 1) so that they fit the budget judging by the warm-up runs. On failure
 * the timing is not `ran` and its note holds the runtime's message. */
scl_status bench_time_forward(scl_plan *plan, const bench_buffers *b, int warmup, int reps, double budget_s,
                              bench_timing *t);
/* Backward alone into *bwd and forward followed by backward (per-run sums) into *both. A
 * backward that is not available records "backward: not available (<message>)". */
scl_status bench_time_backward(scl_plan *plan, const bench_buffers *b, int warmup, int reps, double budget_s,
                               bench_timing *bwd, bench_timing *both);
/* The dense CLBlast baseline (float32 only); *scores_bytes receives what its score matrix needs
 * (also when it is refused for memory). */
scl_status bench_time_clblast(scl_runtime *rt, const scl_shape *shape, const bench_buffers *b, int warmup,
                              int reps, double budget_s, bench_timing *t, size_t *scores_bytes);

/* {"ran", "median_ms", "min_ms", "max_ms", "reps", "gflops", "fraction_of_peak"} or
 * {"ran": false, "reason"}. */
cJSON *bench_timing_json(const bench_timing *t, double peak_gflops);

/* Writes DIR/bench.md (tables) from a bench.json document; links the plots present in DIR.
 * Defined in cmd_report.c, which also regenerates it for `sparsecl report`. 0, or -1 with msg. */
int bench_md_write(const cJSON *doc, const char *dir, char *msg, size_t len);

/* `sparsecl bench --suite ...`: argv is the bench command's whole argument vector. */
int bench_suite_main(int argc, char **argv);

#endif
