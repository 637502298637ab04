/* `sparsecl info`: what this build contains and where it keeps things. */
#include "block_choice.h"
#include "build_info.h"
#include "cli.h"
#include "cli_options.h"
#include "internal.h"
#include "scl_fileio.h"
#include "tuning_db.h"
#include "variants.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The default device's tuning databases, in look-up order (its own, then those of other devices
 * of the same architecture), and for each shape class they hold what a plan really uses: the
 * runtime's own look-up (scli_tuning_set_choose) over the same set, so the two cannot disagree. */
static const char *class_text(const cJSON *e, char *out, size_t len)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "kernel"), *hd = cJSON_GetObjectItemCaseSensitive(e, "head_dim"),
                *b = cJSON_GetObjectItemCaseSensitive(e, "block"), *t = cJSON_GetObjectItemCaseSensitive(e, "dtype"),
                *v = cJSON_GetObjectItemCaseSensitive(e, "variant");
    if (!cJSON_IsString(k) || !cJSON_IsNumber(hd) || !cJSON_IsNumber(b) || !cJSON_IsString(t)) return NULL;
    snprintf(out, len, "%s %s d=%d block=%d %s", k->valuestring, cJSON_IsString(v) ? v->valuestring : "simt",
             hd->valueint, b->valueint, t->valuestring);
    return out;
}

/* A new object for class cls appended to classes, or NULL when classes already has it. */
static cJSON *new_class(cJSON *classes, const char *cls)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, classes) if (strcmp(cJSON_GetObjectItem(c, "class")->valuestring, cls) == 0) return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "class", cls);
    cJSON_AddItemToArray(classes, o);
    return o;
}

/* Every block-choice class of the databases (`sparsecl tune --pattern`), in look-up order, and the
 * block a plan made with SCL_BLOCK_AUTO takes for it: the plans' own choice (scli_block_choose) at
 * the top of the class's sequence bucket. */
static void add_block_choices(cJSON *root, const scli_tuning_set *set)
{
    cJSON *classes = cJSON_AddArrayToObject(root, "block_choice_classes");
    for (int i = 0; i < set->n; i++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(set->dbs[i].db, "block_choices"))
        {
            const cJSON *pt = cJSON_GetObjectItemCaseSensitive(e, "pattern"),
                        *hd = cJSON_GetObjectItemCaseSensitive(e, "head_dim"),
                        *t = cJSON_GetObjectItemCaseSensitive(e, "dtype"),
                        *sb = cJSON_GetObjectItemCaseSensitive(e, "seq_bucket"),
                        *dir = cJSON_GetObjectItemCaseSensitive(e, "direction");
            scl_dtype dt = SCL_F32;
            bool dt_ok = cJSON_IsString(t) && scli_dtype_from_name(t->valuestring, &dt);
            if (!cJSON_IsString(pt) || !cJSON_IsNumber(hd) || !dt_ok || !cJSON_IsNumber(sb) ||
                sb->valuedouble < 1 || sb->valuedouble > (double)((int64_t)1 << 40) || !cJSON_IsString(dir))
                continue;
            char cls[600];
            snprintf(cls, sizeof cls, "'%.400s' d=%d %s N<=%lld %s", pt->valuestring, hd->valueint, t->valuestring,
                     (long long)sb->valuedouble, dir->valuestring);
            cJSON *o = new_class(classes, cls);
            if (!o) continue;
            spc_pattern *p = NULL;
            spc_error err = {{0}, 0};
            scl_shape sh = {1, 1, 1, (int64_t)sb->valuedouble, 0, hd->valueint, 0, 0.0f, SCL_LAYOUT_BHND};
            int block = 0;
            bool from_db = false;
            char why[1400];
            if (spc_parse(pt->valuestring, &p, &err) != 0 ||
                scli_block_choose(set, p, &sh, dt, strcmp(dir->valuestring, "backward") == 0, SPC_DECOMPOSE_AUTO,
                                 &block, &from_db, why, sizeof why, &err) != 0) {
                cJSON_AddStringToObject(o, "uses", "nothing: the pattern does not compile here");
                cJSON_AddStringToObject(o, "error", err.message);
            } else {
                cJSON_AddNumberToObject(o, "block", block);
                cJSON_AddStringToObject(o, "match", from_db ? "tuned" : "rule");
                cJSON_AddStringToObject(o, "uses", why);
            }
            spc_pattern_free(p);
        }
    }
}

static void add_tuning(cJSON *root, const scl_device_info *dev)
{
    static scli_tuning_set set; /* large: not on the stack */
    if (dev) {
        scli_tuning_set_read(&set, dev, false);
    } else {
        memset(&set, 0, sizeof set);
        set.n_dirs = scli_tuning_dirs(set.dirs, SCLI_TUNING_MAX_DIRS);
    }
    cJSON *searched = cJSON_AddArrayToObject(root, "tuning_search_path");
    for (int i = 0; i < set.n_dirs; i++) cJSON_AddItemToArray(searched, cJSON_CreateString(set.dirs[i]));
    cJSON *dbs = cJSON_AddArrayToObject(root, "tuning_databases");
    if (!dev) return; /* no device at all (a selector that matches none was refused before) */
    cJSON_AddStringToObject(root, "tuning_device", dev->name);
    cJSON_AddStringToObject(root, "tuning_architecture", set.arch);
    for (int i = 0; i < set.n_errors; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "file", set.error_path[i]);
        cJSON_AddStringToObject(d, "error", set.errors[i]);
        cJSON_AddItemToArray(dbs, d);
    }
    cJSON **entries = calloc((size_t)set.n + 1, sizeof *entries);
    for (int i = 0; i < set.n; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "file", set.dbs[i].path);
        cJSON_AddStringToObject(d, "match", set.dbs[i].exact ? "exact" : "fallback");
        cJSON_AddStringToObject(d, "tuned_on", set.dbs[i].device);
        cJSON *x = cJSON_AddArrayToObject(d, "entries");
        if (entries) entries[i] = x;
        cJSON_AddItemToArray(dbs, d);
    }
    /* Every shape class of every database, in look-up order, and what plans take for it. */
    cJSON *classes = cJSON_AddArrayToObject(root, "tuning_shape_classes");
    for (int i = 0; i < set.n; i++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(set.dbs[i].db, "entries"))
        {
            char cls[160];
            if (!class_text(e, cls, sizeof cls)) continue;
            cJSON *o = new_class(classes, cls);
            if (!o) continue;
            const cJSON *var = cJSON_GetObjectItemCaseSensitive(e, "variant");
            const scli_param_schema *k = scli_schema_find(cJSON_GetObjectItemCaseSensitive(e, "kernel")->valuestring,
                                                        cJSON_IsString(var) ? var->valuestring : "simt");
            const char *tn = cJSON_GetObjectItemCaseSensitive(e, "dtype")->valuestring;
            static const scl_dtype dts[] = {SCL_F32, SCL_F16, SCL_BF16};
            int dt = -1;
            for (int t = 0; t < 3; t++)
                if (strcmp(tn, scli_dtype_name(dts[t])) == 0) dt = t;
            if (!k || dt < 0) {
                cJSON_AddStringToObject(o, "match", "none");
                cJSON_AddStringToObject(o, "uses", k ? "nothing: unknown storage type" : "nothing: unknown kernel or variant");
                continue;
            }
            scli_param_context pc;
            scli_param_context_init(&pc, dev, cJSON_GetObjectItemCaseSensitive(e, "head_dim")->valueint,
                                   cJSON_GetObjectItemCaseSensitive(e, "block")->valueint);
            scli_param_values p;
            scli_tuning_choice ch;
            char text[2048];
            bool found = scli_tuning_set_choose(&set, k, &pc, dts[dt], &p, &ch);
            scli_tuning_choice_text(&set, &ch, &pc, dts[dt], text, sizeof text);
            if (found) {
                cJSON_AddStringToObject(o, "match", set.dbs[ch.db].exact ? "exact" : "fallback");
                cJSON_AddStringToObject(o, "file", set.dbs[ch.db].path);
                cJSON_AddStringToObject(o, "uses", text);
                const cJSON *ms = cJSON_GetObjectItemCaseSensitive(ch.entry, "median_ms");
                if (cJSON_IsNumber(ms)) cJSON_AddNumberToObject(o, "median_ms", ms->valuedouble);
            } else {
                char what[2300];
                bool ok = scli_params_default(k, dev, &pc, &p);
                snprintf(what, sizeof what, "%s%s%s",
                         !ok ? "no valid parameters here (plans fail)"
                             : dev->type & CL_DEVICE_TYPE_GPU ? "built-in GPU defaults" : "built-in CPU defaults",
                         text[0] ? ": " : "", text);
                cJSON_AddStringToObject(o, "match", "defaults");
                cJSON_AddStringToObject(o, "uses", what);
            }
            cJSON *skipped = cJSON_AddArrayToObject(o, "passed_over");
            for (int s = 0; s < ch.n_skipped; s++) {
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "file", set.dbs[ch.skipped[s].db].path);
                cJSON_AddStringToObject(x, "reason", ch.skipped[s].reason);
                cJSON_AddItemToArray(skipped, x);
            }
            const char *env = getenv(k->env);
            if (env && *env) cJSON_AddStringToObject(o, "then_overridden_by", k->env);
            /* Each database's entry of this class: used, passed over (invalid here), or behind another. */
            for (int j = 0; j < set.n && entries; j++) {
                const cJSON *mine = scli_tuning_db_find(set.dbs[j].db, k, pc.head_dim, pc.block, dts[dt]);
                if (!mine) continue;
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "class", cls);
                char status[600] = "";
                if (found && ch.db == j) snprintf(status, sizeof status, "used");
                for (int s = 0; s < ch.n_skipped; s++)
                    if (ch.skipped[s].db == j) snprintf(status, sizeof status, "invalid here: %s", ch.skipped[s].reason);
                if (!status[0] && ch.db >= 0) snprintf(status, sizeof status, "not used: %s comes first", set.dbs[ch.db].path);
                cJSON_AddStringToObject(x, "status", status);
                cJSON_AddBoolToObject(x, "used", found && ch.db == j);
                const cJSON *ms = cJSON_GetObjectItemCaseSensitive(mine, "median_ms");
                if (cJSON_IsNumber(ms)) cJSON_AddNumberToObject(x, "median_ms", ms->valuedouble);
                cJSON_AddItemToArray(entries[j], x);
            }
        }
    }
    free(entries);
    add_block_choices(root, &set);
    scli_tuning_set_free(&set);
}

/* The registered forward variants in their default order, and which storage types each runs on
 * the default device (at d = 64, block 64), else why not. */
static void add_variants(cJSON *root, const scl_device_info *dev)
{
    cJSON *all = cJSON_AddArrayToObject(root, "forward_variants");
    static const scl_dtype dts[] = {SCL_F32, SCL_F16, SCL_BF16};
    for (int i = 0; i < scli_fwd_variant_count(); i++) {
        const scli_fwd_variant *v = scli_fwd_variant_at(i);
        cJSON *o = cJSON_CreateObject(), *params = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", v->name);
        cJSON_AddStringToObject(o, "kernel_file", v->kernel_file);
        for (int k = 0; k < v->schema->n; k++)
            cJSON_AddItemToArray(params, cJSON_CreateString(v->schema->defs[k].name));
        cJSON_AddItemToObject(o, "parameters", params);
        if (dev) {
            cJSON *runs = cJSON_AddArrayToObject(o, "runs_here"), *not = cJSON_CreateObject();
            for (size_t t = 0; t < sizeof dts / sizeof dts[0]; t++) {
                scli_variant_query q = {.dev = dev, .dtype = dts[t], .head_dim = 64, .block = 64};
                char why[256];
                if (v->qualifies(&q, why, sizeof why))
                    cJSON_AddItemToArray(runs, cJSON_CreateString(scli_dtype_name(dts[t])));
                else
                    cJSON_AddStringToObject(not, scli_dtype_name(dts[t]), why);
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

static void info_usage(void)
{
    fputs("usage: sparsecl info [--device D] [--json]\n\nShows the library version, the hash of each embedded "
          "kernel source (as compiled, includes expanded),\nthe program cache directory, the registered "
          "forward kernel variants (which storage types each\nruns on the device), and the "
          "device's tuning databases with the entries plans use\n(and, for each "
          "block-choice class, the block `--block auto` plans take).\n\n"
          "  --device  the device (index, or a case-insensitive part of its name or type; default:\n"
          "            $SPARSECL_DEVICE, else the default device); one that matches nothing exits 2\n",
          stdout);
}

int cmd_info(int argc, char **argv)
{
    bool json = false;
    const char *device = NULL;
    const cli_opt table[] = {CLI_BOOL("json", &json), CLI_STR("device", &device), CLI_END};
    const cli_options o = {.cmd = "info",
                           .opts = table,
                           .usage = info_usage,
                           .refused = "unknown option '%s' (see --help)",
                           .missing = "option '%s' needs a value (see --help)"};
    int rc = cli_parse_options(&o, argc, argv);
    if (rc >= 0) return rc;
    scl_device_info def;
    bool have_def;
    if ((rc = cli_select_device("info", device, &def, &have_def)) != CLI_OK) return rc;

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", scl_version());
    char commit[160], shipped[1100];
    scli_build_commit_text(commit, sizeof commit);
    cJSON_AddStringToObject(root, "build_commit", commit);
    scli_data_origin origin = scli_shipped_path("", "", shipped, sizeof shipped);
    cJSON_AddStringToObject(root, "shipped_data", shipped);
    cJSON_AddStringToObject(root, "shipped_data_from", scli_data_origin_name(origin));
    const char *kdir = getenv("SPARSECL_KERNEL_DIR");
    cJSON_AddStringToObject(root, "kernel_sources", kdir && *kdir ? kdir : "embedded");
    cJSON *kernels = cJSON_AddArrayToObject(root, "kernels");
    for (int i = 0; scli_kernel_file_name(i); i++) {
        const char *name = scli_kernel_file_name(i);
        size_t n = strlen(name);
        if (n < 3 || strcmp(name + n - 3, ".cl") != 0) continue; /* headers are inside the .cl hashes */
        char msg[512], hash[32];
        char *src = scli_kernel_source_load(name, msg, sizeof msg);
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
    scli_cache_default_dir(cache, sizeof cache);
    cJSON_AddStringToObject(root, "cache_dir", cache[0] ? cache : "off");
    add_tuning(root, have_def ? &def : NULL);
    add_variants(root, have_def ? &def : NULL);

    if (json) {
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
    } else {
        printf("sparsecl %s\n", scl_version());
        printf("built from commit %s; shipped data: %s (%s)\n", commit, shipped[0] ? shipped : "none",
               scli_data_origin_name(origin));
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
        const cJSON *dev = cJSON_GetObjectItem(root, "tuning_device"), *arch = cJSON_GetObjectItem(root, "tuning_architecture");
        printf("tuning databases for %s (architecture %s), in look-up order:\n",
               cJSON_IsString(dev) ? dev->valuestring : "(no device)",
               cJSON_IsString(arch) && arch->valuestring[0] ? arch->valuestring : "unknown: no fallback");
        cJSON_ArrayForEach(k, cJSON_GetObjectItem(root, "tuning_search_path")) printf("  searched %s\n", k->valuestring);
        if (cJSON_GetArraySize(dbs) == 0) printf("  none found: every kernel uses the built-in defaults of its device type\n");
        cJSON_ArrayForEach(k, dbs)
        {
            const cJSON *err = cJSON_GetObjectItem(k, "error");
            if (err) {
                printf("  %s\n    ignored: %s\n", cJSON_GetObjectItem(k, "file")->valuestring, err->valuestring);
                continue;
            }
            bool exact = strcmp(cJSON_GetObjectItem(k, "match")->valuestring, "exact") == 0;
            printf("  %s (%s%s)\n", cJSON_GetObjectItem(k, "file")->valuestring,
                   exact ? "exact device" : "fallback: same architecture, tuned on ",
                   exact ? "" : cJSON_GetObjectItem(k, "tuned_on")->valuestring);
        }
        const cJSON *classes = cJSON_GetObjectItem(root, "tuning_shape_classes");
        if (cJSON_GetArraySize(classes) > 0) printf("what plans use for the shape classes of these databases:\n");
        cJSON_ArrayForEach(k, classes)
        {
            const cJSON *ms = cJSON_GetObjectItem(k, "median_ms"), *env = cJSON_GetObjectItem(k, "then_overridden_by");
            printf("  %-34s %s", cJSON_GetObjectItem(k, "class")->valuestring, cJSON_GetObjectItem(k, "uses")->valuestring);
            if (cJSON_IsNumber(ms)) printf(" (%.3f ms when tuned)", ms->valuedouble);
            if (cJSON_IsString(env)) printf(", then $%s", env->valuestring);
            printf("\n");
        }
        printf("other shape classes use the built-in defaults of the device type\n");
        classes = cJSON_GetObjectItem(root, "block_choice_classes");
        if (cJSON_GetArraySize(classes) > 0)
            printf("what plans with --block auto use for the block-choice classes:\n");
        cJSON_ArrayForEach(k, classes)
        {
            const cJSON *b = cJSON_GetObjectItem(k, "block");
            printf("  %s: ", cJSON_GetObjectItem(k, "class")->valuestring);
            const char *uses = cJSON_GetObjectItem(k, "uses")->valuestring;
            if (cJSON_IsNumber(b))
                printf("block %d, %s\n", b->valueint, uses);
            else
                printf("%s\n", uses);
        }
    }
    cJSON_Delete(root);
    return CLI_OK;
}
