/* The benchmark harness (libscl_bench), shared by `sparsecl bench` (one shape), `sparsecl bench
 * --suite` (a named, versioned sweep written to results/<device-slug>/) and `sparsecl report`:
 *   bench_harness.c  random device tensors, event-timed repetitions with a time budget, the
 *                    CLBlast baseline, device-memory accounting
 *   bench_suites.c   the suite definitions (one table)
 *   bench_run.c      running a suite on one device into bench.json, bench.md and plots
 *   bench_json.c     the bench.json schema: writing its parts, reading them back (old files too)
 *   bench_md.c       bench.md, the tables of one device, from a bench.json document */
#ifndef SCL_BENCH_H
#define SCL_BENCH_H

#include "sparsecl.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

/* ---- bench_harness.c ------------------------------------------------------------------------ */

typedef struct bench_timing {
    int ran;
    int reps;                /* timed runs actually made (the budget may lower the request) */
    double median, min, max; /* ms */
    double cv;               /* coefficient of variation of the timed runs (stddev / mean) */
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

double bench_now_s(void);
/* Random inputs of the (normalised, BHND) shape in dtype (f32, or the uint16 bit patterns of f16
 * or bf16 values); with backward also dO (random) and dQ, dK, dV. */
scl_status bench_make_buffers(scl_runtime *rt, const scl_shape *shape, scl_dtype dt, int backward,
                              bench_buffers *b);
void bench_free_buffers(bench_buffers *b);
/* CL_MEM_SIZE of one buffer (0 for NULL). */
size_t bench_mem_size(cl_mem m);

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

/* Noise. A timing is noisy when the coefficient of variation of its runs is above BENCH_NOISY_CV;
 * the machine is busy when the 1-minute load average is above the number of online CPUs. */
#define BENCH_NOISY_CV 0.05
int bench_timing_noisy(const bench_timing *t);
/* The 1-minute load average (/proc/loadavg) and the online CPUs; 0 when not known (not Linux). */
int bench_load(double *load1, int *cpus);
/* A warning about the figures of `what` (NULL: the machine alone) when t is noisy or the machine
 * is busy (load1 > cpus > 0); 1 with the line in out, else 0 and out = "". */
int bench_noise_warning(const char *what, const bench_timing *t, double load1, int cpus, char *out,
                        size_t len);

/* ---- bench_suites.c ------------------------------------------------------------------------- */

enum {
    BENCH_MAX_SEQS = 8,
    BENCH_MAX_DIMS = 3,
    BENCH_MAX_PATTERNS = 8,
    BENCH_N_DTYPES = 3,
    BENCH_MAX_GROUPS = 8
};
/* A set of storage types, one bit per scl_dtype. */
#define BENCH_DT(t) (1u << (t))
#define BENCH_F32 BENCH_DT(SCL_F32)
#define BENCH_F16 BENCH_DT(SCL_F16)
#define BENCH_BF16 BENCH_DT(SCL_BF16)

typedef struct bench_pattern_def {
    const char *label, *spec;
    unsigned dtypes; /* BENCH_F32 | BENCH_F16 | BENCH_BF16: the storage types it runs with */
} bench_pattern_def;

/* The batch and head shape of a group of points (every N, pattern and dtype of the suite). */
typedef struct bench_group {
    int batch, heads, kv_heads, dim; /* kv_heads < heads: grouped-query attention */
} bench_group;

/* Lists end at the first 0 (seqs, dims, groups' dim) or NULL label (patterns). A suite either
 * lists head dims (every one with batch and heads, H_kv = H) or its groups. */
typedef struct bench_suite_def {
    const char *name;
    int version;
    const char *about;
    int hidden;
    int64_t seqs[BENCH_MAX_SEQS + 1];
    int dims[BENCH_MAX_DIMS + 1];
    bench_group groups[BENCH_MAX_GROUPS + 1];
    const char *subdir; /* written to out_root/subdir/<device-slug> (NULL: out_root/<device-slug>) */
    int gpu_only;       /* refused on devices that are not GPUs (too long on a CPU) */
    bench_pattern_def patterns[BENCH_MAX_PATTERNS + 1];
    int batch, heads, block;
    int warmup, reps;
    double max_point_s; /* default time cap of one measurement */
    int backward;       /* forward+backward timed at every point */
} bench_suite_def;

int bench_suite_count(void);
const bench_suite_def *bench_suite_at(int i);
const bench_suite_def *bench_suite_find(const char *name);
int bench_suite_n_seqs(const bench_suite_def *d);
int bench_suite_n_dims(const bench_suite_def *d);
int bench_suite_n_patterns(const bench_suite_def *d);
/* The groups of a suite: its own, else one per head dim with its batch and heads. */
int bench_suite_n_groups(const bench_suite_def *d);
bench_group bench_suite_group(const bench_suite_def *d, int i);
/* The storage types some pattern of the suite runs with. */
unsigned bench_suite_dtypes(const bench_suite_def *d);
/* The storage types in report order (f32, f16, bf16); "float32", "float16", "bfloat16". */
scl_dtype bench_dtype_at(int i);
const char *bench_dtype_long_name(scl_dtype t);

/* ---- bench_run.c ---------------------------------------------------------------------------- */

typedef struct bench_suite_config {
    const char *out_root; /* results folder: the run goes to out_root/<device-slug> */
    const char *note;     /* free text recorded in bench.json */
    const char *cmdline;  /* the command that ran the suite, recorded in bench.json */
    int reps;             /* <= 0: the suite's own */
    double max_point_s;   /* <= 0: the suite's own */
    int plots, peak;      /* make plots; measure the device peak */
    int quiet;            /* no progress on stderr (--json) */
} bench_suite_config;

/* Runs the suite on rt's device into out_root/<slug>/ (bench.json after every point, then
 * bench.md and plots) and appends a summary object to `summary`. 0, or -1 with msg. */
int bench_suite_run(scl_runtime *rt, const bench_suite_def *def, const bench_suite_config *cfg,
                    cJSON *summary, char *msg, size_t len);

/* ---- bench_json.c --------------------------------------------------------------------------- */

/* Readers that never fail: "" / dflt / false / NULL when the key is missing or of another type. */
const char *bench_jstr(const cJSON *o, const char *key);
double bench_jnum(const cJSON *o, const char *key, double dflt);
int bench_jbool(const cJSON *o, const char *key);
const cJSON *bench_jobj(const cJSON *o, const char *key);

/* {"ran", "median_ms", "min_ms", "max_ms", "reps", "gflops", "fraction_of_peak"} or
 * {"ran": false, "reason"}. */
cJSON *bench_timing_json(const bench_timing *t, double peak_gflops);
/* Replaces (or adds) a number. */
void bench_json_set_num(cJSON *o, const char *key, double v);
/* Writes doc to path atomically, pretty-printed with a final newline. 0, or -1 with msg. */
int bench_json_write(const cJSON *doc, const char *path, char *msg, size_t len);

/* The top of bench.json: format, suite, device, run metadata, settings and the suite's shapes
 * ("shapes": seq, dim, dtype lists and the patterns with their dtypes), an empty "peak" object and
 * "points" array to fill. */
cJSON *bench_doc_new(const bench_suite_def *def, const scl_device_info *di, const char *slug, int reps,
                     double max_point_s, const char *note, const char *cmdline, const char *commit,
                     const char *date);
/* A point's identity: kind ("sparse", "clblast"), pattern label and spec, shape, dtype. */
cJSON *bench_point_new(const bench_suite_def *d, const char *kind, const char *label, const char *spec,
                       int64_t n, const bench_group *g, scl_dtype dt);
/* A point's group (batch and heads from "settings" in files that did not record them per point;
 * H_kv = H when not recorded). */
bench_group bench_point_group(const cJSON *doc, const cJSON *p);

/* The shapes a bench.json covers, for its tables: from its "shapes" object, or, in files written
 * before it existed, from the distinct values of its points (patterns in order of first
 * appearance, sequence lengths and head dims sorted, dtypes in report order). */
typedef struct bench_shapes {
    const char *labels[16], *specs[16];
    int n_patterns;
    double seqs[32], dims[8];
    int n_seqs, n_dims;
    const char *dtypes[BENCH_N_DTYPES];
    int n_dtypes;
    bench_group groups[BENCH_MAX_GROUPS]; /* by head dim */
    int n_groups;
    int from_points; /* 1 when scanned from the points */
} bench_shapes;
void bench_doc_shapes(const cJSON *doc, bench_shapes *s);
/* The point of that kind, pattern (NULL: any), shape and dtype, or NULL. */
const cJSON *bench_find_point(const cJSON *doc, const char *kind, const char *pattern, double seq, double dim,
                              const char *dtype);
/* The same in one group (g->batch <= 0: any group of that head dim). */
const cJSON *bench_find_point_in(const cJSON *doc, const char *kind, const char *pattern, double seq,
                                 const bench_group *g, const char *dtype);

/* ---- bench_fill.c --------------------------------------------------------------------------- */

/* A shape (group, N, dtype) fills a device when its dense fused forward reaches at least this
 * share of the best fraction of peak the device reaches with that dtype in the same bench.json:
 * below it the device waits on too few work-groups (or launches) rather than computing. */
#define BENCH_FILL_SHARE 0.5
/* The best dense fused forward fraction of peak of that dtype in doc, or -1. */
double bench_fill_best(const cJSON *doc, const char *dtype);
/* 1 when the shape fills the device, 0 when not, -1 when doc has no figure to judge it by. */
int bench_fill_ok(const cJSON *doc, double seq, const bench_group *g, const char *dtype);
/* The fill table of one device (headed `name`) and a "does not fill this device" line per dtype. */
void bench_fill_md(FILE *f, const cJSON *doc, const char *name);

/* ---- bench_md.c ----------------------------------------------------------------------------- */

/* Writes DIR/bench.md (tables) from a bench.json document; links the plots present in DIR.
 * `sparsecl bench --suite` calls it after a run, `sparsecl report` for every device. 0, or -1
 * with msg. */
int bench_md_write(const cJSON *doc, const char *dir, char *msg, size_t len);
/* A time in ms with 3 significant-ish digits, as the tables print it. */
void bench_fmt_ms(char *out, size_t len, double ms);
/* Why a timing did not run, in one word for a table cell (pt NULL: "—"). */
const char *bench_short_reason(const cJSON *pt, const cJSON *t);

#endif
