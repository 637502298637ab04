#include "cli.h"

#include "block_choice.h"
#include "name_table.h"
#include "param_schema.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const char *cmd, int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sparsecl %s: error: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

bool cli_parse_i64(const char *cmd, const char *opt, const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || end == text || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
        cli_error(cmd, CLI_USAGE, "%s expects an integer in [%lld, %lld], got '%s'", opt, (long long)lo,
                  (long long)hi, text ? text : "");
        return false;
    }
    *out = (int64_t)v;
    return true;
}

bool cli_parse_int(const char *cmd, const char *opt, const char *text, int lo, int hi, int *out)
{
    int64_t v;
    if (!cli_parse_i64(cmd, opt, text, lo, hi, &v)) return false;
    *out = (int)v;
    return true;
}

bool cli_parse_double(const char *cmd, const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = text ? strtod(text, &end) : 0;
    if (!text || end == text || *end != '\0' || errno == ERANGE || !isfinite(v) || v < lo || v > hi) {
        cli_error(cmd, CLI_USAGE, "%s expects a number in [%g, %g], got '%s'", opt, lo, hi, text ? text : "");
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_block(const char *cmd, const char *text, bool allow_auto, int *out)
{
    if (allow_auto && text && strcmp(text, "auto") == 0) {
        *out = SCL_BLOCK_AUTO;
        return true;
    }
    char *end = NULL;
    errno = 0;
    long v = text ? strtol(text, &end, 10) : 0;
    if (text && end != text && *end == '\0' && errno == 0 && v >= 8 && v <= 256 && (v & (v - 1)) == 0) {
        *out = (int)v;
        return true;
    }
    cli_error(cmd, CLI_USAGE, "--block must be %sa power of two from 8 to 256 (8, 16, 32, 64, 128, 256), got '%s'",
              allow_auto ? "auto or " : "", text ? text : "");
    return false;
}

bool cli_parse_dtype(const char *cmd, const char *text, scl_dtype *dt)
{
    if (scli_dtype_from_name(text, dt)) return true;
    return cli_error(cmd, CLI_USAGE, "--dtype must be f32, f16 or bf16, got '%s'", text), false;
}

bool cli_parse_decompose(const char *cmd, const char *text, int *which)
{
    static const char *const names[] = {"auto", "off", "force"};
    int i = scli_name_index(text, names, 3);
    if (i >= 0) return *which = i, true;
    return cli_error(cmd, CLI_USAGE, "--decompose: expected auto, off or force, got '%s'", text), false;
}

/* The option getopt_long just refused, as typed. A long one ("--frob", "--json=x") has been
 * stepped over, so it is argv[optind - 1]. A short one may sit inside a cluster ("-jx"), where
 * optind has not moved on and argv[optind - 1] is some earlier argument (or the command name):
 * name the character instead. `before` is optind before the call. */
const char *cli_refused_option(char **argv, int before, char *buf, size_t len)
{
    const char *arg = argv[optind - 1];
    if (optopt == 0 || (optind > before && strncmp(arg, "--", 2) == 0)) return arg;
    snprintf(buf, len, "-%c", optopt);
    return buf;
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return true;
    }
    return false;
}

int cli_refused(const char *cmd, char **argv, int before)
{
    char opt[8];
    return cli_error(cmd, CLI_USAGE, "unknown or incomplete option '%s' (see --help)",
                     cli_refused_option(argv, before, opt, sizeof opt));
}

/* The selector in force and where it came from ("--device" or "SPARSECL_DEVICE"), or NULL. */
static const char *selector_of(const char *device, const char **from)
{
    const char *env = getenv("SPARSECL_DEVICE");
    *from = device && *device ? "--device" : env && *env ? "SPARSECL_DEVICE" : NULL;
    return device && *device ? device : env && *env ? env : NULL;
}

static int selection_error(const char *cmd, scl_status st, const char *from, const char *msg)
{
    int code = st == SCL_ERR_NO_DEVICE && from ? CLI_USAGE : CLI_FAILED;
    if (from) return cli_error(cmd, code, "%s: %s", from, msg);
    return cli_error(cmd, code, "%s", msg);
}

int cli_runtime_create(const char *cmd, const char *device, scl_runtime **rt)
{
    const char *from, *sel = selector_of(device, &from);
    scl_status st = scl_runtime_create(sel, rt);
    if (st == SCL_OK) return CLI_OK;
    int code = selection_error(cmd, st, from, *rt ? scl_last_error_message(*rt) : scl_status_string(st));
    scl_runtime_destroy(*rt);
    *rt = NULL;
    return code;
}

int cli_select_device(const char *cmd, const char *device, scl_device_info *out, bool *found)
{
    const char *from, *sel = selector_of(device, &from);
    char msg[2048];
    *found = false;
    scl_status st = scl_device_select(sel, out, msg, sizeof msg);
    *found = st == SCL_OK;
    if (st == SCL_OK || (st == SCL_ERR_NO_DEVICE && !from)) return CLI_OK;
    return selection_error(cmd, st, from, msg);
}

int cli_bench_option(const char *cmd, int c, const char *arg, cli_bench_shared *s)
{
    switch (c) {
    case 'p':
        s->spec = arg;
        return 1;
    case 'D':
        s->dev = arg;
        return 1;
    case 'b':
        if (!s->block_auto_ok && arg && strcmp(arg, "auto") == 0)
            return cli_error(cmd, CLI_USAGE, "--block auto is not available with --distributed: give a power of "
                                             "two from 8 to 256"),
                   0;
        return cli_parse_block(cmd, arg, s->block_auto_ok, &s->block);
    case 'H':
        return cli_parse_int(cmd, "--heads", arg, 1, 65536, &s->heads);
    case 'K':
        return cli_parse_int(cmd, "--kv-heads", arg, 1, 65536, &s->kv_heads);
    case 'B':
        return cli_parse_int(cmd, "--batch", arg, 1, 65536, &s->batch);
    case 'w':
        s->backward = 1;
        return 1;
    default:
        return -1;
    }
}
