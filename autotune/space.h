/* Kernel parameter spaces, derived from a variant's parameter schema (host/src/param_schema.h):
 * its rows' search values per device family are the dimensions; points are completed by the
 * schema's tie rule and pruned by its validity check against the device's limits. */
#ifndef SCL_SPACE_H
#define SCL_SPACE_H

#include "params_bwd_simt.h"
#include "params_fwd_mma.h"
#include "params_fwd_simt.h"
#include "search.h"

#include <stdio.h>

/* Storage for any kernel's parameters. Always zero it before filling: points are compared with
 * memcmp over the schema's struct size. */
typedef union at_params {
    scli_fwd_params fwd;
    scli_bwd_params bwd;
    scli_fwd_mma_params mma;
    scli_param_values any;
} at_params;

typedef struct at_dim {
    int param; /* row of the schema */
    int n;
    int values[SCL_PARAM_VALUES];
} at_dim;

typedef struct at_kspace {
    at_space space;
    const scli_param_schema *kernel;
    int n_dims;
    at_dim dims[AT_MAX_DIMS];
    at_params base; /* values of the parameters that are not searched */
    int total;      /* points before pruning */
    int family;     /* SCLI_FAMILY_GPU: GPU-style points; SCLI_FAMILY_CPU: CPU-style */
} at_kspace;

/* Families: GPU-style (many threads per tile, local-memory tiles) or CPU-style (a thread owns
 * whole score rows, explicit vectors). `verbose` (may be NULL) receives every rejected point and why. */
int at_kspace_build(const scli_param_schema *k, const scli_param_context *pc, int family, FILE *verbose,
                    at_kspace *out);
void at_kspace_free(at_kspace *s);
void at_kspace_point(const at_kspace *s, int index, at_params *out);
/* Index of the valid point equal to p, or -1. */
int at_kspace_find(const at_kspace *s, const at_params *p);

#endif
