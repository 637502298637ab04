/* The build's commit and the run-time location of the files shipped with the library. */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include "build_info.h"

#include "scl_build_commit.h" /* generated: SCL_GIT_COMMIT, SCL_GIT_DIRTY (cmake/build_commit.cmake) */
#include "scl_build_layout.h" /* generated: SCL_BUILD_DIR, SCL_SOURCE_DIR, install dirs (cmake/build_info.cmake) */

#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *scl_build_commit(void)
{
    return SCL_GIT_COMMIT;
}

bool scli_build_dirty(void)
{
    return SCL_GIT_DIRTY != 0;
}

void scli_build_commit_text(char *out, size_t len)
{
    snprintf(out, len, "%s%s", SCL_GIT_COMMIT, strcmp(SCL_GIT_COMMIT, "unknown") != 0 && SCL_GIT_DIRTY ? "-dirty" : "");
}

const char *scli_data_origin_name(scli_data_origin l)
{
    switch (l) {
    case SCLI_DATA_INSTALLED: return "installed";
    case SCLI_DATA_BUILD_TREE: return "build tree";
    case SCLI_DATA_CONFIGURED: return "configured prefix";
    default: return "none";
    }
}

/* ---- Which loaded object holds this code ----------------------------------------------------- */
typedef struct module_search {
    uintptr_t addr;
    char name[PATH_MAX];
    bool found, is_exe;
} module_search;

static int find_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    module_search *s = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t lo = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
        if (s->addr >= lo && s->addr < lo + ph->p_memsz) {
            /* The main program has an empty name (glibc, musl); every other object its path. */
            s->is_exe = !info->dlpi_name || !info->dlpi_name[0];
            snprintf(s->name, sizeof s->name, "%s", s->is_exe ? "/proc/self/exe" : info->dlpi_name);
            s->found = true;
            return 1;
        }
    }
    return 0;
}

/* An object of this file: the loaded object whose segments hold it holds the library. */
static const char module_anchor = 1;

bool scli_module_path(char *out, size_t len, bool *is_exe)
{
    module_search s = {.addr = (uintptr_t)&module_anchor};
    *is_exe = false;
    out[0] = '\0';
    dl_iterate_phdr(find_module, &s);
    if (!s.found) return false;
    char real[PATH_MAX];
    if (!realpath(s.name, real)) return false;
    snprintf(out, len, "%s", real);
    *is_exe = s.is_exe;
    return true;
}

/* ---- Shipped files ----------------------------------------------------------------------------- */
static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* dir ends with "/<tail>" (tail relative, e.g. "lib" or "lib/x86_64-linux-gnu"). */
static bool ends_with_dir(const char *dir, const char *tail)
{
    size_t n = strlen(dir), t = strlen(tail);
    if (t == 0 || tail[0] == '/' || t >= n) return false;
    return dir[n - t - 1] == '/' && strcmp(dir + n - t, tail) == 0;
}

/* path lies in dir (both resolved). */
static bool inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return n > 0 && strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

scli_data_origin scli_shipped_path(const char *installed, const char *source_rel, char *out, size_t len)
{
    char module[PATH_MAX], build[PATH_MAX];
    bool is_exe = false;
    out[0] = '\0';
    bool have = scli_module_path(module, sizeof module, &is_exe);
    bool in_build = have && realpath(SCL_BUILD_DIR, build) && inside(module, build);
    char cand[PATH_MAX + 256] = "";
    bool layout = false;
    if (have) {
        char *slash = strrchr(module, '/');
        if (slash) *slash = '\0';
        snprintf(cand, sizeof cand, "%s/%s/sparsecl/%s", module, is_exe ? SCL_BIN_TO_DATA : SCL_LIB_TO_DATA,
                 installed);
        layout = ends_with_dir(module, is_exe ? SCL_INSTALL_BINDIR : SCL_INSTALL_LIBDIR);
    }
    /* In order: an uninstalled build (its binaries are not in a lib/ or bin/ folder); an installed
     * prefix (also one inside the build directory, as the install test makes); a program elsewhere
     * that linked the static archive: where the archive was configured to be installed; else the
     * installed place, absent. */
    if (in_build && !layout) {
        snprintf(out, len, "%s%s%s", SCL_SOURCE_DIR, source_rel[0] ? "/" : "", source_rel);
        return SCLI_DATA_BUILD_TREE;
    }
    char real[PATH_MAX];
    if (cand[0] && realpath(cand, real)) {
        snprintf(out, len, "%s", real);
        return SCLI_DATA_INSTALLED;
    }
    if (in_build) {
        snprintf(out, len, "%s%s%s", SCL_SOURCE_DIR, source_rel[0] ? "/" : "", source_rel);
        return SCLI_DATA_BUILD_TREE;
    }
    char conf[PATH_MAX + 256];
    snprintf(conf, sizeof conf, "%s/sparsecl/%s", SCL_CONFIGURED_DATADIR, installed);
    if (exists(conf)) {
        snprintf(out, len, "%s", conf);
        return SCLI_DATA_CONFIGURED;
    }
    if (layout) {
        snprintf(out, len, "%s", cand);
        return SCLI_DATA_INSTALLED;
    }
    return SCLI_DATA_NONE;
}
