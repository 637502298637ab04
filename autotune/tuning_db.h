/* Tuning databases: one JSON file per device (format in results/tuning/README.md), read by the
 * runtime when it makes a plan and written by `sparsecl tune`. */
#ifndef SCL_TUNING_DB_H
#define SCL_TUNING_DB_H

#include "params.h"
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
/* Write atomically (temp file + rename) so an interrupted writer leaves the old file intact. */
int scl_tuning_db_save(const char *path, const cJSON *db, char *msg, size_t len);
cJSON *scl_tuning_db_new(const scl_device_info *dev);
/* The entry of a shape class, or NULL; with create it is added when missing. */
cJSON *scl_tuning_db_entry(cJSON *db, const char *kernel, int head_dim, int block, scl_dtype dtype, bool create);

cJSON *scl_fwd_params_to_json(const scl_fwd_params *p);
/* false when a field is missing or not an integer. */
bool scl_fwd_params_from_json(const cJSON *obj, scl_fwd_params *out);

/* Runtime look-up of forward parameters for (device, d, block, dtype): the exact shape class in
 * the first database that has one and whose parameters are valid here (pc); else false.
 * `source` receives "<file> (d=.. block=.. f32)" for messages and `sparsecl info`. */
bool scl_tuning_lookup_fwd(const scl_device_info *dev, const scl_param_context *pc, scl_dtype dtype,
                           scl_fwd_params *out, char *source, size_t len);

#endif
