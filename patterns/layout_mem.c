/* Block layouts held in memory (scl_pattern_create_layout): the layout(path.npy) primitive fed from
 * the caller's arrays instead of a file, optionally with element masks per block (what a
 * FlexAttention BlockMask's partial blocks carry). The parse node keeps a copy; binding hands
 * bind_layout the same u8 array a file would give, so shapes and heads are checked by the same
 * code with the same messages, then copies the masks into the bound node. */
#include "scl_npy.h"
#include "spc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEM_MAX_HEADS 65536
/* Largest layout accepted: 2^36 blocks (64 GiB of bytes); N <= 2^40 at block >= 8 stays below. */
#define MEM_MAX_BLOCKS ((int64_t)1 << 36)

void spc_memlayout_free(spc_memlayout *m)
{
    if (!m) return;
    free(m->lay);
    free(m->mask_id);
    free(m->masks);
    free(m);
}

static bool is_pow2_block(int b)
{
    return b >= 8 && b <= 256 && (b & (b - 1)) == 0;
}

int spc_pattern_from_layout(const uint8_t *layout, int heads, int64_t nb_q, int64_t nb_k, int block,
                            const int32_t *mask_ids, const uint32_t *masks, int32_t n_masks,
                            spc_pattern **out, spc_error *err)
{
    spc_clear_error(err);
    if (!out) {
        spc_set_error(err, 0, "layout: out is NULL");
        return -1;
    }
    *out = NULL;
    if (!layout) {
        spc_set_error(err, 0, "layout: the layout array is NULL");
        return -1;
    }
    if (heads < 1 || heads > MEM_MAX_HEADS) {
        spc_set_error(err, 0, "layout: heads = %d is out of range (1..%d)", heads, MEM_MAX_HEADS);
        return -1;
    }
    if (nb_q < 1 || nb_k < 1 || nb_q > MEM_MAX_BLOCKS || nb_k > MEM_MAX_BLOCKS ||
        nb_q > MEM_MAX_BLOCKS / nb_k || nb_q * nb_k > MEM_MAX_BLOCKS / heads) {
        spc_set_error(err, 0, "layout: shape [%d, %lld, %lld] is empty or too large (at most 2^36 blocks)",
                      heads, (long long)nb_q, (long long)nb_k);
        return -1;
    }
    if (!is_pow2_block(block)) {
        spc_set_error(err, 0, "layout: block %d is not a power of two from 8 to 256", block);
        return -1;
    }
    int32_t words = block * block / 32;
    if (n_masks < 0 || (n_masks > 0 && !masks) || (n_masks > 0 && !mask_ids)) {
        spc_set_error(err, 0, "layout: %s",
                      n_masks < 0 ? "n_masks is negative"
                      : !masks    ? "n_masks > 0 but the masks array is NULL"
                                  : "masks given without mask_ids to say which block uses which");
        return -1;
    }
    if ((int64_t)n_masks > ((int64_t)1 << 34) / words) {
        spc_set_error(err, 0, "layout: %d masks of %d words is too many", n_masks, words);
        return -1;
    }
    int64_t count = (int64_t)heads * nb_q * nb_k;
    if (mask_ids)
        for (int64_t e = 0; e < count; e++)
            if (mask_ids[e] < -1 || mask_ids[e] >= n_masks) {
                int64_t h = e / (nb_q * nb_k), r = e / nb_k % nb_q, c = e % nb_k;
                spc_set_error(err, 0, "layout: mask id %d of block [%lld, %lld, %lld] is outside [-1, %d)",
                              mask_ids[e], (long long)h, (long long)r, (long long)c, n_masks);
                return -1;
            }

    spc_pattern *p = calloc(1, sizeof *p);
    spc_node *n = p ? calloc(1, sizeof *n) : NULL;
    spc_memlayout *m = n ? calloc(1, sizeof *m) : NULL;
    char desc[160];
    if (n_masks > 0 || mask_ids)
        snprintf(desc, sizeof desc, "<memory [%d, %lld, %lld] at block %d, %d element mask%s>", heads,
                 (long long)nb_q, (long long)nb_k, block, n_masks, n_masks == 1 ? "" : "s");
    else
        snprintf(desc, sizeof desc, "<memory [%d, %lld, %lld] at block %d>", heads, (long long)nb_q,
                 (long long)nb_k, block);
    size_t dl = strlen(desc);
    if (m) {
        *m = (spc_memlayout){.heads = heads, .block = block, .nb_q = nb_q, .nb_k = nb_k, .n_masks = n_masks,
                             .mask_words = words};
        m->lay = malloc((size_t)count);
        if (mask_ids) m->mask_id = malloc(sizeof *m->mask_id * (size_t)count);
        if (n_masks > 0) m->masks = malloc(sizeof *m->masks * (size_t)n_masks * (size_t)words);
        n->path = malloc(dl + 1);
        p->text = malloc(dl + 9);
    }
    if (!m || !m->lay || (mask_ids && !m->mask_id) || (n_masks > 0 && !m->masks) || !n->path || !p->text) {
        spc_memlayout_free(m);
        if (n) free(n->path);
        free(n);
        if (p) free(p->text);
        free(p);
        spc_set_error(err, 0, "layout: out of memory");
        return -1;
    }
    for (int64_t e = 0; e < count; e++)
        m->lay[e] = layout[e] != 0;
    if (mask_ids) memcpy(m->mask_id, mask_ids, sizeof *m->mask_id * (size_t)count);
    if (n_masks > 0) memcpy(m->masks, masks, sizeof *m->masks * (size_t)n_masks * (size_t)words);
    memcpy(n->path, desc, dl + 1);
    snprintf(p->text, dl + 9, "layout(%s)", desc);
    n->kind = K_LAYOUT;
    n->column = 0; /* not from spec text: errors carry no column */
    n->mem = m;
    p->root = n;
    *out = p;
    return 0;
}

int spc_memlayout_array(const spc_memlayout *m, int geometry_block, npy_array *out, char *msg, size_t len)
{
    memset(out, 0, sizeof *out);
    if (geometry_block != m->block) {
        snprintf(msg, len, "the layout is made for block %d, the plan uses block %d", m->block,
                 geometry_block);
        return -1;
    }
    int64_t count = (int64_t)m->heads * m->nb_q * m->nb_k;
    out->data = malloc((size_t)count);
    if (!out->data) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    memcpy(out->data, m->lay, (size_t)count);
    out->dtype = NPY_U8;
    out->ndim = 3;
    out->shape[0] = m->heads;
    out->shape[1] = m->nb_q;
    out->shape[2] = m->nb_k;
    out->count = count;
    out->itemsize = 1;
    return 0;
}

static bool mask_bit(const uint32_t *mask, int64_t bit)
{
    return (mask[bit / 32] >> (bit % 32)) & 1u;
}

int spc_memlayout_bind_masks(const spc_memlayout *m, bnode *n, spc_error *err, int column)
{
    if (!m->mask_id) return 0;
    int64_t count = (int64_t)m->heads * m->nb_q * m->nb_k, bits = (int64_t)m->block * m->block;
    n->lay_mid = malloc(sizeof *n->lay_mid * (size_t)count);
    n->lay_masks = malloc(sizeof *n->lay_masks * ((size_t)m->n_masks * (size_t)m->mask_words + 1));
    n->lay_mclass = malloc((size_t)m->n_masks + 1);
    if (!n->lay_mid || !n->lay_masks || !n->lay_mclass) {
        spc_set_error(err, column, "out of memory");
        return -1; /* the caller frees the node and what was allocated */
    }
    memcpy(n->lay_mid, m->mask_id, sizeof *n->lay_mid * (size_t)count);
    if (m->n_masks > 0)
        memcpy(n->lay_masks, m->masks, sizeof *n->lay_masks * (size_t)m->n_masks * m->mask_words);
    for (int32_t k = 0; k < m->n_masks; k++) {
        const uint32_t *mk = n->lay_masks + (size_t)k * m->mask_words;
        int64_t on = 0;
        for (int64_t t = 0; t < bits; t++)
            on += mask_bit(mk, t);
        n->lay_mclass[k] = on == 0 ? SPC_EMPTY : on == bits ? SPC_FULL : SPC_PARTIAL;
    }
    return 0;
}

bool spc_layout_mask_allowed(const spc_bound *b, const bnode *n, int64_t e, int64_t i, int64_t j)
{
    int32_t mid = n->lay_mid[e];
    if (mid < 0) return true;
    int64_t B = b->g.block, words = B * B / 32;
    return mask_bit(n->lay_masks + (size_t)mid * (size_t)words, (i % B) * B + j % B);
}

/* Classes over a rectangle of one layout block: *any when some element is allowed, *all when
 * every one is. Whole blocks use the precomputed class; parts (tails, mapped runs) are scanned. */
static void block_part(const spc_bound *b, const bnode *n, int64_t e, int64_t y0, int64_t y1, int64_t x0,
                       int64_t x1, bool *any, bool *all)
{
    int64_t B = b->g.block;
    if (!n->lay[e]) {
        *all = false;
        return;
    }
    int32_t mid = n->lay_mid[e];
    if (mid < 0) {
        *any = true;
        return;
    }
    if (y0 == 0 && x0 == 0 && y1 == B - 1 && x1 == B - 1) {
        int c = n->lay_mclass[mid];
        if (c != SPC_EMPTY) *any = true;
        if (c != SPC_FULL) *all = false;
        return;
    }
    const uint32_t *mk = n->lay_masks + (size_t)mid * (size_t)(B * B / 32);
    for (int64_t y = y0; y <= y1; y++)
        for (int64_t x = x0; x <= x1; x++) {
            if (mask_bit(mk, y * B + x))
                *any = true;
            else
                *all = false;
            if (*any && !*all) return;
        }
}

int spc_layout_mask_eval(const spc_bound *b, const bnode *n, int head, int64_t i0, int64_t i1, int64_t j0,
                         int64_t j1, spc_i64vec *key)
{
    int64_t B = b->g.block;
    int64_t h = n->lay_heads > 1 ? head - n->head_base : 0;
    if (h < 0 || h >= n->lay_heads) return SPC_EMPTY;
    int64_t r0 = i0 / B, r1 = i1 / B, c0 = j0 / B, c1 = j1 / B;
    if ((r1 - r0 + 1) * (c1 - c0 + 1) <= 64) {
        bool any = false, all = true;
        for (int64_t r = r0; r <= r1; r++)
            for (int64_t c = c0; c <= c1; c++) {
                int64_t y0 = r == r0 ? i0 - r * B : 0, y1 = r == r1 ? i1 - r * B : B - 1;
                int64_t x0 = c == c0 ? j0 - c * B : 0, x1 = c == c1 ? j1 - c * B : B - 1;
                block_part(b, n, (h * b->nb_q + r) * b->nb_k + c, y0, y1, x0, x1, &any, &all);
            }
        if (!any) return SPC_EMPTY;
        if (all) return SPC_FULL;
        if (r0 == r1 && c0 == c1) { /* one mask at one offset: equal keys, equal element masks */
            int32_t mid = n->lay_mid[(h * b->nb_q + r0) * b->nb_k + c0];
            if (!spc_i64_push(key, n->id) || !spc_i64_push(key, 1) || !spc_i64_push(key, mid) ||
                !spc_i64_push(key, i0 - r0 * B) || !spc_i64_push(key, j0 - c0 * B) ||
                !spc_i64_push(key, i1 - i0) || !spc_i64_push(key, j1 - j0))
                return -1;
            return SPC_PARTIAL;
        }
    }
    /* Rectangles over several layout blocks: the position makes the key exact. */
    if (!spc_i64_push(key, n->id) || !spc_i64_push(key, 0) || !spc_i64_push(key, head) ||
        !spc_i64_push(key, i0) || !spc_i64_push(key, j0) || !spc_i64_push(key, i1) || !spc_i64_push(key, j1))
        return -1;
    return SPC_PARTIAL;
}
