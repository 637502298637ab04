/* Tuning databases: one JSON file per device (format in results/tuning/README.md), read by the
 * runtime when it makes a plan and written by `sparsecl tune`. */
#ifndef SCL_TUNING_DB_H
#define SCL_TUNING_DB_H

#include "space.h"
#include "sparsecl.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define SCL_TUNING_FORMAT "sparsecl-tuning"
#define SCL_TUNING_VERSION 1

/* File name of a device's database: lower-case name, runs of other characters as '-'. */
void scl_device_slug(const scl_device_info *dev, char *out, size_t len);
/* Directories searched, in order: the user cache ($SPARSECL_CACHE_DIR/tuning, ...), then
 * $SPARSECL_TUNING_DIR, then the databases shipped with the library (installed share/ folder and
 * the source tree's results/tuning; left out when SPARSECL_SHIPPED_TUNING=off). Returns how many
 * were written to dirs. */
int scl_tuning_dirs(char dirs[][1024], int max);

/* Read a database; NULL with a one-line reason when it is missing, unreadable, not JSON, or not
 * a sparsecl tuning database of a known version. */
cJSON *scl_tuning_db_load(const char *path, char *msg, size_t len);
/* The same checks on a database already in memory (size bytes, no terminator needed); `name`
 * labels the messages. The file reader above is this plus reading the file. */
cJSON *scl_tuning_db_parse(const char *text, size_t size, const char *name, char *msg, size_t len);
/* Write atomically (temp file + rename) so an interrupted writer leaves the old file intact. */
int scl_tuning_db_save(const char *path, const cJSON *db, char *msg, size_t len);
cJSON *scl_tuning_db_new(const scl_device_info *dev);
/* The entry of a shape class, or NULL; with create it is added when missing. */
cJSON *scl_tuning_db_entry(cJSON *db, const char *kernel, int head_dim, int block, scl_dtype dtype, bool create);

/* Parameters of kernel k as a JSON object of its fields; from_json is false when a field is
 * missing or not an integer (out is zeroed first, so points compare with memcmp). */
cJSON *scl_params_to_json(const at_kernel *k, const at_params *p);
bool scl_params_from_json(const at_kernel *k, const cJSON *obj, at_params *out);
cJSON *scl_fwd_params_to_json(const scl_fwd_params *p);
bool scl_fwd_params_from_json(const cJSON *obj, scl_fwd_params *out);

/* Runtime look-up of kernel k's parameters for (device, d, block, dtype): the exact shape class in
 * the first database that has one and whose parameters are valid here (pc); else false.
 * `source` receives "<file> (d=.. block=.. f32)" for messages and `sparsecl info`. */
bool scl_tuning_lookup(const at_kernel *k, const scl_device_info *dev, const scl_param_context *pc,
                       scl_dtype dtype, at_params *out, char *source, size_t len);
bool scl_tuning_lookup_fwd(const scl_device_info *dev, const scl_param_context *pc, scl_dtype dtype,
                           scl_fwd_params *out, char *source, size_t len);
/* The same for the backward kernels ("attn_bwd" entries). */
bool scl_tuning_lookup_bwd(const scl_device_info *dev, const scl_param_context *pc, scl_dtype dtype,
                           scl_bwd_params *out, char *source, size_t len);

#endif
