/* Fuzz target: .npy reader (untrusted headers and data). */
#include "scl_npy.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    npy_array a;
    char msg[256];
    msg[0] = '\0';
    if (npy_read_mem(data, size, &a, msg, sizeof msg) == 0) {
        /* Touch every byte so ASan checks the claimed size. */
        volatile uint8_t sink = 0;
        for (size_t k = 0; k < (size_t)a.count * a.itemsize; k++)
            sink ^= ((const uint8_t *)a.data)[k];
        (void)sink;
        npy_free(&a);
    } else if (msg[0] == '\0' || a.data != NULL) {
        abort(); /* every refusal says why and leaves nothing allocated */
    }
    return 0;
}
