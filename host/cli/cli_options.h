/* A command's options as one table: the long names, what each value is (and its bounds), and where
 * it goes. cli_parse_options runs getopt_long over it with the error rules of every command: a
 * value out of range, an unknown or incomplete option, or an operand where none is taken is bad
 * usage (exit 2, one line naming the option). */
#ifndef SCL_CLI_OPTIONS_H
#define SCL_CLI_OPTIONS_H

#include "cli.h"

#include <getopt.h>

typedef enum cli_opt_kind {
    CLI_OPT_STRING,     /* const char *: the value as given */
    CLI_OPT_SET,        /* int: set to lo (no value) */
    CLI_OPT_BOOL,       /* bool: set to true (no value) */
    CLI_OPT_INT,        /* int in [lo, hi] (cli_parse_int) */
    CLI_OPT_I64,        /* int64_t in [lo, hi] (cli_parse_i64) */
    CLI_OPT_DOUBLE,     /* double in [lo, hi] (cli_parse_double) */
    CLI_OPT_DTYPE,      /* scl_dtype (cli_parse_dtype) */
    CLI_OPT_BLOCK,      /* int (cli_parse_block; lo = 1 also takes "auto") */
    CLI_OPT_OTHER,      /* the command's own handler, with a value */
    CLI_OPT_OTHER_FLAG, /* the command's own handler, no value */
} cli_opt_kind;

typedef struct cli_opt {
    const char *name; /* without "--"; a row with name NULL ends the table */
    cli_opt_kind kind;
    void *dst;
    double lo, hi;
    int code; /* CLI_OPT_OTHER rows: the code other() receives */
} cli_opt;

/* The rows, by kind. */
/* clang-format off */
#define CLI_STR(name, dst) {name, CLI_OPT_STRING, dst, 0, 0, 0}
#define CLI_SET(name, dst, value) {name, CLI_OPT_SET, dst, value, 0, 0}
#define CLI_BOOL(name, dst) {name, CLI_OPT_BOOL, dst, 0, 0, 0}
#define CLI_INT(name, dst, lo, hi) {name, CLI_OPT_INT, dst, lo, hi, 0}
#define CLI_I64(name, dst, lo, hi) {name, CLI_OPT_I64, dst, lo, hi, 0}
#define CLI_DOUBLE(name, dst, lo, hi) {name, CLI_OPT_DOUBLE, dst, lo, hi, 0}
#define CLI_DTYPE(name, dst) {name, CLI_OPT_DTYPE, dst, 0, 0, 0}
#define CLI_BLOCK(name, dst, allow_auto) {name, CLI_OPT_BLOCK, dst, allow_auto, 0, 0}
#define CLI_OTHER(name, code) {name, CLI_OPT_OTHER, NULL, 0, 0, code}
#define CLI_OTHER_FLAG(name, code) {name, CLI_OPT_OTHER_FLAG, NULL, 0, 0, code}
#define CLI_END {NULL, CLI_OPT_STRING, NULL, 0, 0, 0}
/* clang-format on */

typedef struct cli_options {
    const char *cmd;
    const cli_opt *opts;
    void (*usage)(void); /* --help, -h */
    /* getopt_long entries of the command's own (ended by {0}; NULL: none), such as a table shared
     * with the --distributed form: their codes (below 256) go to other() as CLI_OPT_OTHER rows do.
     * A row of the same name replaces an entry (a command's own bounds for a shared option). */
    const struct option *extra;
    /* CLI_OPT_OTHER rows and extra entries: -1 to go on, else the exit code (its error printed). */
    int (*other)(void *ctx, int code, const char *value);
    void *ctx;
    /* The error for an unknown option, %s the option as typed; NULL: cli_refused's. */
    const char *refused;
    /* The error for an option without its value, %s the option; NULL: refused like an unknown one. */
    const char *missing;
    /* The command's own short options besides -h, in getopt's syntax ("d:"); their codes go to
     * other() as extra entries' do. NULL: none. */
    const char *shorts;
    bool operands; /* operands are the command's (at argv[optind..]); false: one is an error */
} cli_options;

/* -1 when every option was taken (optind at the first operand), else the exit code to return. */
int cli_parse_options(const cli_options *p, int argc, char **argv);

#endif
