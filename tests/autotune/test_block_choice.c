/* The sparsity block chosen by plans made with SCL_BLOCK_AUTO (issue 17): the rule without an
 * entry, an entry written by a short block-choice run (times injected, so the decisions are
 * deterministic) and used by the next plan, by `sparsecl info` and `sparsecl bench --block auto`;
 * the incumbent rule (no entry without a win beyond the noise, the file left byte for byte);
 * entries passed over when their block cannot run.
 * Usage: test_block_choice WORK_DIR SPARSECL_BINARY */
#include "../check.h"
#include "../test_util.h"
#include "internal.h"
#include "tune_block.h"
#include "tune_env.h"
#include "tuning_db_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char user_db[1400];
static const char *cli;
static const char *STRIDED = "causal & strided(32)";

/* The block a plan with `block` (auto or not) takes for spec at N (d = 32, one head), and why. */
static int plan_block(scl_runtime *rt, const char *spec, int64_t n, int block, int ignore_tuning, char *why,
                      size_t len)
{
    scl_pattern *p = NULL;
    scl_plan *plan = NULL;
    scl_shape s = {1, 1, 1, n, n, 32, 64, 0.0f, SCL_LAYOUT_BHND};
    scl_plan_options o;
    scl_plan_options_init(&o);
    o.block = block;
    o.ignore_tuning = ignore_tuning;
    int got = -1;
    if (scl_pattern_create(rt, spec, &p) == SCL_OK &&
        scl_plan_create_with_options(rt, p, &s, SCL_F32, &o, &plan) == SCL_OK)
        got = scl_plan_block(plan);
    snprintf(why, len, "%s", plan ? scl_plan_block_reason(plan) : scl_last_error_message(rt));
    scl_plan_destroy(plan);
    scl_pattern_destroy(p);
    return got;
}

static void test_rule(scl_runtime *rt)
{
    char why[1200];
    CHECK(plan_block(rt, "dense", 1024, SCL_BLOCK_AUTO, 0, why, sizeof why) == 128, "dense: %s", why);
    CHECK(strstr(why, "the rule") != NULL, "%s", why);
    CHECK(plan_block(rt, "causal", 1024, SCL_BLOCK_AUTO, 0, why, sizeof why) == 128, "causal: %s", why);
    CHECK(plan_block(rt, STRIDED, 1024, SCL_BLOCK_AUTO, 0, why, sizeof why) == 32, "strided: %s", why);
    CHECK(plan_block(rt, STRIDED, 1024, 64, 0, why, sizeof why) == 64 && strstr(why, "given"), "given: %s",
          why);
    CHECK(plan_block(rt, STRIDED, 1024, -3, 0, why, sizeof why) == -1 && strstr(why, "block"), "-3: %s", why);
    /* scl_shape.block = SCL_BLOCK_AUTO through the plain entry point */
    scl_pattern *p = NULL;
    scl_plan *plan = NULL;
    scl_shape s = {1, 1, 1, 1024, 0, 32, SCL_BLOCK_AUTO, 0.0f, SCL_LAYOUT_BHND};
    CHECK(scl_pattern_create(rt, "dense", &p) == SCL_OK &&
              scl_plan_create(rt, p, &s, SCL_F32, &plan) == SCL_OK,
          "%s", scl_last_error_message(rt));
    CHECK(scl_plan_block(plan) == 128, "shape auto: %d", scl_plan_block(plan));
    scl_plan_destroy(plan);
    scl_pattern_destroy(p);
}

/* Injected times per block: fast for one block, slow for the others. */
typedef struct fake {
    int fast;
    double fast_ms, slow_ms;
} fake;

static double fake_ms(int block, double measured, void *ctx)
{
    const fake *f = ctx;
    (void)measured;
    return block == f->fast ? f->fast_ms : f->slow_ms;
}

static scl_status choose(scl_runtime *rt, fake *f, bool backward, at_block_report *r)
{
    static const int blocks[] = {32, 64, 128};
    at_block_options o = {.pattern = STRIDED,
                          .blocks = blocks,
                          .n_blocks = 3,
                          .head_dim = 32,
                          .dtype = SCL_F32,
                          .backward = backward,
                          .seq = 512,
                          .heads = 1,
                          .reps = 2,
                          .rounds = 2,
                          .db_path = user_db,
                          .fake_ms = fake_ms,
                          .fake_ctx = f};
    return at_tune_block(rt, &o, r);
}

static void test_entry(scl_runtime *rt)
{
    char why[1200];
    remove(user_db);
    /* the rule picks 64 for the strided pattern at N = 512: make 128 the winner */
    CHECK(plan_block(rt, STRIDED, 512, SCL_BLOCK_AUTO, 0, why, sizeof why) == 64, "before: %s", why);
    fake f = {128, 1.0, 2.0};
    at_block_report r;
    CHECK(choose(rt, &f, false, &r) == SCL_OK, "%s", scl_last_error_message(rt));
    CHECK(r.incumbent_block == 64 && r.best_block == 128 && !r.kept_incumbent, "incumbent %d best %d kept %d",
          r.incumbent_block, r.best_block, r.kept_incumbent);
    CHECK(fabs(r.incumbent_ms - 2.0) < 1e-9 && fabs(r.best_ms - 1.0) < 1e-9, "%g %g", r.incumbent_ms,
          r.best_ms);
    size_t n = 0;
    char *text = read_file(user_db, &n);
    CHECK(text && strstr(text, "\"block_choices\"") && strstr(text, "\"seq_bucket\":\t512"), "%s",
          text ? text : "no file");
    free(text);
    /* the next plan of the class takes it; another bucket, direction or ignore_tuning does not */
    CHECK(plan_block(rt, STRIDED, 512, SCL_BLOCK_AUTO, 0, why, sizeof why) == 128, "after: %s", why);
    CHECK(strstr(why, "tuned: ") && strstr(why, "exact device"), "%s", why);
    CHECK(plan_block(rt, STRIDED, 300, SCL_BLOCK_AUTO, 0, why, sizeof why) == 128, "N=300, same bucket: %s",
          why);
    CHECK(plan_block(rt, STRIDED, 1024, SCL_BLOCK_AUTO, 0, why, sizeof why) == 32, "N=1024: %s", why);
    CHECK(plan_block(rt, STRIDED, 512, SCL_BLOCK_AUTO_BACKWARD, 0, why, sizeof why) == 64, "backward: %s",
          why);
    CHECK(plan_block(rt, STRIDED, 512, SCL_BLOCK_AUTO, 1, why, sizeof why) == 64, "ignore_tuning: %s", why);

    /* the incumbent (128 now) stays against a block only 0.5% faster: the file is left as it was */
    char *before = read_file(user_db, &n);
    f = (fake){128, 2.0, 1.99};
    CHECK(choose(rt, &f, false, &r) == SCL_OK && r.kept_incumbent && r.incumbent_block == 128,
          "kept %d inc %d", r.kept_incumbent, r.incumbent_block);
    char *after = read_file(user_db, &n);
    CHECK(before && after && strcmp(before, after) == 0, "the database changed");
    free(before);
    free(after);

    /* a backward entry beside the forward one */
    f = (fake){32, 1.0, 3.0};
    CHECK(choose(rt, &f, true, &r) == SCL_OK && !r.kept_incumbent && r.best_block == 32, "backward: best %d",
          r.best_block);
    CHECK(plan_block(rt, STRIDED, 512, SCL_BLOCK_AUTO_BACKWARD, 0, why, sizeof why) == 32, "backward: %s",
          why);
    CHECK(plan_block(rt, STRIDED, 512, SCL_BLOCK_AUTO, 0, why, sizeof why) == 128, "forward kept: %s", why);
}

/* An entry whose block cannot run is passed over, with why; the rule decides. */
static void test_bad_entry(scl_runtime *rt)
{
    char *text = read_file(user_db, NULL);
    cJSON *db = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(db != NULL, "no database");
    if (!db) return;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(db, "block_choices"))
        cJSON_ReplaceItemInObject((cJSON *)e, "block", cJSON_CreateNumber(48));
    char msg[512], why[1200];
    CHECK(scl_tuning_db_save(user_db, db, msg, sizeof msg) == 0, "%s", msg);
    cJSON_Delete(db);
    scli_runtime_tuning_reload(rt);
    CHECK(plan_block(rt, STRIDED, 512, SCL_BLOCK_AUTO, 0, why, sizeof why) == 64, "bad entry: %s", why);
    CHECK(strstr(why, "passed over") && strstr(why, "power of two"), "%s", why);
}

/* `sparsecl info` and `sparsecl bench --block auto` say which block plans take, and why. */
static void test_cli(void)
{
    char cmd[2000], line[4096];
    snprintf(cmd, sizeof cmd, "'%s' info 2>&1", cli);
    FILE *p = popen(cmd, "r");
    bool listed = false;
    while (p && fgets(line, sizeof line, p))
        listed |= strstr(line, "'causal & strided(32)' d=32 f32 N<=512 forward: block 128, tuned: ") != NULL;
    CHECK(p && pclose(p) == 0 && listed, "info does not list the block-choice entry");
    snprintf(cmd, sizeof cmd,
             "'%s' bench --pattern '%s' --seq 512 --dim 32 --heads 1 --block auto --reps 1 --no-baselines "
             "--no-peak "
             "2>&1",
             cli, STRIDED);
    p = popen(cmd, "r");
    bool said = false;
    while (p && fgets(line, sizeof line, p))
        said |= strncmp(line, "block    128 (auto): tuned: ", 28) == 0;
    CHECK(p && pclose(p) == 0 && said, "bench --block auto does not say it took the tuned block");
}

int main(int argc, char **argv)
{
    test_args(argc, 2, "test_block_choice WORK_DIR SPARSECL_BINARY");
    cli = test_abs_path("test_block_choice", argv[2]);
    mkdir(argv[1], 0755);
    char user[1200], shipped[1200], user_tuning[1200];
    tuning_sandbox(argv[1], "shipped", user, shipped, user_tuning, sizeof user);
    scl_runtime *rt = NULL;
    if (scl_runtime_create("cpu", &rt) != SCL_OK) {
        printf("no CPU device: skipped (%s)\n", scl_last_error_message(rt));
        scl_runtime_destroy(rt);
        return 0;
    }
    setenv("SPARSECL_DEVICE", "cpu", 1); /* the CLI runs on the same device */
    char slug[200];
    scli_device_slug(scl_runtime_device(rt), slug, sizeof slug);
    snprintf(user_db, sizeof user_db, "%s/%s.json", user_tuning, slug);
    test_rule(rt);
    test_entry(rt);
    test_cli();
    test_bad_entry(rt);
    scl_runtime_destroy(rt);
    return check_summary("block_choice");
}
