/* Shared by the embedding tests: random attention inputs and their double-reference check. */
#ifndef SCL_TEST_ATTN_CHECK_H
#define SCL_TEST_ATTN_CHECK_H

#include "reference.h"
#include "reference_block.h"

#include <math.h>
#include <stdlib.h>

/* max |o - reference| / max |reference| for q, k, v laid out as `shape` (normalised: kv_heads,
 * seq_k and scale filled in). Returns -1 when the reference cannot be computed. */
static inline double attn_error(const char *spec, const scl_shape *shape, const float *q, const float *k,
                                const float *v, const float *o)
{
    spc_pattern *pat = NULL;
    spc_bound *bound = NULL;
    spc_error err = {0};
    spc_geometry g = {shape->seq_q, shape->seq_k, shape->block, shape->heads};
    size_t n = (size_t)shape->batch * shape->heads * shape->seq_q * shape->head_dim;
    double *ref = malloc(n * sizeof *ref),
           *lse = malloc((size_t)shape->batch * shape->heads * shape->seq_q * 8);
    double result = -1;
    if (ref && lse && spc_parse(spec, &pat, &err) == 0 && spc_bind(pat, &g, &bound, &err) == 0 &&
        scl_reference_forward(bound, shape, q, k, v, ref, lse) == 0) {
        double worst, scale;
        compare(o, ref, n, &worst, &scale);
        result = scale > 0 ? worst / scale : worst;
    }
    spc_bound_free(bound);
    spc_pattern_free(pat);
    free(ref);
    free(lse);
    return result;
}

#endif
