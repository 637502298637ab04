/* Test helper for the distributed CLI test (no NumPy on the machines): `gen PATH SEED B H N d`
 * writes a float32 [B, H, N, d] array of values in [-1, 1); `cmp A B` prints the largest
 * difference relative to B's largest magnitude and fails above 1e-4 (fp32 round-off). */
#include "scl_npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int gen(char **a)
{
    int64_t shape[4];
    uint64_t s = strtoull(a[0 + 1], NULL, 10);
    for (int i = 0; i < 4; i++)
        shape[i] = strtoll(a[2 + i], NULL, 10);
    size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
    float *x = malloc(n * sizeof *x + 1);
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((s >> 40) & 0xffffff) / (float)0x1000000 * 2 - 1;
    }
    char msg[256];
    int rc = npy_write(a[0], NPY_F32, 4, shape, x, msg, sizeof msg);
    if (rc) fprintf(stderr, "npy_tool: %s\n", msg);
    free(x);
    return rc ? 1 : 0;
}

static int cmp(char **a)
{
    npy_array x, y;
    char msg[256];
    if (npy_read(a[0], &x, msg, sizeof msg) || npy_read(a[1], &y, msg, sizeof msg)) {
        fprintf(stderr, "npy_tool: %s\n", msg);
        return 1;
    }
    int same = x.ndim == y.ndim && x.count == y.count && x.dtype == NPY_F32 && y.dtype == NPY_F32 &&
               memcmp(x.shape, y.shape, sizeof x.shape) == 0;
    double e = 0, scale = 1;
    for (int64_t i = 0; same && i < x.count; i++) {
        float p = ((float *)x.data)[i], q = ((float *)y.data)[i];
        if (isinf(p) && isinf(q) && (p < 0) == (q < 0)) continue;
        double d = fabs((double)p - q);
        if (!(d <= e)) e = d;
        if (fabs(q) > scale && !isinf(q)) scale = fabs(q);
    }
    printf("%s vs %s: %s, max error %.2e relative\n", a[0], a[1], same ? "same shape" : "SHAPES DIFFER",
           e / scale);
    npy_free(&x);
    npy_free(&y);
    return same && e <= 1e-4 * scale ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 8 && strcmp(argv[1], "gen") == 0) return gen(argv + 2);
    if (argc == 4 && strcmp(argv[1], "cmp") == 0) return cmp(argv + 2);
    fprintf(stderr, "usage: npy_tool gen PATH SEED B H N d | cmp A.npy B.npy\n");
    return 2;
}
