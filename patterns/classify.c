/* Analytic block classification, mask keys and per-row candidate blocks for every bound node.
 *
 * Classification is over the valid rectangle [i0,i1] x [j0,j1] of one block. It claims FULL or
 * EMPTY only when certain; PARTIAL is always safe because the compiler then computes the mask and
 * re-classifies it. A PARTIAL result comes with a key: a short int64 tuple such that two blocks
 * with equal keys (and equal valid extents, which the compiler adds) have identical masks. That is
 * what lets the compiler evaluate elements only once per distinct mask instead of per block. */
#include "spc_internal.h"

#include <stdlib.h>
#include <string.h>

SPC_DEFINE_PUSH(, spc_i64_push, spc_i64vec, int64_t, 64)

/* Any multiple of m (m >= 1) in [lo, hi]? */
static bool has_multiple(int64_t lo, int64_t hi, int64_t m)
{
    return lo <= hi && spc_floordiv(hi, m) * m >= lo;
}

/* Index of the first range with hi >= t (ng when none). */
static int first_range_from(const spc_range *g, int ng, int64_t t)
{
    int lo = 0, hi = ng;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (g[mid].hi < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool ranges_intersect(const bnode *n, int64_t a, int64_t b)
{
    int k = first_range_from(n->g, n->ng, a);
    return k < n->ng && n->g[k].lo <= b;
}

static bool ranges_contain(const bnode *n, int64_t a, int64_t b)
{
    int k = first_range_from(n->g, n->ng, a);
    return k < n->ng && n->g[k].lo <= a && n->g[k].hi >= b;
}

/* Membership bits of tokens [t0, t1] in the global set, into nw words appended to key. */
static bool push_membership(const bnode *n, int64_t t0, int64_t t1, int nw, spc_i64vec *key)
{
    size_t base = key->n;
    for (int w = 0; w < nw; w++)
        if (!spc_i64_push(key, 0)) return false;
    for (int k = first_range_from(n->g, n->ng, t0); k < n->ng && n->g[k].lo <= t1; k++) {
        int64_t lo = n->g[k].lo < t0 ? t0 : n->g[k].lo, hi = n->g[k].hi > t1 ? t1 : n->g[k].hi;
        for (int64_t t = lo; t <= hi; t++)
            key->v[base + (size_t)((t - t0) / 64)] |= (int64_t)((uint64_t)1 << ((t - t0) % 64));
    }
    return true;
}

static bool block_has(const spc_bound *b, const bnode *n, int head, int64_t r, int64_t c)
{
    return spc_node_allowed(b, n, head, r * b->g.block, c * b->g.block);
}

/* Block-level primitives (bigbird, layout) are constant over each layout block. */
static int eval_blocklevel(const spc_bound *b, const bnode *n, int head, int64_t i0, int64_t i1, int64_t j0,
                           int64_t j1, spc_i64vec *key)
{
    int64_t B = b->g.block;
    int64_t r0 = i0 / B, r1 = i1 / B, c0 = j0 / B, c1 = j1 / B;
    if ((r1 - r0 + 1) * (c1 - c0 + 1) <= 64) {
        int64_t on = 0, tot = 0;
        for (int64_t r = r0; r <= r1; r++)
            for (int64_t c = c0; c <= c1; c++, tot++)
                on += block_has(b, n, head, r, c);
        if (on == 0) return SPC_EMPTY;
        if (on == tot) return SPC_FULL;
    }
    /* Only reached for rectangles spanning several layout blocks; the position makes it exact. */
    if (!spc_i64_push(key, n->id) || !spc_i64_push(key, head) || !spc_i64_push(key, i0) ||
        !spc_i64_push(key, j0) || !spc_i64_push(key, i1) || !spc_i64_push(key, j1))
        return -1;
    return SPC_PARTIAL;
}

static int partial2(spc_i64vec *key, int64_t a, int64_t b)
{
    return spc_i64_push(key, a) && spc_i64_push(key, b) ? SPC_PARTIAL : -1;
}

int spc_eval_block(const spc_bound *b, const bnode *n, int head, int64_t i0, int64_t i1, int64_t j0,
                   int64_t j1, spc_i64vec *key)
{
    int64_t dmin = i0 - j1, dmax = i1 - j0; /* i - j takes every value in [dmin, dmax] */
    switch (n->kind) {
    case K_DENSE:
        return SPC_FULL;
    case K_CAUSAL:
        if (dmin >= 0) return SPC_FULL;
        if (dmax < 0) return SPC_EMPTY;
        return partial2(key, n->id, i0 - j0); /* translation invariant */
    case K_LOCAL: {
        int64_t w = n->p[0];
        if (dmin >= -w && dmax <= w) return SPC_FULL;
        if (dmin > w || dmax < -w) return SPC_EMPTY;
        return partial2(key, n->id, i0 - j0);
    }
    case K_STRIDED: {
        int64_t l = n->p[0];
        if (l == 1 || (dmin >= -l && dmax <= l)) return SPC_FULL;
        bool band_empty = dmin > l || dmax < -l;
        if (band_empty && !has_multiple(dmin, dmax, l)) return SPC_EMPTY;
        /* Away from the band only the residue of i - j matters, so far blocks share keys. */
        if (band_empty) return spc_i64_push(key, n->id) ? partial2(key, 1, spc_mod(i0 - j0, l)) : -1;
        return spc_i64_push(key, n->id) ? partial2(key, 0, i0 - j0) : -1;
    }
    case K_FIXED: {
        int64_t l = n->p[0], c = n->p[1];
        int64_t gi0 = i0 / l, gi1 = i1 / l, gj0 = j0 / l, gj1 = j1 / l;
        if (gi0 == gi1 && gj0 == gj1 && gi0 == gj0) return SPC_FULL;
        if (c == l || (c > 0 && gj0 == gj1 && j0 % l >= l - c)) return SPC_FULL;
        bool any_summary = c > 0 && (j0 % l >= l - c || gj0 * l + l - c <= j1);
        if ((gi1 < gj0 || gj1 < gi0) && !any_summary) return SPC_EMPTY;
        /* Same-group test depends on gi0 - gj0 only while the groups can still meet. */
        int64_t lim = b->g.block / l + 2, dg = gi0 - gj0;
        if (dg > lim) dg = lim + 1;
        if (dg < -lim) dg = -lim - 1;
        if (!spc_i64_push(key, n->id) || !spc_i64_push(key, dg)) return -1;
        return partial2(key, i0 % l, j0 % l);
    }
    case K_DILATED: {
        int64_t d = n->p[1], wd = n->p[2];
        if (d == 1 && dmin >= -wd && dmax <= wd) return SPC_FULL;
        int64_t lo = dmin > -wd ? dmin : -wd, hi = dmax < wd ? dmax : wd;
        if (!has_multiple(lo, hi, d)) return SPC_EMPTY;
        return partial2(key, n->id, i0 - j0);
    }
    case K_GLOBAL: {
        if (ranges_contain(n, i0, i1) || ranges_contain(n, j0, j1)) return SPC_FULL;
        if (!ranges_intersect(n, i0, i1) && !ranges_intersect(n, j0, j1)) return SPC_EMPTY;
        int nw = (b->g.block + 63) / 64;
        if (!spc_i64_push(key, n->id) || !push_membership(n, i0, i1, nw, key) ||
            !push_membership(n, j0, j1, nw, key))
            return -1;
        return SPC_PARTIAL;
    }
    case K_LAYOUT:
        if (n->lay_mid) return spc_layout_mask_eval(b, n, head, i0, i1, j0, j1, key);
        return eval_blocklevel(b, n, head, i0, i1, j0, j1, key);
    case K_BIGBIRD:
        return eval_blocklevel(b, n, head, i0, i1, j0, j1, key);
    case K_HEADS: {
        const bnode *c = spc_node_for_head(n, head);
        return c ? spc_eval_block(b, c, head, i0, i1, j0, j1, key) : SPC_EMPTY;
    }
    case K_NOT: { /* the child's key determines its mask, hence the complement's */
        size_t start = key->n;
        if (!spc_i64_push(key, n->id)) return -1;
        int c = spc_eval_block(b, n->a, head, i0, i1, j0, j1, key);
        if (c < 0) return -1;
        if (c != SPC_PARTIAL) key->n = start;
        return c == SPC_FULL ? SPC_EMPTY : c == SPC_EMPTY ? SPC_FULL : SPC_PARTIAL;
    }
    case K_ROWS:
    case K_COLS: { /* one half of K_GLOBAL */
        int64_t t0 = n->kind == K_ROWS ? i0 : j0, t1 = n->kind == K_ROWS ? i1 : j1;
        if (ranges_contain(n, t0, t1)) return SPC_FULL;
        if (!ranges_intersect(n, t0, t1)) return SPC_EMPTY;
        int nw = (b->g.block + 63) / 64;
        if (!spc_i64_push(key, n->id) || !push_membership(n, t0, t1, nw, key)) return -1;
        return SPC_PARTIAL;
    }
    case K_OR:
    case K_AND: {
        /* Key: (id, class of a, [key of a], class of b, [key of b]); the classes matter because a
         * FULL or EMPTY child contributes no key of its own. */
        int stop = n->kind == K_OR ? SPC_FULL : SPC_EMPTY;
        size_t start = key->n;
        if (!spc_i64_push(key, n->id) || !spc_i64_push(key, 0)) return -1;
        int ca = spc_eval_block(b, n->a, head, i0, i1, j0, j1, key);
        if (ca < 0) return -1;
        key->v[start + 1] = ca;
        if (ca == stop) {
            key->n = start;
            return stop;
        }
        size_t pb = key->n;
        if (!spc_i64_push(key, 0)) return -1;
        int cb = spc_eval_block(b, n->b, head, i0, i1, j0, j1, key);
        if (cb < 0) return -1;
        key->v[pb] = cb;
        if (cb == stop) {
            key->n = start;
            return stop;
        }
        if (ca != SPC_PARTIAL && cb != SPC_PARTIAL) { /* both the neutral class (EMPTY for |, FULL for &) */
            key->n = start;
            return ca;
        }
        return SPC_PARTIAL;
    }
    default:
        return SPC_PARTIAL;
    }
}

/* ---- candidate blocks per row ---- */

typedef struct rowctx {
    const spc_bound *b;
    int64_t i0, i1, r;
} rowctx;

/* Append block interval [lo, hi] (clipped); order is fixed up by normalize(). */
static bool push_blk(const rowctx *x, spc_i64vec *out, int64_t lo, int64_t hi)
{
    if (lo < 0) lo = 0;
    if (hi > x->b->nb_k - 1) hi = x->b->nb_k - 1;
    if (lo > hi) return true;
    if (out->n >= 2 && lo >= out->v[out->n - 2] && lo <= out->v[out->n - 1] + 1) {
        if (hi > out->v[out->n - 1]) out->v[out->n - 1] = hi;
        return true;
    }
    return spc_i64_push(out, lo) && spc_i64_push(out, hi);
}

/* Token interval [lo, hi] -> block interval. */
static bool push_tok(const rowctx *x, spc_i64vec *out, int64_t lo, int64_t hi)
{
    int64_t nk = x->b->g.n_k, B = x->b->g.block;
    if (lo < 0) lo = 0;
    if (hi > nk - 1) hi = nk - 1;
    if (lo > hi) return true;
    return push_blk(x, out, lo / B, hi / B);
}

static int cmp_pair(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static void normalize(spc_i64vec *v)
{
    size_t np = v->n / 2;
    bool sorted = true;
    for (size_t k = 1; k < np && sorted; k++)
        sorted = v->v[2 * k] > v->v[2 * k - 1] + 1;
    if (sorted) return;
    qsort(v->v, np, 2 * sizeof *v->v, cmp_pair);
    size_t m = 0;
    for (size_t k = 0; k < np; k++) {
        int64_t lo = v->v[2 * k], hi = v->v[2 * k + 1];
        if (m > 0 && lo <= v->v[2 * m - 1] + 1) {
            if (hi > v->v[2 * m - 1]) v->v[2 * m - 1] = hi;
        } else {
            v->v[2 * m] = lo;
            v->v[2 * m + 1] = hi;
            m++;
        }
    }
    v->n = 2 * m;
}

static bool all_blocks(const rowctx *x, spc_i64vec *out)
{
    return push_blk(x, out, 0, x->b->nb_k - 1);
}

/* out = a op b over sorted disjoint interval lists. */
static bool combine(const spc_i64vec *a, const spc_i64vec *b, bool is_union, spc_i64vec *out)
{
    size_t ia = 0, ib = 0, na = a->n / 2, nb = b->n / 2;
    out->n = 0;
    if (is_union) {
        while (ia < na || ib < nb) {
            const int64_t *p;
            if (ib >= nb || (ia < na && a->v[2 * ia] <= b->v[2 * ib]))
                p = a->v + 2 * ia++;
            else
                p = b->v + 2 * ib++;
            if (out->n >= 2 && p[0] <= out->v[out->n - 1] + 1) {
                if (p[1] > out->v[out->n - 1]) out->v[out->n - 1] = p[1];
            } else if (!spc_i64_push(out, p[0]) || !spc_i64_push(out, p[1])) {
                return false;
            }
        }
        return true;
    }
    while (ia < na && ib < nb) {
        int64_t lo = a->v[2 * ia] > b->v[2 * ib] ? a->v[2 * ia] : b->v[2 * ib];
        int64_t hi = a->v[2 * ia + 1] < b->v[2 * ib + 1] ? a->v[2 * ia + 1] : b->v[2 * ib + 1];
        if (lo <= hi && (!spc_i64_push(out, lo) || !spc_i64_push(out, hi))) return false;
        if (a->v[2 * ia + 1] < b->v[2 * ib + 1])
            ia++;
        else
            ib++;
    }
    return true;
}

static bool cands(const rowctx *x, const bnode *n, int head, spc_i64vec *out)
{
    const spc_bound *b = x->b;
    int64_t i0 = x->i0, i1 = x->i1, B = b->g.block, nk = b->g.n_k;
    out->n = 0;
    switch (n->kind) {
    case K_DENSE:
        return all_blocks(x, out);
    case K_CAUSAL:
        return push_tok(x, out, 0, i1);
    case K_LOCAL:
        return push_tok(x, out, i0 - n->p[0], i1 + n->p[0]);
    case K_DILATED:
        return push_tok(x, out, i0 - n->p[2], i1 + n->p[2]);
    case K_STRIDED: {
        int64_t l = n->p[0];
        if (l <= B) return all_blocks(x, out); /* every block column meets a stride line */
        /* Lines j = i - m*l for i in [i0, i1]: one short token run per m, increasing in j. */
        for (int64_t m = spc_floordiv(i1, l) + 1; m >= spc_floordiv(i0 - (nk - 1), l) - 1; m--)
            if (!push_tok(x, out, i0 - m * l, i1 - m * l)) return false;
        if (!push_tok(x, out, i0 - l, i1 + l)) return false;
        normalize(out);
        return true;
    }
    case K_FIXED: {
        int64_t l = n->p[0], c = n->p[1];
        if (c > 0 && l <= B) return all_blocks(x, out); /* every aligned block holds a summary column */
        if (c > 0)
            for (int64_t g = 0; g * l <= nk - 1; g++)
                if (!push_tok(x, out, g * l + l - c, g * l + l - 1)) return false;
        if (!push_tok(x, out, (i0 / l) * l, (i1 / l) * l + l - 1)) return false;
        normalize(out);
        return true;
    }
    case K_ROWS:
        return ranges_intersect(n, i0, i1) ? all_blocks(x, out) : true;
    case K_GLOBAL:
    case K_COLS: /* global rows see every block; global columns are the ranges' blocks */
        if (n->kind == K_GLOBAL && ranges_intersect(n, i0, i1)) return all_blocks(x, out);
        for (int k = 0; k < n->ng && n->g[k].lo <= nk - 1; k++)
            if (!push_tok(x, out, n->g[k].lo, n->g[k].hi)) return false;
        return true;
    case K_BIGBIRD: {
        int64_t r = x->r;
        if (r < n->bb_glob) return all_blocks(x, out);
        if (!push_blk(x, out, 0, n->bb_glob - 1) || !push_blk(x, out, r - n->bb_half, r + n->bb_half))
            return false;
        for (int t = 0; t < n->bb_nrand; t++) {
            int32_t c = n->bb_rand[r * n->bb_nrand + t];
            if (c >= 0 && !push_blk(x, out, c, c)) return false;
        }
        normalize(out);
        return true;
    }
    case K_LAYOUT: {
        int64_t h = n->lay_heads > 1 ? head - n->head_base : 0;
        if (h < 0 || h >= n->lay_heads) return true;
        const uint8_t *row = n->lay + (h * b->nb_q + x->r) * b->nb_k;
        for (int64_t c = 0; c < b->nb_k; c++)
            if (row[c] && !push_blk(x, out, c, c)) return false;
        return true;
    }
    case K_HEADS: {
        const bnode *c = spc_node_for_head(n, head);
        return c ? cands(x, c, head, out) : true;
    }
    case K_OR:
    case K_AND: {
        spc_i64vec ta = {0}, tb = {0};
        bool ok =
            cands(x, n->a, head, &ta) && cands(x, n->b, head, &tb) && combine(&ta, &tb, n->kind == K_OR, out);
        free(ta.v);
        free(tb.v);
        return ok;
    }
    default:
        return all_blocks(x, out);
    }
}

int spc_row_candidates(const spc_bound *b, const bnode *n, int head, int r, spc_i64vec *out)
{
    rowctx x = {b, (int64_t)r * b->g.block, 0, r};
    x.i1 = x.i0 + b->g.block - 1;
    if (x.i1 > b->g.n_q - 1) x.i1 = b->g.n_q - 1;
    return cands(&x, n, head, out) ? 0 : -1;
}
