/* The block-choice run of `sparsecl tune --pattern SPEC --block 32,64,128`: one plan per block
 * (kernel parameters through the plans' own look-up), the incumbent being what SCL_BLOCK_AUTO
 * picks today; every plan timed in each of several rounds, in a rotated order; a new entry only
 * when the fastest beats the incumbent by more than the noise (the kernel tuner's rule). */
#include "tune_block.h"

#include "block_choice.h"
#include "plan_internal.h"
#include "scl_fileio.h"
#include "tuner_internal.h"
#include "tuning_db_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { T_Q, T_K, T_V, T_O, T_LSE, T_DOUT, T_DQ, T_DK, T_DV, T_N };

typedef struct bctx {
    scl_runtime *rt;
    const at_block_options *o;
    at_block_report *r;
    scl_pattern *pat;
    scl_shape shape;
    cl_mem t[T_N];
    scl_plan *plan[AT_BLOCK_MAX + 1];
} bctx;

static int reps_of(const at_block_options *o)
{
    return o->reps > 0 ? o->reps : 5;
}

static int rounds_of(const at_block_options *o)
{
    return o->rounds > 0 ? o->rounds : AT_RETIME_ROUNDS;
}

/* Random inputs (and dO) of the problem; outputs and gradients uninitialised. */
static scl_status make_tensors(bctx *c, const scl_plan *plan)
{
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(plan, &sz);
    size_t bytes[T_N] = {sz.q, sz.k, sz.v, sz.o, sz.lse, sz.o, sz.q, sz.k, sz.v};
    size_t elems = sz.q / scli_dtype_size(c->o->dtype);
    float *host = malloc(elems * sizeof(float));
    if (!host) return scli_fail(c->rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    at_fill_random(host, elems, 7);
    at_store(c->o->dtype, host, host, elems); /* in place, as the kernel tuner does */
    int n = c->o->backward ? T_N : T_DOUT;
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < n && err == CL_SUCCESS; i++) {
        bool in = i <= T_V || i == T_DOUT; /* same sizes as Q: K/V are no larger (H_kv = H, N_k = N_q) */
        c->t[i] = clCreateBuffer(c->rt->ctx, in ? CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR : CL_MEM_READ_WRITE,
                                 bytes[i], in ? host : NULL, &err);
    }
    free(host);
    return err == CL_SUCCESS ? SCL_OK
                             : scli_fail_cl(c->rt, "clCreateBuffer", err, "block-choice problem tensors");
}

/* One run of candidate i: the forward, or forward + backward. */
static scl_status run_once(bctx *c, int i, double *ms)
{
    cl_mem *t = c->t;
    double f = 0, b = 0;
    scl_status st = scl_plan_time_forward(c->plan[i], t[T_Q], t[T_K], t[T_V], t[T_O], t[T_LSE], &f);
    if (st == SCL_OK && c->o->backward)
        st = scl_plan_time_backward(c->plan[i], t[T_Q], t[T_K], t[T_V], t[T_O], t[T_LSE], t[T_DOUT], t[T_DQ],
                                    t[T_DK], t[T_DV], &b);
    *ms = f + b;
    if (c->o->fake_ms) *ms = c->o->fake_ms(c->r->c[i].block, *ms, c->o->fake_ctx);
    return st;
}

/* Candidate slot for block b (made when missing); -1 when full. */
static int slot(at_block_report *r, int b, const char *role)
{
    for (int i = 0; i < r->n; i++)
        if (r->c[i].block == b) return i;
    if (r->n > AT_BLOCK_MAX) return -1;
    at_block_candidate *x = &r->c[r->n];
    memset(x, 0, sizeof *x);
    x->block = b;
    x->ms = INFINITY;
    snprintf(x->role, sizeof x->role, "%s", role);
    return r->n++;
}

/* The incumbent (an SCL_BLOCK_AUTO plan: the databases as they are now, else the rule), then a
 * plan per candidate block; a block the pattern or device refuses is noted, never fatal. */
static scl_status make_plans(bctx *c)
{
    at_block_report *r = c->r;
    scli_runtime_tuning_reload(c->rt);
    scl_shape s = c->shape;
    s.block = c->o->backward ? SCL_BLOCK_AUTO_BACKWARD : SCL_BLOCK_AUTO;
    scl_plan *inc = NULL;
    scl_status st = scl_plan_create(c->rt, c->pat, &s, c->o->dtype, &inc);
    if (st != SCL_OK) return st;
    r->incumbent_block = scl_plan_block(inc);
    snprintf(r->incumbent_source, sizeof r->incumbent_source, "%s", scl_plan_block_reason(inc));
    int i = slot(r, r->incumbent_block, "incumbent");
    c->plan[i] = inc;
    for (int k = 0; k < c->o->n_blocks; k++) {
        if ((i = slot(r, c->o->blocks[k], "candidate")) < 0 || c->plan[i]) continue;
        s.block = c->o->blocks[k];
        if (scl_plan_create(c->rt, c->pat, &s, c->o->dtype, &c->plan[i]) != SCL_OK)
            snprintf(r->c[i].note, sizeof r->c[i].note, "%.290s", scl_last_error_message(c->rt));
    }
    for (i = 0; i < r->n; i++)
        if (c->plan[i])
            snprintf(r->c[i].note, sizeof r->c[i].note, "%.290s", scl_plan_kernel_source(c->plan[i]));
    return make_tensors(c, inc);
}

/* Every plan, every round (a warm-up, then reps runs), in a rotated order; median and spread. */
static scl_status retime(bctx *c)
{
    at_block_report *r = c->r;
    int rounds = rounds_of(c->o), reps = reps_of(c->o), m = rounds * reps;
    double *samples = calloc((size_t)r->n * m, sizeof *samples);
    if (!samples) return scli_fail(c->rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    double t0 = at_now_s();
    for (int round = 0; round < rounds; round++) {
        for (int j = 0; j < r->n; j++) {
            int i = (j + round) % r->n;
            for (int k = -1; k < reps && c->plan[i]; k++) {
                double ms = 0;
                if (run_once(c, i, &ms) != SCL_OK) {
                    snprintf(r->c[i].note, sizeof r->c[i].note, "timed run: %.280s",
                             scl_last_error_message(c->rt));
                    scl_plan_destroy(c->plan[i]);
                    c->plan[i] = NULL;
                } else if (k >= 0) {
                    samples[(size_t)i * m + (size_t)round * reps + k] = ms;
                }
            }
        }
        double el = at_now_s() - t0;
        if (c->o->progress)
            fprintf(c->o->progress, "  block choice: round %d/%d, elapsed %.0fs, ETA %.0fs\n", round + 1,
                    rounds, el, el / (round + 1) * (rounds - round - 1));
    }
    for (int i = 0; i < r->n; i++)
        if (c->plan[i]) at_median_spread(samples + (size_t)i * m, m, &r->c[i].ms, &r->c[i].spread);
    free(samples);
    return SCL_OK;
}

/* The fastest, the noise, and whether it replaces the incumbent. */
static void decide(at_block_report *r)
{
    int best = -1, inc = -1;
    for (int i = 0; i < r->n; i++) {
        if (r->c[i].block == r->incumbent_block) inc = i;
        if (isfinite(r->c[i].ms) && (best < 0 || r->c[i].ms < r->c[best].ms)) best = i;
    }
    r->incumbent_ms = inc >= 0 ? r->c[inc].ms : INFINITY;
    r->best_block = best >= 0 ? r->c[best].block : 0;
    r->best_ms = best >= 0 ? r->c[best].ms : INFINITY;
    r->noise = AT_NOISE_FLOOR;
    if (best >= 0) r->noise = fmax(r->noise, r->c[best].spread);
    if (inc >= 0 && isfinite(r->c[inc].ms)) r->noise = fmax(r->noise, r->c[inc].spread);
    r->kept_incumbent = best < 0 || best == inc || !(r->best_ms * (1 + r->noise) < r->incumbent_ms);
}

cJSON *at_block_candidates_json(const at_block_report *r, bool roles)
{
    cJSON *all = cJSON_CreateArray();
    for (int i = 0; i < r->n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "block", r->c[i].block);
        if (roles) cJSON_AddStringToObject(x, "role", r->c[i].role);
        if (isfinite(r->c[i].ms)) {
            cJSON_AddNumberToObject(x, "median_ms", r->c[i].ms);
            cJSON_AddNumberToObject(x, "iqr_over_median", r->c[i].spread);
        } else {
            cJSON_AddNullToObject(x, "median_ms");
        }
        cJSON_AddStringToObject(x, "note", r->c[i].note);
        cJSON_AddItemToArray(all, x);
    }
    return all;
}

static cJSON *entry_json(const bctx *c, const scli_block_class *k)
{
    const at_block_report *r = c->r;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "pattern", k->pattern);
    cJSON_AddNumberToObject(e, "head_dim", k->head_dim);
    cJSON_AddStringToObject(e, "dtype", scli_dtype_name(k->dtype));
    cJSON_AddNumberToObject(e, "seq_bucket", (double)k->seq_bucket);
    cJSON_AddStringToObject(e, "direction", k->direction);
    cJSON_AddNumberToObject(e, "block", r->best_block);
    cJSON_AddNumberToObject(e, "median_ms", r->best_ms);
    cJSON_AddNumberToObject(e, "seq", (double)r->seq);
    cJSON_AddNumberToObject(e, "heads", r->heads);
    cJSON_AddItemToObject(e, "candidates", at_block_candidates_json(r, false));
    cJSON_AddNumberToObject(e, "incumbent_block", r->incumbent_block);
    cJSON_AddStringToObject(e, "incumbent", r->incumbent_source);
    if (isfinite(r->incumbent_ms)) {
        cJSON_AddNumberToObject(e, "incumbent_median_ms", r->incumbent_ms);
        cJSON_AddNumberToObject(e, "speedup_vs_incumbent", r->incumbent_ms / r->best_ms);
    }
    cJSON_AddNumberToObject(e, "noise", r->noise);
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(e, "date", date);
    return e;
}

/* Merge the class's entry into the database file: every other entry stays; a file that cannot be
 * read is never replaced. */
static scl_status write_entry(bctx *c)
{
    const char *path = c->o->db_path;
    char msg[1200];
    cJSON *db = NULL;
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        if (!(db = scli_tuning_db_load(path, msg, sizeof msg)))
            return scli_fail(c->rt, SCL_ERR_IO, "%s; move it away or write elsewhere (--out)", msg);
    } else {
        db = scl_tuning_db_new(&c->rt->dev);
    }
    cJSON *all = cJSON_GetObjectItemCaseSensitive(db, "block_choices");
    if (!cJSON_IsArray(all)) {
        cJSON_DeleteItemFromObjectCaseSensitive(db, "block_choices");
        all = cJSON_AddArrayToObject(db, "block_choices");
    }
    scli_block_class k;
    scli_block_class_of(c->pat->spec, &c->shape, c->o->dtype, c->o->backward, &k);
    cJSON *old = scli_block_entry_find(db, &k);
    if (old) cJSON_Delete(cJSON_DetachItemViaPointer(all, old));
    cJSON_AddItemToArray(all, entry_json(c, &k));
    int rc = scl_tuning_db_save(path, db, msg, sizeof msg);
    cJSON_Delete(db);
    if (rc != 0) return scli_fail(c->rt, SCL_ERR_IO, "%s", msg);
    scli_runtime_tuning_reload(c->rt); /* plans made from now on read the new entry */
    return SCL_OK;
}

static scl_status setup(bctx *c)
{
    const at_block_options *o = c->o;
    if (!o->pattern || !o->db_path || o->n_blocks < 1 || o->n_blocks > AT_BLOCK_MAX)
        return scli_fail(c->rt, SCL_ERR_INVALID_ARGUMENT,
                        "at_tune_block: a pattern, a database and 1 to %d blocks", AT_BLOCK_MAX);
    bool gpu = c->rt->dev.type & CL_DEVICE_TYPE_GPU;
    int64_t seq = o->seq > 0 ? o->seq : gpu ? 8192 : 2048;
    int heads = o->heads > 0 ? o->heads : gpu ? 16 : 2;
    c->shape = (scl_shape){1, heads, heads, seq, seq, o->head_dim, 0, 0.0f, SCL_LAYOUT_BHND};
    c->r->seq = seq;
    c->r->heads = heads;
    c->r->seq_bucket = scli_seq_bucket(seq);
    scl_status st = scl_pattern_create(c->rt, o->pattern, &c->pat);
    if (st != SCL_OK) return st;
    snprintf(c->r->pattern_class, sizeof c->r->pattern_class, "%s", scl_pattern_spec(c->pat));
    if (o->progress)
        fprintf(o->progress, "tune block choice '%s' d=%d %s N=%lld (bucket %lld) H=%d %s on %s\n",
                c->r->pattern_class, o->head_dim, scli_dtype_name(o->dtype), (long long)seq,
                (long long)c->r->seq_bucket, heads, o->backward ? "forward+backward" : "forward",
                c->rt->dev.name);
    return SCL_OK;
}

scl_status at_tune_block(scl_runtime *rt, const at_block_options *o, at_block_report *r)
{
    if (!rt || !o || !r) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "at_tune_block: NULL argument");
    memset(r, 0, sizeof *r);
    r->incumbent_ms = r->best_ms = INFINITY;
    bctx c = {.rt = rt, .o = o, .r = r};
    double t0 = at_now_s();
    scl_status st = setup(&c);
    if (st == SCL_OK) st = make_plans(&c);
    if (st == SCL_OK && o->progress)
        fprintf(o->progress,
                "  incumbent: block %d (%s); re-timing %d blocks: %d rounds x %d runs, interleaved\n",
                r->incumbent_block, r->incumbent_source, r->n, rounds_of(o), reps_of(o));
    if (st == SCL_OK) st = retime(&c);
    if (st == SCL_OK) {
        decide(r);
        if (!isfinite(r->best_ms))
            st = scli_fail(rt, SCL_ERR_UNSUPPORTED, "no block ran the pattern here (block %d: %s)",
                          r->c[0].block, r->c[0].note);
        else if (!r->kept_incumbent)
            st = write_entry(&c);
    }
    for (int i = 0; i <= AT_BLOCK_MAX; i++)
        scl_plan_destroy(c.plan[i]);
    for (int i = 0; i < T_N; i++)
        if (c.t[i]) clReleaseMemObject(c.t[i]);
    scl_pattern_destroy(c.pat);
    r->seconds = at_now_s() - t0;
    return st;
}
