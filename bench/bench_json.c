/* The bench.json schema: its header, points and timings as written by a suite run, and the
 * readers the reports use (which also accept files written before a field existed). */
#include "bench.h"

#include "param_schema.h"
#include "scl_fileio.h"
#include "tuning_db.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Reading ------------------------------------------------------------------------------ */

const char *bench_jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

double bench_jnum(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int bench_jbool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

const cJSON *bench_jobj(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

bench_group bench_point_group(const cJSON *doc, const cJSON *p)
{
    const cJSON *set = bench_jobj(doc, "settings");
    bench_group g = {(int)bench_jnum(p, "batch", bench_jnum(set, "batch", 0)),
                     (int)bench_jnum(p, "heads", bench_jnum(set, "heads", 0)), 0,
                     (int)bench_jnum(p, "dim", 0)};
    g.kv_heads = (int)bench_jnum(p, "kv_heads", g.heads);
    return g;
}

const cJSON *bench_find_point_in(const cJSON *doc, const char *kind, const char *pattern, double seq,
                                 const bench_group *g, const char *dtype)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, bench_jobj(doc, "points"))
    {
        if (strcmp(bench_jstr(p, "kind"), kind) != 0 ||
            (pattern && strcmp(bench_jstr(p, "pattern"), pattern) != 0) || bench_jnum(p, "seq", -1) != seq ||
            strcmp(bench_jstr(p, "dtype"), dtype) != 0)
            continue;
        bench_group h = bench_point_group(doc, p);
        if (h.dim == g->dim &&
            (g->batch <= 0 || (h.batch == g->batch && h.heads == g->heads && h.kv_heads == g->kv_heads)))
            return p;
    }
    return NULL;
}

const cJSON *bench_find_point(const cJSON *doc, const char *kind, const char *pattern, double seq, double dim,
                              const char *dtype)
{
    bench_group any = {.dim = (int)dim};
    return bench_find_point_in(doc, kind, pattern, seq, &any, dtype);
}

static void sort_nums(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1], v[j - 1] = t;
        }
}

/* Adds v to out[0..*n) unless it is there; false when full. */
static void add_num(double *out, int *n, int max, double v)
{
    for (int i = 0; i < *n; i++)
        if (out[i] == v) return;
    if (*n < max) out[(*n)++] = v;
}

/* Sorted distinct values of a numeric field: from the array `arr` of numbers, else over the points. */
static int distinct_nums(const cJSON *arr, const cJSON *points, const char *key, double *out, int max)
{
    int n = 0;
    const cJSON *p;
    if (arr) {
        cJSON_ArrayForEach(p, arr) if (cJSON_IsNumber(p)) add_num(out, &n, max, p->valuedouble);
    } else {
        cJSON_ArrayForEach(p, points)
        {
            double v = bench_jnum(p, key, NAN);
            if (!isnan(v)) add_num(out, &n, max, v);
        }
    }
    sort_nums(out, n);
    return n;
}

/* A dtype name present in the strings of arr (or in the points' "dtype"), in report order. */
static int has_dtype(const cJSON *arr, const cJSON *points, const char *name)
{
    const cJSON *p;
    if (arr) {
        cJSON_ArrayForEach(p, arr) if (cJSON_IsString(p) && strcmp(p->valuestring, name) == 0) return 1;
        return 0;
    }
    cJSON_ArrayForEach(p, points) if (strcmp(bench_jstr(p, "dtype"), name) == 0) return 1;
    return 0;
}

/* The groups: from "shapes"."groups", else the distinct groups of the points (head dims sorted). */
static void doc_groups(const cJSON *doc, bench_shapes *s)
{
    const cJSON *arr = bench_jobj(bench_jobj(doc, "shapes"), "groups"), *p;
    if (!cJSON_IsArray(arr)) arr = bench_jobj(doc, "points");
    cJSON_ArrayForEach(p, arr)
    {
        bench_group g = bench_point_group(doc, p);
        int seen = 0;
        for (int i = 0; i < s->n_groups; i++)
            seen |= memcmp(&s->groups[i], &g, sizeof g) == 0;
        if (!seen && g.dim > 0 && s->n_groups < BENCH_MAX_GROUPS) s->groups[s->n_groups++] = g;
    }
    for (int i = 1; i < s->n_groups; i++) /* by head dim, keeping the order within one */
        for (int j = i; j > 0 && s->groups[j - 1].dim > s->groups[j].dim; j--) {
            bench_group t = s->groups[j];
            s->groups[j] = s->groups[j - 1], s->groups[j - 1] = t;
        }
}

void bench_doc_shapes(const cJSON *doc, bench_shapes *s)
{
    memset(s, 0, sizeof *s);
    const cJSON *sh = bench_jobj(doc, "shapes"), *points = bench_jobj(doc, "points"), *p;
    const cJSON *pats = cJSON_IsObject(sh) ? bench_jobj(sh, "patterns") : NULL;
    s->from_points = !cJSON_IsArray(pats);
    const cJSON *seqs = s->from_points ? NULL : bench_jobj(sh, "seq"),
                *dims = s->from_points ? NULL : bench_jobj(sh, "dim"),
                *dts = s->from_points ? NULL : bench_jobj(sh, "dtype");
    s->n_seqs = distinct_nums(seqs, points, "seq", s->seqs, 32);
    s->n_dims = distinct_nums(dims, points, "dim", s->dims, 8);
    doc_groups(doc, s);
    for (int i = 0; i < BENCH_N_DTYPES; i++) {
        const char *name = scli_dtype_name(bench_dtype_at(i));
        if (has_dtype(dts, points, name)) s->dtypes[s->n_dtypes++] = name;
    }
    /* Pattern labels (of the sparse points), in order of first appearance. */
    const cJSON *src = s->from_points ? points : pats;
    cJSON_ArrayForEach(p, src)
    {
        if (s->from_points && strcmp(bench_jstr(p, "kind"), "sparse") != 0) continue;
        const char *l = bench_jstr(p, s->from_points ? "pattern" : "label");
        int seen = 0;
        for (int i = 0; i < s->n_patterns; i++)
            seen |= strcmp(s->labels[i], l) == 0;
        if (!seen && s->n_patterns < 16)
            s->specs[s->n_patterns] = bench_jstr(p, "spec"), s->labels[s->n_patterns++] = l;
    }
}

/* ---- Writing ------------------------------------------------------------------------------ */

cJSON *bench_timing_json(const bench_timing *t, double peak_gflops)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ran", t->ran);
    if (t->ran) {
        cJSON_AddNumberToObject(o, "median_ms", t->median);
        cJSON_AddNumberToObject(o, "min_ms", t->min);
        cJSON_AddNumberToObject(o, "max_ms", t->max);
        cJSON_AddNumberToObject(o, "reps", t->reps);
        cJSON_AddNumberToObject(o, "cv", t->cv);
        cJSON_AddNumberToObject(o, "max_over_min", t->min > 0 ? t->max / t->min : 0);
        cJSON_AddBoolToObject(o, "noisy", bench_timing_noisy(t));
        cJSON_AddNumberToObject(o, "gflops", t->flops / t->median * 1e-6);
        if (peak_gflops > 0)
            cJSON_AddNumberToObject(o, "fraction_of_peak", t->flops / t->median * 1e-6 / peak_gflops);
    } else {
        cJSON_AddStringToObject(o, "reason", t->note);
    }
    return o;
}

void bench_json_set_num(cJSON *o, const char *key, double v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON_AddNumberToObject(o, key, v);
}

int bench_json_write(const cJSON *doc, const char *path, char *msg, size_t len)
{
    char *text = cJSON_Print(doc);
    if (!text) return snprintf(msg, len, "out of memory"), -1;
    size_t n = strlen(text);
    text[n] = '\n';
    int rc = scl_write_file_atomic(path, text, n + 1, msg, len);
    free(text);
    return rc;
}

static cJSON *dtype_list(unsigned set)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < BENCH_N_DTYPES; i++)
        if (set & BENCH_DT(bench_dtype_at(i)))
            cJSON_AddItemToArray(a, cJSON_CreateString(scli_dtype_name(bench_dtype_at(i))));
    return a;
}

/* "shapes": what the suite runs, so that reports need not guess it from the points. */
static void add_shapes(cJSON *doc, const bench_suite_def *def)
{
    cJSON *sh = cJSON_AddObjectToObject(doc, "shapes");
    cJSON *seq = cJSON_AddArrayToObject(sh, "seq"), *dim = cJSON_AddArrayToObject(sh, "dim");
    for (int i = 0; i < bench_suite_n_seqs(def); i++)
        cJSON_AddItemToArray(seq, cJSON_CreateNumber((double)def->seqs[i]));
    double dims[BENCH_MAX_GROUPS];
    int nd = 0;
    for (int i = 0; i < bench_suite_n_groups(def); i++)
        add_num(dims, &nd, BENCH_MAX_GROUPS, bench_suite_group(def, i).dim);
    sort_nums(dims, nd);
    for (int i = 0; i < nd; i++)
        cJSON_AddItemToArray(dim, cJSON_CreateNumber(dims[i]));
    cJSON_AddItemToObject(sh, "dtype", dtype_list(bench_suite_dtypes(def)));
    cJSON *groups = cJSON_AddArrayToObject(sh, "groups");
    for (int i = 0; i < bench_suite_n_groups(def); i++) {
        bench_group g = bench_suite_group(def, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "batch", g.batch);
        cJSON_AddNumberToObject(o, "heads", g.heads);
        cJSON_AddNumberToObject(o, "kv_heads", g.kv_heads);
        cJSON_AddNumberToObject(o, "dim", g.dim);
        cJSON_AddItemToArray(groups, o);
    }
    cJSON *pats = cJSON_AddArrayToObject(sh, "patterns");
    for (int i = 0; i < bench_suite_n_patterns(def); i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "label", def->patterns[i].label);
        cJSON_AddStringToObject(p, "spec", def->patterns[i].spec);
        cJSON_AddItemToObject(p, "dtype", dtype_list(def->patterns[i].dtypes));
        cJSON_AddItemToArray(pats, p);
    }
}

static void add_device(cJSON *doc, const scl_device_info *di, const char *slug)
{
    cJSON *dev = cJSON_AddObjectToObject(doc, "device");
    cJSON_AddStringToObject(dev, "slug", slug);
    scli_device_identity_json(dev, di, "name", "device_version");
    cJSON_AddStringToObject(dev, "type",
                            di->type & CL_DEVICE_TYPE_GPU   ? "GPU"
                            : di->type & CL_DEVICE_TYPE_CPU ? "CPU"
                                                            : "other");
    cJSON_AddNumberToObject(dev, "compute_units", di->compute_units);
    cJSON_AddNumberToObject(dev, "clock_mhz", di->clock_mhz);
    cJSON_AddNumberToObject(dev, "global_mem_bytes", (double)di->global_mem_bytes);
    cJSON_AddNumberToObject(dev, "max_alloc_bytes", (double)di->max_alloc_bytes);
}

cJSON *bench_doc_new(const bench_suite_def *def, const scl_device_info *di, const char *slug, int reps,
                     double max_point_s, const char *note, const char *cmdline, const char *commit,
                     const char *date)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "format", "sparsecl-bench");
    cJSON_AddNumberToObject(doc, "format_version", 1);
    cJSON_AddStringToObject(doc, "suite", def->name);
    cJSON_AddNumberToObject(doc, "suite_version", def->version);
    cJSON_AddStringToObject(doc, "suite_about", def->about);
    add_device(doc, di, slug);
    cJSON_AddStringToObject(doc, "library_version", scl_version());
    cJSON_AddStringToObject(doc, "git_commit", commit);
    cJSON_AddStringToObject(doc, "date", date);
    cJSON_AddStringToObject(doc, "note", note ? note : "");
    cJSON_AddStringToObject(doc, "command", cmdline);
    cJSON_AddObjectToObject(doc, "peak");
    cJSON *cfg = cJSON_AddObjectToObject(doc, "settings");
    cJSON_AddNumberToObject(cfg, "batch", def->batch);
    cJSON_AddNumberToObject(cfg, "heads", def->heads);
    cJSON_AddNumberToObject(cfg, "block", def->block);
    cJSON_AddNumberToObject(cfg, "warmup", def->warmup);
    cJSON_AddNumberToObject(cfg, "reps", reps);
    cJSON_AddNumberToObject(cfg, "max_point_seconds", max_point_s);
    cJSON_AddNumberToObject(cfg, "backward_flop_ratio", BENCH_BWD_FLOP_RATIO);
    add_shapes(doc, def);
    cJSON_AddNumberToObject(doc, "wall_s", 0);
    cJSON_AddArrayToObject(doc, "points");
    return doc;
}

cJSON *bench_point_new(const bench_suite_def *d, const char *kind, const char *label, const char *spec,
                       int64_t n, const bench_group *g, scl_dtype dt)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "kind", kind);
    cJSON_AddStringToObject(p, "pattern", label);
    cJSON_AddStringToObject(p, "spec", spec);
    cJSON_AddNumberToObject(p, "seq", (double)n);
    cJSON_AddNumberToObject(p, "dim", g->dim);
    cJSON_AddStringToObject(p, "dtype", scli_dtype_name(dt));
    cJSON_AddNumberToObject(p, "batch", g->batch);
    cJSON_AddNumberToObject(p, "heads", g->heads);
    cJSON_AddNumberToObject(p, "kv_heads", g->kv_heads);
    cJSON_AddNumberToObject(p, "block", d->block);
    return p;
}
