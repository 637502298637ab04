/* `sparsecl bench --suite`: the command line of a suite run (the runs themselves are in bench/). */
#include "bench.h"
#include "cli.h"
#include "cli_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "bench";

static void usage(void)
{
    printf("usage: sparsecl bench --suite SUITE [--device D|all] [--out DIR] [--note TEXT]\n"
           "                      [--reps R] [--max-point-seconds S] [--no-plots] [--no-peak] [--json]\n\n"
           "Runs a named, versioned sweep and writes DIR/<device-slug>/bench.json (raw figures with\n"
           "device, driver, library version, git commit, date and suite version), bench.md (tables)\n"
           "and, when python3 with matplotlib is there, PNG plots (scripts/plot_bench.py). DIR defaults\n"
           "to results. `sparsecl report DIR` then rebuilds DIR/README.md across devices.\n\n"
           "suites:\n");
    for (int i = 0; i < bench_suite_count(); i++) {
        const bench_suite_def *s = bench_suite_at(i);
        if (!s->hidden) printf("  %-6s v%d  %s\n", s->name, s->version, s->about);
    }
    printf("\nThe models suite writes to DIR/models/<device-slug>/ (`sparsecl report DIR/models`); it\n"
           "refuses devices that are not GPUs (exit 2; --device all skips them).\n");
    printf("\nEvery point: median/min/max of R event-timed runs after warm-up, effective GFLOP/s on\n"
           "allowed elements, fraction of the measured fp32 FMA peak, device memory, the dense fused\n"
           "kernel and CLBlast where they fit, and tuned vs built-in default parameters when a tuning\n"
           "database supplied them. Points that do not fit the device memory, or whose predicted run\n"
           "time exceeds --max-point-seconds (default per suite), are skipped and listed as such.\n"
           "--device all runs every OpenCL device in turn. Progress goes to stderr; --json prints\n"
           "only a JSON summary on stdout.\n"
           "Noise: every timing records its coefficient of variation (cv) and max/min; a point whose runs\n"
           "spread more than 5%% (CV) gets a warning line, and so does a busy machine (1-minute load\n"
           "average above the CPU count, /proc/loadavg, at the start and the end: bench.json \"load\").\n");
}

typedef struct suite_opts {
    const char *suite, *dev;
    bench_suite_config cfg;
} suite_opts;

/* -1 to go on, else the exit code. */
static int parse(int argc, char **argv, suite_opts *o)
{
    const cli_opt opts[] = {CLI_STR("suite", &o->suite),
                            CLI_STR("device", &o->dev),
                            CLI_STR("out", &o->cfg.out_root),
                            CLI_STR("note", &o->cfg.note),
                            CLI_INT("reps", &o->cfg.reps, 1, 10000),
                            CLI_DOUBLE("max-point-seconds", &o->cfg.max_point_s, 0.001, 1e6),
                            CLI_SET("no-plots", &o->cfg.plots, 0),
                            CLI_SET("no-peak", &o->cfg.peak, 0),
                            CLI_SET("json", &o->cfg.quiet, 1),
                            CLI_END};
    const cli_options p = {
        .cmd = CMD, .opts = opts, .usage = usage,
        .refused = "option '%s' is unknown or not valid with --suite (see --help)"};
    return cli_parse_options(&p, argc, argv);
}

/* The suite on one device (a selector); a CLI exit code. A GPU-only suite on another device is
 * refused (exit 2), or with --device all skipped with a note. */
static int run_device(const bench_suite_def *def, const char *selector, int all,
                      const bench_suite_config *cfg, cJSON *summary)
{
    scl_runtime *rt = NULL;
    int rc = CLI_OK;
    char msg[1200];
    if ((rc = cli_runtime_create(CMD, selector, &rt)) != CLI_OK)
        return rc;
    const scl_device_info *di = scl_runtime_device(rt);
    if (def->gpu_only && !(di->type & CL_DEVICE_TYPE_GPU)) {
        if (all)
            fprintf(stderr, "bench: suite %s skipped on %s: it runs on GPUs only\n", def->name, di->name);
        else
            rc = cli_error(CMD, CLI_USAGE,
                           "suite %s runs on GPUs only (its B*H = 32-128 shapes to N = 16K take hours "
                           "on %s); use --suite quick",
                           def->name, di->name);
        scl_runtime_destroy(rt);
        return rc;
    }
    if (bench_suite_run(rt, def, cfg, summary, msg, sizeof msg) != 0)
        rc = cli_error(CMD, CLI_FAILED, "%s", msg);
    scl_runtime_destroy(rt);
    return rc;
}

static void print_summary(const bench_suite_def *def, cJSON *summary)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "suite", def->name);
    cJSON_AddNumberToObject(root, "suite_version", def->version);
    cJSON_AddItemToObject(root, "devices", summary);
    char *text = cJSON_Print(root);
    if (text) puts(text);
    free(text);
    cJSON_Delete(root);
}

int bench_suite_main(int argc, char **argv)
{
    suite_opts o = {.cfg = {.out_root = "results", .note = "", .plots = 1, .peak = 1}};
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    const bench_suite_def *def = o.suite ? bench_suite_find(o.suite) : NULL;
    if (!def)
        return cli_error(CMD, CLI_USAGE, "unknown suite '%s' (quick, full, models)", o.suite ? o.suite : "");
    char cmdline[2048] = "sparsecl";
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(cmdline);
        snprintf(cmdline + n, sizeof cmdline - n, " %s", argv[i]);
    }
    o.cfg.cmdline = cmdline;
    cJSON *summary = cJSON_CreateArray();
    rc = CLI_OK;
    if (o.dev && strcmp(o.dev, "all") == 0) {
        int count = 0;
        if (scl_devices_list(NULL, 0, &count) != SCL_OK || count == 0) {
            cJSON_Delete(summary);
            return cli_error(CMD, CLI_FAILED, "no OpenCL device");
        }
        for (int i = 0; i < count; i++) {
            char sel[16];
            snprintf(sel, sizeof sel, "%d", i);
            int one = run_device(def, sel, 1, &o.cfg, summary);
            if (one != CLI_OK) rc = one;
        }
    } else {
        rc = run_device(def, o.dev, 0, &o.cfg, summary);
    }
    if (o.cfg.quiet)
        print_summary(def, summary);
    else
        cJSON_Delete(summary);
    return rc;
}
