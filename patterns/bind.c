/* Binding: parse tree + geometry -> evaluable predicate. Loads layout() files, draws BigBird's
 * random blocks, checks heads() coverage; spc_allowed() evaluates the definitions directly. */
#include "spc_internal.h"
#include "scl_npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADS 65536

typedef struct binder {
    const spc_geometry *g;
    int nb_q, nb_k;
    int next_id;
    spc_error *err;
} binder;

static void bnode_free(bnode *n)
{
    if (!n) return;
    bnode_free(n->a);
    bnode_free(n->b);
    for (int i = 0; i < n->nh; i++)
        bnode_free(n->hc[i]);
    free(n->hc);
    free(n->hr);
    free(n->hidx);
    free(n->g);
    free(n->bb_rand);
    free(n->lay);
    free(n->lay_mid);
    free(n->lay_masks);
    free(n->lay_mclass);
    free(n);
}

static bnode *bnew(binder *bd, spc_kind kind, int column)
{
    bnode *n = calloc(1, sizeof *n);
    if (!n) {
        spc_set_error(bd->err, column, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->id = bd->next_id++;
    return n;
}

static int cmp_range(const void *a, const void *b)
{
    const spc_range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : (x->hi > y->hi) - (x->hi < y->hi);
}

/* Sorted, merged (overlapping or adjacent ranges joined) copy of the global token set. */
static bnode *bind_global(binder *bd, const spc_node *s)
{
    bnode *n = bnew(bd, K_GLOBAL, s->column);
    if (!n) return NULL;
    n->g = malloc(sizeof *n->g * (size_t)s->n_ranges);
    if (!n->g) {
        spc_set_error(bd->err, s->column, "out of memory");
        bnode_free(n);
        return NULL;
    }
    memcpy(n->g, s->ranges, sizeof *n->g * (size_t)s->n_ranges);
    qsort(n->g, (size_t)s->n_ranges, sizeof *n->g, cmp_range);
    int m = 0;
    for (int i = 0; i < s->n_ranges; i++) {
        if (m > 0 && n->g[i].lo <= n->g[m - 1].hi + 1) {
            if (n->g[i].hi > n->g[m - 1].hi) n->g[m - 1].hi = n->g[i].hi;
        } else {
            n->g[m++] = n->g[i];
        }
    }
    n->ng = m;
    return n;
}

/* Unbiased integer in [0, bound) from the splitmix64 stream (rejection of the short tail). */
static uint64_t uniform_below(uint64_t *state, uint64_t bound)
{
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        uint64_t x = spc_splitmix64(state);
        if (x >= threshold) return x % bound;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* BigBird (Zaheer et al. 2020), block level: B[r][c] = |r-c| <= floor(window/2) or r < g or c < g
 * or c in R(r), where R(r) holds min(randoms, available) distinct blocks drawn (Floyd's algorithm)
 * from the blocks row r does not already attend, using a splitmix64 stream seeded by (seed, r). */
static bnode *bind_bigbird(binder *bd, const spc_node *s)
{
    bnode *n = bnew(bd, K_BIGBIRD, s->column);
    if (!n) return NULL;
    int64_t nb_q = bd->nb_q, nb_k = bd->nb_k;
    n->bb_half = s->p[0] / 2;
    n->bb_glob = s->p[1];
    int64_t k_max = s->p[2] < nb_k ? s->p[2] : nb_k;
    n->bb_nrand = (int)k_max;
    if (k_max == 0) return n;
    if (nb_q > (int64_t)(SIZE_MAX / 8) / k_max || nb_q * k_max > ((int64_t)1 << 33)) {
        spc_set_error(bd->err, s->column, "bigbird(): %lld random blocks per row over %lld rows is too many",
                      (long long)k_max, (long long)nb_q);
        bnode_free(n);
        return NULL;
    }
    n->bb_rand = malloc(sizeof *n->bb_rand * (size_t)(nb_q * k_max));
    uint8_t *taken = calloc((size_t)nb_k, 1);
    int64_t *chosen = malloc(sizeof *chosen * (size_t)k_max);
    if (!n->bb_rand || !taken || !chosen) {
        free(taken);
        free(chosen);
        bnode_free(n);
        spc_set_error(bd->err, s->column, "out of memory");
        return NULL;
    }
    for (int64_t r = 0; r < nb_q; r++) {
        int32_t *row = n->bb_rand + r * k_max;
        for (int64_t t = 0; t < k_max; t++)
            row[t] = -1;
        if (r < n->bb_glob) continue; /* global rows attend everything already */
        int64_t lo = n->bb_glob;      /* candidates: [lo, nb_k) minus the window [wl, wh] */
        int64_t wl = r - n->bb_half, wh = r + n->bb_half;
        if (wl < lo) wl = lo;
        if (wh > nb_k - 1) wh = nb_k - 1;
        int64_t wlen = wh >= wl ? wh - wl + 1 : 0;
        int64_t avail = lo < nb_k ? nb_k - lo - wlen : 0;
        if (avail <= 0) continue;
        int64_t k = k_max < avail ? k_max : avail;
        uint64_t state = (uint64_t)s->p[3] ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(r + 1));
        for (int64_t jj = avail - k; jj < avail; jj++) {
            int64_t t = (int64_t)uniform_below(&state, (uint64_t)jj + 1);
            if (taken[t]) t = jj;
            taken[t] = 1;
            chosen[jj - (avail - k)] = t;
        }
        qsort(chosen, (size_t)k, sizeof *chosen, cmp_i64);
        for (int64_t t = 0; t < k; t++) {
            taken[chosen[t]] = 0;
            int64_t c = lo + chosen[t];
            if (wlen > 0 && c >= wl) c += wlen;
            row[t] = (int32_t)c;
        }
    }
    free(taken);
    free(chosen);
    return n;
}

static bool is_integer_dtype(npy_dtype t)
{
    return t != NPY_F16 && t != NPY_F32 && t != NPY_F64;
}

/* layout(path.npy): OpenAI blocksparse / DeepSpeed layout, [nb_q, nb_k] or [H, nb_q, nb_k]. */
static bnode *bind_layout(binder *bd, const spc_node *s, int head_base, int head_count)
{
    npy_array a;
    npy_file *f = NULL; /* a file's header is checked against the geometry before its data is read */
    char msg[400];
    if (s->mem ? spc_memlayout_array(s->mem, bd->g->block, &a, msg, sizeof msg) != 0
               : npy_open(s->path, &a, &f, msg, sizeof msg) != 0) {
        spc_set_error(bd->err, s->column, "layout(%s): %s", s->path, msg);
        return NULL;
    }
    bnode *n = NULL;
    if (!is_integer_dtype(a.dtype)) {
        spc_set_error(bd->err, s->column, "layout(%s): dtype %s is not an integer or bool type", s->path,
                      npy_dtype_name(a.dtype));
        goto done;
    }
    int64_t lh = a.ndim == 3 ? a.shape[0] : 1;
    if (a.ndim != 2 && a.ndim != 3) {
        spc_set_error(bd->err, s->column,
                      "layout(%s): expected shape [nb_q, nb_k] or [H, nb_q, nb_k], got %d dimensions",
                      s->path, a.ndim);
        goto done;
    }
    if (a.shape[a.ndim - 2] != bd->nb_q || a.shape[a.ndim - 1] != bd->nb_k) {
        spc_set_error(bd->err, s->column,
                      "layout(%s): shape [%lld, %lld] does not match N_q=%lld, N_k=%lld at block %d, which "
                      "need [%d, %d]",
                      s->path, (long long)a.shape[a.ndim - 2], (long long)a.shape[a.ndim - 1],
                      (long long)bd->g->n_q, (long long)bd->g->n_k, bd->g->block, bd->nb_q, bd->nb_k);
        goto done;
    }
    if (lh != 1 && lh != head_count) {
        spc_set_error(bd->err, s->column, "layout(%s): has %lld heads but is used for %d head%s", s->path,
                      (long long)lh, head_count, head_count == 1 ? "" : "s");
        goto done;
    }
    if (f && npy_read_data(f, &a, msg, sizeof msg) != 0) {
        spc_set_error(bd->err, s->column, "layout(%s): %s", s->path, msg);
        goto done;
    }
    n = bnew(bd, K_LAYOUT, s->column);
    if (!n) goto done;
    n->lay_heads = (int)lh;
    n->head_base = head_base;
    n->head_dep = lh > 1;
    n->lay = malloc((size_t)a.count ? (size_t)a.count : 1);
    if (!n->lay) {
        spc_set_error(bd->err, s->column, "out of memory");
        bnode_free(n);
        n = NULL;
        goto done;
    }
    const uint8_t *src = a.data;
    for (int64_t e = 0; e < a.count; e++) {
        uint8_t nz = 0;
        for (size_t k = 0; k < a.itemsize; k++)
            nz |= src[(size_t)e * a.itemsize + k];
        n->lay[e] = nz != 0;
    }
    if (s->mem && spc_memlayout_bind_masks(s->mem, n, bd->err, s->column) != 0) {
        bnode_free(n);
        n = NULL;
    }
done:
    npy_close(f);
    npy_free(&a);
    return n;
}

static bnode *bind_node(binder *bd, const spc_node *s, const uint8_t *scope);

static bnode *bind_heads(binder *bd, const spc_node *s, const uint8_t *scope)
{
    int H = bd->g->heads;
    bnode *n = bnew(bd, K_HEADS, s->column);
    uint8_t *sub = malloc((size_t)H);
    int nr = 0;
    for (int c = 0; c < s->n_clauses; c++)
        nr += s->clauses[c].n_ranges;
    if (n) {
        n->hc = calloc((size_t)s->n_clauses, sizeof *n->hc);
        n->hr = malloc(sizeof *n->hr * (size_t)nr);
        n->hidx = malloc(sizeof *n->hidx * (size_t)nr);
    }
    if (!n || !sub || !n->hc || !n->hr || !n->hidx) {
        spc_set_error(bd->err, s->column, "out of memory");
        goto bad;
    }
    n->nh = s->n_clauses;
    /* Sort the (range, clause) pairs so dispatch is a binary search and overlaps are adjacent. */
    int k = 0;
    for (int c = 0; c < s->n_clauses; c++) {
        for (int r = 0; r < s->clauses[c].n_ranges; r++) {
            spc_range rg = s->clauses[c].ranges[r];
            if (rg.hi >= H) {
                spc_set_error(bd->err, s->clauses[c].column,
                              "heads() range %lld-%lld goes beyond the last head (%d heads: 0-%d)",
                              (long long)rg.lo, (long long)rg.hi, H, H - 1);
                goto bad;
            }
            int at = k++;
            while (at > 0 && n->hr[at - 1].lo > rg.lo) {
                n->hr[at] = n->hr[at - 1];
                n->hidx[at] = n->hidx[at - 1];
                at--;
            }
            n->hr[at] = rg;
            n->hidx[at] = c;
        }
    }
    n->nhr = k;
    for (int i = 1; i < k; i++) {
        if (n->hr[i].lo <= n->hr[i - 1].hi) {
            spc_set_error(bd->err, s->clauses[n->hidx[i]].column, "heads(): head %lld is assigned twice",
                          (long long)n->hr[i].lo);
            goto bad;
        }
    }
    for (int h = 0; h < H; h++) {
        if (!scope[h]) continue;
        bool found = false;
        for (int i = 0; i < k && !found; i++)
            found = n->hr[i].lo <= h && h <= n->hr[i].hi;
        if (!found) {
            spc_set_error(bd->err, s->column,
                          "heads() does not cover head %d (the pattern has %d heads: 0-%d)", h, H, H - 1);
            goto bad;
        }
    }
    for (int c = 0; c < s->n_clauses; c++) {
        memset(sub, 0, (size_t)H);
        for (int r = 0; r < s->clauses[c].n_ranges; r++)
            for (int64_t h = s->clauses[c].ranges[r].lo; h <= s->clauses[c].ranges[r].hi; h++)
                sub[h] = scope[h];
        n->hc[c] = bind_node(bd, s->clauses[c].spec, sub);
        if (!n->hc[c]) goto bad;
    }
    n->head_dep = true;
    free(sub);
    return n;
bad:
    free(sub);
    bnode_free(n);
    return NULL;
}

static bnode *bind_node(binder *bd, const spc_node *s, const uint8_t *scope)
{
    bnode *n = NULL;
    switch (s->kind) {
    case K_OR:
    case K_AND:
        n = bnew(bd, s->kind, s->column);
        if (!n) return NULL;
        n->a = bind_node(bd, s->a, scope);
        n->b = n->a ? bind_node(bd, s->b, scope) : NULL;
        if (!n->a || !n->b) {
            bnode_free(n);
            return NULL;
        }
        n->head_dep = n->a->head_dep || n->b->head_dep;
        return n;
    case K_HEADS:
        return bind_heads(bd, s, scope);
    case K_GLOBAL:
        return bind_global(bd, s);
    case K_LONGFORMER: {
        /* Longformer (Beltagy et al. 2020): local(w) | global(t1, ...). */
        bnode *loc = bnew(bd, K_LOCAL, s->column);
        if (!loc) return NULL;
        loc->p[0] = s->p[0];
        if (s->n_ranges == 0) return loc;
        bnode *glo = bind_global(bd, s);
        n = glo ? bnew(bd, K_OR, s->column) : NULL;
        if (!n) {
            bnode_free(loc);
            bnode_free(glo);
            return NULL;
        }
        n->a = loc;
        n->b = glo;
        return n;
    }
    case K_BIGBIRD:
        return bind_bigbird(bd, s);
    case K_LAYOUT: {
        int H = bd->g->heads, first = -1, last = -1;
        for (int h = 0; h < H; h++)
            if (scope[h]) {
                if (first < 0) first = h;
                last = h;
            }
        if (first < 0) first = last = 0;
        return bind_layout(bd, s, first, last - first + 1);
    }
    default:
        n = bnew(bd, s->kind, s->column);
        if (!n) return NULL;
        memcpy(n->p, s->p, sizeof n->p);
        if (s->kind == K_DILATED) /* p2 = w * d, saturated: |i - j| < 2^40 never reaches it */
            n->p[2] = n->p[0] > (((int64_t)1 << 50) / n->p[1]) ? ((int64_t)1 << 50) : n->p[0] * n->p[1];
        return n;
    }
}

int spc_bind(const spc_pattern *p, const spc_geometry *g, spc_bound **out, spc_error *err)
{
    *out = NULL;
    spc_clear_error(err);
    if (!p || !g) {
        spc_set_error(err, 0, "no pattern or geometry");
        return -1;
    }
    if (g->n_q < 1 || g->n_k < 1 || g->n_q > SPC_N_MAX || g->n_k > SPC_N_MAX) {
        spc_set_error(err, 0, "sequence lengths must be in [1, %lld], got N_q=%lld, N_k=%lld",
                      (long long)SPC_N_MAX, (long long)g->n_q, (long long)g->n_k);
        return -1;
    }
    if (g->block < 8 || g->block > 256 || (g->block & (g->block - 1)) != 0) {
        spc_set_error(err, 0, "block size must be a power of two from 8 to 256, got %d", g->block);
        return -1;
    }
    if (g->heads < 1 || g->heads > MAX_HEADS) {
        spc_set_error(err, 0, "heads must be in [1, %d], got %d", MAX_HEADS, g->heads);
        return -1;
    }
    int64_t nb_q = (g->n_q + g->block - 1) / g->block, nb_k = (g->n_k + g->block - 1) / g->block;
    if (nb_q > ((int64_t)1 << 30) || nb_k > ((int64_t)1 << 30)) {
        spc_set_error(err, 0, "too many blocks (%lld x %lld); use a larger block size", (long long)nb_q,
                      (long long)nb_k);
        return -1;
    }
    spc_bound *b = calloc(1, sizeof *b);
    uint8_t *scope = malloc((size_t)g->heads);
    char *text = malloc(strlen(p->text) + 1);
    if (!b || !scope || !text) {
        free(b);
        free(scope);
        free(text);
        spc_set_error(err, 0, "out of memory");
        return -1;
    }
    memset(scope, 1, (size_t)g->heads);
    strcpy(text, p->text);
    binder bd = {g, (int)nb_q, (int)nb_k, 0, err};
    b->g = *g;
    b->nb_q = (int)nb_q;
    b->nb_k = (int)nb_k;
    b->text = text;
    b->root = bind_node(&bd, p->root, scope);
    free(scope);
    if (!b->root) {
        free(text);
        free(b);
        return -1;
    }
    b->n_nodes = bd.next_id;
    *out = b;
    return 0;
}

void spc_bound_free(spc_bound *b)
{
    if (!b) return;
    bnode_free(b->root);
    free(b->text);
    free(b);
}

const bnode *spc_node_for_head(const bnode *n, int head)
{
    while (n->kind == K_HEADS) {
        int lo = 0, hi = n->nhr - 1, found = -1;
        while (lo <= hi) { /* last range with .lo <= head */
            int mid = (lo + hi) / 2;
            if (n->hr[mid].lo <= head) {
                found = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (found < 0 || n->hr[found].hi < head) return NULL; /* bind guarantees coverage */
        n = n->hc[n->hidx[found]];
    }
    return n;
}

/* Is token t in the sorted, merged range set? */
static bool in_ranges(const spc_range *g, int ng, int64_t t)
{
    int lo = 0, hi = ng - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (g[mid].hi < t)
            lo = mid + 1;
        else if (g[mid].lo > t)
            hi = mid - 1;
        else
            return true;
    }
    return false;
}

static int64_t iabs(int64_t x)
{
    return x < 0 ? -x : x;
}

/* The definitions (i = query, j = key, 0-based; b = block size):
 *   causal        j <= i
 *   local(w)      |i - j| <= w
 *   strided(l)    |i - j| <= l  or  (i - j) mod l = 0        Child et al. 2019, "strided"
 *   fixed(l, c)   floor(i/l) = floor(j/l)  or  j mod l >= l-c  Child et al. 2019, "fixed"
 *   dilated(w,d)  |i - j| <= w*d  and  (i - j) mod d = 0      Beltagy et al. 2020, dilated window
 *   global(G)     i in G  or  j in G                          Beltagy et al. 2020
 *   bigbird       B[floor(i/b)][floor(j/b)] (see bind_bigbird) Zaheer et al. 2020
 *   layout(L)     L[h][floor(i/b)][floor(j/b)] != 0           OpenAI blocksparse / DeepSpeed layouts
 * and internal kinds the decomposer builds: not(a) = !a, rows(G) = i in G, cols(G) = j in G. */
bool spc_node_allowed(const spc_bound *b, const bnode *n, int head, int64_t i, int64_t j)
{
    switch (n->kind) {
    case K_DENSE:
        return true;
    case K_CAUSAL:
        return j <= i;
    case K_LOCAL:
        return iabs(i - j) <= n->p[0];
    case K_STRIDED:
        return iabs(i - j) <= n->p[0] || (i - j) % n->p[0] == 0;
    case K_FIXED:
        return i / n->p[0] == j / n->p[0] || j % n->p[0] >= n->p[0] - n->p[1];
    case K_DILATED:
        return iabs(i - j) <= n->p[2] && (i - j) % n->p[1] == 0;
    case K_GLOBAL:
        return in_ranges(n->g, n->ng, i) || in_ranges(n->g, n->ng, j);
    case K_BIGBIRD: {
        int64_t r = i / b->g.block, c = j / b->g.block;
        if (r < n->bb_glob || c < n->bb_glob || iabs(r - c) <= n->bb_half) return true;
        for (int t = 0; t < n->bb_nrand; t++) /* bb_rand is NULL when there are no random blocks */
            if (n->bb_rand[r * n->bb_nrand + t] == c) return true;
        return false;
    }
    case K_LAYOUT: {
        int64_t h = n->lay_heads > 1 ? head - n->head_base : 0;
        if (h < 0 || h >= n->lay_heads) return false;
        int64_t e = (h * b->nb_q + i / b->g.block) * b->nb_k + j / b->g.block;
        return n->lay[e] != 0 && (!n->lay_mid || spc_layout_mask_allowed(b, n, e, i, j));
    }
    case K_OR:
        return spc_node_allowed(b, n->a, head, i, j) || spc_node_allowed(b, n->b, head, i, j);
    case K_AND:
        return spc_node_allowed(b, n->a, head, i, j) && spc_node_allowed(b, n->b, head, i, j);
    case K_HEADS: {
        const bnode *c = spc_node_for_head(n, head);
        return c ? spc_node_allowed(b, c, head, i, j) : false;
    }
    case K_NOT:
        return !spc_node_allowed(b, n->a, head, i, j);
    case K_ROWS:
        return in_ranges(n->g, n->ng, i);
    case K_COLS:
        return in_ranges(n->g, n->ng, j);
    default:
        return false;
    }
}

bool spc_allowed(const spc_bound *b, int head, int64_t i, int64_t j)
{
    if (!b || head < 0 || head >= b->g.heads || i < 0 || j < 0 || i >= b->g.n_q || j >= b->g.n_k)
        return false;
    return spc_node_allowed(b, b->root, head, i, j);
}

uint64_t spc_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
