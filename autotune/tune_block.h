/* Choosing the sparsity block size (`sparsecl tune --pattern SPEC --block 32,64,128`): the pattern
 * is timed at each block with the kernel parameters plans use there (the database, including what
 * this run tuned), side by side with what `--block auto` picks today (the incumbent); the winner
 * is written as a block-choice entry only when faster than the incumbent by more than the noise. */
#ifndef SCL_TUNE_BLOCK_H
#define SCL_TUNE_BLOCK_H

#include "sparsecl.h"

#include <stdbool.h>
#include <stdio.h>

#define AT_BLOCK_MAX 8

typedef struct at_block_options {
    const char *pattern; /* the pattern to choose for (required) */
    const int *blocks;   /* candidates (the incumbent's block is timed too) */
    int n_blocks;
    int head_dim;
    scl_dtype dtype;
    bool backward;       /* time forward + backward (the "backward" entry) instead of the forward */
    int64_t seq;         /* the problem (0: 2048 on CPUs, 8192 on GPUs, as kernel tuning) */
    int heads;           /* (0: 2 on CPUs, 16 on GPUs) */
    int reps, rounds;    /* timed runs per round (<= 0: 5), interleaved rounds (<= 0: 3) */
    const char *db_path; /* the database the entry merges into */
    FILE *progress;      /* progress lines (NULL: quiet) */
    /* Tests only: the time reported for a timed run at `block`, given the measured one. */
    double (*fake_ms)(int block, double measured_ms, void *ctx);
    void *fake_ctx;
} at_block_options;

typedef struct at_block_candidate {
    int block;
    char role[24];     /* "incumbent", "candidate" */
    double ms, spread; /* median and IQR / median of the re-timed runs; INFINITY: failed */
    char note[300];    /* why it failed, or where its kernel parameters came from */
} at_block_candidate;

typedef struct at_block_report {
    char pattern_class[512]; /* the normalised spec */
    int64_t seq, seq_bucket;
    int heads;
    int n;
    at_block_candidate c[AT_BLOCK_MAX + 1];
    int incumbent_block;
    char incumbent_source[1100]; /* why `auto` picks it today */
    double incumbent_ms;
    int best_block; /* the fastest (may be the incumbent) */
    double best_ms;
    double noise; /* max(1%, IQR / median of the fastest and of the incumbent) */
    bool kept_incumbent;
    double seconds;
} at_block_report;

scl_status at_tune_block(scl_runtime *rt, const at_block_options *o, at_block_report *r);
/* The candidates as JSON, as the database entry keeps them (roles: with each one's role, as the
 * --json report has them). */
struct cJSON *at_block_candidates_json(const at_block_report *r, bool roles);

#endif
