/* The sparsity block size a plan takes when asked for `auto` and no tuning entry decides: from
 * what the compiler knows, the elements the kernels would compute at each candidate block (after
 * the decomposition's choice, as plans run them). Larger blocks have fewer, longer loop trips and
 * smaller tables, so the largest block wins unless it computes clearly more: the rule takes the
 * largest candidate whose computed elements are within SPC_BLOCK_RULE_SLACK of the fewest. */
#include "scl_patterns.h"

#include <stdio.h>
#include <string.h>

/* Elements the plan would compute at geometry g: the components' LUTs when the pattern is
 * decomposed under mode, else the plain block LUT; -1 with *err when it does not bind or compile. */
static double computed_at(const spc_pattern *p, const spc_geometry *g, spc_decompose_mode mode,
                          spc_error *err)
{
    spc_bound *b = NULL;
    spc_lut *lut = NULL;
    spc_decomposition *d = NULL;
    double n = -1;
    if (spc_bind(p, g, &b, err) == 0 && spc_compile(b, &lut, err) == 0) {
        spc_stats s;
        spc_lut_stats(lut, &s);
        if (spc_decompose(b, &s, mode, &d, err) == 0) {
            n = d->plain_computed;
            if (d->n > 0) {
                n = 0;
                for (int i = 0; i < d->n; i++)
                    n += d->comp[i].computed;
            }
        }
    }
    spc_decomposition_free(d);
    spc_lut_free(lut);
    spc_bound_free(b);
    return n;
}

int spc_block_rule(const spc_pattern *p, const spc_geometry *g, spc_decompose_mode mode,
                   spc_block_choice *out, spc_error *err)
{
    static const int candidates[] = SPC_BLOCK_CANDIDATES;
    memset(out, 0, sizeof *out);
    out->chosen = -1;
    spc_error first = {{0}, 0};
    int least = -1;
    for (int i = 0; i < SPC_BLOCK_N_CANDIDATES; i++) {
        spc_geometry gi = *g;
        gi.block = candidates[i];
        spc_error e = {{0}, 0};
        out->block[i] = candidates[i];
        out->computed[i] = computed_at(p, &gi, mode, &e);
        if (out->computed[i] < 0 && !first.message[0]) first = e;
        if (out->computed[i] >= 0 && (least < 0 || out->computed[i] < out->computed[least])) least = i;
    }
    out->n = SPC_BLOCK_N_CANDIDATES;
    if (least < 0) { /* no candidate binds: the first one's reason */
        *err = first;
        size_t n = strlen(err->message);
        for (int i = 0; i < SPC_BLOCK_N_CANDIDATES && n < sizeof err->message; i++) {
            int w = snprintf(err->message + n, sizeof err->message - n, "%s%d",
                             i ? ", " : " (block auto: it fits none of ", candidates[i]);
            n += w > 0 ? (size_t)w : 0;
        }
        if (n < sizeof err->message) snprintf(err->message + n, sizeof err->message - n, ")");
        return -1;
    }
    for (int i = 0; i < out->n; i++)
        if (out->computed[i] >= 0 && out->computed[i] <= out->computed[least] * (1 + SPC_BLOCK_RULE_SLACK))
            out->chosen = i; /* candidates ascend: the last one within the slack is the largest */
    int c = out->chosen;
    if (c == least)
        snprintf(out->why, sizeof out->why, "the rule: block %d computes the fewest elements (%.4g)",
                 out->block[c], out->computed[c]);
    else
        snprintf(out->why, sizeof out->why,
                 "the rule: block %d is the largest whose computed elements (%.4g) are within %.0f%% of the "
                 "fewest (%.4g at block %d)",
                 out->block[c], out->computed[c], 100 * SPC_BLOCK_RULE_SLACK, out->computed[least],
                 out->block[least]);
    return 0;
}
