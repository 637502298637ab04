/* `sparsecl info`: what this build contains and where it keeps things. */
#include "cli.h"
#include "internal.h"
#include "scl_fileio.h"
#include "tuning_db.h"
#include "variants.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The default device's tuning databases, in look-up order, and which entry each shape class of
 * each kernel uses (the first database that has it; later ones are shadowed). */
static void add_tuning(cJSON *root, const scl_device_info *dev)
{
    char dirs[4][1024], slug[200], msg[1200];
    int n = scl_tuning_dirs(dirs, 4);
    cJSON *searched = cJSON_AddArrayToObject(root, "tuning_search_path");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(searched, cJSON_CreateString(dirs[i]));
    cJSON *dbs = cJSON_AddArrayToObject(root, "tuning_databases");
    if (!dev) return; /* no device at all (a selector that matches none was refused before) */
    cJSON_AddStringToObject(root, "tuning_device", dev->name);
    scl_device_slug(dev, slug, sizeof slug);
    cJSON *used = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s.json", dirs[i], slug);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        fclose(f);
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "file", path);
        cJSON *db = scl_tuning_db_load(path, msg, sizeof msg);
        if (!db) {
            cJSON_AddStringToObject(d, "error", msg);
            cJSON_AddItemToArray(dbs, d);
            continue;
        }
        cJSON *entries = cJSON_AddArrayToObject(d, "entries");
        cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(db, "entries"))
        {
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "kernel"), *hd = cJSON_GetObjectItemCaseSensitive(e, "head_dim"),
                        *b = cJSON_GetObjectItemCaseSensitive(e, "block"), *t = cJSON_GetObjectItemCaseSensitive(e, "dtype");
            if (!cJSON_IsString(k) || !cJSON_IsNumber(hd) || !cJSON_IsNumber(b) || !cJSON_IsString(t)) continue;
            char cls[128];
            snprintf(cls, sizeof cls, "%s d=%d block=%d %s", k->valuestring, hd->valueint, b->valueint, t->valuestring);
            bool shadowed = false;
            cJSON *u;
            cJSON_ArrayForEach(u, used) shadowed |= strcmp(u->valuestring, cls) == 0;
            if (!shadowed) cJSON_AddItemToArray(used, cJSON_CreateString(cls));
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "class", cls);
            cJSON_AddBoolToObject(x, "used", !shadowed);
            const cJSON *ms = cJSON_GetObjectItemCaseSensitive(e, "median_ms");
            if (cJSON_IsNumber(ms)) cJSON_AddNumberToObject(x, "median_ms", ms->valuedouble);
            cJSON_AddItemToArray(entries, x);
        }
        cJSON_Delete(db);
        cJSON_AddItemToArray(dbs, d);
    }
    cJSON_Delete(used);
}

/* The registered forward variants in their default order, and which storage types each runs on
 * the default device (at d = 64, block 64), else why not. */
static void add_variants(cJSON *root, const scl_device_info *dev)
{
    cJSON *all = cJSON_AddArrayToObject(root, "forward_variants");
    static const scl_dtype dts[] = {SCL_F32, SCL_F16, SCL_BF16};
    for (int i = 0; i < scl_fwd_variant_count(); i++) {
        const scl_fwd_variant *v = scl_fwd_variant_at(i);
        cJSON *o = cJSON_CreateObject(), *params = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", v->name);
        cJSON_AddStringToObject(o, "kernel_file", v->kernel_file);
        for (int k = 0; k < v->schema->n; k++)
            cJSON_AddItemToArray(params, cJSON_CreateString(v->schema->defs[k].name));
        cJSON_AddItemToObject(o, "parameters", params);
        if (dev) {
            cJSON *runs = cJSON_AddArrayToObject(o, "runs_here"), *not = cJSON_CreateObject();
            for (size_t t = 0; t < sizeof dts / sizeof dts[0]; t++) {
                scl_variant_query q = {.dev = dev, .dtype = dts[t], .head_dim = 64, .block = 64};
                char why[256];
                if (v->qualifies(&q, why, sizeof why))
                    cJSON_AddItemToArray(runs, cJSON_CreateString(scl_dtype_name(dts[t])));
                else
                    cJSON_AddStringToObject(not, scl_dtype_name(dts[t]), why);
            }
            cJSON_AddItemToObject(o, "why_not", not);
        }
        cJSON_AddItemToArray(all, o);
    }
}

static void print_variants(const cJSON *root)
{
    printf("forward variants, in the default order (SPARSECL_FWD_VARIANT prefers one):\n");
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(root, "forward_variants"))
    {
        const cJSON *runs = cJSON_GetObjectItem(v, "runs_here"), *t, *prev = NULL;
        printf("  %-6s %-18s", cJSON_GetObjectItem(v, "name")->valuestring,
               cJSON_GetObjectItem(v, "kernel_file")->valuestring);
        if (runs) {
            printf(" runs");
            cJSON_ArrayForEach(t, runs) printf(" %s", t->valuestring);
            if (!cJSON_GetArraySize(runs)) printf(" nothing");
            printf(" on the default device (d=64, block=64)");
            /* the reasons, each once after the storage types it holds for */
            cJSON_ArrayForEach(t, cJSON_GetObjectItem(v, "why_not"))
            {
                bool same = prev && strcmp(prev->valuestring, t->valuestring) == 0;
                if (prev && !same) printf(": %s", prev->valuestring);
                printf("%s%s", same ? ", " : "; not ", t->string);
                prev = t;
            }
            if (prev) printf(": %s", prev->valuestring);
        }
        printf("\n");
    }
}

int cmd_info(int argc, char **argv)
{
    int json;
    int rc = cli_json_only("info", argc, argv,
                           "usage: sparsecl info [--json]\n\nShows the library version, the hash of each embedded "
                           "kernel source (as compiled, includes expanded),\nthe program cache directory, the registered "
                           "forward kernel variants (which storage types each\nruns on the default device), and the "
                           "default device's tuning databases with the entries plans use.\n",
                           &json);
    if (rc >= 0) return rc;
    scl_device_info def;
    bool have_def;
    if ((rc = cli_select_device("info", NULL, &def, &have_def)) != CLI_OK) return rc;

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", scl_version());
    const char *kdir = getenv("SPARSECL_KERNEL_DIR");
    cJSON_AddStringToObject(root, "kernel_sources", kdir && *kdir ? kdir : "embedded");
    cJSON *kernels = cJSON_AddArrayToObject(root, "kernels");
    for (int i = 0; scl_kernel_file_name(i); i++) {
        const char *name = scl_kernel_file_name(i);
        size_t n = strlen(name);
        if (n < 3 || strcmp(name + n - 3, ".cl") != 0) continue; /* headers are inside the .cl hashes */
        char msg[512], hash[32];
        char *src = scl_kernel_source_load(name, msg, sizeof msg);
        cJSON *k = cJSON_CreateObject();
        cJSON_AddStringToObject(k, "file", name);
        if (src) {
            snprintf(hash, sizeof hash, "%016llx", (unsigned long long)scl_fnv1a64(src, strlen(src), SCL_FNV_OFFSET));
            cJSON_AddStringToObject(k, "hash", hash);
            cJSON_AddNumberToObject(k, "bytes", (double)strlen(src));
        } else {
            cJSON_AddStringToObject(k, "error", msg);
        }
        free(src);
        cJSON_AddItemToArray(kernels, k);
    }
    char cache[1024];
    scl_cache_default_dir(cache, sizeof cache);
    cJSON_AddStringToObject(root, "cache_dir", cache[0] ? cache : "off");
    add_tuning(root, have_def ? &def : NULL);
    add_variants(root, have_def ? &def : NULL);

    if (json) {
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
    } else {
        printf("sparsecl %s\n", scl_version());
        printf("kernel sources: %s\n", kdir && *kdir ? kdir : "embedded");
        cJSON *k;
        cJSON_ArrayForEach(k, kernels)
        {
            cJSON *h = cJSON_GetObjectItem(k, "hash");
            printf("  %-22s %s\n", cJSON_GetObjectItem(k, "file")->valuestring,
                   h ? h->valuestring : cJSON_GetObjectItem(k, "error")->valuestring);
        }
        printf("program cache: %s\n", cache[0] ? cache : "off");
        print_variants(root);
        cJSON *dbs = cJSON_GetObjectItem(root, "tuning_databases");
        const cJSON *dev = cJSON_GetObjectItem(root, "tuning_device");
        printf("tuning databases for %s, in look-up order:\n", cJSON_IsString(dev) ? dev->valuestring : "(no device)");
        cJSON_ArrayForEach(k, cJSON_GetObjectItem(root, "tuning_search_path")) printf("  searched %s\n", k->valuestring);
        if (cJSON_GetArraySize(dbs) == 0) printf("  none found: every kernel uses the built-in defaults of its device type\n");
        cJSON_ArrayForEach(k, dbs)
        {
            printf("  %s\n", cJSON_GetObjectItem(k, "file")->valuestring);
            const cJSON *err = cJSON_GetObjectItem(k, "error");
            if (err) printf("    ignored: %s\n", err->valuestring);
            cJSON *x;
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(k, "entries"))
            {
                const cJSON *ms = cJSON_GetObjectItem(x, "median_ms");
                printf("    %-32s %s", cJSON_GetObjectItem(x, "class")->valuestring,
                       cJSON_IsTrue(cJSON_GetObjectItem(x, "used")) ? "used" : "shadowed by an earlier database");
                if (cJSON_IsNumber(ms)) printf(" (%.3f ms when tuned)", ms->valuedouble);
                printf("\n");
            }
        }
        printf("other shape classes use the built-in defaults of the device type\n");
    }
    cJSON_Delete(root);
    return CLI_OK;
}
