/* Fuzz target: binary LUT file reader. Accepted files must be safe to query everywhere. */
#include "scl_patterns.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spc_lut *l = NULL;
    spc_error err;
    if (spc_lut_read_mem(data, size, &l, &err) != 0) {
        if (l || err.message[0] == '\0') abort();
        return 0;
    }
    spc_stats s;
    spc_lut_stats(l, &s);
    if (l->n_q * l->n_k * l->heads <= 1 << 16)
        for (int h = 0; h < l->heads; h++)
            for (int64_t i = 0; i < l->n_q; i++)
                for (int64_t j = 0; j < l->n_k; j++)
                    (void)spc_lut_allowed(l, h, i, j);
    spc_lut_free(l);
    return 0;
}
