/* Kernel parameter schemas: one table per kernel variant (name, -D macro, type and range, start
 * value per device family, the autotuner's search values) from which the build options, the
 * tuning-database fields, the name=value override parser, the search space and the per-value
 * checks are all derived. A variant adds one function for what a table cannot say: constraints
 * between parameters and against the device (work-group size, local memory, registers). */
#ifndef SCL_PARAM_SCHEMA_H
#define SCL_PARAM_SCHEMA_H

#include "sparsecl.h"

#include <stdbool.h>
#include <stddef.h>

#define SCL_PARAM_MAX 16   /* parameters of one kernel variant */
#define SCL_PARAM_VALUES 8 /* searched values of one parameter in one family */

typedef enum scli_param_type {
    SCL_PARAM_POW2, /* a power of two in [lo, hi] */
    SCL_PARAM_BOOL, /* 0 or 1 */
    SCL_PARAM_INT,  /* any integer in [lo, hi] */
} scli_param_type;

/* Device families: the start values and search spaces of GPU-style and CPU-style kernels differ. */
enum { SCLI_FAMILY_CPU = 0, SCLI_FAMILY_GPU = 1 };

typedef struct scli_param_def {
    const char *name;  /* in tuning databases, overrides and messages */
    const char *macro; /* the kernel's -D name */
    size_t offset;     /* of its int inside the variant's parameter struct */
    scli_param_type type;
    int lo, hi;
    int start[2];                        /* built-in start value per family */
    int search[2][SCL_PARAM_VALUES + 1]; /* searched values per family, increasing, -1 ends; {-1}: fixed */
} scli_param_def;

/* A row of a variant's table, for a struct T whose fields are all int:
 * SCL_PARAM_ROW(T, name, MACRO, POW2, lo, hi, cpu_start, gpu_start, (cpu values, -1), (gpu values, -1)), */
/* clang-format off */
#define SCL_PARAM_BRACE(...) {__VA_ARGS__}
#define SCL_PARAM_ROW(T, name, macro, type, lo, hi, cpu, gpu, cpu_search, gpu_search)                          \
    {#name, #macro, offsetof(T, name), SCL_PARAM_##type, lo, hi, {cpu, gpu},                                  \
     {SCL_PARAM_BRACE cpu_search, SCL_PARAM_BRACE gpu_search}}
/* clang-format on */

/* What a parameter set is checked against: the problem and the device's limits. */
typedef struct scli_param_context {
    int head_dim, block;
    size_t max_work_group_size;
    size_t local_mem_bytes;
    int max_private_floats;        /* per-thread register budget: small on GPUs, large on CPUs */
    int matrix_engine;             /* compute capability x 10 where the matrix-engine primitives run natively
                                      (NVIDIA 80+), else 0: their emulation */
    size_t local_mem_static_bytes; /* static __local arrays that build beyond the query (0: none) */
    int full_blocks_only;          /* 1: the plan's layout has no partial block (plans set it; else 0) */
} scli_param_context;

typedef struct scli_param_schema {
    const char *kernel;    /* tuning-database "kernel": "attn_fwd", "attn_bwd" */
    const char *variant;   /* tuning-database "variant": "simt", "mma" */
    const char *direction; /* "forward", "backward" */
    const char *env;       /* single-parameter overrides for experiments, e.g. SPARSECL_FWD_PARAMS */
    const char *flags;     /* build options every parameter set gets */
    size_t size;           /* of the parameter struct */
    const scli_param_def *defs;
    int n;
    /* Constraints between parameters and against the device, after every value passed its row. */
    bool (*constraint)(const void *p, const scli_param_context *c, char *reason, size_t len);
    /* Shrinks start values until they are valid here; false when nothing fits. */
    bool (*fit)(void *p, const scli_param_context *c, int family);
    /* Parameters the autotuner derives from the searched ones (e.g. a CPU thread owns whole rows). */
    void (*tie)(void *p, int family);
    double flops_per_pair; /* x head_dim per allowed (query, key) pair, for GFLOP/s */
} scli_param_schema;

/* Storage for any variant's parameters (every parameter struct is a run of ints). Zero it before
 * filling: parameter sets are compared with memcmp over the schema's size. */
typedef struct scli_param_values {
    int v[SCL_PARAM_MAX];
} scli_param_values;

/* Context for a device (limits read from it) and a problem. */
void scli_param_context_init(scli_param_context *c, const scl_device_info *dev, int head_dim, int block);
int scli_param_family(const scl_device_info *dev);

/* The start values of a family (the rest of *out zeroed). */
void scli_params_start(const scli_param_schema *s, int family, void *out);
/* true when valid; otherwise false with the first reason. */
bool scli_params_check(const scli_param_schema *s, const void *p, const scli_param_context *c, char *reason,
                      size_t len);
/* Built-in defaults for the device's family, fitted to this context. */
bool scli_params_default(const scli_param_schema *s, const scl_device_info *dev, const scli_param_context *c,
                        void *out);
/* Apply "name=value,..." over *p; false with a message that lists the known names. */
bool scli_params_override(const scli_param_schema *s, void *p, const char *text, char *msg, size_t len);
/* The compiler options: flags, -DD, -DBLOCK, one -D per parameter, the storage type's macro. */
void scli_params_options(const scli_param_schema *s, const void *p, const scli_param_context *c, scl_dtype dtype,
                        char *out, size_t len);
/* "bq=16,bk=64,..." for messages and logs. */
void scli_params_text(const scli_param_schema *s, const void *p, char *out, size_t len);
/* The int of parameter i (a row index), or of the parameter called name (NULL when unknown). */
int *scli_param_at(const scli_param_schema *s, void *p, int i);
int scli_param_index(const scli_param_schema *s, const char *name);

/* Storage types: bytes per element, the kernels' macro, the name in databases and messages. */
size_t scli_dtype_size(scl_dtype t);
const char *scli_dtype_macro(scl_dtype t);
const char *scli_dtype_name(scl_dtype t);
bool scli_dtype_valid(scl_dtype t);

#endif
