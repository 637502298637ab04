/* Measurement: random device tensors, event-timed repetitions within a time budget, the CLBlast
 * dense baseline, device-memory accounting. */
#include "bench.h"

#include "baseline.h"
#include "internal.h"
#include "param_schema.h"
#include "scl_bf16.h"
#include "scl_npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

double bench_now_s(void)
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
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++)
        mean += ms[i] / n;
    for (int i = 0; i < n; i++)
        var += (ms[i] - mean) * (ms[i] - mean) / n;
    t->cv = mean > 0 ? sqrt(var) / mean : 0;
}

int bench_timing_noisy(const bench_timing *t)
{
    return t->ran && t->reps > 1 && t->cv > BENCH_NOISY_CV;
}

int bench_load(double *load1, int *cpus)
{
    *load1 = 0, *cpus = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return 0;
    int ok = fscanf(f, "%lf", load1) == 1;
    fclose(f);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (!ok || n < 1) return *load1 = 0, 0;
    *cpus = (int)n;
    return 1;
}

int bench_noise_warning(const char *what, const bench_timing *t, double load1, int cpus, char *out,
                        size_t len)
{
    int noisy = t && bench_timing_noisy(t), busy = cpus > 0 && load1 > cpus;
    out[0] = '\0';
    if (!noisy && !busy) return 0;
    int n = 0;
    if (noisy)
        n = snprintf(out, len,
                     "warning: %s: noisy figures: the runs spread %.1f%% (CV; max/min %.2f), over the %.0f%% "
                     "threshold",
                     what, 100 * t->cv, t->max / t->min, 100 * BENCH_NOISY_CV);
    if (busy && n >= 0 && (size_t)n < len)
        snprintf(out + n, len - (size_t)n, "%s the machine is busy (load average %.1f on %d CPUs)%s",
                 noisy ? ";" : "warning:", load1, cpus, noisy ? "" : ": timings may be noisy");
    return 1;
}

static cl_mem random_buffer(scl_runtime *rt, size_t elems, scl_dtype dt, unsigned seed, scl_status *st)
{
    size_t es = scli_dtype_size(dt);
    void *host = malloc(elems * es);
    if (!host) {
        *st = scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory for %zu elements", elems);
        return NULL;
    }
    uint64_t x = 0x9e3779b97f4a7c15ULL * (seed + 1);
    for (size_t i = 0; i < elems; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        float f = (float)((x >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
        if (dt == SCL_F16)
            ((uint16_t *)host)[i] = npy_float_to_half(f);
        else if (dt == SCL_BF16)
            ((uint16_t *)host)[i] = scl_float_to_bf16(f);
        else
            ((float *)host)[i] = f;
    }
    cl_int err;
    cl_mem m = clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, elems * es,
                              host, &err);
    free(host);
    if (err != CL_SUCCESS) {
        char ctx[128];
        snprintf(ctx, sizeof ctx, "%zu-byte input tensor", elems * es);
        *st = scli_fail_cl(rt, "clCreateBuffer", err, ctx);
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
        *st = scli_fail_cl(rt, "clCreateBuffer", err, ctx);
        return NULL;
    }
    return m;
}

scl_status bench_make_buffers(scl_runtime *rt, const scl_shape *s, scl_dtype dt, int backward,
                              bench_buffers *b)
{
    memset(b, 0, sizeof *b);
    size_t es = scli_dtype_size(dt);
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
        double t0 = bench_now_s();
        st = fn(ctx, out);
        double dt = bench_now_s() - t0;
        if (dt > worst) worst = dt;
    }
    if (st == SCL_OK && budget_s > 0 && worst > 0) {
        double fit = budget_s / worst;
        if (fit < reps) reps = fit < 1 ? 1 : (int)fit;
    }
    double *ms = calloc((size_t)reps * 2, sizeof *ms);
    if (!ms) st = scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
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
size_t bench_mem_size(cl_mem m)
{
    size_t n = 0;
    if (m) clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof n, &n, NULL);
    return n;
}
