/* Exhaustive, random and local (greedy neighbourhood with restarts) search. */
#include "search.h"

#include "name_table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct run {
    const at_space *space;
    double *cost;   /* per point, NaN = not evaluated */
    int evaluated, max_evals;
    at_cost_fn fn;
    at_stop_fn stop;
    void *ctx;
    at_result res;
} run;

static bool out_of_budget(run *r)
{
    return (r->max_evals > 0 && r->evaluated >= r->max_evals) || (r->stop && r->stop(r->ctx));
}

/* Cost of a point, measuring it if needed; NaN when the budget is spent. */
static double eval(run *r, int i)
{
    if (isnan(r->cost[i])) {
        if (out_of_budget(r)) return NAN;
        r->cost[i] = r->fn(i, r->ctx);
        r->evaluated++;
    }
    if (r->cost[i] < r->res.best_cost) {
        r->res.best_cost = r->cost[i];
        r->res.best = i;
    }
    return r->cost[i];
}

/* xorshift32: small, deterministic everywhere. */
static unsigned next_rand(unsigned *s)
{
    unsigned x = *s ? *s : 2463534242u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void shuffle(int *a, int n, unsigned *seed)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(next_rand(seed) % (unsigned)(i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Neighbours: valid points that differ from `p` by one step in exactly one dimension, or by one
 * step in two dimensions (lets the search move along ridges such as "tile size x threads"). */
static int distance(const at_space *s, const at_point *a, const at_point *b)
{
    int d = 0;
    for (int k = 0; k < s->n_dims; k++) {
        int diff = abs(a->v[k] - b->v[k]);
        if (diff > 1) return 99;
        d += diff;
    }
    return d;
}

/* Best neighbour of `cur` at exactly distance `dist` that beats `c`; -1 if none (or budget out). */
static int best_neighbour(run *r, int cur, double c, int dist, bool *spent)
{
    const at_space *s = r->space;
    int best = -1;
    for (int i = 0; i < s->n_points; i++) {
        if (i == cur || distance(s, &s->points[i], &s->points[cur]) != dist) continue;
        double ci = eval(r, i);
        if (isnan(ci)) {
            *spent = true;
            break;
        }
        if (ci < c) c = ci, best = i;
    }
    return best;
}

/* Greedy descent: move to the best neighbour one step away; when none is better look two steps
 * away (moves along ridges such as "tile size x threads"); at a local optimum restart from a
 * random unvisited point. Every cost is memoised, so revisits are free. */
static void local_search(run *r, int start, unsigned *seed)
{
    const at_space *s = r->space;
    int *order = malloc(sizeof(int) * (size_t)s->n_points);
    if (!order) return;
    for (int i = 0; i < s->n_points; i++) order[i] = i;
    shuffle(order, s->n_points, seed);
    int next_restart = 0;
    int cur = start >= 0 && start < s->n_points ? start : order[next_restart++];
    bool spent = false;
    while (!spent && !out_of_budget(r)) {
        double c = eval(r, cur);
        if (isnan(c)) break;
        int nb = best_neighbour(r, cur, c, 1, &spent);
        if (nb < 0 && !spent) nb = best_neighbour(r, cur, c, 2, &spent);
        if (nb >= 0) {
            cur = nb;
            continue;
        }
        while (next_restart < s->n_points && !isnan(r->cost[order[next_restart]])) next_restart++;
        if (next_restart >= s->n_points) break;
        cur = order[next_restart++];
    }
    free(order);
}

at_result at_search(const at_space *space, at_strategy strategy, int max_evals, int start, const double *known,
                    unsigned seed, at_cost_fn cost, at_stop_fn stop, void *ctx)
{
    run r = {space, NULL, 0, max_evals, cost, stop, ctx, {-1, INFINITY, 0}};
    if (space->n_points <= 0) return r.res;
    r.cost = malloc(sizeof(double) * (size_t)space->n_points);
    if (!r.cost) return r.res;
    for (int i = 0; i < space->n_points; i++) {
        r.cost[i] = known ? known[i] : NAN;
        if (!isnan(r.cost[i]) && r.cost[i] < r.res.best_cost) r.res.best_cost = r.cost[i], r.res.best = i;
    }
    unsigned s = seed ? seed : 1;
    if (strategy == AT_LOCAL) {
        local_search(&r, start, &s);
    } else {
        int *order = malloc(sizeof(int) * (size_t)space->n_points);
        if (order) {
            for (int i = 0; i < space->n_points; i++) order[i] = i;
            if (strategy == AT_RANDOM) shuffle(order, space->n_points, &s);
            for (int i = 0; i < space->n_points && !isnan(eval(&r, order[i])); i++) {
            }
            free(order);
        }
    }
    r.res.evaluated = r.evaluated;
    free(r.cost);
    return r.res;
}

static const char *const STRATEGY_NAMES[] = {[AT_EXHAUSTIVE] = "exhaustive", [AT_RANDOM] = "random",
                                              [AT_LOCAL] = "local"};
#define N_STRATEGIES (int)(sizeof STRATEGY_NAMES / sizeof STRATEGY_NAMES[0])

const char *at_strategy_name(at_strategy s)
{
    return (int)s >= 0 && (int)s < N_STRATEGIES ? STRATEGY_NAMES[s] : "local";
}

bool at_strategy_parse(const char *name, at_strategy *out)
{
    int i = scli_name_index(name, STRATEGY_NAMES, N_STRATEGIES);
    if (i >= 0) *out = (at_strategy)i;
    return i >= 0;
}
