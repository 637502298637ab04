/* Plan internals shared by plan creation and execution. */
#ifndef SCL_PLAN_INTERNAL_H
#define SCL_PLAN_INTERNAL_H

#include "internal.h"
#include "params.h"
#include "scl_patterns.h"
#include "shape.h"

#include <stdio.h>

struct scl_pattern {
    spc_pattern *spec;
};

/* Backward-pass state (kernels, column-LUT buffers, scratch), made on the first backward call so
 * forward-only users never build or upload it. Defined in backward.c. */
typedef struct scl_bwd_state scl_bwd_state;
void scl_bwd_state_free(scl_bwd_state *b);

/* A decomposed plan's components (decomposed.c); NULL for plain block-LUT plans. */
typedef struct scl_decomp scl_decomp;

struct scl_plan {
    scl_runtime *rt;
    scl_shape shape; /* normalised */
    scl_dtype dtype;
    scl_strides qs, ks;
    spc_bound *bound;
    spc_lut *lut;
    spc_stats stats;
    scl_fwd_params fwd;
    char fwd_options[512];
    char fwd_source[1400]; /* where the parameters came from: database entry, defaults, override */
    cl_program fwd_program;
    cl_kernel fwd_kernel, prep_kernel;
    cl_mem row_ptr, col_idx, row_mask, masks, head_layout;
    int64_t nkp;       /* key length padded to the layout block */
    cl_mem kt, vp;     /* scratch: K^T [B*H_kv][d][nkp] and V [B*H_kv][nkp][d], zero-padded */
    /* A decomposed plan's component: the forward's K/V copy gathers key r from row kv_map[r] of
     * the caller's K and V (kv_src strides, kv_src_bytes each; kv_map is borrowed); NULL: row r. */
    cl_mem kv_map;
    scl_strides kv_src;
    size_t kv_src_bytes;
    cl_event last_fwd; /* the last forward's attention kernel: the next copy into kt/vp waits for it
                        * (matters on out-of-order queues, where two calls could overlap) */
    scl_bwd_state *bwd;
    scl_decomp *dec; /* when set, the plan runs its components' sub-plans (no LUT or kernels of its own) */
    double create_ms;
    int from_cache;
};

/* A kind of kernel parameters (forward, backward), so one function chooses them in look-up order:
 * explicit (the autotuner's candidates), a tuning database entry valid here, the built-in defaults
 * of the device type; then single-parameter overrides from the kind's environment variable. */
typedef struct scl_param_kind {
    const char *what; /* "forward", "backward": for messages */
    const char *env;  /* e.g. SPARSECL_FWD_PARAMS */
    size_t size;      /* of the parameter struct */
    bool (*check)(const void *p, const scl_param_context *c, char *reason, size_t len);
    bool (*defaults)(const scl_device_info *dev, const scl_param_context *c, void *out);
    bool (*lookup)(const scl_device_info *dev, const scl_param_context *c, scl_dtype dtype, void *out,
                   char *source, size_t len);
    bool (*override)(void *p, const char *text, char *msg, size_t len);
} scl_param_kind;
scl_status scl_choose_params(scl_runtime *rt, const scl_param_kind *kind, const scl_param_context *pc,
                             scl_dtype dtype, const void *explicit_params, void *out, char *source, size_t len);

/* A device buffer of the plan's context (copied from `data` unless NULL; 0 bytes get one int);
 * failures name `what` and the size. */
scl_status scl_plan_buffer(scl_plan *p, cl_mem_flags flags, size_t bytes, const void *data, cl_mem *out,
                           const char *what);
/* Device bytes the plan holds (LUT, scratch; a decomposed plan's components), by CL_MEM_SIZE. */
size_t scl_plan_device_bytes(const scl_plan *p);
/* Sum of CL_MEM_SIZE over n buffers (NULL entries count 0). */
size_t scl_mem_bytes(const cl_mem *m, size_t n);
/* A caller's buffer must be at least as large as the shape needs (NULL allowed when optional). */
scl_status scl_plan_check_buffer(scl_plan *p, cl_mem m, size_t need, const char *name, bool optional);
/* The tensors of a call, {q, k, v, o, lse, dout, dq, dk, dv} (forward: the first five, lse optional),
 * checked against the plan's sizes. */
scl_status scl_plan_check_tensors(scl_plan *p, const cl_mem t[9], bool backward);
/* Device time from the earliest start to the latest end over n completed, profiled events. */
double scl_events_span_ms(const cl_event *ev, int n);

/* scl_plan_create with explicit forward parameters (NULL: look-up order). For the autotuner. */
scl_status scl_plan_create_with_params(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                                       scl_dtype dtype, const scl_fwd_params *params, scl_plan **out);
/* Same with the decomposition mode (an spc_decompose_mode, or SCL_DECOMPOSE_ENV: $SPARSECL_DECOMPOSE). */
#define SCL_DECOMPOSE_ENV (-1)
scl_status scl_plan_create_mode(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                                scl_dtype dtype, const scl_fwd_params *params, int mode, scl_plan **out);
/* A plan over an already compiled LUT (taken over, freed on failure too): a component of a
 * decomposed plan. The shape's lengths are the LUT's. */
scl_status scl_plan_create_from_lut(scl_runtime *rt, spc_lut *lut, const scl_shape *shape, scl_dtype dtype,
                                    const scl_fwd_params *params, scl_plan **out);

/* Every command one call enqueued (events retained), so timings span all of them. */
typedef struct scl_events {
    cl_event e[48];
    const char *what[48]; /* the kernel each event ran, for profiles */
    int n;
} scl_events;
void scl_events_push(scl_events *all, cl_event e, const char *what); /* retains; NULL `all` or event: no-op */
void scl_events_release(scl_events *all);
/* One line per command of `all` (kernel, device time, share of the span) on f, for --profile. */
void scl_events_print(const scl_events *all, FILE *f);
/* The forward pass with every command's event collected into `all` (may be NULL). */
scl_status scl_plan_forward_events(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                   cl_uint num_wait, const cl_event *wait_list, scl_events *all, cl_event *event);

#endif
