/* The tuner's run state, shared by tuner.c (search, database record) and tune_final.c (the
 * incumbent, the re-timing of the finalists and the decision). Not installed. */
#ifndef SCL_TUNER_INTERNAL_H
#define SCL_TUNER_INTERNAL_H

#include "plan_internal.h"
#include "tune_verify.h"
#include "tuner.h"

#include <cjson/cJSON.h>

typedef struct tune_ctx tune_ctx;

/* What differs between kernels: extra set-up of the problems, verification of a candidate on
 * the small problem, and one timed run on the representative problem. */
typedef struct tune_ops {
    scl_status (*setup)(tune_ctx *c);
    /* 0 when verified (*err = its error), INFINITY with *why otherwise. */
    double (*verify)(tune_ctx *c, const at_params *p, double *err, char *why, size_t len);
    /* A plan ready for timed runs of p (NULL with *why); released by end_timing. */
    scl_plan *(*begin_timing)(tune_ctx *c, const at_params *p, char *why, size_t len);
    scl_status (*timed_run)(tune_ctx *c, scl_plan *plan, double *ms);
    void (*end_timing)(tune_ctx *c, scl_plan *plan);
    bool one_plan; /* begin_timing reuses one plan: never two candidates' plans at once */
} tune_ops;

struct tune_ctx {
    scl_runtime *rt;
    const at_tune_options *opt;
    at_tune_report *rep;
    const scli_param_schema *kernel;
    const tune_ops *ops;
    at_kspace space;
    scl_pattern *pattern;
    scl_shape shape;
    double flops;
    cl_mem q, k, v, o, lse; /* representative problem's tensors, shared by all candidates */
    at_verify ver;          /* the verification problem and its reference */
    cJSON *db, *entry;
    double t_start;
    int budget;
    double *costs; /* per valid point: ms, INFINITY = failed, NaN = not measured */
    double *errs;  /* per valid point: its verification error (NaN: unknown) */
    /* Backward only: gradient buffers of the representative problem and a plan that keeps its
     * forward (default parameters) and rebuilds only the backward kernels per candidate. */
    cl_mem dout, dq, dk, dv;
    scl_plan *bplan;
    /* Wall-clock costs seen so far, for the ETA and the time budget's reserve. */
    double point_s; /* sum over measured points (verify + build + timed runs) */
    int point_n;
    double plan_s; /* sum over plan builds for timing */
    int plan_n;
    double run_s; /* sum over single timed runs */
    int run_n;
    int inc_index, def_index;       /* the incumbent's and the defaults' points (-1: not in the space) */
    double base_ms[2], base_err[2]; /* first measurement of the incumbent [0] and the defaults [1] */
    /* The database file as it was before this run: written back when the incumbent stays. */
    unsigned char *orig;
    size_t orig_size;
    bool orig_exists;
};

double at_now_s(void);
/* Verify p on the small problem, then time it (median of reps after a warm-up): ms, or INFINITY
 * with *why. */
double at_tuner_measure(tune_ctx *c, const at_params *p, double *err, char *why, size_t len);
/* One warm-up and n timed runs of plan (parameters p) into ms[]; false with *why. */
bool at_tuner_time(tune_ctx *c, scl_plan *plan, const at_params *p, int n, double *ms, char *why, size_t len);
int at_tuner_reps(const tune_ctx *c);
/* The ETA of what is left of the run, never past the time budget. */
double at_tuner_eta(tune_ctx *c, int points_left);

/* tune_final.c */
#define AT_RETIME_ROUNDS 3
#define AT_NOISE_FLOOR 0.01 /* a winner must beat the incumbent by at least 1%, whatever the noise */
/* What plans on this device use today for the shape class (the runtime's look-up), into rep. */
void at_find_incumbent(tune_ctx *c, const scli_param_context *pc);
/* Verify and time the incumbent and the defaults (same problem, same reps as the candidates). */
void at_time_baselines(tune_ctx *c);
/* Seconds the re-timing phase is expected to take (0 before anything was measured). */
double at_retime_estimate(const tune_ctx *c);
/* Median and interquartile range / median of m samples (sorted in place). */
void at_median_spread(double *s, int m, double *median, double *spread);
/* Re-time the best candidates with the incumbent and the defaults, interleaved over rounds;
 * choose by median, measure the noise, decide whether the winner replaces the incumbent. */
void at_retime_and_decide(tune_ctx *c);

#endif
