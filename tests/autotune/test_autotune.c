/* Autotuner: search strategies on a synthetic cost model with a known optimum, pruning against
 * device limits, a candidate that fails verification is never chosen, the database round trip,
 * corrupt databases, the runtime's look-up order, and --resume; for the backward kernels their
 * space's pruning, a short tuning run, and the runtime's use of (or fallback from) an entry.
 * Usage: test_autotune KERNEL_SOURCE_DIR WORK_DIR */
#include "../check.h"
#include "backward.h"
#include "plan_internal.h"
#include "space.h"
#include "tuner.h"
#include "tuning_db_write.h"
#include "tune_env.h"
#include "../test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *work;

/* ---- strategies on a synthetic model --------------------------------------------------- */
/* 6 dimensions; a smooth bowl with interactions and a few holes (failed points). */
typedef struct synth {
    at_space s;
    int calls;
} synth;

static double synth_cost_of(const at_point *p)
{
    static const int opt[6] = {3, 1, 4, 1, 0, 1};
    double c = 10;
    for (int d = 0; d < 6; d++) c *= 1 + 0.15 * (p->v[d] - opt[d]) * (p->v[d] - opt[d]);
    c *= 1 + 0.05 * abs((p->v[0] - opt[0]) - (p->v[2] - opt[2])); /* ridge */
    /* A second, slightly worse basin far from the optimum: greedy descent can get stuck there. */
    double far = 10.4;
    static const int alt[6] = {0, 2, 0, 0, 1, 0};
    for (int d = 0; d < 6; d++) far *= 1 + 0.2 * (p->v[d] - alt[d]) * (p->v[d] - alt[d]);
    return c < far ? c : far;
}

static double synth_cost(int i, void *ctx)
{
    synth *s = ctx;
    s->calls++;
    const at_point *p = &s->s.points[i];
    if ((p->v[0] + p->v[1] + p->v[5]) % 7 == 6) return INFINITY; /* some candidates fail */
    return synth_cost_of(p);
}

/* The global optimum fails: the search must pick the best of the rest. */
static double synth_cost_broken_best(int i, void *ctx)
{
    synth *s = ctx;
    const at_point *p = &s->s.points[i];
    static const int opt[6] = {3, 1, 4, 1, 0, 1};
    if (!memcmp(p->v, opt, sizeof opt)) return (s->calls++, INFINITY);
    return synth_cost(i, ctx);
}

static void build_synth(synth *sy)
{
    static const int nv[6] = {5, 3, 5, 2, 2, 3}; /* 900 points, ~300 valid: like the real spaces */
    memset(sy, 0, sizeof *sy);
    sy->s.n_dims = 6;
    int total = 1;
    for (int d = 0; d < 6; d++) total *= (sy->s.n_values[d] = nv[d]);
    sy->s.points = malloc(sizeof(at_point) * (size_t)total);
    for (int i = 0; i < total; i++) {
        at_point p = {{0}};
        for (int d = 0, r = i; d < 6; d++) p.v[d] = r % nv[d], r /= nv[d];
        if ((p.v[1] + p.v[3] + p.v[4]) % 3 == 1) continue; /* pruned as "invalid" */
        sy->s.points[sy->s.n_points++] = p;
    }
}

static void test_strategies(void)
{
    synth sy;
    build_synth(&sy);
    sy.calls = 0;
    at_result ex = at_search(&sy.s, AT_EXHAUSTIVE, 0, -1, NULL, 1, synth_cost, NULL, &sy);
    CHECK(ex.evaluated == sy.s.n_points && sy.calls == sy.s.n_points, "exhaustive evaluates every point once");
    CHECK(fabs(ex.best_cost - 10) < 1e-9, "exhaustive finds the known optimum (%g)", ex.best_cost);
    int quarter = sy.s.n_points / 4;
    int hits = 0;
    double worst = 0;
    for (unsigned seed = 1; seed <= 10; seed++) {
        sy.calls = 0;
        at_result lo = at_search(&sy.s, AT_LOCAL, quarter, 0, NULL, seed, synth_cost, NULL, &sy);
        CHECK(lo.evaluated <= quarter && sy.calls == lo.evaluated, "local search stays within budget");
        worst = fmax(worst, lo.best_cost / ex.best_cost);
        hits += lo.best_cost <= ex.best_cost * 1.05;
    }
    CHECK(hits == 10, "local search within 5%% of the optimum from 10 seeds (%d/10, worst ratio %.3f)", hits, worst);
    sy.calls = 0;
    at_result ra = at_search(&sy.s, AT_RANDOM, quarter, -1, NULL, 3, synth_cost, NULL, &sy);
    CHECK(ra.evaluated == quarter, "random search uses its budget");
    printf("synthetic space: %d valid points; exhaustive optimum %.3f; local (<= %d evals) worst %.3f x optimum over "
           "10 seeds; random (%d evals) %.3f x\n",
           sy.s.n_points, ex.best_cost, quarter, worst, quarter, ra.best_cost / ex.best_cost);

    /* A failing candidate is never chosen, even when it would have been the best. */
    sy.calls = 0;
    at_result br = at_search(&sy.s, AT_EXHAUSTIVE, 0, -1, NULL, 1, synth_cost_broken_best, NULL, &sy);
    CHECK(br.best >= 0 && isfinite(br.best_cost) && br.best_cost > 10, "failed optimum not chosen (%g)", br.best_cost);

    /* Known costs (a resumed run) are reused, not re-measured. */
    double *known = malloc(sizeof(double) * (size_t)sy.s.n_points);
    for (int i = 0; i < sy.s.n_points; i++) known[i] = i % 2 ? synth_cost_of(&sy.s.points[i]) : NAN;
    sy.calls = 0;
    at_result re = at_search(&sy.s, AT_EXHAUSTIVE, 0, -1, known, 1, synth_cost, NULL, &sy);
    CHECK(sy.calls == (sy.s.n_points + 1) / 2 && re.evaluated == sy.calls, "resume measures only the rest (%d)",
          sy.calls);
    free(known);
    free(sy.s.points);
}

/* ---- pruning against device limits -------------------------------------------------------- */
/* Builds kernel k's GPU space on the small device ctx with its rejections logged to WORK/log_name:
 * every kept point passes the schema's check and fits (fits), and the log names every needle
 * (a NULL-ended list). */
static void check_pruned(const scli_param_schema *k, const scli_param_context *ctx, const char *log_name,
                         bool (*fits)(const at_params *), const char *const *needles, at_kspace *sp)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", work, log_name);
    FILE *f = fopen(path, "w");
    CHECK(at_kspace_build(k, ctx, SCLI_FAMILY_GPU, f, sp) == 0, "%s: GPU space builds", k->kernel);
    if (f) fclose(f);
    CHECK(sp->space.n_points > 0 && sp->space.n_points < sp->total, "%s pruned: %d of %d valid", k->kernel,
          sp->space.n_points, sp->total);
    int bad = 0;
    for (int i = 0; i < sp->space.n_points; i++) {
        at_params p;
        char reason[256];
        at_kspace_point(sp, i, &p);
        bad += !scli_params_check(k, &p, ctx, reason, sizeof reason) || !fits(&p);
    }
    CHECK(bad == 0, "%s: every kept point fits the device limits (%d do not)", k->kernel, bad);
    char *log = read_file(path, NULL);
    for (int i = 0; needles[i]; i++)
        CHECK(log && strstr(log, needles[i]), "%s: the rejection log gives the reason '%s'", k->kernel,
              needles[i]);
    free(log);
}

static bool fwd_fits(const at_params *p)
{
    return scli_fwd_work_group_size(&p->fwd) <= 64 && scli_fwd_local_bytes(&p->fwd, 64) <= 16 * 1024;
}

static bool bwd_fits(const at_params *p)
{
    return scli_bwd_dq_work_group_size(&p->bwd) <= 32 && scli_bwd_dkv_work_group_size(&p->bwd) <= 32 &&
           scli_bwd_local_bytes(&p->bwd, 64) <= 16 * 1024;
}

static void test_pruning(void)
{
    scli_param_context small = {64, 64, 64, 16 * 1024, 192, 0, 0, 0};
    at_kspace sp;
    check_pruned(&scli_fwd_simt_schema, &small, "rejected.txt", fwd_fits,
                 (const char *const[]){"exceeds the device maximum 64", "bytes of local memory", NULL}, &sp);
    at_kspace_free(&sp);
}

static void test_bwd_pruning(void)
{
    scli_param_context small = {64, 64, 32, 16 * 1024, 192, 0, 0, 0};
    at_kspace sp;
    check_pruned(&scli_bwd_simt_schema, &small, "rejected-bwd.txt", bwd_fits,
                 (const char *const[]){"rejected attn_bwd", "must not exceed the device maximum 32",
                                       "bytes of local memory", "registers", NULL},
                 &sp);
    int gpu_valid = sp.space.n_points, gpu_total = sp.total;
    at_kspace_free(&sp);

    /* A CPU-like device: the space holds the built-in CPU defaults (the local search's start). */
    scli_param_context cpu = {64, 64, 4096, 32 * 1024, 4096, 0, 0, 0};
    scl_device_info dev;
    memset(&dev, 0, sizeof dev);
    dev.type = CL_DEVICE_TYPE_CPU;
    at_params def;
    memset(&def, 0, sizeof def);
    CHECK(at_kspace_build(&scli_bwd_simt_schema, &cpu, SCLI_FAMILY_CPU, NULL, &sp) == 0 && scli_params_default(&scli_bwd_simt_schema, &dev, &cpu, &def),
          "backward CPU space and defaults");
    CHECK(at_kspace_find(&sp, &def) >= 0, "the CPU defaults are a point of the CPU space (%d of %d valid)",
          sp.space.n_points, sp.total);
    printf("backward spaces: GPU-style %d of %d valid on a small GPU; CPU-style %d of %d\n", gpu_valid,
           gpu_total, sp.space.n_points, sp.total);
    at_kspace_free(&sp);
}

/* ---- databases ----------------------------------------------------------------------------- */
static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* The schema's defaults for head dim d and block (pc their context) in def, and in alt the same
 * set with one staging flag of alt flipped: a different, still valid, set, so that a look-up shows
 * which of the two it found. */
static void defaults_and_variant(const scli_param_schema *k, const scl_device_info *dev, int d, int block,
                                 scli_param_context *pc, void *def, void *alt, int *flag_of_alt)
{
    char msg[512];
    scli_param_context_init(pc, dev, d, block);
    scli_params_default(k, dev, pc, def);
    memcpy(alt, def, k->size);
    *flag_of_alt = !*flag_of_alt;
    CHECK(scli_params_check(k, alt, pc, msg, sizeof msg), "%s variant valid: %s", k->direction, msg);
}

static void write_db(const scl_device_info *dev, const char *dir, int block, const scli_fwd_params *p)
{
    mkdir(dir, 0755);
    cJSON *db = scl_tuning_db_new(dev);
    cJSON *e = scl_tuning_db_entry(db, &scli_fwd_simt_schema, 64, block, SCL_F32);
    cJSON_AddItemToObject(e, "params", scl_params_to_json(&scli_fwd_simt_schema, p));
    char path[1400], slug[200], msg[512];
    scli_device_slug(dev, slug, sizeof slug);
    snprintf(path, sizeof path, "%s/%s.json", dir, slug);
    CHECK(scl_tuning_db_save(path, db, msg, sizeof msg) == 0, "save %s: %s", path, msg);
    cJSON_Delete(db);
}

static void test_database(scl_runtime *rt)
{
    const scl_device_info *dev = scl_runtime_device(rt);
    char user[600], shipped[600], user_tuning[600], msg[512], src[1400];
    tuning_sandbox(work, "shipped", user, shipped, user_tuning, sizeof user);

    scli_param_context pc;
    scli_fwd_params a, b, got;
    defaults_and_variant(&scli_fwd_simt_schema, dev, 64, 64, &pc, &a, &b, &b.stage_q);

    /* Round trip. */
    write_db(dev, user_tuning, 64, &a);
    char slug[200], path[1400];
    scli_device_slug(dev, slug, sizeof slug);
    snprintf(path, sizeof path, "%s/%s.json", user_tuning, slug);
    cJSON *db = scli_tuning_db_load(path, msg, sizeof msg);
    CHECK(db != NULL, "load: %s", msg);
    cJSON *e = db ? scli_tuning_db_find(db, &scli_fwd_simt_schema, 64, 64, SCL_F32) : NULL;
    CHECK(e && scli_params_from_json(&scli_fwd_simt_schema, cJSON_GetObjectItemCaseSensitive(e, "params"), &got) && !memcmp(&got, &a, sizeof a),
          "parameters survive the round trip");
    CHECK(db && !scli_tuning_db_find(db, &scli_fwd_simt_schema, 128, 64, SCL_F32), "other shape classes absent");
    cJSON_Delete(db);

    /* Look-up order: user cache before the shipped directory. */
    write_db(dev, shipped, 64, &b);
    CHECK(scli_tuning_lookup(&scli_fwd_simt_schema, dev, &pc, SCL_F32, &got, src, sizeof src) && !memcmp(&got, &a, sizeof a) &&
              strstr(src, user_tuning),
          "user cache first: %s", src);
    remove(path);
    CHECK(scli_tuning_lookup(&scli_fwd_simt_schema, dev, &pc, SCL_F32, &got, src, sizeof src) && !memcmp(&got, &b, sizeof b) &&
              strstr(src, shipped),
          "then the shipped databases: %s", src);
    /* Parameters invalid for this shape class (bq larger than the block) are skipped. */
    scli_fwd_params wide = a;
    wide.bq = 128;
    write_db(dev, user_tuning, 64, &wide);
    CHECK(scli_tuning_lookup(&scli_fwd_simt_schema, dev, &pc, SCL_F32, &got, src, sizeof src) && !memcmp(&got, &b, sizeof b),
          "invalid entry skipped: %s", src);
    /* A corrupt (truncated) database is reported and ignored. */
    write_text(path, "{\"format\": \"sparsecl-tuning\", \"version\": 1, \"entr");
    CHECK(scli_tuning_db_load(path, msg, sizeof msg) == NULL && strstr(msg, "not valid JSON"), "corrupt refused: %s",
          msg);
    setenv("SPARSECL_QUIET", "1", 1);
    CHECK(scli_tuning_lookup(&scli_fwd_simt_schema, dev, &pc, SCL_F32, &got, src, sizeof src) && !memcmp(&got, &b, sizeof b),
          "corrupt user database skipped");
    write_text(path, "{\"format\": \"something-else\", \"version\": 1, \"entries\": []}");
    CHECK(scli_tuning_db_load(path, msg, sizeof msg) == NULL && strstr(msg, "not a sparsecl tuning database"),
          "foreign JSON refused: %s", msg);
    /* Nothing anywhere: the plan falls back to the built-in defaults. */
    remove(path);
    char shipped_path[1400];
    snprintf(shipped_path, sizeof shipped_path, "%s/%s.json", shipped, slug);
    remove(shipped_path);
    CHECK(!scli_tuning_lookup(&scli_fwd_simt_schema, dev, &pc, SCL_F32, &got, src, sizeof src), "no database: not found");
    scli_runtime_tuning_reload(rt); /* a runtime reads its databases once: forget the earlier ones */
    scl_pattern *pat = NULL;
    scl_plan *plan = NULL;
    scl_shape shape = {1, 1, 1, 64, 64, 64, 64, 0, 0};
    CHECK(scl_pattern_create(rt, "causal", &pat) == SCL_OK && scl_plan_create(rt, pat, &shape, SCL_F32, &plan) == SCL_OK,
          "plan");
    CHECK(plan && strstr(scl_plan_kernel_source(plan), "built-in"), "plan says where its parameters came from: %s",
          plan ? scl_plan_kernel_source(plan) : "");
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
    unsetenv("SPARSECL_QUIET");
    unsetenv("SPARSECL_TUNING_DIR");
    unsetenv("SPARSECL_SHIPPED_TUNING");
}

/* ---- the tuner itself --------------------------------------------------------------------- */
/* Timing for the tuning runs: the built-in defaults (the incumbent here) at 2 ms, every other
 * candidate at 1 ms, so a winner always replaces the incumbent and its entry is written. */
typedef struct fake_timing {
    const scli_param_schema *k;
    at_params defaults;
} fake_timing;

static double fake_ms(const at_params *p, double measured, void *ctx)
{
    const fake_timing *f = ctx;
    (void)measured;
    return memcmp(p, &f->defaults, f->k->size) == 0 ? 2.0 : 1.0;
}

static void fake_for(scl_runtime *rt, const scli_param_schema *k, int d, int block, fake_timing *f,
                     at_tune_options *o)
{
    scli_param_context pc;
    scli_param_context_init(&pc, scl_runtime_device(rt), d, block);
    memset(f, 0, sizeof *f);
    f->k = k;
    scli_params_default(k, scl_runtime_device(rt), &pc, &f->defaults);
    o->fake_ms = fake_ms;
    o->fake_ctx = f;
}

static void test_tuner(scl_runtime *rt, const char *kernels)
{
    /* A kernel that is wrong for bq=8: those candidates must fail verification and never win.
     * The exhaustive order meets bq=8 first, so the budget of 6 is sure to include some. */
    char kdir[600], cmd[2000];
    snprintf(kdir, sizeof kdir, "%s/kernels", work);
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && cp -r '%s' '%s' && sed -i 's|const float inv = empty ? 0.0f : 1.0f / sum;|const "
             "float inv = (empty ? 0.0f : 1.0f / sum) * (BQ == 8 ? 1.01f : 1.0f);|' '%s/attn_fwd.cl' && grep -q "
             "'BQ == 8' '%s/attn_fwd.cl'",
             kdir, kernels, kdir, kdir, kdir);
    CHECK(system(cmd) == 0, "prepare a broken kernel copy");
    setenv("SPARSECL_KERNEL_DIR", kdir, 1);
    char db[700];
    snprintf(db, sizeof db, "%s/tuned.json", work);
    remove(db);
    at_tune_options o = short_tune(db, 1); /* the CPU-style space: ri is one of its dimensions */
    o.strategy = AT_EXHAUSTIVE;
    o.max_evals = 6;
    o.seq = 256;
    fake_timing fake;
    fake_for(rt, &scli_fwd_simt_schema, 32, 32, &fake, &o);
    at_tune_report r;
    scl_status st = at_tune_fwd(rt, &o, &r);
    CHECK(st == SCL_OK && r.found, "tuning ran: %s", scl_last_error_message(rt));
    CHECK(r.timed == 6, "timed the budget (%d)", r.timed);
    CHECK(r.best.fwd.bq != 8, "a candidate that failed verification is never chosen (best bq=%d)",
          r.best.fwd.bq);
    char msg[512];
    cJSON *j = scli_tuning_db_load(db, msg, sizeof msg);
    CHECK(j != NULL, "database written: %s", msg);
    int rejected = 0, measured = 0;
    cJSON *e = j ? scli_tuning_db_find(j, &scli_fwd_simt_schema, 32, 32, SCL_F32) : NULL;
    cJSON *m, *list = e ? cJSON_GetObjectItemCaseSensitive(e, "measured") : NULL;
    cJSON_ArrayForEach(m, list)
    {
        measured++;
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(m, "rejected");
        rejected += cJSON_IsString(why) && strstr(why->valuestring, "verification failed") != NULL;
    }
    CHECK(measured == 6 && rejected >= 1, "every point recorded (%d), bq=8 rejected by verification (%d)", measured,
          rejected);
    CHECK(e && cJSON_GetObjectItemCaseSensitive(e, "runners_up") && cJSON_GetObjectItemCaseSensitive(e, "default_params"),
          "summary written");
    /* An interrupted run: mark one more point as pending (as a crash would leave it), resume. */
    if (e) {
        cJSON *p = cJSON_CreateObject();
        scli_fwd_params q = r.best.fwd;
        q.stage_q = !q.stage_q;
        q.bq = q.tm = 32; /* exhaustive order reaches bq=32 late: this point is not measured yet */
        cJSON_AddItemToObject(p, "params", scl_params_to_json(&scli_fwd_simt_schema, &q));
        cJSON_AddItemToObject(p, "pending", cJSON_CreateTrue());
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(e, "measured"), p);
        scl_tuning_db_save(db, j, msg, sizeof msg);
    }
    cJSON_Delete(j);
    o.resume = true;
    o.max_evals = 2;
    st = at_tune_fwd(rt, &o, &r);
    CHECK(st == SCL_OK && r.reused == 7 && r.timed == 2, "resume reuses 7 points, times 2 more (reused %d, timed %d)",
          r.reused, r.timed);
    j = scli_tuning_db_load(db, msg, sizeof msg);
    e = j ? scli_tuning_db_find(j, &scli_fwd_simt_schema, 32, 32, SCL_F32) : NULL;
    measured = 0;
    int crashed = 0;
    list = e ? cJSON_GetObjectItemCaseSensitive(e, "measured") : NULL;
    cJSON_ArrayForEach(m, list)
    {
        measured++;
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(m, "rejected");
        crashed += cJSON_IsString(why) && strstr(why->valuestring, "stopped while measuring") != NULL;
    }
    CHECK(measured == 9 && crashed == 1, "nothing lost on resume (%d points), the interrupted one rejected (%d)",
          measured, crashed);
    cJSON_Delete(j);
    unsetenv("SPARSECL_KERNEL_DIR");
}

/* ---- backward: a short tuning run, and the runtime's use of its entries ------------------------ */
static void test_bwd_tuner(scl_runtime *rt)
{
    char db[700], msg[512];
    snprintf(db, sizeof db, "%s/tuned-bwd.json", work);
    remove(db);
    at_tune_options o = short_tune(db, 1);
    o.kernel = &scli_bwd_simt_schema;
    fake_timing fake;
    fake_for(rt, &scli_bwd_simt_schema, 32, 32, &fake, &o);
    at_tune_report r;
    scl_status st = at_tune(rt, &o, &r);
    CHECK(st == SCL_OK && r.found, "backward tuning ran: %s", scl_last_error_message(rt));
    CHECK(r.timed <= 3 && r.valid_points > 0 && r.valid_points < r.total_points,
          "budget kept (%d timed, %d of %d valid)", r.timed, r.valid_points, r.total_points);
    CHECK(r.best_error <= 1e-4, "best backward candidate verified (error %.3g)", r.best_error);
    char text[300];
    scli_params_text(&scli_bwd_simt_schema, &r.best, text, sizeof text);
    printf(
        "backward tuning (3 points, d=32 block=32, N=128): best %.3f ms (%s), defaults %.3f ms, error %.2g\n",
        r.best_ms, text, r.default_ms, r.best_error);
    cJSON *j = scli_tuning_db_load(db, msg, sizeof msg);
    cJSON *e = j ? scli_tuning_db_find(j, &scli_bwd_simt_schema, 32, 32, SCL_F32) : NULL;
    const cJSON *dir = e ? cJSON_GetObjectItemCaseSensitive(e, "direction") : NULL;
    at_params got;
    CHECK(e && cJSON_IsString(dir) && strcmp(dir->valuestring, "backward") == 0 &&
              scli_params_from_json(&scli_bwd_simt_schema, cJSON_GetObjectItemCaseSensitive(e, "params"), &got) &&
              !memcmp(&got.bwd, &r.best.bwd, sizeof got.bwd),
          "an attn_bwd entry with the best parameters written: %s", msg);
    int measured = 0;
    cJSON *m, *list = e ? cJSON_GetObjectItemCaseSensitive(e, "measured") : NULL;
    cJSON_ArrayForEach(m, list) measured++;
    CHECK(measured == r.timed && j && !scli_tuning_db_find(j, &scli_fwd_simt_schema, 32, 32, SCL_F32),
          "every backward point recorded (%d), no forward entry made", measured);
    cJSON_Delete(j);
    /* A later run without --resume (another direction) merges: the backward entry stays. */
    o.kernel = &scli_fwd_simt_schema;
    o.max_evals = 1;
    fake_for(rt, &scli_fwd_simt_schema, 32, 32, &fake, &o);
    st = at_tune(rt, &o, &r);
    j = scli_tuning_db_load(db, msg, sizeof msg);
    CHECK(st == SCL_OK && j && scli_tuning_db_find(j, &scli_bwd_simt_schema, 32, 32, SCL_F32) &&
              scli_tuning_db_find(j, &scli_fwd_simt_schema, 32, 32, SCL_F32),
          "a forward run merges into the database: both entries present (%s)", msg);
    cJSON_Delete(j);
    /* An existing database that cannot be read is never replaced. */
    FILE *f = fopen(db, "w");
    if (f) {
        fputs("{\"format\": \"sparsecl-tuning\", \"vers", f);
        fclose(f);
    }
    st = at_tune(rt, &o, &r);
    CHECK(st == SCL_ERR_IO && strstr(scl_last_error_message(rt), "not valid JSON"), "corrupt database refused: %s",
          scl_last_error_message(rt));
    f = fopen(db, "r");
    char head[64] = "";
    CHECK(f && fgets(head, sizeof head, f) && strstr(head, "\"vers"), "corrupt database left as it was");
    if (f) fclose(f);
}

static void write_bwd_db(const scl_device_info *dev, const char *dir, const scli_bwd_params *p)
{
    mkdir(dir, 0755);
    cJSON *db = scl_tuning_db_new(dev);
    cJSON *e = scl_tuning_db_entry(db, &scli_bwd_simt_schema, 32, 32, SCL_F32);
    at_params q;
    memset(&q, 0, sizeof q);
    q.bwd = *p;
    cJSON_AddItemToObject(e, "params", scl_params_to_json(&scli_bwd_simt_schema, &q));
    char path[1400], slug[200], msg[512];
    scli_device_slug(dev, slug, sizeof slug);
    snprintf(path, sizeof path, "%s/%s.json", dir, slug);
    CHECK(scl_tuning_db_save(path, db, msg, sizeof msg) == 0, "save %s: %s", path, msg);
    cJSON_Delete(db);
}

/* The backward source a fresh plan reports after its kernels were built from the look-up order. */
static void bwd_source(scl_runtime *rt, char *src, size_t len, char *opts, size_t olen)
{
    scl_pattern *pat = NULL;
    scl_plan *plan = NULL;
    scl_shape shape = {1, 1, 1, 64, 64, 32, 32, 0, 0};
    src[0] = opts[0] = '\0';
    if (scl_pattern_create(rt, "causal", &pat) == SCL_OK &&
        scl_plan_create(rt, pat, &shape, SCL_F32, &plan) == SCL_OK &&
        scli_plan_prepare_backward(plan, NULL) == SCL_OK) {
        snprintf(src, len, "%s", scl_plan_backward_kernel_source(plan));
        snprintf(opts, olen, "%s", scl_plan_backward_kernel_options(plan));
    } else {
        snprintf(src, len, "error: %s", scl_last_error_message(rt));
    }
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
}

static void test_bwd_lookup(scl_runtime *rt)
{
    const scl_device_info *dev = scl_runtime_device(rt);
    char user[512], tuning[600], path[1400], slug[200], src[1400], opts[600], want[64];
    snprintf(user, sizeof user, "%s/cache-bwd", work);
    mkdir(user, 0755);
    snprintf(tuning, sizeof tuning, "%s/tuning", user);
    scli_device_slug(dev, slug, sizeof slug);
    snprintf(path, sizeof path, "%s/%s.json", tuning, slug);
    setenv("SPARSECL_CACHE_DIR", user, 1);
    setenv("SPARSECL_SHIPPED_TUNING", "off", 1);
    setenv("SPARSECL_QUIET", "1", 1);
    scli_param_context pc;
    scli_bwd_params def, alt, got;
    defaults_and_variant(&scli_bwd_simt_schema, dev, 32, 32, &pc, &def, &alt, &alt.stage);

    write_bwd_db(dev, tuning, &alt);
    scli_runtime_tuning_reload(rt); /* a runtime reads its databases once: forget the earlier ones */
    CHECK(scli_tuning_lookup(&scli_bwd_simt_schema, dev, &pc, SCL_F32, &got, src, sizeof src) && !memcmp(&got, &alt, sizeof alt),
          "the backward look-up finds the entry");
    bwd_source(rt, src, sizeof src, opts, sizeof opts);
    snprintf(want, sizeof want, "-DSTAGE=%d ", alt.stage);
    CHECK(strstr(src, path) && strstr(opts, want), "backward kernels use the database entry: %s [%s]", src,
          opts);
    /* SPARSECL_BWD_PARAMS still overrides on top of the entry. */
    setenv("SPARSECL_BWD_PARAMS", "fast_exp=0", 1);
    bwd_source(rt, src, sizeof src, opts, sizeof opts);
    CHECK(strstr(src, path) && strstr(src, "+ SPARSECL_BWD_PARAMS=fast_exp=0") &&
              strstr(opts, "-DFAST_EXP=0"),
          "override applies over the entry: %s", src);
    unsetenv("SPARSECL_BWD_PARAMS");
    /* An entry invalid here (a tile larger than the block) falls back to the defaults. */
    scli_bwd_params wide = alt;
    wide.dq_bq = 64;
    write_bwd_db(dev, tuning, &wide);
    scli_runtime_tuning_reload(rt);
    bwd_source(rt, src, sizeof src, opts, sizeof opts);
    CHECK(strstr(src, "built-in") == src, "invalid backward entry skipped: %s", src);
    /* So does a corrupt (truncated) database. */
    write_text(path,
               "{\"format\": \"sparsecl-tuning\", \"version\": 1, \"entries\": [{\"kernel\": \"attn_bwd\"");
    scli_runtime_tuning_reload(rt);
    bwd_source(rt, src, sizeof src, opts, sizeof opts);
    snprintf(want, sizeof want, "-DSTAGE=%d ", def.stage);
    CHECK(strstr(src, "built-in") == src && strstr(opts, want), "corrupt database: defaults: %s", src);
    remove(path);
    unsetenv("SPARSECL_QUIET");
    unsetenv("SPARSECL_SHIPPED_TUNING");
}

int main(int argc, char **argv)
{
    test_args(argc, 2, "test_autotune KERNEL_DIR WORK_DIR");
    work = argv[2];
    mkdir(work, 0755);
    test_strategies();
    test_pruning();
    test_bwd_pruning();
    scl_runtime *rt = NULL;
    if (scl_runtime_create(getenv("SPARSECL_TEST_DEVICE"), &rt) != SCL_OK) {
        fprintf(stderr, "no device: %s\n", scl_last_error_message(rt));
        scl_runtime_destroy(rt);
        return 1;
    }
    test_database(rt);
    /* The tuning runs search the CPU-style spaces (their points are known here), so they run on
     * a CPU device; on a machine with none they are skipped and say so. */
    scl_runtime *cpu = NULL;
    if (scl_runtime_create("cpu", &cpu) == SCL_OK) {
        test_tuner(cpu, argv[1]);
        test_bwd_tuner(cpu);
    } else {
        printf("no CPU device: tuning runs skipped (%s)\n", scl_last_error_message(cpu));
    }
    scl_runtime_destroy(cpu);
    test_bwd_lookup(rt);
    scl_runtime_destroy(rt);
    return check_summary("autotune");
}
