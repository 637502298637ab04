/* Tuning database files: JSON read/write, atomic replace, look-up order. */
#include "tuning_db.h"

#include "internal.h"
#include "scl_fileio.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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
    char cache[1024];
    scl_cache_default_dir(cache, sizeof cache);
    if (cache[0] && n < max) snprintf(dirs[n++], 1024, "%s/tuning", cache);
    const char *env = getenv("SPARSECL_TUNING_DIR");
    if (env && *env && n < max) snprintf(dirs[n++], 1024, "%s", env);
    /* SPARSECL_SHIPPED_TUNING=off leaves the shipped databases out (hermetic tests, experiments). */
    const char *shipped = getenv("SPARSECL_SHIPPED_TUNING");
    if (shipped && strcmp(shipped, "off") == 0) return n;
    if (n < max) snprintf(dirs[n++], 1024, "%s", SCL_INSTALLED_TUNING_DIR);
    if (n < max) snprintf(dirs[n++], 1024, "%s", SCL_SOURCE_TUNING_DIR);
    return n;
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
    cJSON_AddStringToObject(db, "format", SCL_TUNING_FORMAT);
    cJSON_AddNumberToObject(db, "version", SCL_TUNING_VERSION);
    cJSON_AddStringToObject(db, "device", dev->name);
    cJSON_AddStringToObject(db, "vendor", dev->vendor);
    cJSON_AddStringToObject(db, "platform", dev->platform_name);
    cJSON_AddStringToObject(db, "driver", dev->driver_version);
    cJSON_AddStringToObject(db, "opencl", dev->device_version);
    cJSON_AddStringToObject(db, "library_version", scl_version());
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(db, "date", date);
    cJSON_AddArrayToObject(db, "entries");
    return db;
}

static const char *dtype_name(scl_dtype t)
{
    return t == SCL_F16 ? "f16" : "f32";
}

static bool entry_is(const cJSON *e, const char *kernel, int d, int block, scl_dtype dtype)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "kernel");
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(e, "head_dim");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "block");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    return cJSON_IsString(k) && strcmp(k->valuestring, kernel) == 0 && cJSON_IsNumber(hd) && hd->valueint == d &&
           cJSON_IsNumber(b) && b->valueint == block && cJSON_IsString(t) &&
           strcmp(t->valuestring, dtype_name(dtype)) == 0;
}

cJSON *scl_tuning_db_entry(cJSON *db, const char *kernel, int head_dim, int block, scl_dtype dtype, bool create)
{
    cJSON *entries = cJSON_GetObjectItemCaseSensitive(db, "entries");
    cJSON *e;
    cJSON_ArrayForEach(e, entries) if (entry_is(e, kernel, head_dim, block, dtype)) return e;
    if (!create || !cJSON_IsArray(entries)) return NULL;
    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "kernel", kernel);
    cJSON_AddNumberToObject(e, "head_dim", head_dim);
    cJSON_AddNumberToObject(e, "block", block);
    cJSON_AddStringToObject(e, "dtype", dtype_name(dtype));
    const at_kernel *k = at_kernel_find(kernel);
    cJSON_AddStringToObject(e, "direction",
                            k                                 ? k->direction
                            : strcmp(kernel, "attn_fwd") == 0 ? "forward"
                                                              : "backward");
    cJSON_AddItemToArray(entries, e);
    return e;
}

cJSON *scl_params_to_json(const at_kernel *k, const at_params *p)
{
    int n;
    const scl_param_field *f = k->fields(&n);
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < n; i++) cJSON_AddNumberToObject(o, f[i].name, *(const int *)((const char *)p + f[i].offset));
    return o;
}

bool scl_params_from_json(const at_kernel *k, const cJSON *obj, at_params *out)
{
    int n;
    const scl_param_field *f = k->fields(&n);
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(obj)) return false;
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f[i].name);
        if (!cJSON_IsNumber(v) || v->valuedouble != (double)v->valueint) return false;
        *(int *)((char *)out + f[i].offset) = v->valueint;
    }
    return true;
}

cJSON *scl_fwd_params_to_json(const scl_fwd_params *p)
{
    at_params q;
    memset(&q, 0, sizeof q);
    q.fwd = *p;
    return scl_params_to_json(&at_kernel_fwd, &q);
}

bool scl_fwd_params_from_json(const cJSON *obj, scl_fwd_params *out)
{
    at_params q;
    if (!scl_params_from_json(&at_kernel_fwd, obj, &q)) return false;
    *out = q.fwd;
    return true;
}

bool scl_tuning_lookup(const at_kernel *k, const scl_device_info *dev, const scl_param_context *pc,
                       scl_dtype dtype, at_params *out, char *source, size_t len)
{
    char dirs[4][1024], slug[200], msg[1200];
    scl_device_slug(dev, slug, sizeof slug);
    int n = scl_tuning_dirs(dirs, 4);
    for (int i = 0; i < n; i++) {
        char path[1300];
        snprintf(path, sizeof path, "%s/%s.json", dirs[i], slug);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        cJSON *db = scl_tuning_db_load(path, msg, sizeof msg);
        if (!db) { /* a corrupt database is reported and skipped, never fatal */
            if (!getenv("SPARSECL_QUIET")) fprintf(stderr, "sparsecl: warning: %s\n", msg);
            continue;
        }
        const cJSON *e = scl_tuning_db_entry(db, k->name, pc->head_dim, pc->block, dtype, false);
        at_params p;
        char reason[256];
        bool found = e && scl_params_from_json(k, cJSON_GetObjectItemCaseSensitive(e, "params"), &p) &&
                     k->check(&p, pc, reason, sizeof reason);
        if (found) {
            *out = p;
            snprintf(source, len, "%s (d=%d block=%d %s)", path, pc->head_dim, pc->block, dtype_name(dtype));
        }
        cJSON_Delete(db);
        if (found) return true;
    }
    return false;
}

bool scl_tuning_lookup_fwd(const scl_device_info *dev, const scl_param_context *pc, scl_dtype dtype,
                           scl_fwd_params *out, char *source, size_t len)
{
    at_params p;
    if (!scl_tuning_lookup(&at_kernel_fwd, dev, pc, dtype, &p, source, len)) return false;
    *out = p.fwd;
    return true;
}

bool scl_tuning_lookup_bwd(const scl_device_info *dev, const scl_param_context *pc, scl_dtype dtype,
                           scl_bwd_params *out, char *source, size_t len)
{
    at_params p;
    if (!scl_tuning_lookup(&at_kernel_bwd, dev, pc, dtype, &p, source, len)) return false;
    *out = p.bwd;
    return true;
}
