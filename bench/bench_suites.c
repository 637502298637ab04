/* The benchmark suites: which shapes, patterns and storage types each one runs. */
#include "bench.h"

#include <string.h>

/* The seven patterns of the shipped suites, each with float32 storage; `some` adds storage types
 * to dense, strided and bigbird, `rest` to the other four. */
#define SUITE_PATTERNS(some, rest)                                                                           \
    {.label = "dense", .spec = "dense", .dtypes = BENCH_F32 | (some)},                                       \
        {.label = "causal", .spec = "causal", .dtypes = BENCH_F32 | (rest)},                                 \
        {.label = "local", .spec = "local(256)", .dtypes = BENCH_F32 | (rest)},                              \
        {.label = "strided", .spec = "causal & strided(256)", .dtypes = BENCH_F32 | (some)},                 \
        {.label = "fixed", .spec = "causal & fixed(256, 32)", .dtypes = BENCH_F32 | (rest)},                 \
        {.label = "bigbird", .spec = "bigbird(3, 2, 3, 1)", .dtypes = BENCH_F32 | (some)},                   \
    {                                                                                                        \
        .label = "longformer", .spec = "longformer(256, 0-63)", .dtypes = BENCH_F32 | (rest)                 \
    }

/* Bump a suite's version whenever its points or their settings change: reports only put figures
 * of the same suite version side by side. */
static const bench_suite_def SUITES[] = {
    {
        .name = "quick",
        .version = 1,
        .about =
            "N 1K-8K, all patterns, d 64/128, f32 (f16 for dense, strided, bigbird), forward + backward; "
            "a few minutes on a 2-core CPU",
        .seqs = {1024, 2048, 4096, 8192},
        .dims = {64, 128},
        .patterns = {SUITE_PATTERNS(BENCH_F16, 0)},
        .batch = 1,
        .heads = 2,
        .block = 64,
        .warmup = 2,
        .reps = 5,
        .max_point_s = 20.0,
        .backward = 1,
    },
    {
        .name = "full",
        .version = 1,
        .about =
            "N 1K-64K (as memory and the time cap allow), all patterns, d 64/128, f32 and f16, forward + "
            "backward",
        .seqs = {1024, 2048, 4096, 8192, 16384, 32768, 65536},
        .dims = {64, 128},
        .patterns = {SUITE_PATTERNS(BENCH_F16, BENCH_F16)},
        .batch = 1,
        .heads = 2,
        .block = 64,
        .warmup = 2,
        .reps = 5,
        .max_point_s = 30.0,
        .backward = 1,
    },
    {
        .name = "models",
        .version = 1,
        .about = "shapes models run, to fill a GPU: B*H 32-128 (MHA and GQA), d 64/128, N 1K-16K, f32 and "
                 "f16, forward + backward; GPUs only (hours on a CPU); into DIR/models/",
        .seqs = {1024, 2048, 4096, 8192, 16384},
        .groups = {{.batch = 8, .heads = 12, .kv_heads = 12, .dim = 64},   /* BERT/GPT-2-base, batch 8 */
                   {.batch = 4, .heads = 16, .kv_heads = 16, .dim = 64},   /* GPT-2-medium, batch 4 */
                   {.batch = 1, .heads = 32, .kv_heads = 32, .dim = 128},  /* Llama-2-7B */
                   {.batch = 2, .heads = 32, .kv_heads = 8, .dim = 128},   /* Llama-3-8B (GQA 4:1) */
                   {.batch = 2, .heads = 64, .kv_heads = 8, .dim = 128}},  /* Llama-2/3-70B (GQA 8:1) */
        .subdir = "models",
        .gpu_only = 1,
        .patterns = {{.label = "dense", .spec = "dense", .dtypes = BENCH_F32 | BENCH_F16},
                     {.label = "causal", .spec = "causal", .dtypes = BENCH_F32 | BENCH_F16},
                     {.label = "local", .spec = "local(256)", .dtypes = BENCH_F32 | BENCH_F16},
                     {.label = "bigbird", .spec = "bigbird(3, 2, 3, 1)", .dtypes = BENCH_F32 | BENCH_F16}},
        .block = 64,
        .warmup = 2,
        .reps = 5,
        .max_point_s = 30.0,
        .backward = 1,
    },
    {
        .name = "models-test",
        .version = 1,
        .about = "tiny grouped points for the test suite",
        .hidden = 1,
        .seqs = {128},
        .groups = {{.batch = 2, .heads = 2, .kv_heads = 2, .dim = 16},
                   {.batch = 1, .heads = 4, .kv_heads = 2, .dim = 32}},
        .subdir = "models",
        .patterns = {{.label = "dense", .spec = "dense", .dtypes = BENCH_F32},
                     {.label = "local", .spec = "local(32)", .dtypes = BENCH_F32 | BENCH_F16}},
        .block = 32,
        .warmup = 1,
        .reps = 3,
        .max_point_s = 5.0,
        .backward = 0,
    },
    {
        .name = "test",
        .version = 2, /* v2: bf16 points */
        .about = "tiny points for the test suite",
        .hidden = 1,
        .seqs = {128, 256},
        .dims = {32},
        .patterns = {{.label = "dense", .spec = "dense", .dtypes = BENCH_F32},
                     {.label = "local", .spec = "local(32)", .dtypes = BENCH_F32 | BENCH_F16 | BENCH_BF16}},
        .batch = 1,
        .heads = 2,
        .block = 32,
        .warmup = 1,
        .reps = 2,
        .max_point_s = 5.0,
        .backward = 1,
    },
};

int bench_suite_count(void)
{
    return (int)(sizeof SUITES / sizeof SUITES[0]);
}

const bench_suite_def *bench_suite_at(int i)
{
    return i >= 0 && i < bench_suite_count() ? &SUITES[i] : NULL;
}

const bench_suite_def *bench_suite_find(const char *name)
{
    for (int i = 0; name && i < bench_suite_count(); i++)
        if (strcmp(SUITES[i].name, name) == 0) return &SUITES[i];
    return NULL;
}

int bench_suite_n_seqs(const bench_suite_def *d)
{
    int n = 0;
    while (n < BENCH_MAX_SEQS && d->seqs[n])
        n++;
    return n;
}

int bench_suite_n_dims(const bench_suite_def *d)
{
    int n = 0;
    while (n < BENCH_MAX_DIMS && d->dims[n])
        n++;
    return n;
}

int bench_suite_n_patterns(const bench_suite_def *d)
{
    int n = 0;
    while (n < BENCH_MAX_PATTERNS && d->patterns[n].label)
        n++;
    return n;
}

int bench_suite_n_groups(const bench_suite_def *d)
{
    int n = 0;
    while (n < BENCH_MAX_GROUPS && d->groups[n].dim)
        n++;
    return n ? n : bench_suite_n_dims(d);
}

bench_group bench_suite_group(const bench_suite_def *d, int i)
{
    if (d->groups[0].dim) return d->groups[i];
    return (bench_group){.batch = d->batch, .heads = d->heads, .kv_heads = d->heads, .dim = d->dims[i]};
}

unsigned bench_suite_dtypes(const bench_suite_def *d)
{
    unsigned set = 0;
    for (int i = 0; i < bench_suite_n_patterns(d); i++)
        set |= d->patterns[i].dtypes;
    return set;
}

scl_dtype bench_dtype_at(int i)
{
    static const scl_dtype order[BENCH_N_DTYPES] = {SCL_F32, SCL_F16, SCL_BF16};
    return order[i];
}

const char *bench_dtype_long_name(scl_dtype t)
{
    return t == SCL_F16 ? "float16" : t == SCL_BF16 ? "bfloat16" : "float32";
}
