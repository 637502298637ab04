/* The sparsity block size of a plan made with SCL_BLOCK_AUTO: a tuned "block choice" entry of the
 * device's tuning databases (format in results/tuning/README.md), else the compiler's rule
 * (spc_block_rule). Shared by plans, `sparsecl info` and the tuner (whose incumbent it is). */
#ifndef SCLI_BLOCK_CHOICE_H
#define SCLI_BLOCK_CHOICE_H

#include "internal.h"
#include "scl_patterns.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

struct scli_tuning_set;

/* The shape class of a block-choice entry: the pattern class (the normalised spec text), head dim,
 * dtype, sequence-length bucket (the power of two at or above N_q) and direction ("forward": the
 * forward pass alone; "backward": forward + backward). */
typedef struct scli_block_class {
    const char *pattern;
    int head_dim;
    scl_dtype dtype;
    int64_t seq_bucket;
    const char *direction;
} scli_block_class;

bool scli_block_is_auto(int block);
/* "f32", "f16", "bf16" (scli_dtype_name's names); false otherwise. */
bool scli_dtype_from_name(const char *name, scl_dtype *out);
int64_t scli_seq_bucket(int64_t n);
void scli_block_class_of(const spc_pattern *p, const scl_shape *s, scl_dtype dtype, bool backward,
                        scli_block_class *out);
/* The class's entry of one database, or NULL. */
cJSON *scli_block_entry_find(const cJSON *db, const scli_block_class *k);

/* The block for pattern p at shape s (its block ignored; seq_k 0 means seq_q): the first valid
 * entry of the class in set (exact databases before same-architecture ones; NULL set: none), else
 * the rule under decomposition mode. *why: "<source>" (the database entry, or the rule's
 * sentence), with any entry passed over and why. *from_db tells which. Returns 0, or -1 with *err
 * when no candidate binds the pattern. */
int scli_block_choose(const struct scli_tuning_set *set, const spc_pattern *p, const scl_shape *s,
                     scl_dtype dtype, bool backward, spc_decompose_mode mode, int *block, bool *from_db,
                     char *why, size_t len, spc_error *err);

#endif
