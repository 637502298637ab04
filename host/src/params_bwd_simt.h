/* Parameters of the portable SIMT backward kernels (kernels/attn_bwd.cl): the schema's table. */
#ifndef SCLI_PARAMS_BWD_SIMT_H
#define SCLI_PARAMS_BWD_SIMT_H

#include "param_schema.h"

typedef struct scli_bwd_params {
    int dq_bq, dq_bk, dq_tm; /* dQ kernel: query rows per work-group, key tile, query rows per thread */
    int kv_bk, kv_bq, kv_tn; /* dK/dV kernel: key rows per work-group, query tile, key rows per thread */
    int ri, rj;              /* register block of the inner loop nests (rows x columns) */
    int stage;               /* 1: the shared operand tiles in local memory; 0: read through the cache */
    int fast_exp;            /* 1: polynomial exp2 (vectorizes on CPUs); 0: built-in exp2 */
    int vec;                 /* explicit vector width of the inner loops; 1 = scalar */
} scli_bwd_params;

extern const scli_param_schema scli_bwd_simt_schema;

/* Local memory of each kernel (the larger of the two is what the check compares). */
size_t scli_bwd_local_bytes(const scli_bwd_params *p, int head_dim);
size_t scli_bwd_dq_work_group_size(const scli_bwd_params *p);
size_t scli_bwd_dkv_work_group_size(const scli_bwd_params *p);

#endif
