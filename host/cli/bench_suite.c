/* `sparsecl bench --suite`: named, versioned benchmark sweeps written to results/<device-slug>/
 * (bench.json raw, bench.md tables, PNG plots through scripts/plot_bench.py when matplotlib is
 * there), plus the measurement helpers `sparsecl bench` shares. */
#include "bench_suite.h"

#include "baseline.h"
#include "cli.h"
#include "peak.h"
#include "internal.h"
#include "scl_fileio.h"
#include "scl_npy.h"
#include "tuning_db.h"
#include "param_schema.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#ifndef SCL_SOURCE_DIR
#define SCL_SOURCE_DIR "."
#endif

static const char *CMD = "bench";

/* ---- Measurement -------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summarize(double *ms, int n, bench_timing *t)
{
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    t->ran = 1;
    t->reps = n;
    t->min = ms[0];
    t->max = ms[n - 1];
    t->median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

static cl_mem random_buffer(scl_runtime *rt, size_t elems, scl_dtype dt, unsigned seed, scl_status *st)
{
    size_t es = dt == SCL_F16 ? 2 : 4;
    void *host = malloc(elems * es);
    if (!host) {
        *st = scl_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory for %zu elements", elems);
        return NULL;
    }
    uint64_t x = 0x9e3779b97f4a7c15ULL * (seed + 1);
    for (size_t i = 0; i < elems; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        float f = (float)((x >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
        if (dt == SCL_F16)
            ((uint16_t *)host)[i] = npy_float_to_half(f);
        else
            ((float *)host)[i] = f;
    }
    cl_int err;
    cl_mem m = clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, elems * es, host, &err);
    free(host);
    if (err != CL_SUCCESS) {
        char ctx[128];
        snprintf(ctx, sizeof ctx, "%zu-byte input tensor", elems * es);
        *st = scl_fail_cl(rt, "clCreateBuffer", err, ctx);
        return NULL;
    }
    return m;
}

static cl_mem empty_buffer(scl_runtime *rt, size_t bytes, scl_status *st)
{
    cl_int err;
    cl_mem m = clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        char ctx[128];
        snprintf(ctx, sizeof ctx, "%zu-byte output tensor", bytes);
        *st = scl_fail_cl(rt, "clCreateBuffer", err, ctx);
        return NULL;
    }
    return m;
}

scl_status bench_make_buffers(scl_runtime *rt, const scl_shape *s, scl_dtype dt, int backward,
                              bench_buffers *b)
{
    memset(b, 0, sizeof *b);
    size_t es = dt == SCL_F16 ? 2 : 4;
    int hkv = s->kv_heads ? s->kv_heads : s->heads;
    int64_t nk = s->seq_k ? s->seq_k : s->seq_q;
    size_t qe = (size_t)s->batch * s->heads * (size_t)s->seq_q * s->head_dim;
    size_t ke = (size_t)s->batch * hkv * (size_t)nk * s->head_dim;
    size_t lse = (size_t)s->batch * s->heads * (size_t)s->seq_q * 4;
    scl_status st = SCL_OK;
    b->q = random_buffer(rt, qe, dt, 1, &st);
    if (st == SCL_OK) b->k = random_buffer(rt, ke, dt, 2, &st);
    if (st == SCL_OK) b->v = random_buffer(rt, ke, dt, 3, &st);
    if (st == SCL_OK) b->o = empty_buffer(rt, qe * es, &st);
    if (st == SCL_OK) b->lse = empty_buffer(rt, lse, &st);
    b->bytes = 2 * qe * es + 2 * ke * es + lse;
    if (backward) {
        if (st == SCL_OK) b->dout = random_buffer(rt, qe, dt, 4, &st);
        if (st == SCL_OK) b->dq = empty_buffer(rt, qe * es, &st);
        if (st == SCL_OK) b->dk = empty_buffer(rt, ke * es, &st);
        if (st == SCL_OK) b->dv = empty_buffer(rt, ke * es, &st);
        b->bytes += 2 * qe * es + 2 * ke * es;
    }
    if (st != SCL_OK) bench_free_buffers(b);
    return st;
}

void bench_free_buffers(bench_buffers *b)
{
    cl_mem all[] = {b->q, b->k, b->v, b->o, b->lse, b->dout, b->dq, b->dk, b->dv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) clReleaseMemObject(all[i]);
    memset(b, 0, sizeof *b);
}

/* One run: out[0] the measured time, out[1] a second one (forward + backward), both ms. */
typedef scl_status (*run_fn)(void *ctx, double out[2]);

typedef struct run_ctx {
    scl_plan *plan;
    scl_baseline *bl;
    const bench_buffers *b;
} run_ctx;

static scl_status run_forward(void *vc, double out[2])
{
    run_ctx *c = vc;
    out[1] = 0;
    return scl_plan_time_forward(c->plan, c->b->q, c->b->k, c->b->v, c->b->o, c->b->lse, &out[0]);
}

static scl_status run_backward(void *vc, double out[2])
{
    run_ctx *c = vc;
    const bench_buffers *b = c->b;
    double f = 0, g = 0;
    scl_status st = scl_plan_time_forward(c->plan, b->q, b->k, b->v, b->o, b->lse, &f);
    if (st == SCL_OK)
        st =
            scl_plan_time_backward(c->plan, b->q, b->k, b->v, b->o, b->lse, b->dout, b->dq, b->dk, b->dv, &g);
    out[0] = g;
    out[1] = f + g;
    return st;
}

static scl_status run_clblast(void *vc, double out[2])
{
    run_ctx *c = vc;
    out[1] = 0;
    return scl_baseline_run(c->bl, c->b->q, c->b->k, c->b->v, c->b->o, &out[0]);
}

static scl_status timed(scl_runtime *rt, run_fn fn, void *ctx, int warmup, int reps, double budget_s,
                        bench_timing *t, bench_timing *t2)
{
    double out[2] = {0, 0}, worst = 0;
    scl_status st = SCL_OK;
    for (int w = 0; w < warmup && st == SCL_OK; w++) {
        double t0 = now_s();
        st = fn(ctx, out);
        double dt = now_s() - t0;
        if (dt > worst) worst = dt;
    }
    if (st == SCL_OK && budget_s > 0 && worst > 0) {
        double fit = budget_s / worst;
        if (fit < reps) reps = fit < 1 ? 1 : (int)fit;
    }
    double *ms = calloc((size_t)reps * 2, sizeof *ms);
    if (!ms) st = scl_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int r = 0; r < reps && st == SCL_OK; r++) {
        st = fn(ctx, out);
        ms[r] = out[0];
        ms[reps + r] = out[1];
    }
    if (st == SCL_OK) {
        summarize(ms, reps, t);
        if (t2) summarize(ms + reps, reps, t2);
    } else {
        snprintf(t->note, sizeof t->note, "%s", scl_last_error_message(rt));
        if (t2) snprintf(t2->note, sizeof t2->note, "%s", t->note);
    }
    free(ms);
    return st;
}

scl_status bench_time_forward(scl_plan *plan, const bench_buffers *b, int warmup, int reps, double budget_s,
                              bench_timing *t)
{
    run_ctx c = {plan, NULL, b};
    return timed(scl_plan_runtime(plan), run_forward, &c, warmup, reps, budget_s, t, NULL);
}

scl_status bench_time_backward(scl_plan *plan, const bench_buffers *b, int warmup, int reps, double budget_s,
                               bench_timing *bwd, bench_timing *both)
{
    run_ctx c = {plan, NULL, b};
    scl_status st = timed(scl_plan_runtime(plan), run_backward, &c, warmup, reps, budget_s, bwd, both);
    if (st != SCL_OK) {
        char msg[sizeof bwd->note];
        snprintf(msg, sizeof msg, "%s", bwd->note);
        snprintf(bwd->note, sizeof bwd->note, "backward: not available (%s: %s)", scl_status_string(st), msg);
        snprintf(both->note, sizeof both->note, "%s", bwd->note);
    }
    return st;
}

scl_status bench_time_clblast(scl_runtime *rt, const scl_shape *shape, const bench_buffers *b, int warmup,
                              int reps, double budget_s, bench_timing *t, size_t *scores_bytes)
{
    if (scores_bytes) *scores_bytes = scl_baseline_scores_bytes(shape);
    scl_baseline *bl = NULL;
    scl_status st = scl_baseline_create(rt, shape, SCL_F32, 0, &bl);
    if (st != SCL_OK) {
        snprintf(t->note, sizeof t->note, "%s", scl_last_error_message(rt));
        return st;
    }
    run_ctx c = {NULL, bl, b};
    st = timed(rt, run_clblast, &c, warmup, reps, budget_s, t, NULL);
    scl_baseline_destroy(bl);
    return st;
}

/* CL_MEM_SIZE of one buffer (0 for NULL). */
static size_t mem_size(cl_mem m)
{
    size_t n = 0;
    if (m) clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof n, &n, NULL);
    return n;
}

cJSON *bench_timing_json(const bench_timing *t, double peak_gflops)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ran", t->ran);
    if (t->ran) {
        cJSON_AddNumberToObject(o, "median_ms", t->median);
        cJSON_AddNumberToObject(o, "min_ms", t->min);
        cJSON_AddNumberToObject(o, "max_ms", t->max);
        cJSON_AddNumberToObject(o, "reps", t->reps);
        cJSON_AddNumberToObject(o, "gflops", t->flops / t->median * 1e-6);
        if (peak_gflops > 0)
            cJSON_AddNumberToObject(o, "fraction_of_peak", t->flops / t->median * 1e-6 / peak_gflops);
    } else {
        cJSON_AddStringToObject(o, "reason", t->note);
    }
    return o;
}

/* ---- Suites ------------------------------------------------------------------------------- */

typedef struct pattern_def {
    const char *label, *spec;
    int f16; /* also run with float16 storage */
} pattern_def;

typedef struct suite_def {
    const char *name;
    int version;
    const char *about;
    int hidden;
    int64_t seqs[8];
    int n_seqs;
    int dims[3];
    int n_dims;
    pattern_def patterns[8];
    int n_patterns;
    int batch, heads, block;
    int warmup, reps;
    double max_point_s; /* default time cap of one measurement */
    int backward;       /* forward+backward timed at every point */
} suite_def;

/* Bump a suite's version whenever its points or their settings change: reports only put figures
 * of the same suite version side by side. */
static const suite_def SUITES[] = {
    {"quick",
     1,
     "N 1K-8K, all patterns, d 64/128, f32 (f16 for dense, strided, bigbird), forward + backward; "
     "a few minutes on a 2-core CPU",
     0,
     {1024, 2048, 4096, 8192},
     4,
     {64, 128},
     2,
     {{"dense", "dense", 1},
      {"causal", "causal", 0},
      {"local", "local(256)", 0},
      {"strided", "causal & strided(256)", 1},
      {"fixed", "causal & fixed(256, 32)", 0},
      {"bigbird", "bigbird(3, 2, 3, 1)", 1},
      {"longformer", "longformer(256, 0-63)", 0}},
     7,
     1,
     2,
     64,
     2,
     5,
     20.0,
     1},
    {"full",
     1,
     "N 1K-64K (as memory and the time cap allow), all patterns, d 64/128, f32 and f16, forward + "
     "backward",
     0,
     {1024, 2048, 4096, 8192, 16384, 32768, 65536},
     7,
     {64, 128},
     2,
     {{"dense", "dense", 1},
      {"causal", "causal", 1},
      {"local", "local(256)", 1},
      {"strided", "causal & strided(256)", 1},
      {"fixed", "causal & fixed(256, 32)", 1},
      {"bigbird", "bigbird(3, 2, 3, 1)", 1},
      {"longformer", "longformer(256, 0-63)", 1}},
     7,
     1,
     2,
     64,
     2,
     5,
     30.0,
     1},
    {"test",
     1,
     "tiny points for the test suite",
     1,
     {128, 256},
     2,
     {32},
     1,
     {{"dense", "dense", 0}, {"local", "local(32)", 1}},
     2,
     1,
     2,
     32,
     1,
     2,
     5.0,
     1},
};

static const suite_def *find_suite(const char *name)
{
    for (size_t i = 0; i < sizeof SUITES / sizeof SUITES[0]; i++)
        if (strcmp(SUITES[i].name, name) == 0) return &SUITES[i];
    return NULL;
}

static void usage(void)
{
    printf("usage: sparsecl bench --suite SUITE [--device D|all] [--out DIR] [--note TEXT]\n"
           "                      [--reps R] [--max-point-seconds S] [--no-plots] [--no-peak] [--json]\n\n"
           "Runs a named, versioned sweep and writes DIR/<device-slug>/bench.json (raw figures with\n"
           "device, driver, library version, git commit, date and suite version), bench.md (tables)\n"
           "and, when python3 with matplotlib is there, PNG plots (scripts/plot_bench.py). DIR defaults\n"
           "to results. `sparsecl report DIR` then rebuilds DIR/README.md across devices.\n\n"
           "suites:\n");
    for (size_t i = 0; i < sizeof SUITES / sizeof SUITES[0]; i++)
        if (!SUITES[i].hidden) printf("  %-6s v%d  %s\n", SUITES[i].name, SUITES[i].version, SUITES[i].about);
    printf("\nEvery point: median/min/max of R event-timed runs after warm-up, effective GFLOP/s on\n"
           "allowed elements, fraction of the measured fp32 FMA peak, device memory, the dense fused\n"
           "kernel and CLBlast where they fit, and tuned vs built-in default parameters when a tuning\n"
           "database supplied them. Points that do not fit the device memory, or whose predicted run\n"
           "time exceeds --max-point-seconds (default per suite), are skipped and listed as such.\n"
           "--device all runs every OpenCL device in turn. Progress goes to stderr; --json prints\n"
           "only a JSON summary on stdout.\n");
}

/* A measurement series whose time is extrapolated to skip points predicted to run too long. */
typedef struct series {
    int pattern, dim, dtype, kind; /* kind: 0 forward, 1 forward+backward, 2 default forward, 3 CLBlast */
    double work, ms;
    int given_up;
} series;

typedef struct suite_run {
    const suite_def *def;
    scl_runtime *rt;
    int reps, json;
    double max_point_s, peak_gflops;
    series ser[512];
    int n_ser;
    int done, total;
    double work_done, work_total, t0;
    cJSON *points;
} suite_run;

static series *find_series(suite_run *r, int pattern, int dim, int dtype, int kind)
{
    for (int i = 0; i < r->n_ser; i++) {
        series *s = &r->ser[i];
        if (s->pattern == pattern && s->dim == dim && s->dtype == dtype && s->kind == kind) return s;
    }
    if (r->n_ser == (int)(sizeof r->ser / sizeof r->ser[0])) return NULL;
    series *s = &r->ser[r->n_ser++];
    *s = (series){pattern, dim, dtype, kind, 0, 0, 0};
    return s;
}

/* true when the predicted time of one run (from the last point of the series, scaled by work)
 * leaves room for warm-up plus one timed run within the cap; else the reason. */
static int predict_ok(suite_run *r, series *s, double work, int warmup, char *why, size_t len)
{
    if (!s) return 1;
    if (s->given_up) {
        snprintf(why, len, "skipped: a smaller size of this series already exceeded the %.0f s cap",
                 r->max_point_s);
        return 0;
    }
    if (s->ms <= 0 || s->work <= 0) return 1;
    double pred_s = s->ms * 1e-3 * work / s->work;
    if (pred_s * (warmup + 1) > r->max_point_s) {
        s->given_up = 1;
        snprintf(why, len,
                 "skipped: predicted %.1f s per run, over the %.0f s cap per point (--max-point-seconds)",
                 pred_s, r->max_point_s);
        return 0;
    }
    return 1;
}

static void series_note(series *s, double work, const bench_timing *t)
{
    if (s && t->ran) s->work = work, s->ms = t->median;
}

static double point_weight(int64_t n, int d, int bwd)
{
    return (double)n * (double)n * d * (bwd ? 3.5 : 1.0);
}

static void progress(suite_run *r, const char *what, double weight)
{
    r->done++;
    r->work_done += weight;
    if (r->json) return;
    double el = now_s() - r->t0;
    double eta = r->work_done > 0 ? el * (r->work_total - r->work_done) / r->work_done : 0;
    fprintf(stderr, "bench: [%d/%d] %-70s elapsed %4.0f s, ETA %4.0f s\n", r->done, r->total, what, el, eta);
}

static cJSON *point_base(const suite_def *d, const char *kind, const char *label, const char *spec, int64_t n,
                         int dim, scl_dtype dt)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "kind", kind);
    cJSON_AddStringToObject(p, "pattern", label);
    cJSON_AddStringToObject(p, "spec", spec);
    cJSON_AddNumberToObject(p, "seq", (double)n);
    cJSON_AddNumberToObject(p, "dim", dim);
    cJSON_AddStringToObject(p, "dtype", scl_dtype_name(dt));
    cJSON_AddNumberToObject(p, "batch", d->batch);
    cJSON_AddNumberToObject(p, "heads", d->heads);
    cJSON_AddNumberToObject(p, "block", d->block);
    return p;
}

static void timing_flops(bench_timing *t, double flops)
{
    t->flops = flops;
}

static const char *reason_of(const bench_timing *t)
{
    return t->ran ? "" : t->note;
}

/* One sparse point (the pattern "dense" is the dense fused baseline). */
static void run_sparse_point(suite_run *r, int pi, int64_t n, int dim, scl_dtype dt,
                             const bench_buffers *bufs, int group_ok, const char *group_why)
{
    const suite_def *d = r->def;
    const pattern_def *pd = &d->patterns[pi];
    scl_shape shape = {d->batch, d->heads, 0, n, 0, dim, d->block, 0.0f, SCL_LAYOUT_BHND};
    cJSON *pt = point_base(d, "sparse", pd->label, pd->spec, n, dim, dt);
    bench_timing fwd = {0}, bwd = {0}, both = {0}, def = {0};
    scl_pattern *pat = NULL;
    scl_plan *plan = NULL, *dplan = NULL;
    char why[600] = "";
    int kdt = dt == SCL_F16;
    double weight = point_weight(n, dim, d->backward);
    if (!group_ok) {
        snprintf(why, sizeof why, "%s", group_why);
        goto out;
    }
    if (scl_pattern_create(r->rt, pd->spec, &pat) != SCL_OK ||
        scl_plan_create(r->rt, pat, &shape, dt, &plan) != SCL_OK) {
        snprintf(why, sizeof why, "plan: %s", scl_last_error_message(r->rt));
        goto out;
    }
    scl_plan_stats ps;
    scl_plan_get_stats(plan, &ps);
    const char *src = scl_plan_kernel_source(plan);
    int tuned = scl_plan_kernel_tuned(plan);
    cJSON_AddNumberToObject(pt, "density", ps.density);
    cJSON_AddNumberToObject(pt, "block_density", ps.block_density);
    cJSON_AddNumberToObject(pt, "allowed_pairs", ps.allowed_pairs);
    cJSON_AddStringToObject(pt, "kernel_options", scl_plan_kernel_options(plan));
    cJSON_AddStringToObject(pt, "kernel_params_from", src);
    cJSON_AddBoolToObject(pt, "tuned", tuned);
    cJSON_AddStringToObject(pt, "variant", scl_plan_variant(plan));
    scl_plan_memory mem;
    scl_plan_get_memory(plan, &mem);
    size_t fwd_bytes = (size_t)(bufs->q ? mem_size(bufs->q) + mem_size(bufs->k) + mem_size(bufs->v) +
                                              mem_size(bufs->o) + mem_size(bufs->lse)
                                        : 0) +
                       mem.forward_bytes;
    cJSON_AddNumberToObject(pt, "memory_bytes", (double)fwd_bytes);
    if (d->backward)
        cJSON_AddNumberToObject(pt, "backward_memory_bytes",
                                (double)(fwd_bytes + mem_size(bufs->dout) + mem_size(bufs->dq) +
                                         mem_size(bufs->dk) + mem_size(bufs->dv) +
                                         mem.backward_bytes));
    double flops = 4.0 * dim * ps.allowed_pairs;

    series *sf = find_series(r, pi, dim, kdt, 0);
    if (predict_ok(r, sf, ps.allowed_pairs, d->warmup, fwd.note, sizeof fwd.note)) {
        bench_time_forward(plan, bufs, d->warmup, r->reps, r->max_point_s, &fwd);
        series_note(sf, ps.allowed_pairs, &fwd);
    }
    timing_flops(&fwd, flops);
    if (d->backward) {
        series *sb = find_series(r, pi, dim, kdt, 1);
        if (!fwd.ran)
            snprintf(bwd.note, sizeof bwd.note, "forward did not run");
        else if (predict_ok(r, sb, ps.allowed_pairs, d->warmup, bwd.note, sizeof bwd.note)) {
            bench_time_backward(plan, bufs, d->warmup, r->reps, r->max_point_s, &bwd, &both);
            series_note(sb, ps.allowed_pairs, &both);
        }
        if (!both.ran) snprintf(both.note, sizeof both.note, "%s", bwd.note);
        timing_flops(&bwd, BENCH_BWD_FLOP_RATIO * flops);
        timing_flops(&both, (1.0 + BENCH_BWD_FLOP_RATIO) * flops);
    }
    if (tuned && fwd.ran) {
        scl_plan_options defaults;
        scl_plan_options_init(&defaults);
        defaults.ignore_tuning = 1;
        if (scl_plan_create_with_options(r->rt, pat, &shape, dt, &defaults, &dplan) != SCL_OK)
            snprintf(def.note, sizeof def.note, "%s", scl_last_error_message(r->rt));
        else {
            series *sd = find_series(r, pi, dim, kdt, 2);
            if (predict_ok(r, sd, ps.allowed_pairs, d->warmup, def.note, sizeof def.note)) {
                bench_time_forward(dplan, bufs, d->warmup, r->reps, r->max_point_s, &def);
                series_note(sd, ps.allowed_pairs, &def);
            }
            cJSON_AddStringToObject(pt, "default_kernel_options", scl_plan_kernel_options(dplan));
        }
        timing_flops(&def, flops);
    }
    cJSON_AddItemToObject(pt, "forward", bench_timing_json(&fwd, r->peak_gflops));
    if (d->backward) {
        cJSON_AddItemToObject(pt, "backward", bench_timing_json(&bwd, r->peak_gflops));
        cJSON_AddItemToObject(pt, "forward_backward", bench_timing_json(&both, r->peak_gflops));
    }
    if (tuned) cJSON_AddItemToObject(pt, "forward_default", bench_timing_json(&def, r->peak_gflops));
out:
    if (why[0]) {
        cJSON_AddStringToObject(pt, "skipped", why);
        fwd.ran = 0;
        snprintf(fwd.note, sizeof fwd.note, "%s", why);
    }
    cJSON_AddItemToArray(r->points, pt);
    char what[300];
    if (fwd.ran)
        snprintf(what, sizeof what, "%-10s N=%-6lld d=%-3d %s fwd %.3f ms%s%.3f ms", pd->label, (long long)n,
                 dim, kdt ? "f16" : "f32", fwd.median, both.ran ? ", fwd+bwd " : "",
                 both.ran ? both.median : 0.0);
    else
        snprintf(what, sizeof what, "%-10s N=%-6lld d=%-3d %s not run: %.120s", pd->label, (long long)n, dim,
                 kdt ? "f16" : "f32", reason_of(&fwd));
    if (d->backward && fwd.ran && !bwd.ran && !r->json)
        fprintf(stderr, "bench: %s N=%lld d=%d: %s\n", pd->label, (long long)n, dim, bwd.note);
    progress(r, what, weight);
    scl_plan_destroy(dplan);
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
}

static void run_clblast_point(suite_run *r, int64_t n, int dim, const bench_buffers *bufs, int group_ok,
                              const char *group_why)
{
    const suite_def *d = r->def;
    scl_shape shape = {d->batch,       d->heads, d->heads, n, n, dim, d->block, (float)(1.0 / sqrt(dim)),
                       SCL_LAYOUT_BHND};
    cJSON *pt = point_base(d, "clblast", "clblast", "dense", n, dim, SCL_F32);
    bench_timing t = {0};
    size_t scores = 0;
    double dense_pairs = (double)d->batch * d->heads * (double)n * (double)n;
    if (!group_ok) {
        cJSON_AddStringToObject(pt, "skipped", group_why);
        snprintf(t.note, sizeof t.note, "%s", group_why);
    } else {
        series *s = find_series(r, -1, dim, 0, 3);
        if (predict_ok(r, s, dense_pairs, d->warmup, t.note, sizeof t.note)) {
            scl_status st =
                bench_time_clblast(r->rt, &shape, bufs, d->warmup, r->reps, r->max_point_s, &t, &scores);
            if (st == SCL_ERR_OUT_OF_MEMORY) cJSON_AddBoolToObject(pt, "out_of_memory", 1);
            series_note(s, dense_pairs, &t);
        } else {
            cJSON_AddStringToObject(pt, "skipped", t.note);
        }
    }
    if (!scores) scores = scl_baseline_scores_bytes(&shape);
    t.flops = 4.0 * dim * dense_pairs;
    cJSON_AddNumberToObject(pt, "allowed_pairs", dense_pairs);
    cJSON_AddNumberToObject(pt, "density", 1.0);
    cJSON_AddNumberToObject(pt, "scores_bytes", (double)scores);
    cJSON_AddNumberToObject(
        pt, "memory_bytes",
        (double)(mem_size(bufs->q) + mem_size(bufs->k) + mem_size(bufs->v) + mem_size(bufs->o)) +
            (double)scores);
    cJSON_AddItemToObject(pt, "forward", bench_timing_json(&t, r->peak_gflops));
    cJSON_AddItemToArray(r->points, pt);
    char what[300];
    if (t.ran)
        snprintf(what, sizeof what, "%-10s N=%-6lld d=%-3d f32 fwd %.3f ms", "CLBlast", (long long)n, dim,
                 t.median);
    else
        snprintf(what, sizeof what, "%-10s N=%-6lld d=%-3d f32 not run: %.120s", "CLBlast", (long long)n, dim,
                 t.note);
    progress(r, what, point_weight(n, dim, 0));
}

/* ---- Run metadata ------------------------------------------------------------------------- */

static void git_commit(char *out, size_t len)
{
    snprintf(out, len, "unknown");
    FILE *p = popen("git -C '" SCL_SOURCE_DIR "' rev-parse HEAD 2>/dev/null", "r");
    if (!p) return;
    char line[128] = "";
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strlen(line) >= 7) snprintf(out, len, "%s", line);
    }
    pclose(p);
    if (strcmp(out, "unknown") == 0) return;
    p = popen("git -C '" SCL_SOURCE_DIR "' status --porcelain --untracked-files=no 2>/dev/null", "r");
    if (!p) return;
    if (fgets(line, sizeof line, p)) {
        size_t n = strlen(out);
        snprintf(out + n, len - n, "-dirty");
    }
    pclose(p);
}

static void utc_date(char *out, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int write_json(const cJSON *doc, const char *path, char *msg, size_t len)
{
    char *text = cJSON_Print(doc);
    if (!text) return snprintf(msg, len, "out of memory"), -1;
    size_t n = strlen(text);
    text[n] = '\n';
    int rc = scl_write_file_atomic(path, text, n + 1, msg, len);
    free(text);
    return rc;
}

/* Plots through scripts/plot_bench.py; 0 when they were made, else the reason in why. */
static int make_plots(const char *json_path, int quiet, char *why, size_t len)
{
    const char *script = SCL_SOURCE_DIR "/scripts/plot_bench.py";
    struct stat sb;
    if (stat(script, &sb) != 0) return snprintf(why, len, "%s not found", script), -1;
    if (strchr(json_path, '\'')) return snprintf(why, len, "output path contains a quote"), -1;
    /* the first python3 that has matplotlib: $SPARSECL_PYTHON, the one on PATH, Debian's */
    const char *env = getenv("SPARSECL_PYTHON"),
               *cands[] = {env && *env ? env : "python3", "python3", "/usr/bin/python3"};
    const char *py = NULL;
    char cmd[3000];
    for (size_t i = 0; i < 3 && !py; i++) {
        if (strchr(cands[i], '\'')) continue;
        snprintf(cmd, sizeof cmd, "'%s' -c 'import matplotlib' >/dev/null 2>&1", cands[i]);
        int st = system(cmd);
        if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0) py = cands[i];
    }
    if (!py) return snprintf(why, len, "matplotlib not found for python3 (tables only)"), -1;
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %s", py, script, json_path, quiet ? ">/dev/null 2>&1" : "1>&2");
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc)) return snprintf(why, len, "could not run python3"), -1;
    int code = WEXITSTATUS(rc);
    if (code == 3) return snprintf(why, len, "matplotlib not found (tables only)"), -1;
    if (code != 0) return snprintf(why, len, "%s exited with %d", script, code), -1;
    return 0;
}

static void set_num(cJSON *o, const char *key, double v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON_AddNumberToObject(o, key, v);
}

/* Runs the suite on one device into out_dir/<slug>. Returns a CLI exit code. */
static int run_device(const suite_def *def, const char *selector, const char *out_root, const char *note,
                      int reps, double max_point_s, int plots, int peak, int json, cJSON *summary,
                      const char *cmdline)
{
    suite_run r = {0};
    r.def = def;
    r.reps = reps > 0 ? reps : def->reps;
    r.max_point_s = max_point_s > 0 ? max_point_s : def->max_point_s;
    r.json = json;
    int rc = CLI_OK;
    scl_status st = scl_runtime_create(selector, &r.rt);
    if (st != SCL_OK) {
        rc = cli_error(CMD, CLI_FAILED, "%s", scl_last_error_message(r.rt));
        scl_runtime_destroy(r.rt);
        return rc;
    }
    const scl_device_info *di = scl_runtime_device(r.rt);
    char slug[200], dir[1400], path[1500], msg[1200], commit[128], date[64];
    scl_device_slug(di, slug, sizeof slug);
    snprintf(dir, sizeof dir, "%s/%s", out_root, slug);
    if (scl_mkdirs(dir) != 0) {
        scl_runtime_destroy(r.rt);
        return cli_error(CMD, CLI_FAILED, "cannot create %s", dir);
    }
    snprintf(path, sizeof path, "%s/bench.json", dir);
    git_commit(commit, sizeof commit);
    utc_date(date, sizeof date);
    scl_peak pk = {0};
    if (peak) {
        if (!json) fprintf(stderr, "bench: %s: measuring the device peak...\n", di->name);
        if (scl_measure_peak(r.rt, &pk) != SCL_OK) pk.fma_gflops = 0;
    }
    r.peak_gflops = pk.fma_gflops;

    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "format", "sparsecl-bench");
    cJSON_AddNumberToObject(doc, "format_version", 1);
    cJSON_AddStringToObject(doc, "suite", def->name);
    cJSON_AddNumberToObject(doc, "suite_version", def->version);
    cJSON_AddStringToObject(doc, "suite_about", def->about);
    cJSON *dev = cJSON_AddObjectToObject(doc, "device");
    cJSON_AddStringToObject(dev, "slug", slug);
    cJSON_AddStringToObject(dev, "name", di->name);
    cJSON_AddStringToObject(dev, "vendor", di->vendor);
    cJSON_AddStringToObject(dev, "platform", di->platform_name);
    cJSON_AddStringToObject(dev, "driver", di->driver_version);
    cJSON_AddStringToObject(dev, "device_version", di->device_version);
    cJSON_AddStringToObject(dev, "type",
                            di->type & CL_DEVICE_TYPE_GPU   ? "GPU"
                            : di->type & CL_DEVICE_TYPE_CPU ? "CPU"
                                                            : "other");
    cJSON_AddNumberToObject(dev, "compute_units", di->compute_units);
    cJSON_AddNumberToObject(dev, "clock_mhz", di->clock_mhz);
    cJSON_AddNumberToObject(dev, "global_mem_bytes", (double)di->global_mem_bytes);
    cJSON_AddNumberToObject(dev, "max_alloc_bytes", (double)di->max_alloc_bytes);
    cJSON_AddStringToObject(doc, "library_version", scl_version());
    cJSON_AddStringToObject(doc, "git_commit", commit);
    cJSON_AddStringToObject(doc, "date", date);
    cJSON_AddStringToObject(doc, "note", note ? note : "");
    cJSON_AddStringToObject(doc, "command", cmdline);
    cJSON *pko = cJSON_AddObjectToObject(doc, "peak");
    if (pk.fma_gflops > 0) {
        cJSON_AddNumberToObject(pko, "fma_gflops", pk.fma_gflops);
        cJSON_AddNumberToObject(pko, "bandwidth_gbs", pk.bandwidth_gbs);
    }
    cJSON *cfg = cJSON_AddObjectToObject(doc, "settings");
    cJSON_AddNumberToObject(cfg, "batch", def->batch);
    cJSON_AddNumberToObject(cfg, "heads", def->heads);
    cJSON_AddNumberToObject(cfg, "block", def->block);
    cJSON_AddNumberToObject(cfg, "warmup", def->warmup);
    cJSON_AddNumberToObject(cfg, "reps", r.reps);
    cJSON_AddNumberToObject(cfg, "max_point_seconds", r.max_point_s);
    cJSON_AddNumberToObject(cfg, "backward_flop_ratio", BENCH_BWD_FLOP_RATIO);
    cJSON_AddNumberToObject(doc, "wall_s", 0);
    r.points = cJSON_AddArrayToObject(doc, "points");

    /* point count and work, for progress and ETA */
    for (int di_ = 0; di_ < def->n_dims; di_++)
        for (int t = 0; t < 2; t++)
            for (int ni = 0; ni < def->n_seqs; ni++) {
                for (int pi = 0; pi < def->n_patterns; pi++)
                    if (t == 0 || def->patterns[pi].f16) {
                        r.total++;
                        r.work_total += point_weight(def->seqs[ni], def->dims[di_], def->backward);
                    }
                if (t == 0) r.total++, r.work_total += point_weight(def->seqs[ni], def->dims[di_], 0);
            }
    if (!json)
        fprintf(stderr, "bench: suite %s v%d on %s: %d points into %s (cap %.0f s per point)\n", def->name,
                def->version, di->name, r.total, dir, r.max_point_s);
    r.t0 = now_s();
    for (int di_ = 0; di_ < def->n_dims; di_++) {
        int dim = def->dims[di_];
        for (int t = 0; t < 2; t++) {
            scl_dtype dt = t ? SCL_F16 : SCL_F32;
            int any = 0;
            for (int pi = 0; pi < def->n_patterns; pi++)
                any |= t == 0 || def->patterns[pi].f16;
            if (!any) continue;
            for (int ni = 0; ni < def->n_seqs; ni++) {
                int64_t n = def->seqs[ni];
                scl_shape s = {def->batch, def->heads, 0, n, 0, dim, def->block, 0.0f, SCL_LAYOUT_BHND};
                size_t es = t ? 2 : 4, tensor = (size_t)def->batch * def->heads * (size_t)n * dim * es;
                double need =
                    (def->backward ? 8.0 : 4.0) * tensor * 1.5; /* + plan scratch (K^T, V, bwd f32) */
                char why[300] = "";
                bench_buffers bufs = {0};
                if (tensor > di->max_alloc_bytes || need > 0.8 * (double)di->global_mem_bytes)
                    snprintf(
                        why, sizeof why,
                        "skipped: needs about %.0f MiB, the device has %.0f MiB (max allocation %.0f MiB)",
                        need / 1048576.0, di->global_mem_bytes / 1048576.0, di->max_alloc_bytes / 1048576.0);
                else if (bench_make_buffers(r.rt, &s, dt, def->backward, &bufs) != SCL_OK)
                    snprintf(why, sizeof why, "skipped: inputs: %s", scl_last_error_message(r.rt));
                for (int pi = 0; pi < def->n_patterns; pi++)
                    if (t == 0 || def->patterns[pi].f16)
                        run_sparse_point(&r, pi, n, dim, dt, &bufs, !why[0], why);
                if (t == 0) run_clblast_point(&r, n, dim, &bufs, !why[0], why);
                bench_free_buffers(&bufs);
                cJSON_SetNumberHelper(cJSON_GetObjectItem(doc, "wall_s"), now_s() - r.t0);
                if (write_json(doc, path, msg, sizeof msg) != 0) {
                    rc = cli_error(CMD, CLI_FAILED, "%s", msg);
                    goto done;
                }
            }
        }
    }
    double wall = now_s() - r.t0;
    /* The peak is measured again at the end and the better of the two kept: a busy machine (other
     * jobs) under-measures it, and fractions above 100% would follow. */
    if (peak && !json) fprintf(stderr, "bench: %s: measuring the device peak again...\n", di->name);
    scl_peak pk2 = {0};
    if (peak && scl_measure_peak(r.rt, &pk2) == SCL_OK && pk2.fma_gflops > pk.fma_gflops) {
        pk = pk2;
        set_num(pko, "fma_gflops", pk.fma_gflops);
        set_num(pko, "bandwidth_gbs", pk.bandwidth_gbs);
        cJSON *pt;
        cJSON_ArrayForEach(pt, r.points)
        {
            cJSON *t;
            cJSON_ArrayForEach(t, pt)
            {
                cJSON *g = cJSON_GetObjectItem(t, "gflops");
                if (cJSON_IsObject(t) && cJSON_IsNumber(g))
                    set_num(t, "fraction_of_peak", g->valuedouble / pk.fma_gflops);
            }
        }
    }
    if (pk.fma_gflops > 0)
        cJSON_AddStringToObject(pko, "how", "sparsecl peak before and after the suite, the better kept");
    if (write_json(doc, path, msg, sizeof msg) != 0) {
        rc = cli_error(CMD, CLI_FAILED, "%s", msg);
        goto done;
    }
    char why[300] = "";
    int plotted = plots ? make_plots(path, json, why, sizeof why) == 0 : 0;
    if (!plots) snprintf(why, sizeof why, "--no-plots");
    if (!plotted && !json) fprintf(stderr, "bench: plots skipped: %s\n", why);
    cJSON_AddStringToObject(doc, "plots", plotted ? "made" : why);
    if (bench_md_write(doc, dir, msg, sizeof msg) != 0) {
        rc = cli_error(CMD, CLI_FAILED, "%s", msg);
        goto done;
    }
    if (!json)
        fprintf(stderr, "bench: suite %s done in %.0f s: %s/bench.json, bench.md%s\n", def->name, wall, dir,
                plotted ? ", plots" : "");
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "device", di->name);
    cJSON_AddStringToObject(s, "slug", slug);
    cJSON_AddStringToObject(s, "dir", dir);
    cJSON_AddNumberToObject(s, "points", cJSON_GetArraySize(r.points));
    cJSON_AddNumberToObject(s, "wall_s", wall);
    cJSON_AddBoolToObject(s, "plots", plotted);
    cJSON_AddItemToArray(summary, s);
done:
    cJSON_Delete(doc);
    scl_runtime_destroy(r.rt);
    return rc;
}

int bench_suite_main(int argc, char **argv)
{
    static const struct option opts[] = {{"suite", required_argument, NULL, 's'},
                                         {"device", required_argument, NULL, 'D'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"note", required_argument, NULL, 'N'},
                                         {"reps", required_argument, NULL, 'r'},
                                         {"max-point-seconds", required_argument, NULL, 'T'},
                                         {"no-plots", no_argument, NULL, 'x'},
                                         {"no-peak", no_argument, NULL, 'P'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *suite = NULL, *dev = NULL, *out = "results", *note = "";
    int reps = 0, plots = 1, peak = 1, json = 0, c;
    double cap = 0;
    opterr = 0;
    optind = 1;
    for (int before = optind; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1; before = optind) {
        bool ok = true;
        switch (c) {
        case 's':
            suite = optarg;
            break;
        case 'D':
            dev = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'N':
            note = optarg;
            break;
        case 'r':
            ok = cli_parse_int(CMD, "--reps", optarg, 1, 10000, &reps);
            break;
        case 'T':
            ok = cli_parse_double(CMD, "--max-point-seconds", optarg, 0.001, 1e6, &cap);
            break;
        case 'x':
            plots = 0;
            break;
        case 'P':
            peak = 0;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage();
            return CLI_OK;
        default:
            return cli_error(CMD, CLI_USAGE, "option '%s' is unknown or not valid with --suite (see --help)",
                             cli_refused_option(argv, before, (char[8]){0}, 8));
        }
        if (!ok) return CLI_USAGE;
    }
    if (optind < argc) return cli_error(CMD, CLI_USAGE, "unexpected argument '%s'", argv[optind]);
    const suite_def *def = suite ? find_suite(suite) : NULL;
    if (!def) return cli_error(CMD, CLI_USAGE, "unknown suite '%s' (quick, full)", suite ? suite : "");
    char cmdline[2048] = "sparsecl";
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(cmdline);
        snprintf(cmdline + n, sizeof cmdline - n, " %s", argv[i]);
    }

    cJSON *summary = cJSON_CreateArray();
    int rc = CLI_OK;
    if (dev && strcmp(dev, "all") == 0) {
        int count = 0;
        if (scl_devices_list(NULL, 0, &count) != SCL_OK || count == 0) {
            cJSON_Delete(summary);
            return cli_error(CMD, CLI_FAILED, "no OpenCL device");
        }
        for (int i = 0; i < count; i++) {
            char sel[16];
            snprintf(sel, sizeof sel, "%d", i);
            int one = run_device(def, sel, out, note, reps, cap, plots, peak, json, summary, cmdline);
            if (one != CLI_OK) rc = one;
        }
    } else {
        rc = run_device(def, dev, out, note, reps, cap, plots, peak, json, summary, cmdline);
    }
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "suite", def->name);
        cJSON_AddNumberToObject(root, "suite_version", def->version);
        cJSON_AddItemToObject(root, "devices", summary);
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
        cJSON_Delete(root);
    } else {
        cJSON_Delete(summary);
    }
    return rc;
}
