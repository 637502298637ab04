/* Compiler: bound pattern -> block layouts -> row/column CSR + deduplicated partial-block masks.
 * Work is per candidate block (see classify.c); elements are evaluated only the first time a mask
 * key appears, so cost scales with non-empty blocks and unique masks rather than n_q * n_k. */
#include "spc_internal.h"

#include <stdlib.h>
#include <string.h>

/* Mask id sentinels inside the key table. */
enum { M_FULL = -1, M_EMPTY = -2 };

typedef struct i32vec {
    int32_t *v;
    size_t n, cap;
} i32vec;

SPC_DEFINE_PUSH(static, i32_push, i32vec, int32_t, 256)

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static uint64_t hash_words(const void *p, size_t bytes)
{
    return mix64(scl_fnv1a64(p, bytes, SCL_FNV_OFFSET));
}

/* key (int64 tuple) -> mask id (or M_FULL / M_EMPTY); open addressing, keys in one arena. */
typedef struct keytab {
    size_t *slot_off; /* arena offset + 1; 0 = empty slot */
    uint32_t *slot_len;
    int32_t *slot_val;
    size_t cap, n;
    spc_i64vec arena;
} keytab;

/* Unique masks with content lookup. */
typedef struct masktab {
    uint32_t *masks;
    int32_t n, cap, words;
    int32_t *slot; /* mask id + 1; 0 = empty */
    size_t scap;
} masktab;

static bool keytab_grow(keytab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    size_t *off = calloc(cap, sizeof *off);
    uint32_t *len = malloc(cap * sizeof *len);
    int32_t *val = malloc(cap * sizeof *val);
    if (!off || !len || !val) {
        free(off);
        free(len);
        free(val);
        return false;
    }
    for (size_t s = 0; s < t->cap; s++) {
        if (!t->slot_off[s]) continue;
        const int64_t *k = t->arena.v + t->slot_off[s] - 1;
        size_t at = hash_words(k, t->slot_len[s] * sizeof *k) & (cap - 1);
        while (off[at])
            at = (at + 1) & (cap - 1);
        off[at] = t->slot_off[s];
        len[at] = t->slot_len[s];
        val[at] = t->slot_val[s];
    }
    free(t->slot_off);
    free(t->slot_len);
    free(t->slot_val);
    t->slot_off = off;
    t->slot_len = len;
    t->slot_val = val;
    t->cap = cap;
    return true;
}

/* Returns the slot for key (found or empty), or SIZE_MAX when out of memory. */
static size_t keytab_find(keytab *t, const int64_t *k, size_t n)
{
    if (2 * (t->n + 1) > t->cap && !keytab_grow(t)) return SIZE_MAX;
    size_t at = hash_words(k, n * sizeof *k) & (t->cap - 1);
    while (t->slot_off[at]) {
        if (t->slot_len[at] == n && memcmp(t->arena.v + t->slot_off[at] - 1, k, n * sizeof *k) == 0)
            return at;
        at = (at + 1) & (t->cap - 1);
    }
    return at;
}

static bool keytab_insert(keytab *t, size_t at, const int64_t *k, size_t n, int32_t val)
{
    size_t off = t->arena.n;
    for (size_t e = 0; e < n; e++)
        if (!spc_i64_push(&t->arena, k[e])) return false;
    t->slot_off[at] = off + 1;
    t->slot_len[at] = (uint32_t)n;
    t->slot_val[at] = val;
    t->n++;
    return true;
}

static void keytab_free(keytab *t)
{
    free(t->slot_off);
    free(t->slot_len);
    free(t->slot_val);
    free(t->arena.v);
}

/* Id of mask m (adding it if new), or -1 when out of memory. */
static int32_t masktab_add(masktab *t, const uint32_t *m)
{
    size_t bytes = (size_t)t->words * sizeof *m;
    if (2 * ((size_t)t->n + 1) > t->scap) {
        size_t cap = t->scap ? t->scap * 2 : 256;
        int32_t *slot = calloc(cap, sizeof *slot);
        if (!slot) return -1;
        for (int32_t id = 0; id < t->n; id++) {
            size_t at = hash_words(t->masks + (size_t)id * t->words, bytes) & (cap - 1);
            while (slot[at])
                at = (at + 1) & (cap - 1);
            slot[at] = id + 1;
        }
        free(t->slot);
        t->slot = slot;
        t->scap = cap;
    }
    size_t at = hash_words(m, bytes) & (t->scap - 1);
    while (t->slot[at]) {
        if (memcmp(t->masks + (size_t)(t->slot[at] - 1) * t->words, m, bytes) == 0) return t->slot[at] - 1;
        at = (at + 1) & (t->scap - 1);
    }
    if (t->n == INT32_MAX) return -1;
    if (t->n == t->cap) {
        int32_t cap = t->cap ? (t->cap > INT32_MAX / 2 ? INT32_MAX : t->cap * 2) : 64;
        uint32_t *nm = realloc(t->masks, (size_t)cap * bytes);
        if (!nm) return -1;
        t->masks = nm;
        t->cap = cap;
    }
    memcpy(t->masks + (size_t)t->n * t->words, m, bytes);
    t->slot[at] = t->n + 1;
    return t->n++;
}

/* One compiled layout: local row_ptr and entries. */
typedef struct layout {
    int32_t *row_ptr; /* [nb_q + 1], from 0 */
    i32vec cols, mids;
} layout;

static void layout_free(layout *l)
{
    free(l->row_ptr);
    free(l->cols.v);
    free(l->mids.v);
}

typedef struct compiler {
    const spc_bound *b;
    const spc_space *sp; /* the (possibly mapped) space compiled over */
    int nb_q, nb_k;      /* blocks of that space */
    keytab keys;
    masktab masks;
    uint32_t *scratch; /* one mask */
    spc_i64vec key, cand, rruns, cruns;
    bool diff_inv; /* the predicate depends on i - j only (see diff_key) */
    spc_error *err;
} compiler;

/* Does the predicate depend on i - j only? Then a block's mask is fixed by the offsets of its
 * rows and columns relative to one of them, whatever the map (diff_key). */
static bool diff_invariant(const bnode *n)
{
    switch (n->kind) {
    case K_DENSE:
    case K_CAUSAL:
    case K_LOCAL:
    case K_STRIDED:
    case K_DILATED:
        return true;
    case K_AND:
    case K_OR:
        return diff_invariant(n->a) && diff_invariant(n->b);
    case K_NOT:
        return diff_invariant(n->a);
    default:
        return false;
    }
}

/* Key of a multi-run block under a difference-invariant predicate: every row's and column's
 * original index relative to the first row's, INT64_MIN where the block has no position. Equal
 * keys give equal matrices of i - j, hence equal masks: a permuted space's diagonal blocks all
 * share one key, so their masks are evaluated once. */
static bool diff_key(compiler *cc, const int32_t *rmap, int64_t i0, int64_t i1, const int32_t *cmap,
                     int64_t j0, int64_t j1)
{
    int64_t B = cc->b->g.block, ref = INT64_MIN;
    cc->key.n = 0;
    if (!spc_i64_push(&cc->key, -7)) return false; /* never the first value of a run key */
    for (int side = 0; side < 2; side++) {
        const int32_t *map = side ? cmap : rmap;
        int64_t p0 = side ? j0 : i0, p1 = side ? j1 : i1;
        for (int64_t p = p0; p < p0 + B; p++) {
            int64_t t = p > p1 ? -1 : map ? map[p] : p;
            if (t >= 0 && ref == INT64_MIN) ref = t;
            if (!spc_i64_push(&cc->key, t < 0 ? INT64_MIN : t - ref)) return false;
        }
    }
    return true;
}

/* Maximal runs of one block's valid positions [p0, p1] of the space whose original indices are
 * consecutive, as (offset in the block, original start, length) triples. Identity: one run. */
static bool block_runs(const int32_t *map, int64_t p0, int64_t p1, spc_i64vec *out)
{
    out->n = 0;
    if (!map) return spc_i64_push(out, 0) && spc_i64_push(out, p0) && spc_i64_push(out, p1 - p0 + 1);
    for (int64_t p = p0; p <= p1; p++) {
        if (map[p] < 0) continue;
        if (out->n && out->v[out->n - 3] + out->v[out->n - 1] == p - p0 &&
            out->v[out->n - 2] + out->v[out->n - 1] == map[p]) {
            out->v[out->n - 1]++;
        } else if (!spc_i64_push(out, p - p0) || !spc_i64_push(out, map[p]) || !spc_i64_push(out, 1)) {
            return false;
        }
    }
    return true;
}

/* Mask of one block made of several runs: each run rectangle classified analytically, elements
 * evaluated only in partial ones. Returns the mask id, M_FULL, M_EMPTY, or INT32_MIN (no memory). */
static int32_t compute_runs_mask(compiler *cc, const bnode *root, int head)
{
    const spc_bound *b = cc->b;
    int64_t B = b->g.block, on = 0;
    uint32_t *m = cc->scratch;
    memset(m, 0, (size_t)cc->masks.words * sizeof *m);
    const spc_i64vec *R = &cc->rruns, *C = &cc->cruns;
    for (size_t x = 0; x < R->n; x += 3)
        for (size_t y = 0; y < C->n; y += 3) {
            int64_t ro = R->v[x], i0 = R->v[x + 1], nr = R->v[x + 2];
            int64_t co = C->v[y], j0 = C->v[y + 1], nc = C->v[y + 2];
            cc->key.n = 0;
            int cls = spc_eval_block(b, root, head, i0, i0 + nr - 1, j0, j0 + nc - 1, &cc->key);
            if (cls < 0) return INT32_MIN;
            if (cls == SPC_EMPTY) continue;
            for (int64_t r = 0; r < nr; r++)
                for (int64_t c = 0; c < nc; c++)
                    if (cls == SPC_FULL || spc_node_allowed(b, root, head, i0 + r, j0 + c)) {
                        int64_t bit = (ro + r) * B + co + c;
                        m[bit / 32] |= (uint32_t)1 << (bit % 32);
                        on++;
                    }
        }
    if (on == 0) return M_EMPTY;
    if (on == B * B) return M_FULL;
    int32_t id = masktab_add(&cc->masks, m);
    return id < 0 ? INT32_MIN : id;
}

/* Brute-force mask of one single-run block (the first block with its key). */
static int32_t compute_mask(compiler *cc, const bnode *root, int head)
{
    spc_i64vec key = cc->key; /* compute_runs_mask reuses cc->key as scratch */
    cc->key = (spc_i64vec){0};
    int32_t id = compute_runs_mask(cc, root, head);
    free(cc->key.v);
    cc->key = key;
    return id;
}

/* The mask of the block whose key is in cc->key: looked up, or computed once and remembered. */
static int32_t cached_mask(compiler *cc, const bnode *root, int head)
{
    size_t at = keytab_find(&cc->keys, cc->key.v, cc->key.n);
    if (at == SIZE_MAX) return INT32_MIN;
    if (cc->keys.slot_off[at]) return cc->keys.slot_val[at];
    int32_t mid = compute_mask(cc, root, head);
    if (mid == INT32_MIN || !keytab_insert(&cc->keys, at, cc->key.v, cc->key.n, mid)) return INT32_MIN;
    return mid;
}

/* Mask id (or M_FULL / M_EMPTY / INT32_MIN) of the block [p0, p1] x [q0, q1] of the space, whose
 * runs are in cc->rruns, cc->cruns.
 * A block of one run each is a rectangle of the original space: classified analytically and
 * its mask computed once per key. */
static int32_t block_mask(compiler *cc, const bnode *root, int head, int64_t p0, int64_t p1, int64_t q0,
                          int64_t q1)
{
    int64_t B = cc->b->g.block;
    if (cc->rruns.n == 0 || cc->cruns.n == 0) return M_EMPTY;
    if (cc->rruns.n > 3 || cc->cruns.n > 3) {
        if (!cc->diff_inv) return compute_runs_mask(cc, root, head);
        if (!diff_key(cc, cc->sp->row_map, p0, p1, cc->sp->col_map, q0, q1)) return INT32_MIN;
        return cached_mask(cc, root, head);
    }
    int64_t ro = cc->rruns.v[0], i0 = cc->rruns.v[1], rows = cc->rruns.v[2];
    int64_t co = cc->cruns.v[0], j0 = cc->cruns.v[1], cols = cc->cruns.v[2];
    cc->key.n = 0;
    if (!spc_i64_push(&cc->key, ro) || !spc_i64_push(&cc->key, co) || !spc_i64_push(&cc->key, rows) ||
        !spc_i64_push(&cc->key, cols))
        return INT32_MIN;
    int cls = spc_eval_block(cc->b, root, head, i0, i0 + rows - 1, j0, j0 + cols - 1, &cc->key);
    if (cls < 0) return INT32_MIN;
    if (cls == SPC_EMPTY) return M_EMPTY;
    bool whole = rows == B && cols == B; /* no tail, no padding */
    if (cls == SPC_FULL && whole) return M_FULL;
    if (cls == SPC_FULL && !spc_i64_push(&cc->key, -1)) return INT32_MIN; /* all valid bits */
    return cached_mask(cc, root, head);
}

static int compile_layout(compiler *cc, const bnode *root, int head, layout *out)
{
    const spc_space *sp = cc->sp;
    int64_t B = cc->b->g.block, nq = sp->n_q, nk = sp->n_k;
    memset(out, 0, sizeof *out);
    out->row_ptr = malloc(sizeof *out->row_ptr * ((size_t)cc->nb_q + 1));
    if (!out->row_ptr) goto oom;
    out->row_ptr[0] = 0;
    for (int r = 0; r < cc->nb_q; r++) {
        int64_t i0 = (int64_t)r * B, i1 = i0 + B - 1 < nq - 1 ? i0 + B - 1 : nq - 1;
        int crc = sp->candidates ? sp->candidates(sp->ctx, r, &cc->cand)
                                 : spc_row_candidates(cc->b, root, head, r, &cc->cand);
        if (crc != 0 || !block_runs(sp->row_map, i0, i1, &cc->rruns)) goto oom;
        for (size_t iv = 0; iv + 1 < cc->cand.n; iv += 2) {
            for (int64_t c = cc->cand.v[iv]; c <= cc->cand.v[iv + 1]; c++) {
                int64_t j0 = c * B, j1 = j0 + B - 1 < nk - 1 ? j0 + B - 1 : nk - 1;
                if (!block_runs(sp->col_map, j0, j1, &cc->cruns)) goto oom;
                int32_t mid = block_mask(cc, root, head, i0, i1, j0, j1);
                if (mid == INT32_MIN) goto oom;
                if (mid == M_EMPTY) continue;
                if (out->cols.n >= (size_t)INT32_MAX) {
                    spc_set_error(cc->err, 0, "more than 2^31 non-empty blocks; use a larger block size");
                    layout_free(out);
                    return -1;
                }
                if (!i32_push(&out->cols, (int32_t)c) || !i32_push(&out->mids, mid)) goto oom;
            }
        }
        out->row_ptr[r + 1] = (int32_t)out->cols.n;
    }
    return 0;
oom:
    layout_free(out);
    spc_set_error(cc->err, 0, "out of memory while compiling the pattern");
    return -1;
}

static bool same_layout(const layout *a, const layout *b, int nb_q)
{
    if (a->cols.n != b->cols.n ||
        memcmp(a->row_ptr, b->row_ptr, sizeof *a->row_ptr * ((size_t)nb_q + 1)) != 0)
        return false;
    return a->cols.n == 0 || (memcmp(a->cols.v, b->cols.v, sizeof *a->cols.v * a->cols.n) == 0 &&
                              memcmp(a->mids.v, b->mids.v, sizeof *a->mids.v * a->mids.n) == 0);
}

/* Column CSR as the exact transpose of the row CSR of layout L (entries [base, base + nnz_L)). */
static void transpose(spc_lut *lut, int L)
{
    int32_t *rp = lut->row_ptr + (size_t)L * (lut->nb_q + 1);
    int32_t *cp = lut->col_ptr + (size_t)L * (lut->nb_k + 1);
    int32_t base = rp[0];
    memset(cp, 0, sizeof *cp * ((size_t)lut->nb_k + 1));
    for (int32_t e = base; e < rp[lut->nb_q]; e++)
        cp[lut->col_idx[e] + 1]++;
    cp[0] = base;
    for (int c = 0; c < lut->nb_k; c++)
        cp[c + 1] += cp[c];
    /* Scatter in row order so rows come out ascending within each column; cp[c] is used as the
     * fill cursor and restored afterwards. */
    for (int r = 0; r < lut->nb_q; r++)
        for (int32_t e = rp[r]; e < rp[r + 1]; e++) {
            int32_t at = cp[lut->col_idx[e]]++;
            lut->row_idx[at] = r;
            lut->col_mask[at] = lut->row_mask[e];
        }
    for (int c = lut->nb_k; c > 0; c--)
        cp[c] = cp[c - 1];
    cp[0] = base;
}

int spc_compile(const spc_bound *b, spc_lut **out, spc_error *err)
{
    if (!b) {
        *out = NULL;
        spc_set_error(err, 0, "no bound pattern");
        return -1;
    }
    spc_space sp = {b->g.n_q, b->g.n_k, NULL, NULL, NULL, NULL};
    return spc_compile_space(b, NULL, &sp, out, err);
}

/* One layout per distinct head predicate: head h's index into lays in head_layout[h]. */
static int compile_heads(compiler *cc, const bnode *pred, layout *lays, const bnode **lay_root, int *nl,
                         int32_t *head_layout)
{
    const spc_bound *b = cc->b;
    for (int h = 0; h < b->g.heads; h++) {
        const bnode *root = pred ? pred : spc_node_for_head(b->root, h);
        cc->diff_inv = root && diff_invariant(root);
        int found = -1;
        /* A head-independent subtree compiles to the same layout for every head that reaches it. */
        for (int L = 0; L < *nl && found < 0 && root && !root->head_dep; L++)
            if (lay_root[L] == root) found = L;
        if (found < 0) {
            if (!root) {
                spc_set_error(cc->err, 0, "head %d is not covered by the spec", h);
                return -1;
            }
            if (compile_layout(cc, root, h, &lays[*nl]) != 0) return -1;
            for (int L = 0; L < *nl && found < 0; L++)
                if (same_layout(&lays[L], &lays[*nl], cc->nb_q)) found = L;
            if (found >= 0) {
                layout_free(&lays[*nl]);
            } else {
                lay_root[*nl] = root;
                found = (*nl)++;
            }
        }
        head_layout[h] = found;
    }
    return 0;
}

/* The layouts packed into the LUT's row CSR, its column CSR and the mask table (taken over). */
static int pack_lut(compiler *cc, const layout *lays, int nl, const spc_space *sp, spc_lut *lut)
{
    int64_t nnz = 0;
    for (int L = 0; L < nl; L++)
        nnz += (int64_t)lays[L].cols.n;
    if (nnz > INT32_MAX) {
        spc_set_error(cc->err, 0, "more than 2^31 non-empty blocks; use a larger block size");
        return -1;
    }
    lut->n_q = sp->n_q;
    lut->n_k = sp->n_k;
    lut->block = cc->b->g.block;
    lut->heads = cc->b->g.heads;
    lut->nb_q = cc->nb_q;
    lut->nb_k = cc->nb_k;
    lut->n_layouts = nl;
    lut->nnz = nnz;
    lut->mask_words = cc->masks.words;
    lut->n_masks = cc->masks.n;
    size_t en = nnz ? (size_t)nnz : 1;
    lut->row_ptr = malloc(sizeof(int32_t) * (size_t)nl * ((size_t)cc->nb_q + 1));
    lut->col_ptr = malloc(sizeof(int32_t) * (size_t)nl * ((size_t)cc->nb_k + 1));
    lut->col_idx = malloc(sizeof(int32_t) * en);
    lut->row_mask = malloc(sizeof(int32_t) * en);
    lut->row_idx = malloc(sizeof(int32_t) * en);
    lut->col_mask = malloc(sizeof(int32_t) * en);
    if (!lut->row_ptr || !lut->col_ptr || !lut->col_idx || !lut->row_mask || !lut->row_idx ||
        !lut->col_mask) {
        spc_set_error(cc->err, 0, "out of memory");
        return -1;
    }
    int32_t base = 0;
    for (int L = 0; L < nl; L++) {
        int32_t *rp = lut->row_ptr + (size_t)L * (cc->nb_q + 1);
        for (int r = 0; r <= cc->nb_q; r++)
            rp[r] = base + lays[L].row_ptr[r];
        if (lays[L].cols.n) { /* empty layouts have no arrays at all */
            memcpy(lut->col_idx + base, lays[L].cols.v, sizeof(int32_t) * lays[L].cols.n);
            memcpy(lut->row_mask + base, lays[L].mids.v, sizeof(int32_t) * lays[L].mids.n);
        }
        base += (int32_t)lays[L].cols.n;
    }
    for (int L = 0; L < nl; L++)
        transpose(lut, L);
    lut->masks = cc->masks.masks; /* shrink the table to its size */
    cc->masks.masks = NULL;
    if (lut->n_masks > 0) {
        uint32_t *m = realloc(lut->masks, sizeof *m * (size_t)lut->n_masks * (size_t)lut->mask_words);
        if (m) lut->masks = m;
    }
    return 0;
}

int spc_compile_space(const spc_bound *b, const bnode *pred, const spc_space *sp, spc_lut **out,
                      spc_error *err)
{
    *out = NULL;
    spc_clear_error(err);
    if (!b) {
        spc_set_error(err, 0, "no bound pattern");
        return -1;
    }
    int H = b->g.heads;
    compiler cc = {0};
    cc.b = b;
    cc.sp = sp;
    cc.nb_q = (int)((sp->n_q + b->g.block - 1) / b->g.block);
    cc.nb_k = (int)((sp->n_k + b->g.block - 1) / b->g.block);
    cc.err = err;
    cc.masks.words = b->g.block * b->g.block / 32;
    cc.scratch = malloc(sizeof *cc.scratch * (size_t)cc.masks.words);
    layout *lays = calloc((size_t)H, sizeof *lays);
    const bnode **lay_root = calloc((size_t)H, sizeof *lay_root);
    int32_t *head_layout = malloc(sizeof *head_layout * (size_t)H);
    spc_lut *lut = calloc(1, sizeof *lut);
    int nl = 0, rc = -1;
    if (!cc.scratch || !lays || !lay_root || !head_layout || !lut)
        spc_set_error(err, 0, "out of memory");
    else if (compile_heads(&cc, pred, lays, lay_root, &nl, head_layout) == 0 &&
             pack_lut(&cc, lays, nl, sp, lut) == 0) {
        lut->head_layout = head_layout;
        head_layout = NULL;
        *out = lut;
        lut = NULL;
        rc = 0;
    }
    for (int L = 0; L < nl; L++)
        layout_free(&lays[L]);
    free(lays);
    free(lay_root);
    free(head_layout);
    spc_lut_free(lut);
    keytab_free(&cc.keys);
    free(cc.masks.masks);
    free(cc.masks.slot);
    free(cc.scratch);
    free(cc.key.v);
    free(cc.cand.v);
    free(cc.rruns.v);
    free(cc.cruns.v);
    return rc;
}
