/* Plan internals shared by plan creation and execution. */
#ifndef SCLI_PLAN_INTERNAL_H
#define SCLI_PLAN_INTERNAL_H

#include "internal.h"
#include "params_bwd_simt.h"
#include "scl_patterns.h"
#include "shape.h"
#include "variants.h"

#include <stdio.h>

struct scl_pattern {
    spc_pattern *spec;
};

/* Backward-pass state (kernels, column-LUT buffers, scratch), made on the first backward call so
 * forward-only users never build or upload it. Defined in backward.c. */
typedef struct scli_bwd_state scli_bwd_state;
void scli_bwd_state_free(scli_bwd_state *b);

/* A decomposed plan's components (decomposed.c). */
typedef struct scli_decomp scli_decomp;

/* Every command one call enqueued (events retained), so timings span all of them. */
typedef struct scli_events {
    cl_event e[48];
    const char *what[48]; /* the kernel each event ran, for profiles */
    int n;
} scli_events;

/* What a kind of plan does: the block-LUT plan (plan.c, backward.c) and the decomposed plan
 * (decomposed.c) implement it; the public entry points dispatch through it. Tensors are
 * {q, k, v, o, lse} (forward) or {q, k, v, o, lse, dout, dq, dk, dv} (backward). */
typedef struct scli_plan_ops {
    scl_status (*forward)(scl_plan *p, const cl_mem t[5], cl_uint num_wait, const cl_event *wait_list,
                          scli_events *all, cl_event *event);
    scl_status (*backward)(scl_plan *p, const cl_mem t[9], cl_uint num_wait, const cl_event *wait_list,
                           scli_events *all, cl_event *event);
    /* (Re)build the backward kernels with explicit parameters (NULL: look-up order). */
    scl_status (*prepare_backward)(scl_plan *p, const scli_bwd_params *params);
    /* The plan whose backward options and source stand for this plan's. */
    const scl_plan *(*backward_owner)(const scl_plan *p);
    double (*computed_pairs)(const scl_plan *p);
    int (*components)(const scl_plan *p);
    /* Device bytes held now, and those the backward holds or will allocate on its first call. */
    size_t (*device_bytes)(const scl_plan *p);
    size_t (*backward_bytes)(const scl_plan *p);
} scli_plan_ops;
extern const scli_plan_ops scli_lut_plan_ops;

/* How a plan is made beyond its shape: the public options plus what internal callers set. */
typedef struct scli_plan_config {
    int decompose;          /* an spc_decompose_mode, or SCLI_DECOMPOSE_ENV */
    const char *variant;    /* forward variant wanted (NULL: $SPARSECL_FWD_VARIANT, else the default order) */
    const char *fwd_params; /* name=value overrides of the forward parameters (NULL: none) */
    const char *bwd_params; /* the same for the backward */
    const void *fwd_explicit; /* the autotuner's candidate (NULL: look-up order) */
    bool ignore_tuning;       /* skip the tuning databases: built-in defaults */
} scli_plan_config;
#define SCLI_DECOMPOSE_ENV (-1)

/* A component's sub-plan reads its tensors with these strides, and its K/V copy (or, where the
 * variant maps_rows, its kernel) gathers key r from row kv_map[r] of the caller's K and V (kv_src
 * strides, kv_src_bytes each; borrowed). Where q_map is set (maps_rows variants only), query row r
 * is row q_map[r] of the caller's Q, O (q_src_bytes each) and LSE (lse_rows a head); with merge
 * the kernel merges into the O and LSE the previous components wrote. */
typedef struct scli_subplan_io {
    scli_strides qs, ks;
    cl_mem kv_map;
    scli_strides kv_src;
    size_t kv_src_bytes;
    cl_mem q_map;
    size_t q_src_bytes;
    int64_t lse_rows;
    bool merge;
} scli_subplan_io;

/* Split rows (plan_split.c): n_work work-groups (work: int4 (query tile, chunk, chunks, slot)),
 * n_tiles of them split (tiles: int4 (query tile, chunks, first slot, 0)) into n_slots chunks whose
 * f32 O and LSE wait in part_o, part_l for the merge kernel. All zero: no row split. */
typedef struct scli_split {
    cl_mem work, tiles, part_o, part_l;
    cl_kernel merge;
    int n_work, n_tiles, n_slots;
} scli_split;

struct scl_plan {
    const scli_plan_ops *ops;
    scl_runtime *rt;
    scl_shape shape; /* normalised */
    char block_reason[1024]; /* why shape.block: given, or how SCL_BLOCK_AUTO chose it */
    scl_dtype dtype;
    scli_plan_config cfg;
    scli_strides qs, ks;
    spc_bound *bound;
    spc_lut *lut;
    spc_stats stats;
    const scli_fwd_variant *variant;
    char variant_reason[640];
    scli_param_values fwd;
    bool fwd_tuned; /* the forward parameters came from a tuning database */
    char fwd_options[512];
    char fwd_source[1400]; /* where the parameters came from: database entry, defaults, override */
    cl_program fwd_program;
    cl_kernel fwd_kernel, prep_kernel;
    cl_mem row_ptr, col_idx, row_mask, masks, head_layout;
    int64_t nkp;   /* key length padded to the layout block */
    cl_mem kt, vp; /* scratch: the variant's K and V copies [B*H_kv][nkp][d], zero-padded */
    cl_mem kv_map; /* see scli_subplan_io; NULL: key r is row r */
    scli_strides kv_src;
    size_t kv_src_bytes;
    cl_mem q_map;       /* see scli_subplan_io; NULL: query row r is row r */
    size_t q_src_bytes; /* with q_map: the caller's Q and O */
    int64_t lse_rows;   /* LSE rows a head (0: seq_q) */
    bool merge;
    bool kv_in_place; /* the kernel reads the caller's K and V: no copy, no kt/vp scratch */
    scli_split split;
    cl_event last_fwd; /* the last forward's attention kernel: the next copy into kt/vp waits for it
                        * (matters on out-of-order queues, where two calls could overlap) */
    scli_bwd_state *bwd;
    scli_decomp *dec; /* a decomposed plan's components (their sub-plans own LUTs and kernels) */
    double create_ms;
    int from_cache;
};

/* Split rows (plan_split.c): choose and upload them for p->variant and p->fwd (nothing split where
 * the variant cannot, or no row is long), make the merge kernel once p->fwd_program is built,
 * enqueue the merge after `after` (pushed to all), release everything. */
scl_status scli_split_plan(scl_plan *p);
scl_status scli_split_kernel(scl_plan *p);
scl_status scli_split_merge(scl_plan *p, cl_mem o, cl_mem lse, cl_event after, scli_events *all, cl_event *done);
void scli_split_release(scl_plan *p);

/* Parameters of schema k in look-up order: explicit (the autotuner's candidates), a tuning
 * database entry valid here (the runtime's databases), the built-in defaults of the device type;
 * then name=value overrides from `overrides` and from the schema's environment variable. */
typedef struct scli_param_choice {
    const void *explicit_params; /* NULL: look-up order */
    const char *overrides;       /* name=value list (NULL: none) */
    bool ignore_tuning;          /* skip the databases */
    bool from_database;          /* out: the parameters came from a database entry */
} scli_param_choice;
scl_status scli_choose_params(scl_runtime *rt, const scli_param_schema *k, const scli_param_context *pc,
                             scl_dtype dtype, scli_param_choice *how, void *out, char *source, size_t len);

/* An on/off switch from the environment: unset, empty or 0 is off, 1 is on, anything else an error
 * that names the variable. */
scl_status scli_env_flag(scl_runtime *rt, const char *name, bool *on);

/* A device buffer of the plan's context (copied from `data` unless NULL; 0 bytes get one int);
 * failures name `what` and the size. */
scl_status scli_plan_buffer(scl_plan *p, cl_mem_flags flags, size_t bytes, const void *data, cl_mem *out,
                           const char *what);
/* Sum of CL_MEM_SIZE over n buffers (NULL entries count 0). */
size_t scli_mem_bytes(const cl_mem *m, size_t n);
/* A caller's buffer must be at least as large as the shape needs (NULL allowed when optional). */
scl_status scli_plan_check_buffer(scl_plan *p, cl_mem m, size_t need, const char *name, bool optional);
/* The tensors of a call, {q, k, v, o, lse, dout, dq, dk, dv} (forward: the first five, lse optional),
 * checked against the plan's sizes. */
scl_status scli_plan_check_tensors(scl_plan *p, const cl_mem t[9], bool backward);
/* Device time from the earliest start to the latest end over n completed, profiled events. */
double scli_events_span_ms(const cl_event *ev, int n);

/* A plan made with a configuration (the public options and the autotuner's explicit parameters). */
scl_status scli_plan_create_config(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                                  scl_dtype dtype, const scli_plan_config *cfg, scl_plan **out);
/* A plan over an already compiled LUT (taken over, freed on failure too): a component of a
 * decomposed plan. The shape's lengths are the LUT's. */
scl_status scli_plan_create_from_lut(scl_runtime *rt, spc_lut *lut, const scl_shape *shape, scl_dtype dtype,
                                    const scli_plan_config *cfg, const scli_subplan_io *io, scl_plan **out);
/* The autotuner's entry: explicit forward parameters of schema k's variant (NULL: look-up order). */
scl_status scli_plan_create_with_params(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                                       scl_dtype dtype, const scli_param_schema *k, const void *fwd_params,
                                       scl_plan **out);

void scli_events_push(scli_events *all, cl_event e, const char *what); /* retains; NULL `all` or event: no-op */
void scli_events_release(scli_events *all);
/* One line per command of `all` (kernel, device time, share of the span) on f, for --profile. */
void scli_events_print(const scli_events *all, FILE *f);
/* The forward pass with every command's event collected into `all` (may be NULL). */
scl_status scli_plan_forward_events(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                   cl_uint num_wait, const cl_event *wait_list, scli_events *all,
                                   cl_event *event);

#endif
