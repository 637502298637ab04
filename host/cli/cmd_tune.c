/* `sparsecl tune`: search kernel parameters for a device and write its tuning database. */
#include "cli.h"
#include "cli_options.h"
#include "internal.h"
#include "scl_patterns.h"
#include "space.h"
#include "tune_block.h"
#include "tuner.h"
#include "tuning_db_write.h"
#include "variants.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *CMD = "tune";

static void usage(void)
{
    printf("usage: sparsecl tune [--device D] [--dim d[,d...]] [--block b[,b...]|auto] [--dtype f32|f16|bf16]\n"
           "                     [--pattern SPEC [--block-only]]\n"
           "                     [--strategy exhaustive|random|local] [--budget N|Ns] [--resume]\n"
           "                     [--out DB.json] [--seq N] [--heads H] [--reps R] [--family cpu|gpu]\n"
           "                     [--direction forward|backward|both] [--variant simt|mma] [--verbose] [--json]\n\n"
           "Searches the attention kernels' parameters (tile sizes, work-group shape, register blocks,\n"
           "vector width, local-memory staging) for each shape class (head dim x block x dtype). Every\n"
           "candidate is first checked against the double-precision reference on a small problem, then\n"
           "timed (OpenCL events, warm-up, median of --reps runs) on a representative problem\n"
           "(`causal`, N = 2048 x 2 heads on CPUs, 8192 x 16 on GPUs; --seq/--heads change it).\n"
           "Backward candidates (kernel attn_bwd: dQ, dK/dV) run after a forward pass with the default\n"
           "forward parameters and are checked on all three gradients.\n"
           "Candidates that fail to build, run or verify are recorded as rejected and never chosen; the\n"
           "verification tolerance is relative to the output (gradient) scale: f32 1e-4, f16 2e-3, bf16 "
           "8e-3.\n\n"
           "The database (default: the user cache, $SPARSECL_CACHE_DIR/tuning/<device>.json, which\n"
           "plans read first) is rewritten atomically after every measured point: an interrupted run\n"
           "loses nothing, and --resume continues it without re-measuring.\n\n"
           "The incumbent (what plans on this device use today: the user cache, the shipped database,\n"
           "a same-architecture fallback, or the built-in defaults) and the defaults are timed in the\n"
           "same run; at the end the best 3 candidates are re-timed with them, interleaved over 3 rounds,\n"
           "and ranked by median. A winner is written only when it beats the incumbent by more than the\n"
           "noise (the interquartile range over median of the two, at least 1%%); otherwise the database\n"
           "is left exactly as it was and the report says the incumbent stays.\n\n"
           "  --strategy  exhaustive (every valid point), random (sampling), local (greedy\n"
           "              neighbourhood search from the incumbent, with restarts; default)\n"
           "  --budget    at most N timed points, or Ns seconds per shape class and direction\n"
           "              (the re-timing of the finalists included)\n"
           "  --direction forward (attn_fwd, default), backward (attn_bwd) or both\n"
           "  --variant   the forward kernel variant: simt (default) or mma (matrix engines: f16/bf16\n"
           "              on NVIDIA compute capability >= 8.0, elsewhere its portable emulation)\n"
           "  --family    parameter space: gpu (threads share tiles) or cpu (a thread owns rows);\n"
           "              default from the device type\n"
           "  --verbose   print every pruned point and why it was rejected\n"
           "  --block     the blocks to tune, powers of two from 8 to 256; auto: 32,64,128\n"
           "  --pattern   the problem's pattern (default causal); with two or more blocks the run\n"
           "              then also chooses the sparsity block for SPEC (what `--block auto` plans\n"
           "              use): the pattern is timed at each block with the kernel parameters plans\n"
           "              use there (tuned just before in this run), beside the block auto picks\n"
           "              today (the incumbent), interleaved over 3 rounds; a block-choice entry\n"
           "              (pattern, d, dtype, N bucket, direction) is written only when the fastest\n"
           "              beats the incumbent by more than the noise (at least 1%%)\n"
           "  --block-only  skip the kernel search: choose the block with today's parameters\n"
           "Defaults: --dim 64 --block 64 --dtype f32 --strategy local --reps 5.\n");
}

/* "64,128" -> ints; false on anything else. */
static bool parse_list(const char *opt, const char *text, int *out, int *n, int lo, int hi)
{
    *n = 0;
    char buf[256];
    if (strlen(text) >= sizeof buf) return cli_error(CMD, CLI_USAGE, "%s: list too long", opt), false;
    snprintf(buf, sizeof buf, "%s", text);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (*n >= 8 || !cli_parse_int(CMD, opt, tok, lo, hi, &out[*n])) return false;
        (*n)++;
    }
    if (*n == 0) return cli_error(CMD, CLI_USAGE, "%s needs at least one value", opt), false;
    return true;
}

static cJSON *report_json(const at_tune_options *o, const at_tune_report *r, const char *db)
{
    const scli_param_schema *k = o->kernel;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "kernel", k->kernel);
    cJSON_AddStringToObject(j, "variant", k->variant);
    cJSON_AddStringToObject(j, "direction", k->direction);
    cJSON_AddNumberToObject(j, "head_dim", o->head_dim);
    cJSON_AddNumberToObject(j, "block", o->block);
    cJSON_AddStringToObject(j, "dtype", scli_dtype_name(o->dtype));
    cJSON_AddStringToObject(j, "strategy", at_strategy_name(o->strategy));
    cJSON_AddNumberToObject(j, "total_points", r->total_points);
    cJSON_AddNumberToObject(j, "valid_points", r->valid_points);
    cJSON_AddNumberToObject(j, "timed", r->timed);
    cJSON_AddNumberToObject(j, "reused", r->reused);
    cJSON_AddNumberToObject(j, "failed", r->failed);
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    cJSON_AddStringToObject(j, "database", db);
    if (r->found) {
        cJSON_AddItemToObject(j, "best", scl_params_to_json(k, &r->best));
        cJSON_AddNumberToObject(j, "best_ms", r->best_ms);
        cJSON_AddNumberToObject(j, "best_gflops", r->best_gflops);
        cJSON_AddNumberToObject(j, "best_max_error", r->best_error);
    }
    cJSON_AddItemToObject(j, "defaults", scl_params_to_json(k, &r->defaults));
    if (!isnan(r->default_ms)) {
        cJSON_AddNumberToObject(j, "default_ms", r->default_ms);
        if (r->found) cJSON_AddNumberToObject(j, "speedup_vs_default", r->default_ms / r->best_ms);
    }
    /* The incumbent rule: all times are medians of the interleaved re-timing of this run. */
    cJSON_AddItemToObject(j, "incumbent", scl_params_to_json(k, &r->incumbent));
    cJSON_AddStringToObject(j, "incumbent_source", r->incumbent_source);
    if (isfinite(r->incumbent_ms))
        cJSON_AddNumberToObject(j, "incumbent_ms", r->incumbent_ms);
    else
        cJSON_AddNullToObject(j, "incumbent_ms");
    if (r->has_challenger) {
        cJSON_AddItemToObject(j, "candidate", scl_params_to_json(k, &r->challenger));
        cJSON_AddNumberToObject(j, "candidate_ms", r->challenger_ms);
        if (isfinite(r->incumbent_ms))
            cJSON_AddNumberToObject(j, "candidate_speedup_vs_incumbent", r->incumbent_ms / r->challenger_ms);
    }
    cJSON_AddNumberToObject(j, "noise", r->noise);
    cJSON_AddBoolToObject(j, "kept_incumbent", r->kept_incumbent);
    cJSON *fin = cJSON_AddArrayToObject(j, "finalists");
    for (int i = 0; i < r->n_final; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "role", r->final[i].role);
        cJSON_AddItemToObject(f, "params", scl_params_to_json(k, &r->final[i].p));
        if (isfinite(r->final[i].ms)) {
            cJSON_AddNumberToObject(f, "median_ms", r->final[i].ms);
            cJSON_AddNumberToObject(f, "iqr_over_median", r->final[i].spread);
        } else {
            cJSON_AddNullToObject(f, "median_ms");
        }
        cJSON_AddItemToArray(fin, f);
    }
    return j;
}

typedef struct tune_cli {
    const char *dev, *out;
    int dims[8], nd, blocks[8], nb, json, verbose, block_only;
    const char *variant; /* --variant: the forward kernel variant tuned (NULL: simt) */
    const scli_param_schema *kernels[2];
    int nk;
    at_tune_options o;
} tune_cli;

/* "Ns" seconds per shape class and direction, or N points. */
static bool parse_budget(const char *text, at_tune_options *o)
{
    size_t n = strlen(text);
    if (n > 1 && text[n - 1] == 's') {
        char num[64];
        if (n > sizeof num)
            return cli_error(CMD, CLI_USAGE, "--budget: '%s' is not a number of seconds", text), false;
        snprintf(num, sizeof num, "%.*s", (int)(n - 1), text);
        return cli_parse_double(CMD, "--budget", num, 1, 1e7, &o->max_seconds);
    }
    return cli_parse_int(CMD, "--budget", text, 1, 1000000, &o->max_evals);
}

static bool parse_direction(const char *text, tune_cli *t)
{
    if (strcmp(text, "both") == 0) {
        t->kernels[0] = &scli_fwd_simt_schema, t->kernels[1] = &scli_bwd_simt_schema, t->nk = 2;
        return true;
    }
    if ((strcmp(text, "forward") == 0 || strcmp(text, "backward") == 0) &&
        (t->kernels[0] = scli_schema_find(text, "simt")) != NULL) {
        t->nk = 1;
        return true;
    }
    return cli_error(CMD, CLI_USAGE, "--direction must be forward, backward or both, got '%s'", text), false;
}

/* --block: "auto" (the candidates of --block auto plans) or a list of powers of two 8..256. */
static bool parse_blocks(const char *text, tune_cli *t)
{
    static const int auto_blocks[] = SPC_BLOCK_CANDIDATES;
    if (strcmp(text, "auto") == 0) {
        t->nb = SPC_BLOCK_N_CANDIDATES;
        memcpy(t->blocks, auto_blocks, sizeof auto_blocks);
        return true;
    }
    char buf[256];
    t->nb = 0;
    if (strlen(text) >= sizeof buf) return cli_error(CMD, CLI_USAGE, "--block: list too long"), false;
    snprintf(buf, sizeof buf, "%s", text);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (t->nb >= AT_BLOCK_MAX) return cli_error(CMD, CLI_USAGE, "--block: at most %d blocks", AT_BLOCK_MAX), false;
        if (!cli_parse_block(CMD, tok, false, &t->blocks[t->nb])) return false;
        t->nb++;
    }
    if (t->nb == 0) return cli_error(CMD, CLI_USAGE, "--block needs at least one value"), false;
    return true;
}

/* The options with values of their own kind: lists, strategy, budget, family, direction. */
static int parse_other(void *ctx, int code, const char *value)
{
    tune_cli *t = ctx;
    at_tune_options *o = &t->o;
    bool ok = true;
    switch (code) {
    case 'd':
        ok = parse_list("--dim", value, t->dims, &t->nd, 1, 4096);
        break;
    case 'b':
        ok = parse_blocks(value, t);
        break;
    case 's':
        if (!at_strategy_parse(value, &o->strategy))
            return cli_error(CMD, CLI_USAGE, "--strategy must be exhaustive, random or local, got '%s'",
                             value);
        break;
    case 'B':
        ok = parse_budget(value, o);
        break;
    case 'f':
        if (strcmp(value, "cpu") && strcmp(value, "gpu"))
            return cli_error(CMD, CLI_USAGE, "--family must be cpu or gpu, got '%s'", value);
        o->family = strcmp(value, "gpu") == 0;
        break;
    case 'x':
        ok = parse_direction(value, t);
        break;
    }
    return ok ? -1 : CLI_USAGE;
}

/* -1 to go on, else the exit code. */
static int parse(int argc, char **argv, tune_cli *t)
{
    at_tune_options *o = &t->o;
    const cli_opt opts[] = {CLI_STR("device", &t->dev),
                            CLI_OTHER("dim", 'd'),
                            CLI_OTHER("block", 'b'),
                            CLI_DTYPE("dtype", &o->dtype),
                            CLI_OTHER("strategy", 's'),
                            CLI_OTHER("budget", 'B'),
                            CLI_BOOL("resume", &o->resume),
                            CLI_STR("out", &t->out),
                            CLI_I64("seq", &o->seq, 1, 1 << 24),
                            CLI_INT("heads", &o->heads, 1, 1024),
                            CLI_INT("reps", &o->reps, 1, 1000),
                            CLI_OTHER("family", 'f'),
                            CLI_SET("verbose", &t->verbose, 1),
                            CLI_SET("json", &t->json, 1),
                            CLI_OTHER("direction", 'x'),
                            CLI_STR("pattern", &o->pattern),
                            CLI_SET("block-only", &t->block_only, 1),
                            CLI_STR("variant", &t->variant),
                            CLI_END};
    const cli_options p = {.cmd = CMD, .opts = opts, .usage = usage, .other = parse_other, .ctx = t};
    int rc = cli_parse_options(&p, argc, argv);
    if (rc >= 0) return rc;
    if (t->variant && strcmp(t->variant, "simt")) { /* another forward variant: its own schema */
        if (t->nk != 1 || strcmp(t->kernels[0]->direction, "forward"))
            return cli_error(CMD, CLI_USAGE,
                             "--variant %s tunes the forward kernel only (--direction forward)", t->variant);
        if (!(t->kernels[0] = scli_schema_find("forward", t->variant)))
            return cli_error(CMD, CLI_USAGE, "--variant must be simt or mma, got '%s'", t->variant);
    }
    if (t->block_only && (!o->pattern || t->nb < 2))
        return cli_error(CMD, CLI_USAGE,
                         "--block-only needs --pattern and two or more blocks (or --block auto)");
    return -1;
}

/* --out, else the user cache's database of the device; false (message printed) when neither. */
static bool db_path(const tune_cli *t, scl_runtime *rt, char *path, size_t len)
{
    if (t->out) {
        snprintf(path, len, "%s", t->out);
        return true;
    }
    char dir[1024], slug[200];
    scli_device_slug(scl_runtime_device(rt), slug, sizeof slug);
    if (!scli_tuning_user_dir(dir, sizeof dir))
        return cli_error(CMD, CLI_USAGE, "the program cache is off (SPARSECL_CACHE_DIR=off): give --out"),
               false;
    snprintf(path, len, "%s/%s.json", dir, slug);
    return true;
}

static void print_class(const at_tune_options *o, const at_tune_report *r)
{
    char best[300], text[300];
    scli_params_text(o->kernel, &r->best, best, sizeof best);
    printf("%s d=%d block=%d %s: best %.3f ms (%.1f GFLOP/s, verified error %.2g)%s\n  %s\n",
           o->kernel->kernel, o->head_dim, o->block, scli_dtype_name(o->dtype), r->best_ms, r->best_gflops,
           r->best_error, r->kept_incumbent ? ": the incumbent stays" : "", best);
    printf("  re-timed together (%d rounds, median; noise %.1f%%):\n", o->rounds > 0 ? o->rounds : 3,
           100 * r->noise);
    for (int i = 0; i < r->n_final; i++) {
        scli_params_text(o->kernel, &r->final[i].p, text, sizeof text);
        if (isfinite(r->final[i].ms))
            printf("    %-20s %.3f ms (IQR %.1f%%)  %s\n", r->final[i].role, r->final[i].ms,
                   100 * r->final[i].spread, text);
        else
            printf("    %-20s failed  %s\n", r->final[i].role, text);
    }
    printf("  incumbent: %s\n", r->incumbent_source);
    if (r->kept_incumbent && r->has_challenger)
        printf("  kept: the best candidate (%.3f ms, %.2fx the incumbent's speed) is not faster by more than "
               "the noise; nothing written\n",
               r->challenger_ms, r->incumbent_ms / r->challenger_ms);
    else if (r->kept_incumbent)
        printf("  kept: no other candidate passed verification and timing; nothing written\n");
    else if (isfinite(r->incumbent_ms))
        printf("  new winner: %.2fx faster than the incumbent (%.3f ms)\n", r->incumbent_ms / r->best_ms,
               r->incumbent_ms);
    else
        printf("  new winner: the incumbent failed here\n");
    if (!isnan(r->default_ms))
        printf("  vs the built-in defaults (%.3f ms): %.2fx\n", r->default_ms, r->default_ms / r->best_ms);
    printf("  %d valid of %d points; %d timed this run, %d reused, %d rejected; %.0f s\n", r->valid_points,
           r->total_points, r->timed, r->reused, r->failed, r->seconds);
}

static cJSON *block_json(const at_block_options *b, const at_block_report *r, const char *db)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "kind", "block_choice");
    cJSON_AddStringToObject(j, "pattern", r->pattern_class);
    cJSON_AddNumberToObject(j, "head_dim", b->head_dim);
    cJSON_AddStringToObject(j, "dtype", scli_dtype_name(b->dtype));
    cJSON_AddStringToObject(j, "direction", b->backward ? "backward" : "forward");
    cJSON_AddNumberToObject(j, "seq", (double)r->seq);
    cJSON_AddNumberToObject(j, "seq_bucket", (double)r->seq_bucket);
    cJSON_AddNumberToObject(j, "heads", r->heads);
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    cJSON_AddStringToObject(j, "database", db);
    cJSON_AddItemToObject(j, "candidates", at_block_candidates_json(r, true));
    cJSON_AddNumberToObject(j, "incumbent_block", r->incumbent_block);
    cJSON_AddStringToObject(j, "incumbent_source", r->incumbent_source);
    if (isfinite(r->incumbent_ms)) cJSON_AddNumberToObject(j, "incumbent_ms", r->incumbent_ms);
    else cJSON_AddNullToObject(j, "incumbent_ms");
    cJSON_AddNumberToObject(j, "best_block", r->best_block);
    cJSON_AddNumberToObject(j, "best_ms", r->best_ms);
    cJSON_AddNumberToObject(j, "noise", r->noise);
    cJSON_AddBoolToObject(j, "kept_incumbent", r->kept_incumbent);
    return j;
}

static void print_block_class(const at_block_options *b, const at_block_report *r)
{
    printf("block choice '%s' d=%d %s N=%lld (bucket %lld) %s: block %d%s\n", r->pattern_class, b->head_dim,
           scli_dtype_name(b->dtype), (long long)r->seq, (long long)r->seq_bucket, b->backward ? "backward" : "forward",
           r->kept_incumbent ? r->incumbent_block : r->best_block, r->kept_incumbent ? ": the incumbent stays" : "");
    printf("  re-timed together (%d rounds, median; noise %.1f%%):\n", b->rounds > 0 ? b->rounds : 3, 100 * r->noise);
    for (int i = 0; i < r->n; i++)
        if (isfinite(r->c[i].ms))
            printf("    block %-4d %-10s %.3f ms (IQR %.1f%%)  parameters: %s\n", r->c[i].block, r->c[i].role,
                   r->c[i].ms, 100 * r->c[i].spread, r->c[i].note);
        else
            printf("    block %-4d %-10s failed: %s\n", r->c[i].block, r->c[i].role, r->c[i].note);
    printf("  incumbent: block %d, %s\n", r->incumbent_block, r->incumbent_source);
    if (!r->kept_incumbent)
        printf("  new block-choice entry: block %d, %.2fx faster than the incumbent\n", r->best_block,
               isfinite(r->incumbent_ms) ? r->incumbent_ms / r->best_ms : INFINITY);
    else if (r->best_block != r->incumbent_block)
        printf("  kept: block %d (%.3f ms) is not faster than the incumbent by more than the noise; nothing written\n",
               r->best_block, r->best_ms);
    else
        printf("  kept: the incumbent is the fastest; nothing written\n");
}

/* The block-choice runs (--pattern with two or more blocks): per head dim and direction. */
static int choose_blocks(tune_cli *t, scl_runtime *rt, const char *path, cJSON *all, int *written)
{
    for (int i = 0; i < t->nd; i++)
        for (int x = 0; x < t->nk; x++) {
            at_block_options b = {.pattern = t->o.pattern, .blocks = t->blocks, .n_blocks = t->nb,
                                  .head_dim = t->dims[i], .dtype = t->o.dtype,
                                  .backward = strcmp(t->kernels[x]->direction, "backward") == 0,
                                  .seq = t->o.seq, .heads = t->o.heads, .reps = t->o.reps, .db_path = path,
                                  .progress = t->json ? NULL : stderr};
            at_block_report r;
            if (at_tune_block(rt, &b, &r) != SCL_OK)
                return cli_error(CMD, CLI_FAILED, "block choice '%s' d=%d: %s", t->o.pattern, t->dims[i],
                                 scl_last_error_message(rt));
            cJSON_AddItemToArray(all, block_json(&b, &r, path));
            *written += !r.kept_incumbent;
            if (!t->json) print_block_class(&b, &r);
        }
    return CLI_OK;
}

/* Every shape class (head dim x block x direction) into the same database; a CLI exit code. */
static int tune_all(tune_cli *t, scl_runtime *rt, const char *path, cJSON *all, int *written)
{
    at_tune_options *o = &t->o;
    o->db_path = path;
    o->progress = t->json ? NULL : stderr;
    o->verbose = t->verbose ? stderr : NULL;
    bool resume = o->resume;
    for (int i = 0; i < t->nd; i++)
        for (int k = 0; k < t->nb; k++)
            for (int x = 0; x < t->nk; x++) {
                o->head_dim = t->dims[i];
                o->block = t->blocks[k];
                o->kernel = t->kernels[x];
                /* Later classes add to the same file: always keep what earlier ones wrote. */
                o->resume = resume || i > 0 || k > 0 || x > 0;
                at_tune_report r;
                if (at_tune(rt, o, &r) != SCL_OK)
                    return cli_error(CMD, CLI_FAILED, "%s d=%d block=%d: %s", o->kernel->kernel, t->dims[i],
                                     t->blocks[k], scl_last_error_message(rt));
                cJSON_AddItemToArray(all, report_json(o, &r, path));
                *written += !r.kept_incumbent;
                if (!t->json) print_class(o, &r);
            }
    return CLI_OK;
}

int cmd_tune(int argc, char **argv)
{
    tune_cli t = {
        .dims = {64}, .nd = 1, .blocks = {64}, .nb = 1, .kernels = {&scli_fwd_simt_schema, NULL}, .nk = 1};
    t.o = (at_tune_options){.dtype = SCL_F32, .strategy = AT_LOCAL, .family = -1, .reps = 5, .seed = 1};
    int rc = parse(argc, argv, &t);
    if (rc >= 0) return rc;
    scl_runtime *rt = NULL;
    if ((rc = cli_runtime_create(CMD, t.dev, &rt)) != CLI_OK) return rc;
    char path[1400];
    if (!db_path(&t, rt, path, sizeof path)) {
        scl_runtime_destroy(rt);
        return CLI_USAGE;
    }
    cJSON *all = cJSON_CreateArray();
    int written = 0;
    rc = t.block_only ? CLI_OK : tune_all(&t, rt, path, all, &written);
    if (rc == CLI_OK && t.o.pattern && t.nb > 1) rc = choose_blocks(&t, rt, path, all, &written);
    if (t.json) {
        char *text = cJSON_Print(all);
        if (text) puts(text);
        free(text);
    } else if (rc == CLI_OK) {
        printf("database: %s%s\n", path, written ? "" : " (unchanged: the incumbents stay)");
    }
    cJSON_Delete(all);
    scl_runtime_destroy(rt);
    return rc;
}
