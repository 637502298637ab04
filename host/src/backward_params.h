/* Backward-kernel parameters: the same validity check serves the runtime and the autotuner. */
#ifndef SCL_BACKWARD_PARAMS_H
#define SCL_BACKWARD_PARAMS_H

#include "params.h"

typedef struct scl_bwd_params {
    int dq_bq, dq_bk, dq_tm; /* dQ kernel: query rows per work-group, key tile, query rows per thread */
    int kv_bk, kv_bq, kv_tn; /* dK/dV kernel: key rows per work-group, query tile, key rows per thread */
    int ri, rj;              /* register block of the inner loop nests (rows x columns) */
    int stage;               /* 1: the shared operand tiles in local memory; 0: read through the cache */
    int fast_exp;            /* 1: polynomial exp2 (vectorizes on CPUs); 0: built-in exp2 */
    int vec;                 /* explicit vector width of the inner loops; 1 = scalar */
} scl_bwd_params;

/* true when valid; otherwise false with the first reason in `reason`. */
bool scl_bwd_params_check(const scl_bwd_params *p, const scl_param_context *c, char *reason, size_t len);
/* Local memory of each kernel (the larger of the two is what the check compares). */
size_t scl_bwd_local_bytes(const scl_bwd_params *p, int head_dim);
size_t scl_bwd_dq_work_group_size(const scl_bwd_params *p);
size_t scl_bwd_dkv_work_group_size(const scl_bwd_params *p);
/* The built-in starting point of each family (GPU-style or CPU-style). */
scl_bwd_params scl_bwd_params_start(int gpu);
/* Built-in defaults for a device type, adjusted down until valid for this context. */
bool scl_bwd_params_default(const scl_device_info *dev, const scl_param_context *c, scl_bwd_params *out);
/* The parameters by name (offsets of ints inside scl_bwd_params). */
const scl_param_field *scl_bwd_param_fields(int *count);
/* Apply "name=value,..." (e.g. from SPARSECL_BWD_PARAMS) over *p; false with a message if malformed. */
bool scl_bwd_params_override(scl_bwd_params *p, const char *text, char *msg, size_t len);
/* The -D options for the compiler. */
void scl_bwd_params_options(const scl_bwd_params *p, const scl_param_context *c, scl_dtype dtype, char *out,
                            size_t len);

#endif
