/* One tuning run: a shape class of one kernel on one device, searched with a strategy, every
 * candidate verified against the double reference before it is timed, the database updated
 * atomically after every measured point (so an interrupted run loses nothing). */
#ifndef SCL_TUNER_H
#define SCL_TUNER_H

#include "search.h"
#include "space.h"
#include "sparsecl.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct at_tune_options {
    const scli_param_schema *kernel; /* the tuned variant's schema (NULL: the SIMT forward kernel) */
    int head_dim, block;
    scl_dtype dtype;
    at_strategy strategy;
    int max_evals;       /* <= 0: no limit */
    double max_seconds;  /* <= 0: no limit */
    int64_t seq;         /* representative problem (0: per device type) */
    int heads;           /* (0: per device type) */
    const char *pattern; /* representative pattern (NULL: "causal": full and partial blocks) */
    int reps;            /* timed runs per point (median) */
    const char *db_path; /* database file to update */
    bool resume;         /* reuse measured points found in db_path */
    int family;          /* -1: from the device type, 0: CPU-style space, 1: GPU-style space */
    FILE *progress;      /* live progress line (NULL: quiet) */
    FILE *verbose;       /* every rejected point and why (NULL: none) */
    unsigned seed;
    int rounds; /* re-timing rounds of the finalists (<= 0: AT_RETIME_ROUNDS) */
    /* Tests only: the time reported for every timed run of p, given the measured one (NULL: the
     * measured one). Plans are still built, verified and run; only the number is replaced. */
    double (*fake_ms)(const at_params *p, double measured_ms, void *ctx);
    void *fake_ctx;
} at_tune_options;

#define AT_MAX_FINALISTS 5

/* A point of the re-timing phase: its role, median and spread over every re-timed run. */
typedef struct at_finalist {
    at_params p;
    char role[32]; /* "incumbent", "defaults", "incumbent = defaults", "candidate" */
    double ms;     /* median of the re-timed runs (INFINITY: failed) */
    double spread; /* interquartile range / median */
} at_finalist;

typedef struct at_tune_report {
    int total_points, valid_points; /* before / after pruning */
    int timed;                      /* points measured in this run */
    int reused;                     /* points taken from the database (--resume) */
    int failed;                     /* failed to build, to run, or to verify */
    bool found;                     /* some candidate (or the incumbent) passed verification and timing */
    at_params best, defaults; /* of the tuned kernel (.fwd or .bwd); best: what plans use after the run */
    double best_ms, best_gflops, best_error;
    double default_ms; /* re-timed median; NaN when the defaults could not be measured */
    /* The incumbent: what plans used before the run (user cache, shipped, same-architecture
     * fallback, or the built-in defaults), timed in this run beside the candidates. */
    at_params incumbent;
    char incumbent_source[1500]; /* the look-up's text, or "built-in defaults" */
    bool incumbent_from_db;
    double incumbent_ms; /* re-timed median; INFINITY when it failed here */
    /* The best re-timed point other than the incumbent, and whether it replaced the incumbent:
     * only when faster by more than the noise (kept_incumbent: the database is left as it was). */
    bool has_challenger;
    at_params challenger;
    double challenger_ms;
    bool kept_incumbent;
    double noise; /* relative: the larger interquartile range / median of challenger and incumbent */
    int n_final;
    at_finalist final[AT_MAX_FINALISTS];
    double seconds;
} at_tune_report;

/* Tunes opt->kernel. Backward candidates run after a forward pass with the default forward
 * parameters (for O and LSE) and are checked on dQ, dK and dV. */
scl_status at_tune(scl_runtime *rt, const at_tune_options *opt, at_tune_report *rep);
/* at_tune for the forward kernel whatever opt->kernel says. */
scl_status at_tune_fwd(scl_runtime *rt, const at_tune_options *opt, at_tune_report *rep);

#endif
