/* bench.md: the tables of one device from its bench.json (`sparsecl bench --suite` after a run,
 * `sparsecl report` for every device folder). */
#include "bench.h"

#include "param_schema.h"
#include "scl_fileio.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void bench_fmt_ms(char *out, size_t len, double ms)
{
    if (ms < 1)
        snprintf(out, len, "%.3f", ms);
    else if (ms < 100)
        snprintf(out, len, "%.2f", ms);
    else
        snprintf(out, len, "%.0f", ms);
}

const char *bench_short_reason(const cJSON *pt, const cJSON *t)
{
    if (!pt) return "—";
    if (bench_jbool(pt, "out_of_memory")) return "OOM";
    const char *r = t ? bench_jstr(t, "reason") : bench_jstr(pt, "skipped");
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
        double b = bench_jnum(pt, k == CELL_MEM ? "memory_bytes" : "backward_memory_bytes", -1);
        if (b < 0)
            snprintf(out, len, "—");
        else
            snprintf(out, len, "%.1f", b / 1048576.0);
        if (b >= 0 && bench_jbool(pt, "out_of_memory")) snprintf(out, len, "%.0f (OOM)", b / 1048576.0);
        return;
    }
    const cJSON *t = bench_jobj(pt, which);
    if (!t || !bench_jbool(t, "ran")) {
        snprintf(out, len, "%s", bench_short_reason(pt, t));
        return;
    }
    if (k == CELL_MS) {
        bench_fmt_ms(out, len, bench_jnum(t, "median_ms", 0));
    } else {
        double f = bench_jnum(t, "fraction_of_peak", -1);
        if (f >= 0)
            snprintf(out, len, "%.1f (%.0f%%)", bench_jnum(t, "gflops", 0), 100 * f);
        else
            snprintf(out, len, "%.1f", bench_jnum(t, "gflops", 0));
    }
}

static int file_exists(const char *dir, const char *name)
{
    char path[2048];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0;
}

/* One section's tables: the labels that have points at this head dim and dtype. */
typedef struct section {
    const cJSON *doc;
    const bench_shapes *sh;
    bench_group g;
    const char *dtype;
    const char *labels[16];
    int n;
} section;

static void table(FILE *f, const section *s, const char *title, const char *which, enum cell_kind k,
                  int with_clblast)
{
    fprintf(f, "\n#### %s\n\n| N |", title);
    for (int i = 0; i < s->n; i++)
        fprintf(f, " %s%s |", s->labels[i], strcmp(s->labels[i], "dense") == 0 ? " (fused)" : "");
    if (with_clblast) fprintf(f, " dense CLBlast |");
    fprintf(f, "\n| ---: |");
    for (int i = 0; i < s->n + with_clblast; i++)
        fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (int q = 0; q < s->sh->n_seqs; q++) {
        double seq = s->sh->seqs[q];
        fprintf(f, "| %.0f |", seq);
        char c[64];
        for (int i = 0; i < s->n; i++) {
            cell(c, sizeof c, bench_find_point_in(s->doc, "sparse", s->labels[i], seq, &s->g, s->dtype),
                 which, k);
            fprintf(f, " %s |", c);
        }
        if (with_clblast) {
            cell(c, sizeof c, bench_find_point_in(s->doc, "clblast", NULL, seq, &s->g, s->dtype), which,
                 k == CELL_BWD_MEM ? CELL_MEM : k);
            fprintf(f, " %s |", c);
        }
        fprintf(f, "\n");
    }
}

/* "results/<slug>" or, for a suite with its own folder, "results/<subdir>/<slug>". */
static void results_dir(const cJSON *doc, char *out, size_t len)
{
    const bench_suite_def *def = bench_suite_find(bench_jstr(doc, "suite"));
    const char *slug = bench_jstr(bench_jobj(doc, "device"), "slug");
    if (def && def->subdir)
        snprintf(out, len, "results/%s/%s", def->subdir, slug);
    else
        snprintf(out, len, "results/%s", slug);
}

static void md_header(FILE *f, const cJSON *doc)
{
    const cJSON *dev = bench_jobj(doc, "device"), *pk = bench_jobj(doc, "peak"),
                *set = bench_jobj(doc, "settings");
    double peak = bench_jnum(pk, "fma_gflops", 0);
    char rdir[600];
    results_dir(doc, rdir, sizeof rdir);
    fprintf(f, "# sparsecl benchmark: %s\n\n", bench_jstr(dev, "name"));
    fprintf(f,
            "Generated from `bench.json` by `%s` (tables: `sparsecl report`; plots: `python3 "
            "scripts/plot_bench.py %s/bench.json`).\n\n",
            bench_jstr(doc, "command"), rdir);
    fprintf(f, "| | |\n| --- | --- |\n");
    fprintf(f, "| device | %s (%s), %s, %.0f compute units, %.0f MHz, %.1f GiB |\n", bench_jstr(dev, "name"),
            bench_jstr(dev, "vendor"), bench_jstr(dev, "type"), bench_jnum(dev, "compute_units", 0),
            bench_jnum(dev, "clock_mhz", 0), bench_jnum(dev, "global_mem_bytes", 0) / 1073741824.0);
    fprintf(f, "| platform, driver | %s, %s |\n", bench_jstr(dev, "platform"), bench_jstr(dev, "driver"));
    fprintf(f, "| library | sparsecl %s, commit `%s` |\n", bench_jstr(doc, "library_version"),
            bench_jstr(doc, "git_commit"));
    fprintf(f, "| date | %s |\n", bench_jstr(doc, "date"));
    fprintf(f, "| suite | `%s` v%.0f: %s |\n", bench_jstr(doc, "suite"), bench_jnum(doc, "suite_version", 0),
            bench_jstr(doc, "suite_about"));
    char shape[64] = "B, H, H_kv per section";
    if (bench_jnum(set, "batch", 0) > 0)
        snprintf(shape, sizeof shape, "B = %.0f, H = %.0f", bench_jnum(set, "batch", 0),
                 bench_jnum(set, "heads", 0));
    fprintf(f, "| settings | %s, block %.0f, %.0f warm-up + %.0f timed runs, cap %.0f s per point |\n", shape,
            bench_jnum(set, "block", 0), bench_jnum(set, "warmup", 0), bench_jnum(set, "reps", 0),
            bench_jnum(set, "max_point_seconds", 0));
    if (peak > 0)
        fprintf(f, "| peak (`sparsecl peak`) | %.1f GFLOP/s fp32 FMA, %.1f GB/s |\n", peak,
                bench_jnum(pk, "bandwidth_gbs", 0));
    else
        fprintf(f, "| peak | not measured |\n");
    fprintf(f, "| wall time | %.0f s |\n", bench_jnum(doc, "wall_s", 0));
    if (*bench_jstr(doc, "note")) fprintf(f, "| note | %s |\n", bench_jstr(doc, "note"));

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
}

/* Density (allowed / all pairs) of every pattern at each N, from its float32 points. */
static void md_patterns(FILE *f, const cJSON *doc, const bench_shapes *sh)
{
    fprintf(f, "\n## Patterns\n\nDensity (allowed / all pairs) at each N.\n\n| label | spec |");
    for (int s = 0; s < sh->n_seqs; s++)
        fprintf(f, " N = %.0f |", sh->seqs[s]);
    fprintf(f, "\n| --- | --- |");
    for (int s = 0; s < sh->n_seqs; s++)
        fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (int i = 0; i < sh->n_patterns; i++) {
        fprintf(f, "| %s | `%s` |", sh->labels[i], sh->specs[i]);
        for (int s = 0; s < sh->n_seqs; s++) {
            const cJSON *q = NULL;
            for (int d = 0; d < sh->n_dims && !q; d++) {
                q = bench_find_point(doc, "sparse", sh->labels[i], sh->seqs[s], sh->dims[d], "f32");
                if (q && !bench_jobj(q, "density")) q = NULL;
            }
            if (q)
                fprintf(f, " %.3f |", bench_jnum(q, "density", 0));
            else
                fprintf(f, " — |");
        }
        fprintf(f, "\n");
    }
}

static const char *long_dtype(const char *name)
{
    for (int i = 0; i < BENCH_N_DTYPES; i++)
        if (strcmp(name, scli_dtype_name(bench_dtype_at(i))) == 0)
            return bench_dtype_long_name(bench_dtype_at(i));
    return name;
}

/* The timing and memory tables of every (dtype, head dim) that has points. */
static void md_sections(FILE *f, const cJSON *doc, const bench_shapes *sh, int backward)
{
    const cJSON *set = bench_jobj(doc, "settings");
    for (int t = 0; t < sh->n_dtypes; t++)
        for (int d = 0; d < sh->n_groups; d++) {
            section s = {.doc = doc, .sh = sh, .g = sh->groups[d], .dtype = sh->dtypes[t]};
            for (int i = 0; i < sh->n_patterns; i++) {
                int has = 0;
                for (int q = 0; q < sh->n_seqs; q++)
                    has |= !!bench_find_point_in(doc, "sparse", sh->labels[i], sh->seqs[q], &s.g, s.dtype);
                if (has) s.labels[s.n++] = sh->labels[i];
            }
            if (!s.n) continue;
            int cb = strcmp(s.dtype, "f32") == 0;
            if (s.g.batch == bench_jnum(set, "batch", 0) && s.g.heads == bench_jnum(set, "heads", 0) &&
                s.g.kv_heads == s.g.heads)
                fprintf(f, "\n## %s storage, d = %d\n", long_dtype(s.dtype), s.g.dim);
            else
                fprintf(f, "\n## %s storage, B = %d, H = %d, H_kv = %d, d = %d\n", long_dtype(s.dtype),
                        s.g.batch, s.g.heads, s.g.kv_heads, s.g.dim);
            table(f, &s, "Forward time (ms)", "forward", CELL_MS, cb);
            table(f, &s, "Forward effective GFLOP/s (% of peak)", "forward", CELL_GFLOPS, cb);
            if (backward) {
                table(f, &s, "Forward + backward time (ms)", "forward_backward", CELL_MS, 0);
                table(f, &s, "Backward alone: time (ms)", "backward", CELL_MS, 0);
                table(f, &s, "Backward effective GFLOP/s (% of peak)", "backward", CELL_GFLOPS, 0);
            }
            table(f, &s, "Device memory, forward (MiB)", NULL, CELL_MEM, cb);
            if (backward) table(f, &s, "Device memory, forward + backward (MiB)", NULL, CELL_BWD_MEM, 0);
        }
}

/* A sparse point (not the dense one) at this N and d whose forward ran. */
static const cJSON *sparse_ran(const cJSON *doc, double seq, double dim)
{
    const cJSON *q;
    cJSON_ArrayForEach(q, bench_jobj(doc, "points"))
    {
        if (strcmp(bench_jstr(q, "kind"), "sparse") == 0 && bench_jnum(q, "seq", 0) == seq &&
            bench_jnum(q, "dim", 0) == dim && bench_jbool(bench_jobj(q, "forward"), "ran") &&
            strcmp(bench_jstr(q, "pattern"), "dense") != 0)
            return q;
    }
    return NULL;
}

static void md_baselines(FILE *f, const cJSON *doc, const bench_shapes *sh)
{
    fprintf(f, "\n## Dense baselines and memory\n\n");
    int any = 0;
    for (int d = 0; d < sh->n_dims; d++) {
        for (int s = 0; s < sh->n_seqs; s++) {
            const cJSON *c = bench_find_point(doc, "clblast", NULL, sh->seqs[s], sh->dims[d], "f32");
            if (!c || !bench_jbool(c, "out_of_memory")) continue;
            const cJSON *sp = sparse_ran(doc, sh->seqs[s], sh->dims[d]);
            fprintf(
                f, "- d = %.0f: CLBlast runs out of memory from N = %.0f (its scores need %.0f MiB)%s%s%s.\n",
                sh->dims[d], sh->seqs[s], bench_jnum(c, "scores_bytes", 0) / 1048576.0,
                sp ? " while the sparse kernels still run (" : "", sp ? bench_jstr(sp, "pattern") : "",
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
}

static void md_tuned(FILE *f, const cJSON *doc)
{
    fprintf(f, "\n## Tuned vs default parameters\n\n");
    int nt = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, bench_jobj(doc, "points"))
    {
        if (!bench_jbool(p, "tuned")) continue;
        if (!nt++)
            fprintf(f,
                    "Points whose forward parameters came from a tuning database, against the built-in "
                    "defaults of the device type.\n\n| pattern | N | d | dtype | tuned (ms) | default (ms) | "
                    "default / tuned |\n| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
        char a[64], b[64];
        cell(a, sizeof a, p, "forward", CELL_MS);
        cell(b, sizeof b, p, "forward_default", CELL_MS);
        const cJSON *t1 = bench_jobj(p, "forward"), *t2 = bench_jobj(p, "forward_default");
        fprintf(f, "| %s | %.0f | %.0f | %s | %s | %s |", bench_jstr(p, "pattern"), bench_jnum(p, "seq", 0),
                bench_jnum(p, "dim", 0), bench_jstr(p, "dtype"), a, b);
        if (bench_jbool(t1, "ran") && bench_jbool(t2, "ran"))
            fprintf(f, " %.2f |\n", bench_jnum(t2, "median_ms", 0) / bench_jnum(t1, "median_ms", 1));
        else
            fprintf(f, " — |\n");
    }
    if (!nt)
        fprintf(f, "No point used a tuning database on this device (all ran with the built-in defaults).\n");
    else {
        const char *src = "";
        cJSON_ArrayForEach(p, bench_jobj(doc, "points")) if (bench_jbool(p, "tuned")) src =
            bench_jstr(p, "kernel_params_from");
        fprintf(f, "\nDatabase (last tuned point): %s\n", src);
    }
}

/* How many timings were noisy (files without "cv": their widest max/min), and the load average
 * around the run. */
static void md_noise(FILE *f, const cJSON *doc)
{
    int n = 0, with_cv = 0, noisy = 0;
    double worst = 0, widest = 0;
    const cJSON *p, *t, *wp = NULL;
    cJSON_ArrayForEach(p, bench_jobj(doc, "points")) cJSON_ArrayForEach(t, p)
    {
        if (!cJSON_IsObject(t) || !bench_jbool(t, "ran")) continue;
        double lo = bench_jnum(t, "min_ms", 0), mm = lo > 0 ? bench_jnum(t, "max_ms", 0) / lo : 0;
        n++;
        if (mm > widest) widest = mm, wp = p;
        if (!bench_jobj(t, "cv")) continue;
        with_cv++;
        noisy += bench_jbool(t, "noisy");
        if (bench_jnum(t, "cv", 0) > worst) worst = bench_jnum(t, "cv", 0);
    }
    fprintf(f, "\n## Noise\n\n");
    if (with_cv)
        fprintf(f,
                "%d of %d timings are noisy (their runs' coefficient of variation is above %.0f%%; the "
                "largest is %.1f%%); `cv` and `max_over_min` of every timing are in bench.json.",
                noisy, with_cv, 100 * BENCH_NOISY_CV, 100 * worst);
    else if (n)
        fprintf(f,
                "This bench.json predates the CV figure; the widest spread of its %d timings is max/min = "
                "%.2f (%s N=%.0f d=%.0f %s).",
                n, widest, bench_jstr(wp, "pattern"), bench_jnum(wp, "seq", 0), bench_jnum(wp, "dim", 0),
                bench_jstr(wp, "dtype"));
    else
        fprintf(f, "No timing ran.");
    const cJSON *l = bench_jobj(doc, "load");
    if (l) {
        double cpus = bench_jnum(l, "cpus", 0), a = bench_jnum(l, "start", 0), b = bench_jnum(l, "end", 0);
        fprintf(f, " Load average (1 min) %.1f at the start and %.1f at the end, on %.0f CPUs%s.", a, b, cpus,
                a > cpus || b > cpus ? ": **the machine was busy**" : "");
    }
    fprintf(f, "\n");
}

static void md_not_run(FILE *f, const cJSON *doc)
{
    fprintf(f, "\n## Points not run\n\n");
    int nr = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, bench_jobj(doc, "points"))
    {
        static const char *which[] = {"forward", "backward", "forward_default"};
        for (int w = 0; w < 3; w++) {
            const cJSON *t = bench_jobj(p, which[w]);
            if (!t || bench_jbool(t, "ran")) continue;
            if (w > 0 && !bench_jbool(bench_jobj(p, "forward"), "ran")) continue;
            fprintf(f, "- %s %s N=%.0f d=%.0f %s: %s\n", bench_jstr(p, "pattern"), which[w],
                    bench_jnum(p, "seq", 0), bench_jnum(p, "dim", 0), bench_jstr(p, "dtype"),
                    bench_jstr(t, "reason"));
            nr++;
        }
    }
    if (!nr) fprintf(f, "Every point ran.\n");
}

static void md_plots(FILE *f, const cJSON *doc, const char *dir)
{
    fprintf(f, "\n## Plots\n\n");
    static const char *plots[][2] = {
        {"time_forward.png", "Forward time vs sequence length"},
        {"time_forward_backward.png", "Forward + backward time vs sequence length"},
        {"speedup_over_dense.png", "Forward speed-up over the dense fused kernel"},
        {"fraction_of_peak.png", "Achieved fraction of peak"},
        {"memory.png", "Device memory vs sequence length"}};
    int np = 0;
    for (size_t i = 0; i < sizeof plots / sizeof plots[0]; i++)
        if (file_exists(dir, plots[i][0])) fprintf(f, "![%s](%s)\n\n", plots[i][1], plots[i][0]), np++;
    char rdir[600];
    results_dir(doc, rdir, sizeof rdir);
    if (!np)
        fprintf(f, "No plots here (matplotlib was not available): `python3 scripts/plot_bench.py %s/bench.json`."
                   "\n",
                rdir);
}

int bench_md_write(const cJSON *doc, const char *dir, char *msg, size_t len)
{
    char path[2048], *tmp = NULL;
    snprintf(path, sizeof path, "%s/bench.md", dir);
    FILE *f = scl_atomic_open(path, &tmp, msg, len);
    if (!f) return -1;
    bench_shapes sh;
    bench_doc_shapes(doc, &sh);
    int backward = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, bench_jobj(doc, "points")) backward |= bench_jobj(p, "backward") != NULL;
    md_header(f, doc);
    md_patterns(f, doc, &sh);
    md_sections(f, doc, &sh, backward);
    md_baselines(f, doc, &sh);
    md_tuned(f, doc);
    md_noise(f, doc);
    md_not_run(f, doc);
    md_plots(f, doc, dir);
    return scl_atomic_close(f, tmp, path, !ferror(f), msg, len);
}
