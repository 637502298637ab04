/* The forward kernel's parameter space: candidate values per parameter, pruned by the shared
 * validity check (host/src/params.c) against the device's limits. */
#ifndef SCL_SPACE_H
#define SCL_SPACE_H

#include "params.h"
#include "search.h"

#include <stdio.h>

typedef struct at_dim {
    const char *name; /* a field of scl_fwd_params */
    int n;
    int values[8];
} at_dim;

typedef struct at_fwd_space {
    at_space space;
    int n_dims;
    at_dim dims[AT_MAX_DIMS];
    scl_fwd_params base; /* values of the parameters that are not searched */
    int total;           /* points before pruning */
    int gpu_family;      /* 1: GPU-style points (ri = tm, rj = tn); 0: CPU-style (tm = bq, tn = bk) */
} at_fwd_space;

/* Families: "gpu" (many threads per tile, local-memory tiles) or "cpu" (a thread owns whole
 * score rows, explicit vectors). `verbose` (may be NULL) receives every rejected point and why. */
int at_fwd_space_build(const scl_param_context *pc, int gpu_family, FILE *verbose, at_fwd_space *out);
void at_fwd_space_free(at_fwd_space *s);
void at_fwd_point_params(const at_fwd_space *s, int index, scl_fwd_params *out);
/* Index of the valid point equal to p, or -1. */
int at_fwd_space_find(const at_fwd_space *s, const scl_fwd_params *p);
/* "bq=16,bk=64,..." for messages. */
void at_fwd_params_text(const scl_fwd_params *p, char *out, size_t len);

#endif
