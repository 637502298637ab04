/* Fuzz target: spec parser, binder and compiler. Inputs that parse are compiled for a small odd
 * geometry and the LUT is checked element by element against the definitions (a differential
 * test), so a wrong classification or mask key is a crash, not just a parser bug. */
#include "scl_patterns.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    spc_pattern *p = NULL;
    spc_error err;
    if (spc_parse(s, &p, &err) != 0) {
        if (p || err.message[0] == '\0') abort(); /* failures must say why */
        free(s);
        return 0;
    }
    /* Never let fuzz input name files (a FIFO would hang the fuzzer). */
    if (strstr(spc_pattern_text(p), "layout(")) {
        spc_pattern_free(p);
        free(s);
        return 0;
    }
    /* A second parse of the normalised text must give the same text. */
    spc_pattern *p2 = NULL;
    if (spc_parse(spc_pattern_text(p), &p2, &err) != 0 ||
        strcmp(spc_pattern_text(p), spc_pattern_text(p2)) != 0)
        abort();
    spc_pattern_free(p2);
    static const spc_geometry geos[] = {{37, 29, 8, 3}, {70, 70, 16, 2}};
    for (size_t g = 0; g < sizeof geos / sizeof geos[0]; g++) {
        spc_bound *b = NULL;
        spc_lut *l = NULL;
        if (spc_bind(p, &geos[g], &b, &err) != 0) continue;
        if (spc_compile(b, &l, &err) == 0) {
            for (int h = 0; h < geos[g].heads; h++)
                for (int64_t i = 0; i < geos[g].n_q; i++)
                    for (int64_t j = 0; j < geos[g].n_k; j++)
                        if (spc_lut_allowed(l, h, i, j) != spc_allowed(b, h, i, j)) abort();
            spc_lut_free(l);
        }
        spc_bound_free(b);
    }
    spc_pattern_free(p);
    free(s);
    return 0;
}
