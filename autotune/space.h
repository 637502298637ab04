/* Kernel parameter spaces: one implementation serves every tuned kernel through a small
 * descriptor (name, field table, validity check, start values, GPU- and CPU-style dimension lists,
 * tie rules). Points are pruned by the kernel's own validity check (host/src/params.c,
 * host/src/backward_params.c) against the device's limits. */
#ifndef SCL_SPACE_H
#define SCL_SPACE_H

#include "backward_params.h"
#include "params.h"
#include "search.h"

#include <stdio.h>

typedef struct at_dim {
    const char *name; /* a field of the kernel's parameter struct */
    int n;
    int values[8];
} at_dim;

/* Storage for either kernel's parameters. Always zero it before filling: points are compared
 * with memcmp over the kernel's struct size. */
typedef union at_params {
    scl_fwd_params fwd;
    scl_bwd_params bwd;
} at_params;

typedef struct at_kernel {
    const char *name;      /* tuning-database "kernel": "attn_fwd", "attn_bwd" */
    const char *direction; /* "forward", "backward" */
    size_t size;           /* of the parameter struct inside at_params */
    const scl_param_field *(*fields)(int *count);
    bool (*check)(const at_params *p, const scl_param_context *c, char *reason, size_t len);
    at_params (*start)(int gpu);
    bool (*defaults)(const scl_device_info *dev, const scl_param_context *c, at_params *out);
    const at_dim *dims[2]; /* [0] CPU-style, [1] GPU-style; values in increasing order */
    int n_dims[2];
    /* Parameters derived from the searched ones (e.g. a CPU thread owns whole rows). */
    void (*tie)(at_params *p, int gpu_family);
    double flops_per_pair; /* x head_dim per allowed (query, key) pair, for GFLOP/s */
} at_kernel;

extern const at_kernel at_kernel_fwd, at_kernel_bwd;
/* "forward" / "backward" or the kernel name; NULL when unknown. */
const at_kernel *at_kernel_find(const char *name);

typedef struct at_kspace {
    at_space space;
    const at_kernel *kernel;
    int n_dims;
    at_dim dims[AT_MAX_DIMS];
    at_params base; /* values of the parameters that are not searched */
    int total;      /* points before pruning */
    int gpu_family; /* 1: GPU-style points; 0: CPU-style */
} at_kspace;

/* Families: "gpu" (many threads per tile, local-memory tiles) or "cpu" (a thread owns whole
 * score rows, explicit vectors). `verbose` (may be NULL) receives every rejected point and why. */
int at_kspace_build(const at_kernel *k, const scl_param_context *pc, int gpu_family, FILE *verbose,
                    at_kspace *out);
void at_kspace_free(at_kspace *s);
void at_kspace_point(const at_kspace *s, int index, at_params *out);
/* Index of the valid point equal to p, or -1. */
int at_kspace_find(const at_kspace *s, const at_params *p);
/* "bq=16,bk=64,..." for messages. */
void at_params_text(const at_kernel *k, const at_params *p, char *out, size_t len);

/* The forward kernel's names for the same operations. */
typedef at_kspace at_fwd_space;
int at_fwd_space_build(const scl_param_context *pc, int gpu_family, FILE *verbose, at_fwd_space *out);
void at_fwd_space_free(at_fwd_space *s);
void at_fwd_point_params(const at_fwd_space *s, int index, scl_fwd_params *out);
int at_fwd_space_find(const at_fwd_space *s, const scl_fwd_params *p);
void at_fwd_params_text(const scl_fwd_params *p, char *out, size_t len);

#endif
