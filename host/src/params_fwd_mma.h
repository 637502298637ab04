/* Parameters of the matrix-engine forward kernel (kernels/attn_fwd_mma.cl): the schema's table. */
#ifndef SCLI_PARAMS_FWD_MMA_H
#define SCLI_PARAMS_FWD_MMA_H

#include "param_schema.h"

typedef struct scli_fwd_mma_params {
    int bq;      /* query rows per work-group: 16 x warps x m16 tiles per warp; divides the block */
    int bk;      /* keys per K/V tile: a multiple of 16 dividing the block */
    int warps;   /* warps per work-group */
    int stages;  /* 2: K/V tiles double-buffered; 1: FlashAttention-2's single-buffer order */
    int swizzle; /* 1: XOR-swizzled local tiles (no bank conflicts for ldmatrix) */
    int qreg;    /* 1: Q fragments held in registers; 0: re-read from local memory (fewer registers;
                    wgmma: read by descriptor) */
    int subs;    /* online-softmax sub-tiles per key tile (bk / 16 a multiple of it) */
    int fuse_pv; /* 1: each k16 step's P V products right after its P */
    int wgmma;   /* 1: Hopper's warpgroup MMA (64-row tiles per 4 warps) instead of mma.sync */
    int wg_pipe; /* wgmma: 1 = tile t's softmax while tile t-1's P V runs (needs stages = 2) */
    int wg_pp;   /* wgmma, pipelined, 8 warps: 1 = the two warpgroups take turns on the tensor cores,
                    K/V tiles published by mbarriers (a third V buffer) */
    int min_groups; /* wgmma build: > 0 = ptxas fits registers to this many work-groups per SM
                       (.minnctapersm, host/src/ptx_wgmma.c); 0 = its own choice */
} scli_fwd_mma_params;

extern const scli_param_schema scli_fwd_mma_schema;

/* Static local memory of the kernel: Q tile, STAGES K and V tiles (16-bit; wg_pp: 2 K and 3 V
 * tiles and 10 mbarriers), plus the emulation's exchange scratch when `emulated`. */
size_t scli_fwd_mma_local_bytes(const scli_fwd_mma_params *p, int head_dim, int emulated);

#endif
