/* The spec rewriting of the head all-to-all plan: a per-head spec restricted to heads
 * [h0, h0 + hn) and renumbered must allow, for each of its heads h, exactly what the original
 * allows for head h0 + h (checked element by element through the pattern compiler's predicate),
 * and the shift-invariance test must accept only patterns of i - j alone. No MPI run needed. */
#include "../src/mpi_internal.h"
#include "scl_patterns.h"

#include <stdio.h>
#include <string.h>

static int passed, failed;

static void check(int ok, const char *what, const char *detail)
{
    ok ? passed++ : failed++;
    printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what, detail ? ": " : "", detail ? detail : "");
}

static spc_bound *bind(const char *spec, int heads, spc_pattern **pat)
{
    spc_error err;
    spc_bound *b = NULL;
    spc_geometry g = {72, 72, 8, heads};
    if (spc_parse(spec, pat, &err) != 0 || spc_bind(*pat, &g, &b, &err) != 0) {
        printf("     %s: %s\n", spec, err.message);
        return NULL;
    }
    return b;
}

static void slice_case(const char *spec, int heads, int h0, int hn)
{
    char out[1024], what[1200];
    snprintf(what, sizeof what, "heads %d-%d of %s", h0, h0 + hn - 1, spec);
    if (smpi_slice_heads(spec, h0, hn, out, sizeof out) != 0) {
        check(0, what, "slicing refused");
        return;
    }
    spc_pattern *pa = NULL, *pb = NULL;
    spc_bound *a = bind(spec, heads, &pa), *b = bind(out, hn, &pb);
    int same = a && b;
    for (int h = 0; same && h < hn; h++)
        for (int64_t i = 0; same && i < 72; i++)
            for (int64_t j = 0; same && j < 72; j++)
                same = spc_allowed(a, h0 + h, i, j) == spc_allowed(b, h, i, j);
    check(same, what, out);
    spc_bound_free(a), spc_bound_free(b), spc_pattern_free(pa), spc_pattern_free(pb);
}

int main(void)
{
    slice_case("causal & local(5)", 4, 1, 2); /* no heads(): unchanged */
    slice_case("heads(0-1: causal; 2-3: local(4))", 4, 0, 2);
    slice_case("heads(0-1: causal; 2-3: local(4))", 4, 1, 2);
    slice_case("heads(0-1: causal; 2-3: local(4))", 4, 3, 1);
    slice_case("heads(0, 2: causal; 1, 3: dense)", 4, 1, 3);
    slice_case("heads(0-3: heads(0-1: causal; 2-3: dense); 4-7: local(3) | global(5))", 8, 2, 4);
    slice_case("heads(0: bigbird(3, 1, 1, 5); 1-3: longformer(4, 9))", 4, 1, 3);
    slice_case("(heads(0-1: causal; 2-3: strided(8))) & local(20)", 4, 1, 2);
    static const char *inv[] = {"dense", "causal & strided(8)", "heads(0: local(3); 1: dilated(2, 3))",
                                "causal | local(2)"};
    static const char *abs_[] = {"longformer(4, 1)", "causal & fixed(8, 2)", "bigbird(3, 1, 1, 1)",
                                 "global(3)", "heads(0: causal; 1: layout(x.npy))"};
    for (size_t i = 0; i < sizeof inv / sizeof *inv; i++)
        check(smpi_shift_invariant(inv[i]) == 1, "i - j only", inv[i]);
    for (size_t i = 0; i < sizeof abs_ / sizeof *abs_; i++)
        check(smpi_shift_invariant(abs_[i]) == 0, "absolute positions", abs_[i]);
    printf("test_mpi_spec: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
