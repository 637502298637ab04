/* Which shapes fill a device: the dense fused forward's fraction of the device's fp32 FMA peak at
 * every shape (group, N, dtype) of a bench.json, and the shapes that reach less than
 * BENCH_FILL_SHARE of the best fraction that device reaches with that dtype in the same file. */
#include "bench.h"

#include <stdio.h>
#include <string.h>

/* The dense fused forward's fraction of peak at one shape, or -1. */
static double dense_fraction(const cJSON *doc, double seq, const bench_group *g, const char *dtype)
{
    const cJSON *p = bench_find_point_in(doc, "sparse", "dense", seq, g, dtype);
    const cJSON *t = p ? bench_jobj(p, "forward") : NULL;
    return t && bench_jbool(t, "ran") ? bench_jnum(t, "fraction_of_peak", -1) : -1;
}

double bench_fill_best(const cJSON *doc, const char *dtype)
{
    bench_shapes sh;
    bench_doc_shapes(doc, &sh);
    double best = -1;
    for (int g = 0; g < sh.n_groups; g++)
        for (int q = 0; q < sh.n_seqs; q++) {
            double f = dense_fraction(doc, sh.seqs[q], &sh.groups[g], dtype);
            if (f > best) best = f;
        }
    return best;
}

int bench_fill_ok(const cJSON *doc, double seq, const bench_group *g, const char *dtype)
{
    double f = dense_fraction(doc, seq, g, dtype), best = bench_fill_best(doc, dtype);
    if (f < 0 || best <= 0) return -1;
    return f >= BENCH_FILL_SHARE * best;
}

static void group_label(char *out, size_t len, const bench_group *g)
{
    if (g->kv_heads != g->heads)
        snprintf(out, len, "B=%d H=%d H_kv=%d d=%d", g->batch, g->heads, g->kv_heads, g->dim);
    else
        snprintf(out, len, "B=%d H=%d d=%d", g->batch, g->heads, g->dim);
}

/* The shapes of one dtype below the threshold ("B=1 H=2 d=64 at N = 1024, 2048; ..."); 0: none. */
static int list_unfilled(const cJSON *doc, const bench_shapes *sh, const char *dtype, char *out, size_t len)
{
    size_t n = 0;
    int count = 0;
    out[0] = '\0';
    for (int g = 0; g < sh->n_groups; g++) {
        int in_group = 0;
        for (int q = 0; q < sh->n_seqs; q++) {
            if (bench_fill_ok(doc, sh->seqs[q], &sh->groups[g], dtype) != 0) continue;
            char lab[96];
            group_label(lab, sizeof lab, &sh->groups[g]);
            int w = in_group
                        ? snprintf(out + n, len - n, ", %.0f", sh->seqs[q])
                        : snprintf(out + n, len - n, "%s%s at N = %.0f", count ? "; " : "", lab, sh->seqs[q]);
            if (w < 0 || (size_t)w >= len - n) return count + 1;
            n += (size_t)w;
            in_group = 1;
            count++;
        }
    }
    return count;
}

void bench_fill_md(FILE *f, const cJSON *doc, const char *name)
{
    bench_shapes sh;
    bench_doc_shapes(doc, &sh);
    fprintf(f, "\n#### %s\n\n| shape | dtype |", name);
    for (int q = 0; q < sh.n_seqs; q++)
        fprintf(f, " N = %.0f |", sh.seqs[q]);
    fprintf(f, "\n| --- | --- |");
    for (int q = 0; q < sh.n_seqs; q++)
        fprintf(f, " ---: |");
    fprintf(f, "\n");
    int rows = 0;
    for (int t = 0; t < sh.n_dtypes; t++)
        for (int g = 0; g < sh.n_groups; g++) {
            int any = 0;
            for (int q = 0; q < sh.n_seqs; q++)
                any |= dense_fraction(doc, sh.seqs[q], &sh.groups[g], sh.dtypes[t]) >= 0;
            if (!any) continue;
            char lab[96];
            group_label(lab, sizeof lab, &sh.groups[g]);
            fprintf(f, "| %s | %s |", lab, sh.dtypes[t]);
            for (int q = 0; q < sh.n_seqs; q++) {
                double fr = dense_fraction(doc, sh.seqs[q], &sh.groups[g], sh.dtypes[t]);
                int ok = bench_fill_ok(doc, sh.seqs[q], &sh.groups[g], sh.dtypes[t]);
                if (fr < 0)
                    fprintf(f, " — |");
                else
                    fprintf(f, " %.1f%%%s |", 100 * fr, ok == 0 ? " (not filled)" : "");
            }
            fprintf(f, "\n");
            rows++;
        }
    if (!rows) {
        fprintf(f, "\nNo dense fused forward with a measured peak in this bench.json: nothing to judge.\n");
        return;
    }
    fprintf(f, "\n");
    for (int t = 0; t < sh.n_dtypes; t++) {
        double best = bench_fill_best(doc, sh.dtypes[t]);
        if (best <= 0) continue;
        char list[2048];
        if (list_unfilled(doc, &sh, sh.dtypes[t], list, sizeof list))
            fprintf(f,
                    "- %s: does not fill this device (below %.0f%% of its best %s figure, %.1f%% of peak): "
                    "%s.\n",
                    sh.dtypes[t], 100 * BENCH_FILL_SHARE, sh.dtypes[t], 100 * best, list);
        else
            fprintf(f, "- %s: every shape reaches at least %.0f%% of the best %s figure (%.1f%% of peak).\n",
                    sh.dtypes[t], 100 * BENCH_FILL_SHARE, sh.dtypes[t], 100 * best);
    }
}
