/* Tuning databases, the writing side: what `sparsecl tune` needs beyond the runtime's reader. */
#ifndef SCL_TUNING_DB_WRITE_H
#define SCL_TUNING_DB_WRITE_H

#include "tuning_db.h"

/* Write atomically (temp file + rename) so an interrupted writer leaves the old file intact. */
int scl_tuning_db_save(const char *path, const cJSON *db, char *msg, size_t len);
cJSON *scl_tuning_db_new(const scl_device_info *dev);
/* The entry of a shape class of kernel variant k, added when missing (NULL only when db has no
 * entries array). */
cJSON *scl_tuning_db_entry(cJSON *db, const scli_param_schema *k, int head_dim, int block, scl_dtype dtype);
/* Parameters as a JSON object of the schema's fields. */
cJSON *scl_params_to_json(const scli_param_schema *k, const void *p);

#endif
