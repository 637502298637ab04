/* Threads (pthreads) sharing one runtime, as sparsecl.h's thread rules state:
 *   - concurrent scl_plan_create / scl_block_create on one runtime, then each thread running its
 *     own plan and block: no lock needed;
 *   - several threads running ONE shared plan: every call on it under a mutex.
 * Each result is checked against the double reference. */
#include "../check.h"
#include "attn_check.h"
#include "sparsecl_block.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { THREADS = 4, ROUNDS = 3 };
static const double TOL = 1e-4;
static scl_runtime *rt;
static const char *specs[THREADS] = {"causal", "local(16)", "causal & strided(16)", "bigbird(1, 1, 1, 7)"};
static const scl_shape shape = {1, 2, 2, 70, 70, 32, 16, 0.0f, SCL_LAYOUT_BHND};

typedef struct job {
    int id;
    scl_plan *shared; /* NULL: make an own plan */
    pthread_mutex_t *lock;
    double worst;
    int failures;
} job;

/* Forward rounds against the reference: on the job's own plan of specs[id], or on the one shared
 * plan (of specs[0]) with every call under the lock. */
static void *plan_worker(void *arg)
{
    job *j = arg;
    const char *spec = j->shared ? specs[0] : specs[j->id];
    scl_plan *plan = j->shared;
    if (!plan) {
        scl_pattern *pat = NULL;
        if (scl_pattern_create(rt, spec, &pat) != SCL_OK ||
            scl_plan_create(rt, pat, &shape, SCL_F32, &plan) != SCL_OK) {
            j->failures++;
            scl_pattern_destroy(pat);
            return NULL;
        }
        scl_pattern_destroy(pat);
    }
    const unsigned seed = (j->shared ? 1000u : 100u) * j->id;
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(plan, &sz);
    float *q = malloc(sz.q), *k = malloc(sz.k), *v = malloc(sz.v), *o = malloc(sz.o);
    scl_shape ns = shape;
    ns.scale = (float)(1.0 / sqrt(32.0));
    for (int r = 0; r < ROUNDS; r++) {
        fill_uniform(q, sz.q / 4, seed + r, 1.0f);
        fill_uniform(k, sz.k / 4, seed + r + 50, 1.0f);
        fill_uniform(v, sz.v / 4, seed + r + 70, 1.0f);
        if (j->lock) pthread_mutex_lock(j->lock);
        scl_status st = scl_plan_forward_host(plan, q, k, v, o, NULL);
        if (j->lock) pthread_mutex_unlock(j->lock);
        if (st != SCL_OK) {
            j->failures++;
            continue;
        }
        double e = attn_error(spec, &ns, q, k, v, o);
        if (!(e >= 0 && e <= TOL)) j->failures++;
        if (e > j->worst) j->worst = e;
    }
    free(q), free(k), free(v), free(o);
    if (!j->shared) scl_plan_destroy(plan);
    return NULL;
}

static void *own_block_worker(void *arg)
{
    job *j = arg;
    scl_block_config cfg = {1, 40, 64, 2, 48, 16, 0};
    scl_block_weights w;
    make_weights(&cfg, 40u + j->id, &w);
    scl_pattern *pat = NULL;
    scl_block *blk = NULL;
    size_t n = (size_t)cfg.seq * cfg.d_model;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    double *ref = malloc(n * 8);
    fill_uniform(x, n, 60u + j->id, 1.0f);
    char msg[256];
    double worst = -1, scale = 0;
    if (scl_pattern_create(rt, specs[j->id], &pat) == SCL_OK &&
        scl_block_create(rt, pat, &cfg, &w, &blk) == SCL_OK && scl_block_forward_host(blk, x, y) == SCL_OK &&
        reference_block(specs[j->id], &cfg, &w, x, ref, msg, sizeof msg) == 0)
        compare(y, ref, n, &worst, &scale);
    if (!(worst >= 0 && worst <= TOL * scale)) j->failures++;
    j->worst = scale > 0 ? worst / scale : worst;
    scl_block_destroy(blk);
    scl_pattern_destroy(pat);
    free_weights(&w);
    free(x), free(y), free(ref);
    return NULL;
}

static void run_all(void *(*fn)(void *), const char *what, scl_plan *shared, pthread_mutex_t *lock, int count)
{
    pthread_t th[THREADS];
    job jobs[THREADS];
    for (int i = 0; i < count; i++) {
        jobs[i] = (job){i, shared, lock, 0, 0};
        CHECK(pthread_create(&th[i], NULL, fn, &jobs[i]) == 0, "pthread_create");
    }
    double worst = 0;
    for (int i = 0; i < count; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].failures == 0, "%s: thread %d had %d failures (worst error %.3g)", what, i,
              jobs[i].failures, jobs[i].worst);
        if (jobs[i].worst > worst) worst = jobs[i].worst;
    }
    printf("%s: %d threads, worst error %.3g\n", what, count, worst);
}

int main(void)
{
    if (scl_runtime_create(NULL, &rt) != SCL_OK) {
        fprintf(stderr, "no runtime: %s\n", scl_last_error_message(rt));
        scl_runtime_destroy(rt);
        return 1;
    }
    run_all(plan_worker, "own plans on a shared runtime, no lock", NULL, NULL, THREADS);
    run_all(own_block_worker, "own blocks on a shared runtime, no lock", NULL, NULL, 2);

    scl_pattern *pat = NULL;
    scl_plan *plan = NULL;
    CHECK(scl_pattern_create(rt, specs[0], &pat) == SCL_OK &&
              scl_plan_create(rt, pat, &shape, SCL_F32, &plan) == SCL_OK,
          "shared plan: %s", scl_last_error_message(rt));
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    if (plan) run_all(plan_worker, "one plan shared under a mutex", plan, &lock, THREADS);
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
    scl_runtime_destroy(rt);
    return check_summary("threads");
}
