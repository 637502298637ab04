/* Array exports: the block layout [H, nb_q, nb_k] from a LUT and the element mask [H, N_q, N_k]
 * straight from the definitions (so the mask file is an independent reference). */
#include "spc_internal.h"
#include "scl_npy.h"

#include <stdlib.h>
#include <string.h>

/* Refuse arrays above this even when the caller allows more: they are built in memory. */
#define LAYOUT_MAX_BYTES ((int64_t)1 << 32)

void spc_format_bytes(char *out, size_t n, double bytes, const char *unit0)
{
    const char *unit[] = {unit0, "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) {
        bytes /= 1024;
        u++;
    }
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
}

int spc_lut_write_layout_npy(const spc_lut *lut, const char *path, spc_error *err)
{
    if (err) err->message[0] = '\0';
    double bytes = (double)lut->heads * lut->nb_q * lut->nb_k;
    if (bytes > (double)LAYOUT_MAX_BYTES) {
        char b[64];
        spc_format_bytes(b, sizeof b, bytes, "bytes");
        spc_set_error(err, 0, "block layout would be %s (%d x %d x %d); use a larger block size", b,
                      lut->heads, lut->nb_q, lut->nb_k);
        return -1;
    }
    size_t plane = (size_t)lut->nb_q * (size_t)lut->nb_k;
    uint8_t *a = calloc(plane * (size_t)lut->heads + 1, 1);
    if (!a) {
        spc_set_error(err, 0, "out of memory for the block layout");
        return -1;
    }
    for (int h = 0; h < lut->heads; h++) {
        const int32_t *rp = lut->row_ptr + (size_t)lut->head_layout[h] * (lut->nb_q + 1);
        uint8_t *dst = a + plane * (size_t)h;
        for (int r = 0; r < lut->nb_q; r++)
            for (int32_t e = rp[r]; e < rp[r + 1]; e++)
                dst[(size_t)r * lut->nb_k + (size_t)lut->col_idx[e]] =
                    lut->row_mask[e] < 0 ? SPC_FULL : SPC_PARTIAL;
    }
    int64_t shape[3] = {lut->heads, lut->nb_q, lut->nb_k};
    char msg[400];
    int rc = npy_write(path, NPY_U8, 3, shape, a, msg, sizeof msg);
    if (rc != 0) spc_set_error(err, 0, "%s", msg);
    free(a);
    return rc;
}

int spc_write_mask_npy(const spc_bound *b, const char *path, int64_t max_bytes, spc_error *err)
{
    if (err) err->message[0] = '\0';
    double bytes = (double)b->g.heads * (double)b->g.n_q * (double)b->g.n_k;
    if (bytes > (double)max_bytes || bytes > (double)LAYOUT_MAX_BYTES) {
        char have[64], lim[64];
        spc_format_bytes(have, sizeof have, bytes, "bytes");
        spc_format_bytes(lim, sizeof lim,
                         (double)(max_bytes < LAYOUT_MAX_BYTES ? max_bytes : LAYOUT_MAX_BYTES), "bytes");
        spc_set_error(err, 0, "element mask would be %s (%d x %lld x %lld bytes), above the %s limit", have,
                      b->g.heads, (long long)b->g.n_q, (long long)b->g.n_k, lim);
        return -1;
    }
    size_t n = (size_t)bytes;
    uint8_t *a = malloc(n ? n : 1);
    if (!a) {
        spc_set_error(err, 0, "out of memory for the element mask");
        return -1;
    }
    size_t k = 0;
    for (int h = 0; h < b->g.heads; h++)
        for (int64_t i = 0; i < b->g.n_q; i++)
            for (int64_t j = 0; j < b->g.n_k; j++)
                a[k++] = spc_allowed(b, h, i, j);
    int64_t shape[3] = {b->g.heads, b->g.n_q, b->g.n_k};
    char msg[400];
    int rc = npy_write(path, NPY_U8, 3, shape, a, msg, sizeof msg);
    if (rc != 0) spc_set_error(err, 0, "%s", msg);
    free(a);
    return rc;
}
