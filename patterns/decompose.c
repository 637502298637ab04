/* Decomposition: split a pattern into components that each run at near-dense efficiency.
 *
 * Block skipping pays only when the allowed elements cluster into blocks. Stride lines
 * (i - j ≡ 0 mod l), fixed's summary columns and global rows/columns do not: they cross every
 * block. So the bound predicate is expanded into a union of terms (conjunctions), each tagged with
 * the cheapest exact way to run it:
 *   LUT       the block LUT over the original positions (local, causal, BigBird, layouts);
 *   ROWS      global queries gathered into a short dense problem against every key;
 *   COLS      summary/global keys gathered into compact K/V, attended densely by every query;
 *   PERMUTED  positions reordered by residue i mod l (Child et al. 2019, section 4.2's reshape):
 *             the stride lines become contiguous segments, i.e. a block-diagonal local problem.
 * Components partition the allowed set exactly: component k runs its terms minus everything the
 * components before it cover (not(...) nodes), over its mapped space (gathered/permuted
 * positions, padding never allowed), through the ordinary LUT compiler. The runtime merges the
 * components' outputs with their log-sum-exps. A cost model (computed elements plus gather and
 * merge traffic) keeps a component only when it beats leaving its terms to the block LUT. */
#include "spc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERMS 32
#define MAX_FACTORS 8
/* Gathering, scattering or merging one row of d values moves 8d bytes where one computed score
 * costs 4d flops, so a row is worth 2 x (flop/byte) scores: ~28 on an H200 at its fp32 peak, ~10 on
 * a 2-core CPU. 32 errs towards keeping the block LUT. */
#define ROW_COST 32.0

typedef struct term {
    const bnode *f[MAX_FACTORS];
    int nf;
    spc_exec exec;
    int64_t l;        /* PERMUTED: stride */
    const bnode *set; /* ROWS/COLS: node holding the token set (K_ROWS, K_GLOBAL or K_FIXED) */
} term;

typedef struct dctx {
    const spc_bound *b;
    bnode **made; /* wrapper nodes this decomposition owns (children are borrowed) */
    int n_made, cap_made;
    int next_id;
    spc_error *err;
} dctx;

static bnode *wrap(dctx *x, spc_kind kind, const bnode *a, const bnode *b)
{
    if (x->n_made == x->cap_made) {
        int cap = x->cap_made ? 2 * x->cap_made : 32;
        bnode **m = realloc(x->made, sizeof *m * (size_t)cap);
        if (!m) return NULL;
        x->made = m;
        x->cap_made = cap;
    }
    bnode *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->id = x->next_id++;
    n->a = (bnode *)a;
    n->b = (bnode *)b;
    x->made[x->n_made++] = n;
    return n;
}

static void made_free(dctx *x)
{
    for (int i = 0; i < x->n_made; i++)
        free(x->made[i]); /* children and range arrays are borrowed */
    free(x->made);
    x->made = NULL;
    x->n_made = x->cap_made = 0;
}

static int rank(spc_exec e)
{
    return e == SPC_EXEC_ROWS ? 3 : e == SPC_EXEC_COLS ? 2 : e == SPC_EXEC_PERMUTED ? 1 : 0;
}

static int one(term *out, const bnode *n, spc_exec exec, int64_t l, const bnode *set)
{
    memset(out, 0, sizeof *out);
    out->f[0] = n;
    out->nf = 1;
    out->exec = exec;
    out->l = l;
    out->set = set;
    return 1;
}

/* Union of terms equal to node n, or -1 (too many terms, per-head spec, out of memory). */
static int expand(dctx *x, const bnode *n, term *out, int cap)
{
    if (cap < 2) return -1;
    switch (n->kind) {
    case K_OR: {
        int na = expand(x, n->a, out, cap);
        if (na < 0) return -1;
        int nb = expand(x, n->b, out + na, cap - na);
        return nb < 0 ? -1 : na + nb;
    }
    case K_AND: {
        /* On the heap: a frame per tree level (the parser bounds the depth) must stay small. */
        term *ta = malloc(sizeof *ta * 2 * MAX_TERMS), *tb = ta + MAX_TERMS;
        if (!ta) return -1;
        int na = expand(x, n->a, ta, MAX_TERMS), nb = na < 0 ? -1 : expand(x, n->b, tb, MAX_TERMS);
        if (nb < 0 || na * nb > cap) {
            free(ta);
            return -1;
        }
        int k = 0;
        for (int i = 0; i < na; i++)
            for (int j = 0; j < nb; j++, k++) {
                if (ta[i].nf + tb[j].nf > MAX_FACTORS) {
                    free(ta);
                    return -1;
                }
                term *t = &out[k];
                *t = ta[i];
                memcpy(t->f + t->nf, tb[j].f, sizeof *t->f * (size_t)tb[j].nf);
                t->nf += tb[j].nf;
                if (rank(tb[j].exec) > rank(t->exec)) {
                    t->exec = tb[j].exec;
                    t->l = tb[j].l;
                    t->set = tb[j].set;
                }
            }
        free(ta);
        return k;
    }
    case K_STRIDED: { /* |i-j| <= l (block friendly) | (i-j) mod l = 0 (stride lines) */
        if (n->p[0] < 2 || n->p[0] >= x->b->g.n_q || n->p[0] >= x->b->g.n_k) /* no line beyond the band */
            return one(out, n, SPC_EXEC_LUT, 0, NULL);
        bnode *band = wrap(x, K_LOCAL, NULL, NULL);
        if (!band) return -1;
        band->p[0] = n->p[0];
        one(out, band, SPC_EXEC_LUT, 0, NULL);
        return 1 + one(out + 1, n, SPC_EXEC_PERMUTED, n->p[0], NULL);
    }
    case K_FIXED: { /* own chunk (block friendly) | summary columns */
        /* The second term is fixed() itself, not only its summary columns: exact because the chunk
         * term is a LUT term, which always comes first and is subtracted (see build()). */
        if (n->p[1] == 0 || n->p[1] >= n->p[0]) return one(out, n, SPC_EXEC_LUT, 0, NULL);
        bnode *chunk = wrap(x, K_FIXED, NULL, NULL);
        if (!chunk) return -1;
        chunk->p[0] = n->p[0];
        one(out, chunk, SPC_EXEC_LUT, 0, NULL);
        return 1 + one(out + 1, n, SPC_EXEC_COLS, 0, n);
    }
    case K_GLOBAL: { /* i in G (global rows) | j in G (global columns) */
        bnode *rows = wrap(x, K_ROWS, NULL, NULL), *cols = wrap(x, K_COLS, NULL, NULL);
        if (!rows || !cols) return -1;
        rows->g = cols->g = n->g;
        rows->ng = cols->ng = n->ng;
        one(out, rows, SPC_EXEC_ROWS, 0, rows);
        return 1 + one(out + 1, cols, SPC_EXEC_COLS, 0, cols);
    }
    case K_HEADS:
        return -1;
    default:
        return one(out, n, SPC_EXEC_LUT, 0, NULL);
    }
}

static const bnode *term_node(dctx *x, const term *t)
{
    const bnode *n = t->f[0];
    for (int i = 1; i < t->nf && n; i++)
        n = wrap(x, K_AND, n, t->f[i]);
    return n;
}

/* OR of the terms selected by `pick` (NULL when none). */
static const bnode *union_of(dctx *x, const term *t, int nt, const bool *pick, bool *oom)
{
    const bnode *u = NULL;
    for (int i = 0; i < nt; i++) {
        if (!pick[i]) continue;
        const bnode *n = term_node(x, &t[i]);
        if (n && u) n = wrap(x, K_OR, u, n);
        if (!n) {
            *oom = true;
            return NULL;
        }
        u = n;
    }
    return u;
}

/* ---- mapped spaces ---- */

typedef struct perm_ctx {
    int64_t l, sq, sk; /* stride; segment pitch in the mapped row / column space */
    int64_t n_q, n_k, block;
} perm_ctx;

static int64_t seg_len(int64_t n, int64_t l, int64_t s)
{
    return s < n ? (n - 1 - s) / l + 1 : 0;
}

/* Mapped block row r covers segments [p0/sq, p1/sq]; each one's keys are its mapped columns. */
static int perm_candidates(const void *ctx, int r, spc_i64vec *out)
{
    const perm_ctx *c = ctx;
    int64_t p0 = (int64_t)r * c->block, p1 = p0 + c->block - 1, last = -2;
    out->n = 0;
    for (int64_t s = p0 / c->sq; s <= p1 / c->sq && s < c->l; s++) {
        int64_t len = seg_len(c->n_k, c->l, s);
        if (len == 0 || seg_len(c->n_q, c->l, s) == 0) continue;
        int64_t lo = s * c->sk / c->block, hi = (s * c->sk + len - 1) / c->block;
        if (lo <= last) lo = last + 1;
        if (lo > hi) continue;
        if (out->n && lo == last + 1)
            out->v[out->n - 1] = hi;
        else if (!spc_i64_push(out, lo) || !spc_i64_push(out, hi))
            return -1;
        last = hi;
    }
    return 0;
}

typedef struct all_ctx {
    int64_t nb_k;
} all_ctx;

static int all_candidates(const void *ctx, int r, spc_i64vec *out)
{
    (void)r;
    out->n = 0;
    const all_ctx *c = ctx;
    return c->nb_k > 0 && (!spc_i64_push(out, 0) || !spc_i64_push(out, c->nb_k - 1)) ? -1 : 0;
}

/* Segment pitch: pad each residue segment to whole blocks unless that wastes more than a quarter. */
static int64_t seg_pitch(int64_t m, int64_t block)
{
    int64_t up = (m + block - 1) / block * block;
    return (up - m) * 4 <= up ? up : m;
}

/* Token flags -> sorted map (mapped -> original) and inverse (original -> mapped or -1). */
static int64_t flags_to_map(const uint8_t *flag, int64_t n, int32_t **map, int32_t **inv)
{
    int64_t m = 0;
    for (int64_t t = 0; t < n; t++)
        m += flag[t];
    *map = malloc(sizeof **map * (size_t)(m ? m : 1));
    *inv = malloc(sizeof **inv * (size_t)n);
    if (!*map || !*inv) return -1;
    m = 0;
    for (int64_t t = 0; t < n; t++) {
        (*inv)[t] = flag[t] ? (int32_t)m : -1;
        if (flag[t]) (*map)[m++] = (int32_t)t;
    }
    return m;
}

static void mark_set(const bnode *set, int64_t n, uint8_t *flag)
{
    if (set->kind == K_FIXED) { /* summary columns: j mod l >= l - c */
        for (int64_t t = 0; t < n; t++)
            if (t % set->p[0] >= set->p[0] - set->p[1]) flag[t] = 1;
        return;
    }
    for (int k = 0; k < set->ng; k++)
        for (int64_t t = set->g[k].lo; t <= set->g[k].hi && t < n; t++)
            flag[t] = 1;
}

static void component_clear(spc_component *c)
{
    free(c->row_map);
    free(c->col_map);
    free(c->row_inv);
    free(c->col_inv);
    spc_lut_free(c->lut);
    memset(c, 0, sizeof *c);
}

/* Builds the maps of a component of kind `exec` over the terms it runs. */
static int make_space(const spc_bound *b, spc_exec exec, const term *t, int nt, const bool *pick,
                      spc_component *c)
{
    int64_t nq = b->g.n_q, nk = b->g.n_k;
    memset(c, 0, sizeof *c); /* the slot may hold pointers moved to another decomposition */
    c->exec = exec;
    c->n_q = nq;
    c->n_k = nk;
    if (exec == SPC_EXEC_LUT) {
        snprintf(c->what, sizeof c->what, "block LUT");
        return 0;
    }
    if (exec == SPC_EXEC_PERMUTED) {
        int64_t l = 0;
        for (int i = 0; i < nt && !l; i++)
            if (pick[i]) l = t[i].l;
        c->stride = l;
        int64_t sq = seg_pitch((nq + l - 1) / l, b->g.block), sk = seg_pitch((nk + l - 1) / l, b->g.block);
        c->n_q = l * sq;
        c->n_k = l * sk;
        c->row_map = malloc(sizeof *c->row_map * (size_t)c->n_q);
        c->col_map = malloc(sizeof *c->col_map * (size_t)c->n_k);
        c->row_inv = malloc(sizeof *c->row_inv * (size_t)nq);
        c->col_inv = malloc(sizeof *c->col_inv * (size_t)nk);
        if (!c->row_map || !c->col_map || !c->row_inv || !c->col_inv) return -1;
        /* Mapped position p = s * pitch + a holds original s + a * l (segment s = residue s). */
        for (int64_t p = 0; p < c->n_q; p++) {
            int64_t i = p / sq + (p % sq) * l;
            c->row_map[p] = p % sq < seg_len(nq, l, p / sq) ? (int32_t)i : -1;
            if (c->row_map[p] >= 0) c->row_inv[i] = (int32_t)p;
        }
        for (int64_t p = 0; p < c->n_k; p++) {
            int64_t j = p / sk + (p % sk) * l;
            c->col_map[p] = p % sk < seg_len(nk, l, p / sk) ? (int32_t)j : -1;
            if (c->col_map[p] >= 0) c->col_inv[j] = (int32_t)p;
        }
        snprintf(c->what, sizeof c->what,
                 "permuted local: stride %lld in residue order, %lld segments of %lld", (long long)l,
                 (long long)(l < nq ? l : nq), (long long)((nq + l - 1) / l));
        return 0;
    }
    int64_t n = exec == SPC_EXEC_ROWS ? nq : nk;
    uint8_t *flag = calloc((size_t)n, 1);
    if (!flag) return -1;
    for (int i = 0; i < nt; i++)
        if (pick[i]) mark_set(t[i].set, n, flag);
    int64_t m = exec == SPC_EXEC_ROWS ? flags_to_map(flag, n, &c->row_map, &c->row_inv)
                                      : flags_to_map(flag, n, &c->col_map, &c->col_inv);
    free(flag);
    if (m < 0) return -1;
    if (exec == SPC_EXEC_ROWS) {
        c->n_q = m;
        snprintf(c->what, sizeof c->what, "gathered rows: %lld global queries against every key",
                 (long long)m);
    } else {
        c->n_k = m;
        snprintf(c->what, sizeof c->what, "gathered columns: %lld summary/global keys for every query",
                 (long long)m);
    }
    return 0;
}

static int compile_component(const spc_bound *b, const bnode *pred, spc_component *c, spc_error *err)
{
    perm_ctx pc = {c->stride, 0, 0, b->g.n_q, b->g.n_k, b->g.block};
    all_ctx ac = {(c->n_k + b->g.block - 1) / b->g.block};
    spc_space sp = {c->n_q, c->n_k, c->row_map, c->col_map, NULL, NULL};
    if (c->exec == SPC_EXEC_PERMUTED) {
        pc.sq = c->n_q / c->stride;
        pc.sk = c->n_k / c->stride;
        sp.candidates = perm_candidates;
        sp.ctx = &pc;
    } else if (c->exec != SPC_EXEC_LUT) {
        sp.candidates = all_candidates;
        sp.ctx = &ac;
    }
    if (spc_compile_space(b, pred, &sp, &c->lut, err) != 0) return -1;
    spc_lut_stats(c->lut, &c->stats);
    return 0;
}

static double computed(const spc_stats *s, int block)
{
    return (double)(s->full_blocks + s->partial_blocks) * block * block;
}

/* Gather, scatter and merge traffic of a component, in computed-score equivalents. */
static double traffic(const spc_bound *b, const spc_component *c)
{
    double rows = (double)c->n_q; /* its output rows are read by the merge */
    if (c->row_map) rows += (double)c->n_q;
    if (c->col_map) rows += 2.0 * (double)c->n_k;
    return ROW_COST * b->g.heads * rows;
}

/* Compiles configuration `accept` (which special kinds get components of their own) into d.
 * Order: the block LUT (with every term not accepted elsewhere), then ROWS, COLS, PERMUTED, each
 * minus the terms of the components before it. Empty components are dropped. */
/* accept[] is indexed by rank(). */
static int build(dctx *x, const term *t, int nt, const bool accept[4], spc_decomposition *d)
{
    static const spc_exec order[4] = {SPC_EXEC_LUT, SPC_EXEC_ROWS, SPC_EXEC_COLS, SPC_EXEC_PERMUTED};
    bool covered[MAX_TERMS] = {false};
    d->n = 0;
    d->cost = 0;
    for (int k = 0; k < 4; k++) {
        bool pick[MAX_TERMS] = {false}, any = false, oom = false;
        for (int i = 0; i < nt; i++) { /* the block LUT also takes the terms of kinds not accepted */
            bool mine = k == 0 ? t[i].exec == SPC_EXEC_LUT || !accept[rank(t[i].exec)]
                               : t[i].exec == order[k] && accept[rank(order[k])];
            pick[i] = !covered[i] && mine;
            any |= pick[i];
        }
        if (!any) continue;
        const bnode *pred = union_of(x, t, nt, pick, &oom), *before = union_of(x, t, nt, covered, &oom);
        if (pred && before) {
            const bnode *no = wrap(x, K_NOT, before, NULL);
            pred = no ? wrap(x, K_AND, pred, no) : NULL;
        }
        if (oom || !pred) goto oom;
        spc_component *c = &d->comp[d->n];
        if (make_space(x->b, order[k], t, nt, pick, c) != 0) {
            component_clear(c);
            goto oom;
        }
        for (int i = 0; i < nt; i++)
            covered[i] |= pick[i];
        if (c->n_q < 1 || c->n_k < 1) { /* no global token inside the sequence: nothing to run */
            component_clear(c);
            continue;
        }
        if (compile_component(x->b, pred, c, x->err) != 0) {
            component_clear(c);
            return -1;
        }
        if (c->stats.allowed == 0) {
            component_clear(c);
            continue;
        }
        c->computed = computed(&c->stats, x->b->g.block);
        c->cost = c->computed + traffic(x->b, c);
        d->cost += c->cost;
        d->n++;
    }
    d->cost += ROW_COST * x->b->g.heads * (double)x->b->g.n_q; /* the merge writes O once */
    return 0;
oom:
    spc_set_error(x->err, 0, "out of memory while decomposing the pattern");
    return -1;
}

static void decomposition_clear(spc_decomposition *d)
{
    for (int k = 0; k < d->n; k++)
        component_clear(&d->comp[k]);
    d->n = 0;
}

int spc_decompose(const spc_bound *b, const spc_stats *plain, spc_decompose_mode mode,
                  spc_decomposition **out, spc_error *err)
{
    *out = NULL;
    spc_decomposition *d = calloc(1, sizeof *d), *trial = calloc(1, sizeof *trial);
    if (!d || !trial) {
        free(d);
        free(trial);
        spc_set_error(err, 0, "out of memory");
        return -1;
    }
    d->plain_computed = computed(plain, b->g.block);
    d->plain_allowed = plain->allowed;
    d->plain_cost = d->plain_computed;
    *out = d;
    if (mode == SPC_DECOMPOSE_OFF) {
        snprintf(d->why, sizeof d->why, "decomposition turned off");
        free(trial);
        return 0;
    }
    if (b->root->head_dep || b->root->kind == K_HEADS || b->g.n_q > INT32_MAX || b->g.n_k > INT32_MAX) {
        snprintf(d->why, sizeof d->why, "per-head patterns run as one block LUT");
        free(trial);
        return 0;
    }
    dctx x = {b, NULL, 0, 0, b->n_nodes, err};
    term t[MAX_TERMS];
    int nt = expand(&x, b->root, t, MAX_TERMS);
    int rc = 0;
    bool special[4] = {false}, accept[4] = {true, false, false, false};
    for (int i = 0; i < nt; i++)
        special[rank(t[i].exec)] |= t[i].exec != SPC_EXEC_LUT;
    if (nt < 0) {
        snprintf(d->why, sizeof d->why, "the spec expands to more than %d terms", MAX_TERMS);
        goto done;
    }
    if (!special[1] && !special[2] && !special[3]) {
        snprintf(d->why, sizeof d->why,
                 "no stride lines, summary columns or global tokens: the block LUT is exact");
        goto done;
    }
    /* Greedy: give each special kind its own component when the whole configuration is cheaper. */
    double best = d->plain_cost;
    for (int r = 3; r >= 1; r--) { /* ROWS, COLS, PERMUTED */
        if (!special[r]) continue;
        accept[r] = true;
        if ((rc = build(&x, t, nt, accept, trial)) != 0) goto done;
        if (mode == SPC_DECOMPOSE_FORCE || trial->cost < best) {
            best = trial->cost;
            decomposition_clear(d);
            memcpy(d->comp, trial->comp, sizeof d->comp);
            d->n = trial->n;
            d->cost = trial->cost;
            trial->n = 0;
        } else {
            accept[r] = false;
            decomposition_clear(trial);
        }
    }
    if (d->n == 0)
        snprintf(d->why, sizeof d->why, "the cost model keeps the block LUT (%.3g computed elements)",
                 d->plain_cost);
done:
    made_free(&x);
    decomposition_clear(trial);
    free(trial);
    if (rc != 0) {
        spc_decomposition_free(d);
        *out = NULL;
    }
    return rc;
}

void spc_decomposition_free(spc_decomposition *d)
{
    if (!d) return;
    decomposition_clear(d);
    free(d);
}

bool spc_component_allowed(const spc_component *c, int head, int64_t i, int64_t j)
{
    int64_t p = c->row_inv ? c->row_inv[i] : i, q = c->col_inv ? c->col_inv[j] : j;
    return p >= 0 && q >= 0 && spc_lut_allowed(c->lut, head, p, q);
}
