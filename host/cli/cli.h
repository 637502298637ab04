/* Shared pieces of the `sparsecl` command-line tool: subcommand entry points and small helpers.
 * Exit codes: 0 success, 1 the work failed, 2 bad usage or bad input. Every error is one line on
 * stderr that starts with "sparsecl <command>: error: ". */
#ifndef SCL_CLI_H
#define SCL_CLI_H

#include "sparsecl.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int cmd_devices(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_pattern(int argc, char **argv);
int cmd_attend(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_peak(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_block(int argc, char **argv);
int cmd_report(int argc, char **argv);
/* `sparsecl bench --suite ...` (cmd_bench_suite.c): argv is the bench command's whole argument vector. */
int bench_suite_main(int argc, char **argv);

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

/* Print "sparsecl <cmd>: error: <message>\n" to stderr; returns `code` for `return cli_error(...)`. */
int cli_error(const char *cmd, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Strict number parsing for option values: the whole string must be a number in [lo, hi].
 * On failure prints an error naming the option and returns false. */
bool cli_parse_i64(const char *cmd, const char *opt, const char *text, int64_t lo, int64_t hi, int64_t *out);
bool cli_parse_int(const char *cmd, const char *opt, const char *text, int lo, int hi, int *out);
bool cli_parse_double(const char *cmd, const char *opt, const char *text, double lo, double hi, double *out);
/* --dtype: f32, f16 or bf16; false (error printed) otherwise. */
bool cli_parse_dtype(const char *cmd, const char *text, scl_dtype *dt);
/* --block: a power of two from 8 to 256, or (allow_auto) "auto" = SCL_BLOCK_AUTO; false (error
 * printed, naming the accepted values) otherwise. Every command's --block defaults to CLI_BLOCK_DEFAULT. */
#define CLI_BLOCK_DEFAULT 64
bool cli_parse_block(const char *cmd, const char *text, bool allow_auto, int *out);
/* --decompose: auto, off or force into *which (0, 1, 2); false (error printed) otherwise. */
bool cli_parse_decompose(const char *cmd, const char *text, int *which);
/* Option parsing for commands whose only option is --json: prints `help` for --help. Returns -1
 * to go on (with *json set), else the exit code to return. */
/* The option getopt_long just refused, as typed: a long one, or "-x" for a short one (also inside
 * a cluster like "-jx", where argv[optind - 1] is an earlier argument). `before` is optind before
 * the getopt_long call; buf (8 bytes) holds the short form. */
const char *cli_refused_option(char **argv, int before, char *buf, size_t len);
/* The error for that option: "unknown or incomplete option '...' (see --help)"; returns CLI_USAGE. */
int cli_refused(const char *cmd, char **argv, int before);
/* True when argv holds -h or --help anywhere (before "--"). */
bool cli_wants_help(int argc, char **argv);

/* Device selection with one rule for every command: a selector (the command's --device value,
 * else SPARSECL_DEVICE) that matches no device is bad input (CLI_USAGE, the error lists the devices
 * there are); no device at all without a selector, or a device that fails to open, is CLI_FAILED.
 * cli_runtime_create returns CLI_OK with *rt set, else prints the error and returns the code
 * (*rt NULL). cli_select_device does the same for commands that only describe the device;
 * *found is false (CLI_OK) when there is no device and no selector. */
int cli_runtime_create(const char *cmd, const char *device, scl_runtime **rt);
int cli_select_device(const char *cmd, const char *device, scl_device_info *out, bool *found);

/* ---- What a command shares with its `--distributed` form (distributed/, over MPI) ------------ */
/* Entries of a getopt_long table (<getopt.h>), each with its comma: the same names, arguments and
 * codes in both forms. */
/* attend: the files, --pattern, --block, --scale, --device, --help. */
#define CLI_ATTEND_OPTIONS                                                                                   \
    {"q", required_argument, NULL, 'q'}, {"k", required_argument, NULL, 'k'},                                \
        {"v", required_argument, NULL, 'v'}, {"pattern", required_argument, NULL, 'p'},                      \
        {"block", required_argument, NULL, 'b'}, {"scale", required_argument, NULL, 's'},                    \
        {"out", required_argument, NULL, 'o'}, {"lse", required_argument, NULL, 'l'},                        \
        {"device", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},                          \
        {"dout", required_argument, NULL, 'G'}, {"dq", required_argument, NULL, 'Q'},                        \
        {"dk", required_argument, NULL, 'K'}, {"dv", required_argument, NULL, 'V'},
/* bench: the problem (--seq, --dim, --reps and --dtype take the bounds and types of their command). */
#define CLI_BENCH_OPTIONS                                                                                    \
    {"pattern", required_argument, NULL, 'p'}, {"seq", required_argument, NULL, 'n'},                        \
        {"block", required_argument, NULL, 'b'}, {"heads", required_argument, NULL, 'H'},                    \
        {"kv-heads", required_argument, NULL, 'K'}, {"dim", required_argument, NULL, 'd'},                   \
        {"batch", required_argument, NULL, 'B'}, {"dtype", required_argument, NULL, 't'},                    \
        {"reps", required_argument, NULL, 'r'}, {"device", required_argument, NULL, 'D'},                    \
        {"backward", no_argument, NULL, 'w'}, {"help", no_argument, NULL, 'h'},
/* The bench options both forms read alike: --pattern, --device, --block, --heads, --kv-heads,
 * --batch and --backward. */
typedef struct cli_bench_shared {
    const char *spec, *dev;
    int block, heads, kv_heads, batch, backward;
    bool block_auto_ok; /* --block auto is accepted (the single-device form) */
} cli_bench_shared;
/* One option (getopt_long's code c, its value arg) into *s: 1 taken, 0 its value refused (error
 * printed), -1 not one of those. */
int cli_bench_option(const char *cmd, int c, const char *arg, cli_bench_shared *s);

#endif
