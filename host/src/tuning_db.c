/* Tuning database files, the reading side: search path, parsing, entry and parameter look-up. */
#include "tuning_db.h"

#include "build_info.h"
#include "internal.h"
#include "scl_fileio.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void scli_device_slug(const scl_device_info *dev, char *out, size_t len)
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

void scli_device_identity_json(cJSON *o, const scl_device_info *dev, const char *name_key,
                               const char *version_key)
{
    cJSON_AddStringToObject(o, name_key, dev->name);
    cJSON_AddStringToObject(o, "vendor", dev->vendor);
    cJSON_AddStringToObject(o, "platform", dev->platform_name);
    cJSON_AddStringToObject(o, "driver", dev->driver_version);
    cJSON_AddStringToObject(o, version_key, dev->device_version);
}

/* ---- Architectures ---------------------------------------------------------------------------- */
#ifndef CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV
#define CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV 0x4000
#define CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV 0x4001
#endif

/* Compute capability x 10 of an NVIDIA part from its name's family; 0 when not known. */
static int nvidia_cc_from_name(const char *name)
{
    static const struct {
        const char *token;
        int cc;
    } models[] = {
        {"GH200", 90}, {"H100", 90}, {"H200", 90}, {"H800", 90}, {"H20", 90},  {"GB200", 100}, {"B200", 100},
        {"B100", 100}, {"A100", 80}, {"A800", 80}, {"A30", 80},  {"A10", 86},  {"A10G", 86},   {"A40", 86},
        {"A16", 86},   {"A2", 86},   {"A6000", 86}, {"A5000", 86}, {"A4000", 86}, {"L4", 89},   {"L40", 89},
        {"L40S", 89},  {"L20", 89},  {"V100", 70}, {"T4", 75},
    };
    char buf[128], *save = NULL;
    snprintf(buf, sizeof buf, "%s", name);
    bool rtx = false, ada = strstr(name, " Ada") != NULL;
    for (char *t = strtok_r(buf, " -_/", &save); t; t = strtok_r(NULL, " -_/", &save)) {
        for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
            if (strcmp(t, models[i].token) == 0) return models[i].cc;
        if (rtx && isdigit((unsigned char)t[0]) && strlen(t) == 4) {
            if (ada) return 89;
            int series = (t[0] - '0') * 10 + (t[1] - '0'); /* RTX 4090: 40 */
            if (series == 50) return 120;
            if (series == 40) return 89;
            if (series == 30) return 86;
            if (series == 20) return 75;
        }
        rtx = strcmp(t, "RTX") == 0;
    }
    return 0;
}

/* The LLVM CPU of a PoCL CPU device: from "HSTR: <driver>-<triple>-<cpu>" (Linux triples end in
 * "-linux-gnu"), else from the name "<driver>-<cpu>-<model>" (the CPU is lower case, the model
 * starts with a capital: "pthread-skylake-avx512-AMD EPYC", "cpu-skylake-avx512-Intel(R) Xeon(R)"). */
static bool pocl_cpu(const char *name, const char *opencl, char *out, size_t len)
{
    const char *h = opencl ? strstr(opencl, "HSTR: ") : NULL;
    const char *g = h ? strstr(h, "-linux-gnu-") : NULL;
    if (g && g[11]) {
        snprintf(out, len, "%s", g + 11);
        out[strcspn(out, " ")] = '\0';
        return out[0] != '\0';
    }
    static const char *drivers[] = {"cpu-minimal-", "pthread-", "cpu-", "basic-", "tbb-"};
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        size_t n = strlen(drivers[i]);
        if (strncmp(name, drivers[i], n) != 0) continue;
        const char *p = name + n, *end = p;
        while (*end && !(end[0] == '-' && isupper((unsigned char)end[1]))) end++;
        if (end == p) return false;
        snprintf(out, len, "%.*s", (int)(end - p), p);
        return true;
    }
    return false;
}

static void arch_from_strings(const char *name, const char *vendor, const char *platform, const char *opencl, int cc,
                              char *out, size_t len)
{
    char cpu[64];
    out[0] = '\0';
    if (!name) return;
    bool nvidia = (vendor && strstr(vendor, "NVIDIA")) || strncmp(name, "NVIDIA", 6) == 0;
    bool pocl = (platform && strstr(platform, "Portable Computing Language")) || (opencl && strstr(opencl, "PoCL"));
    if (nvidia) {
        if (cc <= 0) cc = nvidia_cc_from_name(name);
        if (cc > 0) snprintf(out, len, "nvidia-sm_%d", cc);
    } else if (pocl) {
        if (pocl_cpu(name, opencl, cpu, sizeof cpu)) snprintf(out, len, "pocl-%s", cpu);
    } else if (strncmp(name, "gfx", 3) == 0 && isdigit((unsigned char)name[3])) {
        /* AMD's drivers name a GPU by its ISA: "gfx90a:sramecc+:xnack-". */
        snprintf(out, len, "amd-%.*s", (int)strcspn(name, ":"), name);
    }
}

void scli_device_arch(const scl_device_info *dev, char *out, size_t len)
{
    int cc = 0;
    if (dev->device && strstr(dev->vendor, "NVIDIA")) {
        cl_uint major = 0, minor = 0;
        if (clGetDeviceInfo(dev->device, CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV, sizeof major, &major, NULL) ==
                CL_SUCCESS &&
            clGetDeviceInfo(dev->device, CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV, sizeof minor, &minor, NULL) ==
                CL_SUCCESS &&
            major > 0)
            cc = (int)(major * 10 + minor);
    }
    arch_from_strings(dev->name, dev->vendor, dev->platform_name, dev->device_version, cc, out, len);
}

static const char *db_string(const cJSON *db, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(db, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void scli_tuning_db_arch(const cJSON *db, char *out, size_t len)
{
    const char *arch = db_string(db, "arch");
    if (arch) {
        snprintf(out, len, "%s", arch);
        return;
    }
    arch_from_strings(db_string(db, "device"), db_string(db, "vendor"), db_string(db, "platform"),
                      db_string(db, "opencl"), 0, out, len);
}

/* ---- Search path, files ------------------------------------------------------------------------ */
int scli_tuning_dirs(char dirs[][1024], int max)
{
    int n = 0;
    if (n < max && scli_tuning_user_dir(dirs[n], 1024)) n++;
    const char *env = getenv("SPARSECL_TUNING_DIR");
    if (env && *env && n < max) snprintf(dirs[n++], 1024, "%s", env);
    /* SPARSECL_SHIPPED_TUNING=off leaves the shipped databases out (hermetic tests, experiments). */
    const char *shipped = getenv("SPARSECL_SHIPPED_TUNING");
    if (shipped && strcmp(shipped, "off") == 0) return n;
    /* Relative to the installed library (a moved prefix still finds its own), or the source tree
     * of an uninstalled build; never the configure-time prefix of a library installed elsewhere. */
    if (n < max && scli_shipped_path("tuning", "results/tuning", dirs[n], 1024) != SCLI_DATA_NONE) n++;
    return n;
}

bool scli_tuning_user_dir(char *out, size_t len)
{
    char cache[1024];
    scli_cache_default_dir(cache, sizeof cache);
    if (!cache[0]) return false;
    snprintf(out, len, "%s/tuning", cache);
    return true;
}

cJSON *scli_tuning_db_parse(const char *text, size_t size, const char *name, char *msg, size_t len)
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
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, SCLI_TUNING_FORMAT) != 0 || !cJSON_IsNumber(ver) ||
        ver->valueint != SCLI_TUNING_VERSION || !cJSON_IsArray(entries)) {
        snprintf(msg, len, "%s: not a sparsecl tuning database of version %d; ignored", name, SCLI_TUNING_VERSION);
        cJSON_Delete(db);
        return NULL;
    }
    return db;
}

cJSON *scli_tuning_db_load(const char *path, char *msg, size_t len)
{
    unsigned char *text;
    size_t size;
    if (scl_read_file(path, (size_t)64 << 20, &text, &size, msg, len) != 0) return NULL;
    cJSON *db = scli_tuning_db_parse((const char *)text, size, path, msg, len);
    free(text);
    return db;
}

static bool entry_is(const cJSON *e, const scli_param_schema *k, int d, int block, scl_dtype dtype)
{
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(e, "kernel");
    const cJSON *var = cJSON_GetObjectItemCaseSensitive(e, "variant");
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(e, "head_dim");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "block");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    /* No variant (databases from before variants), or an empty one, is the portable kernel's: the
     * same rule as scli_schema_find. */
    const char *variant = cJSON_IsString(var) && var->valuestring[0] ? var->valuestring : "simt";
    return cJSON_IsString(kn) && strcmp(kn->valuestring, k->kernel) == 0 && strcmp(variant, k->variant) == 0 &&
           cJSON_IsNumber(hd) && hd->valueint == d &&
           cJSON_IsNumber(b) && b->valueint == block && cJSON_IsString(t) &&
           strcmp(t->valuestring, scli_dtype_name(dtype)) == 0;
}

cJSON *scli_tuning_db_find(const cJSON *db, const scli_param_schema *k, int head_dim, int block, scl_dtype dtype)
{
    cJSON *entries = cJSON_GetObjectItemCaseSensitive(db, "entries"), *e;
    cJSON_ArrayForEach(e, entries) if (entry_is(e, k, head_dim, block, dtype)) return e;
    return NULL;
}

bool scli_params_from_json(const scli_param_schema *k, const cJSON *obj, void *out)
{
    memset(out, 0, k->size);
    if (!cJSON_IsObject(obj)) return false;
    for (int i = 0; i < k->n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k->defs[i].name);
        if (!cJSON_IsNumber(v) || v->valuedouble != (double)v->valueint) return false;
        *scli_param_at(k, out, i) = v->valueint;
    }
    return true;
}

/* ---- A device's set of databases -------------------------------------------------------------- */
static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_db(scli_tuning_set *set, const char *path, cJSON *db, bool exact)
{
    scli_tuning_db_ref *r = &set->dbs[set->n++];
    snprintf(r->path, sizeof r->path, "%s", path);
    r->db = db;
    r->exact = exact;
    const char *dev = db_string(db, "device");
    snprintf(r->device, sizeof r->device, "%s", dev ? dev : "?");
}

/* The other devices' databases of directory dir whose architecture is set->arch, by file name. */
static void add_fallbacks(scli_tuning_set *set, const char *dir, const char *own)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[256];
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL && n < 256) {
        size_t l = strlen(ent->d_name);
        if (l > 5 && strcmp(ent->d_name + l - 5, ".json") == 0 && strcmp(ent->d_name, own) != 0)
            if ((names[n] = strdup(ent->d_name)) != NULL) n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], name_cmp);
    for (int i = 0; i < n; i++) {
        char path[1300], msg[1200], arch[64];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        free(names[i]);
        if (set->n >= SCLI_TUNING_MAX_DBS) continue;
        cJSON *db = scli_tuning_db_load(path, msg, sizeof msg);
        if (!db) continue; /* another device's problem */
        scli_tuning_db_arch(db, arch, sizeof arch);
        if (strcmp(arch, set->arch) == 0) add_db(set, path, db, false);
        else cJSON_Delete(db);
    }
}

void scli_tuning_set_read(scli_tuning_set *set, const scl_device_info *dev, bool warn)
{
    char slug[200], own[220], msg[1200];
    memset(set, 0, sizeof *set);
    scli_device_slug(dev, slug, sizeof slug);
    snprintf(own, sizeof own, "%s.json", slug);
    scli_device_arch(dev, set->arch, sizeof set->arch);
    set->n_dirs = scli_tuning_dirs(set->dirs, SCLI_TUNING_MAX_DIRS);
    for (int i = 0; i < set->n_dirs; i++) {
        char path[1300];
        snprintf(path, sizeof path, "%s/%s", set->dirs[i], own);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        cJSON *db = scli_tuning_db_load(path, msg, sizeof msg);
        if (!db) { /* a corrupt database is reported and skipped, never fatal */
            if (warn && !getenv("SPARSECL_QUIET")) fprintf(stderr, "sparsecl: warning: %s\n", msg);
            if (set->n_errors < SCLI_TUNING_MAX_DIRS) {
                snprintf(set->error_path[set->n_errors], sizeof set->error_path[0], "%s", path);
                snprintf(set->errors[set->n_errors++], sizeof set->errors[0], "%s", msg);
            }
            continue;
        }
        add_db(set, path, db, true);
    }
    if (set->arch[0])
        for (int i = 0; i < set->n_dirs; i++) add_fallbacks(set, set->dirs[i], own);
}

void scli_tuning_set_load(scli_tuning_set *set, const scl_device_info *dev)
{
    scli_tuning_set_read(set, dev, true);
}

void scli_tuning_set_free(scli_tuning_set *set)
{
    for (int i = 0; i < set->n; i++) cJSON_Delete(set->dbs[i].db);
    set->n = 0;
}

bool scli_tuning_set_choose(const scli_tuning_set *set, const scli_param_schema *k, const scli_param_context *pc,
                           scl_dtype dtype, void *out, scli_tuning_choice *c)
{
    c->db = -1;
    c->entry = NULL;
    c->n_skipped = 0;
    for (int i = 0; i < set->n; i++) {
        const cJSON *e = scli_tuning_db_find(set->dbs[i].db, k, pc->head_dim, pc->block, dtype);
        if (!e) continue;
        scli_param_values p;
        char reason[256];
        if (!scli_params_from_json(k, cJSON_GetObjectItemCaseSensitive(e, "params"), &p)) {
            snprintf(reason, sizeof reason, "its parameters are missing or not integers");
        } else if (scli_params_check(k, &p, pc, reason, sizeof reason)) {
            memcpy(out, &p, k->size);
            c->db = i;
            c->entry = e;
            return true;
        }
        c->skipped[c->n_skipped].db = i;
        snprintf(c->skipped[c->n_skipped].reason, sizeof c->skipped[0].reason, "%s", reason);
        c->n_skipped++;
    }
    return false;
}

void scli_tuning_choice_text(const scli_tuning_set *set, const scli_tuning_choice *c, const scli_param_context *pc,
                            scl_dtype dtype, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
#define SCLI_APPEND(...) (n += (size_t)snprintf(out + n, n < len ? len - n : 0, __VA_ARGS__), n = n < len ? n : len)
    if (c->db >= 0) {
        const scli_tuning_db_ref *r = &set->dbs[c->db];
        SCLI_APPEND("%s (d=%d block=%d %s, ", r->path, pc->head_dim, pc->block, scli_dtype_name(dtype));
        if (r->exact) SCLI_APPEND("exact device)");
        else SCLI_APPEND("fallback: same architecture %s, tuned on %s)", set->arch, r->device);
    }
    for (int i = 0; i < c->n_skipped; i++)
        SCLI_APPEND("%spassed over %s: %s", n ? "; " : "", set->dbs[c->skipped[i].db].path, c->skipped[i].reason);
#undef SCLI_APPEND
}

bool scli_tuning_set_lookup(const scli_tuning_set *set, const scli_param_schema *k, const scli_param_context *pc,
                           scl_dtype dtype, void *out, char *source, size_t len)
{
    scli_tuning_choice c;
    if (!scli_tuning_set_choose(set, k, pc, dtype, out, &c)) return false;
    scli_tuning_choice_text(set, &c, pc, dtype, source, len);
    return true;
}

bool scli_tuning_lookup(const scli_param_schema *k, const scl_device_info *dev, const scli_param_context *pc,
                       scl_dtype dtype, void *out, char *source, size_t len)
{
    scli_tuning_set set;
    scli_tuning_set_load(&set, dev);
    bool found = scli_tuning_set_lookup(&set, k, pc, dtype, out, source, len);
    scli_tuning_set_free(&set);
    return found;
}
