/* What this build is and where its shipped files are at run time (internal, not installed):
 * the git commit baked in when it was built, and the data shipped with the library (tuning
 * databases, scripts/plot_bench.py) found relative to the binary that holds the library, so an
 * installed prefix can be moved. */
#ifndef SCLI_BUILD_INFO_H
#define SCLI_BUILD_INFO_H

#include <stdbool.h>
#include <stddef.h>

/* The commit of the source tree when the library was built ("unknown" outside git), and whether
 * tracked files differed from it (cmake/build_commit.cmake, run at configure time and at every
 * build). */
const char *scl_build_commit(void);
bool scli_build_dirty(void);
/* "<commit>" or "<commit>-dirty", or "unknown" (what bench.json records). */
void scli_build_commit_text(char *out, size_t len);

typedef enum scli_data_origin {
    SCLI_DATA_INSTALLED,  /* <prefix>/{lib,bin}/... with <prefix>/share/sparsecl next to it */
    SCLI_DATA_BUILD_TREE, /* an uninstalled build: the binary lies in the build directory */
    SCLI_DATA_CONFIGURED, /* neither (a program linking the static library): the configured prefix */
    SCLI_DATA_NONE,       /* nothing found */
} scli_data_origin;
const char *scli_data_origin_name(scli_data_origin l);

/* The file holding this code, resolved (realpath): libsparsecl.so, or the executable that linked
 * the static library (/proc/self/exe). Sets *is_exe. False when it cannot be found. */
bool scli_module_path(char *out, size_t len, bool *is_exe);
/* A file or folder shipped with the library: `<prefix>/share/sparsecl/<installed>` of the
 * installed library, found relative to scli_module_path (lib/ -> ../share, bin/ -> ../share, as
 * configured); for an uninstalled build `<source tree>/<source_rel>`; for a program that linked
 * the static library outside both, `<configured prefix>/share/sparsecl/<installed>` when it
 * exists. out is "" for SCLI_DATA_NONE. The installed path is given even when absent (it is
 * where the library looks). */
scli_data_origin scli_shipped_path(const char *installed, const char *source_rel, char *out, size_t len);

#endif
