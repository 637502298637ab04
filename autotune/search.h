/* Search strategies over a discrete parameter space, independent of what is being tuned: the
 * caller gives the valid points and a cost function (lower is better, INFINITY = rejected). */
#ifndef SCL_SEARCH_H
#define SCL_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

#define AT_MAX_DIMS 16

/* A point: one value index per dimension. */
typedef struct at_point {
    int v[AT_MAX_DIMS];
} at_point;

typedef struct at_space {
    int n_dims;
    int n_values[AT_MAX_DIMS]; /* values per dimension, in an order where neighbours are similar */
    at_point *points;          /* the valid points (after pruning) */
    int n_points;
} at_space;

typedef enum at_strategy { AT_EXHAUSTIVE, AT_RANDOM, AT_LOCAL } at_strategy;

/* Cost of valid point `index` (ms, or INFINITY when it failed); called at most once per point. */
typedef double (*at_cost_fn)(int index, void *ctx);
/* Optional: true when the run should stop (time budget, interrupt). */
typedef bool (*at_stop_fn)(void *ctx);

typedef struct at_result {
    int best;        /* index of the best point, -1 if none succeeded */
    double best_cost;
    int evaluated;   /* cost calls made */
} at_result;

/* Runs `strategy` with at most `max_evals` evaluations (<= 0: no limit). `start` (may be -1) is
 * where the local search begins (e.g. the built-in defaults). `known` (may be NULL) holds costs
 * already measured (NaN = not yet), e.g. from a resumed run; they are reused, not re-measured,
 * and do not count against the budget. Deterministic for a given seed. */
at_result at_search(const at_space *space, at_strategy strategy, int max_evals, int start, const double *known,
                    unsigned seed, at_cost_fn cost, at_stop_fn stop, void *ctx);

const char *at_strategy_name(at_strategy s);
bool at_strategy_parse(const char *name, at_strategy *out);

#endif
