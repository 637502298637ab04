/* Fuzz target: `sparsecl` argument parsing. The input is an argv vector (split on NUL or newline,
 * the first element being the subcommand), run through the same dispatch as host/cli/main.c into
 * every command's option parser and the shared helpers of cli_util.c (strict numbers, lists,
 * --json/--help handling).
 *
 * No OpenCL device is needed: the device layer is replaced at link time (-Wl,--wrap, see
 * tests/patterns.cmake), so a command whose options are accepted stops where it would open a
 * device, with "no device". `pattern` needs no device and runs to the end; its geometry is capped
 * (spc_bind is wrapped too) because a large --seq is slow by design, not a bug.
 *
 * Commands read and write the files their options name, so each input runs in an empty scratch
 * directory that is emptied afterwards (the working directory is restored), and inputs that could name anything outside it (a '/',
 * a "..") are skipped. Exit codes must be 0, 1 or 2 (the contract in cli.h). */
#include "cli.h"
#include "scl_patterns.h"
#include "sparsecl.h"

#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

scl_status __wrap_scl_runtime_create(const char *selector, scl_runtime **out);
scl_status __wrap_scl_runtime_create(const char *selector, scl_runtime **out)
{
    (void)selector;
    *out = NULL;
    return SCL_ERR_NO_DEVICE;
}

scl_status __wrap_scl_devices_list(scl_device_info *out, int capacity, int *count);
scl_status __wrap_scl_devices_list(scl_device_info *out, int capacity, int *count)
{
    (void)out, (void)capacity;
    *count = 0;
    return SCL_ERR_NO_DEVICE;
}

scl_status __wrap_scl_device_select(const char *selector, scl_device_info *out, char *msg, size_t len);
scl_status __wrap_scl_device_select(const char *selector, scl_device_info *out, char *msg, size_t len)
{
    (void)selector, (void)out;
    if (msg && len) snprintf(msg, len, "no device (fuzzing)");
    return SCL_ERR_NO_DEVICE;
}

enum { MAX_ELEMENTS = 1 << 18 };
int __real_spc_bind(const spc_pattern *p, const spc_geometry *g, spc_bound **out, spc_error *err);
int __wrap_spc_bind(const spc_pattern *p, const spc_geometry *g, spc_bound **out, spc_error *err);
int __wrap_spc_bind(const spc_pattern *p, const spc_geometry *g, spc_bound **out, spc_error *err)
{
    if ((double)g->heads * (double)g->n_q * (double)g->n_k > MAX_ELEMENTS) {
        *out = NULL;
        memset(err, 0, sizeof *err);
        snprintf(err->message, sizeof err->message, "geometry above the fuzzing cap");
        return -1;
    }
    return __real_spc_bind(p, g, out, err);
}

static const struct {
    const char *name;
    int (*run)(int, char **);
} commands[] = {
    {"devices", cmd_devices}, {"info", cmd_info}, {"pattern", cmd_pattern}, {"attend", cmd_attend},
    {"bench", cmd_bench},     {"peak", cmd_peak}, {"tune", cmd_tune},       {"report", cmd_report},
    {"block", cmd_block},
};

static char scratch[4096];

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag;
    if (ftw->level > 0) remove(path);
    return 0;
}

static void remove_scratch(void)
{
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    rmdir(scratch);
}

static int enter_scratch(void)
{
    if (scratch[0]) return 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/sparsecl-fuzz-cli-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch)) {
        perror("fuzz_cli: scratch directory");
        abort();
    }
    atexit(remove_scratch);
    setenv("SPARSECL_QUIET", "1", 1);
    setenv("SPARSECL_CACHE_DIR", "off", 1);
    return 0;
}

/* glibc's getopt keeps a pointer into the previous argv unless optind is 0 when it is next
 * called; the CLI parses once per process, a fuzzer thousands of times, so start each run clean. */
static void reset_getopt(void)
{
    char arg0[] = "sparsecl", *argv[] = {arg0, NULL};
    optind = 0;
    opterr = 0;
    (void)getopt(1, argv, "");
    optind = 1;
}

/* The dispatch of host/cli/main.c (usage text aside). */
static int dispatch(int argc, char **argv)
{
    if (argc < 2) return CLI_USAGE;
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0 ||
        strcmp(argv[1], "--version") == 0)
        return CLI_OK;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    return CLI_USAGE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { MAX_ARGS = 64 };
    if (size > 4096) return 0;
    enter_scratch();
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char arg0[] = "sparsecl";
    char *argv[MAX_ARGS + 2] = {arg0};
    int argc = 1;
    for (size_t i = 0, start = 0; i <= size; i++) {
        if (i < size && buf[i] != '\0' && buf[i] != '\n') continue;
        buf[i] = '\0';
        if (argc == MAX_ARGS + 1) break;
        argv[argc++] = buf + start;
        start = i + 1;
    }
    if (argc > 1 && argv[argc - 1] == buf + size) argc--; /* after a final separator: no argument */
    for (int a = 1; a < argc; a++)
        if (strchr(argv[a], '/') || strstr(argv[a], "..")) {
            free(buf);
            return 0;
        }
    argv[argc] = NULL;
    /* Into the scratch directory for this input only: the caller's relative paths (a corpus
     * replay's) stay valid between inputs. */
    int home = open(".", O_RDONLY | O_DIRECTORY);
    if (home < 0 || chdir(scratch) != 0) abort();
    reset_getopt();
    fflush(stdout);
    int rc = dispatch(argc, argv);
    fflush(stdout);
    fflush(stderr);
    if (fchdir(home) != 0) abort();
    close(home);
    if (rc != CLI_OK && rc != CLI_FAILED && rc != CLI_USAGE) abort();
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(buf);
    return 0;
}
