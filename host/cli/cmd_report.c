/* `sparsecl report DIR`: every DIR/<device-slug>/bench.json into one DIR/README.md with the
 * devices side by side, and each device's bench.md regenerated from its bench.json. The Markdown of
 * one device (bench_md_write) lives here too; `sparsecl bench --suite` calls it after a run. */
#include "bench_suite.h"
#include "cli.h"
#include "scl_fileio.h"

#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *CMD = "report";

/* ---- Small helpers over bench.json -------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int jbool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const cJSON *jobj(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const cJSON *find_point(const cJSON *doc, const char *kind, const char *pattern, double seq,
                               double dim, const char *dtype)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, jobj(doc, "points"))
    {
        if (strcmp(jstr(p, "kind"), kind) == 0 && (!pattern || strcmp(jstr(p, "pattern"), pattern) == 0) &&
            jnum(p, "seq", -1) == seq && jnum(p, "dim", -1) == dim && strcmp(jstr(p, "dtype"), dtype) == 0)
            return p;
    }
    return NULL;
}

/* Sorted distinct values of a numeric field over the points. */
static int distinct_nums(const cJSON *doc, const char *key, double *out, int max)
{
    int n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, jobj(doc, "points"))
    {
        double v = jnum(p, key, NAN);
        if (isnan(v)) continue;
        int seen = 0;
        for (int i = 0; i < n; i++)
            seen |= out[i] == v;
        if (!seen && n < max) out[n++] = v;
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            double t = out[j];
            out[j] = out[j - 1], out[j - 1] = t;
        }
    return n;
}

/* Pattern labels of the sparse points, in order of first appearance. */
static int pattern_labels(const cJSON *doc, const char *labels[], const char *specs[], int max)
{
    int n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, jobj(doc, "points"))
    {
        if (strcmp(jstr(p, "kind"), "sparse") != 0) continue;
        const char *l = jstr(p, "pattern");
        int seen = 0;
        for (int i = 0; i < n; i++)
            seen |= strcmp(labels[i], l) == 0;
        if (!seen && n < max) specs[n] = jstr(p, "spec"), labels[n++] = l;
    }
    return n;
}

static void fmt_ms(char *out, size_t len, double ms)
{
    if (ms < 1)
        snprintf(out, len, "%.3f", ms);
    else if (ms < 100)
        snprintf(out, len, "%.2f", ms);
    else
        snprintf(out, len, "%.0f", ms);
}

/* Why a timing did not run, in one word for a table cell. */
static const char *short_reason(const cJSON *pt, const cJSON *t)
{
    if (!pt) return "—";
    if (jbool(pt, "out_of_memory")) return "OOM";
    const char *r = t ? jstr(t, "reason") : jstr(pt, "skipped");
    if (strstr(r, "not available")) return "n/a";
    if (strstr(r, "skipped")) return "skip";
    if (strstr(r, "did not run")) return "—";
    return "fail";
}

enum cell_kind { CELL_MS, CELL_GFLOPS, CELL_MEM, CELL_BWD_MEM };

static void cell(char *out, size_t len, const cJSON *pt, const char *which, enum cell_kind k)
{
    if (!pt) {
        snprintf(out, len, "—");
        return;
    }
    if (k == CELL_MEM || k == CELL_BWD_MEM) {
        double b = jnum(pt, k == CELL_MEM ? "memory_bytes" : "backward_memory_bytes", -1);
        if (b < 0)
            snprintf(out, len, "—");
        else
            snprintf(out, len, "%.1f", b / 1048576.0);
        if (b >= 0 && jbool(pt, "out_of_memory")) snprintf(out, len, "%.0f (OOM)", b / 1048576.0);
        return;
    }
    const cJSON *t = jobj(pt, which);
    if (!t || !jbool(t, "ran")) {
        snprintf(out, len, "%s", short_reason(pt, t));
        return;
    }
    if (k == CELL_MS) {
        fmt_ms(out, len, jnum(t, "median_ms", 0));
    } else {
        double f = jnum(t, "fraction_of_peak", -1);
        if (f >= 0)
            snprintf(out, len, "%.1f (%.0f%%)", jnum(t, "gflops", 0), 100 * f);
        else
            snprintf(out, len, "%.1f", jnum(t, "gflops", 0));
    }
}

static int file_exists(const char *dir, const char *name)
{
    char path[2048];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0;
}

/* ---- One device: bench.md ----------------------------------------------------------------- */

static void table(FILE *f, const cJSON *doc, const char *title, const char *which, enum cell_kind k,
                  double dim, const char *dtype, const char *labels[], int nl, const double *seqs, int ns,
                  int with_clblast)
{
    fprintf(f, "\n#### %s\n\n| N |", title);
    for (int i = 0; i < nl; i++)
        fprintf(f, " %s%s |", labels[i], strcmp(labels[i], "dense") == 0 ? " (fused)" : "");
    if (with_clblast) fprintf(f, " dense CLBlast |");
    fprintf(f, "\n| ---: |");
    for (int i = 0; i < nl + with_clblast; i++)
        fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (int s = 0; s < ns; s++) {
        fprintf(f, "| %.0f |", seqs[s]);
        char c[64];
        for (int i = 0; i < nl; i++) {
            cell(c, sizeof c, find_point(doc, "sparse", labels[i], seqs[s], dim, dtype), which, k);
            fprintf(f, " %s |", c);
        }
        if (with_clblast) {
            cell(c, sizeof c, find_point(doc, "clblast", NULL, seqs[s], dim, dtype), which,
                 k == CELL_BWD_MEM ? CELL_MEM : k);
            fprintf(f, " %s |", c);
        }
        fprintf(f, "\n");
    }
}

int bench_md_write(const cJSON *doc, const char *dir, char *msg, size_t len)
{
    char path[2048], *tmp = NULL;
    snprintf(path, sizeof path, "%s/bench.md", dir);
    FILE *f = scl_atomic_open(path, &tmp, msg, len);
    if (!f) return -1;
    const cJSON *dev = jobj(doc, "device"), *pk = jobj(doc, "peak"), *set = jobj(doc, "settings");
    double peak = jnum(pk, "fma_gflops", 0);
    fprintf(f, "# sparsecl benchmark: %s\n\n", jstr(dev, "name"));
    fprintf(f,
            "Generated from `bench.json` by `%s` (tables: `sparsecl report`; plots: `python3 "
            "scripts/plot_bench.py results/%s/bench.json`).\n\n",
            jstr(doc, "command"), jstr(dev, "slug"));
    fprintf(f, "| | |\n| --- | --- |\n");
    fprintf(f, "| device | %s (%s), %s, %.0f compute units, %.0f MHz, %.1f GiB |\n", jstr(dev, "name"),
            jstr(dev, "vendor"), jstr(dev, "type"), jnum(dev, "compute_units", 0), jnum(dev, "clock_mhz", 0),
            jnum(dev, "global_mem_bytes", 0) / 1073741824.0);
    fprintf(f, "| platform, driver | %s, %s |\n", jstr(dev, "platform"), jstr(dev, "driver"));
    fprintf(f, "| library | sparsecl %s, commit `%s` |\n", jstr(doc, "library_version"),
            jstr(doc, "git_commit"));
    fprintf(f, "| date | %s |\n", jstr(doc, "date"));
    fprintf(f, "| suite | `%s` v%.0f: %s |\n", jstr(doc, "suite"), jnum(doc, "suite_version", 0),
            jstr(doc, "suite_about"));
    fprintf(f,
            "| settings | B = %.0f, H = %.0f, block %.0f, %.0f warm-up + %.0f timed runs, cap %.0f s per "
            "point |\n",
            jnum(set, "batch", 0), jnum(set, "heads", 0), jnum(set, "block", 0), jnum(set, "warmup", 0),
            jnum(set, "reps", 0), jnum(set, "max_point_seconds", 0));
    if (peak > 0)
        fprintf(f, "| peak (`sparsecl peak`) | %.1f GFLOP/s fp32 FMA, %.1f GB/s |\n", peak,
                jnum(pk, "bandwidth_gbs", 0));
    else
        fprintf(f, "| peak | not measured |\n");
    fprintf(f, "| wall time | %.0f s |\n", jnum(doc, "wall_s", 0));
    if (*jstr(doc, "note")) fprintf(f, "| note | %s |\n", jstr(doc, "note"));

    fprintf(f,
            "\n**Conventions.** Times are device time from OpenCL profiling events (first kernel start to "
            "last kernel end), the median of the timed runs (min and max are in bench.json). Effective "
            "GFLOP/s count 4·d FLOPs per *allowed* (query, key) pair for the forward pass (the dense fused "
            "kernel and CLBlast: every pair) and 2.5× that for the backward pass (FlashAttention's "
            "convention); forward+backward counts 3.5×. %% of peak is against the measured fp32 FMA rate, "
            "also for float16 storage (compute is fp32). CLBlast is float32 only. Device memory (MiB) is "
            "Q, K, V, O, LSE plus the plan's buffers (row LUT, masks, and the padded K^T/V scratch of "
            "2·B·H_kv·N_k,padded·d·elem bytes), read back with CL_MEM_SIZE; with backward, dO, dQ, dK, dV "
            "plus its estimated state (column LUT ≈ row LUT, float32 scratch "
            "4·B·H·N_q,padded·d + 2·B·H·N_q,padded + 4·B·H_kv·N_k,padded·d floats); CLBlast: Q, K, V, O "
            "plus its B·H·N_q·N_k float32 scores. Cells: `skip` = over the time cap or device memory, "
            "`OOM` = the baseline refused for memory, `n/a` = not available in this build, `fail` = "
            "error; reasons under *Points not run*.\n");

    const char *labels[16], *specs[16];
    int nl = pattern_labels(doc, labels, specs, 16);
    double seqs[32], dims[8];
    int ns = distinct_nums(doc, "seq", seqs, 32), nd = distinct_nums(doc, "dim", dims, 8);
    int backward = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, jobj(doc, "points")) backward |= jobj(p, "backward") != NULL;

    fprintf(f, "\n## Patterns\n\nDensity (allowed / all pairs) at each N.\n\n| label | spec |");
    for (int s = 0; s < ns; s++)
        fprintf(f, " N = %.0f |", seqs[s]);
    fprintf(f, "\n| --- | --- |");
    for (int s = 0; s < ns; s++)
        fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (int i = 0; i < nl; i++) {
        fprintf(f, "| %s | `%s` |", labels[i], specs[i]);
        for (int s = 0; s < ns; s++) {
            const cJSON *q = NULL;
            for (int d = 0; d < nd && !q; d++) {
                q = find_point(doc, "sparse", labels[i], seqs[s], dims[d], "f32");
                if (q && !jobj(q, "density")) q = NULL;
            }
            if (q)
                fprintf(f, " %.3f |", jnum(q, "density", 0));
            else
                fprintf(f, " — |");
        }
        fprintf(f, "\n");
    }

    static const char *dtypes[] = {"f32", "f16"};
    for (int t = 0; t < 2; t++)
        for (int d = 0; d < nd; d++) {
            const char *ls[16];
            int n = 0;
            for (int i = 0; i < nl; i++) {
                int has = 0;
                for (int s = 0; s < ns; s++)
                    has |= find_point(doc, "sparse", labels[i], seqs[s], dims[d], dtypes[t]) != NULL;
                if (has) ls[n++] = labels[i];
            }
            if (!n) continue;
            int cb = t == 0;
            fprintf(f, "\n## %s storage, d = %.0f\n", t ? "float16" : "float32", dims[d]);
            table(f, doc, "Forward time (ms)", "forward", CELL_MS, dims[d], dtypes[t], ls, n, seqs, ns, cb);
            table(f, doc, "Forward effective GFLOP/s (% of peak)", "forward", CELL_GFLOPS, dims[d], dtypes[t],
                  ls, n, seqs, ns, cb);
            if (backward) {
                table(f, doc, "Forward + backward time (ms)", "forward_backward", CELL_MS, dims[d], dtypes[t],
                      ls, n, seqs, ns, 0);
                table(f, doc, "Backward alone: time (ms)", "backward", CELL_MS, dims[d], dtypes[t], ls, n,
                      seqs, ns, 0);
                table(f, doc, "Backward effective GFLOP/s (% of peak)", "backward", CELL_GFLOPS, dims[d],
                      dtypes[t], ls, n, seqs, ns, 0);
            }
            table(f, doc, "Device memory, forward (MiB)", NULL, CELL_MEM, dims[d], dtypes[t], ls, n, seqs, ns,
                  cb);
            if (backward)
                table(f, doc, "Device memory, forward + backward (MiB)", NULL, CELL_BWD_MEM, dims[d],
                      dtypes[t], ls, n, seqs, ns, 0);
        }

    fprintf(f, "\n## Dense baselines and memory\n\n");
    int any = 0;
    for (int d = 0; d < nd; d++) {
        for (int s = 0; s < ns; s++) {
            const cJSON *c = find_point(doc, "clblast", NULL, seqs[s], dims[d], "f32");
            if (!c || !jbool(c, "out_of_memory")) continue;
            const cJSON *sp = NULL, *q;
            cJSON_ArrayForEach(q, jobj(doc, "points"))
            {
                if (strcmp(jstr(q, "kind"), "sparse") == 0 && jnum(q, "seq", 0) == seqs[s] &&
                    jnum(q, "dim", 0) == dims[d] && jbool(jobj(q, "forward"), "ran") &&
                    strcmp(jstr(q, "pattern"), "dense") != 0) {
                    sp = q;
                    break;
                }
            }
            fprintf(
                f, "- d = %.0f: CLBlast runs out of memory from N = %.0f (its scores need %.0f MiB)%s%s%s.\n",
                dims[d], seqs[s], jnum(c, "scores_bytes", 0) / 1048576.0,
                sp ? " while the sparse kernels still run (" : "", sp ? jstr(sp, "pattern") : "",
                sp ? " among them)" : "");
            any = 1;
            break;
        }
    }
    if (!any)
        fprintf(
            f,
            "- The CLBlast baseline fitted the device memory at every size run here (it needs B·H·N² floats "
            "for its scores; the fused kernels need O(N) memory, so the dense fused kernel only ever stops "
            "at the time cap).\n");

    fprintf(f, "\n## Tuned vs default parameters\n\n");
    int nt = 0;
    cJSON_ArrayForEach(p, jobj(doc, "points"))
    {
        if (!jbool(p, "tuned")) continue;
        if (!nt++)
            fprintf(f,
                    "Points whose forward parameters came from a tuning database, against the built-in "
                    "defaults of the device type.\n\n| pattern | N | d | dtype | tuned (ms) | default (ms) | "
                    "default / tuned |\n| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
        char a[64], b[64];
        cell(a, sizeof a, p, "forward", CELL_MS);
        cell(b, sizeof b, p, "forward_default", CELL_MS);
        const cJSON *t1 = jobj(p, "forward"), *t2 = jobj(p, "forward_default");
        fprintf(f, "| %s | %.0f | %.0f | %s | %s | %s |", jstr(p, "pattern"), jnum(p, "seq", 0),
                jnum(p, "dim", 0), jstr(p, "dtype"), a, b);
        if (jbool(t1, "ran") && jbool(t2, "ran"))
            fprintf(f, " %.2f |\n", jnum(t2, "median_ms", 0) / jnum(t1, "median_ms", 1));
        else
            fprintf(f, " — |\n");
    }
    if (!nt)
        fprintf(f, "No point used a tuning database on this device (all ran with the built-in defaults).\n");
    else {
        const char *src = "";
        cJSON_ArrayForEach(p, jobj(doc, "points")) if (jbool(p, "tuned")) src = jstr(p, "kernel_params_from");
        fprintf(f, "\nDatabase (last tuned point): %s\n", src);
    }

    fprintf(f, "\n## Points not run\n\n");
    int nr = 0;
    cJSON_ArrayForEach(p, jobj(doc, "points"))
    {
        static const char *which[] = {"forward", "backward", "forward_default"};
        for (int w = 0; w < 3; w++) {
            const cJSON *t = jobj(p, which[w]);
            if (!t || jbool(t, "ran")) continue;
            if (w > 0 && !jbool(jobj(p, "forward"), "ran")) continue;
            fprintf(f, "- %s %s N=%.0f d=%.0f %s: %s\n", jstr(p, "pattern"), which[w], jnum(p, "seq", 0),
                    jnum(p, "dim", 0), jstr(p, "dtype"), jstr(t, "reason"));
            nr++;
        }
    }
    if (!nr) fprintf(f, "Every point ran.\n");

    fprintf(f, "\n## Plots\n\n");
    static const char *plots[][2] = {
        {"time_forward.png", "Forward time vs sequence length"},
        {"time_forward_backward.png", "Forward + backward time vs sequence length"},
        {"fraction_of_peak.png", "Achieved fraction of peak"},
        {"memory.png", "Device memory vs sequence length"}};
    int np = 0;
    for (size_t i = 0; i < sizeof plots / sizeof plots[0]; i++)
        if (file_exists(dir, plots[i][0])) fprintf(f, "![%s](%s)\n\n", plots[i][1], plots[i][0]), np++;
    if (!np)
        fprintf(f,
                "No plots here (matplotlib was not available): `python3 scripts/plot_bench.py "
                "results/%s/bench.json`.\n",
                jstr(dev, "slug"));
    return scl_atomic_close(f, tmp, path, !ferror(f), msg, len);
}

/* ---- Across devices: README.md ------------------------------------------------------------ */

typedef struct device_doc {
    char slug[256];
    cJSON *doc;
} device_doc;

static int cmp_dev(const void *a, const void *b)
{
    const device_doc *x = a, *y = b;
    return strcmp(x->slug, y->slug);
}

/* A shape row of the comparison: the same point on every device. */
typedef struct row {
    const char *kind, *pattern, *dtype;
    double seq, dim, heads, batch, block;
} row;

static int row_order(const row *a, const row *b)
{
    int c = strcmp(a->dtype, b->dtype);
    if (c) return -c; /* f32 first */
    if (a->dim != b->dim) return a->dim < b->dim ? -1 : 1;
    c = strcmp(a->kind, b->kind);
    if (c) return -c; /* sparse before clblast */
    c = strcmp(a->pattern, b->pattern);
    if (c) return c;
    if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
    if (a->heads != b->heads) return a->heads < b->heads ? -1 : 1;
    return 0;
}

static int cmp_row(const void *a, const void *b)
{
    return row_order(a, b);
}

static int same_row(const row *r, const cJSON *p, const cJSON *doc)
{
    const cJSON *set = jobj(doc, "settings");
    return strcmp(r->kind, jstr(p, "kind")) == 0 && strcmp(r->pattern, jstr(p, "pattern")) == 0 &&
           strcmp(r->dtype, jstr(p, "dtype")) == 0 && r->seq == jnum(p, "seq", 0) &&
           r->dim == jnum(p, "dim", 0) && r->heads == jnum(p, "heads", jnum(set, "heads", 0)) &&
           r->batch == jnum(p, "batch", jnum(set, "batch", 0)) &&
           r->block == jnum(p, "block", jnum(set, "block", 0));
}

static void comparison(FILE *f, device_doc *devs, int nd, const char *which, const char *title)
{
    int cap = 0, n = 0;
    for (int i = 0; i < nd; i++)
        cap += cJSON_GetArraySize(jobj(devs[i].doc, "points"));
    row *rows = calloc((size_t)cap + 1, sizeof *rows);
    if (!rows) return;
    for (int i = 0; i < nd; i++) {
        const cJSON *p;
        cJSON_ArrayForEach(p, jobj(devs[i].doc, "points"))
        {
            if (!jobj(p, which)) continue;
            const cJSON *set = jobj(devs[i].doc, "settings");
            row r = {jstr(p, "kind"),
                     jstr(p, "pattern"),
                     jstr(p, "dtype"),
                     jnum(p, "seq", 0),
                     jnum(p, "dim", 0),
                     jnum(p, "heads", jnum(set, "heads", 0)),
                     jnum(p, "batch", jnum(set, "batch", 0)),
                     jnum(p, "block", jnum(set, "block", 0))};
            int seen = 0;
            for (int k = 0; k < n && !seen; k++)
                seen = row_order(&rows[k], &r) == 0 && rows[k].batch == r.batch && rows[k].block == r.block;
            if (!seen) rows[n++] = r;
        }
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_row);
    fprintf(f,
            "\n### %s\n\nMedian time in ms (effective GFLOP/s as %% of each device's own peak).\n\n"
            "| pattern | dtype | d | N |",
            title);
    for (int i = 0; i < nd; i++)
        fprintf(f, " [%s](%s/bench.md) |", jstr(jobj(devs[i].doc, "device"), "name"), devs[i].slug);
    fprintf(f, "\n| --- | --- | ---: | ---: |");
    for (int i = 0; i < nd; i++)
        fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (int k = 0; k < n; k++) {
        const row *r = &rows[k];
        const char *name = strcmp(r->kind, "clblast") == 0    ? "dense CLBlast"
                           : strcmp(r->pattern, "dense") == 0 ? "dense (fused)"
                                                              : r->pattern;
        fprintf(f, "| %s | %s | %.0f | %.0f", name, r->dtype, r->dim, r->seq);
        if (r->heads != 2 || r->batch != 1) fprintf(f, " (B=%.0f H=%.0f)", r->batch, r->heads);
        fprintf(f, " |");
        for (int i = 0; i < nd; i++) {
            const cJSON *p, *hit = NULL;
            cJSON_ArrayForEach(p, jobj(devs[i].doc, "points")) if (!hit && same_row(r, p, devs[i].doc)) hit =
                p;
            const cJSON *t = hit ? jobj(hit, which) : NULL;
            char ms[32];
            if (t && jbool(t, "ran")) {
                fmt_ms(ms, sizeof ms, jnum(t, "median_ms", 0));
                double fr = jnum(t, "fraction_of_peak", -1);
                if (fr >= 0)
                    fprintf(f, " %s (%.0f%%) |", ms, 100 * fr);
                else
                    fprintf(f, " %s |", ms);
            } else {
                fprintf(f, " %s |", short_reason(hit, t));
            }
        }
        fprintf(f, "\n");
    }
    free(rows);
}

static void readme_usage(void)
{
    printf("usage: sparsecl report [DIR] [--out FILE] [--no-md]\n\n"
           "Reads every DIR/<device-slug>/bench.json (written by `sparsecl bench --suite`), regenerates\n"
           "each device's bench.md from it (unless --no-md) and writes DIR/README.md (or FILE): the\n"
           "devices with their driver, peak, suite and date, and comparison tables with each device's\n"
           "figures side by side for the same shapes (forward, forward+backward), linking each device's\n"
           "report. DIR defaults to results. Plots are made by scripts/plot_bench.py.\n");
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"no-md", no_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *root = "results", *out = NULL;
    int md = 1, c;
    opterr = 0;
    optind = 1;
    for (int before = optind; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1; before = optind) {
        if (c == 'o')
            out = optarg;
        else if (c == 'm')
            md = 0;
        else if (c == 'h')
            return readme_usage(), CLI_OK;
        else
            return cli_refused(CMD, argv, before);
    }
    if (optind < argc) root = argv[optind++];
    if (optind < argc) return cli_error(CMD, CLI_USAGE, "unexpected argument '%s'", argv[optind]);
    char rootbuf[2048];
    snprintf(rootbuf, sizeof rootbuf, "%s", root);
    size_t rl = strlen(rootbuf);
    while (rl > 1 && rootbuf[rl - 1] == '/')
        rootbuf[--rl] = '\0';
    root = rootbuf;

    DIR *d = opendir(root);
    if (!d) return cli_error(CMD, CLI_USAGE, "cannot open directory %s", root);
    device_doc devs[64];
    char others[64][256];
    int nd = 0, no = 0, rc = CLI_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[2600], msg[512];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
        snprintf(path, sizeof path, "%s/%s/bench.json", root, e->d_name);
        unsigned char *text = NULL;
        size_t size = 0;
        if (scl_read_file(path, 256u << 20, &text, &size, msg, sizeof msg) != 0) {
            if (no < 64) snprintf(others[no++], sizeof others[0], "%s", e->d_name);
            continue;
        }
        cJSON *doc = cJSON_Parse((const char *)text);
        free(text);
        if (!doc || strcmp(jstr(doc, "format"), "sparsecl-bench") != 0) {
            cJSON_Delete(doc);
            cli_error(CMD, CLI_FAILED, "%s is not a sparsecl-bench JSON file", path);
            rc = CLI_FAILED;
            continue;
        }
        if (nd == 64) {
            cJSON_Delete(doc);
            continue;
        }
        snprintf(devs[nd].slug, sizeof devs[nd].slug, "%s", e->d_name);
        devs[nd++].doc = doc;
    }
    closedir(d);
    qsort(devs, (size_t)nd, sizeof devs[0], cmp_dev);
    for (int i = 1; i < no; i++)
        for (int j = i; j > 0 && strcmp(others[j - 1], others[j]) > 0; j--) {
            char t[256];
            memcpy(t, others[j], sizeof t), memcpy(others[j], others[j - 1], sizeof t),
                memcpy(others[j - 1], t, sizeof t);
        }

    char msg[1200];
    for (int i = 0; i < nd && md; i++) {
        char dir[2600];
        snprintf(dir, sizeof dir, "%s/%s", root, devs[i].slug);
        if (bench_md_write(devs[i].doc, dir, msg, sizeof msg) != 0)
            rc = cli_error(CMD, CLI_FAILED, "%s", msg);
    }

    char path[2600], *tmp = NULL;
    if (out)
        snprintf(path, sizeof path, "%s", out);
    else
        snprintf(path, sizeof path, "%s/README.md", root);
    FILE *f = scl_atomic_open(path, &tmp, msg, sizeof msg);
    if (!f) {
        for (int i = 0; i < nd; i++)
            cJSON_Delete(devs[i].doc);
        return cli_error(CMD, CLI_FAILED, "%s", msg);
    }
    fprintf(
        f,
        "# sparsecl results\n\n"
        "Generated by `sparsecl report %s` from the `bench.json` files below; do not edit by hand.\n\n"
        "## Reproduce on your device\n\n"
        "```sh\n"
        "scripts/demo                                   # or: cmake --preset default && cmake --build "
        "--preset default\n"
        "build/sparsecl bench --suite quick            # a few minutes on a 2-core CPU; --device D|all\n"
        "build/sparsecl report results                 # this page and each device's bench.md\n"
        "python3 scripts/plot_bench.py results/*/bench.json   # every figure, from the committed JSON\n"
        "```\n\n"
        "`bench --suite` writes `results/<device-slug>/bench.json` (raw: device, driver, library version, "
        "git commit, date, suite version, every point), `bench.md` (tables) and, with python3-matplotlib, "
        "the PNG plots. The `full` suite goes to N = 64K where memory and the time cap allow. Both suites "
        "run the same shapes (B = 1, H = 2, block 64), so the tables below line up across devices.\n",
        root);
    fprintf(
        f,
        "\n## Devices\n\n| device | type | platform, driver | peak fp32 FMA | bandwidth | suite | points | "
        "date | commit | note |\n| --- | --- | --- | ---: | ---: | --- | ---: | --- | --- | --- |\n");
    for (int i = 0; i < nd; i++) {
        const cJSON *doc = devs[i].doc, *dev = jobj(doc, "device"), *pk = jobj(doc, "peak");
        char commit[16];
        snprintf(commit, sizeof commit, "%.10s", jstr(doc, "git_commit"));
        fprintf(f,
                "| [%s](%s/bench.md) | %s | %s, %s | %.0f GFLOP/s | %.0f GB/s | %s v%.0f | %d | %.10s | `%s` "
                "| %s |\n",
                jstr(dev, "name"), devs[i].slug, jstr(dev, "type"), jstr(dev, "platform"),
                jstr(dev, "driver"), jnum(pk, "fma_gflops", 0), jnum(pk, "bandwidth_gbs", 0),
                jstr(doc, "suite"), jnum(doc, "suite_version", 0), cJSON_GetArraySize(jobj(doc, "points")),
                jstr(doc, "date"), commit, jstr(doc, "note"));
    }
    if (!nd) fprintf(f, "| (no bench.json yet) | | | | | | | | | |\n");
    if (nd) {
        fprintf(f, "\n## Side by side\n");
        comparison(f, devs, nd, "forward", "Forward");
        comparison(f, devs, nd, "forward_backward", "Forward + backward");
    }
    if (no) {
        fprintf(f, "\n## Other folders\n\n");
        for (int i = 0; i < no; i++)
            fprintf(f, "- [%s](%s/)\n", others[i], others[i]);
    }
    int ok = !ferror(f);
    if (scl_atomic_close(f, tmp, path, ok, msg, sizeof msg) != 0)
        rc = cli_error(CMD, CLI_FAILED, "%s", msg);
    else
        fprintf(stderr, "report: wrote %s (%d device%s)\n", path, nd, nd == 1 ? "" : "s");
    for (int i = 0; i < nd; i++)
        cJSON_Delete(devs[i].doc);
    return rc;
}
