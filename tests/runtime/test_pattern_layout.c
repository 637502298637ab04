/* scl_pattern_create_layout, scl_pattern_spec and scl_pattern_mask (issue 16): layouts held in
 * memory give exactly what layout(path.npy) gives, element masks per block restrict them
 * (a causal block layout with one diagonal mask is `causal`), bad arguments and geometries are
 * refused with the library's messages, and plans from such patterns run forward and backward on
 * the default device exactly as the equivalent spec's plans do.
 * usage: test_pattern_layout WORKDIR */
#include "../check.h"
#include "scl_npy.h"
#include "sparsecl.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Element mask of a pattern for a geometry; NULL (and a CHECK failure) on error. */
static uint8_t *mask_of(scl_runtime *rt, const scl_pattern *p, int H, int64_t nq, int64_t nk, int block)
{
    size_t bytes = (size_t)H * (size_t)nq * (size_t)nk;
    uint8_t *m = malloc(bytes);
    scl_status st = scl_pattern_mask(rt, p, H, nq, nk, block, m, bytes);
    CHECK(st == SCL_OK, "scl_pattern_mask: %s: %s", scl_status_string(st), scl_last_error_message(rt));
    if (st != SCL_OK) {
        free(m);
        return NULL;
    }
    return m;
}

static int64_t differences(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (!a || !b) return -1;
    int64_t d = 0;
    for (size_t e = 0; e < n; e++)
        d += a[e] != b[e];
    return d;
}

/* Lower-triangular blocks; diagonal blocks carry mask 0, the causal triangle of one block. */
static void causal_layout(int nb, int block, uint8_t *lay, int32_t *mid, uint32_t *mask)
{
    for (int r = 0; r < nb; r++)
        for (int c = 0; c < nb; c++) {
            lay[r * nb + c] = c <= r;
            mid[r * nb + c] = c == r ? 0 : -1;
        }
    memset(mask, 0, (size_t)block * block / 8);
    for (int y = 0; y < block; y++)
        for (int x = 0; x <= y; x++)
            mask[(y * block + x) / 32] |= 1u << ((y * block + x) % 32);
}

static void test_arguments(scl_runtime *rt)
{
    uint8_t lay[4] = {1, 0, 1, 1};
    int32_t mid[4] = {-1, -1, 0, -1};
    uint32_t mask[2] = {0xffffffffu, 0};
    scl_pattern *p = (scl_pattern *)&p;
    CHECK(scl_pattern_create_layout(rt, lay, 1, 2, 2, 8, NULL, NULL, 0, NULL) == SCL_ERR_INVALID_ARGUMENT,
          "NULL out");
    struct {
        const char *what;
        const uint8_t *lay;
        int heads;
        int64_t nb_q, nb_k;
        int block;
        const int32_t *mid;
        const uint32_t *masks;
        int32_t n_masks;
        const char *message;
    } bad[] = {
        {"NULL layout", NULL, 1, 2, 2, 8, NULL, NULL, 0, "layout array is NULL"},
        {"heads 0", lay, 0, 2, 2, 8, NULL, NULL, 0, "heads = 0"},
        {"nb_q 0", lay, 1, 0, 2, 8, NULL, NULL, 0, "is empty or too large"},
        {"huge", lay, 65536, (int64_t)1 << 20, (int64_t)1 << 20, 8, NULL, NULL, 0, "too large"},
        {"block 12", lay, 1, 2, 2, 12, NULL, NULL, 0, "block 12 is not a power of two"},
        {"block 512", lay, 1, 2, 2, 512, NULL, NULL, 0, "block 512"},
        {"negative n_masks", lay, 1, 2, 2, 8, mid, mask, -1, "negative"},
        {"masks NULL", lay, 1, 2, 2, 8, mid, NULL, 1, "masks array is NULL"},
        {"masks without ids", lay, 1, 2, 2, 8, NULL, mask, 1, "without mask_ids"},
        {"mask id out of range", lay, 1, 2, 2, 8, mid, mask, 0, "mask id 0 of block [0, 1, 0]"},
    };
    for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
        p = (scl_pattern *)&p;
        scl_status st = scl_pattern_create_layout(rt, bad[t].lay, bad[t].heads, bad[t].nb_q, bad[t].nb_k,
                                                  bad[t].block, bad[t].mid, bad[t].masks, bad[t].n_masks, &p);
        const char *msg = scl_last_error_message(rt);
        CHECK(st == SCL_ERR_INVALID_ARGUMENT && p == NULL && strstr(msg, bad[t].message), "%s: %s, '%s'",
              bad[t].what, scl_status_string(st), msg);
    }
    /* rt may be NULL, as for scl_pattern_create. */
    CHECK(scl_pattern_create_layout(NULL, NULL, 1, 2, 2, 8, NULL, NULL, 0, &p) == SCL_ERR_INVALID_ARGUMENT,
          "NULL runtime");
    CHECK(scl_pattern_create_layout(NULL, lay, 1, 2, 2, 8, mid, mask, 1, &p) == SCL_OK, "valid layout");
    CHECK(strcmp(scl_pattern_spec(p), "layout(<memory [1, 2, 2] at block 8, 1 element mask>)") == 0,
          "spec '%s'", scl_pattern_spec(p));
    scl_pattern_destroy(p);
    CHECK(strcmp(scl_pattern_spec(NULL), "") == 0, "spec of NULL");
    scl_pattern *c;
    CHECK(scl_pattern_create(NULL, "causal&strided( 128 )", &c) == SCL_OK, "spec parses");
    CHECK(strcmp(scl_pattern_spec(c), "causal & strided(128)") == 0, "normalised spec '%s'",
          scl_pattern_spec(c));
    uint8_t m[16];
    CHECK(scl_pattern_mask(rt, c, 1, 4, 4, 8, m, 15) == SCL_ERR_INVALID_ARGUMENT &&
              strstr(scl_last_error_message(rt), "needs exactly"),
          "mask buffer size checked: %s", scl_last_error_message(rt));
    CHECK(scl_pattern_mask(rt, c, 1, 4, 4, 12, m, 16) == SCL_ERR_INVALID_ARGUMENT, "mask block checked");
    CHECK(scl_pattern_mask(rt, c, 1, 4, 0, 8, m, 16) == SCL_OK && m[0] == 1 && m[1] == 0 && m[15] == 1,
          "causal 4 x 4 mask");
    scl_pattern_destroy(c);
}

/* In-memory layouts equal layout(path.npy) files, whole blocks and per head, with tails. */
static void test_same_as_file(scl_runtime *rt, const char *work)
{
    const int H = 3, block = 16;
    const int64_t nq = 150, nk = 97; /* tails in both directions */
    const int64_t nbq = (nq + block - 1) / block, nbk = (nk + block - 1) / block;
    uint8_t *lay = malloc((size_t)(H * nbq * nbk));
    uint32_t s = 12345;
    for (int64_t e = 0; e < H * nbq * nbk; e++) {
        s = s * 1103515245u + 12345u;
        lay[e] = (uint8_t)((s >> 16) % 3 == 0 ? 0 : (s >> 16) % 5); /* any non-zero value attends */
    }
    char path[1024], spec[1100];
    snprintf(path, sizeof path, "%s/pattern_layout_mem.npy", work);
    int64_t shape[3] = {H, nbq, nbk};
    char msg[256];
    CHECK(npy_write(path, NPY_U8, 3, shape, lay, msg, sizeof msg) == 0, "npy_write: %s", msg);
    snprintf(spec, sizeof spec, "layout(%s)", path);
    scl_pattern *pf, *pm, *p1;
    CHECK(scl_pattern_create(rt, spec, &pf) == SCL_OK, "file pattern: %s", scl_last_error_message(rt));
    CHECK(scl_pattern_create_layout(rt, lay, H, nbq, nbk, block, NULL, NULL, 0, &pm) == SCL_OK,
          "memory pattern: %s", scl_last_error_message(rt));
    size_t n = (size_t)H * (size_t)nq * (size_t)nk;
    uint8_t *mf = mask_of(rt, pf, H, nq, nk, block), *mm = mask_of(rt, pm, H, nq, nk, block);
    CHECK(differences(mf, mm, n) == 0, "memory layout = file layout (%lld elements differ)",
          (long long)differences(mf, mm, n));
    int64_t on = 0;
    for (size_t e = 0; mm && e < n; e++)
        on += mm[e];
    CHECK(on > 0 && on < (int64_t)n, "the random layout is neither empty nor dense (%lld of %zu)",
          (long long)on, n);
    /* One head's layout serves every head. */
    CHECK(scl_pattern_create_layout(rt, lay, 1, nbq, nbk, block, NULL, NULL, 0, &p1) == SCL_OK,
          "shared layout");
    uint8_t *m1 = mask_of(rt, p1, H, nq, nk, block);
    size_t per = (size_t)nq * (size_t)nk;
    for (int h = 0; m1 && mm && h < H; h++)
        CHECK(differences(m1 + h * per, mm, per) == 0, "head %d uses the single layout", h);
    /* The geometry is checked when the pattern is bound, with layout(path.npy)'s message. */
    uint8_t tiny;
    CHECK(scl_pattern_mask(rt, pm, H, nq + block, nk, block, &tiny, 1) == SCL_ERR_INVALID_ARGUMENT,
          "size first");
    size_t big = (size_t)H * (size_t)(nq + block) * (size_t)nk;
    uint8_t *mb = malloc(big);
    scl_status st = scl_pattern_mask(rt, pm, H, nq + block, nk, block, mb, big);
    CHECK(st == SCL_ERR_PATTERN && strstr(scl_last_error_message(rt), "does not match N_q=166") &&
              strstr(scl_last_error_message(rt), "layout(<memory [3, 10, 7] at block 16>)"),
          "wrong N: %s '%s'", scl_status_string(st), scl_last_error_message(rt));
    free(mb);
    big = (size_t)(H + 1) * (size_t)nq * (size_t)nk;
    mb = malloc(big);
    st = scl_pattern_mask(rt, pm, H + 1, nq, nk, block, mb, big);
    CHECK(st == SCL_ERR_PATTERN && strstr(scl_last_error_message(rt), "has 3 heads but is used for 4 heads"),
          "wrong heads: '%s'", scl_last_error_message(rt));
    free(mb);
    uint8_t *m8 = malloc(n);
    st = scl_pattern_mask(rt, pm, H, nq, nk, 32, m8, n);
    CHECK(st == SCL_ERR_PATTERN &&
              strstr(scl_last_error_message(rt), "made for block 16, the plan uses block 32"),
          "wrong block: '%s'", scl_last_error_message(rt));
    free(m8);
    free(mf);
    free(mm);
    free(m1);
    free(lay);
    scl_pattern_destroy(pf);
    scl_pattern_destroy(pm);
    scl_pattern_destroy(p1);
    remove(path);
}

/* Element masks: a causal block layout with a diagonal mask is `causal`, at N = k*b and with tails;
 * blocks with an all-zero mask are empty, all-one masks full. Freed arrays do not matter. */
static void test_masks(scl_runtime *rt)
{
    const int block = 16;
    const int64_t sizes[] = {64, 150, 1};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int64_t N = sizes[t];
        int nb = (int)((N + block - 1) / block);
        uint8_t *lay = malloc((size_t)nb * nb);
        int32_t *mid = malloc(sizeof *mid * (size_t)nb * nb);
        uint32_t *mask = malloc((size_t)block * block / 8 * 3);
        causal_layout(nb, block, lay, mid, mask);
        scl_pattern *pm, *pc;
        CHECK(scl_pattern_create_layout(rt, lay, 1, nb, nb, block, mid, mask, 1, &pm) == SCL_OK, "masked: %s",
              scl_last_error_message(rt));
        memset(lay, 0, (size_t)nb * nb); /* copied: later changes have no effect */
        memset(mask, 0, (size_t)block * block / 8);
        CHECK(scl_pattern_create(rt, "causal", &pc) == SCL_OK, "causal");
        size_t n = (size_t)(2 * N * N);
        uint8_t *a = mask_of(rt, pm, 2, N, N, block), *b = mask_of(rt, pc, 2, N, N, block);
        CHECK(differences(a, b, n) == 0, "N=%lld: layout + diagonal mask = causal (%lld differ)",
              (long long)N, (long long)differences(a, b, n));
        free(a);
        free(b);
        scl_pattern_destroy(pm);
        scl_pattern_destroy(pc);

        /* Three masks over a dense layout: none set, all set, one element. */
        for (int e = 0; e < nb * nb; e++) {
            lay[e] = 1;
            mid[e] = e % 3;
        }
        memset(mask, 0, (size_t)block * block / 8 * 3);
        uint32_t *m1 = mask + block * block / 32, *m2 = m1 + block * block / 32;
        for (int w = 0; w < block * block / 32; w++)
            m1[w] = 0xffffffffu;
        m2[(3 * block + 5) / 32] = 1u << ((3 * block + 5) % 32);
        CHECK(scl_pattern_create_layout(rt, lay, 1, nb, nb, block, mid, mask, 3, &pm) == SCL_OK,
              "three masks");
        a = mask_of(rt, pm, 1, N, N, block);
        int64_t bad = 0;
        for (int64_t i = 0; a && i < N; i++)
            for (int64_t j = 0; j < N; j++) {
                int e = (int)(i / block * nb + j / block), want;
                want = e % 3 == 0 ? 0 : e % 3 == 1 ? 1 : (i % block == 3 && j % block == 5);
                bad += a[i * N + j] != want;
            }
        CHECK(a && bad == 0, "N=%lld: none / all / one-element masks: %lld wrong", (long long)N,
              (long long)bad);
        free(a);
        scl_pattern_destroy(pm);
        free(lay);
        free(mid);
        free(mask);
    }
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t e = 0; e < n; e++) {
        double x = fabs((double)a[e] - (double)b[e]);
        if (x > d || isnan(x)) d = isnan(x) ? INFINITY : x;
    }
    return d;
}

/* Plans: the masked causal layout runs exactly like `causal`, forward and backward; plan creation
 * reports a geometry that does not fit. */
static void test_plans(scl_runtime *rt)
{
    const int B = 1, H = 2, d = 32, block = 16;
    const int64_t N = 100;
    const int nb = (int)((N + block - 1) / block);
    uint8_t lay[49];
    int32_t mid[49];
    uint32_t mask[8];
    causal_layout(nb, block, lay, mid, mask);
    scl_pattern *pm, *pc;
    CHECK(scl_pattern_create_layout(rt, lay, 1, nb, nb, block, mid, mask, 1, &pm) == SCL_OK, "masked");
    CHECK(scl_pattern_create(rt, "causal", &pc) == SCL_OK, "causal");
    scl_shape shape = {.batch = B, .heads = H, .seq_q = N, .head_dim = d, .block = block};
    scl_plan *plm = NULL, *plc = NULL;
    scl_status st = scl_plan_create(rt, pm, &shape, SCL_F32, &plm);
    CHECK(st == SCL_OK, "plan from the memory layout: %s", scl_last_error_message(rt));
    CHECK(scl_plan_create(rt, pc, &shape, SCL_F32, &plc) == SCL_OK, "causal plan: %s",
          scl_last_error_message(rt));
    scl_pattern_destroy(pm); /* plans keep what they need */
    if (plm && plc) {
        size_t n = (size_t)B * H * N * d, nl = (size_t)B * H * N;
        float *buf = calloc(n * 14 + nl * 2, sizeof *buf);
        float *q = buf, *k = q + n, *v = k + n, *o1 = v + n, *o2 = o1 + n, *dout = o2 + n;
        float *g1 = dout + n, *g2 = g1 + 3 * n, *l1 = g2 + 3 * n, *l2 = l1 + nl;
        uint32_t s = 7;
        for (size_t e = 0; e < 3 * n; e++) {
            s = s * 1664525u + 1013904223u;
            q[e] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
        }
        for (size_t e = 0; e < n; e++)
            dout[e] = q[(e * 7) % n];
        CHECK(scl_plan_forward_host(plm, q, k, v, o1, l1) == SCL_OK, "forward (memory): %s",
              scl_last_error_message(rt));
        CHECK(scl_plan_forward_host(plc, q, k, v, o2, l2) == SCL_OK, "forward (causal)");
        double df = max_diff(o1, o2, n), dl = max_diff(l1, l2, nl);
        CHECK(df <= 1e-6 && dl <= 1e-6, "forward: O differs by %g, LSE by %g", df, dl);
        CHECK(scl_plan_backward_host(plm, q, k, v, o1, l1, dout, g1, g1 + n, g1 + 2 * n) == SCL_OK,
              "backward (memory): %s", scl_last_error_message(rt));
        CHECK(scl_plan_backward_host(plc, q, k, v, o2, l2, dout, g2, g2 + n, g2 + 2 * n) == SCL_OK,
              "backward (causal)");
        double db = max_diff(g1, g2, 3 * n);
        CHECK(db <= 1e-6, "backward: dQ/dK/dV differ by %g", db);
        printf("memory layout vs causal: forward %g, LSE %g, backward %g\n", df, dl, db);
        free(buf);
    }
    scl_plan_destroy(plm);
    scl_plan_destroy(plc);
    scl_pattern_destroy(pc);

    CHECK(scl_pattern_create_layout(rt, lay, 1, nb, nb, block, mid, mask, 1, &pm) == SCL_OK, "masked again");
    scl_shape longer = shape;
    longer.seq_q = N + block;
    plm = (scl_plan *)&plm;
    st = scl_plan_create(rt, pm, &longer, SCL_F32, &plm);
    CHECK(st == SCL_ERR_PATTERN && plm == NULL &&
              strstr(scl_last_error_message(rt), "does not match N_q=116"),
          "plan for another N: %s '%s'", scl_status_string(st), scl_last_error_message(rt));
    scl_shape other_block = shape;
    other_block.block = 32;
    st = scl_plan_create(rt, pm, &other_block, SCL_F32, &plm);
    CHECK(st == SCL_ERR_PATTERN && strstr(scl_last_error_message(rt), "made for block 16"),
          "plan for another block: '%s'", scl_last_error_message(rt));
    scl_pattern_destroy(pm);
}

int main(int argc, char **argv)
{
    const char *work = argc > 1 ? argv[1] : ".";
    scl_runtime *rt = NULL;
    scl_status st = scl_runtime_create(NULL, &rt);
    if (st != SCL_OK) {
        printf("no OpenCL device (%s): skipped\n", scl_last_error_message(rt));
        scl_runtime_destroy(rt);
        return 77;
    }
    test_arguments(rt);
    test_same_as_file(rt, work);
    test_masks(rt);
    test_plans(rt);
    scl_runtime_destroy(rt);
    return check_summary("pattern_layout");
}
