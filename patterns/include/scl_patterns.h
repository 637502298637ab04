/* Pattern compiler: spec text -> element predicate -> block layout -> lookup tables.
 * Plain C11, no OpenCL: testable without a device. Internal API of sparsecl (not installed);
 * the public API wraps it as scl_pattern in host/include/sparsecl.h. */
#ifndef SCL_PATTERNS_H
#define SCL_PATTERNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An error from the parser or compiler: one line of text, and the 1-based column of the
 * offending token in the spec (0 when the error is not about a position in the text). */
typedef struct spc_error {
    char message[512];
    int column;
} spc_error;

/* Geometry the pattern is compiled for. Block-level primitives (bigbird, layout) need `block`. */
typedef struct spc_geometry {
    int64_t n_q;  /* query length  >= 1 */
    int64_t n_k;  /* key length    >= 1 */
    int block;    /* layout block size: power of two 8..256 */
    int heads;    /* number of query heads >= 1 */
} spc_geometry;

typedef struct spc_pattern spc_pattern; /* parsed spec (AST), geometry-free */
typedef struct spc_bound spc_bound;     /* spec bound to a geometry: evaluable predicate */

/* Parse one line of spec text. Returns 0 on success; on failure fills *err and returns -1. */
int spc_parse(const char *spec, spc_pattern **out, spc_error *err);
void spc_pattern_free(spc_pattern *p);
/* The spec as the parser understood it (normalised text), for messages and metadata. */
const char *spc_pattern_text(const spc_pattern *p);
/* A pattern made of one block layout held in memory (layout_mem.c), as layout(path.npy) reads from
 * a file: layout[h][r][c] != 0 attends, heads = 1 (all heads) or the geometry's heads, for one
 * block size. mask_ids (NULL, or one per block: -1 = whole block, else an index into masks) and
 * n_masks masks of block*block/32 words (bit layout of spc_lut masks) restrict blocks to elements.
 * The arrays are copied. Returns 0, or -1 with *err filled. */
int spc_pattern_from_layout(const uint8_t *layout, int heads, int64_t nb_q, int64_t nb_k, int block,
                            const int32_t *mask_ids, const uint32_t *masks, int32_t n_masks, spc_pattern **out,
                            spc_error *err);

/* Bind a parsed spec to a geometry: loads layout() files, draws BigBird's random blocks,
 * checks per-head coverage and sizes. Returns 0 or -1 with *err filled. */
int spc_bind(const spc_pattern *p, const spc_geometry *g, spc_bound **out, spc_error *err);
void spc_bound_free(spc_bound *b);
/* Element predicate: may query position i attend key position j in head h?
 * This evaluates the definitions directly (used by the reference, never by the LUT path). */
bool spc_allowed(const spc_bound *b, int head, int64_t i, int64_t j);

/* Block classes, as written to layout files. */
enum { SPC_EMPTY = 0, SPC_FULL = 1, SPC_PARTIAL = 2 };

/* Compiled lookup tables. Heads with identical layouts share one "layout" (CSR set).
 * Row CSR of layout L: entries row_ptr[L*(nb_q+1) + r] .. row_ptr[L*(nb_q+1) + r + 1] - 1
 * index col_idx[] / row_mask[]; offsets are global into the nnz arrays.
 * Column CSR likewise with col_ptr[L*(nb_k+1) + c], row_idx[], col_mask[]; it is the exact
 * transpose of the row CSR. mask id -1 = full block (no mask work), else index into masks[].
 * Mask m, bit for element (r, c) of the block (0 <= r, c < block): word (r*block + c) / 32,
 * bit (r*block + c) % 32 of masks[m * mask_words + ...]. Bits outside N_q x N_k (tails) are 0. */
typedef struct spc_lut {
    int64_t n_q, n_k;
    int block, heads;
    int nb_q, nb_k;        /* ceil(n / block) */
    int n_layouts;         /* unique layouts */
    int32_t *head_layout;  /* [heads] -> layout index */
    int64_t nnz;           /* non-empty blocks over all unique layouts */
    int32_t *row_ptr;      /* [n_layouts * (nb_q + 1)] */
    int32_t *col_idx;      /* [nnz] */
    int32_t *row_mask;     /* [nnz] */
    int32_t *col_ptr;      /* [n_layouts * (nb_k + 1)] */
    int32_t *row_idx;      /* [nnz] */
    int32_t *col_mask;     /* [nnz] */
    int32_t n_masks;       /* unique partial-block masks */
    int32_t mask_words;    /* ceil(block*block / 32) */
    uint32_t *masks;       /* [n_masks * mask_words] */
} spc_lut;

/* Statistics over all heads (per-head layouts counted once per head that uses them). */
typedef struct spc_stats {
    double density;            /* allowed elements / (heads * n_q * n_k) */
    double block_density;      /* non-empty blocks / (heads * nb_q * nb_k) */
    int64_t allowed;           /* allowed elements over all heads */
    int64_t full_blocks, partial_blocks, empty_blocks; /* over all heads */
    int32_t unique_masks;
    int32_t unique_layouts;
    int32_t max_row_blocks;    /* longest row of the row LUT */
    double mean_row_blocks;
    int64_t lut_bytes;         /* bytes of all LUT arrays + masks */
    int64_t dense_scores_bytes; /* heads * n_q * n_k * 4: what a dense fp32 score matrix needs */
} spc_stats;

/* Compile a bound pattern into LUTs. Time and memory scale with non-empty blocks and unique
 * masks, not with n_q * n_k. Returns 0 or -1 with *err filled. */
int spc_compile(const spc_bound *b, spc_lut **out, spc_error *err);
void spc_lut_free(spc_lut *lut);
void spc_lut_stats(const spc_lut *lut, spc_stats *out);
/* Is element (i, j) of head h allowed according to the LUT? (for tests and tools) */
bool spc_lut_allowed(const spc_lut *lut, int head, int64_t i, int64_t j);

/* Decomposition (decompose.c): the allowed set split exactly into components, each compiled
 * over a mapped space of gathered or permuted positions where it fills blocks well. The runtime
 * gathers Q/K/V per component, runs the block-sparse kernel on each and merges the outputs by
 * their log-sum-exps. */
typedef enum spc_exec {
    SPC_EXEC_LUT,      /* block LUT over the original positions */
    SPC_EXEC_ROWS,     /* gathered global query rows, every key */
    SPC_EXEC_COLS,     /* gathered summary/global key columns, every query */
    SPC_EXEC_PERMUTED  /* positions in residue order i mod stride: stride lines become local */
} spc_exec;

typedef enum spc_decompose_mode {
    SPC_DECOMPOSE_AUTO,  /* components the cost model finds cheaper than the block LUT */
    SPC_DECOMPOSE_OFF,   /* never: the plain block LUT */
    SPC_DECOMPOSE_FORCE  /* every component the spec offers (tests, measurements) */
} spc_decompose_mode;

typedef struct spc_component {
    spc_exec exec;
    char what[160];     /* one line for --explain */
    int64_t n_q, n_k;   /* lengths of the mapped space */
    int64_t stride;     /* SPC_EXEC_PERMUTED */
    int32_t *row_map;   /* [n_q] original query of mapped row p, -1 = padding; NULL = identity */
    int32_t *col_map;   /* [n_k] original key of mapped column, -1 = padding; NULL = identity */
    int32_t *row_inv;   /* [original n_q] mapped row of query i, -1 = not in this component; NULL = identity */
    int32_t *col_inv;   /* [original n_k] likewise for keys */
    spc_lut *lut;       /* over the mapped space */
    spc_stats stats;    /* allowed = this component's share of the pattern */
    double computed;    /* elements the kernel computes: non-empty blocks * block^2 */
    double cost;        /* computed + gather/merge traffic, in computed-element units */
} spc_component;

typedef struct spc_decomposition {
    int n;              /* components; 0 = run the plain block LUT (why says why) */
    spc_component comp[4];
    double plain_computed, plain_cost, cost;
    int64_t plain_allowed;
    char why[256];
} spc_decomposition;

/* Decompose a bound pattern. `plain` are the statistics of its plain compile (spc_compile).
 * Returns 0 (with *out, possibly n = 0) or -1 with *err filled. */
int spc_decompose(const spc_bound *b, const spc_stats *plain, spc_decompose_mode mode, spc_decomposition **out,
                  spc_error *err);
void spc_decomposition_free(spc_decomposition *d);
/* Does component c run element (i, j) of head h (original positions)? For tests and tools. */
bool spc_component_allowed(const spc_component *c, int head, int64_t i, int64_t j);

/* The block size `auto` takes without a tuning entry (block_rule.c): of the candidates, the
 * largest whose computed elements (as plans run the pattern under the decomposition mode) are
 * within SPC_BLOCK_RULE_SLACK of the fewest. Candidates that do not bind (a layout of another
 * block) are left out: computed -1. */
#define SPC_BLOCK_CANDIDATES {32, 64, 128}
#define SPC_BLOCK_N_CANDIDATES 3
#define SPC_BLOCK_RULE_SLACK 0.10
typedef struct spc_block_choice {
    int n;
    int block[SPC_BLOCK_N_CANDIDATES];
    double computed[SPC_BLOCK_N_CANDIDATES]; /* -1: does not bind at that block */
    int chosen;                              /* index into block[] */
    char why[256];
} spc_block_choice;
/* g->block is ignored. Returns 0, or -1 with *err (the first candidate's) when none binds. */
int spc_block_rule(const spc_pattern *p, const spc_geometry *g, spc_decompose_mode mode, spc_block_choice *out,
                   spc_error *err);

/* LUT file format (binary, versioned) and JSON dump; documented in patterns/README.md. */
int spc_lut_write(const spc_lut *lut, const char *path, spc_error *err);
int spc_lut_read(const char *path, spc_lut **out, spc_error *err);
int spc_lut_write_json(const spc_lut *lut, const char *path, spc_error *err);
/* Parse a LUT file image held in memory (same checks as spc_lut_read; for fuzzers/embedders). */
int spc_lut_read_mem(const void *buf, size_t len, spc_lut **out, spc_error *err);

/* Pictures and arrays of the layout. */
int spc_lut_write_layout_npy(const spc_lut *lut, const char *path, spc_error *err); /* [H, nb_q, nb_k] u8 */
/* bytes as "%.0f <unit0>" below 1 KiB, else "%.1f KiB" (MiB, ... EiB) into out (n bytes). */
void spc_format_bytes(char *out, size_t n, double bytes, const char *unit0);
int spc_write_mask_npy(const spc_bound *b, const char *path, int64_t max_bytes, spc_error *err); /* [H,N,M] u8 */
int spc_lut_write_png(const spc_lut *lut, const char *path, spc_error *err);
/* The same under a title (e.g. the spec; NULL: none) followed by the shape: a legend of the full,
 * partial and empty blocks with their counts, and "head H" over each head's panel. */
int spc_lut_write_png_titled(const spc_lut *lut, const char *path, const char *title, spc_error *err);

#ifdef __cplusplus
}
#endif
#endif
