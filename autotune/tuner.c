/* Kernel tuning: build, verify, time each candidate; keep the database current. The search,
 * the database record and the timing loop are shared; each kernel brings its own verification
 * (tune_verify.c: the reference problem, every storage type) and timed run (the `ops` table). */
#include "tuner.h"

#include "backward.h"
#include "plan_internal.h"
#include "scl_fileio.h"
#include "space.h"
#include "tune_verify.h"
#include "tuner_internal.h"
#include "tuning_db_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double at_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void save(tune_ctx *c)
{
    char msg[1200];
    if (scl_tuning_db_save(c->opt->db_path, c->db, msg, sizeof msg) != 0 && c->opt->progress)
        fprintf(c->opt->progress, "\nwarning: %s\n", msg);
}

/* The entry's record of measured points: params -> median_ms | rejected reason | pending. */
static bool same(const tune_ctx *c, const at_params *a, const at_params *b)
{
    return memcmp(a, b, c->kernel->size) == 0;
}

static cJSON *record(tune_ctx *c, const at_params *p)
{
    cJSON *measured = cJSON_GetObjectItemCaseSensitive(c->entry, "measured");
    cJSON *m;
    cJSON_ArrayForEach(m, measured)
    {
        at_params q;
        if (scli_params_from_json(c->kernel, cJSON_GetObjectItemCaseSensitive(m, "params"), &q) &&
            same(c, &q, p))
            return m;
    }
    m = cJSON_CreateObject();
    cJSON_AddItemToObject(m, "params", scl_params_to_json(c->kernel, p));
    cJSON_AddItemToArray(measured, m);
    return m;
}

static void set_outcome(cJSON *m, const char *key, cJSON *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(m, "median_ms");
    cJSON_DeleteItemFromObjectCaseSensitive(m, "rejected");
    cJSON_DeleteItemFromObjectCaseSensitive(m, "pending");
    cJSON_DeleteItemFromObjectCaseSensitive(m, "max_error");
    cJSON_AddItemToObject(m, key, value);
}

/* ---- attn_fwd ---------------------------------------------------------------------------- */
static double fwd_verify(tune_ctx *c, const at_params *p, double *err, char *why, size_t len)
{
    return at_verify_forward(&c->ver, c->kernel, p, err, why, len);
}

static scl_plan *fwd_begin_timing(tune_ctx *c, const at_params *p, char *why, size_t len)
{
    scl_plan *plan = NULL;
    if (scli_plan_create_with_params(c->rt, c->pattern, &c->shape, c->opt->dtype, c->kernel, &p->fwd, &plan) !=
        SCL_OK) {
        snprintf(why, len, "build: %.400s", scl_last_error_message(c->rt));
        return NULL;
    }
    return plan;
}

static scl_status fwd_timed_run(tune_ctx *c, scl_plan *plan, double *ms)
{
    return scl_plan_time_forward(plan, c->q, c->k, c->v, c->o, c->lse, ms);
}

static void fwd_end_timing(tune_ctx *c, scl_plan *plan)
{
    (void)c;
    scl_plan_destroy(plan);
}

/* ---- attn_bwd ---------------------------------------------------------------------------- */
static double bwd_verify(tune_ctx *c, const at_params *p, double *err, char *why, size_t len)
{
    return at_verify_backward(&c->ver, &p->bwd, err, why, len);
}

static scl_plan *bwd_begin_timing(tune_ctx *c, const at_params *p, char *why, size_t len)
{
    if (scli_plan_prepare_backward(c->bplan, &p->bwd) != SCL_OK) {
        snprintf(why, len, "build: %.400s", scl_last_error_message(c->rt));
        return NULL;
    }
    return c->bplan;
}

static scl_status bwd_timed_run(tune_ctx *c, scl_plan *plan, double *ms)
{
    return scl_plan_time_backward(plan, c->q, c->k, c->v, c->o, c->lse, c->dout, c->dq, c->dk, c->dv, ms);
}

static void bwd_end_timing(tune_ctx *c, scl_plan *plan)
{
    (void)c, (void)plan; /* the plan lives as long as the run; its next candidate replaces the kernels */
}

static scl_status bwd_setup(tune_ctx *c);
static scl_status no_setup(tune_ctx *c)
{
    (void)c;
    return SCL_OK;
}

static const tune_ops fwd_ops = {no_setup,      fwd_verify,     fwd_begin_timing,
                                 fwd_timed_run, fwd_end_timing, false};
static const tune_ops bwd_ops = {bwd_setup,     bwd_verify,     bwd_begin_timing,
                                 bwd_timed_run, bwd_end_timing, true};

/* ---- shared -------------------------------------------------------------------------------- */
int at_tuner_reps(const tune_ctx *c)
{
    return c->opt->reps > 0 ? c->opt->reps : 5;
}

bool at_tuner_time(tune_ctx *c, scl_plan *plan, const at_params *p, int n, double *ms, char *why, size_t len)
{
    for (int r = -1; r < n; r++) { /* one warm-up */
        double t = 0, t0 = at_now_s();
        if (c->ops->timed_run(c, plan, &t) != SCL_OK) {
            snprintf(why, len, "timed run: %.400s", scl_last_error_message(c->rt));
            return false;
        }
        c->run_s += at_now_s() - t0;
        c->run_n++;
        if (c->opt->fake_ms) t = c->opt->fake_ms(p, t, c->opt->fake_ctx);
        if (r >= 0) ms[r] = t;
    }
    return true;
}

static double median_of(double *ms, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && ms[j] < ms[j - 1]; j--) {
            double t = ms[j];
            ms[j] = ms[j - 1];
            ms[j - 1] = t;
        }
    return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

double at_tuner_measure(tune_ctx *c, const at_params *p, double *err_out, char *why, size_t len)
{
    double t0 = at_now_s(), result = INFINITY;
    *err_out = NAN;
    if (!isinf(c->ops->verify(c, p, err_out, why, len))) {
        double tb = at_now_s();
        scl_plan *plan = c->ops->begin_timing(c, p, why, len);
        c->plan_s += at_now_s() - tb;
        c->plan_n++;
        if (plan) {
            int reps = at_tuner_reps(c);
            double *ms = calloc((size_t)reps, sizeof *ms);
            if (!ms)
                snprintf(why, len, "out of host memory");
            else if (at_tuner_time(c, plan, p, reps, ms, why, len))
                result = median_of(ms, reps);
            free(ms);
            c->ops->end_timing(c, plan);
        }
    }
    c->point_s += at_now_s() - t0;
    c->point_n++;
    return result;
}

double at_tuner_eta(tune_ctx *c, int points_left)
{
    double per = c->point_n > 0 ? c->point_s / c->point_n : 0;
    double eta = (points_left > 0 ? points_left : 0) * per + at_retime_estimate(c);
    if (c->opt->max_seconds > 0) eta = fmin(eta, fmax(0.0, c->opt->max_seconds - (at_now_s() - c->t_start)));
    return eta;
}

static void progress(tune_ctx *c, int done)
{
    if (!c->opt->progress) return;
    double el = at_now_s() - c->t_start;
    int left = c->budget - done;
    if (left > c->rep->valid_points - c->rep->reused - done)
        left = c->rep->valid_points - c->rep->reused - done;
    char best[256] = "none yet";
    if (c->rep->found) {
        snprintf(best, sizeof best, "%.3f ms (%.1f GFLOP/s)", c->rep->best_ms, c->rep->best_gflops);
    }
    /* A live line on a terminal; one line per point when the output is a log. */
    bool tty = isatty(fileno(c->opt->progress));
    fprintf(c->opt->progress, "%s  %d/%d points timed, best %s, elapsed %.0fs, ETA %.0fs%s", tty ? "\r" : "",
            done, c->budget, best, el, at_tuner_eta(c, left), tty ? "   " : "\n");
    fflush(c->opt->progress);
}

static void note_best(tune_ctx *c, const at_params *p, double ms, double err)
{
    if (!(ms < (c->rep->found ? c->rep->best_ms : INFINITY))) return;
    c->rep->found = true;
    c->rep->best = *p;
    c->rep->best_ms = ms;
    c->rep->best_gflops = c->flops / ms * 1e-6;
    c->rep->best_error = err;
}

static double cost_fn(int index, void *ctx)
{
    tune_ctx *c = ctx;
    at_params p;
    at_kspace_point(&c->space, index, &p);
    cJSON *m = record(c, &p);
    set_outcome(m, "pending", cJSON_CreateTrue()); /* a crash here is seen by --resume */
    save(c);
    char why[512] = "";
    double err = NAN;
    double ms = at_tuner_measure(c, &p, &err, why, sizeof why);
    if (isinf(ms)) {
        set_outcome(m, "rejected", cJSON_CreateString(why));
        c->rep->failed++;
        if (c->opt->verbose) {
            char text[256];
            scli_params_text(c->kernel, &p, text, sizeof text);
            fprintf(c->opt->verbose, "\nfailed %s %s: %s\n", c->kernel->kernel, text, why);
        }
    } else {
        set_outcome(m, "median_ms", cJSON_CreateNumber(ms));
        cJSON_AddNumberToObject(m, "max_error", err);
        note_best(c, &p, ms, err);
    }
    c->costs[index] = ms;
    c->errs[index] = err;
    c->rep->timed++;
    save(c);
    progress(c, c->rep->timed);
    return ms;
}

static bool stop_fn(void *ctx)
{
    tune_ctx *c = ctx;
    if (c->opt->max_seconds <= 0) return false;
    /* Stop before a point that would not fit with the re-timing phase after it. */
    double per = c->point_n > 0 ? c->point_s / c->point_n : 0;
    return at_now_s() - c->t_start + per + at_retime_estimate(c) > c->opt->max_seconds;
}

/* The representative problem (device buffers) and the verification problem (host + reference). */
static scl_status setup(tune_ctx *c)
{
    scl_runtime *rt = c->rt;
    const at_tune_options *o = c->opt;
    bool gpu = rt->dev.type & CL_DEVICE_TYPE_GPU;
    int64_t seq = o->seq > 0 ? o->seq : gpu ? 8192 : 2048;
    int heads = o->heads > 0 ? o->heads : gpu ? 16 : 2;
    scl_status st = scl_pattern_create(rt, o->pattern ? o->pattern : "causal", &c->pattern);
    if (st != SCL_OK) return st;
    c->shape = (scl_shape){1, heads, heads, seq, seq, o->head_dim, o->block, 0.0f, SCL_LAYOUT_BHND};

    scl_plan *plan = NULL; /* default plan: sizes, flops, and the defaults' own timing */
    if ((st = scl_plan_create(rt, c->pattern, &c->shape, o->dtype, &plan)) != SCL_OK) return st;
    scl_plan_stats ps;
    scl_plan_get_stats(plan, &ps);
    c->flops = c->kernel->flops_per_pair * o->head_dim * ps.allowed_pairs;
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(plan, &sz);
    scl_plan_destroy(plan);
    cl_int e[5];
    size_t elems = sz.q / scli_dtype_size(o->dtype);
    float *host = malloc(elems * sizeof(float));
    if (!host) return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    at_fill_random(host, elems, 7);
    at_store(o->dtype, host, host, elems); /* in place: element i's bits never pass float i */
    c->q = clCreateBuffer(rt->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sz.q, host, &e[0]);
    c->k = clCreateBuffer(rt->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sz.k, host, &e[1]);
    c->v = clCreateBuffer(rt->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sz.v, host, &e[2]);
    /* Read-write: the backward pass reads the forward's O and LSE. */
    c->o = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, sz.o, NULL, &e[3]);
    c->lse = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, sz.lse, NULL, &e[4]);
    free(host);
    for (int i = 0; i < 5; i++)
        if (e[i] != CL_SUCCESS) return scli_fail_cl(rt, "clCreateBuffer", e[i], "tuning problem tensors");
    st = at_verify_init(&c->ver, rt, o->dtype, o->head_dim, o->block, c->ops == &bwd_ops);
    return st == SCL_OK ? c->ops->setup(c) : st;
}

/* The backward problem: dO, gradient buffers and a forward pass (default forward parameters)
 * for O and LSE on the representative problem. */
static scl_status bwd_setup(tune_ctx *c)
{
    scl_runtime *rt = c->rt;
    scl_status st = scl_plan_create(rt, c->pattern, &c->shape, c->opt->dtype, &c->bplan);
    if (st != SCL_OK) return st;
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(c->bplan, &sz);
    size_t elems = sz.o / scli_dtype_size(c->opt->dtype);
    float *host = malloc(elems * 4);
    if (!host) return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    at_fill_random(host, elems, 11);
    at_store(c->opt->dtype, host, host, elems);
    cl_int e[4];
    c->dout = clCreateBuffer(rt->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sz.o, host, &e[0]);
    c->dq = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, sz.q, NULL, &e[1]);
    c->dk = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, sz.k, NULL, &e[2]);
    c->dv = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, sz.v, NULL, &e[3]);
    free(host);
    for (int i = 0; i < 4; i++)
        if (e[i] != CL_SUCCESS) return scli_fail_cl(rt, "clCreateBuffer", e[i], "tuning problem gradients");
    if ((st = scl_plan_forward(c->bplan, c->q, c->k, c->v, c->o, c->lse, 0, NULL, NULL)) != SCL_OK) return st;
    cl_int err = clFinish(rt->queue);
    if (err != CL_SUCCESS) return scli_fail_cl(rt, "clFinish", err, "forward pass of the tuning problem");
    return SCL_OK;
}

static void teardown(tune_ctx *c)
{
    cl_mem m[] = {c->q, c->k, c->v, c->o, c->lse, c->dout, c->dq, c->dk, c->dv};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (m[i]) clReleaseMemObject(m[i]);
    scl_pattern_destroy(c->pattern);
    scl_plan_destroy(c->bplan);
    at_verify_free(&c->ver);
    free(c->costs);
    free(c->errs);
    free(c->orig);
    at_kspace_free(&c->space);
    cJSON_Delete(c->db);
}

/* Reuse what the database already measured for this shape class (--resume). */
static void load_known(tune_ctx *c)
{
    cJSON *measured = cJSON_GetObjectItemCaseSensitive(c->entry, "measured");
    cJSON *m;
    cJSON_ArrayForEach(m, measured)
    {
        at_params p;
        if (!scli_params_from_json(c->kernel, cJSON_GetObjectItemCaseSensitive(m, "params"), &p)) continue;
        int i = at_kspace_find(&c->space, &p);
        if (i < 0) continue;
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(m, "median_ms");
        if (cJSON_IsNumber(ms)) {
            c->costs[i] = ms->valuedouble;
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(m, "max_error");
            c->errs[i] = cJSON_IsNumber(e) ? e->valuedouble : NAN;
            note_best(c, &p, ms->valuedouble, cJSON_IsNumber(e) ? e->valuedouble : NAN);
        } else {
            /* Rejected, or pending: the earlier run died measuring it. Never chosen. */
            if (cJSON_GetObjectItemCaseSensitive(m, "pending"))
                set_outcome(m, "rejected", cJSON_CreateString("the process stopped while measuring it"));
            c->costs[i] = INFINITY;
        }
        c->rep->reused++;
    }
}

static void write_summary(tune_ctx *c, const char *strategy)
{
    cJSON *e = c->entry;
    const char *keys[] = {"params",
                          "median_ms",
                          "gflops",
                          "max_error",
                          "seq",
                          "heads",
                          "pattern",
                          "strategy",
                          "valid_points",
                          "total_points",
                          "timed_points",
                          "default_params",
                          "default_median_ms",
                          "speedup_vs_default",
                          "runners_up",
                          "date",
                          "incumbent",
                          "incumbent_params",
                          "incumbent_median_ms",
                          "speedup_vs_incumbent",
                          "noise"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(e, keys[i]);
    at_tune_report *r = c->rep;
    if (r->found) {
        cJSON_AddItemToObject(e, "params", scl_params_to_json(c->kernel, &r->best));
        cJSON_AddNumberToObject(e, "median_ms", r->best_ms);
        cJSON_AddNumberToObject(e, "gflops", r->best_gflops);
        cJSON_AddNumberToObject(e, "max_error", r->best_error);
    }
    cJSON_AddNumberToObject(e, "seq", (double)c->shape.seq_q);
    cJSON_AddNumberToObject(e, "heads", c->shape.heads);
    cJSON_AddStringToObject(e, "pattern", c->opt->pattern ? c->opt->pattern : "causal");
    cJSON_AddStringToObject(e, "strategy", strategy);
    cJSON_AddNumberToObject(e, "valid_points", r->valid_points);
    cJSON_AddNumberToObject(e, "total_points", r->total_points);
    int timed = 0;
    for (int i = 0; i < c->space.space.n_points; i++)
        timed += !isnan(c->costs[i]);
    cJSON_AddNumberToObject(e, "timed_points", timed);
    cJSON_AddItemToObject(e, "default_params", scl_params_to_json(c->kernel, &r->defaults));
    if (!isnan(r->default_ms)) {
        cJSON_AddNumberToObject(e, "default_median_ms", r->default_ms);
        if (r->found) cJSON_AddNumberToObject(e, "speedup_vs_default", r->default_ms / r->best_ms);
    }
    /* What it replaced, timed in the same run (the winner beat it by more than the noise). */
    cJSON_AddStringToObject(e, "incumbent", r->incumbent_source);
    cJSON_AddItemToObject(e, "incumbent_params", scl_params_to_json(c->kernel, &r->incumbent));
    if (isfinite(r->incumbent_ms)) {
        cJSON_AddNumberToObject(e, "incumbent_median_ms", r->incumbent_ms);
        cJSON_AddNumberToObject(e, "speedup_vs_incumbent", r->incumbent_ms / r->best_ms);
    }
    cJSON_AddNumberToObject(e, "noise", r->noise);
    /* Runners-up: the next best measured points. */
    cJSON *ru = cJSON_AddArrayToObject(e, "runners_up");
    for (int k = 0; k < 4; k++) {
        int pick = -1;
        for (int i = 0; i < c->space.space.n_points; i++) {
            double ci = c->costs[i];
            if (isnan(ci) || isinf(ci)) continue;
            at_params p;
            at_kspace_point(&c->space, i, &p);
            if (r->found && same(c, &p, &r->best)) continue;
            bool used = false;
            cJSON *x;
            cJSON_ArrayForEach(x, ru)
            {
                at_params q;
                if (scli_params_from_json(c->kernel, cJSON_GetObjectItemCaseSensitive(x, "params"), &q) &&
                    same(c, &p, &q))
                    used = true;
            }
            if (!used && (pick < 0 || ci < c->costs[pick])) pick = i;
        }
        if (pick < 0) break;
        at_params p;
        at_kspace_point(&c->space, pick, &p);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddItemToObject(x, "params", scl_params_to_json(c->kernel, &p));
        cJSON_AddNumberToObject(x, "median_ms", c->costs[pick]);
        cJSON_AddItemToArray(ru, x);
    }
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(e, "date", date);
}

scl_status at_tune_fwd(scl_runtime *rt, const at_tune_options *opt, at_tune_report *rep)
{
    if (!opt) return at_tune(rt, opt, rep);
    at_tune_options o = *opt;
    o.kernel = &scli_fwd_simt_schema;
    return at_tune(rt, &o, rep);
}

/* The database to merge into, and a copy of its bytes (written back when the incumbent stays). */
static scl_status open_db(tune_ctx *c)
{
    const at_tune_options *opt = c->opt;
    char msg[1200];
    /* The run merges into the database: other shape classes, directions, variants stay. An
     * existing file that cannot be read is never replaced. */
    FILE *existing = fopen(opt->db_path, "rb");
    if (existing) fclose(existing);
    c->orig_exists = existing != NULL;
    if (existing &&
        (scl_read_file(opt->db_path, (size_t)64 << 20, &c->orig, &c->orig_size, msg, sizeof msg) != 0 ||
         !(c->db = scli_tuning_db_parse((const char *)c->orig, c->orig_size, opt->db_path, msg, sizeof msg))))
        return scli_fail(c->rt, SCL_ERR_IO, "%s; move it away or write elsewhere (--out)", msg);
    if (!c->db) c->db = scl_tuning_db_new(&c->rt->dev);
    /* A fresh run of a shape class replaces its entry's record; other classes stay. */
    c->entry = scl_tuning_db_entry(c->db, c->kernel, opt->head_dim, opt->block, opt->dtype);
    if (!cJSON_GetObjectItemCaseSensitive(c->entry, "measured")) cJSON_AddArrayToObject(c->entry, "measured");
    if (!opt->resume) {
        cJSON_DeleteItemFromObjectCaseSensitive(c->entry, "measured");
        cJSON_AddArrayToObject(c->entry, "measured");
    }
    return SCL_OK;
}

/* The incumbent stays: the database file goes back to what it was (nothing new is written). */
static void restore_db(tune_ctx *c)
{
    char msg[1200];
    if (!c->orig_exists) {
        remove(c->opt->db_path);
    } else if (scl_write_file_atomic(c->opt->db_path, c->orig, c->orig_size, msg, sizeof msg) != 0 &&
               c->opt->progress) {
        fprintf(c->opt->progress, "\nwarning: %s\n", msg);
    }
}

static scl_status run_search(tune_ctx *c, const scli_param_context *pc)
{
    const at_tune_options *opt = c->opt;
    at_tune_report *rep = c->rep;
    scl_status st = open_db(c);
    if (st != SCL_OK || (st = setup(c)) != SCL_OK) return st;
    if (opt->resume) load_known(c);
    scli_params_default(c->kernel, &c->rt->dev, pc, &rep->defaults);
    at_find_incumbent(c, pc);
    c->budget = opt->max_evals > 0 && opt->max_evals < rep->valid_points ? opt->max_evals : rep->valid_points;
    if (opt->progress)
        fprintf(opt->progress, "tune %s d=%d block=%d %s on %s: %d of %d points valid, strategy %s, %s\n",
                c->kernel->kernel, opt->head_dim, opt->block, scli_dtype_name(opt->dtype), c->rt->dev.name,
                rep->valid_points, rep->total_points, at_strategy_name(opt->strategy),
                opt->resume && rep->reused ? "resuming" : "timing on a representative problem");
    at_time_baselines(c);
    /* The local search starts from what plans use today. */
    int start = c->inc_index >= 0 ? c->inc_index : c->def_index;
    at_search(&c->space.space, opt->strategy, opt->max_evals, start, c->costs, opt->seed, cost_fn, stop_fn,
              c);
    if (opt->progress && isatty(fileno(opt->progress))) fputc('\n', opt->progress);
    at_retime_and_decide(c);
    if (!rep->found)
        return scli_fail(c->rt, SCL_ERR_UNSUPPORTED, "no candidate passed verification and timing");
    if (rep->kept_incumbent) {
        restore_db(c);
    } else {
        write_summary(c, at_strategy_name(opt->strategy));
        save(c);
    }
    scli_runtime_tuning_reload(c->rt); /* plans made from now on read the new entry */
    return SCL_OK;
}

scl_status at_tune(scl_runtime *rt, const at_tune_options *opt, at_tune_report *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->default_ms = rep->incumbent_ms = NAN;
    if (!rt || !opt || !opt->db_path) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "at_tune: NULL argument");
    tune_ctx c = {0};
    c.kernel = opt->kernel ? opt->kernel : &scli_fwd_simt_schema;
    c.ops = strcmp(c.kernel->direction, "backward") == 0 ? &bwd_ops : &fwd_ops;
    c.rt = rt;
    c.opt = opt;
    c.rep = rep;
    c.t_start = at_now_s();
    c.inc_index = c.def_index = -1;
    scli_param_context pc;
    scli_param_context_init(&pc, &rt->dev, opt->head_dim, opt->block);
    int family = opt->family >= 0 ? opt->family : (rt->dev.type & CL_DEVICE_TYPE_GPU) != 0;
    scl_status st = SCL_OK;
    if (at_kspace_build(c.kernel, &pc, family, opt->verbose, &c.space) != 0) {
        st = scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    rep->total_points = c.space.total;
    rep->valid_points = c.space.space.n_points;
    if (rep->valid_points == 0) {
        st = scli_fail(rt, SCL_ERR_UNSUPPORTED, "no valid %s parameters for d=%d block=%d on %s",
                      c.kernel->direction, opt->head_dim, opt->block, rt->dev.name);
        goto done;
    }
    c.costs = malloc(sizeof(double) * (size_t)rep->valid_points);
    c.errs = malloc(sizeof(double) * (size_t)rep->valid_points);
    if (!c.costs || !c.errs) {
        st = scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    for (int i = 0; i < rep->valid_points; i++)
        c.costs[i] = c.errs[i] = NAN;
    st = run_search(&c, &pc);
done:
    rep->seconds = at_now_s() - c.t_start;
    teardown(&c);
    return st;
}
