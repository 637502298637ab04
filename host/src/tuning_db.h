/* Tuning databases, the reading side (the runtime owns it; `sparsecl tune` writes them through
 * tools/tuning_db_write.h): one JSON file per device (format in results/tuning/README.md). */
#ifndef SCL_TUNING_DB_H
#define SCL_TUNING_DB_H

#include "param_schema.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define SCL_TUNING_FORMAT "sparsecl-tuning"
#define SCL_TUNING_VERSION 1
#define SCL_TUNING_MAX_DIRS 4

/* File name of a device's database: lower-case name, runs of other characters as '-'. */
void scl_device_slug(const scl_device_info *dev, char *out, size_t len);
/* Directories searched, in order: the user cache ($SPARSECL_CACHE_DIR/tuning, ...), then
 * $SPARSECL_TUNING_DIR, then the databases shipped with the library: <prefix>/share/sparsecl/tuning
 * of the installed library, found relative to it (build_info.h), or the source tree's
 * results/tuning for an uninstalled build; left out when SPARSECL_SHIPPED_TUNING=off. Returns how
 * many were written to dirs. */
int scl_tuning_dirs(char dirs[][1024], int max);
/* The user's own tuning directory (where `sparsecl tune` writes); false when caching is off. */
bool scl_tuning_user_dir(char *out, size_t len);

/* The architecture a device's tuned parameters carry over to, like CLBlast's database falls back
 * from a device to its architecture: "nvidia-sm_90" (compute capability: the driver's query, else
 * the device name's family, e.g. H100/H200 -> sm_90), "pocl-skylake-avx512" (the LLVM CPU of a
 * PoCL CPU device, from its HSTR or its name "pthread-<cpu>-<model>"), "amd-gfx90a"; "" when
 * unknown (no fallback). */
void scl_device_arch(const scl_device_info *dev, char *out, size_t len);
/* The same from a database's strings ("arch" when it has one, else device, vendor, platform,
 * opencl), without a live device. */
void scl_tuning_db_arch(const cJSON *db, char *out, size_t len);

/* Read a database; NULL with a one-line reason when it is missing, unreadable, not JSON, or not
 * a sparsecl tuning database of a known version. */
cJSON *scl_tuning_db_load(const char *path, char *msg, size_t len);
/* The same checks on a database already in memory (size bytes, no terminator needed); `name`
 * labels the messages. The file reader above is this plus reading the file. */
cJSON *scl_tuning_db_parse(const char *text, size_t size, const char *name, char *msg, size_t len);
/* The entry of a shape class of a kernel variant (entries without "variant" are "simt"), or NULL. */
cJSON *scl_tuning_db_find(const cJSON *db, const scl_param_schema *k, int head_dim, int block, scl_dtype dtype);
/* Parameters of schema k from a JSON object of its fields; false when a field is missing or not
 * an integer (out is zeroed first, so points compare with memcmp). */
bool scl_params_from_json(const scl_param_schema *k, const cJSON *obj, void *out);

#define SCL_TUNING_MAX_DBS 16

/* One database of a set: the device's own (exact) or another device's of the same architecture. */
typedef struct scl_tuning_db_ref {
    char path[1300];
    cJSON *db;
    bool exact;
    char device[128]; /* the device it was tuned on */
} scl_tuning_db_ref;

/* Every database of one device along the search path, read once: first the device's own in each
 * directory (<slug>.json), then, in each directory in the same order (files sorted by name), the
 * databases of other devices of the same architecture. */
typedef struct scl_tuning_set {
    int n;
    scl_tuning_db_ref dbs[SCL_TUNING_MAX_DBS];
    char arch[64]; /* the device's architecture ("" unknown: no fallback databases) */
    int n_dirs;
    char dirs[SCL_TUNING_MAX_DIRS][1024];
    int n_errors; /* the device's own databases that could not be read, with why */
    char error_path[SCL_TUNING_MAX_DIRS][1300];
    char errors[SCL_TUNING_MAX_DIRS][1400];
} scl_tuning_set;
/* Unreadable or corrupt files of the device are skipped with a warning on stderr (unless
 * SPARSECL_QUIET, or warn is false) and kept in errors; other devices' unreadable files are
 * skipped silently. */
void scl_tuning_set_read(scl_tuning_set *set, const scl_device_info *dev, bool warn);
void scl_tuning_set_load(scl_tuning_set *set, const scl_device_info *dev); /* warn = true */
void scl_tuning_set_free(scl_tuning_set *set);

/* What a look-up found for one shape class: the entry used (db >= 0: set->dbs[db]; exact or an
 * architecture fallback) or none (-1: the built-in defaults), and every entry of the shape class
 * passed over before it because its parameters are invalid on this device, with the reason
 * (scl_params_check, or unreadable parameters). */
typedef struct scl_tuning_choice {
    int db;
    const cJSON *entry;
    int n_skipped;
    struct {
        int db;
        char reason[256];
    } skipped[SCL_TUNING_MAX_DBS];
} scl_tuning_choice;
/* Kernel k's parameters for (pc->head_dim, pc->block, dtype): the first entry of the shape class
 * whose parameters are valid here (pc), exact databases before fallback ones; false (c->db = -1)
 * when none. This is the look-up plans and `sparsecl info` both use. */
bool scl_tuning_set_choose(const scl_tuning_set *set, const scl_param_schema *k, const scl_param_context *pc,
                           scl_dtype dtype, void *out, scl_tuning_choice *c);
/* Where the parameters came from, for plans and `sparsecl info`: "<file> (d=64 block=64 f32, exact
 * device)" or "<file> (d=64 block=64 f32, fallback: same architecture nvidia-sm_90, tuned on NVIDIA
 * H100 80GB HBM3)"; when entries were passed over, "; passed over <file>: <reason>" for each. With
 * c->db < 0 only the passed-over part (or ""). */
void scl_tuning_choice_text(const scl_tuning_set *set, const scl_tuning_choice *c, const scl_param_context *pc,
                            scl_dtype dtype, char *out, size_t len);
/* scl_tuning_set_choose + scl_tuning_choice_text into source (only when found). */
bool scl_tuning_set_lookup(const scl_tuning_set *set, const scl_param_schema *k, const scl_param_context *pc,
                           scl_dtype dtype, void *out, char *source, size_t len);
/* The same over a set read for this call (tools and tests; plans use the runtime's set). */
bool scl_tuning_lookup(const scl_param_schema *k, const scl_device_info *dev, const scl_param_context *pc,
                       scl_dtype dtype, void *out, char *source, size_t len);

#endif
