/* One case of the kernel tests: its pattern, shape and storage, its label, and its plan, made with
 * a failure counted and reported under that label. Needs check.h first. */
#ifndef SCL_TEST_PLAN_CASE_H
#define SCL_TEST_PLAN_CASE_H

#include "param_schema.h"
#include "sparsecl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The runtime on $SPARSECL_TEST_DEVICE (the default device when unset), its name printed; without
 * one the test exits 1. */
static inline scl_runtime *test_runtime(void)
{
    scl_runtime *rt = NULL;
    if (scl_runtime_create(getenv("SPARSECL_TEST_DEVICE"), &rt) != SCL_OK) {
        fprintf(stderr, "no device: %s\n", scl_last_error_message(rt));
        scl_runtime_destroy(rt);
        exit(1);
    }
    printf("device: %s\n", scl_runtime_device(rt)->name);
    return rt;
}

/* The tensor layouts as the case tables spell them. */
#define BHND SCL_LAYOUT_BHND
#define BNHD SCL_LAYOUT_BNHD

/* A case of the forward and backward kernel tests (the backward one adds a parameter family). */
typedef struct plan_case {
    const char *spec;
    int batch, heads, kv_heads;
    int64_t n_q, n_k;
    int d, block;
    scl_dtype dtype;
    scl_tensor_layout layout;
} plan_case;

/* The case's shape, at the default scale. */
static inline scl_shape case_shape(const plan_case *c)
{
    scl_shape s = {c->batch, c->heads, c->kv_heads, c->n_q, c->n_k, c->d, c->block, 0.0f, c->layout};
    return s;
}

/* "'SPEC' B=.. H=../.. N=../.. d=.. b=.. DTYPE[ BNHD]" with spec (the case's, or the file a
 * placeholder stands for) cut to spec_chars characters, then extra. */
static inline void case_label(const plan_case *c, const char *spec, int spec_chars, const char *extra,
                              char *out, size_t len)
{
    snprintf(out, len, "'%.*s' B=%d H=%d/%d N=%lld/%lld d=%d b=%d %s%s%s", spec_chars, spec, c->batch,
             c->heads, c->kv_heads, (long long)c->n_q, (long long)c->n_k, c->d, c->block,
             scli_dtype_name(c->dtype), c->layout == SCL_LAYOUT_BNHD ? " BNHD" : "", extra);
}

/* The plan of spec over shape s in dtype t (*pat its pattern), or NULL with nothing left to free. */
static inline scl_plan *case_plan(scl_runtime *rt, const char *spec, const scl_shape *s, scl_dtype t,
                                  const char *label, scl_pattern **pat)
{
    scl_plan *plan = NULL;
    *pat = NULL;
    if (scl_pattern_create(rt, spec, pat) == SCL_OK && scl_plan_create(rt, *pat, s, t, &plan) == SCL_OK)
        return plan;
    CHECK(0, "%s: %s", label, scl_last_error_message(rt));
    scl_pattern_destroy(*pat);
    *pat = NULL;
    return NULL;
}

/* The tolerance of a kernel against the double reference, relative to the output scale: storage
 * rounding alone is 2^-11 (f16) or 2^-8 (bf16) of it. */
static inline double storage_tol(scl_dtype t)
{
    return t == SCL_F16 ? 2e-3 : t == SCL_BF16 ? 8e-3 : 1e-4;
}

#endif
