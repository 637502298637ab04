/* `sparsecl info`: what this build contains and where it keeps things. */
#include "cli.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tuning databases are looked up in the user cache, then the shipped results/tuning/. */
static void tuning_dirs(char dirs[2][1100])
{
    char cache[1024];
    scl_cache_default_dir(cache, sizeof cache);
    snprintf(dirs[0], 1100, "%s/tuning", cache[0] ? cache : "(cache off)");
    snprintf(dirs[1], 1100, "%s/results/tuning", SCL_SOURCE_DIR);
}

static void add_tuning_files(cJSON *arr, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            cJSON_AddItemToArray(arr, cJSON_CreateString(path));
        }
    }
    closedir(d);
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    int json = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j') json = 1;
        else if (c == 'h') {
            printf("usage: sparsecl info [--json]\n\nShows the library version, the hash of each embedded kernel "
                   "source (as compiled, includes expanded),\nthe program cache directory and the tuning databases "
                   "found.\n");
            return CLI_OK;
        } else return cli_error("info", CLI_USAGE, "unknown option '%s' (see --help)", argv[optind - 1]);
    }
    if (optind < argc) return cli_error("info", CLI_USAGE, "unexpected argument '%s'", argv[optind]);

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
            snprintf(hash, sizeof hash, "%016llx", (unsigned long long)scl_hash64(src, strlen(src), 0));
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
    char dirs[2][1100];
    tuning_dirs(dirs);
    cJSON *searched = cJSON_AddArrayToObject(root, "tuning_search_path");
    cJSON *found = cJSON_AddArrayToObject(root, "tuning_databases");
    for (int i = 0; i < 2; i++) {
        cJSON_AddItemToArray(searched, cJSON_CreateString(dirs[i]));
        add_tuning_files(found, dirs[i]);
    }

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
        printf("tuning databases (searched %s, %s):\n", dirs[0], dirs[1]);
        if (cJSON_GetArraySize(found) == 0) printf("  none found: built-in defaults per device type are used\n");
        cJSON_ArrayForEach(k, found) printf("  %s\n", k->valuestring);
    }
    cJSON_Delete(root);
    return CLI_OK;
}
