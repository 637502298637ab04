/* PNG picture of the block layout: a title (the spec and the shape), a legend of the three block
 * classes with their counts, then one labelled panel per head in a grid; blocks are scaled up so
 * small layouts are visible (and pooled when layouts are huge). libpng draws no text, so the
 * letters come from a 6x10 bitmap font (font6x10.h, generated from X11's public-domain misc-fixed
 * font by scripts/gen_font.py). */
#include "spc_internal.h"

#ifdef SCL_HAVE_PNG
#include "font6x10.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PANEL_TARGET 512 /* aim for panels about this many pixels wide */
#define PANEL_MAX 2048   /* pool blocks above this */
#define GAP 4
#define PAD 6
#define MIN_WIDTH 360 /* room for the title and the legend above narrow layouts */
#define LABEL_H (SPC_FONT_H + 4)

static const uint8_t COLOURS[3][3] = {
    {245, 245, 245}, /* empty */
    {31, 119, 180},  /* full */
    {255, 127, 14},  /* partial */
};
static const uint8_t BACKGROUND[3] = {90, 90, 90};
static const uint8_t TEXT[3] = {255, 255, 255};

/* The picture's geometry and its text. */
typedef struct png_geom {
    int pool, scale, pw, ph, grid_cols, grid_rows, title_scale, header_h;
    uint32_t width, height;
    char title[512], legend[3][64];
} png_geom;

typedef struct png_job {
    FILE *f;
    png_structp png;
    png_infop info;
    uint8_t *row, *strip; /* one pixel row; a band of rows (header, head labels) */
    uint8_t *cls;         /* class of one block row, per head: [grid_cols][nb_k] */
} png_job;

static void fill(uint8_t *px, size_t n, const uint8_t rgb[3])
{
    for (size_t i = 0; i < n; i++)
        memcpy(px + 3 * i, rgb, 3);
}

/* Text into a band of rows `width` pixels wide and `rows` high, clipped; returns its width. */
static int draw_text(uint8_t *band, uint32_t width, int rows, int x, int y, const char *s, int scale)
{
    int x0 = x;
    for (; *s; s++, x += SPC_FONT_W * scale) {
        unsigned c = (unsigned char)*s;
        const uint8_t *g = SPC_FONT[(c < SPC_FONT_FIRST || c > SPC_FONT_LAST ? '?' : c) - SPC_FONT_FIRST];
        for (int gy = 0; gy < SPC_FONT_H * scale; gy++)
            for (int gx = 0; gx < SPC_FONT_W * scale; gx++) {
                int px = x + gx, py = y + gy;
                if (px < 0 || py < 0 || (uint32_t)px >= width || py >= rows) continue;
                if (g[gy / scale] >> (SPC_FONT_W - 1 - gx / scale) & 1)
                    memcpy(band + 3 * ((size_t)py * width + px), TEXT, 3);
            }
    }
    return x - x0;
}

static int text_width(const char *s, int scale)
{
    return (int)strlen(s) * SPC_FONT_W * scale;
}

/* The header band: the title, then the legend's three swatches and labels. */
static void draw_header(const png_geom *g, uint8_t *band)
{
    fill(band, (size_t)g->width * g->header_h, BACKGROUND);
    draw_text(band, g->width, g->header_h, PAD, PAD, g->title, g->title_scale);
    int y = g->header_h - PAD - SPC_FONT_H, x = PAD; /* the legend's row, whatever the title's size */
    static const int order[3] = {SPC_FULL, SPC_PARTIAL, SPC_EMPTY};
    for (int k = 0; k < 3; k++) {
        for (int sy = 0; sy < SPC_FONT_H; sy++)
            fill(band + 3 * ((size_t)(y + sy) * g->width + x), SPC_FONT_H, COLOURS[order[k]]);
        x += SPC_FONT_H + 4;
        x += draw_text(band, g->width, g->header_h, x, y, g->legend[k], 1) + 3 * SPC_FONT_W;
    }
}

/* The label band above one grid row: "head H" (or "H" when the panel is narrow) over each panel. */
static void draw_labels(const png_geom *g, const spc_lut *lut, int gr, uint8_t *band)
{
    fill(band, (size_t)g->width * LABEL_H, BACKGROUND);
    for (int gc = 0; gc < g->grid_cols; gc++) {
        int h = gr * g->grid_cols + gc;
        if (h >= lut->heads) break;
        char lab[32];
        snprintf(lab, sizeof lab, "head %d", h);
        if (text_width(lab, 1) > g->pw) snprintf(lab, sizeof lab, "%d", h);
        draw_text(band, g->width, LABEL_H, GAP + gc * (g->pw + GAP), 2, lab, 1);
    }
}

/* One pixel row of the panels of grid row gr (y within the panel) into j->row; j->cls holds the
 * classes of the block row it shows. */
static void panel_row(const png_geom *g, const spc_lut *lut, png_job *j, int gr, int y)
{
    size_t nbk = (size_t)lut->nb_k;
    if (y % g->scale == 0) {
        int br0 = y / g->scale * g->pool; /* first block row pooled into this pixel row */
        memset(j->cls, 0, nbk * (size_t)g->grid_cols);
        for (int gc = 0; gc < g->grid_cols; gc++) {
            int h = gr * g->grid_cols + gc;
            if (h >= lut->heads) break;
            const int32_t *rp = lut->row_ptr + (size_t)lut->head_layout[h] * (lut->nb_q + 1);
            uint8_t *dst = j->cls + nbk * (size_t)gc;
            for (int br = br0; br < br0 + g->pool && br < lut->nb_q; br++)
                for (int32_t e = rp[br]; e < rp[br + 1]; e++) {
                    uint8_t c = lut->row_mask[e] < 0 ? SPC_FULL : SPC_PARTIAL;
                    if (c > dst[lut->col_idx[e]]) dst[lut->col_idx[e]] = c; /* partial wins */
                }
        }
    }
    fill(j->row, g->width, BACKGROUND);
    for (int gc = 0; gc < g->grid_cols; gc++) {
        int h = gr * g->grid_cols + gc;
        if (h >= lut->heads) break;
        const uint8_t *src = j->cls + nbk * (size_t)gc;
        uint8_t *px = j->row + 3 * (size_t)(GAP + gc * (g->pw + GAP));
        for (int x = 0; x < g->pw; x++) {
            int bc0 = x / g->scale * g->pool;
            uint8_t c = 0;
            for (int bc = bc0; bc < bc0 + g->pool && bc < lut->nb_k; bc++)
                if (src[bc] > c) c = src[bc];
            memcpy(px + 3 * x, COLOURS[c], 3);
        }
    }
}

/* Write rows inside its own function so setjmp's caller holds no modified locals. */
static int write_png(png_job *j, const spc_lut *lut, const png_geom *g)
{
    if (setjmp(png_jmpbuf(j->png))) return -1;
    png_init_io(j->png, j->f);
    png_set_IHDR(j->png, j->info, g->width, g->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    char key[] = "Title";
    png_text meta = {.compression = PNG_TEXT_COMPRESSION_NONE, .key = key, .text = (char *)g->title};
    png_set_text(j->png, j->info, &meta, 1);
    png_write_info(j->png, j->info);
    draw_header(g, j->strip);
    for (int y = 0; y < g->header_h; y++)
        png_write_row(j->png, j->strip + 3 * (size_t)y * g->width);
    for (int gr = 0; gr < g->grid_rows; gr++) {
        draw_labels(g, lut, gr, j->strip);
        for (int y = 0; y < LABEL_H; y++)
            png_write_row(j->png, j->strip + 3 * (size_t)y * g->width);
        for (int y = 0; y < g->ph; y++) {
            panel_row(g, lut, j, gr, y);
            png_write_row(j->png, j->row);
        }
        fill(j->row, g->width, BACKGROUND);
        for (int k = 0; k < GAP; k++)
            png_write_row(j->png, j->row);
    }
    png_write_end(j->png, NULL);
    return 0;
}

/* Full, partial and empty blocks over all heads, into the legend's labels. */
static void legend(const spc_lut *lut, png_geom *g)
{
    int64_t full = 0, nnz = 0;
    for (int h = 0; h < lut->heads; h++) {
        const int32_t *rp = lut->row_ptr + (size_t)lut->head_layout[h] * (lut->nb_q + 1);
        for (int32_t e = rp[0]; e < rp[lut->nb_q]; e++)
            full += lut->row_mask[e] < 0;
        nnz += rp[lut->nb_q] - rp[0];
    }
    int64_t all = (int64_t)lut->heads * lut->nb_q * lut->nb_k;
    snprintf(g->legend[0], sizeof g->legend[0], "full %lld", (long long)full);
    snprintf(g->legend[1], sizeof g->legend[1], "partial %lld", (long long)(nnz - full));
    snprintf(g->legend[2], sizeof g->legend[2], "empty %lld", (long long)(all - nnz));
}

/* The geometry; -1 when the picture would be too large. */
static int geometry(const spc_lut *lut, const char *title, png_geom *g, spc_error *err)
{
    memset(g, 0, sizeof *g);
    int nb = lut->nb_q > lut->nb_k ? lut->nb_q : lut->nb_k;
    g->pool = (nb + PANEL_MAX - 1) / PANEL_MAX;
    g->scale = g->pool > 1 ? 1 : (PANEL_TARGET / nb > 1 ? PANEL_TARGET / nb : 1);
    g->pw = (lut->nb_k + g->pool - 1) / g->pool * g->scale;
    g->ph = (lut->nb_q + g->pool - 1) / g->pool * g->scale;
    g->grid_cols = 1;
    while (g->grid_cols * g->grid_cols < lut->heads)
        g->grid_cols++;
    g->grid_rows = (lut->heads + g->grid_cols - 1) / g->grid_cols;
    double w = GAP + (double)g->grid_cols * (g->pw + GAP);
    if (w < MIN_WIDTH) w = MIN_WIDTH;
    g->title_scale = 2;
    g->header_h = PAD + SPC_FONT_H * 2 + PAD + SPC_FONT_H + PAD;
    double h = g->header_h + (double)g->grid_rows * (LABEL_H + g->ph + GAP);
    if (w * h > 4e8) return spc_set_error(err, 0, "PNG would be %.0f x %.0f pixels; too large", w, h), -1;
    g->width = (uint32_t)w, g->height = (uint32_t)h;
    snprintf(g->title, sizeof g->title, "%s%sN_q=%lld N_k=%lld, block %d, %d head%s", title ? title : "",
             title ? ": " : "", (long long)lut->n_q, (long long)lut->n_k, lut->block, lut->heads,
             lut->heads == 1 ? "" : "s");
    /* the title at twice the font size where it fits, else once, else cut with "..." */
    size_t fit = (g->width - 2 * PAD) / SPC_FONT_W;
    if ((size_t)text_width(g->title, 2) > g->width - 2 * PAD) g->title_scale = 1;
    if (strlen(g->title) > fit && fit > 3) memcpy(g->title + fit - 3, "...", 4);
    legend(lut, g);
    return 0;
}

int spc_lut_write_png_titled(const spc_lut *lut, const char *path, const char *title, spc_error *err)
{
    if (err) err->message[0] = '\0';
    png_geom g;
    if (geometry(lut, title, &g, err) != 0) return -1;
    char *tmp;
    png_job j = {0};
    j.f = spc_atomic_open(path, &tmp, err);
    if (!j.f) return -1;
    j.row = malloc((size_t)g.width * 3);
    j.strip = malloc((size_t)g.width * 3 * (g.header_h > LABEL_H ? g.header_h : LABEL_H));
    j.cls = malloc((size_t)lut->nb_k * (size_t)g.grid_cols);
    j.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    j.info = j.png ? png_create_info_struct(j.png) : NULL;
    int rc = -1;
    if (j.row && j.strip && j.cls && j.info) rc = write_png(&j, lut, &g);
    if (j.png) png_destroy_write_struct(&j.png, j.info ? &j.info : NULL);
    free(j.row);
    free(j.strip);
    free(j.cls);
    if (rc != 0) spc_set_error(err, 0, "cannot write PNG '%s'", path);
    return spc_atomic_close(j.f, tmp, path, rc == 0, err);
}

#else
/* Built without libpng (it was not found at configure time): say so instead of writing nothing. */
int spc_lut_write_png_titled(const spc_lut *lut, const char *path, const char *title, spc_error *err)
{
    (void)lut;
    (void)title;
    snprintf(err->message, sizeof err->message,
             "cannot write %s: sparsecl was built without libpng (install libpng-dev and rebuild)", path);
    err->column = 0;
    return -1;
}
#endif

int spc_lut_write_png(const spc_lut *lut, const char *path, spc_error *err)
{
    return spc_lut_write_png_titled(lut, path, NULL, err);
}
