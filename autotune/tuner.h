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
    const scl_param_schema *kernel; /* the tuned variant's schema (NULL: the SIMT forward kernel) */
    int head_dim, block;
    scl_dtype dtype;
    at_strategy strategy;
    int max_evals;         /* <= 0: no limit */
    double max_seconds;    /* <= 0: no limit */
    int64_t seq;           /* representative problem (0: per device type) */
    int heads;             /* (0: per device type) */
    const char *pattern;   /* representative pattern (NULL: "causal": full and partial blocks) */
    int reps;              /* timed runs per point (median) */
    const char *db_path;   /* database file to update */
    bool resume;           /* reuse measured points found in db_path */
    int family;            /* -1: from the device type, 0: CPU-style space, 1: GPU-style space */
    FILE *progress;        /* live progress line (NULL: quiet) */
    FILE *verbose;         /* every rejected point and why (NULL: none) */
    unsigned seed;
} at_tune_options;

typedef struct at_tune_report {
    int total_points, valid_points; /* before / after pruning */
    int timed;                      /* points measured in this run */
    int reused;                     /* points taken from the database (--resume) */
    int failed;                     /* failed to build, to run, or to verify */
    bool found;
    at_params best, defaults; /* of the tuned kernel (.fwd or .bwd) */
    double best_ms, best_gflops, best_error;
    double default_ms; /* NaN when the defaults could not be measured */
    double seconds;
} at_tune_report;

/* Tunes opt->kernel. Backward candidates run after a forward pass with the default forward
 * parameters (for O and LSE) and are checked on dQ, dK and dV. */
scl_status at_tune(scl_runtime *rt, const at_tune_options *opt, at_tune_report *rep);
/* at_tune for the forward kernel whatever opt->kernel says. */
scl_status at_tune_fwd(scl_runtime *rt, const at_tune_options *opt, at_tune_report *rep);

#endif
