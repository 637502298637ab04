/* Benchmark suite tests: the hidden tiny suite `test` into a temp dir (bench.json well-formed,
 * bench.md tables), `sparsecl report` over two fake device folders (both side by side in one
 * README.md), usage errors, and scripts/plot_bench.py when matplotlib is there.
 * Usage: test_bench SPARSECL WORK_DIR PLOT_SCRIPT */
#include "../check.h"
#include "../cli_expect.h"
#include "../test_util.h"
#include "files.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *plot;

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void check_timing(const cJSON *t, const char *what, int must_run)
{
    CHECK(t != NULL, "%s present", what);
    if (!t) return;
    if (cJSON_IsTrue(cJSON_GetObjectItem(t, "ran"))) {
        double med = num(t, "median_ms"), lo = num(t, "min_ms"), hi = num(t, "max_ms");
        CHECK(med > 0 && lo > 0 && lo <= med && med <= hi, "%s: min %g <= median %g <= max %g", what, lo, med,
              hi);
        CHECK(num(t, "gflops") > 0, "%s: gflops", what);
        CHECK(num(t, "reps") >= 1, "%s: reps", what);
        double cv = num(t, "cv"), mm = num(t, "max_over_min");
        CHECK(cv >= 0 && mm >= 1 && fabs(mm - hi / lo) < 1e-6 * mm, "%s: cv %g, max_over_min %g = %g / %g",
              what, cv, mm, hi, lo);
        const cJSON *noisy = cJSON_GetObjectItem(t, "noisy");
        CHECK(cJSON_IsBool(noisy) && cJSON_IsTrue(noisy) == (num(t, "reps") > 1 && cv > 0.05),
              "%s: noisy exactly when the CV is above 5%%", what);
    } else {
        const char *r = str(t, "reason");
        CHECK(!must_run, "%s did not run: %s", what, r ? r : "(no reason)");
        CHECK(r && *r, "%s: a reason when not run", what);
    }
}

/* The suite into WORK/res; returns the parsed bench.json (caller frees) and its folder. */
static cJSON *suite_run(char *dir, size_t len)
{
    char out[16384], cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/res'", cli_work);
    cli_sh(NULL, 0, cmd);
    int rc =
        cli_run_stdout(out, sizeof out, "bench --suite test --out res --no-plots --note 'test run' --json");
    CHECK(rc == 0, "bench --suite test: exit %d: %s", rc, out);
    cJSON *sum = cJSON_Parse(out);
    CHECK(sum != NULL, "--json prints JSON only on stdout: %s", out);
    const cJSON *devs = cJSON_GetObjectItem(sum, "devices"), *d0 = cJSON_GetArrayItem(devs, 0);
    const char *slug = str(d0, "slug");
    CHECK(slug != NULL, "summary names the device folder");
    snprintf(dir, len, "%s/res/%s", cli_work, slug ? slug : "?");
    cJSON_Delete(sum);

    char path[4200];
    snprintf(path, sizeof path, "%s/bench.json", dir);
    char *text = read_file(path, NULL);
    CHECK(text != NULL, "%s written", path);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(doc != NULL, "bench.json parses");
    if (!doc) return NULL;
    CHECK(str(doc, "format") && strcmp(str(doc, "format"), "sparsecl-bench") == 0, "format");
    CHECK(str(doc, "suite") && strcmp(str(doc, "suite"), "test") == 0, "suite name");
    CHECK(num(doc, "suite_version") >= 1, "suite version");
    const char *keys[] = {"library_version", "git_commit", "date", "command"};
    for (int i = 0; i < 4; i++)
        CHECK(str(doc, keys[i]) && *str(doc, keys[i]), "%s recorded", keys[i]);
    CHECK(str(doc, "note") && strcmp(str(doc, "note"), "test run") == 0, "--note recorded");
    const cJSON *dev = cJSON_GetObjectItem(doc, "device");
    CHECK(str(dev, "name") && str(dev, "driver") && str(dev, "slug"), "device name, driver, slug");
    CHECK(num(cJSON_GetObjectItem(doc, "peak"), "fma_gflops") > 0, "peak measured");
    const cJSON *pts = cJSON_GetObjectItem(doc, "points"), *p;
    int n = cJSON_GetArraySize(pts), sparse = 0, clblast = 0, f16 = 0, bf16 = 0;
    CHECK(n == 10, "10 points in the test suite, got %d", n);
    const cJSON *shapes = cJSON_GetObjectItem(doc, "shapes");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(shapes, "seq")) == 2 &&
              cJSON_GetArraySize(cJSON_GetObjectItem(shapes, "dim")) == 1 &&
              cJSON_GetArraySize(cJSON_GetObjectItem(shapes, "dtype")) == 3 &&
              cJSON_GetArraySize(cJSON_GetObjectItem(shapes, "patterns")) == 2,
          "bench.json records the suite's shapes (2 N, 1 d, 3 dtypes, 2 patterns)");
    cJSON_ArrayForEach(p, pts)
    {
        const char *kind = str(p, "kind");
        char what[128];
        snprintf(what, sizeof what, "%s %s N=%g %s", kind ? kind : "?",
                 str(p, "pattern") ? str(p, "pattern") : "?", num(p, "seq"),
                 str(p, "dtype") ? str(p, "dtype") : "?");
        CHECK(num(p, "memory_bytes") > 0, "%s: memory_bytes", what);
        check_timing(cJSON_GetObjectItem(p, "forward"), what, 1);
        if (kind && strcmp(kind, "sparse") == 0) {
            sparse++;
            f16 += str(p, "dtype") && strcmp(str(p, "dtype"), "f16") == 0;
            bf16 += str(p, "dtype") && strcmp(str(p, "dtype"), "bf16") == 0;
            CHECK(str(p, "variant") && *str(p, "variant") && str(p, "variant_reason"), "%s: variant and why",
                  what);
            CHECK(num(p, "density") > 0 && num(p, "density") <= 1, "%s: density", what);
            CHECK(str(p, "kernel_params_from") != NULL, "%s: parameter source", what);
            CHECK(num(p, "backward_memory_bytes") > num(p, "memory_bytes"), "%s: backward memory", what);
            check_timing(cJSON_GetObjectItem(p, "backward"), what, 0);
            check_timing(cJSON_GetObjectItem(p, "forward_backward"), what, 0);
        } else {
            clblast++;
            CHECK(num(p, "scores_bytes") > 0, "%s: CLBlast scores bytes", what);
        }
    }
    CHECK(sparse == 8 && clblast == 2 && f16 == 2 && bf16 == 2,
          "8 sparse (2 f16, 2 bf16) and 2 CLBlast points: %d %d %d %d", sparse, f16, bf16, clblast);
    snprintf(path, sizeof path, "%s/bench.md", dir);
    text = read_file(path, NULL);
    CHECK(text != NULL, "%s written", path);
    if (text) {
        const char *needles[] = {"# sparsecl benchmark: ",
                                 "| suite | `test` v2",
                                 "## float32 storage, d = 32",
                                 "## float16 storage, d = 32",
                                 "## bfloat16 storage, d = 32",
                                 "#### Forward time (ms)",
                                 "| N | dense (fused) | local | dense CLBlast |",
                                 "| 128 |",
                                 "| 256 |",
                                 "Device memory",
                                 "Tuned vs default",
                                 "| note | test run |"};
        for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
            CHECK(strstr(text, needles[i]) != NULL, "bench.md has '%s'", needles[i]);
        /* every table row has as many cells as its header */
        int bad = 0, header = -1;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            if (line[0] != '|') {
                header = -1;
                continue;
            }
            int cells = 0;
            for (char *c = line; *c; c++)
                cells += *c == '|';
            if (header < 0)
                header = cells;
            else if (cells != header)
                bad++, fprintf(stderr, "ragged row: %s\n", line);
        }
        CHECK(bad == 0, "bench.md tables are rectangular");
        free(text);
    }
    return doc;
}

/* Writes d to path and deletes it. */
static void write_doc(cJSON *d, const char *path)
{
    char *text = cJSON_Print(d);
    CHECK(text && write_text(path, text) == 0, "write %s", path);
    free(text);
    cJSON_Delete(d);
}

/* Two fake devices made from the real run; the second twice as slow and missing one point. */
static void report(cJSON *doc)
{
    char cmd[4096], path[4200];
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s/rep' && mkdir -p '%s/rep/fake-gpu' '%s/rep/fake-cpu' '%s/rep/tuning'", cli_work,
             cli_work, cli_work, cli_work);
    CHECK(cli_sh(NULL, 0, cmd) == 0, "make fake results dir");
    const char *names[2] = {"Fake GPU 9000", "Fake CPU 42"}, *slugs[2] = {"fake-gpu", "fake-cpu"};
    for (int i = 0; i < 2; i++) {
        cJSON *d = cJSON_Duplicate(doc, 1);
        cJSON *dev = cJSON_GetObjectItem(d, "device");
        cJSON_ReplaceItemInObject(dev, "name", cJSON_CreateString(names[i]));
        cJSON_ReplaceItemInObject(dev, "slug", cJSON_CreateString(slugs[i]));
        cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(d, "points"))
        {
            cJSON *t = cJSON_GetObjectItem(p, "forward");
            if (i == 1 && cJSON_GetObjectItem(t, "median_ms"))
                cJSON_SetNumberHelper(cJSON_GetObjectItem(t, "median_ms"), 2 * num(t, "median_ms"));
            /* the GPU's dense f32 forward: 1% of peak at N = 128, 50% at 256 */
            const char *pat = str(p, "pattern"), *dt = str(p, "dtype");
            if (i == 0 && pat && strcmp(pat, "dense") == 0 && dt && strcmp(dt, "f32") == 0 &&
                cJSON_GetObjectItem(t, "fraction_of_peak"))
                cJSON_SetNumberHelper(cJSON_GetObjectItem(t, "fraction_of_peak"),
                                      num(p, "seq") == 128 ? 0.01 : 0.5);
        }
        if (i == 1) cJSON_DeleteItemFromArray(cJSON_GetObjectItem(d, "points"), 0);
        snprintf(path, sizeof path, "%s/rep/%s/bench.json", cli_work, slugs[i]);
        write_doc(d, path);
    }
    cli_expect(0, "2 devices", "report rep");
    snprintf(path, sizeof path, "%s/rep/README.md", cli_work);
    char *readme = read_file(path, NULL);
    CHECK(readme != NULL, "README.md written");
    if (readme) {
        CHECK(strstr(readme, "| [Fake CPU 42](fake-cpu/bench.md) | [Fake GPU 9000](fake-gpu/bench.md) |") !=
                  NULL,
              "both devices side by side in one header row");
        CHECK(strstr(readme, "### Forward\n") && strstr(readme, "### Forward + backward"),
              "forward and fwd+bwd tables");
        CHECK(strstr(readme, "[tuning](tuning/)") != NULL, "folders without bench.json listed");
        CHECK(strstr(readme, "bench --suite quick") != NULL, "how to reproduce");
        /* the point dropped from the CPU is a dash next to the GPU's figure */
        CHECK(strstr(readme, "| dense (fused) | f32 | 32 | 128 | — |") != NULL,
              "missing point shown as a dash");
        CHECK(strstr(readme, "## Which shapes fill which device") &&
                  strstr(readme, "#### [Fake GPU 9000](fake-gpu/bench.md)") &&
                  strstr(readme, "| B=1 H=2 d=32 | f32 | 1.0% (not filled) | 50.0% |") &&
                  strstr(readme, "- f32: does not fill this device (below 50% of its best f32 figure, 50.0% of "
                                 "peak): B=1 H=2 d=32 at N = 128."),
              "the report says which shapes fill which device");
        CHECK(strstr(readme, "plot_bench.py --cross rep/*/bench.json --out rep/cross_device.png"),
              "the report says how to draw the cross-device figure");
        free(readme);
    }
    snprintf(path, sizeof path, "%s/rep/fake-gpu/bench.md", cli_work);
    char *md = read_file(path, NULL);
    CHECK(md && strstr(md, "# sparsecl benchmark: Fake GPU 9000"), "report regenerates each bench.md");
    free(md);
    snprintf(path, sizeof path, "%s/rep/broken", cli_work);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/rep/broken/bench.json", cli_work);
    write_text(path, "{\"not\": \"ours\"}");
    cli_expect(1, "not a sparsecl-bench JSON file", "report rep");
}

/* A bench.json written before "shapes" existed gives the same bench.md (shapes from its points). */
static void old_files(cJSON *doc)
{
    char cmd[4096], path[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/rep-old' && mkdir -p '%s/rep-old/new' '%s/rep-old/old'", cli_work,
             cli_work, cli_work);
    CHECK(cli_sh(NULL, 0, cmd) == 0, "make the old-format results dir");
    for (int i = 0; i < 2; i++) {
        cJSON *d = cJSON_Duplicate(doc, 1);
        if (i == 1) cJSON_DeleteItemFromObject(d, "shapes");
        snprintf(path, sizeof path, "%s/rep-old/%s/bench.json", cli_work, i ? "old" : "new");
        write_doc(d, path);
    }
    cli_expect(0, "2 devices", "report rep-old");
    snprintf(path, sizeof path, "%s/rep-old/new/bench.md", cli_work);
    char *a = read_file(path, NULL);
    snprintf(path, sizeof path, "%s/rep-old/old/bench.md", cli_work);
    char *b = read_file(path, NULL);
    CHECK(a && b && strcmp(a, b) == 0, "bench.md from a file without \"shapes\" is the same");
    CHECK(a && strstr(a, "## bfloat16 storage, d = 32"), "bf16 tables from the shapes");
    free(a);
    free(b);
}

/* The models-test suite (grouped shapes, GQA) into WORK/res-m/models/<slug>: every point records its
 * B, H, H_kv, N and d; the models suite itself refuses a CPU. */
static void grouped(void)
{
    char out[16384], cmd[4096], path[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/res-m'", cli_work);
    cli_sh(NULL, 0, cmd);
    int rc = cli_run_stdout(out, sizeof out, "bench --suite models-test --out res-m --no-plots --json");
    CHECK(rc == 0, "bench --suite models-test: exit %d: %s", rc, out);
    cJSON *sum = cJSON_Parse(out);
    const char *s0 = str(cJSON_GetArrayItem(cJSON_GetObjectItem(sum, "devices"), 0), "slug");
    char slug[256];
    snprintf(slug, sizeof slug, "%s", s0 ? s0 : "?");
    cJSON_Delete(sum);
    snprintf(path, sizeof path, "%s/res-m/models/%s/bench.json", cli_work, slug);
    char *text = read_file(path, NULL);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(doc != NULL, "models-test writes DIR/models/<slug>/bench.json: %s", path);
    if (!doc) return;
    const cJSON *groups = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "shapes"), "groups"), *p;
    CHECK(cJSON_GetArraySize(groups) == 2 && num(cJSON_GetArrayItem(groups, 1), "kv_heads") == 2 &&
              num(cJSON_GetArrayItem(groups, 1), "heads") == 4,
          "shapes.groups: the two groups, the second GQA (H 4, H_kv 2)");
    int n = 0, gqa = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(doc, "points"))
    {
        n++;
        double b = num(p, "batch"), h = num(p, "heads"), hk = num(p, "kv_heads"), d = num(p, "dim");
        int g1 = b == 2 && h == 2 && hk == 2 && d == 16, g2 = b == 1 && h == 4 && hk == 2 && d == 32;
        CHECK(num(p, "seq") == 128 && (g1 || g2), "point %d: B=%g H=%g H_kv=%g d=%g N=%g is one of the groups", n,
              b, h, hk, d, num(p, "seq"));
        gqa += hk < h;
        check_timing(cJSON_GetObjectItem(p, "forward"), "models-test forward", 1);
    }
    CHECK(n == 8 && gqa == 4, "8 points (2 groups x (dense, local f32 and f16, CLBlast)), 4 GQA: %d, %d", n,
          gqa);
    const cJSON *load = cJSON_GetObjectItem(doc, "load");
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        fclose(la);
        CHECK(num(load, "cpus") >= 1 && num(load, "start") >= 0 && num(load, "end") >= 0,
              "bench.json records the load average at the start and the end");
    }
    snprintf(path, sizeof path, "%s/res-m/models/%s/bench.md", cli_work, slug);
    char *md = read_file(path, NULL);
    CHECK(md && strstr(md, "## float32 storage, B = 1, H = 4, H_kv = 2, d = 32") && strstr(md, "## Noise"),
          "bench.md: a section per group, the noise summary");
    free(md);
    cJSON_Delete(doc);
    char devs[8192];
    if (cli_run_stdout(devs, sizeof devs, "devices") == 0 && strstr(devs, "CPU"))
        cli_expect(2, "runs on GPUs only", "bench --suite models --device cpu --out res-m");
}

static void plots(const char *dir)
{
    const char *py = NULL, *cands[] = {"python3", "/usr/bin/python3"};
    char cmd[4600];
    for (int i = 0; i < 2 && !py; i++) {
        snprintf(cmd, sizeof cmd, "%s -c 'import matplotlib' >/dev/null 2>&1", cands[i]);
        if (cli_sh(NULL, 0, cmd) == 0) py = cands[i];
    }
    if (!py) {
        printf("plots: skipped (no python3 with matplotlib)\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "%s '%s' '%s/bench.json' 2>&1", py, plot, dir);
    char out[4096];
    int rc = cli_sh(out, sizeof out, cmd);
    CHECK(rc == 0, "plot_bench.py: exit %d: %s", rc, out);
    /* the cross-device figure from the two fake devices of report() */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && %s '%s' --cross rep/fake-gpu/bench.json rep/fake-cpu/bench.json "
             "--out rep/cross_device.png 2>&1",
             cli_work, py, plot);
    rc = cli_sh(out, sizeof out, cmd);
    CHECK(rc == 0 && strstr(out, "(2 devices)"), "plot_bench.py --cross: exit %d: %s", rc, out);
    snprintf(cmd, sizeof cmd, "%s '%s' --cross '%s/bench.json' 2>&1", py, plot, dir);
    CHECK(cli_sh(out, sizeof out, cmd) == 2 && strstr(out, "--out"), "--cross without --out: exit 2: %s",
          out);
    const char *pngs[] = {"time_forward.png", "time_forward_backward.png", "speedup_over_dense.png",
                          "fraction_of_peak.png", "memory.png", "../../rep/cross_device.png"};
    for (int i = 0; i < 6; i++) {
        char path[4200], sig[8] = {0};
        snprintf(path, sizeof path, "%s/%s", dir, pngs[i]);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL, "%s made", path);
        if (!f) continue;
        CHECK(fread(sig, 1, 8, f) == 8 && memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0, "%s is a PNG", path);
        fclose(f);
    }
    /* report links the cross-device figure once it is there (rep/broken still fails the run) */
    cli_expect(1, "not a sparsecl-bench JSON file", "report rep");
    snprintf(cmd, sizeof cmd, "%s/rep/README.md", cli_work);
    char *readme = read_file(cmd, NULL);
    CHECK(readme && strstr(readme, "![Forward time and % of peak, every device](cross_device.png)"),
          "README.md links cross_device.png");
    free(readme);
    printf("plots: made with %s\n", py);
}

int main(int argc, char **argv)
{
    test_args(argc, 3, "test_bench SPARSECL WORK_DIR PLOT_SCRIPT");
    cli_bin = test_abs_path("test_bench", argv[1]);
    cli_work = argv[2];
    plot = argv[3];
    mkdir(cli_work, 0755);

    cli_expect(0, "usage: sparsecl bench --suite SUITE", "bench --suite quick --help");
    cli_expect(0, "usage: sparsecl report", "report --help");
    cli_expect(0, "--backward", "bench --help");
    cli_expect(2, "unknown suite 'nope'", "bench --suite nope");
    cli_expect(2, "not valid with --suite", "bench --suite test --pattern causal");
    cli_expect(2, "cannot open directory", "report no-such-dir");

    char dir[4200];
    cJSON *doc = suite_run(dir, sizeof dir);
    if (doc) {
        report(doc);
        old_files(doc);
        grouped();
        plots(dir);
    }
    cJSON_Delete(doc);
    /* single-shape bench with --backward keeps its old fields and adds the backward ones */
    cli_expect(0, "\"dense_fused_backward\"",
               "bench --pattern 'local(16)' --seq 128 --block 32 --heads 2 --dim 32 --reps 2 --no-peak "
               "--backward --json");
    cli_expect(0, "\"sparse_time_over_dense\"",
               "bench --pattern 'local(16)' --seq 128 --block 32 --heads 2 --dim 32 --reps 2 --no-peak "
               "--backward --json");
    cli_expect(
        0, "\"noisy_cv_threshold\"",
        "bench --pattern 'local(16)' --seq 128 --block 32 --heads 2 --dim 32 --reps 3 --no-peak --json");
    char out[16384];
    int rc = cli_run_stdout(
        out, sizeof out,
        "bench --pattern 'local(16)' --seq 128 --block 32 --heads 2 --dim 32 --reps 3 --no-peak");
    CHECK(rc == 0 && strstr(out, ", CV ") && strstr(out, "block density p = ") && !strstr(out, "1.25p"),
          "bench text: the spread (CV) of every row, the ratio line explained: %s", out);
    return check_summary("bench");
}
