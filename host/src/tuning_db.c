/* Tuning database files, the reading side: search path, parsing, entry and parameter look-up. */
#include "tuning_db.h"

#include "internal.h"
#include "scl_fileio.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void scl_device_slug(const scl_device_info *dev, char *out, size_t len)
{
    size_t n = 0;
    int dash = 1;
    for (const char *p = dev->name; *p && n + 1 < len; p++) {
        if (isalnum((unsigned char)*p)) {
            out[n++] = (char)tolower((unsigned char)*p);
            dash = 0;
        } else if (!dash) {
            out[n++] = '-';
            dash = 1;
        }
    }
    while (n > 0 && out[n - 1] == '-') n--;
    out[n] = '\0';
    if (n == 0) snprintf(out, len, "device");
}

int scl_tuning_dirs(char dirs[][1024], int max)
{
    int n = 0;
    if (n < max && scl_tuning_user_dir(dirs[n], 1024)) n++;
    const char *env = getenv("SPARSECL_TUNING_DIR");
    if (env && *env && n < max) snprintf(dirs[n++], 1024, "%s", env);
    /* SPARSECL_SHIPPED_TUNING=off leaves the shipped databases out (hermetic tests, experiments). */
    const char *shipped = getenv("SPARSECL_SHIPPED_TUNING");
    if (shipped && strcmp(shipped, "off") == 0) return n;
    if (n < max) snprintf(dirs[n++], 1024, "%s", SCL_INSTALLED_TUNING_DIR);
    if (n < max) snprintf(dirs[n++], 1024, "%s", SCL_SOURCE_TUNING_DIR);
    return n;
}

bool scl_tuning_user_dir(char *out, size_t len)
{
    char cache[1024];
    scl_cache_default_dir(cache, sizeof cache);
    if (!cache[0]) return false;
    snprintf(out, len, "%s/tuning", cache);
    return true;
}

cJSON *scl_tuning_db_parse(const char *text, size_t size, const char *name, char *msg, size_t len)
{
    /* By length: the text need not be NUL-terminated (a fuzzer's buffer, a mapped file). */
    cJSON *db = cJSON_ParseWithLength(text, size);
    if (!db) {
        snprintf(msg, len, "%s: not valid JSON (truncated or corrupt); ignored", name);
        return NULL;
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(db, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(db, "version");
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(db, "entries");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, SCL_TUNING_FORMAT) != 0 || !cJSON_IsNumber(ver) ||
        ver->valueint != SCL_TUNING_VERSION || !cJSON_IsArray(entries)) {
        snprintf(msg, len, "%s: not a sparsecl tuning database of version %d; ignored", name, SCL_TUNING_VERSION);
        cJSON_Delete(db);
        return NULL;
    }
    return db;
}

cJSON *scl_tuning_db_load(const char *path, char *msg, size_t len)
{
    unsigned char *text;
    size_t size;
    if (scl_read_file(path, (size_t)64 << 20, &text, &size, msg, len) != 0) return NULL;
    cJSON *db = scl_tuning_db_parse((const char *)text, size, path, msg, len);
    free(text);
    return db;
}

static bool entry_is(const cJSON *e, const scl_param_schema *k, int d, int block, scl_dtype dtype)
{
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(e, "kernel");
    const cJSON *var = cJSON_GetObjectItemCaseSensitive(e, "variant");
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(e, "head_dim");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "block");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const char *variant = cJSON_IsString(var) ? var->valuestring : "simt";
    return cJSON_IsString(kn) && strcmp(kn->valuestring, k->kernel) == 0 && strcmp(variant, k->variant) == 0 &&
           cJSON_IsNumber(hd) && hd->valueint == d &&
           cJSON_IsNumber(b) && b->valueint == block && cJSON_IsString(t) &&
           strcmp(t->valuestring, scl_dtype_name(dtype)) == 0;
}

cJSON *scl_tuning_db_find(const cJSON *db, const scl_param_schema *k, int head_dim, int block, scl_dtype dtype)
{
    cJSON *entries = cJSON_GetObjectItemCaseSensitive(db, "entries"), *e;
    cJSON_ArrayForEach(e, entries) if (entry_is(e, k, head_dim, block, dtype)) return e;
    return NULL;
}

bool scl_params_from_json(const scl_param_schema *k, const cJSON *obj, void *out)
{
    memset(out, 0, k->size);
    if (!cJSON_IsObject(obj)) return false;
    for (int i = 0; i < k->n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k->defs[i].name);
        if (!cJSON_IsNumber(v) || v->valuedouble != (double)v->valueint) return false;
        *scl_param_at(k, out, i) = v->valueint;
    }
    return true;
}

void scl_tuning_set_load(scl_tuning_set *set, const scl_device_info *dev)
{
    char dirs[SCL_TUNING_MAX_DIRS][1024], slug[200], msg[1200];
    memset(set, 0, sizeof *set);
    scl_device_slug(dev, slug, sizeof slug);
    int n = scl_tuning_dirs(dirs, SCL_TUNING_MAX_DIRS);
    for (int i = 0; i < n; i++) {
        char *path = set->path[set->n];
        snprintf(path, sizeof set->path[0], "%s/%s.json", dirs[i], slug);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        cJSON *db = scl_tuning_db_load(path, msg, sizeof msg);
        if (!db) { /* a corrupt database is reported and skipped, never fatal */
            if (!getenv("SPARSECL_QUIET")) fprintf(stderr, "sparsecl: warning: %s\n", msg);
            continue;
        }
        set->db[set->n++] = db;
    }
}

void scl_tuning_set_free(scl_tuning_set *set)
{
    for (int i = 0; i < set->n; i++) cJSON_Delete(set->db[i]);
    set->n = 0;
}

bool scl_tuning_set_lookup(const scl_tuning_set *set, const scl_param_schema *k, const scl_param_context *pc,
                           scl_dtype dtype, void *out, char *source, size_t len)
{
    for (int i = 0; i < set->n; i++) {
        const cJSON *e = scl_tuning_db_find(set->db[i], k, pc->head_dim, pc->block, dtype);
        scl_param_values p;
        char reason[256];
        if (e && scl_params_from_json(k, cJSON_GetObjectItemCaseSensitive(e, "params"), &p) &&
            scl_params_check(k, &p, pc, reason, sizeof reason)) {
            memcpy(out, &p, k->size);
            snprintf(source, len, "%s (d=%d block=%d %s)", set->path[i], pc->head_dim, pc->block,
                     scl_dtype_name(dtype));
            return true;
        }
    }
    return false;
}

bool scl_tuning_lookup(const scl_param_schema *k, const scl_device_info *dev, const scl_param_context *pc,
                       scl_dtype dtype, void *out, char *source, size_t len)
{
    scl_tuning_set set;
    scl_tuning_set_load(&set, dev);
    bool found = scl_tuning_set_lookup(&set, k, pc, dtype, out, source, len);
    scl_tuning_set_free(&set);
    return found;
}
