/* LUT file format v1 (binary, little-endian; byte layout in patterns/README.md) and JSON dump.
 * The reader treats files as untrusted: sizes are checked against the file length before any
 * allocation, the checksum is verified, and every offset and index is validated. */
#include "spc_internal.h"

#include <stdlib.h>
#include <string.h>

#define LUT_MAGIC "SCLLUT\x1a\n"
#define LUT_VERSION 1u
#define LUT_HEADER 64u
#define LUT_MAX_FILE ((uint64_t)1 << 36)

/* ---- writing ---- */

typedef struct writer {
    FILE *f;
    uint64_t hash;
    bool ok;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    if (!w->ok) return;
    w->hash = scl_fnv1a64(p, n, w->hash);
    if (fwrite(p, 1, n, w->f) != n) w->ok = false;
}

static void put_u32s(writer *w, const uint32_t *v, size_t n)
{
    uint8_t buf[4096];
    size_t k = 0;
    for (size_t e = 0; e < n; e++) {
        uint32_t x = v[e];
        buf[k++] = (uint8_t)x;
        buf[k++] = (uint8_t)(x >> 8);
        buf[k++] = (uint8_t)(x >> 16);
        buf[k++] = (uint8_t)(x >> 24);
        if (k == sizeof buf) {
            put(w, buf, k);
            k = 0;
        }
    }
    if (k) put(w, buf, k);
}

static void put_i32s(writer *w, const int32_t *v, size_t n)
{
    /* Two's complement int32 and uint32 share their byte image (and C lets one alias the other). */
    put_u32s(w, (const uint32_t *)v, n);
}

static void le64(uint8_t *p, uint64_t x)
{
    for (int k = 0; k < 8; k++)
        p[k] = (uint8_t)(x >> (8 * k));
}
static void le32(uint8_t *p, uint32_t x)
{
    for (int k = 0; k < 4; k++)
        p[k] = (uint8_t)(x >> (8 * k));
}

int spc_lut_write(const spc_lut *lut, const char *path, spc_error *err)
{
    if (err) err->message[0] = '\0';
    char *tmp;
    FILE *f = spc_atomic_open(path, &tmp, err);
    if (!f) return -1;
    uint8_t h[LUT_HEADER] = {0};
    memcpy(h, LUT_MAGIC, 8);
    le32(h + 8, LUT_VERSION);
    le32(h + 12, LUT_HEADER);
    le64(h + 16, (uint64_t)lut->n_q);
    le64(h + 24, (uint64_t)lut->n_k);
    le32(h + 32, (uint32_t)lut->block);
    le32(h + 36, (uint32_t)lut->heads);
    le32(h + 40, (uint32_t)lut->nb_q);
    le32(h + 44, (uint32_t)lut->nb_k);
    le32(h + 48, (uint32_t)lut->n_layouts);
    le32(h + 52, (uint32_t)lut->n_masks);
    le32(h + 56, (uint32_t)lut->mask_words);
    le32(h + 60, (uint32_t)lut->nnz);
    writer w = {f, SCL_FNV_OFFSET, true};
    size_t nnz = (size_t)lut->nnz, nl = (size_t)lut->n_layouts;
    put(&w, h, sizeof h);
    put_i32s(&w, lut->head_layout, (size_t)lut->heads);
    put_i32s(&w, lut->row_ptr, nl * ((size_t)lut->nb_q + 1));
    put_i32s(&w, lut->col_idx, nnz);
    put_i32s(&w, lut->row_mask, nnz);
    put_i32s(&w, lut->col_ptr, nl * ((size_t)lut->nb_k + 1));
    put_i32s(&w, lut->row_idx, nnz);
    put_i32s(&w, lut->col_mask, nnz);
    put_u32s(&w, lut->masks, (size_t)lut->n_masks * (size_t)lut->mask_words);
    uint8_t sum[8];
    le64(sum, w.hash);
    bool ok = w.ok && fwrite(sum, 1, 8, f) == 8;
    return spc_atomic_close(f, tmp, path, ok, err);
}

/* ---- reading ---- */

static uint64_t rd64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int k = 7; k >= 0; k--)
        x = x << 8 | p[k];
    return x;
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int32_t *read_i32s(const uint8_t **p, size_t n)
{
    int32_t *v = malloc(sizeof *v * (n ? n : 1));
    if (!v) return NULL;
    for (size_t e = 0; e < n; e++)
        v[e] = (int32_t)rd32(*p + 4 * e);
    *p += 4 * n;
    return v;
}

static bool is_tail(const spc_lut *l, int64_t r, int64_t c)
{
    return (r == l->nb_q - 1 && l->n_q % l->block) || (c == l->nb_k - 1 && l->n_k % l->block);
}

/* Mask bits outside the valid rows/cols of a tail block must be zero. */
static bool tail_bits_clear(const spc_lut *l, int32_t m, int64_t r, int64_t c)
{
    int64_t rows = l->n_q - r * l->block, cols = l->n_k - c * l->block;
    if (rows > l->block) rows = l->block;
    if (cols > l->block) cols = l->block;
    const uint32_t *w = l->masks + (size_t)m * l->mask_words;
    for (int64_t y = 0; y < l->block; y++)
        for (int64_t x = 0; x < l->block; x++) {
            int64_t bit = y * l->block + x;
            if ((y >= rows || x >= cols) && ((w[bit / 32] >> (bit % 32)) & 1u)) return false;
        }
    return true;
}

/* Structural checks of one CSR (ptr over n_rows, idx < n_cols strictly ascending per row). */
static const char *check_csr(const int32_t *ptr, int n_rows, const int32_t *idx, const int32_t *mask,
                             int n_cols, int32_t n_masks, int32_t base)
{
    if (ptr[0] != base) return "offsets do not start where the previous layout ended";
    for (int r = 0; r < n_rows; r++) {
        if (ptr[r + 1] < ptr[r]) return "offsets decrease";
        for (int32_t e = ptr[r]; e < ptr[r + 1]; e++) {
            if (idx[e] < 0 || idx[e] >= n_cols) return "block index out of range";
            if (e > ptr[r] && idx[e] <= idx[e - 1])
                return "block indices not strictly ascending within a row";
            if (mask[e] < -1 || mask[e] >= n_masks) return "mask id out of range";
        }
    }
    return NULL;
}

static int validate(const spc_lut *l, spc_error *err)
{
    for (int h = 0; h < l->heads; h++)
        if (l->head_layout[h] < 0 || l->head_layout[h] >= l->n_layouts) {
            spc_set_error(err, 0, "head_layout[%d] = %d is out of range", h, l->head_layout[h]);
            return -1;
        }
    int32_t base = 0;
    int32_t *cnt = calloc((size_t)l->nb_k + 1, sizeof *cnt);
    if (!cnt) {
        spc_set_error(err, 0, "out of memory");
        return -1;
    }
    int rc = -1;
    for (int L = 0; L < l->n_layouts; L++) {
        const int32_t *rp = l->row_ptr + (size_t)L * (l->nb_q + 1);
        const int32_t *cp = l->col_ptr + (size_t)L * (l->nb_k + 1);
        /* Offsets are checked against nnz before any entry is touched. */
        if (rp[l->nb_q] < base || rp[l->nb_q] > l->nnz || cp[0] != base || cp[l->nb_k] != rp[l->nb_q]) {
            spc_set_error(err, 0, "layout %d: offsets out of range", L);
            goto done;
        }
        for (int r = 0; r <= l->nb_q; r++)
            if (rp[r] < base || rp[r] > rp[l->nb_q]) {
                spc_set_error(err, 0, "layout %d: row offsets out of range", L);
                goto done;
            }
        for (int c = 0; c <= l->nb_k; c++)
            if (cp[c] < base || cp[c] > cp[l->nb_k]) {
                spc_set_error(err, 0, "layout %d: column offsets out of range", L);
                goto done;
            }
        const char *why = check_csr(rp, l->nb_q, l->col_idx, l->row_mask, l->nb_k, l->n_masks, base);
        if (why) {
            spc_set_error(err, 0, "layout %d, row LUT: %s", L, why);
            goto done;
        }
        why = check_csr(cp, l->nb_k, l->row_idx, l->col_mask, l->nb_q, l->n_masks, base);
        if (why) {
            spc_set_error(err, 0, "layout %d, column LUT: %s", L, why);
            goto done;
        }
        /* The column LUT must be the exact transpose: walk rows in order and consume each
         * column's entries in order (rows ascend within columns, so the orders agree). */
        for (int c = 0; c < l->nb_k; c++)
            cnt[c] = cp[c];
        for (int r = 0; r < l->nb_q; r++)
            for (int32_t e = rp[r]; e < rp[r + 1]; e++) {
                int32_t c = l->col_idx[e], at = cnt[c]++;
                if (at >= cp[c + 1] || l->row_idx[at] != r || l->col_mask[at] != l->row_mask[e]) {
                    spc_set_error(err, 0,
                                  "layout %d: column LUT is not the transpose of the row LUT (block %d,%d)",
                                  L, r, c);
                    goto done;
                }
                int32_t m = l->row_mask[e];
                if (is_tail(l, r, c) && (m < 0 || !tail_bits_clear(l, m, r, c))) {
                    spc_set_error(err, 0, "layout %d: tail block %d,%d has bits outside the sequence", L, r,
                                  c);
                    goto done;
                }
            }
        base = rp[l->nb_q];
    }
    if (base != l->nnz) {
        spc_set_error(err, 0, "layouts hold %d entries but the header says nnz = %lld", base,
                      (long long)l->nnz);
        goto done;
    }
    rc = 0;
done:
    free(cnt);
    return rc;
}

/* Prepend text to the message, truncating the old message if needed. */
static void prefix_error(spc_error *err, const char *pre)
{
    if (!err) return;
    size_t cap = sizeof err->message, pl = strlen(pre), ml = strlen(err->message);
    if (pl > cap - 1) pl = cap - 1;
    if (pl + ml > cap - 1) ml = cap - 1 - pl;
    memmove(err->message + pl, err->message, ml);
    memcpy(err->message, pre, pl);
    err->message[pl + ml] = '\0';
}

int spc_lut_read_mem(const void *buf, size_t len, spc_lut **out, spc_error *err)
{
    const uint8_t *b = buf;
    *out = NULL;
    spc_clear_error(err);
    if (len < 16 || memcmp(b, LUT_MAGIC, 8) != 0) {
        spc_set_error(err, 0, "not a sparsecl LUT file (bad magic)");
        return -1;
    }
    uint32_t version = rd32(b + 8);
    if (version != LUT_VERSION) {
        spc_set_error(err, 0, "unsupported LUT file version %u (this reader knows %u)", version, LUT_VERSION);
        return -1;
    }
    if (len < LUT_HEADER + 8) {
        spc_set_error(err, 0, "truncated LUT file (%zu bytes, the header alone needs %u)", len,
                      LUT_HEADER + 8);
        return -1;
    }
    if (rd32(b + 12) != LUT_HEADER) {
        spc_set_error(err, 0, "bad LUT header size %u", rd32(b + 12));
        return -1;
    }
    int64_t n_q = (int64_t)rd64(b + 16), n_k = (int64_t)rd64(b + 24);
    int32_t block = (int32_t)rd32(b + 32), heads = (int32_t)rd32(b + 36), nb_q = (int32_t)rd32(b + 40),
            nb_k = (int32_t)rd32(b + 44), nl = (int32_t)rd32(b + 48), n_masks = (int32_t)rd32(b + 52),
            mw = (int32_t)rd32(b + 56), nnz = (int32_t)rd32(b + 60);
    const char *bad = NULL;
    if (n_q < 1 || n_k < 1 || n_q > SPC_N_MAX || n_k > SPC_N_MAX)
        bad = "sequence lengths out of range";
    else if (block < 8 || block > 256 || (block & (block - 1)))
        bad = "block size is not a power of two in 8..256";
    else if (heads < 1 || heads > 65536)
        bad = "head count out of range";
    else if ((int64_t)nb_q != (n_q + block - 1) / block || (int64_t)nb_k != (n_k + block - 1) / block)
        bad = "block counts do not match the sequence lengths";
    else if (nb_q > (1 << 30) || nb_k > (1 << 30))
        bad = "too many blocks";
    else if (nl < 1 || nl > heads)
        bad = "layout count out of range";
    else if (mw != block * block / 32)
        bad = "mask word count does not match the block size";
    else if (n_masks < 0 || nnz < 0)
        bad = "negative counts";
    if (bad) {
        spc_set_error(err, 0, "invalid LUT header: %s", bad);
        return -1;
    }
    uint64_t words = (uint64_t)heads + (uint64_t)nl * ((uint64_t)nb_q + 1) +
                     (uint64_t)nl * ((uint64_t)nb_k + 1) + 4 * (uint64_t)nnz +
                     (uint64_t)n_masks * (uint64_t)mw;
    uint64_t need = LUT_HEADER + 4 * words + 8;
    if ((uint64_t)len < need) {
        spc_set_error(err, 0, "truncated LUT file: the header describes %llu bytes, the file has %zu",
                      (unsigned long long)need, len);
        return -1;
    }
    if ((uint64_t)len > need) {
        spc_set_error(err, 0, "LUT file has %llu unexpected trailing bytes",
                      (unsigned long long)(len - need));
        return -1;
    }
    /* Fuzz builds skip the checksum so the fuzzer can reach the structural checks behind it. */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (scl_fnv1a64(b, (size_t)need - 8, SCL_FNV_OFFSET) != rd64(b + need - 8)) {
#else
    if (false) {
#endif
        spc_set_error(err, 0, "LUT file checksum mismatch (the file is corrupt)");
        return -1;
    }
    spc_lut *l = calloc(1, sizeof *l);
    if (!l) {
        spc_set_error(err, 0, "out of memory");
        return -1;
    }
    l->n_q = n_q;
    l->n_k = n_k;
    l->block = block;
    l->heads = heads;
    l->nb_q = nb_q;
    l->nb_k = nb_k;
    l->n_layouts = nl;
    l->nnz = nnz;
    l->n_masks = n_masks;
    l->mask_words = mw;
    const uint8_t *p = b + LUT_HEADER;
    l->head_layout = read_i32s(&p, (size_t)heads);
    l->row_ptr = read_i32s(&p, (size_t)nl * ((size_t)nb_q + 1));
    l->col_idx = read_i32s(&p, (size_t)nnz);
    l->row_mask = read_i32s(&p, (size_t)nnz);
    l->col_ptr = read_i32s(&p, (size_t)nl * ((size_t)nb_k + 1));
    l->row_idx = read_i32s(&p, (size_t)nnz);
    l->col_mask = read_i32s(&p, (size_t)nnz);
    size_t nw = (size_t)n_masks * (size_t)mw;
    l->masks = malloc(sizeof *l->masks * (nw ? nw : 1));
    if (!l->head_layout || !l->row_ptr || !l->col_idx || !l->row_mask || !l->col_ptr || !l->row_idx ||
        !l->col_mask || !l->masks) {
        spc_lut_free(l);
        spc_set_error(err, 0, "out of memory");
        return -1;
    }
    for (size_t e = 0; e < nw; e++)
        l->masks[e] = rd32(p + 4 * e);
    if (validate(l, err) != 0) {
        prefix_error(err, "invalid LUT file: ");
        spc_lut_free(l);
        return -1;
    }
    *out = l;
    return 0;
}

int spc_lut_read(const char *path, spc_lut **out, spc_error *err)
{
    *out = NULL;
    unsigned char *buf;
    size_t n;
    char msg[512];
    if (scl_read_file(path, LUT_MAX_FILE, &buf, &n, msg, sizeof msg) != 0) {
        spc_set_error(err, 0, "LUT file: %s", msg);
        return -1;
    }
    int rc = spc_lut_read_mem(buf, n, out, err);
    free(buf);
    if (rc != 0) {
        /* -> "LUT file 'path': message" */
        prefix_error(err, "': ");
        prefix_error(err, path);
        prefix_error(err, "LUT file '");
    }
    return rc;
}

/* ---- JSON dump ---- */

static void json_i32s(FILE *f, const char *name, const int32_t *v, size_t n, bool last)
{
    fprintf(f, "  \"%s\": [", name);
    for (size_t e = 0; e < n; e++)
        fprintf(f, e ? ",%d" : "%d", v[e]);
    fprintf(f, "]%s\n", last ? "" : ",");
}

int spc_lut_write_json(const spc_lut *lut, const char *path, spc_error *err)
{
    if (err) err->message[0] = '\0';
    char *tmp;
    FILE *f = spc_atomic_open(path, &tmp, err);
    if (!f) return -1;
    size_t nnz = (size_t)lut->nnz, nl = (size_t)lut->n_layouts;
    fprintf(f,
            "{\n  \"format\": \"sparsecl-lut\",\n  \"version\": %u,\n  \"n_q\": %lld,\n  \"n_k\": %lld,\n"
            "  \"block\": %d,\n  \"heads\": %d,\n  \"nb_q\": %d,\n  \"nb_k\": %d,\n  \"n_layouts\": %d,\n"
            "  \"nnz\": %lld,\n  \"n_masks\": %d,\n  \"mask_words\": %d,\n",
            LUT_VERSION, (long long)lut->n_q, (long long)lut->n_k, lut->block, lut->heads, lut->nb_q,
            lut->nb_k, lut->n_layouts, (long long)lut->nnz, lut->n_masks, lut->mask_words);
    json_i32s(f, "head_layout", lut->head_layout, (size_t)lut->heads, false);
    json_i32s(f, "row_ptr", lut->row_ptr, nl * ((size_t)lut->nb_q + 1), false);
    json_i32s(f, "col_idx", lut->col_idx, nnz, false);
    json_i32s(f, "row_mask", lut->row_mask, nnz, false);
    json_i32s(f, "col_ptr", lut->col_ptr, nl * ((size_t)lut->nb_k + 1), false);
    json_i32s(f, "row_idx", lut->row_idx, nnz, false);
    json_i32s(f, "col_mask", lut->col_mask, nnz, false);
    fprintf(f, "  \"masks\": [");
    for (int32_t m = 0; m < lut->n_masks; m++) {
        fprintf(f, m ? ",\n    [" : "\n    [");
        for (int32_t w = 0; w < lut->mask_words; w++)
            fprintf(f, w ? ",%u" : "%u", (unsigned)lut->masks[(size_t)m * lut->mask_words + w]);
        fprintf(f, "]");
    }
    fprintf(f, "%s]\n}\n", lut->n_masks ? "\n  " : "");
    bool ok = !ferror(f);
    return spc_atomic_close(f, tmp, path, ok, err);
}
