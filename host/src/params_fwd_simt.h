/* Parameters of the portable SIMT forward kernel (kernels/attn_fwd.cl): the schema's table. */
#ifndef SCLI_PARAMS_FWD_SIMT_H
#define SCLI_PARAMS_FWD_SIMT_H

#include "param_schema.h"

typedef struct scli_fwd_params {
    int bq, bk;         /* query rows / key columns per tile; both divide the layout block */
    int tm, tn;         /* per-thread tile: rows x score columns (tn = bk: a thread owns whole rows) */
    int ri, rj;         /* register block of the inner loop nests; divide tm and tn */
    int stage_q;        /* 1: Q tile in local memory; 0: read through the cache */
    int stage_kv;       /* 1: K/V tiles in local memory; 0: read through the cache */
    int fast_exp;       /* 1: polynomial exp2 (vectorizes on CPUs); 0: built-in exp2 (GPU hardware unit) */
    int vec;            /* explicit vector width of the inner loops (CPU path, tn = bk); 1 = scalar */
    int prep_by_column; /* K/V copy mapping: 1 work-item per head-dim column (CPUs), 0 per key (GPUs) */
} scli_fwd_params;

extern const scli_param_schema scli_fwd_simt_schema;

size_t scli_fwd_local_bytes(const scli_fwd_params *p, int head_dim);
size_t scli_fwd_work_group_size(const scli_fwd_params *p);

#endif
