/* Running a benchmark suite on one device: every point of the suite (skipping those that do not
 * fit the device memory or are predicted to exceed the time cap), bench.json rewritten after
 * every group of points, then bench.md and the plots (scripts/plot_bench.py, when matplotlib is
 * there). */
#include "bench.h"

#include "baseline.h"
#include "build_info.h"
#include "internal.h"
#include "param_schema.h"
#include "peak.h"
#include "scl_fileio.h"
#include "tuning_db.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* ---- Skipping what would exceed the cap, progress ------------------------------------------ */

/* A measurement series whose time is extrapolated to skip points predicted to run too long. */
typedef struct series {
    int pattern, group, dtype, kind; /* kind: 0 forward, 1 forward+backward, 2 default forward, 3 CLBlast */
    double work, ms;
    int given_up;
} series;

typedef struct suite_run {
    const bench_suite_def *def;
    scl_runtime *rt;
    int reps, quiet;
    double max_point_s, peak_gflops;
    series ser[512];
    int n_ser;
    int done, total;
    double work_done, work_total, t0;
    cJSON *points;
} suite_run;

static series *find_series(suite_run *r, int pattern, int group, int dtype, int kind)
{
    for (int i = 0; i < r->n_ser; i++) {
        series *s = &r->ser[i];
        if (s->pattern == pattern && s->group == group && s->dtype == dtype && s->kind == kind) return s;
    }
    if (r->n_ser == (int)(sizeof r->ser / sizeof r->ser[0])) return NULL;
    series *s = &r->ser[r->n_ser++];
    *s = (series){pattern, group, dtype, kind, 0, 0, 0};
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

static double point_weight(int64_t n, const bench_group *g, int bwd)
{
    return (double)g->batch * g->heads * (double)n * (double)n * g->dim * (bwd ? 3.5 : 1.0);
}

static void progress(suite_run *r, const char *what, double weight)
{
    r->done++;
    r->work_done += weight;
    if (r->quiet) return;
    double el = bench_now_s() - r->t0;
    double eta = r->work_done > 0 ? el * (r->work_total - r->work_done) / r->work_done : 0;
    fprintf(stderr, "bench: [%d/%d] %-70s elapsed %4.0f s, ETA %4.0f s\n", r->done, r->total, what, el, eta);
}

/* ---- Points ------------------------------------------------------------------------------- */

/* The plan's figures into the point: density, kernel parameters and their source, the forward
 * variant and why, device memory (forward; forward + backward). */
static void add_plan_info(cJSON *pt, scl_plan *plan, const scl_plan_stats *ps, const bench_buffers *bufs,
                          int backward)
{
    cJSON_AddNumberToObject(pt, "density", ps->density);
    cJSON_AddNumberToObject(pt, "block_density", ps->block_density);
    cJSON_AddNumberToObject(pt, "allowed_pairs", ps->allowed_pairs);
    cJSON_AddStringToObject(pt, "kernel_options", scl_plan_kernel_options(plan));
    cJSON_AddStringToObject(pt, "kernel_params_from", scl_plan_kernel_source(plan));
    cJSON_AddBoolToObject(pt, "tuned", scl_plan_kernel_tuned(plan));
    cJSON_AddStringToObject(pt, "variant", scl_plan_variant(plan));
    cJSON_AddStringToObject(pt, "variant_reason", scl_plan_variant_reason(plan));
    scl_plan_memory mem;
    scl_plan_get_memory(plan, &mem);
    size_t fwd_bytes =
        (size_t)(bufs->q ? bench_mem_size(bufs->q) + bench_mem_size(bufs->k) + bench_mem_size(bufs->v) +
                               bench_mem_size(bufs->o) + bench_mem_size(bufs->lse)
                         : 0) +
        mem.forward_bytes;
    cJSON_AddNumberToObject(pt, "memory_bytes", (double)fwd_bytes);
    if (backward)
        cJSON_AddNumberToObject(pt, "backward_memory_bytes",
                                (double)(fwd_bytes + bench_mem_size(bufs->dout) + bench_mem_size(bufs->dq) +
                                         bench_mem_size(bufs->dk) + bench_mem_size(bufs->dv) +
                                         mem.backward_bytes));
}

/* The timings of one sparse point. */
typedef struct point_times {
    bench_timing fwd, bwd, both, def;
} point_times;

/* Forward, then (with the suite's backward) backward and forward + backward, each unless its
 * series is predicted to exceed the cap. */
static void time_plan(suite_run *r, int pi, int gi, scl_dtype dt, scl_plan *plan, double pairs,
                      const bench_buffers *bufs, point_times *t)
{
    const bench_suite_def *d = r->def;
    double flops = 4.0 * bench_suite_group(d, gi).dim * pairs;
    series *sf = find_series(r, pi, gi, (int)dt, 0);
    if (predict_ok(r, sf, pairs, d->warmup, t->fwd.note, sizeof t->fwd.note)) {
        bench_time_forward(plan, bufs, d->warmup, r->reps, r->max_point_s, &t->fwd);
        series_note(sf, pairs, &t->fwd);
    }
    t->fwd.flops = flops;
    if (!d->backward) return;
    series *sb = find_series(r, pi, gi, (int)dt, 1);
    if (!t->fwd.ran)
        snprintf(t->bwd.note, sizeof t->bwd.note, "forward did not run");
    else if (predict_ok(r, sb, pairs, d->warmup, t->bwd.note, sizeof t->bwd.note)) {
        bench_time_backward(plan, bufs, d->warmup, r->reps, r->max_point_s, &t->bwd, &t->both);
        series_note(sb, pairs, &t->both);
    }
    if (!t->both.ran) snprintf(t->both.note, sizeof t->both.note, "%s", t->bwd.note);
    t->bwd.flops = BENCH_BWD_FLOP_RATIO * flops;
    t->both.flops = (1.0 + BENCH_BWD_FLOP_RATIO) * flops;
}

/* A tuned plan's forward against the built-in defaults of the device type. */
static void time_defaults(suite_run *r, int pi, int gi, const scl_shape *shape, scl_dtype dt,
                          scl_pattern *pat, double pairs, const bench_buffers *bufs, cJSON *pt,
                          bench_timing *def)
{
    const bench_suite_def *d = r->def;
    scl_plan_options defaults;
    scl_plan_options_init(&defaults);
    defaults.ignore_tuning = 1;
    scl_plan *dplan = NULL;
    if (scl_plan_create_with_options(r->rt, pat, shape, dt, &defaults, &dplan) != SCL_OK)
        snprintf(def->note, sizeof def->note, "%s", scl_last_error_message(r->rt));
    else {
        series *sd = find_series(r, pi, gi, (int)dt, 2);
        if (predict_ok(r, sd, pairs, d->warmup, def->note, sizeof def->note)) {
            bench_time_forward(dplan, bufs, d->warmup, r->reps, r->max_point_s, def);
            series_note(sd, pairs, def);
        }
        cJSON_AddStringToObject(pt, "default_kernel_options", scl_plan_kernel_options(dplan));
    }
    def->flops = 4.0 * shape->head_dim * pairs;
    scl_plan_destroy(dplan);
}

/* The progress line of a sparse point. */
/* A warning line for each noisy timing of a point. */
static void noise_lines(suite_run *r, const char *label, int64_t n, const bench_group *g,
                        const bench_timing *const *ts, const char *const *names, int nt)
{
    for (int i = 0; i < nt && !r->quiet; i++) {
        char what[200], line[400];
        snprintf(what, sizeof what, "%s %s N=%lld B=%d H=%d d=%d", label, names[i], (long long)n, g->batch,
                 g->heads, g->dim);
        if (bench_noise_warning(what, ts[i], 0, 0, line, sizeof line)) fprintf(stderr, "bench: %s\n", line);
    }
}

static void sparse_progress(suite_run *r, const bench_pattern_def *pd, int64_t n, const bench_group *g,
                            scl_dtype dt, const point_times *t)
{
    int dim = g->dim;
    char what[300], both[64] = "";
    if (t->both.ran) snprintf(both, sizeof both, ", fwd+bwd %.3f ms", t->both.median);
    if (t->fwd.ran)
        snprintf(what, sizeof what, "%-10s N=%-6lld d=%-3d %s fwd %.3f ms%s", pd->label, (long long)n, dim,
                 scli_dtype_name(dt), t->fwd.median, both);
    else
        snprintf(what, sizeof what, "%-10s N=%-6lld d=%-3d %s not run: %.120s", pd->label, (long long)n, dim,
                 scli_dtype_name(dt), t->fwd.ran ? "" : t->fwd.note);
    if (r->def->backward && t->fwd.ran && !t->bwd.ran && !r->quiet)
        fprintf(stderr, "bench: %s N=%lld d=%d: %s\n", pd->label, (long long)n, dim, t->bwd.note);
    const bench_timing *ts[] = {&t->fwd, &t->both};
    static const char *const names[] = {"forward", "forward+backward"};
    noise_lines(r, pd->label, n, g, ts, names, 2);
    progress(r, what, point_weight(n, g, r->def->backward));
}

/* One sparse point (the pattern "dense" is the dense fused baseline). */
static void run_sparse_point(suite_run *r, int pi, int64_t n, int gi, scl_dtype dt,
                             const bench_buffers *bufs, int group_ok, const char *group_why)
{
    const bench_suite_def *d = r->def;
    const bench_pattern_def *pd = &d->patterns[pi];
    bench_group g = bench_suite_group(d, gi);
    scl_shape shape = {g.batch, g.heads, g.kv_heads, n, 0, g.dim, d->block, 0.0f, SCL_LAYOUT_BHND};
    cJSON *pt = bench_point_new(d, "sparse", pd->label, pd->spec, n, &g, dt);
    point_times t = {0};
    scl_pattern *pat = NULL;
    scl_plan *plan = NULL;
    char why[600] = "";
    if (!group_ok) {
        snprintf(why, sizeof why, "%s", group_why);
    } else if (scl_pattern_create(r->rt, pd->spec, &pat) != SCL_OK ||
               scl_plan_create(r->rt, pat, &shape, dt, &plan) != SCL_OK) {
        snprintf(why, sizeof why, "plan: %s", scl_last_error_message(r->rt));
    } else {
        scl_plan_stats ps;
        scl_plan_get_stats(plan, &ps);
        int tuned = scl_plan_kernel_tuned(plan);
        add_plan_info(pt, plan, &ps, bufs, d->backward);
        time_plan(r, pi, gi, dt, plan, ps.allowed_pairs, bufs, &t);
        if (tuned && t.fwd.ran) time_defaults(r, pi, gi, &shape, dt, pat, ps.allowed_pairs, bufs, pt, &t.def);
        cJSON_AddItemToObject(pt, "forward", bench_timing_json(&t.fwd, r->peak_gflops));
        if (d->backward) {
            cJSON_AddItemToObject(pt, "backward", bench_timing_json(&t.bwd, r->peak_gflops));
            cJSON_AddItemToObject(pt, "forward_backward", bench_timing_json(&t.both, r->peak_gflops));
        }
        if (tuned) cJSON_AddItemToObject(pt, "forward_default", bench_timing_json(&t.def, r->peak_gflops));
    }
    if (why[0]) {
        cJSON_AddStringToObject(pt, "skipped", why);
        t.fwd.ran = 0;
        snprintf(t.fwd.note, sizeof t.fwd.note, "%s", why);
    }
    cJSON_AddItemToArray(r->points, pt);
    sparse_progress(r, pd, n, &g, dt, &t);
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
}

static void run_clblast_point(suite_run *r, int64_t n, int gi, const bench_buffers *bufs, int group_ok,
                              const char *group_why)
{
    const bench_suite_def *d = r->def;
    bench_group g = bench_suite_group(d, gi);
    int dim = g.dim;
    scl_shape shape = {g.batch, g.heads, g.kv_heads, n, n, dim, d->block, (float)(1.0 / sqrt(dim)),
                       SCL_LAYOUT_BHND};
    cJSON *pt = bench_point_new(d, "clblast", "clblast", "dense", n, &g, SCL_F32);
    bench_timing t = {0};
    size_t scores = 0;
    double dense_pairs = (double)g.batch * g.heads * (double)n * (double)n;
    if (!group_ok) {
        cJSON_AddStringToObject(pt, "skipped", group_why);
        snprintf(t.note, sizeof t.note, "%s", group_why);
    } else {
        series *s = find_series(r, -1, gi, 0, 3);
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
    cJSON_AddNumberToObject(pt, "memory_bytes",
                            (double)(bench_mem_size(bufs->q) + bench_mem_size(bufs->k) +
                                     bench_mem_size(bufs->v) + bench_mem_size(bufs->o)) +
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
    const bench_timing *ts[] = {&t};
    static const char *const names[] = {"forward"};
    noise_lines(r, "CLBlast", n, &g, ts, names, 1);
    progress(r, what, point_weight(n, &g, 0));
}

/* ---- Run metadata, plots ------------------------------------------------------------------- */

static void utc_date(char *out, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int make_plots(const char *json_path, int quiet, char *why, size_t len)
{
    /* <prefix>/share/sparsecl/plot_bench.py of the installed library, else the source tree's. */
    char script[1100];
    scli_shipped_path("plot_bench.py", "scripts/plot_bench.py", script, sizeof script);
    struct stat sb;
    if (!script[0] || stat(script, &sb) != 0)
        return snprintf(why, len, "%s not found", script[0] ? script : "plot_bench.py"), -1;
    if (strchr(json_path, '\'') || strchr(script, '\''))
        return snprintf(why, len, "output or script path contains a quote"), -1;
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

/* ---- One device ---------------------------------------------------------------------------- */

/* Point count and work, for progress and ETA. */
static void count_points(suite_run *r)
{
    const bench_suite_def *def = r->def;
    for (int gi = 0; gi < bench_suite_n_groups(def); gi++)
        for (int t = 0; t < BENCH_N_DTYPES; t++)
            for (int ni = 0; ni < bench_suite_n_seqs(def); ni++) {
                scl_dtype dt = bench_dtype_at(t);
                bench_group g = bench_suite_group(def, gi);
                for (int pi = 0; pi < bench_suite_n_patterns(def); pi++)
                    if (def->patterns[pi].dtypes & BENCH_DT(dt)) {
                        r->total++;
                        r->work_total += point_weight(def->seqs[ni], &g, def->backward);
                    }
                if (dt == SCL_F32) r->total++, r->work_total += point_weight(def->seqs[ni], &g, 0);
            }
}

/* Every point of one (head dim, dtype, N) on the same input buffers (CLBlast with float32), then
 * bench.json rewritten. 0, or -1 with msg. */
static int run_group(suite_run *r, int gi, scl_dtype dt, int64_t n, cJSON *doc, const char *path, char *msg,
                     size_t len)
{
    const bench_suite_def *def = r->def;
    const scl_device_info *di = scl_runtime_device(r->rt);
    bench_group g = bench_suite_group(def, gi);
    scl_shape s = {g.batch, g.heads, g.kv_heads, n, 0, g.dim, def->block, 0.0f, SCL_LAYOUT_BHND};
    size_t tensor = (size_t)g.batch * g.heads * (size_t)n * g.dim * scli_dtype_size(dt);
    double need = (def->backward ? 8.0 : 4.0) * tensor * 1.5; /* + plan scratch (K^T, V, bwd f32) */
    char why[300] = "";
    bench_buffers bufs = {0};
    if (tensor > di->max_alloc_bytes || need > 0.8 * (double)di->global_mem_bytes)
        snprintf(why, sizeof why,
                 "skipped: needs about %.0f MiB, the device has %.0f MiB (max allocation %.0f MiB)",
                 need / 1048576.0, di->global_mem_bytes / 1048576.0, di->max_alloc_bytes / 1048576.0);
    else if (bench_make_buffers(r->rt, &s, dt, def->backward, &bufs) != SCL_OK)
        snprintf(why, sizeof why, "skipped: inputs: %s", scl_last_error_message(r->rt));
    for (int pi = 0; pi < bench_suite_n_patterns(def); pi++)
        if (def->patterns[pi].dtypes & BENCH_DT(dt)) run_sparse_point(r, pi, n, gi, dt, &bufs, !why[0], why);
    if (dt == SCL_F32) run_clblast_point(r, n, gi, &bufs, !why[0], why);
    bench_free_buffers(&bufs);
    cJSON_SetNumberHelper(cJSON_GetObjectItem(doc, "wall_s"), bench_now_s() - r->t0);
    return bench_json_write(doc, path, msg, len);
}

/* The peak is measured again at the end and the better of the two kept: a busy machine (other
 * jobs) under-measures it, and fractions above 100% would follow. */
static void remeasure_peak(suite_run *r, cJSON *pko, scl_peak *pk)
{
    scl_peak pk2 = {0};
    if (scl_measure_peak(r->rt, &pk2) != SCL_OK || !(pk2.fma_gflops > pk->fma_gflops)) return;
    *pk = pk2;
    bench_json_set_num(pko, "fma_gflops", pk->fma_gflops);
    bench_json_set_num(pko, "bandwidth_gbs", pk->bandwidth_gbs);
    cJSON *pt;
    cJSON_ArrayForEach(pt, r->points)
    {
        cJSON *t;
        cJSON_ArrayForEach(t, pt)
        {
            cJSON *g = cJSON_GetObjectItem(t, "gflops");
            if (cJSON_IsObject(t) && cJSON_IsNumber(g))
                bench_json_set_num(t, "fraction_of_peak", g->valuedouble / pk->fma_gflops);
        }
    }
}

/* The load average into doc's "load" object under `key` (with the CPU count), and a warning line
 * when the machine is busy. */
static void record_load(suite_run *r, cJSON *doc, const char *key)
{
    double load = 0;
    int cpus = 0;
    if (!bench_load(&load, &cpus)) return;
    cJSON *o = cJSON_GetObjectItem(doc, "load");
    if (!o) {
        o = cJSON_AddObjectToObject(doc, "load");
        cJSON_AddNumberToObject(o, "cpus", cpus);
    }
    bench_json_set_num(o, key, load);
    char line[300];
    if (!r->quiet && bench_noise_warning(NULL, NULL, load, cpus, line, sizeof line))
        fprintf(stderr, "bench: %s (at the %s of the suite)\n", line, key);
}

/* After the points: the peak again, bench.json, plots, bench.md, the summary entry. */
static int finish(suite_run *r, const bench_suite_config *cfg, cJSON *doc, const char *dir, const char *path,
                  scl_peak *pk, cJSON *summary, char *msg, size_t len)
{
    const scl_device_info *di = scl_runtime_device(r->rt);
    double wall = bench_now_s() - r->t0;
    cJSON *pko = cJSON_GetObjectItem(doc, "peak");
    record_load(r, doc, "end");
    if (cfg->peak && !cfg->quiet)
        fprintf(stderr, "bench: %s: measuring the device peak again...\n", di->name);
    if (cfg->peak) remeasure_peak(r, pko, pk);
    if (pk->fma_gflops > 0)
        cJSON_AddStringToObject(pko, "how", "sparsecl peak before and after the suite, the better kept");
    if (bench_json_write(doc, path, msg, len) != 0) return -1;
    char why[300] = "";
    int plotted = cfg->plots ? make_plots(path, cfg->quiet, why, sizeof why) == 0 : 0;
    if (!cfg->plots) snprintf(why, sizeof why, "--no-plots");
    if (!plotted && !cfg->quiet) fprintf(stderr, "bench: plots skipped: %s\n", why);
    cJSON_AddStringToObject(doc, "plots", plotted ? "made" : why);
    if (bench_md_write(doc, dir, msg, len) != 0) return -1;
    if (!cfg->quiet)
        fprintf(stderr, "bench: suite %s done in %.0f s: %s/bench.json, bench.md%s\n", r->def->name, wall,
                dir, plotted ? ", plots" : "");
    cJSON *s = cJSON_CreateObject();
    char slug[200];
    scli_device_slug(di, slug, sizeof slug);
    cJSON_AddStringToObject(s, "device", di->name);
    cJSON_AddStringToObject(s, "slug", slug);
    cJSON_AddStringToObject(s, "dir", dir);
    cJSON_AddNumberToObject(s, "points", cJSON_GetArraySize(r->points));
    cJSON_AddNumberToObject(s, "wall_s", wall);
    cJSON_AddBoolToObject(s, "plots", plotted);
    cJSON_AddItemToArray(summary, s);
    return 0;
}

/* Every group of the suite in order: groups (head dims), then storage types, then sequence lengths. */
static int run_points(suite_run *r, cJSON *doc, const char *path, char *msg, size_t len)
{
    const bench_suite_def *def = r->def;
    unsigned dtypes = bench_suite_dtypes(def);
    for (int gi = 0; gi < bench_suite_n_groups(def); gi++)
        for (int t = 0; t < BENCH_N_DTYPES; t++) {
            scl_dtype dt = bench_dtype_at(t);
            if (!(dtypes & BENCH_DT(dt))) continue;
            for (int ni = 0; ni < bench_suite_n_seqs(def); ni++)
                if (run_group(r, gi, dt, def->seqs[ni], doc, path, msg, len) != 0) return -1;
        }
    return 0;
}

int bench_suite_run(scl_runtime *rt, const bench_suite_def *def, const bench_suite_config *cfg,
                    cJSON *summary, char *msg, size_t len)
{
    suite_run r = {0};
    r.def = def;
    r.rt = rt;
    r.reps = cfg->reps > 0 ? cfg->reps : def->reps;
    r.max_point_s = cfg->max_point_s > 0 ? cfg->max_point_s : def->max_point_s;
    r.quiet = cfg->quiet;
    const scl_device_info *di = scl_runtime_device(rt);
    char slug[200], dir[1400], path[1500], commit[128], date[64];
    scli_device_slug(di, slug, sizeof slug);
    if (def->subdir)
        snprintf(dir, sizeof dir, "%s/%s/%s", cfg->out_root, def->subdir, slug);
    else
        snprintf(dir, sizeof dir, "%s/%s", cfg->out_root, slug);
    if (scl_mkdirs(dir) != 0) return snprintf(msg, len, "cannot create %s", dir), -1;
    snprintf(path, sizeof path, "%s/bench.json", dir);
    scli_build_commit_text(commit, sizeof commit); /* baked in when the library was built */
    utc_date(date, sizeof date);
    scl_peak pk = {0};
    if (cfg->peak) {
        if (!cfg->quiet) fprintf(stderr, "bench: %s: measuring the device peak...\n", di->name);
        if (scl_measure_peak(rt, &pk) != SCL_OK) pk.fma_gflops = 0;
    }
    r.peak_gflops = pk.fma_gflops;
    cJSON *doc = bench_doc_new(def, di, slug, r.reps, r.max_point_s, cfg->note, cfg->cmdline, commit, date);
    cJSON *pko = cJSON_GetObjectItem(doc, "peak");
    if (pk.fma_gflops > 0) {
        cJSON_AddNumberToObject(pko, "fma_gflops", pk.fma_gflops);
        cJSON_AddNumberToObject(pko, "bandwidth_gbs", pk.bandwidth_gbs);
    }
    r.points = cJSON_GetObjectItem(doc, "points");
    record_load(&r, doc, "start");
    count_points(&r);
    if (!cfg->quiet)
        fprintf(stderr, "bench: suite %s v%d on %s: %d points into %s (cap %.0f s per point)\n", def->name,
                def->version, di->name, r.total, dir, r.max_point_s);
    r.t0 = bench_now_s();
    int rc = run_points(&r, doc, path, msg, len);
    if (rc == 0) rc = finish(&r, cfg, doc, dir, path, &pk, summary, msg, len);
    cJSON_Delete(doc);
    return rc;
}
