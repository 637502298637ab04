/* The layout PNG (spc_lut_write_png_titled), read back with libpng: its dimensions, the title
 * (drawn, and in the Title text chunk; cut with "..." when too long), the legend's three swatches,
 * the head labels, and the block colours where the layout puts them.
 * Usage: test_layout_png WORK_DIR */
#include "../check.h"
#include "../test_util.h"
#include "scl_patterns.h"

#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const uint8_t EMPTY[3] = {245, 245, 245}, FULL[3] = {31, 119, 180}, PARTIAL[3] = {255, 127, 14},
                     WHITE[3] = {255, 255, 255};
enum { HEADER_H = 48, LABEL_H = 14, GAP = 4 }; /* 6 + 2*10 + 6 + 10 + 6; 10 + 4 */

typedef struct image {
    uint32_t w, h;
    uint8_t *rgb;
    char title[600];
} image;

static spc_lut *compile(const char *spec, int64_t n, int block, int heads)
{
    spc_pattern *p = NULL;
    spc_bound *bd = NULL;
    spc_lut *lut = NULL;
    spc_error err;
    spc_geometry g = {n, n, block, heads};
    int ok = spc_parse(spec, &p, &err) == 0 && spc_bind(p, &g, &bd, &err) == 0 &&
             spc_compile(bd, &lut, &err) == 0;
    CHECK(ok, "compile '%s': %s", spec, err.message);
    spc_pattern_free(p);
    spc_bound_free(bd);
    return lut;
}

/* The PNG as RGB, and its Title text chunk; 0 on success. */
static int load(const char *path, image *im)
{
    memset(im, 0, sizeof *im);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path)) return -1;
    pi.format = PNG_FORMAT_RGB;
    im->w = pi.width, im->h = pi.height;
    im->rgb = malloc(PNG_IMAGE_SIZE(pi));
    if (!im->rgb || !png_image_finish_read(&pi, NULL, im->rgb, 0, NULL)) return png_image_free(&pi), -1;
    FILE *f = fopen(path, "rb");
    static char raw[1 << 16];
    size_t n = f ? fread(raw, 1, sizeof raw - 1, f) : 0;
    if (f) fclose(f);
    for (size_t i = 0; i + 10 < n; i++)
        if (memcmp(raw + i, "tEXtTitle", 10) == 0) { /* keyword, NUL, text up to the chunk's length */
            uint32_t len = (uint32_t)(uint8_t)raw[i - 4] << 24 | (uint32_t)(uint8_t)raw[i - 3] << 16 |
                           (uint32_t)(uint8_t)raw[i - 2] << 8 | (uint8_t)raw[i - 1];
            size_t tl = len > 6 ? len - 6 : 0;
            if (tl >= sizeof im->title) tl = sizeof im->title - 1;
            memcpy(im->title, raw + i + 10, tl);
        }
    return 0;
}

static const uint8_t *px(const image *im, uint32_t x, uint32_t y)
{
    return im->rgb + 3 * ((size_t)y * im->w + x);
}

static int is(const image *im, uint32_t x, uint32_t y, const uint8_t c[3])
{
    return x < im->w && y < im->h && memcmp(px(im, x, y), c, 3) == 0;
}

static long count(const image *im, uint32_t y0, uint32_t y1, const uint8_t c[3])
{
    long n = 0;
    for (uint32_t y = y0; y < y1 && y < im->h; y++)
        for (uint32_t x = 0; x < im->w; x++)
            n += is(im, x, y, c);
    return n;
}

/* The layout of spec (titled with it) into WORK/name, read back into *im; the LUT, or NULL. */
static spc_lut *draw(const char *work, const char *name, const char *spec, int64_t n, int block, int heads,
                     char *path, size_t len, image *im)
{
    snprintf(path, len, "%s/%s", work, name);
    memset(im, 0, sizeof *im);
    spc_lut *lut = compile(spec, n, block, heads);
    if (!lut) return NULL;
    spc_error err;
    CHECK(spc_lut_write_png_titled(lut, path, spec, &err) == 0, "write: %s", err.message);
    CHECK(load(path, im) == 0, "read back %s", path);
    return lut;
}

/* One head of causal | global(3) at N = 40, block 8: 5 x 5 blocks drawn 102 pixels each. */
static void one_head(const char *work)
{
    char path[4200];
    image im;
    spc_lut *lut = draw(work, "layout-one.png", "causal | global(3)", 40, 8, 1, path, sizeof path, &im);
    if (!lut) return;
    spc_error err;
    CHECK(im.w == 518 && im.h == HEADER_H + LABEL_H + 510 + GAP, "518 x 576 pixels, got %u x %u", im.w, im.h);
    CHECK(strcmp(im.title, "causal | global(3): N_q=40 N_k=40, block 8, 1 head") == 0, "Title chunk: '%s'",
          im.title);
    CHECK(count(&im, 0, 6 + 10, WHITE) > 100, "the title is drawn (white pixels in its band)");
    CHECK(count(&im, 32, 42, FULL) == 100 && count(&im, 32, 42, PARTIAL) == 100 &&
              count(&im, 32, 42, EMPTY) == 100,
          "the legend: one 10 x 10 swatch of each class");
    CHECK(count(&im, HEADER_H, HEADER_H + LABEL_H, WHITE) > 20, "'head 0' over the panel");
    uint32_t top = HEADER_H + LABEL_H, x0 = GAP;
    CHECK(is(&im, x0 + 50, top + 50, PARTIAL), "block (0, 0): partial (row 0 is global, masked)");
    CHECK(is(&im, x0 + 50, top + 102 + 50, FULL), "block (1, 0): full");
    CHECK(is(&im, x0 + 4 * 102 + 50, top + 102 + 50, EMPTY), "block (1, 4): empty");
    free(im.rgb);
    CHECK(spc_lut_write_png(lut, path, &err) == 0 && load(path, &im) == 0 &&
              strcmp(im.title, "N_q=40 N_k=40, block 8, 1 head") == 0,
          "untitled: the shape alone, '%s'", im.title);
    free(im.rgb);
    char long_title[400];
    memset(long_title, 'x', sizeof long_title - 1);
    long_title[sizeof long_title - 1] = '\0';
    CHECK(spc_lut_write_png_titled(lut, path, long_title, &err) == 0 && load(path, &im) == 0 &&
              strlen(im.title) == (518 - 12) / 6 && strcmp(im.title + strlen(im.title) - 3, "...") == 0,
          "a title too long for the picture is cut with '...' (%zu characters)", strlen(im.title));
    free(im.rgb);
    spc_lut_free(lut);
}

/* Four heads in a 2 x 2 grid: every panel has its label strip. */
static void four_heads(const char *work)
{
    char path[4200];
    image im;
    const char *spec = "heads(0-1: causal; 2-3: local(128))";
    spc_lut *lut = draw(work, "layout-four.png", spec, 1024, 64, 4, path, sizeof path, &im);
    if (!lut) return;
    uint32_t row_h = LABEL_H + 512 + GAP;
    CHECK(im.w == GAP + 2 * (512 + GAP) && im.h == HEADER_H + 2 * row_h, "1036 x 1108, got %u x %u", im.w,
          im.h);
    CHECK(count(&im, HEADER_H + row_h, HEADER_H + row_h + LABEL_H, WHITE) > 40, "labels over heads 2 and 3");
    /* head 1 (causal) is empty above the diagonal, head 3 (local) far from it */
    CHECK(is(&im, GAP + 516 + 500, HEADER_H + LABEL_H + 10, EMPTY), "head 1: block (0, 15) empty");
    CHECK(is(&im, GAP + 516 + 10, HEADER_H + row_h + LABEL_H + 10, FULL), "head 3: block (0, 0) full");
    free(im.rgb);
    spc_lut_free(lut);
}

int main(int argc, char **argv)
{
    test_args(argc, 1, "test_layout_png WORK_DIR");
    mkdir(argv[1], 0755);
    one_head(argv[1]);
    four_heads(argv[1]);
    return check_summary("layout_png");
}
