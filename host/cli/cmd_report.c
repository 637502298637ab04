/* `sparsecl report DIR`: every DIR/<device-slug>/bench.json into one DIR/README.md with the
 * devices side by side, and each device's bench.md regenerated from its bench.json (bench/bench_md.c). */
#include "bench.h"
#include "cli.h"
#include "cli_options.h"
#include "scl_fileio.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *CMD = "report";

/* ---- Across devices: README.md ------------------------------------------------------------ */

typedef struct device_doc {
    char slug[256];
    cJSON *doc;
} device_doc;

static int cmp_dev(const void *a, const void *b)
{
    const device_doc *x = a, *y = b;
    return strcmp(x->slug, y->slug);
}

/* A shape row of the comparison: the same point on every device. */
typedef struct row {
    const char *kind, *pattern, *dtype;
    double seq, dim, heads, batch, block, kv_heads;
} row;

static int row_order(const row *a, const row *b)
{
    int c = strcmp(a->dtype, b->dtype);
    if (c) return -c; /* f32 first */
    if (a->dim != b->dim) return a->dim < b->dim ? -1 : 1;
    c = strcmp(a->kind, b->kind);
    if (c) return -c; /* sparse before clblast */
    c = strcmp(a->pattern, b->pattern);
    if (c) return c;
    if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
    if (a->heads != b->heads) return a->heads < b->heads ? -1 : 1;
    if (a->kv_heads != b->kv_heads) return a->kv_heads < b->kv_heads ? -1 : 1;
    return 0;
}

static int cmp_row(const void *a, const void *b)
{
    return row_order(a, b);
}

static int same_row(const row *r, const cJSON *p, const cJSON *doc)
{
    const cJSON *set = bench_jobj(doc, "settings");
    return strcmp(r->kind, bench_jstr(p, "kind")) == 0 && strcmp(r->pattern, bench_jstr(p, "pattern")) == 0 &&
           strcmp(r->dtype, bench_jstr(p, "dtype")) == 0 && r->seq == bench_jnum(p, "seq", 0) &&
           r->dim == bench_jnum(p, "dim", 0) &&
           r->heads == bench_jnum(p, "heads", bench_jnum(set, "heads", 0)) &&
           r->batch == bench_jnum(p, "batch", bench_jnum(set, "batch", 0)) &&
           r->block == bench_jnum(p, "block", bench_jnum(set, "block", 0)) &&
           r->kv_heads == bench_point_group(doc, p).kv_heads;
}

/* `ref` is the batch and heads most rows have: other shapes are named in their row. */
static void comparison(FILE *f, device_doc *devs, int nd, const char *which, const char *title,
                       const row *ref)
{
    int cap = 0, n = 0;
    for (int i = 0; i < nd; i++)
        cap += cJSON_GetArraySize(bench_jobj(devs[i].doc, "points"));
    row *rows = calloc((size_t)cap + 1, sizeof *rows);
    if (!rows) return;
    for (int i = 0; i < nd; i++) {
        const cJSON *p;
        cJSON_ArrayForEach(p, bench_jobj(devs[i].doc, "points"))
        {
            if (!bench_jobj(p, which)) continue;
            const cJSON *set = bench_jobj(devs[i].doc, "settings");
            row r = {bench_jstr(p, "kind"),
                     bench_jstr(p, "pattern"),
                     bench_jstr(p, "dtype"),
                     bench_jnum(p, "seq", 0),
                     bench_jnum(p, "dim", 0),
                     bench_jnum(p, "heads", bench_jnum(set, "heads", 0)),
                     bench_jnum(p, "batch", bench_jnum(set, "batch", 0)),
                     bench_jnum(p, "block", bench_jnum(set, "block", 0)),
                     bench_point_group(devs[i].doc, p).kv_heads};
            int seen = 0;
            for (int k = 0; k < n && !seen; k++)
                seen = row_order(&rows[k], &r) == 0 && rows[k].batch == r.batch && rows[k].block == r.block;
            if (!seen) rows[n++] = r;
        }
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_row);
    fprintf(f,
            "\n### %s\n\nMedian time in ms (effective GFLOP/s as %% of each device's own peak).\n\n"
            "| pattern | dtype | d | N |",
            title);
    for (int i = 0; i < nd; i++)
        fprintf(f, " [%s](%s/bench.md) |", bench_jstr(bench_jobj(devs[i].doc, "device"), "name"),
                devs[i].slug);
    fprintf(f, "\n| --- | --- | ---: | ---: |");
    for (int i = 0; i < nd; i++)
        fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (int k = 0; k < n; k++) {
        const row *r = &rows[k];
        const char *name = strcmp(r->kind, "clblast") == 0    ? "dense CLBlast"
                           : strcmp(r->pattern, "dense") == 0 ? "dense (fused)"
                                                              : r->pattern;
        fprintf(f, "| %s | %s | %.0f | %.0f", name, r->dtype, r->dim, r->seq);
        if (r->kv_heads != r->heads)
            fprintf(f, " (B=%.0f H=%.0f H_kv=%.0f)", r->batch, r->heads, r->kv_heads);
        else if (r->heads != ref->heads || r->batch != ref->batch)
            fprintf(f, " (B=%.0f H=%.0f)", r->batch, r->heads);
        fprintf(f, " |");
        for (int i = 0; i < nd; i++) {
            const cJSON *p, *hit = NULL;
            cJSON_ArrayForEach(p, bench_jobj(devs[i].doc, "points")) if (!hit && same_row(r, p, devs[i].doc))
                hit = p;
            const cJSON *t = hit ? bench_jobj(hit, which) : NULL;
            char ms[32];
            if (t && bench_jbool(t, "ran")) {
                bench_fmt_ms(ms, sizeof ms, bench_jnum(t, "median_ms", 0));
                double fr = bench_jnum(t, "fraction_of_peak", -1);
                if (fr >= 0)
                    fprintf(f, " %s (%.0f%%) |", ms, 100 * fr);
                else
                    fprintf(f, " %s |", ms);
            } else {
                fprintf(f, " %s |", bench_short_reason(hit, t));
            }
        }
        fprintf(f, "\n");
    }
    free(rows);
}

static void readme_usage(void)
{
    printf("usage: sparsecl report [DIR] [--out FILE] [--no-md]\n\n"
           "Reads every DIR/<device-slug>/bench.json (written by `sparsecl bench --suite`), regenerates\n"
           "each device's bench.md from it (unless --no-md) and writes DIR/README.md (or FILE): the\n"
           "devices with their driver, peak, suite and date, and comparison tables with each device's\n"
           "figures side by side for the same shapes (forward, forward+backward), linking each device's\n"
           "report, and which shapes fill which device: a shape does not fill a device when its dense\n"
           "fused forward reaches less than half of the best fraction of peak that device reaches with\n"
           "the same dtype. DIR defaults to results. Plots are made by scripts/plot_bench.py; its --cross\n"
           "mode draws DIR/cross_device.png, which the README links when it is there.\n");
}

/* The report's documents: DIR's device folders with a bench.json, and the other folders. */
typedef struct report_set {
    device_doc devs[64];
    int nd;
    char others[64][256];
    int no;
} report_set;

/* One DIR/<name>/bench.json into the set; CLI_FAILED when it is not ours. */
static int load_one(const char *root, const char *name, report_set *rs)
{
    char path[2600], msg[512];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", root, name);
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return CLI_OK;
    snprintf(path, sizeof path, "%s/%s/bench.json", root, name);
    unsigned char *text = NULL;
    size_t size = 0;
    if (scl_read_file(path, 256u << 20, &text, &size, msg, sizeof msg) != 0) {
        if (rs->no < 64) snprintf(rs->others[rs->no++], sizeof rs->others[0], "%s", name);
        return CLI_OK;
    }
    cJSON *doc = cJSON_Parse((const char *)text);
    free(text);
    if (!doc || strcmp(bench_jstr(doc, "format"), "sparsecl-bench") != 0) {
        cJSON_Delete(doc);
        return cli_error(CMD, CLI_FAILED, "%s is not a sparsecl-bench JSON file", path);
    }
    if (rs->nd == 64) {
        cJSON_Delete(doc);
        return CLI_OK;
    }
    snprintf(rs->devs[rs->nd].slug, sizeof rs->devs[rs->nd].slug, "%s", name);
    rs->devs[rs->nd++].doc = doc;
    return CLI_OK;
}

/* Every folder of root, devices sorted by slug and other folders by name. */
static int load_all(const char *root, report_set *rs)
{
    DIR *d = opendir(root);
    if (!d) return cli_error(CMD, CLI_USAGE, "cannot open directory %s", root);
    int rc = CLI_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && load_one(root, e->d_name, rs) != CLI_OK) rc = CLI_FAILED;
    closedir(d);
    if (rs->nd == 0)
        return cli_error(CMD, CLI_USAGE, "%s holds no <device>/bench.json (run sparsecl bench --suite first)", root);
    qsort(rs->devs, (size_t)rs->nd, sizeof rs->devs[0], cmp_dev);
    for (int i = 1; i < rs->no; i++)
        for (int j = i; j > 0 && strcmp(rs->others[j - 1], rs->others[j]) > 0; j--) {
            char t[256];
            memcpy(t, rs->others[j], sizeof t), memcpy(rs->others[j], rs->others[j - 1], sizeof t),
                memcpy(rs->others[j - 1], t, sizeof t);
        }
    return rc;
}

/* The shape the suites run, from the bench.json files (their "settings"; the first device's when
 * they differ), else from the suite table. */
static row reference_shape(const report_set *rs)
{
    const bench_suite_def *q = bench_suite_find("quick");
    row r = {.batch = q->batch, .heads = q->heads, .block = q->block};
    if (rs->nd > 0) {
        const cJSON *set = bench_jobj(rs->devs[0].doc, "settings");
        r.batch = bench_jnum(set, "batch", r.batch);
        r.heads = bench_jnum(set, "heads", r.heads);
        r.block = bench_jnum(set, "block", r.block);
    }
    return r;
}

static void readme_intro(FILE *f, const char *root, const row *ref)
{
    const char *quick = "build/sparsecl bench --suite quick   # a few minutes on a 2-core CPU; "
                        "--device D|all",
               *models = "build/sparsecl bench --suite models --device gpu   # GPUs only: B*H 32-128, "
                         "N 1K-16K";
    fprintf(
        f,
        "# sparsecl results\n\n"
        "Generated by `sparsecl report %s` from the `bench.json` files below; do not edit by hand.\n\n"
        "## Reproduce on your device\n\n"
        "```sh\n"
        "scripts/demo                                   # or: cmake --preset default && cmake --build "
        "--preset default\n"
        "%s\n"
        "build/sparsecl report %s   # this page and each device's bench.md\n"
        "python3 scripts/plot_bench.py %s/*/bench.json   # every figure, from the committed JSON\n"
        "python3 scripts/plot_bench.py --cross %s/*/bench.json --out %s/cross_device.png\n"
        "```\n\n"
        "`bench --suite` writes `results/<device-slug>/bench.json` (raw: device, driver, library version, "
        "git commit, date, suite version, every point), `bench.md` (tables) and, with python3-matplotlib, "
        "the PNG plots. The `full` suite goes to N = 64K where memory and the time cap allow. ",
        root, ref->batch > 0 ? quick : models, root, root, root, root);
    if (ref->batch > 0)
        fprintf(f,
                "Both suites run the same shapes (B = %.0f, H = %.0f, block %.0f), so the tables below line "
                "up across devices. `bench --suite models` (GPUs) runs the shapes of real models into "
                "`%s/models/`.\n",
                ref->batch, ref->heads, ref->block, root);
    else
        fprintf(f, "The `models` suite runs the batch and head shapes named in each row (block %.0f).\n",
                ref->block);
}

static void readme_devices(FILE *f, const report_set *rs)
{
    fprintf(
        f,
        "\n## Devices\n\n| device | type | platform, driver | peak fp32 FMA | bandwidth | suite | points | "
        "date | commit | note |\n| --- | --- | --- | ---: | ---: | --- | ---: | --- | --- | --- |\n");
    for (int i = 0; i < rs->nd; i++) {
        const cJSON *doc = rs->devs[i].doc, *dev = bench_jobj(doc, "device"), *pk = bench_jobj(doc, "peak");
        char commit[16];
        snprintf(commit, sizeof commit, "%.10s", bench_jstr(doc, "git_commit"));
        fprintf(f,
                "| [%s](%s/bench.md) | %s | %s, %s | %.0f GFLOP/s | %.0f GB/s | %s v%.0f | %d | %.10s | `%s` "
                "| %s |\n",
                bench_jstr(dev, "name"), rs->devs[i].slug, bench_jstr(dev, "type"),
                bench_jstr(dev, "platform"), bench_jstr(dev, "driver"), bench_jnum(pk, "fma_gflops", 0),
                bench_jnum(pk, "bandwidth_gbs", 0), bench_jstr(doc, "suite"),
                bench_jnum(doc, "suite_version", 0), cJSON_GetArraySize(bench_jobj(doc, "points")),
                bench_jstr(doc, "date"), commit, bench_jstr(doc, "note"));
    }
}

/* Which shapes fill which device (bench/bench_fill.c). */
static void readme_fill(FILE *f, const report_set *rs)
{
    fprintf(f,
            "\n## Which shapes fill which device\n\n"
            "The dense fused forward's effective GFLOP/s as %% of each device's own fp32 FMA peak, per "
            "shape. A shape *does not fill* a device when it reaches less than %.0f%% of the best figure "
            "that device reaches with the same storage type in its bench.json: the device is then mostly "
            "waiting (too few work-groups per launch, launch overhead), so its figures there say more about "
            "the shape than about the device.\n",
            100 * BENCH_FILL_SHARE);
    for (int i = 0; i < rs->nd; i++) {
        char name[600];
        snprintf(name, sizeof name, "[%s](%s/bench.md)",
                 bench_jstr(bench_jobj(rs->devs[i].doc, "device"), "name"), rs->devs[i].slug);
        bench_fill_md(f, rs->devs[i].doc, name);
    }
}

/* The cross-device figure, when scripts/plot_bench.py --cross has drawn it. */
static void readme_figure(FILE *f, const char *root)
{
    char path[2600];
    struct stat sb;
    snprintf(path, sizeof path, "%s/cross_device.png", root);
    fprintf(f, "\n## Across devices\n\n");
    if (stat(path, &sb) == 0)
        fprintf(f, "![Forward time and %% of peak, every device](cross_device.png)\n\n");
    fprintf(f,
            "`python3 scripts/plot_bench.py --cross %s/*/bench.json --out %s/cross_device.png` draws the "
            "figure: forward time and %% of each device's own peak against N, one line per device.\n",
            root, root);
}

/* DIR/README.md (or `out`); a CLI exit code. */
static int write_readme(const char *root, const char *out, report_set *rs)
{
    char path[2600], msg[1200], *tmp = NULL;
    if (out)
        snprintf(path, sizeof path, "%s", out);
    else
        snprintf(path, sizeof path, "%s/README.md", root);
    FILE *f = scl_atomic_open(path, &tmp, msg, sizeof msg);
    if (!f) return cli_error(CMD, CLI_FAILED, "%s", msg);
    row ref = reference_shape(rs);
    readme_intro(f, root, &ref);
    readme_devices(f, rs);
    if (rs->nd) {
        readme_fill(f, rs);
        readme_figure(f, root);
        fprintf(f, "\n## Side by side\n");
        comparison(f, rs->devs, rs->nd, "forward", "Forward", &ref);
        comparison(f, rs->devs, rs->nd, "forward_backward", "Forward + backward", &ref);
    }
    if (rs->no) {
        fprintf(f, "\n## Other folders\n\n");
        for (int i = 0; i < rs->no; i++)
            fprintf(f, "- [%s](%s/)\n", rs->others[i], rs->others[i]);
    }
    int ok = !ferror(f);
    if (scl_atomic_close(f, tmp, path, ok, msg, sizeof msg) != 0)
        return cli_error(CMD, CLI_FAILED, "%s", msg);
    fprintf(stderr, "report: wrote %s (%d device%s)\n", path, rs->nd, rs->nd == 1 ? "" : "s");
    return CLI_OK;
}

int cmd_report(int argc, char **argv)
{
    const char *root = "results", *out = NULL;
    int md = 1;
    const cli_opt opts[] = {CLI_STR("out", &out), CLI_SET("no-md", &md, 0), CLI_END};
    const cli_options p = {.cmd = CMD, .opts = opts, .usage = readme_usage, .operands = true};
    int parsed = cli_parse_options(&p, argc, argv);
    if (parsed >= 0) return parsed;
    if (optind < argc) root = argv[optind++];
    if (optind < argc) return cli_error(CMD, CLI_USAGE, "unexpected argument '%s'", argv[optind]);
    char rootbuf[2048];
    snprintf(rootbuf, sizeof rootbuf, "%s", root);
    size_t rl = strlen(rootbuf);
    while (rl > 1 && rootbuf[rl - 1] == '/')
        rootbuf[--rl] = '\0';
    root = rootbuf;

    report_set rs;
    memset(&rs, 0, sizeof rs);
    int rc = load_all(root, &rs);
    if (rc == CLI_USAGE) return rc;
    char msg[1200];
    for (int i = 0; i < rs.nd && md; i++) {
        char dir[2600];
        snprintf(dir, sizeof dir, "%s/%s", root, rs.devs[i].slug);
        if (bench_md_write(rs.devs[i].doc, dir, msg, sizeof msg) != 0)
            rc = cli_error(CMD, CLI_FAILED, "%s", msg);
    }
    int w = write_readme(root, out, &rs);
    if (w != CLI_OK) rc = w;
    for (int i = 0; i < rs.nd; i++)
        cJSON_Delete(rs.devs[i].doc);
    return rc;
}
