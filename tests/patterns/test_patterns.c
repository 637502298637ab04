/* Pattern compiler tests: every primitive and combination against brute-force evaluation of
 * spc_allowed, set laws, per-head specs, LUT invariants, BigBird stability, parse errors, and the
 * LUT file round trip with corrupt and truncated files.
 * Usage: test_patterns WORK_DIR DATA_DIR
 * Set SPARSECL_REGEN_BIGBIRD=1 to rewrite the checked-in BigBird layout (then inspect it). */
#include "scl_npy.h"
#include "scl_patterns.h"
#include "test_common.h"
#include "../test_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *g_work = ".", *g_data = ".";

typedef struct geo {
    int64_t nq, nk;
    int b;
} geo;

static const geo GEOS[] = {
    {1, 1, 8},      {5, 5, 8},      {7, 13, 8},   {64, 64, 16}, {100, 100, 16}, {130, 70, 32},
    {200, 200, 64}, {257, 129, 32}, {96, 200, 8}, {33, 33, 8},  {300, 300, 64}, {256, 256, 32},
};
#define N_GEOS (sizeof GEOS / sizeof GEOS[0])

static const char *const SPECS[] = {
    "dense",
    "causal",
    "local(0)",
    "local(3)",
    "local(17)",
    "strided(1)",
    "strided(5)",
    "strided(16)",
    "strided(40)",
    "strided(100)",
    "fixed(1, 0)",
    "fixed(1, 1)",
    "fixed(8, 2)",
    "fixed(13, 13)",
    "fixed(20, 3)",
    "fixed(64, 0)",
    "fixed(100, 7)",
    "dilated(0, 1)",
    "dilated(3, 2)",
    "dilated(2, 9)",
    "dilated(40, 3)",
    "global(0)",
    "global(0-3, 50, 90-1000)",
    "global(7, 8, 9-12, 31-33)",
    "longformer(4, 0, 17-19)",
    "longformer(6)",
    "bigbird(3, 1, 2, 7)",
    "bigbird(5, 0, 1, 42)",
    "bigbird(1, 2, 0, 1)",
    "bigbird(0, 0, 3, 9)",
    "causal & strided(16)",
    "causal & strided(40)",
    "causal & local(9) | global(5)",
    "(fixed(16, 4) | dilated(2, 3)) & causal",
    "causal & (bigbird(3, 1, 1, 5) | local(2))",
    "global(3-9) & strided(7)",
    "dense & causal & local(12)",
    "heads(0-1: causal; 2: local(5); 3: strided(7) & causal)",
    "heads(0, 3: fixed(8, 1); 1-2: global(4) | causal)",
    "heads(0-3: heads(0-1: dense; 2-3: local(1)))",
};
#define N_SPECS (sizeof SPECS / sizeof SPECS[0])

static spc_lut *compile_spec(const char *spec, int64_t nq, int64_t nk, int b, int heads,
                             spc_bound **bound_out)
{
    spc_pattern *p = NULL;
    spc_bound *bd = NULL;
    spc_lut *lut = NULL;
    spc_error err;
    spc_geometry g = {nq, nk, b, heads};
    if (spc_parse(spec, &p, &err) != 0) {
        CHECK(0, "parse '%s': column %d: %s", spec, err.column, err.message);
        return NULL;
    }
    if (spc_bind(p, &g, &bd, &err) != 0) {
        CHECK(0, "bind '%s' (N_q=%lld N_k=%lld b=%d H=%d): %s", spec, (long long)nq, (long long)nk, b, heads,
              err.message);
        spc_pattern_free(p);
        return NULL;
    }
    spc_pattern_free(p);
    if (spc_compile(bd, &lut, &err) != 0) {
        CHECK(0, "compile '%s': %s", spec, err.message);
        spc_bound_free(bd);
        return NULL;
    }
    if (bound_out)
        *bound_out = bd;
    else
        spc_bound_free(bd);
    return lut;
}

/* Entry index of block (r, c) of layout L in the row LUT, or -1. */
static int64_t find_entry(const spc_lut *l, int L, int r, int c)
{
    const int32_t *rp = l->row_ptr + (size_t)L * (l->nb_q + 1);
    for (int32_t e = rp[r]; e < rp[r + 1]; e++)
        if (l->col_idx[e] == c) return e;
    return -1;
}

/* Structural invariants every compiled LUT must satisfy. */
static void check_lut_invariants(const spc_lut *l, const char *what)
{
    CHECK(l->mask_words == l->block * l->block / 32, "%s: mask_words %d", what, l->mask_words);
    int32_t base = 0;
    for (int L = 0; L < l->n_layouts; L++) {
        const int32_t *rp = l->row_ptr + (size_t)L * (l->nb_q + 1);
        const int32_t *cp = l->col_ptr + (size_t)L * (l->nb_k + 1);
        CHECK(rp[0] == base && cp[0] == base, "%s: layout %d starts at %d/%d, expected %d", what, L, rp[0],
              cp[0], base);
        CHECK(rp[l->nb_q] == cp[l->nb_k], "%s: layout %d row/col nnz differ", what, L);
        for (int r = 0; r < l->nb_q; r++)
            for (int32_t e = rp[r] + 1; e < rp[r + 1]; e++)
                CHECK(l->col_idx[e] > l->col_idx[e - 1], "%s: row %d not ascending", what, r);
        /* The column LUT is the exact transpose: same (r, c, mask) triples, rows ascending. */
        long n_col = 0;
        for (int c = 0; c < l->nb_k; c++)
            for (int32_t e = cp[c]; e < cp[c + 1]; e++, n_col++) {
                if (e > cp[c])
                    CHECK(l->row_idx[e] > l->row_idx[e - 1], "%s: column %d not ascending", what, c);
                int64_t re = find_entry(l, L, l->row_idx[e], c);
                CHECK(re >= 0 && l->row_mask[re] == l->col_mask[e],
                      "%s: column entry (%d,%d) not in the row LUT", what, l->row_idx[e], c);
            }
        CHECK(n_col == rp[l->nb_q] - rp[0], "%s: column LUT has %ld entries, row LUT %d", what, n_col,
              rp[l->nb_q] - rp[0]);
        base = rp[l->nb_q];
    }
    CHECK(base == l->nnz, "%s: nnz %lld vs %d", what, (long long)l->nnz, base);
    /* Masks are unique by content. */
    for (int32_t a = 0; a < l->n_masks && l->n_masks < 3000; a++)
        for (int32_t b = a + 1; b < l->n_masks; b++)
            CHECK(memcmp(l->masks + (size_t)a * l->mask_words, l->masks + (size_t)b * l->mask_words,
                         sizeof(uint32_t) * l->mask_words) != 0,
                  "%s: masks %d and %d are identical", what, a, b);
    for (int h = 0; h < l->heads; h++)
        CHECK(l->head_layout[h] >= 0 && l->head_layout[h] < l->n_layouts, "%s: head_layout[%d]", what, h);
}

/* Block classes and masks of the LUT against brute-force evaluation of the definitions. */
static void check_against_bruteforce(const char *spec, int64_t nq, int64_t nk, int b, int heads)
{
    spc_bound *bd = NULL;
    spc_lut *l = compile_spec(spec, nq, nk, b, heads, &bd);
    if (!l) return;
    char what[1024];
    snprintf(what, sizeof what, "'%s' N_q=%lld N_k=%lld b=%d H=%d", spec, (long long)nq, (long long)nk, b,
             heads);
    check_lut_invariants(l, what);
    long bad = 0;
    int64_t allowed = 0, full = 0, partial = 0;
    for (int h = 0; h < heads; h++) {
        int L = l->head_layout[h];
        for (int r = 0; r < l->nb_q; r++)
            for (int c = 0; c < l->nb_k; c++) {
                int64_t rows = nq - (int64_t)r * b < b ? nq - (int64_t)r * b : b;
                int64_t cols = nk - (int64_t)c * b < b ? nk - (int64_t)c * b : b;
                int64_t on = 0;
                for (int64_t y = 0; y < rows; y++)
                    for (int64_t x = 0; x < cols; x++)
                        on += spc_allowed(bd, h, (int64_t)r * b + y, (int64_t)c * b + x);
                allowed += on;
                bool tail = rows < b || cols < b;
                int want = on == 0 ? SPC_EMPTY : (on == rows * cols && !tail) ? SPC_FULL : SPC_PARTIAL;
                int64_t e = find_entry(l, L, r, c);
                int got = e < 0 ? SPC_EMPTY : l->row_mask[e] < 0 ? SPC_FULL : SPC_PARTIAL;
                if (got != want) {
                    if (bad++ < 3)
                        CHECK(got == want,
                              "%s head %d block (%d,%d): class %d, brute force says %d (%lld of %lld)", what,
                              h, r, c, got, want, (long long)on, (long long)(rows * cols));
                    continue;
                }
                full += got == SPC_FULL;
                partial += got == SPC_PARTIAL;
                if (got != SPC_PARTIAL) continue;
                const uint32_t *m = l->masks + (size_t)l->row_mask[e] * l->mask_words;
                for (int64_t y = 0; y < b; y++)
                    for (int64_t x = 0; x < b; x++) {
                        int64_t bit = y * b + x;
                        bool mb = (m[bit / 32] >> (bit % 32)) & 1u;
                        bool ref = y < rows && x < cols &&
                                   spc_allowed(bd, h, (int64_t)r * b + y, (int64_t)c * b + x);
                        if (mb != ref && bad++ < 3)
                            CHECK(mb == ref,
                                  "%s head %d block (%d,%d) element (%lld,%lld): mask %d, definition %d",
                                  what, h, r, c, (long long)y, (long long)x, mb, ref);
                    }
            }
    }
    CHECK(bad == 0, "%s: %ld mismatches in total", what, bad);
    spc_stats s;
    spc_lut_stats(l, &s);
    CHECK(s.allowed == allowed, "%s: stats.allowed %lld, brute force %lld", what, (long long)s.allowed,
          (long long)allowed);
    CHECK(s.full_blocks == full && s.partial_blocks == partial,
          "%s: stats full/partial %lld/%lld vs %lld/%lld", what, (long long)s.full_blocks,
          (long long)s.partial_blocks, (long long)full, (long long)partial);
    CHECK(s.empty_blocks == (int64_t)heads * l->nb_q * l->nb_k - full - partial, "%s: stats empty", what);
    for (int h = 0; h < heads; h++)
        for (int64_t i = 0; i < nq; i += 3)
            for (int64_t j = 0; j < nk; j += 5)
                if (spc_lut_allowed(l, h, i, j) != spc_allowed(bd, h, i, j) && bad++ < 3)
                    CHECK(0, "%s: spc_lut_allowed(%d, %lld, %lld) disagrees", what, h, (long long)i,
                          (long long)j);
    spc_lut_free(l);
    spc_bound_free(bd);
}

static void write_random_layout(const char *path, int H, int nbq, int nbk, npy_dtype t, uint64_t seed)
{
    size_t n = (size_t)(H > 0 ? H : 1) * nbq * nbk, isz = npy_dtype_size(t);
    uint8_t *a = calloc(n * isz + 1, 1);
    for (size_t e = 0; e < n; e++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t v = (seed >> 33) % 3 == 0 ? (seed >> 40) % 5 + 1 : 0; /* about one third non-zero */
        if (t == NPY_BOOL && v) v = 1;
        memcpy(a + e * isz, &v, isz); /* little-endian host: low bytes first */
    }
    int64_t shape3[3] = {H, nbq, nbk};
    char msg[256];
    int rc = H > 0 ? npy_write(path, t, 3, shape3, a, msg, sizeof msg)
                   : npy_write(path, t, 2, shape3 + 1, a, msg, sizeof msg);
    CHECK(rc == 0, "npy_write %s: %s", path, msg);
    free(a);
}

static void test_primitives(void)
{
    for (size_t gi = 0; gi < N_GEOS; gi++) {
        const geo *g = &GEOS[gi];
        for (size_t si = 0; si < N_SPECS; si++) {
            int heads = strncmp(SPECS[si], "heads", 5) == 0 ? 4 : 1;
            check_against_bruteforce(SPECS[si], g->nq, g->nk, g->b, heads);
        }
        /* layout(): a random file of the right shape, 2-D and per-head 3-D, several dtypes. */
        int nbq = (int)((g->nq + g->b - 1) / g->b), nbk = (int)((g->nk + g->b - 1) / g->b);
        const struct {
            const char *name, *combined; /* the file's name, a spec combining it (%s: the path) */
            int heads;                    /* 0: a 2-D layout */
            npy_dtype dtype;
            unsigned seed;
        } files[2] = {
            {"layout", "layout(%s) & causal | local(2)", 0, gi % 2 ? NPY_U8 : NPY_I64, 11},
            {"layout3", "heads(0: causal; 1-3: layout(%s))", 3, gi % 2 ? NPY_BOOL : NPY_I16, 99},
        };
        for (int f = 0; f < 2; f++) {
            char path[600], spec[700];
            snprintf(path, sizeof path, "%s/%s_%zu.npy", g_work, files[f].name, gi);
            write_random_layout(path, files[f].heads, nbq, nbk, files[f].dtype, files[f].seed + gi);
            snprintf(spec, sizeof spec, "layout(%s)", path);
            check_against_bruteforce(spec, g->nq, g->nk, g->b, 2 * f + 1);
            snprintf(spec, sizeof spec, files[f].combined, path);
            check_against_bruteforce(spec, g->nq, g->nk, g->b, 2 * f + 2);
        }
    }
}

/* Element mask of a spec via its LUT. */
static uint8_t *element_mask(const char *spec, int64_t nq, int64_t nk, int b, int heads)
{
    spc_lut *l = compile_spec(spec, nq, nk, b, heads, NULL);
    if (!l) return NULL;
    uint8_t *m = malloc((size_t)(heads * nq * nk));
    for (int h = 0; h < heads; h++)
        for (int64_t i = 0; i < nq; i++)
            for (int64_t j = 0; j < nk; j++)
                m[(h * nq + i) * nk + j] = spc_lut_allowed(l, h, i, j);
    spc_lut_free(l);
    return m;
}

static void check_same(const char *x, const char *y, const geo *g)
{
    uint8_t *a = element_mask(x, g->nq, g->nk, g->b, 1), *b = element_mask(y, g->nq, g->nk, g->b, 1);
    if (a && b)
        CHECK(memcmp(a, b, (size_t)(g->nq * g->nk)) == 0, "'%s' and '%s' differ (N_q=%lld N_k=%lld b=%d)", x,
              y, (long long)g->nq, (long long)g->nk, g->b);
    free(a);
    free(b);
}

static void test_laws(void)
{
    static const char *const A[] = {"causal",        "local(5)",         "strided(9)",         "fixed(16, 3)",
                                    "dilated(3, 4)", "global(2, 40-45)", "bigbird(3, 1, 2, 3)"};
    const size_t n = sizeof A / sizeof A[0];
    const geo gs[] = {{100, 100, 16}, {77, 130, 8}};
    char x[512], y[512];
    for (size_t gi = 0; gi < 2; gi++) {
        const geo *g = &gs[gi];
        for (size_t i = 0; i < n; i++) {
            snprintf(x, sizeof x, "%s | %s", A[i], A[i]);
            check_same(x, A[i], g);
            snprintf(x, sizeof x, "%s & %s", A[i], A[i]);
            check_same(x, A[i], g);
            snprintf(x, sizeof x, "%s & dense", A[i]);
            check_same(x, A[i], g);
            snprintf(x, sizeof x, "dense | %s", A[i]);
            check_same(x, "dense", g);
            for (size_t j = 0; j < n; j++) {
                if (j == i) continue;
                snprintf(x, sizeof x, "%s | %s", A[i], A[j]);
                snprintf(y, sizeof y, "%s | %s", A[j], A[i]);
                check_same(x, y, g);
                snprintf(x, sizeof x, "%s & %s", A[i], A[j]);
                snprintf(y, sizeof y, "%s & %s", A[j], A[i]);
                check_same(x, y, g);
                const char *c = A[(i + j + 1) % n];
                snprintf(x, sizeof x, "%s & (%s | %s)", A[i], A[j], c);
                snprintf(y, sizeof y, "(%s & %s) | (%s & %s)", A[i], A[j], A[i], c);
                check_same(x, y, g);
                /* union and intersection are elementwise or/and of the operands */
                uint8_t *ma = element_mask(A[i], g->nq, g->nk, g->b, 1),
                        *mb = element_mask(A[j], g->nq, g->nk, g->b, 1);
                snprintf(x, sizeof x, "%s | %s", A[i], A[j]);
                snprintf(y, sizeof y, "%s & %s", A[i], A[j]);
                uint8_t *mo = element_mask(x, g->nq, g->nk, g->b, 1),
                        *mn = element_mask(y, g->nq, g->nk, g->b, 1);
                long bad = 0;
                for (int64_t e = 0; ma && mb && mo && mn && e < g->nq * g->nk; e++)
                    bad += mo[e] != (ma[e] | mb[e]) || mn[e] != (ma[e] & mb[e]);
                CHECK(bad == 0, "'%s' / '%s' are not the elementwise or/and (%ld elements)", x, y, bad);
                free(ma);
                free(mb);
                free(mo);
                free(mn);
            }
        }
    }
    check_same("longformer(3, 0-2, 50)", "local(3) | global(0-2, 50)", &gs[0]);
    check_same("causal & strided(8)", "strided(8) & causal", &gs[0]);
}

static void test_heads_and_dedup(void)
{
    spc_lut *l = compile_spec("causal", 1024, 1024, 64, 1, NULL);
    if (l) {
        CHECK(l->n_masks == 1, "causal N=1024 b=64: %d unique masks, expected 1 (the diagonal block)",
              l->n_masks);
        spc_stats s;
        spc_lut_stats(l, &s);
        CHECK(s.full_blocks == 120 && s.partial_blocks == 16, "causal 16x16 blocks: full %lld partial %lld",
              (long long)s.full_blocks, (long long)s.partial_blocks);
        spc_lut_free(l);
    }
    l = compile_spec("causal", 512, 512, 32, 4, NULL);
    if (l) {
        CHECK(l->n_layouts == 1, "causal with 4 heads: %d layouts, expected 1", l->n_layouts);
        spc_lut_free(l);
    }
    l = compile_spec("heads(0-3: causal; 4-7: causal)", 256, 256, 16, 8, NULL);
    if (l) {
        CHECK(l->n_layouts == 1, "identical per-head specs: %d layouts, expected 1", l->n_layouts);
        spc_lut_free(l);
    }
    l = compile_spec("heads(0-1: causal; 2-3: local(8))", 256, 256, 16, 4, NULL);
    if (l) {
        CHECK(l->n_layouts == 2 && l->head_layout[0] == l->head_layout[1] &&
                  l->head_layout[2] == l->head_layout[3] && l->head_layout[0] != l->head_layout[2],
              "two per-head specs: %d layouts", l->n_layouts);
        spc_lut_free(l);
    }
    l = compile_spec("causal & strided(128)", 8192, 8192, 64, 1, NULL);
    if (l) {
        check_lut_invariants(l, "causal & strided(128) N=8192");
        CHECK(l->n_masks <= 8, "causal & strided(128): %d unique masks, expected a handful", l->n_masks);
        spc_lut_free(l);
    }
}

static void test_bigbird_stable(void)
{
    /* bigbird(3, 1, 2, 1234) at N = 1024, b = 64: 16 x 16 blocks. */
    spc_lut *l = compile_spec("bigbird(3, 1, 2, 1234)", 1024, 1024, 64, 1, NULL);
    if (!l) return;
    enum { NB = 16 };
    uint8_t got[NB * NB] = {0};
    for (int r = 0; r < NB; r++)
        for (int32_t e = l->row_ptr[r]; e < l->row_ptr[r + 1]; e++)
            got[r * NB + l->col_idx[e]] = 1;
    /* Hand-checkable structure: window |r-c| <= 1, row 0 and column 0 global, and exactly two more
     * blocks in every other row. */
    for (int r = 0; r < NB; r++) {
        int extra = 0;
        for (int c = 0; c < NB; c++) {
            bool base = r < 1 || c < 1 || abs(r - c) <= 1;
            if (base)
                CHECK(got[r * NB + c], "bigbird: window/global block (%d,%d) missing", r, c);
            else
                extra += got[r * NB + c];
        }
        if (r >= 1) CHECK(extra == 2, "bigbird: row %d has %d random blocks, expected 2", r, extra);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/bigbird_w3_g1_r2_s1234_nb16.npy", g_data);
    if (getenv("SPARSECL_REGEN_BIGBIRD")) {
        int64_t shape[2] = {NB, NB};
        char msg[256];
        CHECK(npy_write(path, NPY_U8, 2, shape, got, msg, sizeof msg) == 0, "regen: %s", msg);
        for (int r = 0; r < NB; r++) {
            for (int c = 0; c < NB; c++)
                putchar(got[r * NB + c] ? '#' : '.');
            putchar('\n');
        }
    }
    npy_array want;
    char msg[256];
    if (npy_read(path, &want, msg, sizeof msg) != 0) {
        CHECK(0, "read expected BigBird layout: %s", msg);
    } else {
        CHECK(want.dtype == NPY_U8 && want.ndim == 2 && want.shape[0] == NB && want.shape[1] == NB,
              "expected layout has the wrong shape/dtype");
        if (want.count == NB * NB)
            CHECK(memcmp(want.data, got, NB * NB) == 0, "bigbird(3, 1, 2, 1234) no longer matches %s", path);
        npy_free(&want);
    }
    spc_lut_free(l);
    /* Another seed gives another layout; the same seed the same one. */
    spc_lut *a = compile_spec("bigbird(3, 1, 2, 1234)", 1024, 1024, 64, 1, NULL);
    spc_lut *b = compile_spec("bigbird(3, 1, 2, 1235)", 1024, 1024, 64, 1, NULL);
    if (a && b) {
        CHECK(a->nnz == b->nnz, "nnz differs between seeds (%lld vs %lld)", (long long)a->nnz,
              (long long)b->nnz);
        CHECK(memcmp(a->col_idx, b->col_idx, sizeof(int32_t) * (size_t)a->nnz) != 0, "seed has no effect");
    }
    spc_lut_free(a);
    spc_lut_free(b);
    /* More randoms than available blocks: every row is full, never an endless draw. */
    l = compile_spec("bigbird(1, 0, 100, 5)", 200, 200, 16, 1, NULL);
    if (l) {
        CHECK(l->nnz == 13 * 13, "bigbird with randoms > available: %lld blocks", (long long)l->nnz);
        spc_lut_free(l);
    }
}

typedef struct err_case {
    const char *spec;
    int column;
    const char *needle;
} err_case;

static void test_parse_errors(void)
{
    static const err_case cases[] = {
        {"foo", 1, "unknown pattern 'foo'"},
        {"causal & strided(128, 4)", 10, "strided() takes 1 argument, got 2"},
        {"causal &strided(128, 4)", 9, "strided() takes 1 argument, got 2"},
        {"local(-3)", 7, "non-negative"},
        {"local()", 1, "local() takes 1 argument, got 0"},
        {"local", 1, "needs arguments"},
        {"strided(0)", 9, "at least 1"},
        {"fixed(4, 5)", 10, "must not exceed"},
        {"fixed(0, 0)", 7, "at least 1"},
        {"fixed(4)", 1, "fixed() takes 2 arguments, got 1"},
        {"dilated(2, 0)", 12, "at least 1"},
        {"bigbird(3, 1, 2)", 1, "seed is missing"},
        {"bigbird(3, 1, 2, 4, 5)", 1, "takes 4 arguments"},
        {"causal |", 9, "expected a pattern name"},
        {"(causal", 8, "expected ')'"},
        {"causal)", 7, "unmatched ')'"},
        {"global(5-3)", 8, "empty"},
        {"global()", 1, "at least one"},
        {"heads(0-1 causal)", 11, "expected ':'"},
        {"causal $ local(3)", 8, "unexpected character '$'"},
        {"local(99999999999999999999)", 7, "too large"},
        {"", 1, "empty spec"},
        {"   ", 1, "empty spec"},
        {"layout()", 8, "needs a path"},
        {"causal local(3)", 8, "expected '|', '&' or end"},
        {"local(3.5)", 8, "to close"},
        {"causal & & causal", 10, "expected a pattern name"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        spc_pattern *p = NULL;
        spc_error err = {{0}, 0};
        int rc = spc_parse(cases[k].spec, &p, &err);
        CHECK(rc != 0, "'%s' parsed but should fail", cases[k].spec);
        CHECK(err.column == cases[k].column, "'%s': error column %d, expected %d (%s)", cases[k].spec,
              err.column, cases[k].column, err.message);
        CHECK(strstr(err.message, cases[k].needle) != NULL, "'%s': message '%s' lacks '%s'", cases[k].spec,
              err.message, cases[k].needle);
        spc_pattern_free(p);
    }
    /* Errors found while binding to a geometry. */
    static const struct {
        const char *spec;
        int heads, column;
        const char *needle;
    } bind_cases[] = {
        {"heads(0-1: causal)", 4, 1, "does not cover head 2"},
        {"heads(0-4: causal)", 4, 7, "beyond the last head"},
        {"heads(0-2: causal; 2-3: dense)", 4, 20, "assigned twice"},
        {"causal | layout(/nonexistent/x.npy)", 1, 10, "cannot open"},
    };
    for (size_t k = 0; k < sizeof bind_cases / sizeof bind_cases[0]; k++) {
        spc_pattern *p = NULL;
        spc_bound *b = NULL;
        spc_error err = {{0}, 0};
        spc_geometry g = {256, 256, 32, bind_cases[k].heads};
        if (spc_parse(bind_cases[k].spec, &p, &err) != 0) {
            CHECK(0, "'%s' should parse: %s", bind_cases[k].spec, err.message);
            continue;
        }
        CHECK(spc_bind(p, &g, &b, &err) != 0, "'%s' bound but should fail", bind_cases[k].spec);
        CHECK(err.column == bind_cases[k].column && strstr(err.message, bind_cases[k].needle),
              "'%s': column %d '%s', expected column %d '%s'", bind_cases[k].spec, err.column, err.message,
              bind_cases[k].column, bind_cases[k].needle);
        spc_bound_free(b);
        spc_pattern_free(p);
    }
    /* Wrongly shaped and wrongly typed layout files. */
    char path[600], spec[700];
    snprintf(path, sizeof path, "%s/wrong_shape.npy", g_work);
    write_random_layout(path, 0, 5, 8, NPY_U8, 1);
    snprintf(spec, sizeof spec, "layout(%s)", path);
    spc_pattern *p = NULL;
    spc_bound *b = NULL;
    spc_error err;
    spc_geometry g = {256, 256, 32, 1};
    if (spc_parse(spec, &p, &err) == 0) {
        CHECK(spc_bind(p, &g, &b, &err) != 0 && strstr(err.message, "does not match") && err.column == 1,
              "wrong layout shape: '%s'", err.message);
        spc_bound_free(b);
        b = NULL;
        spc_pattern_free(p);
    }
    float fl[64] = {0};
    int64_t shape[2] = {8, 8};
    char msg[256];
    snprintf(path, sizeof path, "%s/float_layout.npy", g_work);
    CHECK(npy_write(path, NPY_F32, 2, shape, fl, msg, sizeof msg) == 0, "%s", msg);
    snprintf(spec, sizeof spec, "layout(%s)", path);
    if (spc_parse(spec, &p, &err) == 0) {
        CHECK(spc_bind(p, &g, &b, &err) != 0 && strstr(err.message, "not an integer or bool"),
              "float layout: '%s'", err.message);
        spc_bound_free(b);
        spc_pattern_free(p);
    }
    /* Normalised text. */
    static const char *const norm[][2] = {
        {"causal&strided( 128 )", "causal & strided(128)"},
        {"(causal|local(3))&global(0-7,9)", "(causal | local(3)) & global(0-7, 9)"},
        {"causal|local(3)&dense", "causal | local(3) & dense"},
        {"longformer(4, global=0,5-9)", "longformer(4, 0, 5-9)"},
        {"heads(0-1:causal;2:dense;)", "heads(0-1: causal; 2: dense)"},
        {"layout( a b.npy )", "layout(a b.npy)"},
    };
    for (size_t k = 0; k < sizeof norm / sizeof norm[0]; k++) {
        p = NULL;
        if (spc_parse(norm[k][0], &p, &err) != 0) {
            CHECK(0, "'%s' should parse: %s", norm[k][0], err.message);
            continue;
        }
        CHECK(strcmp(spc_pattern_text(p), norm[k][1]) == 0, "'%s' normalised to '%s', expected '%s'",
              norm[k][0], spc_pattern_text(p), norm[k][1]);
        spc_pattern_free(p);
    }
}

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t k = 0; k < n; k++) {
        h ^= p[k];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
}

static void expect_refused(const char *path, const char *needle, const char *what)
{
    spc_lut *l = NULL;
    spc_error err = {{0}, 0};
    int rc = spc_lut_read(path, &l, &err);
    CHECK(rc != 0 && l == NULL, "%s: corrupt LUT accepted", what);
    CHECK(strstr(err.message, needle) != NULL, "%s: message '%s' lacks '%s'", what, err.message, needle);
    spc_lut_free(l);
}

static void test_lut_file(void)
{
    spc_lut *l = compile_spec("heads(0-1: causal & strided(7); 2: fixed(16, 3) | global(1); 3: local(5))",
                              200, 150, 16, 4, NULL);
    if (!l) return;
    char path[600], bad[600];
    snprintf(path, sizeof path, "%s/roundtrip.lut", g_work);
    snprintf(bad, sizeof bad, "%s/bad.lut", g_work);
    spc_error err;
    CHECK(spc_lut_write(l, path, &err) == 0, "spc_lut_write: %s", err.message);
    spc_lut *r = NULL;
    CHECK(spc_lut_read(path, &r, &err) == 0, "spc_lut_read: %s", err.message);
    if (r) {
        size_t nnz = (size_t)l->nnz, nl = (size_t)l->n_layouts;
        CHECK(r->n_q == l->n_q && r->n_k == l->n_k && r->block == l->block && r->heads == l->heads &&
                  r->nb_q == l->nb_q && r->nb_k == l->nb_k && r->n_layouts == l->n_layouts &&
                  r->nnz == l->nnz && r->n_masks == l->n_masks && r->mask_words == l->mask_words,
              "LUT header fields differ after the round trip");
        CHECK(memcmp(r->head_layout, l->head_layout, 4 * (size_t)l->heads) == 0 &&
                  memcmp(r->row_ptr, l->row_ptr, 4 * nl * ((size_t)l->nb_q + 1)) == 0 &&
                  memcmp(r->col_ptr, l->col_ptr, 4 * nl * ((size_t)l->nb_k + 1)) == 0 &&
                  memcmp(r->col_idx, l->col_idx, 4 * nnz) == 0 &&
                  memcmp(r->row_mask, l->row_mask, 4 * nnz) == 0 &&
                  memcmp(r->row_idx, l->row_idx, 4 * nnz) == 0 &&
                  memcmp(r->col_mask, l->col_mask, 4 * nnz) == 0 &&
                  memcmp(r->masks, l->masks, 4 * (size_t)l->n_masks * (size_t)l->mask_words) == 0,
              "LUT arrays differ after the round trip");
        spc_lut_free(r);
    }
    size_t len = 0;
    uint8_t *img = (uint8_t *)read_file(path, &len);
    if (!img) {
        CHECK(0, "cannot read back %s", path);
        spc_lut_free(l);
        return;
    }
    uint8_t *cp = malloc(len + 16);
    /* A flipped bit anywhere is caught by the checksum. */
    memcpy(cp, img, len);
    cp[len / 2] ^= 0x10;
    spit(bad, cp, len);
    expect_refused(bad, "checksum", "flipped byte");
    /* Truncated anywhere: in the arrays, in the header, to nothing. */
    size_t cuts[] = {len - 1, len / 2, 70, 40, 5, 0};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        spit(bad, img, cuts[k]);
        expect_refused(bad, cuts[k] >= 16 ? "truncated" : "bad magic", "truncated file");
    }
    memcpy(cp, img, len);
    cp[len] = 0;
    spit(bad, cp, len + 1);
    expect_refused(bad, "trailing", "trailing byte");
    memcpy(cp, img, len);
    cp[8] = 9;
    spit(bad, cp, len);
    expect_refused(bad, "version", "future version");
    /* Valid checksum, invalid content: an out-of-range column index must still be refused. */
    size_t col_idx_at = 64 + 4 * ((size_t)l->heads + (size_t)l->n_layouts * ((size_t)l->nb_q + 1));
    memcpy(cp, img, len);
    cp[col_idx_at] = 0xff;
    cp[col_idx_at + 1] = 0x7f;
    uint64_t h = fnv(cp, len - 8);
    for (int k = 0; k < 8; k++)
        cp[len - 8 + k] = (uint8_t)(h >> (8 * k));
    spit(bad, cp, len);
    expect_refused(bad, "out of range", "bad column index with a valid checksum");
    /* ... and a column LUT that is not the transpose (swap one mask id). */
    size_t col_mask_at = len - 8 - 4 * (size_t)l->n_masks * (size_t)l->mask_words - 4 * (size_t)l->nnz;
    memcpy(cp, img, len);
    int32_t v;
    memcpy(&v, cp + col_mask_at, 4);
    v = v == -1 ? 0 : -1;
    memcpy(cp + col_mask_at, &v, 4);
    h = fnv(cp, len - 8);
    for (int k = 0; k < 8; k++)
        cp[len - 8 + k] = (uint8_t)(h >> (8 * k));
    spit(bad, cp, len);
    expect_refused(bad, "invalid LUT file", "column mask not matching the row LUT");
    /* Header claiming a huge size must not allocate: nnz = 2^31 - 1. */
    memcpy(cp, img, len);
    cp[60] = 0xff, cp[61] = 0xff, cp[62] = 0xff, cp[63] = 0x7f;
    spit(bad, cp, len);
    expect_refused(bad, "truncated", "huge nnz");
    free(cp);
    free(img);

    /* JSON dump, layout .npy, element mask .npy and PNG exports. */
    snprintf(path, sizeof path, "%s/roundtrip.json", g_work);
    CHECK(spc_lut_write_json(l, path, &err) == 0, "json: %s", err.message);
    img = (uint8_t *)read_file(path, &len);
    if (img) img[len] = 0;
    CHECK(img && strstr((char *)img, "\"format\": \"sparsecl-lut\""), "json content");
    free(img);
    snprintf(path, sizeof path, "%s/layout_out.npy", g_work);
    CHECK(spc_lut_write_layout_npy(l, path, &err) == 0, "layout npy: %s", err.message);
    npy_array a;
    char msg[256];
    if (npy_read(path, &a, msg, sizeof msg) == 0) {
        CHECK(a.ndim == 3 && a.shape[0] == 4 && a.shape[1] == l->nb_q && a.shape[2] == l->nb_k &&
                  a.dtype == NPY_U8,
              "layout npy shape");
        long bad_cells = 0;
        for (int hh = 0; hh < 4; hh++)
            for (int rr = 0; rr < l->nb_q; rr++)
                for (int cc = 0; cc < l->nb_k; cc++) {
                    int64_t e = find_entry(l, l->head_layout[hh], rr, cc);
                    int want = e < 0 ? 0 : l->row_mask[e] < 0 ? 1 : 2;
                    bad_cells += ((uint8_t *)a.data)[((size_t)hh * l->nb_q + rr) * l->nb_k + cc] != want;
                }
        CHECK(bad_cells == 0, "layout npy has %ld wrong cells", bad_cells);
        npy_free(&a);
    } else {
        CHECK(0, "read layout npy: %s", msg);
    }
    snprintf(path, sizeof path, "%s/layout.png", g_work);
    CHECK(spc_lut_write_png(l, path, &err) == 0, "png: %s", err.message);
    img = (uint8_t *)read_file(path, &len);
    CHECK(img && len > 8 && memcmp(img, "\x89PNG\r\n\x1a\n", 8) == 0, "PNG signature");
    free(img);
    spc_lut_free(l);

    spc_bound *bd = NULL;
    l = compile_spec("causal | global(3)", 40, 30, 8, 2, &bd);
    if (l && bd) {
        snprintf(path, sizeof path, "%s/mask.npy", g_work);
        CHECK(spc_write_mask_npy(bd, path, 1 << 20, &err) == 0, "mask npy: %s", err.message);
        if (npy_read(path, &a, msg, sizeof msg) == 0) {
            long bad_el = 0;
            for (int hh = 0; hh < 2; hh++)
                for (int64_t i = 0; i < 40; i++)
                    for (int64_t j = 0; j < 30; j++)
                        bad_el += ((uint8_t *)a.data)[(hh * 40 + i) * 30 + j] != spc_allowed(bd, hh, i, j);
            CHECK(a.ndim == 3 && a.shape[1] == 40 && a.shape[2] == 30 && bad_el == 0, "mask npy content");
            npy_free(&a);
        }
        CHECK(spc_write_mask_npy(bd, path, 100, &err) != 0 && strstr(err.message, "above"),
              "mask size limit: '%s'", err.message);
    }
    spc_lut_free(l);
    spc_bound_free(bd);
}

int main(int argc, char **argv)
{
    if (argc > 1) g_work = argv[1];
    if (argc > 2) g_data = argv[2];
    RUN(test_parse_errors);
    RUN(test_heads_and_dedup);
    RUN(test_bigbird_stable);
    RUN(test_lut_file);
    RUN(test_laws);
    RUN(test_primitives);
    return test_summary("test_patterns");
}
