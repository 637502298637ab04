/* Decomposition (patterns/decompose.c): the components partition the allowed set exactly, in
 * every mode, for the patterns the decomposer splits and for ones it must leave alone; the cost
 * model splits the patterns whose block LUT wastes most of its work. No device needed. */
#include "scl_patterns.h"

#include "../check.h"

#include <string.h>

typedef struct geo {
    int64_t n_q, n_k;
    int block;
} geo;

/* A spec compiled plainly and decomposed; all NULL (with a failed check) when any step fails. */
typedef struct decomposed {
    spc_pattern *p;
    spc_bound *b;
    spc_lut *plain;
    spc_stats ps;
    spc_decomposition *d;
} decomposed;

static bool decompose(const char *spec, spc_geometry geom, spc_decompose_mode mode, decomposed *x)
{
    spc_error err = {0};
    memset(x, 0, sizeof *x);
    bool ok = spc_parse(spec, &x->p, &err) == 0 && spc_bind(x->p, &geom, &x->b, &err) == 0 &&
              spc_compile(x->b, &x->plain, &err) == 0;
    if (ok) spc_lut_stats(x->plain, &x->ps);
    ok = ok && spc_decompose(x->b, &x->ps, mode, &x->d, &err) == 0;
    CHECK(ok, "%s: %s", spec, err.message);
    return ok;
}

static void decomposed_free(decomposed *x)
{
    spc_decomposition_free(x->d);
    spc_lut_free(x->plain);
    spc_bound_free(x->b);
    spc_pattern_free(x->p);
}

/* Every element (h, i, j) is run by exactly one component when allowed, by none otherwise. */
static void check_partition(const char *spec, geo g, spc_decompose_mode mode, int want_min_comp)
{
    decomposed x;
    if (!decompose(spec, (spc_geometry){g.n_q, g.n_k, g.block, 2}, mode, &x)) goto done;
    const spc_bound *b = x.b;
    const spc_stats ps = x.ps;
    const spc_decomposition *d = x.d;
    CHECK(d->n >= want_min_comp, "%s N=%lld/%lld mode %d: %d components, want >= %d (%s)", spec,
          (long long)g.n_q, (long long)g.n_k, (int)mode, d->n, want_min_comp, d->why);
    if (d->n == 0) goto done;
    int64_t bad = 0, allowed = 0, sum = 0;
    for (int k = 0; k < d->n; k++)
        sum += d->comp[k].stats.allowed;
    for (int h = 0; h < 2; h++)
        for (int64_t i = 0; i < g.n_q; i++)
            for (int64_t j = 0; j < g.n_k; j++) {
                int runs = 0;
                for (int k = 0; k < d->n; k++)
                    runs += spc_component_allowed(&d->comp[k], h, i, j);
                bool a = spc_allowed(b, h, i, j);
                allowed += a;
                if (runs != (a ? 1 : 0) && bad++ < 3)
                    fprintf(stderr, "  %s: (h%d, %lld, %lld) allowed=%d run by %d components\n", spec, h,
                            (long long)i, (long long)j, a, runs);
            }
    CHECK(bad == 0, "%s N=%lld/%lld block %d: %lld elements not partitioned", spec, (long long)g.n_q,
          (long long)g.n_k, g.block, (long long)bad);
    CHECK(sum == allowed && allowed == ps.allowed, "%s: components allow %lld, pattern %lld, plain LUT %lld",
          spec, (long long)sum, (long long)allowed, (long long)ps.allowed);
    /* The maps agree with their inverses. */
    for (int k = 0; k < d->n; k++) {
        const spc_component *c = &d->comp[k];
        int64_t mism = 0;
        for (int64_t p2 = 0; c->row_map && p2 < c->n_q; p2++)
            mism += c->row_map[p2] >= 0 && c->row_inv[c->row_map[p2]] != p2;
        for (int64_t q2 = 0; c->col_map && q2 < c->n_k; q2++)
            mism += c->col_map[q2] >= 0 && c->col_inv[c->col_map[q2]] != q2;
        CHECK(mism == 0, "%s component %d: %lld map entries disagree with the inverse", spec, k,
              (long long)mism);
    }
done:
    decomposed_free(&x);
}

/* The cost model's choice at a size where it matters, and the waste it removes. */
static void check_choice(const char *spec, int64_t n, int block, int want_comp, spc_exec want_exec)
{
    decomposed x;
    if (!decompose(spec, (spc_geometry){n, n, block, 1}, SPC_DECOMPOSE_AUTO, &x)) goto done;
    const spc_stats ps = x.ps;
    const spc_decomposition *d = x.d;
    bool has = false;
    double comp = 0;
    for (int k = 0; k < d->n; k++) {
        has |= d->comp[k].exec == want_exec;
        comp += d->comp[k].computed;
    }
    CHECK(d->n >= want_comp && (want_comp == 0 || has), "%s N=%lld: %d components (%s)", spec, (long long)n,
          d->n, d->why);
    if (d->n > 0) {
        printf("%-40s N=%-6lld computed/allowed: block LUT %.1fx, decomposed %.1fx\n", spec, (long long)n,
               d->plain_computed / (double)ps.allowed, comp / (double)ps.allowed);
        CHECK(comp < d->plain_computed, "%s: decomposition computes more (%.3g) than the block LUT (%.3g)",
              spec, comp, d->plain_computed);
    }
done:
    decomposed_free(&x);
}

int main(void)
{
    static const char *split[] = {
        "causal & strided(16)",
        "strided(12)",
        "causal & fixed(32, 4)",
        "fixed(24, 5)",
        "longformer(8, 3, 40-42, 97)",
        "global(0, 77)",
        "local(5) | (causal & strided(20))",
        "causal & (strided(16) | fixed(32, 8))",
        "(causal & strided(16)) | global(50)",
        "local(3) | strided(9)",
    };
    static const char *alone[] = {"causal",
                                  "local(7)",
                                  "bigbird(3, 1, 2, 7)",
                                  "heads(0: causal; 1: strided(8))",
                                  "dilated(4, 3)",
                                  "causal & fixed(16, 0)"};
    static const geo geos[] = {{131, 131, 16}, {200, 200, 32}, {97, 150, 8}, {150, 97, 16}, {256, 256, 64}};
    for (size_t s = 0; s < sizeof split / sizeof *split; s++)
        for (size_t g = 0; g < sizeof geos / sizeof *geos; g++) {
            check_partition(split[s], geos[g], SPC_DECOMPOSE_FORCE, 2);
            check_partition(split[s], geos[g], SPC_DECOMPOSE_AUTO, 0);
        }
    for (size_t s = 0; s < sizeof alone / sizeof *alone; s++)
        for (size_t g = 0; g < sizeof geos / sizeof *geos; g++)
            check_partition(alone[s], geos[g], SPC_DECOMPOSE_FORCE, 0);
    /* Sizes of the benchmarks: the cost model must pick the component that removes the waste. */
    check_choice("causal & strided(128)", 8192, 64, 2, SPC_EXEC_PERMUTED);
    check_choice("causal & fixed(128, 16)", 8192, 64, 2, SPC_EXEC_COLS);
    check_choice("longformer(256, 100, 900, 1700, 2500, 3300, 4100, 4900, 5700)", 8192, 64, 2, SPC_EXEC_ROWS);
    check_choice("causal & local(256)", 8192, 64, 0, SPC_EXEC_LUT);
    return check_summary("decompose");
}
