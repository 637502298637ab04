/* The block `auto` takes without a tuning entry (patterns/block_rule.c): the largest candidate whose
 * computed elements are within 10% of the fewest. */
#include "scl_patterns.h"
#include "test_common.h"

#include <stdlib.h>

/* The block the rule picks for spec at N (decomposition mode m), or -1; the choice into *out. */
static int rule(const char *spec, int64_t n, spc_decompose_mode m, spc_block_choice *out)
{
    spc_pattern *p = NULL;
    spc_error err = {{0}, 0};
    if (spc_parse(spec, &p, &err) != 0) return -1;
    spc_geometry g = {n, n, 0, 1};
    int rc = spc_block_rule(p, &g, m, out, &err);
    spc_pattern_free(p);
    if (rc != 0) printf("  %s: %s\n", spec, err.message);
    return rc == 0 ? out->block[out->chosen] : -1;
}

static void dense_and_causal_take_the_largest(void)
{
    static const int64_t lengths[] = {1024, 4096, 16384};
    spc_block_choice c;
    for (int i = 0; i < 3; i++) {
        CHECK(rule("dense", lengths[i], SPC_DECOMPOSE_AUTO, &c) == 128, "dense N=%lld: %s",
              (long long)lengths[i], c.why);
        CHECK(rule("causal", lengths[i], SPC_DECOMPOSE_AUTO, &c) == 128, "causal N=%lld: %s",
              (long long)lengths[i], c.why);
    }
    CHECK(strstr(c.why, "the rule") != NULL, "%s", c.why);
}

static void strided_takes_a_smaller_block(void)
{
    spc_block_choice c;
    for (int m = 0; m < 2; m++) { /* as plans run it, and as the plain block LUT */
        spc_decompose_mode mode = m ? SPC_DECOMPOSE_OFF : SPC_DECOMPOSE_AUTO;
        int b = rule("causal & strided(128)", 16384, mode, &c);
        printf("  causal & strided(128) N=16384 %s: computed %.4g / %.4g / %.4g at 32/64/128 -> %d (%s)\n",
               m ? "off" : "auto", c.computed[0], c.computed[1], c.computed[2], b, c.why);
        CHECK(b > 0 && b < 128, "causal & strided(128), decompose %s: %d", m ? "off" : "auto", b);
        /* the rule as stated: the pick is within 10% of the fewest, and every larger one is not */
        double least = c.computed[0];
        for (int i = 1; i < c.n; i++)
            least = c.computed[i] < least ? c.computed[i] : least;
        CHECK(c.computed[c.chosen] <= least * 1.1, "%g vs %g", c.computed[c.chosen], least);
        for (int i = c.chosen + 1; i < c.n; i++)
            CHECK(c.computed[i] > least * 1.1, "block %d", c.block[i]);
    }
    CHECK(rule("local(16)", 4096, SPC_DECOMPOSE_OFF, &c) == 32, "local(16): %s", c.why);
}

static void layouts_keep_their_block(void)
{
    /* an in-memory layout binds at its own block only */
    uint8_t layout[4] = {1, 0, 1, 1};
    spc_pattern *p = NULL;
    spc_error err = {{0}, 0};
    CHECK(spc_pattern_from_layout(layout, 1, 2, 2, 64, NULL, NULL, 0, &p, &err) == 0, "%s", err.message);
    spc_geometry g = {128, 128, 0, 1};
    spc_block_choice c;
    CHECK(spc_block_rule(p, &g, SPC_DECOMPOSE_AUTO, &c, &err) == 0, "%s", err.message);
    CHECK(c.block[c.chosen] == 64 && c.computed[0] < 0 && c.computed[2] < 0, "chose %d", c.block[c.chosen]);
    spc_pattern_free(p);
    /* at a length no candidate fits, the error of the first candidate */
    CHECK(spc_pattern_from_layout(layout, 1, 2, 2, 64, NULL, NULL, 0, &p, &err) == 0, "%s", err.message);
    g.n_q = g.n_k = 4096;
    CHECK(spc_block_rule(p, &g, SPC_DECOMPOSE_AUTO, &c, &err) != 0 &&
              strstr(err.message, "fits none of 32, 64, 128"),
          "%s", err.message);
    spc_pattern_free(p);
}

int main(void)
{
    RUN(dense_and_causal_take_the_largest);
    RUN(strided_takes_a_smaller_block);
    RUN(layouts_keep_their_block);
    return test_summary("block_rule");
}
