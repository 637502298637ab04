/* Internal structures shared by the pattern compiler's files (not part of any API). */
#ifndef SPC_INTERNAL_H
#define SPC_INTERNAL_H

#include "scl_patterns.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest integer the spec language accepts; keeps every derived product (w * d, i +- w) far
 * from int64 overflow. */
#define SPC_INT_MAX ((int64_t)1 << 48)
/* Largest sequence length a geometry may have (2^40 tokens). */
#define SPC_N_MAX ((int64_t)1 << 40)

typedef enum spc_kind {
    K_DENSE,
    K_CAUSAL,
    K_LOCAL,      /* p0 = w */
    K_STRIDED,    /* p0 = l */
    K_FIXED,      /* p0 = l, p1 = c */
    K_DILATED,    /* p0 = w, p1 = d */
    K_GLOBAL,     /* ranges */
    K_LONGFORMER, /* p0 = w, ranges (parse tree only: bound as local | global) */
    K_BIGBIRD,    /* p0 = window, p1 = globals, p2 = randoms, p3 = seed */
    K_LAYOUT,     /* path */
    K_OR,
    K_AND,
    K_HEADS,
    /* Made only by the decomposer (decompose.c), never by the parser: */
    K_NOT,  /* a: complement, for partitioning the allowed set into components */
    K_ROWS, /* g: i in G (the query half of global(G)) */
    K_COLS  /* g: j in G (the key half) */
} spc_kind;

typedef struct spc_range {
    int64_t lo, hi; /* inclusive */
} spc_range;

typedef struct spc_node spc_node;

typedef struct spc_clause {
    spc_range *ranges;
    int n_ranges;
    int column;
    spc_node *spec;
} spc_clause;

/* Parse tree node. `column` is the 1-based column of the token that names it. */
struct spc_node {
    spc_kind kind;
    int column;
    int64_t p[4];
    int np;
    spc_range *ranges; /* global/longformer token ranges */
    int n_ranges;
    char *path; /* layout() */
    struct spc_memlayout *mem; /* layout held in memory (layout_mem.c), or NULL: read `path` */
    spc_node *a, *b;
    spc_clause *clauses; /* heads() */
    int n_clauses;
    int depth; /* levels of the subtree rooted here (a leaf is 1), bounded by the parser */
};

struct spc_pattern {
    spc_node *root;
    char *text;
};

/* Bound node: a parse node with everything resolved against a geometry. */
typedef struct bnode bnode;
struct bnode {
    spc_kind kind; /* never K_LONGFORMER */
    int id;        /* unique within the bound tree; tags mask keys */
    int64_t p[4];
    spc_range *g; /* K_GLOBAL: sorted, disjoint, non-adjacent token ranges */
    int ng;
    /* K_BIGBIRD: half window, global blocks, per-row sorted random key blocks */
    int64_t bb_half, bb_glob;
    int32_t *bb_rand; /* [nb_q * bb_nrand], -1 = unused slot */
    int bb_nrand;
    /* K_LAYOUT: 0/1 bytes [lay_heads][nb_q][nb_k]; head index = head - head_base */
    uint8_t *lay;
    int lay_heads, head_base;
    /* K_LAYOUT from memory with element masks (layout_mem.c): per block -1 or a mask id; masks of
     * g.block^2 bits; per mask 0 = no bit set, 1 = every bit, 2 = mixed. NULL lay_mid: no masks. */
    int32_t *lay_mid;
    uint32_t *lay_masks;
    uint8_t *lay_mclass;
    bnode *a, *b;
    /* K_HEADS: clause children, and head ranges sorted by lo with their clause index */
    int nh;
    bnode **hc;
    int nhr;
    spc_range *hr;
    int *hidx;
    bool head_dep; /* does the predicate depend on the head (beyond dispatch)? */
};

struct spc_bound {
    spc_geometry g;
    int nb_q, nb_k;
    bnode *root;
    int n_nodes;
    char *text;
};

/* Errors. */
void spc_set_error(spc_error *err, int column, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Empties err (NULL is fine) before a call that may set it. */
void spc_clear_error(spc_error *err);

/* Predicate of one bound node (exact definition). */
bool spc_node_allowed(const spc_bound *b, const bnode *n, int head, int64_t i, int64_t j);
/* The node that decides head `head` (descends through heads() dispatch). */
const bnode *spc_node_for_head(const bnode *n, int head);

/* Parse tree helpers. */
void spc_node_free(spc_node *n);
/* The primitive's name and fixed argument count (-1: a list), or NULL for operators. */
const char *spc_kind_name(spc_kind kind, int *nargs);
/* The normalised text of a parse tree (malloc'ed), or NULL when out of memory (spec_print.c). */
char *spc_node_text(const spc_node *root);

/* Growable arrays. */
typedef struct spc_i64vec {
    int64_t *v;
    size_t n, cap;
} spc_i64vec;
bool spc_i64_push(spc_i64vec *v, int64_t x);
/* Defines `linkage bool name(vec *v, elem x)`: appends x to the growable array v (fields v, n,
 * cap), doubling its room from `first` elements; false (v unchanged) when out of memory. */
#define SPC_DEFINE_PUSH(linkage, name, vec, elem, first)                                                \
    linkage bool name(vec *v, elem x)                                                                   \
    {                                                                                                   \
        if (v->n == v->cap) {                                                                           \
            size_t cap = v->cap ? v->cap * 2 : (first);                                                 \
            elem *nv = realloc(v->v, sizeof *nv * cap);                                                 \
            if (!nv) return false;                                                                      \
            v->v = nv;                                                                                  \
            v->cap = cap;                                                                               \
        }                                                                                               \
        v->v[v->n++] = x;                                                                               \
        return true;                                                                                    \
    }

/* Block classifier and mask key of a bound node over the valid rectangle [i0,i1] x [j0,j1]
 * (already clipped to n_q, n_k). Returns SPC_EMPTY/SPC_FULL/SPC_PARTIAL; on PARTIAL it appended
 * an exact mask key to `key`. Returns -1 when memory runs out. */
int spc_eval_block(const spc_bound *b, const bnode *n, int head, int64_t i0, int64_t i1, int64_t j0,
                   int64_t j1, spc_i64vec *key);

/* Candidate key blocks of one query block row: a sorted list of disjoint inclusive block
 * intervals [lo, hi] (pairs in `out`) that is a superset of the non-empty blocks. */
int spc_row_candidates(const spc_bound *b, const bnode *n, int head, int r, spc_i64vec *out);

/* The space a LUT is compiled over: the pattern's own geometry, or a mapped one whose positions
 * are gathered from the original ones (decompose.c): map[p] = original index of position p, or
 * -1 for padding (never allowed). NULL maps are the identity. `candidates` lists, for block row
 * r of the space, a superset of its non-empty key blocks as sorted disjoint intervals; NULL
 * (identity rows and columns only) uses spc_row_candidates. */
typedef struct spc_space {
    int64_t n_q, n_k;
    const int32_t *row_map, *col_map;
    int (*candidates)(const void *ctx, int r, spc_i64vec *out);
    const void *ctx;
} spc_space;
/* Compile the predicate `pred` (NULL: the bound pattern's own, per head) over a space. */
int spc_compile_space(const spc_bound *b, const bnode *pred, const spc_space *sp, spc_lut **out,
                      spc_error *err);

/* Layouts held in memory (layout_mem.c; scl_pattern_create_layout). The parse node owns a copy of
 * the caller's arrays; binding turns it into the same u8 array a layout(path.npy) file gives, so
 * both are checked alike, then copies the element masks into the bound node. */
typedef struct spc_memlayout {
    int heads, block;
    int64_t nb_q, nb_k;
    uint8_t *lay;     /* [heads * nb_q * nb_k], 0/1 */
    int32_t *mask_id; /* NULL or [heads * nb_q * nb_k]: -1 = whole block, else a mask */
    uint32_t *masks;  /* [n_masks * mask_words] */
    int32_t n_masks, mask_words;
} spc_memlayout;
void spc_memlayout_free(spc_memlayout *m);
struct npy_array;
/* The layout as a freshly allocated u8 array [heads, nb_q, nb_k] (npy_free releases it); -1 and
 * a message when the geometry's block differs from the layout's or memory runs out. */
int spc_memlayout_array(const spc_memlayout *m, int geometry_block, struct npy_array *out, char *msg, size_t len);
/* Copy the element masks into a bound K_LAYOUT node (nothing when there are none). */
int spc_memlayout_bind_masks(const spc_memlayout *m, bnode *n, spc_error *err, int column);
/* Element (i, j) of layout block `e` (index into lay) of a node with masks. */
bool spc_layout_mask_allowed(const spc_bound *b, const bnode *n, int64_t e, int64_t i, int64_t j);
/* spc_eval_block for a K_LAYOUT node with masks. */
int spc_layout_mask_eval(const spc_bound *b, const bnode *n, int head, int64_t i0, int64_t i1, int64_t j0,
                         int64_t j1, spc_i64vec *key);

/* Deterministic random stream for BigBird (splitmix64; identical on every platform). */
uint64_t spc_splitmix64(uint64_t *state);

/* Atomic output files and checksums (scl_fileio.h), with errors as spc_error. */
#include "scl_fileio.h"
static inline FILE *spc_atomic_open(const char *path, char **tmp, spc_error *err)
{
    char m[512];
    FILE *f = scl_atomic_open(path, tmp, m, sizeof m);
    if (!f) spc_set_error(err, 0, "%s", m);
    return f;
}
static inline int spc_atomic_close(FILE *f, char *tmp, const char *path, bool ok, spc_error *err)
{
    char m[512];
    int rc = scl_atomic_close(f, tmp, path, ok, m, sizeof m);
    if (rc != 0 && (!err || !err->message[0])) spc_set_error(err, 0, "%s", m);
    return rc;
}

/* Floor division and modulo for possibly negative numerators (d > 0). */
static inline int64_t spc_floordiv(int64_t a, int64_t d)
{
    int64_t q = a / d;
    return (a % d != 0 && a < 0) ? q - 1 : q;
}
static inline int64_t spc_mod(int64_t a, int64_t d)
{
    int64_t m = a % d;
    return m < 0 ? m + d : m;
}

#endif
