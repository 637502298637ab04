/* Table-driven option parsing for the `sparsecl` commands (cli_options.h). */
#include "cli_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CODE_BASE = 256 }; /* getopt_long codes of the rows: past every character */

/* One row's value into its destination: false when it is refused (error printed). */
static bool take(const cli_options *p, const cli_opt *o, const char *value)
{
    char opt[80];
    snprintf(opt, sizeof opt, "--%s", o->name);
    switch (o->kind) {
    case CLI_OPT_STRING:
        *(const char **)o->dst = value;
        return true;
    case CLI_OPT_SET:
        *(int *)o->dst = (int)o->lo;
        return true;
    case CLI_OPT_BOOL:
        *(bool *)o->dst = true;
        return true;
    case CLI_OPT_INT:
        return cli_parse_int(p->cmd, opt, value, (int)o->lo, (int)o->hi, o->dst);
    case CLI_OPT_I64:
        return cli_parse_i64(p->cmd, opt, value, (int64_t)o->lo, (int64_t)o->hi, o->dst);
    case CLI_OPT_DOUBLE:
        return cli_parse_double(p->cmd, opt, value, o->lo, o->hi, o->dst);
    case CLI_OPT_DTYPE:
        return cli_parse_dtype(p->cmd, value, o->dst);
    case CLI_OPT_BLOCK:
        return cli_parse_block(p->cmd, value, o->lo != 0, o->dst);
    default:
        return false;
    }
}

/* Whether one of the n rows is called name. */
static bool row_named(const cli_opt *opts, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(opts[i].name, name) == 0) return true;
    return false;
}

int cli_parse_options(const cli_options *p, int argc, char **argv)
{
    int n = 0, nx = 0;
    while (p->opts[n].name)
        n++;
    while (p->extra && p->extra[nx].name)
        nx++;
    struct option *lo = calloc((size_t)(n + nx) + 2, sizeof *lo);
    if (!lo) return cli_error(p->cmd, CLI_FAILED, "out of memory");
    for (int i = 0; i < n; i++) {
        const cli_opt_kind k = p->opts[i].kind;
        const bool flag = k == CLI_OPT_SET || k == CLI_OPT_BOOL || k == CLI_OPT_OTHER_FLAG;
        lo[i] = (struct option){p->opts[i].name, flag ? no_argument : required_argument, NULL, CODE_BASE + i};
    }
    int m = n;
    for (int i = 0; i < nx; i++)
        if (!row_named(p->opts, n, p->extra[i].name)) lo[m++] = p->extra[i];
    lo[m] = (struct option){"help", no_argument, NULL, 'h'};
    int c, rc = -1;
    opterr = 0;
    optind = 0; /* glibc: a full re-initialisation, in case getopt ran before; it then starts at 1 */
    char shorts[32];
    snprintf(shorts, sizeof shorts, "%sh%s", p->missing ? ":" : "", p->shorts ? p->shorts : "");
    for (int before = 1; rc < 0 && (c = getopt_long(argc, argv, shorts, lo, NULL)) != -1; before = optind) {
        if (c == 'h') {
            p->usage();
            rc = CLI_OK;
        } else if (c == ':') {
            rc = cli_error(p->cmd, CLI_USAGE, p->missing, argv[optind - 1]);
        } else if (c != '?' && c > 0 && c < CODE_BASE) { /* an extra entry's */
            rc = p->other(p->ctx, c, optarg);
        } else if (c < CODE_BASE || c >= CODE_BASE + n) {
            rc = p->refused ? cli_error(p->cmd, CLI_USAGE, p->refused,
                                        cli_refused_option(argv, before, (char[8]){0}, 8))
                            : cli_refused(p->cmd, argv, before);
        } else {
            const cli_opt *o = &p->opts[c - CODE_BASE];
            if (o->kind == CLI_OPT_OTHER || o->kind == CLI_OPT_OTHER_FLAG)
                rc = p->other(p->ctx, o->code, optarg);
            else if (!take(p, o, optarg))
                rc = CLI_USAGE;
        }
    }
    free(lo);
    if (rc < 0 && !p->operands && optind < argc)
        rc = cli_error(p->cmd, CLI_USAGE, "unexpected argument '%s'", argv[optind]);
    return rc;
}
