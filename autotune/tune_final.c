/* The incumbent rule of a tuning run: find what plans use today (the runtime's look-up), time it
 * and the built-in defaults beside the candidates, re-time the best few with them interleaved over
 * several rounds, and let a winner replace the incumbent only when it is faster by more than the
 * measured noise. */
#include "space.h"
#include "tuner_internal.h"
#include "tuning_db.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool same(const tune_ctx *c, const at_params *a, const at_params *b)
{
    return memcmp(a, b, c->kernel->size) == 0;
}

void at_find_incumbent(tune_ctx *c, const scli_param_context *pc)
{
    at_tune_report *r = c->rep;
    scli_runtime_tuning_reload(c->rt); /* the files as they are now, not as this runtime first read them */
    const scli_tuning_set *set = scli_runtime_tuning(c->rt);
    scli_tuning_choice ch = {.db = -1};
    memset(&r->incumbent, 0, sizeof r->incumbent);
    r->incumbent_from_db =
        set && scli_tuning_set_choose(set, c->kernel, pc, c->opt->dtype, &r->incumbent, &ch);
    char text[1400] = "";
    if (set) scli_tuning_choice_text(set, &ch, pc, c->opt->dtype, text, sizeof text);
    if (r->incumbent_from_db) {
        snprintf(r->incumbent_source, sizeof r->incumbent_source, "%s", text);
    } else {
        r->incumbent = r->defaults;
        snprintf(r->incumbent_source, sizeof r->incumbent_source, "built-in %s defaults%s%s",
                 c->rt->dev.type & CL_DEVICE_TYPE_GPU ? "GPU" : "CPU", text[0] ? "; " : "", text);
    }
    c->inc_index = at_kspace_find(&c->space, &r->incumbent);
    c->def_index = at_kspace_find(&c->space, &r->defaults);
}

void at_time_baselines(tune_ctx *c)
{
    at_tune_report *r = c->rep;
    bool same_point = same(c, &r->incumbent, &r->defaults);
    for (int k = 0; k < 2; k++) {
        const at_params *p = k == 0 ? &r->incumbent : &r->defaults;
        int index = k == 0 ? c->inc_index : c->def_index;
        char why[512] = "";
        double err = NAN;
        double ms = k == 1 && same_point ? c->base_ms[0] : at_tuner_measure(c, p, &err, why, sizeof why);
        if (k == 1 && same_point) err = c->base_err[0];
        c->base_ms[k] = ms;
        c->base_err[k] = err;
        if (index >= 0) { /* known to the search: never re-measured there */
            c->costs[index] = ms;
            c->errs[index] = err;
        }
        if (!c->opt->progress || (k == 1 && same_point)) continue;
        char text[300];
        scli_params_text(c->kernel, p, text, sizeof text);
        if (isinf(ms))
            fprintf(c->opt->progress, "  %s failed here: %s (%s)\n", k == 0 ? "incumbent" : "defaults", why,
                    text);
        else
            fprintf(c->opt->progress, "  %s %.3f ms (%s)%s%s\n", k == 0 ? "incumbent" : "defaults", ms, text,
                    k == 0 ? ": " : "", k == 0 ? r->incumbent_source : "");
    }
}

static int rounds_of(const tune_ctx *c)
{
    return c->opt->rounds > 0 ? c->opt->rounds : AT_RETIME_ROUNDS;
}

/* Seconds for `rounds` rounds of n finalists (plans built once each, or per run when one plan). */
static double retime_seconds(const tune_ctx *c, int n, int rounds, bool built)
{
    double plan = c->plan_n > 0 ? c->plan_s / c->plan_n : 0;
    double run = c->run_n > 0 ? c->run_s / c->run_n : 0;
    int builds = c->ops->one_plan ? rounds : built ? 0 : 1;
    return n * (builds * plan + rounds * (at_tuner_reps(c) + 1) * run);
}

double at_retime_estimate(const tune_ctx *c)
{
    return retime_seconds(c, AT_MAX_FINALISTS, rounds_of(c), false);
}

static void add_final(tune_ctx *c, const at_params *p, const char *role, double err, double *errs)
{
    at_tune_report *r = c->rep;
    for (int i = 0; i < r->n_final; i++)
        if (same(c, &r->final[i].p, p)) return;
    if (r->n_final >= AT_MAX_FINALISTS) return;
    at_finalist *f = &r->final[r->n_final];
    memset(f, 0, sizeof *f);
    f->p = *p;
    snprintf(f->role, sizeof f->role, "%s", role);
    errs[r->n_final++] = err;
}

/* The incumbent, the defaults and the best measured candidates of the search. */
static void pick_finalists(tune_ctx *c, double *errs)
{
    at_tune_report *r = c->rep;
    r->n_final = 0;
    bool same_point = same(c, &r->incumbent, &r->defaults);
    if (isfinite(c->base_ms[0]))
        add_final(c, &r->incumbent, same_point ? "incumbent = defaults" : "incumbent", c->base_err[0], errs);
    if (!same_point && isfinite(c->base_ms[1])) add_final(c, &r->defaults, "defaults", c->base_err[1], errs);
    int n = c->space.space.n_points;
    char *used = calloc((size_t)n, 1);
    if (!used) return;
    for (int k = 0; k < AT_MAX_FINALISTS - 2; k++) {
        int pick = -1;
        for (int i = 0; i < n; i++)
            if (!used[i] && i != c->inc_index && i != c->def_index && isfinite(c->costs[i]) &&
                (pick < 0 || c->costs[i] < c->costs[pick]))
                pick = i;
        if (pick < 0) break;
        used[pick] = 1;
        at_params p;
        at_kspace_point(&c->space, pick, &p);
        add_final(c, &p, "candidate", c->errs[pick], errs);
    }
    free(used);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)pos;
    return i + 1 < n ? sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]) : sorted[n - 1];
}

/* t, but never past the time budget's end. */
static double capped(const tune_ctx *c, double t)
{
    if (c->opt->max_seconds <= 0) return t;
    return fmin(t, fmax(0.0, c->opt->max_seconds - (at_now_s() - c->t_start)));
}

/* Rounds over the finalists, each round in a rotated order; samples[f * rounds * reps + ...]. */
static void retime(tune_ctx *c, double *samples, bool *ok)
{
    at_tune_report *r = c->rep;
    int rounds = rounds_of(c), reps = at_tuner_reps(c), n = r->n_final;
    scl_plan *plans[AT_MAX_FINALISTS] = {NULL};
    char why[512];
    for (int i = 0; i < n; i++)
        ok[i] = true;
    for (int round = 0; round < rounds; round++) {
        for (int j = 0; j < n; j++) {
            int i = (j + round) % n;
            if (!ok[i]) continue;
            scl_plan *plan = plans[i] ? plans[i] : c->ops->begin_timing(c, &r->final[i].p, why, sizeof why);
            double *out = samples + ((size_t)i * rounds + round) * reps;
            ok[i] = plan && at_tuner_time(c, plan, &r->final[i].p, reps, out, why, sizeof why);
            if (plan && (c->ops->one_plan || !ok[i]))
                c->ops->end_timing(c, plan);
            else
                plans[i] = plan;
        }
        if (c->opt->progress)
            fprintf(c->opt->progress, "  re-timed round %d/%d, elapsed %.0fs, ETA %.0fs\n", round + 1, rounds,
                    at_now_s() - c->t_start, capped(c, retime_seconds(c, n, rounds - round - 1, true)));
    }
    for (int i = 0; i < n; i++)
        if (plans[i]) c->ops->end_timing(c, plans[i]);
}

void at_median_spread(double *s, int m, double *median, double *spread)
{
    qsort(s, (size_t)m, sizeof *s, cmp_double);
    *median = quantile(s, m, 0.5);
    *spread = *median > 0 ? (quantile(s, m, 0.75) - quantile(s, m, 0.25)) / *median : 0;
}

/* Median and relative interquartile range of every re-timed run of each finalist. */
static void summarise(tune_ctx *c, double *samples, const bool *ok)
{
    at_tune_report *r = c->rep;
    int m = rounds_of(c) * at_tuner_reps(c);
    for (int i = 0; i < r->n_final; i++) {
        at_finalist *f = &r->final[i];
        double *s = samples + (size_t)i * m;
        if (!ok[i]) {
            f->ms = INFINITY;
            f->spread = NAN;
            continue;
        }
        at_median_spread(s, m, &f->ms, &f->spread);
    }
}

/* Fastest first (failed last), for the report. */
static int cmp_final(const void *a, const void *b)
{
    return cmp_double(&((const at_finalist *)a)->ms, &((const at_finalist *)b)->ms);
}

static void choose(tune_ctx *c, const double *errs)
{
    at_tune_report *r = c->rep;
    int inc = -1, chal = -1, def = -1;
    double e[AT_MAX_FINALISTS];
    at_finalist f0[AT_MAX_FINALISTS];
    memcpy(f0, r->final, sizeof f0);
    qsort(r->final, (size_t)r->n_final, sizeof r->final[0], cmp_final);
    for (int i = 0; i < r->n_final; i++) /* the errors follow their points */
        for (int j = 0; j < r->n_final; j++)
            if (same(c, &r->final[i].p, &f0[j].p)) e[i] = errs[j];
    errs = e;
    for (int i = 0; i < r->n_final; i++) {
        const at_finalist *f = &r->final[i];
        if (strncmp(f->role, "incumbent", 9) == 0) inc = i;
        if (strstr(f->role, "defaults")) def = i;
        if (inc != i && isfinite(f->ms) && (chal < 0 || f->ms < r->final[chal].ms)) chal = i;
    }
    r->incumbent_ms = inc >= 0 ? r->final[inc].ms : INFINITY;
    r->default_ms = def >= 0 && isfinite(r->final[def].ms) ? r->final[def].ms : NAN;
    r->has_challenger = chal >= 0;
    if (chal >= 0) {
        r->challenger = r->final[chal].p;
        r->challenger_ms = r->final[chal].ms;
    }
    r->noise = AT_NOISE_FLOOR;
    if (chal >= 0 && isfinite(r->final[chal].spread)) r->noise = fmax(r->noise, r->final[chal].spread);
    if (inc >= 0 && isfinite(r->final[inc].spread)) r->noise = fmax(r->noise, r->final[inc].spread);
    bool inc_ok = isfinite(r->incumbent_ms);
    r->kept_incumbent = inc_ok && (chal < 0 || !(r->challenger_ms * (1 + r->noise) < r->incumbent_ms));
    int win = r->kept_incumbent ? inc : chal;
    r->found = win >= 0;
    if (!r->found) return;
    r->best = r->final[win].p;
    r->best_ms = r->final[win].ms;
    r->best_gflops = c->flops / r->best_ms * 1e-6;
    r->best_error = errs[win];
}

void at_retime_and_decide(tune_ctx *c)
{
    at_tune_report *r = c->rep;
    double errs[AT_MAX_FINALISTS];
    pick_finalists(c, errs);
    if (r->n_final == 0) {
        r->found = false;
        r->incumbent_ms = INFINITY;
        return;
    }
    int rounds = rounds_of(c), reps = at_tuner_reps(c);
    if (c->opt->progress)
        fprintf(c->opt->progress,
                "  re-timing %d finalists (the best candidates, the incumbent, the defaults): %d "
                "rounds x %d runs, interleaved, elapsed %.0fs, ETA %.0fs\n",
                r->n_final, rounds, reps, at_now_s() - c->t_start,
                capped(c, retime_seconds(c, r->n_final, rounds, false)));
    double *samples = calloc((size_t)r->n_final * rounds * reps, sizeof *samples);
    bool ok[AT_MAX_FINALISTS];
    if (!samples) {
        r->found = false;
        return;
    }
    retime(c, samples, ok);
    summarise(c, samples, ok);
    free(samples);
    choose(c, errs);
}
