/* One case of the kernel tests: its pattern and plan, made with a failure counted and reported
 * under the case's label. Needs check.h first. */
#ifndef SCL_TEST_PLAN_CASE_H
#define SCL_TEST_PLAN_CASE_H

#include "sparsecl.h"

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
