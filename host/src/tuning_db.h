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
 * $SPARSECL_TUNING_DIR, then the databases shipped with the library (installed share/ folder and
 * the source tree's results/tuning; left out when SPARSECL_SHIPPED_TUNING=off). Returns how many
 * were written to dirs. */
int scl_tuning_dirs(char dirs[][1024], int max);
/* The user's own tuning directory (where `sparsecl tune` writes); false when caching is off. */
bool scl_tuning_user_dir(char *out, size_t len);

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

/* Every database of one device along the search path, read once. */
typedef struct scl_tuning_set {
    int n;
    char path[SCL_TUNING_MAX_DIRS][1300];
    cJSON *db[SCL_TUNING_MAX_DIRS];
} scl_tuning_set;
/* Unreadable or corrupt files are skipped with a warning on stderr (unless SPARSECL_QUIET). */
void scl_tuning_set_load(scl_tuning_set *set, const scl_device_info *dev);
void scl_tuning_set_free(scl_tuning_set *set);
/* Kernel k's parameters for (d, block, dtype): the exact shape class in the first database that
 * has one whose parameters are valid here (pc); else false. `source` receives
 * "<file> (d=.. block=.. f32)" for messages and `sparsecl info`. */
bool scl_tuning_set_lookup(const scl_tuning_set *set, const scl_param_schema *k, const scl_param_context *pc,
                           scl_dtype dtype, void *out, char *source, size_t len);
/* The same over a set read for this call (tools and tests; plans use the runtime's set). */
bool scl_tuning_lookup(const scl_param_schema *k, const scl_device_info *dev, const scl_param_context *pc,
                       scl_dtype dtype, void *out, char *source, size_t len);

#endif
