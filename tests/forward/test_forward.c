/* Forward kernel against the double-precision reference across patterns, shapes and dtypes. */
#include "../check.h"
#include "../plan_case.h"
#include "plan_internal.h"
#include "reference.h"
#include "../storage16.h"
#include "../test_util.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double worst_f32 = 0, worst_f16 = 0, worst_bf16 = 0;

/* Runs one case; returns the max abs error relative to the output scale. */
/* --decomposed-only (with SPARSECL_DECOMPOSE=force): run only the cases that decompose. */
static int decomposed_only;
/* --variant NAME (with SPARSECL_FWD_VARIANT=NAME): every 16-bit case with blocks of 16+ must run on
 * that variant (the matrix-engine kernel, through its emulation on CPUs); the rest fall back. */
static const char *want_variant;
static int on_variant;
static int mask_free; /* plans whose layout has no partial block: kernels built without mask code */

static void run_case(scl_runtime *rt, const plan_case *c)
{
    scl_shape shape = case_shape(c);
    char label[256];
    case_label(c, c->spec, INT_MAX, "", label, sizeof label);
    scl_pattern *pat;
    scl_plan *plan = case_plan(rt, c->spec, &shape, c->dtype, label, &pat);
    if (!plan) return;
    if (want_variant && c->dtype != SCL_F32 && c->block >= 16 && c->d % 16 == 0) {
        CHECK(strcmp(scl_plan_variant(plan), want_variant) == 0, "%s: runs on '%s', not '%s' (%s)", label,
              scl_plan_variant(plan), want_variant, scl_plan_variant_reason(plan));
        on_variant++;
        if (strstr(scl_plan_kernel_options(plan), "-DHAS_MASKS=0")) mask_free++;
    }
    if (decomposed_only && !plan->dec) { /* this run checks decomposed plans only */
        scl_plan_destroy(plan);
        scl_pattern_destroy(pat);
        return;
    }
    size_t nq = (size_t)scli_shape_q_elems(&plan->shape), nk = (size_t)scli_shape_kv_elems(&plan->shape);
    size_t nl = (size_t)c->batch * c->heads * c->n_q;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *o = malloc(nq * 4), *lse = malloc(nl * 4);
    uint16_t *qh = malloc(nq * 2), *kh = malloc(nk * 2), *vh = malloc(nk * 2), *oh = malloc(nq * 2);
    double *oref = malloc(nq * 8), *lref = malloc(nl * 8);
    if (!q || !k || !v || !o || !lse || !qh || !kh || !vh || !oh || !oref || !lref) {
        CHECK(0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nq; i++) q[i] = 2.0f * frand();
    for (size_t i = 0; i < nk; i++) k[i] = 2.0f * frand(), v[i] = frand();
    const bool half = c->dtype != SCL_F32;
    if (half) { /* the reference sees exactly the stored 16-bit values */
        to_storage(c->dtype, q, qh, nq);
        to_storage(c->dtype, k, kh, nk);
        to_storage(c->dtype, v, vh, nk);
    }
    scl_status st = half ? scl_plan_forward_host(plan, qh, kh, vh, oh, lse)
                         : scl_plan_forward_host(plan, q, k, v, o, lse);
    CHECK(st == SCL_OK, "%s: forward: %s", label, scl_last_error_message(rt));
    if (st != SCL_OK) goto done;
    if (half)
        for (size_t i = 0; i < nq; i++) o[i] = load16(c->dtype, oh[i]);
    CHECK(scl_reference_forward(plan->bound, &plan->shape, q, k, v, oref, lref) == 0, "reference");
    double scale = 0, err = 0, lerr = 0;
    int nan = 0, empty_bad = 0;
    for (size_t i = 0; i < nq; i++) scale = fmax(scale, fabs(oref[i]));
    for (size_t i = 0; i < nq; i++) {
        if (isnan(o[i])) nan++;
        err = fmax(err, fabs(o[i] - oref[i]));
    }
    for (size_t i = 0; i < nl; i++) {
        if (isinf(lref[i])) empty_bad += !(isinf(lse[i]) && lse[i] < 0);
        else lerr = fmax(lerr, fabs(lse[i] - lref[i]));
    }
    double rel = err / (scale > 0 ? scale : 1);
    double tol = storage_tol(c->dtype);
    CHECK(nan == 0, "%s: %d NaN outputs", label, nan);
    CHECK(empty_bad == 0, "%s: %d empty rows without LSE = -inf", label, empty_bad);
    CHECK(rel <= tol, "%s: max error %.3g relative to output scale %.3g (tolerance %.0e)", label, rel, scale, tol);
    CHECK(lerr <= tol * fmax(1.0, fabs(lref[0])) * 10, "%s: LSE error %.3g", label, lerr);
    double *worst = c->dtype == SCL_F16 ? &worst_f16 : c->dtype == SCL_BF16 ? &worst_bf16 : &worst_f32;
    *worst = fmax(*worst, rel);
    printf("  %-70s err %.2e  lse err %.2e\n", label, rel, lerr);
done:
    free(q), free(k), free(v), free(o), free(lse), free(qh), free(kh), free(vh), free(oh), free(oref), free(lref);
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
}

static const plan_case cases[] = {
    /* every primitive, N not a multiple of the block */
    {"dense", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND},
    {"causal", 2, 2, 2, 100, 100, 64, 32, SCL_F32, BHND},
    {"local(7)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND},
    {"strided(9)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND},
    {"causal & strided(16)", 1, 2, 2, 1000, 1000, 64, 32, SCL_F32, BHND},
    {"causal & fixed(16, 4)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND},
    {"fixed(20, 3)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND},
    {"dilated(4, 3)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND},
    {"global(0, 40-43)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND},
    {"longformer(5, 0, 77)", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND},
    {"bigbird(3, 1, 2, 7)", 1, 2, 2, 1000, 1000, 64, 32, SCL_F32, BHND},
    {"heads(0: causal; 1: local(3) | global(9))", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND},
    {"(causal | local(20)) & (strided(8) | global(3))", 1, 2, 2, 100, 100, 64, 32, SCL_F32, BHND},
    /* sequence lengths */
    {"causal", 1, 1, 1, 1, 1, 64, 32, SCL_F32, BHND},
    {"dense", 1, 1, 1, 17, 17, 64, 16, SCL_F32, BHND},
    {"causal", 1, 2, 2, 64, 64, 64, 64, SCL_F32, BHND},
    {"causal & strided(64)", 1, 1, 1, 2055, 2055, 64, 64, SCL_F32, BHND},
    /* block sizes and head dims */
    {"causal", 1, 2, 2, 200, 200, 16, 16, SCL_F32, BHND},
    {"local(40)", 1, 2, 2, 300, 300, 32, 128, SCL_F32, BHND},
    {"causal", 1, 1, 1, 150, 150, 128, 64, SCL_F32, BHND},
    {"causal", 1, 1, 1, 130, 130, 256, 32, SCL_F32, BHND},
    {"causal", 1, 1, 1, 90, 90, 80, 16, SCL_F32, BHND},
    {"dense", 1, 1, 1, 70, 70, 96, 32, SCL_F32, BHND},
    /* grouped-query, N_q != N_k, tensor layout, batch */
    {"causal", 2, 4, 2, 77, 77, 64, 32, SCL_F32, BHND},
    {"dense", 1, 4, 1, 50, 130, 64, 32, SCL_F32, BHND},
    {"local(10)", 2, 2, 1, 120, 61, 64, 32, SCL_F32, BNHD},
    /* empty rows: local(0) with N_q > N_k leaves rows N_k.. with no key */
    {"local(0)", 1, 2, 2, 40, 20, 64, 16, SCL_F32, BHND},
    /* half storage */
    {"causal & strided(16)", 2, 2, 1, 300, 300, 64, 32, SCL_F16, BHND},
    {"dense", 1, 2, 2, 100, 100, 128, 64, SCL_F16, BHND},
    {"local(0)", 1, 1, 1, 40, 20, 32, 16, SCL_F16, BHND},
    /* bf16 storage: converted on load by the SIMT kernels, GQA, odd N, BNHD, N_q != N_k */
    {"causal & strided(16)", 2, 2, 1, 300, 300, 64, 32, SCL_BF16, BHND},
    {"dense", 1, 2, 2, 100, 77, 128, 64, SCL_BF16, BNHD},
    {"local(9) | global(3)", 1, 4, 2, 133, 133, 32, 16, SCL_BF16, BHND},
    /* decomposable patterns (strided lines, summary columns, global tokens): N not a multiple of
     * the stride or block, head dims 32/64/128, GQA, N_q != N_k, BNHD, half storage */
    {"causal & strided(24)", 1, 2, 2, 333, 333, 32, 16, SCL_F32, BHND},
    {"strided(16)", 1, 2, 2, 250, 250, 128, 32, SCL_F32, BHND},
    {"causal & fixed(32, 4)", 2, 4, 2, 301, 301, 64, 32, SCL_F32, BHND},
    {"longformer(8, 3, 50-52, 190, 299)", 1, 2, 2, 300, 300, 64, 32, SCL_F32, BNHD},
    {"local(20) | (causal & strided(32))", 1, 2, 1, 400, 400, 64, 32, SCL_F32, BHND},
    {"causal & strided(16)", 1, 2, 2, 150, 200, 64, 32, SCL_F32, BHND},
    {"(causal & strided(16)) | global(7, 100)", 1, 2, 2, 257, 257, 64, 32, SCL_F16, BHND},
    {"causal & fixed(32, 8)", 1, 2, 1, 200, 200, 32, 16, SCL_F16, BNHD},
    /* no partial block (N a multiple of the block, block-level patterns): the mask code left out */
    {"dense", 1, 2, 1, 128, 128, 64, 64, SCL_BF16, BHND},
    {"bigbird(3, 1, 2, 7)", 1, 2, 2, 512, 512, 64, 32, SCL_F16, BNHD},
};

static void test_validation(scl_runtime *rt)
{
    scl_pattern *pat = NULL;
    scl_plan *plan = NULL;
    CHECK(scl_pattern_create(rt, "causal", &pat) == SCL_OK, "pattern");
    scl_shape s = {1, 4, 3, 64, 64, 64, 32, 0, 0};
    CHECK(scl_plan_create(rt, pat, &s, SCL_F32, &plan) == SCL_ERR_INVALID_ARGUMENT && !plan &&
              strstr(scl_last_error_message(rt), "multiple of kv_heads"),
          "H %% H_kv: %s", scl_last_error_message(rt));
    s.kv_heads = 4;
    s.head_dim = 48;
    CHECK(scl_plan_create(rt, pat, &s, SCL_F32, &plan) == SCL_ERR_INVALID_ARGUMENT &&
              strstr(scl_last_error_message(rt), "head dim 48"),
          "head dim: %s", scl_last_error_message(rt));
    s.head_dim = 64;
    s.seq_q = 0;
    CHECK(scl_plan_create(rt, pat, &s, SCL_F32, &plan) == SCL_ERR_INVALID_ARGUMENT, "N = 0");
    s.seq_q = 64;
    s.block = 48;
    CHECK(scl_plan_create(rt, pat, &s, SCL_F32, &plan) == SCL_ERR_INVALID_ARGUMENT, "block 48");
    s.block = 32;
    CHECK(scl_plan_create(rt, NULL, &s, SCL_F32, &plan) == SCL_ERR_INVALID_ARGUMENT, "NULL pattern");
    CHECK(scl_plan_create(rt, pat, NULL, SCL_F32, &plan) == SCL_ERR_INVALID_ARGUMENT, "NULL shape");
    CHECK(scl_plan_create(rt, pat, &s, (scl_dtype)7, &plan) == SCL_ERR_INVALID_ARGUMENT, "bad dtype");
    CHECK(scl_plan_create(rt, pat, &s, SCL_F32, &plan) == SCL_OK, "valid plan: %s", scl_last_error_message(rt));
    if (plan) {
        cl_int err;
        cl_mem small = clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE, 64, NULL, &err);
        scl_plan_sizes sz;
        scl_plan_tensor_sizes(plan, &sz);
        cl_mem big = clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE, sz.q, NULL, &err);
        scl_status st = scl_plan_forward(plan, big, small, big, big, NULL, 0, NULL, NULL);
        CHECK(st == SCL_ERR_INVALID_ARGUMENT && strstr(scl_last_error_message(rt), "tensor k has 64 bytes"),
              "small buffer: %s", scl_last_error_message(rt));
        st = scl_plan_forward(plan, big, big, big, NULL, NULL, 0, NULL, NULL);
        CHECK(st == SCL_ERR_INVALID_ARGUMENT && strstr(scl_last_error_message(rt), "tensor o is NULL"), "NULL o");
        st = scl_plan_forward(plan, big, big, big, big, NULL, 1, NULL, NULL);
        CHECK(st == SCL_ERR_INVALID_ARGUMENT, "wait list NULL with count");
        CHECK(scl_plan_forward(NULL, big, big, big, big, NULL, 0, NULL, NULL) == SCL_ERR_INVALID_ARGUMENT, "NULL plan");
        clReleaseMemObject(small);
        clReleaseMemObject(big);
    }
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
    CHECK(scl_pattern_create(rt, "strided(", &pat) == SCL_ERR_PATTERN && !pat, "bad spec: %s",
          scl_last_error_message(rt));
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--decomposed-only") == 0) decomposed_only = 1;
        if (strcmp(argv[i], "--variant") == 0 && i + 1 < argc) want_variant = argv[++i];
    }
    scl_runtime *rt = test_runtime();
    if (!decomposed_only) test_validation(rt);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(rt, &cases[i]);
    printf("worst error relative to output scale: f32 %.3g (tol 1e-4), f16 %.3g (tol 2e-3), bf16 %.3g (tol 8e-3)\n",
           worst_f32, worst_f16, worst_bf16);
    scl_runtime_destroy(rt);
    if (want_variant) {
        printf("%d cases ran on the '%s' variant\n", on_variant, want_variant);
        CHECK(on_variant > 0, "some cases ran on the '%s' variant", want_variant);
        if (!strcmp(want_variant, "mma") && !decomposed_only)
            CHECK(mask_free > 0, "some cases ran the mma kernel built without mask code (-DHAS_MASKS=0)");
    }
    return check_summary("forward");
}
