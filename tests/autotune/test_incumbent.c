/* The tuner's incumbent rule (issue 17): what plans use today is timed in the same run as the
 * candidates, the finalists are re-timed together, and a winner replaces the incumbent only when
 * it is faster by more than the measured noise; the ETA never runs past a time budget.
 * The device times are injected (at_tune_options.fake_ms: plans are still built, verified and
 * run, only the number is replaced), so the decisions are deterministic.
 * Usage: test_incumbent WORK_DIR */
#include "../check.h"
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
static char user_db[1400]; /* the user cache's database of the device: where plans look first */

/* Injected times: the incumbent, the defaults and the other candidates, each with a relative
 * jitter that alternates sign from one run to the next. */
typedef struct fake {
    at_params incumbent, defaults;
    double inc_ms, def_ms, other_ms, jitter;
    int calls;
} fake;

static double fake_ms(const at_params *p, double measured, void *ctx)
{
    fake *f = ctx;
    (void)measured;
    double ms = !memcmp(p, &f->incumbent, sizeof(scli_fwd_params))  ? f->inc_ms
                : !memcmp(p, &f->defaults, sizeof(scli_fwd_params)) ? f->def_ms
                                                                   : f->other_ms;
    return ms * (1 + ((f->calls++ % 2) ? f->jitter : -f->jitter));
}

static at_tune_options options(fake *f)
{
    at_tune_options o = short_tune(user_db, 3);
    o.fake_ms = fake_ms;
    o.fake_ctx = f;
    return o;
}

static void write_incumbent(const scl_device_info *dev, const scli_fwd_params *p)
{
    cJSON *db = scl_tuning_db_new(dev);
    cJSON *e = scl_tuning_db_entry(db, &scli_fwd_simt_schema, 32, 32, SCL_F32);
    cJSON_AddItemToObject(e, "params", scl_params_to_json(&scli_fwd_simt_schema, p));
    cJSON_AddNumberToObject(e, "median_ms", 1.0);
    char msg[512];
    CHECK(scl_tuning_db_save(user_db, db, msg, sizeof msg) == 0, "save %s: %s", user_db, msg);
    cJSON_Delete(db);
}

/* A valid point of the CPU space other than the defaults, for the incumbent. */
static bool pick_incumbent(scl_runtime *rt, const at_params *def, at_params *out)
{
    scli_param_context pc;
    scli_param_context_init(&pc, scl_runtime_device(rt), 32, 32);
    at_kspace sp;
    if (at_kspace_build(&scli_fwd_simt_schema, &pc, SCLI_FAMILY_CPU, NULL, &sp) != 0) return false;
    int d = at_kspace_find(&sp, def);
    bool ok = false;
    for (int i = 0; i < sp.space.n_points && !ok; i++) {
        if (i == d) continue;
        at_kspace_point(&sp, i, out);
        ok = true;
    }
    at_kspace_free(&sp);
    return ok;
}

/* How many of the entry's measured points are one step from `from` in one searched dimension. */
static int neighbours_of(scl_runtime *rt, const cJSON *entry, const at_params *from, int *total)
{
    scli_param_context pc;
    scli_param_context_init(&pc, scl_runtime_device(rt), 32, 32);
    at_kspace sp;
    *total = 0;
    if (at_kspace_build(&scli_fwd_simt_schema, &pc, SCLI_FAMILY_CPU, NULL, &sp) != 0) return 0;
    int f = at_kspace_find(&sp, from), near = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(entry, "measured"))
    {
        at_params p;
        int i = scli_params_from_json(&scli_fwd_simt_schema, cJSON_GetObjectItemCaseSensitive(m, "params"), &p)
                    ? at_kspace_find(&sp, &p)
                    : -1;
        (*total)++;
        if (i < 0 || f < 0) continue;
        int steps = 0;
        for (int d = 0; d < sp.n_dims; d++)
            steps += abs(sp.space.points[i].v[d] - sp.space.points[f].v[d]);
        near += steps == 1;
    }
    at_kspace_free(&sp);
    return near;
}

static void test_rule(scl_runtime *rt)
{
    const scl_device_info *dev = scl_runtime_device(rt);
    scli_param_context pc;
    scli_param_context_init(&pc, dev, 32, 32);
    fake f;
    memset(&f, 0, sizeof f);
    scli_params_default(&scli_fwd_simt_schema, dev, &pc, &f.defaults);
    CHECK(pick_incumbent(rt, &f.defaults, &f.incumbent), "an incumbent point");
    at_tune_report r;

    /* 1. The incumbent is faster than anything the budget lets the search find: unchanged. */
    write_incumbent(dev, &f.incumbent.fwd);
    size_t n0, n1;
    char *before = read_file(user_db, &n0);
    f.inc_ms = 1.0, f.def_ms = 3.0, f.other_ms = 2.0;
    at_tune_options o = options(&f);
    scl_status st = at_tune(rt, &o, &r);
    char *after = read_file(user_db, &n1);
    CHECK(st == SCL_OK && r.incumbent_from_db && strstr(r.incumbent_source, user_db) &&
              !memcmp(&r.incumbent, &f.incumbent, sizeof(scli_fwd_params)),
          "the incumbent is the user cache's entry: %s", r.incumbent_source);
    CHECK(r.kept_incumbent && fabs(r.incumbent_ms - 1.0) < 1e-9 && fabs(r.default_ms - 3.0) < 1e-9 &&
              !memcmp(&r.best, &f.incumbent, sizeof(scli_fwd_params)),
          "slower candidates: the incumbent stays (incumbent %.3f, defaults %.3f, candidate %.3f ms)",
          r.incumbent_ms, r.default_ms, r.challenger_ms);
    CHECK(before && after && n0 == n1 && !memcmp(before, after, n0),
          "the database is byte for byte unchanged");
    CHECK(r.timed == 3 && r.n_final == 5, "searched 3 points, re-timed 5 finalists (%d, %d)", r.timed,
          r.n_final);
    free(before);
    free(after);

    /* 2. A candidate within the noise of the incumbent (3% faster, 10% jitter): unchanged. */
    before = read_file(user_db, &n0);
    f.inc_ms = 1.0, f.def_ms = 3.0, f.other_ms = 0.97, f.jitter = 0.10;
    st = at_tune(rt, &o, &r);
    after = read_file(user_db, &n1);
    CHECK(st == SCL_OK && r.kept_incumbent && r.has_challenger && r.noise > 0.05,
          "within the noise: kept (candidate %.3f vs %.3f ms, noise %.1f%%)", r.challenger_ms, r.incumbent_ms,
          100 * r.noise);
    CHECK(before && after && n0 == n1 && !memcmp(before, after, n0), "the database is still unchanged");
    free(before);
    free(after);

    /* 3. A candidate faster by more than the noise: written, with the incumbent it replaced. */
    f.other_ms = 0.5, f.jitter = 0.02;
    st = at_tune(rt, &o, &r);
    CHECK(st == SCL_OK && !r.kept_incumbent && fabs(r.best_ms - 0.5) < 0.02 &&
              memcmp(&r.best, &f.incumbent, sizeof(scli_fwd_params)) != 0,
          "a 2x faster candidate wins (%.3f vs %.3f ms, noise %.1f%%)", r.best_ms, r.incumbent_ms,
          100 * r.noise);
    char msg[512];
    cJSON *db = scli_tuning_db_load(user_db, msg, sizeof msg);
    cJSON *e = db ? scli_tuning_db_find(db, &scli_fwd_simt_schema, 32, 32, SCL_F32) : NULL;
    at_params got;
    const cJSON *sp = e ? cJSON_GetObjectItemCaseSensitive(e, "speedup_vs_incumbent") : NULL;
    CHECK(
        e &&
            scli_params_from_json(&scli_fwd_simt_schema, cJSON_GetObjectItemCaseSensitive(e, "params"), &got) &&
            !memcmp(&got, &r.best, sizeof(scli_fwd_params)) && cJSON_IsNumber(sp) && sp->valuedouble > 1.8 &&
            cJSON_GetObjectItemCaseSensitive(e, "incumbent"),
        "the winner is written with its speed-up over the incumbent (%.2f)",
        cJSON_IsNumber(sp) ? sp->valuedouble : 0);
    int total = 0, near = e ? neighbours_of(rt, e, &f.incumbent, &total) : 0;
    CHECK(total == 3 && near == 3, "the local search started from the incumbent: %d of %d points next to it",
          near, total);
    cJSON_Delete(db);

    /* 4. No entry anywhere: the incumbent is the defaults; a candidate within noise writes nothing. */
    remove(user_db);
    f.incumbent = f.defaults;
    f.inc_ms = f.def_ms = 1.0, f.other_ms = 0.995, f.jitter = 0;
    st = at_tune(rt, &o, &r);
    FILE *file = fopen(user_db, "r");
    CHECK(st == SCL_OK && !r.incumbent_from_db && strstr(r.incumbent_source, "built-in") &&
              r.kept_incumbent && !file,
          "defaults as the incumbent, a 0.5%% faster candidate: nothing written (%s)", r.incumbent_source);
    if (file) fclose(file);
}

/* The ETA on every progress line fits in what is left of a time budget. */
static void test_eta(scl_runtime *rt)
{
    char log[700];
    snprintf(log, sizeof log, "%s/progress.txt", work);
    FILE *p = fopen(log, "w+");
    fake f;
    memset(&f, 0, sizeof f);
    f.inc_ms = f.def_ms = f.other_ms = 1.0;
    at_tune_options o = options(&f);
    o.max_evals = 0;
    o.max_seconds = 4;
    o.progress = p;
    remove(user_db);
    at_tune_report r;
    scl_status st = at_tune(rt, &o, &r);
    CHECK(st == SCL_OK && p, "a 4 s run: %s", scl_last_error_message(rt));
    if (!p) return;
    rewind(p);
    char line[2048];
    int lines = 0, bad = 0;
    double worst = 0;
    while (fgets(line, sizeof line, p)) {
        const char *e = strstr(line, "elapsed "), *t = strstr(line, "ETA ");
        if (!e || !t) continue;
        double el = atof(e + 8), eta = atof(t + 4);
        lines++;
        worst = fmax(worst, eta - fmax(0.0, o.max_seconds - el));
        bad += eta > fmax(0.0, o.max_seconds - el) + 1; /* both printed rounded */
    }
    fclose(p);
    CHECK(lines >= 2 && bad == 0,
          "%d ETA lines, none past what is left of the 4 s budget (worst excess %.0f s)", lines, worst);
    /* A point being measured is not interrupted: one build past the budget is possible. */
    CHECK(r.seconds < o.max_seconds + 20, "no new point started after the budget (%.1f s)", r.seconds);
    printf("time budget 4 s: %d points searched, %.1f s in all\n", r.timed, r.seconds);
}

int main(int argc, char **argv)
{
    test_args(argc, 1, "test_incumbent WORK_DIR");
    work = argv[1];
    mkdir(work, 0755);
    char cache[800];
    snprintf(cache, sizeof cache, "%s/cache", work);
    mkdir(cache, 0755);
    setenv("SPARSECL_CACHE_DIR", cache, 1);
    setenv("SPARSECL_SHIPPED_TUNING", "off", 1); /* only the databases this test writes */
    unsetenv("SPARSECL_TUNING_DIR");
    scl_runtime *rt = NULL;
    if (scl_runtime_create("cpu", &rt) != SCL_OK) {
        printf("no CPU device: skipped (%s)\n", scl_last_error_message(rt));
        scl_runtime_destroy(rt);
        return 0;
    }
    char slug[200];
    scli_device_slug(scl_runtime_device(rt), slug, sizeof slug);
    snprintf(user_db, sizeof user_db, "%s/tuning/%s.json", cache, slug);
    test_rule(rt);
    test_eta(rt);
    scl_runtime_destroy(rt);
    return check_summary("incumbent");
}
