/* The kernel-variant registry: for each operation, the variants that can run it (today the
 * portable SIMT kernels; matrix-engine kernels join here), what each needs, and the choice. */
#ifndef SCLI_VARIANTS_H
#define SCLI_VARIANTS_H

#include "param_schema.h"

/* What a forward variant is asked to run. */
typedef struct scli_variant_query {
    const scl_device_info *dev;
    scl_dtype dtype;
    int head_dim, block;
    int full_blocks_only; /* 1: the layout has no partial block (a kernel may leave its mask code out) */
    int mapped;           /* 1: a component reading rows through maps, merging (maps_rows below) */
    int split;            /* 1: rows split into chunks (splits_rows below) */
} scli_variant_query;

typedef struct scli_fwd_variant {
    const char *name; /* "simt", "mma": SPARSECL_FWD_VARIANT, plan options, tuning databases */
    const scli_param_schema *schema;
    const char *kernel_file; /* its attn_prep_kv and attention kernels (same arguments in every variant) */
    const char *kernel_name; /* the attention kernel's name in kernel_file */
    /* true when it can run q here; else false with why not. */
    bool (*qualifies)(const scli_variant_query *q, char *why, size_t len);
    /* May be NULL: true when, asked for by name where it does not qualify, it runs q through a
     * portable emulation of its primitives instead (slow: for testing on any device). */
    bool (*emulated)(const scli_variant_query *q, char *why, size_t len);
    /* Build options beyond the schema's (e.g. which primitives implementation); may be NULL. */
    void (*extra_options)(const scli_variant_query *q, char *out, size_t len);
    /* Launch geometry from a parameter set: work-items per group, query rows per group, and the
     * K/V copy's form (1: a work-item per head-dim column, CPU form; 0: 32 x 32 tiles, GPU form). */
    size_t (*work_group_size)(const void *p);
    int (*rows_per_group)(const void *p);
    int (*prep_by_column)(const void *p);
    /* 1: the attention kernel reads K and V in place when their rows are 16-byte aligned and no key
     * map applies, or one it reads through (maps_rows; host/src/plan.c reads_kv_in_place): no
     * attn_prep_kv copy, no scratch; three more arguments follow the scale, the K/V batch, head
     * and row strides in elements (the padded copy's when it is used). */
    int reads_kv_in_place;
    /* 1 (needs reads_kv_in_place): four more arguments after the K/V strides, q_map, kv_map, lse_n,
     * merge: a decomposed plan's component reads the caller's Q, K, V and writes (merging) its O
     * and LSE through its row and key maps, without gathered copies (kernels/attn_fwd_mma.cl). */
    int maps_rows;
    /* 1 (needs maps_rows): three more arguments, split, part_o, part_l, and a second kernel,
     * attn_fwd_split_merge: long rows run as chunks on work-groups of their own, merged by LSE
     * (host/src/plan_split.c). */
    int splits_rows;
} scli_fwd_variant;

/* Registered forward variants, in the default order of preference. */
const scli_fwd_variant *scli_fwd_variant_at(int i);
int scli_fwd_variant_count(void);
const scli_fwd_variant *scli_fwd_variant_find(const char *name);
/* The variant for q: `preferred` (NULL or "" = $SPARSECL_FWD_VARIANT, else the first that qualifies).
 * A preferred variant that cannot run q falls back to the first that can, saying why in
 * `reason`; NULL (with reason) when the name is unknown or nothing qualifies. */
const scli_fwd_variant *scli_fwd_variant_choose(const scli_variant_query *q, const char *preferred, char *reason,
                                              size_t len);

/* Every parameter schema (forward variants, backward), for tuning databases and the tuner. */
const scli_param_schema *scli_schema_find(const char *kernel, const char *variant);

#endif
