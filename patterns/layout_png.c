/* PNG picture of the block layout: one panel per head in a grid, empty/full/partial in three
 * colours, blocks scaled up so small layouts are visible (and pooled when layouts are huge). */
#include "spc_internal.h"

#ifdef SCL_HAVE_PNG
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#define PANEL_TARGET 512 /* aim for panels about this many pixels wide */
#define PANEL_MAX 2048   /* pool blocks above this */
#define GAP 4

static const uint8_t COLOURS[3][3] = {
    {245, 245, 245}, /* empty */
    {31, 119, 180},  /* full */
    {255, 127, 14},  /* partial */
};
static const uint8_t BACKGROUND[3] = {90, 90, 90};

typedef struct png_job {
    FILE *f;
    png_structp png;
    png_infop info;
    uint8_t *row;
    uint8_t *cls; /* class of one block row, per head: [heads][nb_k] */
} png_job;

/* Write rows inside its own function so setjmp's caller holds no modified locals. */
static int write_png(png_job *j, const spc_lut *lut, int grid_cols, int grid_rows, int scale, int pool,
                     int pw, int ph, uint32_t width, uint32_t height)
{
    if (setjmp(png_jmpbuf(j->png))) return -1;
    png_init_io(j->png, j->f);
    png_set_IHDR(j->png, j->info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(j->png, j->info);
    size_t nbk = (size_t)lut->nb_k;
    for (uint32_t x = 0; x < width; x++)
        memcpy(j->row + 3 * x, BACKGROUND, 3);
    for (int g = 0; g < GAP; g++)
        png_write_row(j->png, j->row);
    for (int gr = 0; gr < grid_rows; gr++) {
        for (int y = 0; y < ph; y++) {
            int br0 = y / scale * pool; /* first block row pooled into this pixel row */
            bool fresh = y % scale == 0;
            if (fresh) {
                memset(j->cls, 0, nbk * (size_t)grid_cols);
                for (int gc = 0; gc < grid_cols; gc++) {
                    int h = gr * grid_cols + gc;
                    if (h >= lut->heads) break;
                    const int32_t *rp = lut->row_ptr + (size_t)lut->head_layout[h] * (lut->nb_q + 1);
                    uint8_t *dst = j->cls + nbk * (size_t)gc;
                    for (int br = br0; br < br0 + pool && br < lut->nb_q; br++)
                        for (int32_t e = rp[br]; e < rp[br + 1]; e++) {
                            uint8_t c = lut->row_mask[e] < 0 ? SPC_FULL : SPC_PARTIAL;
                            if (c > dst[lut->col_idx[e]]) dst[lut->col_idx[e]] = c; /* partial wins */
                        }
                }
            }
            for (uint32_t x = 0; x < width; x++)
                memcpy(j->row + 3 * x, BACKGROUND, 3);
            for (int gc = 0; gc < grid_cols; gc++) {
                int h = gr * grid_cols + gc;
                if (h >= lut->heads) break;
                const uint8_t *src = j->cls + nbk * (size_t)gc;
                uint8_t *px = j->row + 3 * (size_t)(GAP + gc * (pw + GAP));
                for (int x = 0; x < pw; x++) {
                    int bc0 = x / scale * pool;
                    uint8_t c = 0;
                    for (int bc = bc0; bc < bc0 + pool && bc < lut->nb_k; bc++)
                        if (src[bc] > c) c = src[bc];
                    memcpy(px + 3 * x, COLOURS[c], 3);
                }
            }
            png_write_row(j->png, j->row);
        }
        for (uint32_t x = 0; x < width; x++)
            memcpy(j->row + 3 * x, BACKGROUND, 3);
        for (int g = 0; g < GAP; g++)
            png_write_row(j->png, j->row);
    }
    png_write_end(j->png, NULL);
    return 0;
}

int spc_lut_write_png(const spc_lut *lut, const char *path, spc_error *err)
{
    if (err) err->message[0] = '\0';
    int nb = lut->nb_q > lut->nb_k ? lut->nb_q : lut->nb_k;
    int pool = (nb + PANEL_MAX - 1) / PANEL_MAX;
    int scale = pool > 1 ? 1 : (PANEL_TARGET / nb > 1 ? PANEL_TARGET / nb : 1);
    int pw = (lut->nb_k + pool - 1) / pool * scale, ph = (lut->nb_q + pool - 1) / pool * scale;
    int grid_cols = 1;
    while (grid_cols * grid_cols < lut->heads)
        grid_cols++;
    int grid_rows = (lut->heads + grid_cols - 1) / grid_cols;
    double w = GAP + (double)grid_cols * (pw + GAP), h = GAP + (double)grid_rows * (ph + GAP);
    if (w * h > 4e8) {
        spc_set_error(err, 0, "PNG would be %.0f x %.0f pixels; too large", w, h);
        return -1;
    }
    char *tmp;
    png_job j = {0};
    j.f = spc_atomic_open(path, &tmp, err);
    if (!j.f) return -1;
    j.row = malloc((size_t)w * 3);
    j.cls = malloc((size_t)lut->nb_k * (size_t)grid_cols);
    j.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    j.info = j.png ? png_create_info_struct(j.png) : NULL;
    int rc = -1;
    if (j.row && j.cls && j.info)
        rc = write_png(&j, lut, grid_cols, grid_rows, scale, pool, pw, ph, (uint32_t)w, (uint32_t)h);
    if (j.png) png_destroy_write_struct(&j.png, j.info ? &j.info : NULL);
    free(j.row);
    free(j.cls);
    if (rc != 0) spc_set_error(err, 0, "cannot write PNG '%s'", path);
    return spc_atomic_close(j.f, tmp, path, rc == 0, err);
}

#else
/* Built without libpng (it was not found at configure time): say so instead of writing nothing. */
int spc_lut_write_png(const spc_lut *lut, const char *path, spc_error *err)
{
    (void)lut;
    snprintf(err->message, sizeof err->message, "cannot write %s: sparsecl was built without libpng (install libpng-dev and rebuild)", path);
    err->column = 0;
    return -1;
}
#endif
