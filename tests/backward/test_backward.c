/* Backward kernels against the double-precision reference gradients, and the reference itself
 * against central differences of the double-precision forward, across patterns, shapes, dtypes. */
#include "../check.h"
#include "../plan_case.h"
#include "backward.h"
#include "reference.h"
#include "reference_backward.h"
#include "../storage16.h"
#include "../test_util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct bcase {
    plan_case c;
    int gpu_style; /* run the GPU parameter family (local-memory tiles, one row per thread) */
} bcase;

static char layout_spec[300]; /* "layout(<file>)", written at start-up */

/* ---- Finite differences of the reference: is the analytic double gradient right? ---------- */

/* Every case at head dim and block FD_DIM: few enough elements for two forward passes each. */
#define FD_DIM 8

typedef struct fdcase {
    const char *spec;
    int heads, kv_heads;
    int64_t n_q, n_k;
} fdcase;

static double fd_worst = 0;

static double loss(const spc_bound *bd, const scl_shape *s, const float *q, const float *k, const float *v,
                   const float *g, double *o, double *lse)
{
    scl_reference_forward(bd, s, q, k, v, o, lse);
    double l = 0;
    for (int64_t i = 0; i < scli_shape_q_elems(s); i++)
        l += g[i] * o[i];
    return l;
}

/* Central difference of loss() along element i of x, with the exact float step taken. */
static double central(const spc_bound *bd, const scl_shape *s, float *x, int64_t i, const float *q,
                      const float *k, const float *v, const float *g, double *o, double *lse)
{
    const float x0 = x[i], h = 1e-3f;
    x[i] = x0 + h;
    const float xp = x[i];
    const double lp = loss(bd, s, q, k, v, g, o, lse);
    x[i] = x0 - h;
    const float xm = x[i];
    const double lm = loss(bd, s, q, k, v, g, o, lse);
    x[i] = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}

static void run_fd(const fdcase *c)
{
    scl_shape s = {1, c->heads, c->kv_heads, c->n_q, c->n_k, FD_DIM, FD_DIM, 1.0f / sqrtf((float)FD_DIM), 0};
    spc_pattern *pat = NULL;
    spc_bound *bd = NULL;
    spc_error err = {0};
    spc_geometry geo = {c->n_q, c->n_k, FD_DIM, c->heads};
    if (spc_parse(c->spec, &pat, &err) != 0 || spc_bind(pat, &geo, &bd, &err) != 0) {
        CHECK(0, "fd '%s': %s", c->spec, err.message);
        spc_pattern_free(pat);
        return;
    }
    int64_t nq = scli_shape_q_elems(&s), nk = scli_shape_kv_elems(&s);
    float *q = malloc(nq * 4), *g = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4);
    double *o = malloc(nq * 8), *lse = malloc(nq * 8), *dq = malloc(nq * 8), *dk = malloc(nk * 8),
           *dv = malloc(nk * 8);
    for (int64_t i = 0; i < nq; i++)
        q[i] = 2.0f * frand(), g[i] = frand();
    for (int64_t i = 0; i < nk; i++)
        k[i] = 2.0f * frand(), v[i] = frand();
    CHECK(scl_reference_backward(bd, &s, q, k, v, g, dq, dk, dv) == 0, "reference backward");
    double scale[3] = {0, 0, 0}, worst[3] = {0, 0, 0};
    float *xs[3] = {q, k, v};
    double *an[3] = {dq, dk, dv};
    int64_t ns[3] = {nq, nk, nk};
    for (int t = 0; t < 3; t++) {
        for (int64_t i = 0; i < ns[t]; i++)
            scale[t] = fmax(scale[t], fabs(an[t][i]));
        for (int64_t i = 0; i < ns[t]; i++) {
            double num = central(bd, &s, xs[t], i, q, k, v, g, o, lse);
            worst[t] = fmax(worst[t], fabs(num - an[t][i]));
        }
    }
    double rel = 0;
    for (int t = 0; t < 3; t++)
        rel = fmax(rel, worst[t] / (scale[t] > 0 ? scale[t] : 1));
    /* Central differences with h = 1e-3 are exact to ~h^2 times the third derivative. */
    CHECK(rel <= 1e-5, "fd '%s' H=%d/%d N=%lld/%lld: analytic vs numeric %.3g (dq %.3g dk %.3g dv %.3g)",
          c->spec, c->heads, c->kv_heads, (long long)c->n_q, (long long)c->n_k, rel, worst[0], worst[1],
          worst[2]);
    fd_worst = fmax(fd_worst, rel);
    printf("  fd %-48s H=%d/%d N=%lld/%lld  rel err %.2e\n", c->spec, c->heads, c->kv_heads,
           (long long)c->n_q, (long long)c->n_k, rel);
    free(q), free(g), free(k), free(v), free(o), free(lse), free(dq), free(dk), free(dv);
    spc_bound_free(bd);
    spc_pattern_free(pat);
}

static const fdcase fd_cases[] = {
    {"dense", 2, 1, 7, 9},
    {"causal", 2, 2, 9, 9},
    {"local(2)", 1, 1, 9, 9},
    {"strided(3)", 1, 1, 9, 9},
    {"fixed(4, 2)", 1, 1, 9, 9},
    {"dilated(4, 2)", 1, 1, 9, 9},
    {"global(0, 5)", 1, 1, 9, 7},
    {"longformer(2, 3)", 1, 1, 9, 9},
    {"bigbird(3, 1, 1, 5)", 1, 1, 20, 20},
    {"heads(0: causal; 1: local(1))", 2, 1, 9, 9},
    {"local(0)", 1, 1, 9, 5}, /* rows 5.. have no key */
};

/* ---- Kernels against the reference ---------------------------------------------------------- */

static double worst_f32 = 0, worst_f16 = 0, worst_bf16 = 0;

/* --decomposed-only (with SPARSECL_DECOMPOSE=force): run only the cases that decompose. */
static int decomposed_only;

static void run_case(scl_runtime *rt, const bcase *bc)
{
    const plan_case *c = &bc->c;
    scl_shape shape = case_shape(c);
    const char *spec = strcmp(c->spec, "LAYOUT") == 0 ? layout_spec : c->spec;
    char label[400];
    case_label(c, spec, 40, bc->gpu_style ? " gpu-style" : "", label, sizeof label);
    scl_pattern *pat;
    scl_plan *plan = case_plan(rt, spec, &shape, c->dtype, label, &pat);
    if (!plan) return;
    if (decomposed_only && !plan->dec) { /* this run checks decomposed plans only */
        scl_plan_destroy(plan);
        scl_pattern_destroy(pat);
        return;
    }
    if (bc->gpu_style) {
        scli_param_context pc;
        scli_param_context_init(&pc, scl_runtime_device(rt), c->d, c->block);
        scli_bwd_params gp;
        scli_params_start(&scli_bwd_simt_schema, SCLI_FAMILY_GPU, &gp);
        if (gp.dq_bq > c->block) gp.dq_bq = c->block;
        if (gp.kv_bk > c->block) gp.kv_bk = c->block;
        if (gp.dq_bk > c->block) gp.dq_bk = c->block;
        if (gp.kv_bq > c->block) gp.kv_bq = c->block;
        char reason[256] = "";
        CHECK(scli_params_check(&scli_bwd_simt_schema, &gp, &pc, reason, sizeof reason), "%s: %s", label, reason);
        CHECK(scli_plan_prepare_backward(plan, &gp) == SCL_OK, "%s: %s", label, scl_last_error_message(rt));
    }
    const int f16 = c->dtype != SCL_F32; /* 16-bit storage: f16 or bf16 */
    size_t nq = (size_t)scli_shape_q_elems(&plan->shape), nk = (size_t)scli_shape_kv_elems(&plan->shape);
    size_t nl = (size_t)c->batch * c->heads * c->n_q, es = f16 ? 2 : 4;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *g = malloc(nq * 4),
          *lse = malloc(nl * 4);
    float *dq = malloc(nq * 4), *dk = malloc(nk * 4), *dv = malloc(nk * 4);
    void *qd = malloc(nq * es), *kd = malloc(nk * es), *vd = malloc(nk * es), *gd = malloc(nq * es),
         *od = malloc(nq * es), *dqd = malloc(nq * es), *dkd = malloc(nk * es), *dvd = malloc(nk * es);
    double *rq = malloc(nq * 8), *rk = malloc(nk * 8), *rv = malloc(nk * 8);
    if (!q || !k || !v || !g || !lse || !dq || !dk || !dv || !qd || !kd || !vd || !gd || !od || !dqd ||
        !dkd || !dvd || !rq || !rk || !rv) {
        CHECK(0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nq; i++)
        q[i] = 2.0f * frand(), g[i] = frand();
    for (size_t i = 0; i < nk; i++)
        k[i] = 2.0f * frand(), v[i] = frand();
    /* Device arrays; with half storage the reference sees exactly the stored halves. */
    float *xs[4] = {q, k, v, g};
    void *xd[4] = {qd, kd, vd, gd};
    size_t xn[4] = {nq, nk, nk, nq};
    for (int t = 0; t < 4; t++)
        for (size_t i = 0; i < xn[t]; i++) {
            if (f16)
                xs[t][i] = load16(c->dtype, ((uint16_t *)xd[t])[i] = store16(c->dtype, xs[t][i]));
            else
                ((float *)xd[t])[i] = xs[t][i];
        }
    scl_status st = scl_plan_forward_host(plan, qd, kd, vd, od, lse);
    CHECK(st == SCL_OK, "%s: forward: %s", label, scl_last_error_message(rt));
    if (st == SCL_OK) st = scl_plan_backward_host(plan, qd, kd, vd, od, lse, gd, dqd, dkd, dvd);
    CHECK(st == SCL_OK, "%s: backward: %s", label, scl_last_error_message(rt));
    if (st != SCL_OK) goto done;
    float *ys[3] = {dq, dk, dv};
    void *yd[3] = {dqd, dkd, dvd};
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < xn[t]; i++)
            ys[t][i] = f16 ? load16(c->dtype, ((uint16_t *)yd[t])[i]) : ((float *)yd[t])[i];
    CHECK(scl_reference_backward(plan->bound, &plan->shape, q, k, v, g, rq, rk, rv) == 0, "reference");
    double *rs[3] = {rq, rk, rv}, rel[3] = {0, 0, 0}, sc[3] = {0, 0, 0};
    int nan = 0, empty_bad = 0;
    for (int t = 0; t < 3; t++) {
        double err = 0;
        for (size_t i = 0; i < xn[t]; i++) {
            sc[t] = fmax(sc[t], fabs(rs[t][i]));
            if (isnan(ys[t][i])) nan++;
            err = fmax(err, fabs(ys[t][i] - rs[t][i]));
        }
        rel[t] = err / (sc[t] > 0 ? sc[t] : 1);
    }
    /* Empty rows (LSE = -inf): exactly zero dQ. */
    for (size_t r = 0; r < nl; r++) {
        if (!isinf(lse[r])) continue;
        const int64_t bh = (int64_t)r / c->n_q, i = (int64_t)r % c->n_q, b = bh / c->heads, h = bh % c->heads;
        const float *row = dq + b * plan->qs.b + h * plan->qs.h + i * plan->qs.n;
        for (int x = 0; x < c->d; x++)
            empty_bad += row[x] != 0.0f;
    }
    const double tol = storage_tol(c->dtype), worst = fmax(rel[0], fmax(rel[1], rel[2]));
    CHECK(nan == 0, "%s: %d NaN gradients", label, nan);
    CHECK(empty_bad == 0, "%s: %d non-zero dQ elements in empty rows", label, empty_bad);
    CHECK(worst <= tol, "%s: max error relative to gradient scale dq %.3g dk %.3g dv %.3g (tolerance %.0e)",
          label, rel[0], rel[1], rel[2], tol);
    double *w = c->dtype == SCL_F16 ? &worst_f16 : c->dtype == SCL_BF16 ? &worst_bf16 : &worst_f32;
    *w = fmax(*w, worst);
    printf("  %-78s dq %.1e dk %.1e dv %.1e\n", label, rel[0], rel[1], rel[2]);
done:
    free(q), free(k), free(v), free(g), free(lse), free(dq), free(dk), free(dv);
    free(qd), free(kd), free(vd), free(gd), free(od), free(dqd), free(dkd), free(dvd);
    free(rq), free(rk), free(rv);
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
}

static const bcase cases[] = {
    /* every primitive, N not a multiple of the block */
    {{"dense", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND}, 0},
    {{"causal", 2, 2, 2, 100, 100, 64, 32, SCL_F32, BHND}, 0},
    {{"local(7)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND}, 0},
    {{"strided(9)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND}, 0},
    {{"causal & strided(16)", 1, 2, 2, 300, 300, 64, 32, SCL_F32, BHND}, 0},
    {{"fixed(20, 3)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND}, 0},
    {{"dilated(4, 3)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND}, 0},
    {{"global(0, 40-43)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND}, 0},
    {{"longformer(5, 0, 77)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND}, 0},
    {{"bigbird(3, 1, 2, 7)", 1, 2, 2, 300, 300, 64, 32, SCL_F32, BHND}, 0},
    {{"LAYOUT", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND}, 0},
    {{"(causal | local(20)) & (strided(8) | global(3))", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND}, 0},
    /* GQA with different layouts inside one group; N_q != N_k; BNHD; batch */
    {{"heads(0: causal; 1: local(3) | global(9); 2: strided(5); 3: dense)", 2, 4, 2, 77, 77, 64, 32, SCL_F32,
      BHND},
     0},
    {{"causal", 1, 4, 1, 50, 130, 64, 32, SCL_F32, BHND}, 0},
    {{"local(10)", 2, 2, 1, 120, 61, 64, 32, SCL_F32, BNHD}, 0},
    /* empty rows: local(0) with N_q > N_k leaves rows N_k.. with no key */
    {{"local(0)", 1, 2, 2, 40, 20, 64, 32, SCL_F32, BHND}, 0},
    {{"causal", 1, 1, 1, 1, 1, 64, 32, SCL_F32, BHND}, 0},
    /* other head dims and blocks */
    {{"causal", 1, 2, 2, 70, 70, 32, 16, SCL_F32, BHND}, 0},
    {{"causal & strided(8)", 1, 1, 1, 90, 90, 80, 16, SCL_F32, BHND}, 0},
    {{"local(40)", 1, 1, 1, 150, 150, 128, 64, SCL_F32, BHND}, 0},
    /* the GPU parameter family (local-memory tiles) on this device */
    {{"heads(0: causal; 1: local(3) | global(9))", 1, 2, 1, 100, 90, 64, 32, SCL_F32, BHND}, 1},
    {{"local(0)", 1, 2, 2, 40, 20, 64, 32, SCL_F32, BHND}, 1},
    /* half storage */
    {{"causal & strided(16)", 2, 2, 1, 300, 300, 64, 32, SCL_F16, BHND}, 0},
    {{"dense", 1, 2, 2, 100, 100, 64, 32, SCL_F16, BHND}, 0},
    {{"local(0)", 1, 2, 1, 40, 20, 64, 32, SCL_F16, BNHD}, 0},
    /* bf16 storage (SIMT kernels, conversion on load): GQA, BNHD, N_q != N_k */
    {{"causal & strided(16)", 2, 2, 1, 300, 300, 64, 32, SCL_BF16, BHND}, 0},
    {{"local(9) | global(3)", 1, 4, 2, 133, 90, 32, 16, SCL_BF16, BNHD}, 0},
    /* decomposable patterns (strided lines, summary columns, global tokens): N not a multiple of
     * the stride or block, head dims 32/64/128, GQA, N_q != N_k, BNHD, half storage */
    {{"causal & strided(24)", 1, 2, 2, 333, 333, 32, 16, SCL_F32, BHND}, 0},
    {{"strided(16)", 1, 2, 2, 250, 250, 128, 32, SCL_F32, BHND}, 0},
    {{"causal & fixed(32, 4)", 2, 4, 2, 301, 301, 64, 32, SCL_F32, BHND}, 0},
    {{"longformer(8, 3, 50-52, 190, 299)", 1, 2, 2, 300, 300, 64, 32, SCL_F32, BNHD}, 0},
    {{"local(20) | (causal & strided(32))", 1, 2, 1, 400, 400, 64, 32, SCL_F32, BHND}, 0},
    {{"causal & strided(16)", 1, 2, 2, 150, 200, 64, 32, SCL_F32, BHND}, 0},
    {{"(causal & strided(16)) | global(7, 100)", 1, 2, 2, 257, 257, 64, 32, SCL_F16, BHND}, 0},
    {{"causal & fixed(32, 8)", 1, 2, 1, 200, 200, 32, 16, SCL_F16, BNHD}, 0},
    {{"causal & fixed(32, 4)", 1, 2, 1, 150, 150, 64, 32, SCL_F32, BHND}, 1},
};

/* ---- Arguments, parameters, timing ---------------------------------------------------------- */

static void test_validation(scl_runtime *rt)
{
    scl_pattern *pat = NULL;
    scl_plan *plan = NULL;
    scl_shape s = {1, 2, 1, 64, 64, 64, 32, 0, 0};
    CHECK(scl_pattern_create(rt, "causal", &pat) == SCL_OK, "pattern");
    CHECK(scl_plan_create(rt, pat, &s, SCL_F32, &plan) == SCL_OK, "plan: %s", scl_last_error_message(rt));
    if (!plan) {
        scl_pattern_destroy(pat);
        return;
    }
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(plan, &sz);
    cl_context ctx = scl_runtime_context(rt);
    cl_int err;
    cl_mem small = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 64, NULL, &err);
    cl_mem bq = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sz.q, NULL, &err);
    cl_mem bk = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sz.k, NULL, &err);
    cl_mem bl = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sz.lse, NULL, &err);
    float zero = 0;
    clEnqueueFillBuffer(scl_runtime_queue(rt), bq, &zero, 4, 0, sz.q, 0, NULL, NULL);
    clEnqueueFillBuffer(scl_runtime_queue(rt), bk, &zero, 4, 0, sz.k, 0, NULL, NULL);
    clEnqueueFillBuffer(scl_runtime_queue(rt), bl, &zero, 4, 0, sz.lse, 0, NULL, NULL);
    scl_status st = scl_plan_backward(plan, bq, bk, bk, bq, NULL, bq, bq, bk, bk, 0, NULL, NULL);
    CHECK(st == SCL_ERR_INVALID_ARGUMENT && strstr(scl_last_error_message(rt), "tensor lse is NULL"),
          "NULL lse: %s", scl_last_error_message(rt));
    st = scl_plan_backward(plan, bq, bk, bk, bq, bl, bq, bq, small, bk, 0, NULL, NULL);
    CHECK(st == SCL_ERR_INVALID_ARGUMENT && strstr(scl_last_error_message(rt), "tensor dk has 64 bytes"),
          "small dk: %s", scl_last_error_message(rt));
    st = scl_plan_backward(plan, bq, bk, bk, bq, bl, NULL, bq, bk, bk, 0, NULL, NULL);
    CHECK(st == SCL_ERR_INVALID_ARGUMENT && strstr(scl_last_error_message(rt), "tensor dout is NULL"),
          "NULL dout");
    st = scl_plan_backward(plan, bq, bk, bk, bq, bl, bq, bq, bk, bk, 1, NULL, NULL);
    CHECK(st == SCL_ERR_INVALID_ARGUMENT, "wait list NULL with count");
    CHECK(scl_plan_backward(NULL, bq, bk, bk, bq, bl, bq, bq, bk, bk, 0, NULL, NULL) ==
              SCL_ERR_INVALID_ARGUMENT,
          "NULL plan");
    CHECK(scl_plan_backward_host(plan, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) ==
              SCL_ERR_INVALID_ARGUMENT,
          "NULL host arrays");
    double ms = -1;
    CHECK(scl_plan_time_backward(plan, bq, bk, bk, bq, bl, bq, bq, bk, bk, NULL) == SCL_ERR_INVALID_ARGUMENT,
          "NULL ms");
    /* Separate dq/dk/dv outputs (they alias inputs above only in the calls that are rejected). */
    cl_mem gq = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sz.q, NULL, &err);
    cl_mem gk = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sz.k, NULL, &err);
    cl_mem gv = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sz.k, NULL, &err);
    st = scl_plan_time_backward(plan, bq, bk, bk, bq, bl, bq, gq, gk, gv, &ms);
    CHECK(st == SCL_OK && ms > 0, "time_backward: %s (%.3f ms)", scl_last_error_message(rt), ms);
    /* Event and wait-list form. */
    cl_event ev = NULL, ev2 = NULL;
    st = scl_plan_backward(plan, bq, bk, bk, bq, bl, bq, gq, gk, gv, 0, NULL, &ev);
    CHECK(st == SCL_OK && ev, "backward with event: %s", scl_last_error_message(rt));
    if (ev) {
        st = scl_plan_backward(plan, bq, bk, bk, bq, bl, bq, gq, gk, gv, 1, &ev, &ev2);
        CHECK(st == SCL_OK && ev2 && clWaitForEvents(1, &ev2) == CL_SUCCESS, "backward after event");
        clReleaseEvent(ev);
        if (ev2) clReleaseEvent(ev2);
    }
    /* Parameter checks and overrides. */
    scli_param_context pc;
    scli_param_context_init(&pc, scl_runtime_device(rt), 64, 32);
    scli_bwd_params p;
    scli_params_start(&scli_bwd_simt_schema, SCLI_FAMILY_CPU, &p);
    char reason[256];
    scli_bwd_params bad = p;
    bad.dq_bq = 24;
    CHECK(!scli_params_check(&scli_bwd_simt_schema, &bad, &pc, reason, sizeof reason) && strstr(reason, "powers of two"),
          "pow2: %s", reason);
    bad = p;
    bad.kv_bq = 64;
    CHECK(!scli_params_check(&scli_bwd_simt_schema, &bad, &pc, reason, sizeof reason) && strstr(reason, "layout block"),
          "tile: %s", reason);
    bad = p;
    bad.vec = 32;
    CHECK(!scli_params_check(&scli_bwd_simt_schema, &bad, &pc, reason, sizeof reason), "vec 32");
    CHECK(scli_params_override(&scli_bwd_simt_schema, &p, "dq_tm=4, vec=8", reason, sizeof reason) && p.dq_tm == 4 && p.vec == 8,
          "override");
    CHECK(!scli_params_override(&scli_bwd_simt_schema, &p, "nope=3", reason, sizeof reason) && strstr(reason, "unknown"),
          "unknown name");
    /* Defaults exist for every head dim and block, on a GPU-like and a CPU-like device. */
    static const int dims[] = {16, 32, 64, 80, 96, 128, 256};
    for (int gpu = 0; gpu < 2; gpu++)
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
            for (int blk = 8; blk <= 256; blk *= 2) {
                scl_device_info dev = {0};
                dev.type = gpu ? CL_DEVICE_TYPE_GPU : CL_DEVICE_TYPE_CPU;
                dev.max_work_group_size = gpu ? 1024 : 4096;
                dev.local_mem_bytes = gpu ? 48 * 1024 : 256 * 1024;
                scli_param_context dc;
                scli_param_context_init(&dc, &dev, dims[di], blk);
                scli_bwd_params dp;
                CHECK(scli_params_default(&scli_bwd_simt_schema, &dev, &dc, &dp) &&
                          scli_params_check(&scli_bwd_simt_schema, &dp, &dc, reason, sizeof reason),
                      "defaults for %s d=%d block=%d", gpu ? "GPU" : "CPU", dims[di], blk);
            }
    CHECK(scli_plan_prepare_backward(plan, &bad) == SCL_ERR_INVALID_ARGUMENT &&
              strstr(scl_last_error_message(rt), "rejected"),
          "explicit bad params: %s", scl_last_error_message(rt));
    /* After a rejected set, the next call rebuilds from the defaults. */
    st = scl_plan_backward(plan, bq, bk, bk, bq, bl, bq, gq, gk, gv, 0, NULL, NULL);
    CHECK(st == SCL_OK && strstr(scl_plan_backward_kernel_source(plan), "defaults"), "rebuild: %s",
          scl_last_error_message(rt));
    clFinish(scl_runtime_queue(rt));
    cl_mem all[] = {small, bq, bk, bl, gq, gk, gv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clReleaseMemObject(all[i]);
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
}

/* A layout(path.npy) file for the "LAYOUT" case: the block layout of a causal | global pattern. */
static void write_layout_file(void)
{
    const char *dir = getenv("TMPDIR");
    snprintf(layout_spec, sizeof layout_spec, "layout(%s/scl_test_bwd_layout_%d.npy)",
             dir && *dir ? dir : "/tmp", (int)getpid()); /* backward and backward_decomposed run at once */
    char path[256];
    snprintf(path, sizeof path, "%.*s", (int)(strlen(layout_spec) - 8), layout_spec + 7);
    spc_pattern *pat = NULL;
    spc_bound *bd = NULL;
    spc_lut *lut = NULL;
    spc_error err = {0};
    spc_geometry g = {100, 100, 32, 2};
    CHECK(spc_parse("heads(0: local(20); 1: global(50) | causal)", &pat, &err) == 0 &&
              spc_bind(pat, &g, &bd, &err) == 0 && spc_compile(bd, &lut, &err) == 0 &&
              spc_lut_write_layout_npy(lut, path, &err) == 0,
          "layout file: %s", err.message);
    spc_lut_free(lut);
    spc_bound_free(bd);
    spc_pattern_free(pat);
}

int main(int argc, char **argv)
{
    decomposed_only = argc > 1 && strcmp(argv[1], "--decomposed-only") == 0;
    for (size_t i = 0; i < sizeof fd_cases / sizeof fd_cases[0] && !decomposed_only; i++)
        run_fd(&fd_cases[i]);
    printf("reference vs central differences: worst %.3g relative to gradient scale (tol 1e-5)\n", fd_worst);

    scl_runtime *rt = test_runtime();
    write_layout_file();
    if (!decomposed_only) test_validation(rt);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(rt, &cases[i]);
    printf("worst gradient error relative to gradient scale: f32 %.3g (tol 1e-4), f16 %.3g (tol 2e-3), bf16 %.3g "
           "(tol 8e-3)\n",
           worst_f32, worst_f16, worst_bf16);
    char path[256];
    snprintf(path, sizeof path, "%.*s", (int)(strlen(layout_spec) - 8), layout_spec + 7);
    remove(path);
    scl_runtime_destroy(rt);
    return check_summary("backward");
}
