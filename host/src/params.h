/* Kernel parameters: one validity check shared by the runtime and the autotuner. */
#ifndef SCL_PARAMS_H
#define SCL_PARAMS_H

#include "sparsecl.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct scl_fwd_params {
    int bq, bk;   /* query rows / key columns per tile; both divide the layout block */
    int tm, tn;   /* per-thread tile: rows x score columns (tn = bk: a thread owns whole rows) */
    int ri, rj;   /* register block of the inner loop nests; divide tm and tn */
    int stage_q;  /* 1: Q tile in local memory; 0: read through the cache */
    int stage_kv; /* 1: K/V tiles in local memory; 0: read through the cache */
    int fast_exp; /* 1: polynomial exp2 (vectorizes on CPUs); 0: built-in exp2 (GPU hardware unit) */
    int vec;      /* explicit vector width of the inner loops (CPU path, tn = bk); 1 = scalar */
    int prep_by_column; /* K/V copy mapping: 1 work-item per head-dim column (CPUs), 0 per key (GPUs) */
} scl_fwd_params;

/* What a parameter set is checked against. */
typedef struct scl_param_context {
    int head_dim, block;
    size_t max_work_group_size;
    size_t local_mem_bytes;
    int max_private_floats; /* per-thread register budget: small on GPUs, large on CPUs */
} scl_param_context;

/* Context for a device (limits read from it) and a problem. */
void scl_param_context_init(scl_param_context *c, const scl_device_info *dev, int head_dim, int block);
/* true when valid; otherwise false with the first reason in `reason`. */
bool scl_fwd_params_check(const scl_fwd_params *p, const scl_param_context *c, char *reason, size_t len);
size_t scl_fwd_local_bytes(const scl_fwd_params *p, int head_dim);
size_t scl_fwd_work_group_size(const scl_fwd_params *p);
/* The built-in starting point of each family (GPU-style or CPU-style), before any adjustment. */
scl_fwd_params scl_fwd_params_start(int gpu);
/* Built-in defaults for a device type, adjusted down until valid for this context. */
bool scl_fwd_params_default(const scl_device_info *dev, const scl_param_context *c, scl_fwd_params *out);
/* The parameters by name (for overrides, tuning databases and the autotuner's space). */
typedef struct scl_param_field {
    const char *name;
    size_t offset; /* of an int inside scl_fwd_params */
} scl_param_field;
const scl_param_field *scl_fwd_param_fields(int *count);
/* Apply "name=value,..." over the int fields of *p named in `fields`; false with a message (which
 * lists the known names) if malformed. `what` names the kind in messages. */
bool scl_params_override(void *p, const scl_param_field *fields, int n, const char *what, const char *text,
                         char *msg, size_t len);
/* Apply "name=value,..." (e.g. from SPARSECL_FWD_PARAMS) over *p; false with a message if malformed. */
bool scl_fwd_params_override(scl_fwd_params *p, const char *text, char *msg, size_t len);
/* The -D options for the compiler. */
void scl_fwd_params_options(const scl_fwd_params *p, const scl_param_context *c, scl_dtype dtype, char *out,
                            size_t len);

#endif
