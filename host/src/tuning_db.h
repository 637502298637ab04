/* Tuning databases, the reading side (the runtime owns it; `sparsecl tune` writes them through
 * tools/tuning_db_write.h): one JSON file per device (format in results/tuning/README.md), and the
 * device's names in it (file name, identity strings). */
#ifndef SCLI_TUNING_DB_H
#define SCLI_TUNING_DB_H

#include "param_schema.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define SCLI_TUNING_FORMAT "sparsecl-tuning"
#define SCLI_TUNING_VERSION 1
#define SCLI_TUNING_MAX_DIRS 4

/* File name of a device's database: lower-case name, runs of other characters as '-'. */
void scli_device_slug(const scl_device_info *dev, char *out, size_t len);
/* A device's identity as the tuning databases (which the architecture is read back from) and
 * bench.json record it, added to o: the name under name_key, "vendor", "platform", "driver", then
 * the OpenCL version under version_key (the two files name these two differently). */
void scli_device_identity_json(cJSON *o, const scl_device_info *dev, const char *name_key,
                               const char *version_key);
/* Directories searched, in order: the user cache ($SPARSECL_CACHE_DIR/tuning, ...), then
 * $SPARSECL_TUNING_DIR, then the databases shipped with the library: <prefix>/share/sparsecl/tuning
 * of the installed library, found relative to it (build_info.h), or the source tree's
 * results/tuning for an uninstalled build; left out when SPARSECL_SHIPPED_TUNING=off. Returns how
 * many were written to dirs. */
int scli_tuning_dirs(char dirs[][1024], int max);
/* The user's own tuning directory (where `sparsecl tune` writes); false when caching is off. */
bool scli_tuning_user_dir(char *out, size_t len);

/* The architecture a device's tuned parameters carry over to, like CLBlast's database falls back
 * from a device to its architecture: "nvidia-sm_90" (compute capability: the driver's query, else
 * the device name's family, e.g. H100/H200 -> sm_90), "pocl-skylake-avx512" (the LLVM CPU of a
 * PoCL CPU device, from its HSTR or its name "pthread-<cpu>-<model>"), "amd-gfx90a"; "" when
 * unknown (no fallback). */
void scli_device_arch(const scl_device_info *dev, char *out, size_t len);
/* The same from a database's strings ("arch" when it has one, else device, vendor, platform,
 * opencl), without a live device. */
void scli_tuning_db_arch(const cJSON *db, char *out, size_t len);

/* Read a database; NULL with a one-line reason when it is missing, unreadable, not JSON, or not
 * a sparsecl tuning database of a known version. */
cJSON *scli_tuning_db_load(const char *path, char *msg, size_t len);
/* The same checks on a database already in memory (size bytes, no terminator needed); `name`
 * labels the messages. The file reader above is this plus reading the file. */
cJSON *scli_tuning_db_parse(const char *text, size_t size, const char *name, char *msg, size_t len);
/* The entry of a shape class of a kernel variant (entries without "variant" are "simt"), or NULL. */
cJSON *scli_tuning_db_find(const cJSON *db, const scli_param_schema *k, int head_dim, int block, scl_dtype dtype);
/* Parameters of schema k from a JSON object of its fields; false when a field is missing or not
 * an integer (out is zeroed first, so points compare with memcmp). */
bool scli_params_from_json(const scli_param_schema *k, const cJSON *obj, void *out);

#define SCLI_TUNING_MAX_DBS 16

/* One database of a set: the device's own (exact) or another device's of the same architecture. */
typedef struct scli_tuning_db_ref {
    char path[1300];
    cJSON *db;
    bool exact;
    char device[128]; /* the device it was tuned on */
} scli_tuning_db_ref;

/* Every database of one device along the search path, read once: first the device's own in each
 * directory (<slug>.json), then, in each directory in the same order (files sorted by name), the
 * databases of other devices of the same architecture. */
typedef struct scli_tuning_set {
    int n;
    scli_tuning_db_ref dbs[SCLI_TUNING_MAX_DBS];
    char arch[64]; /* the device's architecture ("" unknown: no fallback databases) */
    int n_dirs;
    char dirs[SCLI_TUNING_MAX_DIRS][1024];
    int n_errors; /* the device's own databases that could not be read, with why */
    char error_path[SCLI_TUNING_MAX_DIRS][1300];
    char errors[SCLI_TUNING_MAX_DIRS][1400];
} scli_tuning_set;
/* Unreadable or corrupt files of the device are skipped with a warning on stderr (unless
 * SPARSECL_QUIET, or warn is false) and kept in errors; other devices' unreadable files are
 * skipped silently. */
void scli_tuning_set_read(scli_tuning_set *set, const scl_device_info *dev, bool warn);
void scli_tuning_set_load(scli_tuning_set *set, const scl_device_info *dev); /* warn = true */
void scli_tuning_set_free(scli_tuning_set *set);

/* What a look-up found for one shape class: the entry used (db >= 0: set->dbs[db]; exact or an
 * architecture fallback) or none (-1: the built-in defaults), and every entry of the shape class
 * passed over before it because its parameters are invalid on this device, with the reason
 * (scli_params_check, or unreadable parameters). */
typedef struct scli_tuning_choice {
    int db;
    const cJSON *entry;
    int n_skipped;
    struct {
        int db;
        char reason[256];
    } skipped[SCLI_TUNING_MAX_DBS];
} scli_tuning_choice;
/* Kernel k's parameters for (pc->head_dim, pc->block, dtype): the first entry of the shape class
 * whose parameters are valid here (pc), exact databases before fallback ones; false (c->db = -1)
 * when none. This is the look-up plans and `sparsecl info` both use. */
bool scli_tuning_set_choose(const scli_tuning_set *set, const scli_param_schema *k, const scli_param_context *pc,
                           scl_dtype dtype, void *out, scli_tuning_choice *c);
/* Where the parameters came from, for plans and `sparsecl info`: "<file> (d=64 block=64 f32, exact
 * device)" or "<file> (d=64 block=64 f32, fallback: same architecture nvidia-sm_90, tuned on NVIDIA
 * H100 80GB HBM3)"; when entries were passed over, "; passed over <file>: <reason>" for each. With
 * c->db < 0 only the passed-over part (or ""). */
void scli_tuning_choice_text(const scli_tuning_set *set, const scli_tuning_choice *c, const scli_param_context *pc,
                            scl_dtype dtype, char *out, size_t len);
/* scli_tuning_set_choose + scli_tuning_choice_text into source (only when found). */
bool scli_tuning_set_lookup(const scli_tuning_set *set, const scli_param_schema *k, const scli_param_context *pc,
                           scl_dtype dtype, void *out, char *source, size_t len);
/* The same over a set read for this call (tools and tests; plans use the runtime's set). */
bool scli_tuning_lookup(const scli_param_schema *k, const scl_device_info *dev, const scli_param_context *pc,
                       scl_dtype dtype, void *out, char *source, size_t len);

#endif
