/* sparsecl: portable OpenCL block-sparse attention.
 *
 * ABI rules: all handles are opaque; structs passed by pointer carry no hidden padding
 * assumptions beyond what is declared here; new fields are only ever appended. Every fallible
 * call returns scl_status (SCL_OK = 0, errors negative). Destroy functions accept NULL.
 *
 * Versions: scl_version() gives "MAJOR.MINOR.PATCH" (semantic versioning). Within one MAJOR
 * (the shared library's SONAME, libsparsecl.so.MAJOR) the ABI only grows: functions and enum
 * values are added, never removed or changed; a MINOR adds API, a PATCH fixes without API change.
 * Only scl_* symbols are exported.
 *
 * Threads (tested with pthreads in tests/block/test_threads.c):
 * - Safe without a lock: several threads sharing one runtime, each creating and using its own
 *   plans (and blocks, sparsecl_block.h), including concurrent scl_plan_create; the runtime's
 *   queue is shared (OpenCL calls are thread-safe except on one cl_kernel). Patterns are read-only
 *   once made and may be shared by any number of threads.
 * - Needs a lock: one plan (or block) used by several threads. Each call on a plan sets its
 *   kernels' arguments and reuses its scratch buffers, so every call that takes the same plan
 *   (forward, backward, their _host and _time variants) must be serialised, e.g. by a mutex per
 *   plan; create and destroy a runtime while no other thread uses it.
 * - The last-error message is per runtime: with threads sharing a runtime it may describe another
 *   thread's failure; use one runtime per thread when the messages matter. */
#ifndef SPARSECL_H
#define SPARSECL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SCL_API
#else
#define SCL_API __attribute__((visibility("default")))
#endif

typedef enum scl_status {
    SCL_OK = 0,
    SCL_ERR_INVALID_ARGUMENT = -1, /* a NULL handle, an out-of-range value, a bad shape */
    SCL_ERR_OUT_OF_MEMORY = -2,    /* host or device allocation failed */
    SCL_ERR_NO_DEVICE = -3,        /* no OpenCL device, or none matching the selector */
    SCL_ERR_OPENCL = -4,           /* an OpenCL call failed; message names it and its CL_* code */
    SCL_ERR_BUILD = -5,            /* a kernel failed to compile; message holds the build log */
    SCL_ERR_IO = -6,               /* a file could not be read or written */
    SCL_ERR_PATTERN = -7,          /* a pattern spec is malformed or does not fit the shape */
    SCL_ERR_UNSUPPORTED = -8,      /* valid request that this device/build cannot run */
} scl_status;

typedef struct scl_runtime scl_runtime;
typedef struct scl_pattern scl_pattern;
typedef struct scl_plan scl_plan;

/* ---- Library ------------------------------------------------------------------------------ */
SCL_API const char *scl_version(void); /* "MAJOR.MINOR.PATCH" */
SCL_API const char *scl_status_string(scl_status s);

/* ---- Devices ------------------------------------------------------------------------------ */
typedef struct scl_device_info {
    int index;              /* global index over all platforms, as used by selectors */
    cl_platform_id platform;
    cl_device_id device;
    char platform_name[128];
    char name[128];
    char vendor[128];
    char driver_version[128];
    char device_version[128];
    cl_device_type type;
    cl_uint compute_units;
    cl_uint clock_mhz;
    cl_ulong global_mem_bytes;
    cl_ulong local_mem_bytes;
    cl_ulong max_alloc_bytes;
    size_t max_work_group_size;
    int fp16; /* cl_khr_fp16 */
    int fp64; /* cl_khr_fp64 */
} scl_device_info;

/* Enumerate every device of every platform. *count receives the number found (0 is not an
 * error); at most `capacity` entries are written to `out` (which may be NULL when capacity = 0). */
SCL_API scl_status scl_devices_list(scl_device_info *out, int capacity, int *count);
/* Resolve a selector: NULL or "" = SPARSECL_DEVICE, else the first GPU, else the first CPU.
 * Selectors: an index ("0"), "cpu", "gpu", a vendor word (nvidia, amd, intel, pocl, apple, arm),
 * optionally followed by ":N" for the N-th match ("nvidia:0"), or a case-insensitive substring
 * of the platform or device name. On failure `msg` explains (e.g. which devices exist). */
SCL_API scl_status scl_device_select(const char *selector, scl_device_info *out, char *msg, size_t msg_len);

/* ---- Runtime ------------------------------------------------------------------------------ */
/* Create a runtime on a device picked by selector (see scl_device_select); owns its context
 * and an in-order, profiling-enabled queue. On failure *out may still receive a runtime that only
 * carries the error message (scl_last_error_message); destroy it. */
SCL_API scl_status scl_runtime_create(const char *selector, scl_runtime **out);
/* Wrap a caller's context and queue (retained, released on destroy). The queue should have
 * CL_QUEUE_PROFILING_ENABLE for timings; out-of-order queues are handled with events. */
SCL_API scl_status scl_runtime_create_from_cl(cl_context ctx, cl_command_queue queue, scl_runtime **out);
SCL_API void scl_runtime_destroy(scl_runtime *rt);
SCL_API const scl_device_info *scl_runtime_device(const scl_runtime *rt);
SCL_API cl_context scl_runtime_context(const scl_runtime *rt);
SCL_API cl_command_queue scl_runtime_queue(const scl_runtime *rt);
/* The detailed message of the last failing call on this runtime ("" if none). */
SCL_API const char *scl_last_error_message(const scl_runtime *rt);
/* Directory of the on-disk program cache ($SPARSECL_CACHE_DIR, $XDG_CACHE_HOME/sparsecl,
 * ~/.cache/sparsecl), or "" when caching is off (SPARSECL_CACHE_DIR=off). */
SCL_API const char *scl_runtime_cache_dir(const scl_runtime *rt);

/* Build a program from one of the library's kernel files (e.g. "attn_fwd.cl") with extra
 * options, through the binary cache. from_cache (may be NULL) tells whether the binary came from
 * the cache. The program is owned by the caller (clReleaseProgram). */
SCL_API scl_status scl_build_program(scl_runtime *rt, const char *kernel_file, const char *options,
                                     cl_program *out, int *from_cache);
/* Same, from source text the caller provides (used by tests and tools). */
SCL_API scl_status scl_build_program_source(scl_runtime *rt, const char *source, const char *options,
                                            cl_program *out, int *from_cache);

/* ---- Patterns ----------------------------------------------------------------------------- */
/* Parse a pattern spec (grammar in patterns/README.md). Errors: SCL_ERR_PATTERN, with the
 * column of the offending token in the runtime's last-error message. rt may be NULL (then
 * details are lost). */
SCL_API scl_status scl_pattern_create(scl_runtime *rt, const char *spec, scl_pattern **out);
SCL_API void scl_pattern_destroy(scl_pattern *p);
/* A pattern from a block layout held in memory: what layout(path.npy) reads from a file (OpenAI
 * blocksparse / DeepSpeed make_layout format), from the caller's arrays. layout[h][r][c] != 0 lets
 * query block r attend key block c; heads = 1 (every head) or the plan's H; nb_q = ceil(N_q / block),
 * nb_k = ceil(N_k / block). Plans must use the same block; shapes and heads are checked at
 * scl_plan_create with layout(path.npy)'s messages (SCL_ERR_PATTERN). Optional element masks per
 * block: mask_ids NULL (whole blocks), or [heads][nb_q][nb_k] with -1 = the whole block, else the
 * index of its mask among n_masks masks of block*block/32 uint32 words each (element (y, x) of the
 * block is bit (y*block + x) % 32 of word (y*block + x) / 32, as in the LUT of patterns/README.md).
 * Everything is copied: the arrays may be freed on return. Errors: SCL_ERR_INVALID_ARGUMENT (NULL
 * arrays, sizes out of range, mask ids outside [-1, n_masks)), SCL_ERR_OUT_OF_MEMORY. */
SCL_API scl_status scl_pattern_create_layout(scl_runtime *rt, const uint8_t *layout, int heads, int64_t nb_q,
                                             int64_t nb_k, int block, const int32_t *mask_ids,
                                             const uint32_t *masks, int32_t n_masks, scl_pattern **out);
/* The pattern's normalised spec text ("causal & strided(128)"; "layout(<memory [H, nb_q, nb_k] at
 * block b>)" for scl_pattern_create_layout); "" for NULL. Valid while the pattern lives. */
SCL_API const char *scl_pattern_spec(const scl_pattern *p);
/* The element mask the pattern gives for a geometry, as plans run it: out[h][i][j] = 1 when query
 * i of head h attends key j, else 0. out_bytes must be exactly heads * seq_q * seq_k (seq_k 0 means
 * seq_q). For checking and plotting (memory is N_q x N_k per head). Errors as scl_plan_create's for
 * the pattern (SCL_ERR_PATTERN), SCL_ERR_INVALID_ARGUMENT for sizes. */
SCL_API scl_status scl_pattern_mask(scl_runtime *rt, const scl_pattern *pattern, int heads, int64_t seq_q,
                                    int64_t seq_k, int block, uint8_t *out, size_t out_bytes);

/* ---- Plans -------------------------------------------------------------------------------- */
/* Storage types; arithmetic is float32. bf16 is the upper half of a float32 (uint16_t bit
 * patterns, round to nearest even when converting). */
typedef enum scl_dtype { SCL_F32 = 0, SCL_F16 = 1, SCL_BF16 = 2 } scl_dtype;

/* Tensor layout: BHND = [B, H, N, d] row-major (default); BNHD = [B, N, H, d]. */
typedef enum scl_tensor_layout { SCL_LAYOUT_BHND = 0, SCL_LAYOUT_BNHD = 1 } scl_tensor_layout;

typedef struct scl_shape {
    int batch;      /* B >= 1 */
    int heads;      /* H >= 1 query heads */
    int kv_heads;   /* H_kv >= 1, divides H (grouped-query attention); 0 means H */
    int64_t seq_q;  /* N_q >= 1 */
    int64_t seq_k;  /* N_k >= 1; 0 means N_q */
    int head_dim;   /* d in {16, 32, 64, 80, 96, 128, 256} */
    int block;      /* layout block size: power of two 8..256, or SCL_BLOCK_AUTO (below) */
    float scale;    /* softmax scale; 0 means 1/sqrt(d) */
    scl_tensor_layout layout;
} scl_shape;

/* Compile the pattern for the shape, choose kernel parameters (tuning DB or defaults), build the
 * kernels (through the cache) and upload the LUTs. */
SCL_API scl_status scl_plan_create(scl_runtime *rt, const scl_pattern *pattern, const scl_shape *shape,
                                   scl_dtype dtype, scl_plan **out);
SCL_API void scl_plan_destroy(scl_plan *plan);

/* Forward pass on the caller's buffers (zero copy). q: [B,H,N_q,d], k/v: [B,H_kv,N_k,d] in the
 * plan's dtype; o like q; lse: float32 [B,H,N_q] (may be NULL when not needed). Enqueues only.
 * The wait list (may be NULL/0) is honoured; if `event` is non-NULL it receives an event the
 * caller must release. Rows with no allowed key give O = 0 and LSE = -inf. */
SCL_API scl_status scl_plan_forward(scl_plan *plan, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                    cl_uint num_wait, const cl_event *wait_list, cl_event *event);
/* Runs the forward pass once and blocks; *ms receives the device time of all its kernels (first
 * start to last end, from profiling events: the runtime's queue must have profiling enabled). */
SCL_API scl_status scl_plan_time_forward(scl_plan *plan, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                         double *ms);
/* Host-array convenience: copies in, runs, copies out, blocks until done. Element types follow
 * the plan's dtype (float, or uint16_t f16/bf16 bit patterns); lse is float (may be NULL). */
SCL_API scl_status scl_plan_forward_host(scl_plan *plan, const void *q, const void *k, const void *v, void *o,
                                         float *lse);

/* Backward pass (training): given the forward's inputs, its output o and LSE, and the gradient
 * dout of the output, computes dq (like q), dk and dv (like k, v; for grouped-query attention
 * summed over the query heads that share a key/value head). The attention weights are
 * recomputed from q, k and lse: nothing N x N is stored. lse is required here. Enqueues only;
 * wait list and event as in scl_plan_forward. */
SCL_API scl_status scl_plan_backward(scl_plan *plan, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_mem dout,
                                     cl_mem dq, cl_mem dk, cl_mem dv, cl_uint num_wait, const cl_event *wait_list,
                                     cl_event *event);
/* Runs the backward pass once, blocks, and gives the device time of all its kernels in *ms. */
SCL_API scl_status scl_plan_time_backward(scl_plan *plan, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                          cl_mem dout, cl_mem dq, cl_mem dk, cl_mem dv, double *ms);
/* Host-array convenience for the backward pass (blocks). */
SCL_API scl_status scl_plan_backward_host(scl_plan *plan, const void *q, const void *k, const void *v, const void *o,
                                          const float *lse, const void *dout, void *dq, void *dk, void *dv);

/* Sizes in bytes of each tensor of the plan, for allocation. */
typedef struct scl_plan_sizes {
    size_t q, k, v, o, lse;
} scl_plan_sizes;
SCL_API void scl_plan_tensor_sizes(const scl_plan *plan, scl_plan_sizes *out);

/* Statistics the plan knows about its pattern: allowed element pairs (summed over B*H), block
 * density, number of non-empty blocks per head on average. */
typedef struct scl_plan_stats {
    double allowed_pairs;  /* over all batch*heads */
    double density;        /* allowed / (H * N_q * N_k) */
    double block_density;  /* non-empty / all blocks */
    int64_t lut_bytes;
    double create_ms;      /* wall time scl_plan_create took (pattern compile + kernel build/load) */
    int kernels_from_cache; /* 1 when the forward kernels came from the on-disk binary cache */
    int components;         /* 0: one block LUT; n > 0: decomposed into n components (gathered rows,
                             * gathered columns, permuted local, block LUT), see SPARSECL_DECOMPOSE */
    double computed_pairs;  /* (query, key) pairs the kernels compute, over all batch*heads */
} scl_plan_stats;
SCL_API void scl_plan_get_stats(const scl_plan *plan, scl_plan_stats *out);
/* The kernel parameters in use, as the -D option string given to the compiler. */
SCL_API const char *scl_plan_kernel_options(const scl_plan *plan);
/* Where those parameters came from: a tuning database entry (its file and shape class), the
 * built-in defaults of the device type, plus any SPARSECL_FWD_PARAMS override. */
SCL_API const char *scl_plan_kernel_source(const scl_plan *plan);

/* ---- Plan options (appended in 0.2) ------------------------------------------------------- */
typedef enum scl_decompose_mode {
    SCL_DECOMPOSE_DEFAULT = 0, /* $SPARSECL_DECOMPOSE, else auto */
    SCL_DECOMPOSE_AUTO = 1,    /* the cost model decides per pattern and shape */
    SCL_DECOMPOSE_OFF = 2,     /* one block LUT */
    SCL_DECOMPOSE_FORCE = 3    /* split whenever the pattern has components */
} scl_decompose_mode;

/* How a plan is made, apart from the tensor shape. Initialise with scl_plan_options_init, then
 * set what you need; fields may be appended in later versions (`size` tells which exist). */
typedef struct scl_plan_options {
    size_t size;                  /* sizeof(scl_plan_options), set by scl_plan_options_init */
    int block;                    /* layout block size (power of two 8..256), SCL_BLOCK_AUTO or
                                   * SCL_BLOCK_AUTO_BACKWARD (below); 0: scl_shape.block */
    scl_decompose_mode decompose;
    const char *forward_variant;  /* NULL or "auto": the first that qualifies; "simt", ...: preferred
                                   * (falls back, with the reason in scl_plan_variant_reason) */
    const char *forward_params;   /* "name=value,..." over the chosen forward parameters; NULL: none */
    const char *backward_params;  /* the same for the backward kernels */
    int ignore_tuning;            /* 1: the built-in defaults even where a tuning database has an entry */
} scl_plan_options;
SCL_API void scl_plan_options_init(scl_plan_options *options);
/* scl_plan_create with options (NULL: the defaults, as scl_plan_create). */
SCL_API scl_status scl_plan_create_with_options(scl_runtime *rt, const scl_pattern *pattern,
                                                const scl_shape *shape, scl_dtype dtype,
                                                const scl_plan_options *options, scl_plan **out);
/* The forward kernel variant the plan runs ("simt", ...) and why it was chosen. */
SCL_API const char *scl_plan_variant(const scl_plan *plan);
SCL_API const char *scl_plan_variant_reason(const scl_plan *plan);
/* The runtime the plan was made on (its last-error message explains the plan's failures). */
SCL_API scl_runtime *scl_plan_runtime(const scl_plan *plan);
/* 1 when the forward parameters came from a tuning database entry, else 0. */
SCL_API int scl_plan_kernel_tuned(const scl_plan *plan);
/* Device memory of the plan: what it holds now (LUTs, scratch, components), and what the backward
 * pass holds or will allocate on its first call (kernels' scratch, column LUTs, gradients of
 * components). */
typedef struct scl_plan_memory {
    size_t forward_bytes;
    size_t backward_bytes;
} scl_plan_memory;
SCL_API void scl_plan_get_memory(const scl_plan *plan, scl_plan_memory *out);
/* The backward kernels' -D options and where their parameters came from ("" before the first
 * backward call). */
SCL_API const char *scl_plan_backward_kernel_options(const scl_plan *plan);
SCL_API const char *scl_plan_backward_kernel_source(const scl_plan *plan);

/* ---- Block size chosen by the plan (appended in 0.3) -------------------------------------- */
/* For scl_plan_options.block (or scl_shape.block when options.block is 0): the plan chooses the
 * layout block among 32, 64 and 128 (those the pattern binds at). SCL_BLOCK_AUTO chooses for the
 * forward pass, SCL_BLOCK_AUTO_BACKWARD for plans that also run the backward pass. The choice: a
 * tuned block-choice entry of this device's tuning databases (`sparsecl tune --pattern SPEC
 * --block 32,64,128`; exact device, then the same architecture) for the pattern class (its
 * normalised spec text), head dim, dtype, sequence-length bucket (the power of two at or above
 * N_q) and direction; else the rule: the largest block whose computed elements (as the plan runs
 * the pattern, decomposed or not) are within 10% of the fewest. With ignore_tuning, the rule. */
#define SCL_BLOCK_AUTO (-1)
#define SCL_BLOCK_AUTO_BACKWARD (-2)
/* The layout block the plan uses, and why ("given", the tuning entry, or the rule's sentence). */
SCL_API int scl_plan_block(const scl_plan *plan);
SCL_API const char *scl_plan_block_reason(const scl_plan *plan);

/* ---- For libraries built on this one (appended in 0.3) ------------------------------------ */
/* libsparsecl_block (sparsecl_block.h) reports its failures through the runtime, as the core
 * does: set the message scl_last_error_message(rt) returns and return `status` (rt may be NULL;
 * the message is cut at the runtime's buffer size). */
SCL_API scl_status scl_runtime_set_error(scl_runtime *rt, scl_status status, const char *message);
/* A failing OpenCL call, as the core reports one: "clFoo failed: CL_BAR (-N): context"; returns
 * SCL_ERR_OUT_OF_MEMORY for the allocation failures, else SCL_ERR_OPENCL. */
SCL_API scl_status scl_runtime_set_cl_error(scl_runtime *rt, const char *call, cl_int err, const char *context);

#ifdef __cplusplus
}
#endif
#endif
