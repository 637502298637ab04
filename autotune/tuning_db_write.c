/* Tuning databases, the writing side (`sparsecl tune`): new databases, entries, atomic save. */
#include "tuning_db_write.h"

#include "scl_fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int scl_tuning_db_save(const char *path, const cJSON *db, char *msg, size_t len)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (scl_mkdirs(dir) != 0) {
            snprintf(msg, len, "cannot create %s: %s", dir, strerror(errno));
            return -1;
        }
    }
    char *text = cJSON_Print(db);
    if (!text) {
        snprintf(msg, len, "out of memory serialising the tuning database");
        return -1;
    }
    int rc = scl_write_file_atomic(path, text, strlen(text), msg, len);
    free(text);
    return rc;
}

cJSON *scl_tuning_db_new(const scl_device_info *dev)
{
    cJSON *db = cJSON_CreateObject();
    cJSON_AddStringToObject(db, "format", SCLI_TUNING_FORMAT);
    cJSON_AddNumberToObject(db, "version", SCLI_TUNING_VERSION);
    scli_device_identity_json(db, dev, "device", "opencl");
    cJSON_AddStringToObject(db, "library_version", scl_version());
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(db, "date", date);
    cJSON_AddArrayToObject(db, "entries");
    return db;
}

cJSON *scl_tuning_db_entry(cJSON *db, const scli_param_schema *k, int head_dim, int block, scl_dtype dtype)
{
    cJSON *e = scli_tuning_db_find(db, k, head_dim, block, dtype);
    cJSON *entries = cJSON_GetObjectItemCaseSensitive(db, "entries");
    if (e || !cJSON_IsArray(entries)) return e;
    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "kernel", k->kernel);
    cJSON_AddStringToObject(e, "variant", k->variant);
    cJSON_AddNumberToObject(e, "head_dim", head_dim);
    cJSON_AddNumberToObject(e, "block", block);
    cJSON_AddStringToObject(e, "dtype", scli_dtype_name(dtype));
    cJSON_AddStringToObject(e, "direction", k->direction);
    cJSON_AddItemToArray(entries, e);
    return e;
}

cJSON *scl_params_to_json(const scli_param_schema *k, const void *p)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < k->n; i++)
        cJSON_AddNumberToObject(o, k->defs[i].name, *scli_param_at(k, (void *)p, i));
    return o;
}
