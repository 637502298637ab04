/* The benchmark library without a device: the suite table (terminated lists within their limits,
 * unique names, storage types), bench.json's header and shapes written by bench_doc_new and read
 * back by bench_doc_shapes, the fallback for files without "shapes" (scanned from the points),
 * and bench.md from a synthetic document. Usage: test_bench_lib WORK_DIR */
#include "../check.h"
#include "../test_util.h"
#include "files.h"
#include "bench.h"
#include "param_schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void suite_table(void)
{
    int visible = 0;
    for (int i = 0; i < bench_suite_count(); i++) {
        const bench_suite_def *d = bench_suite_at(i);
        visible += !d->hidden;
        CHECK(d->name && d->about && d->version >= 1, "suite %d: name, about, version", i);
        CHECK(bench_suite_find(d->name) == d, "%s: found by its name (names are unique)", d->name);
        int ns = bench_suite_n_seqs(d), nd = bench_suite_n_dims(d), np = bench_suite_n_patterns(d);
        CHECK(ns >= 1 && ns <= BENCH_MAX_SEQS && d->seqs[ns] == 0, "%s: %d sequence lengths, terminated",
              d->name, ns);
        if (d->groups[0].dim)
            CHECK(nd == 0 && d->batch == 0 && d->heads == 0, "%s: groups, not head dims with B and H",
                  d->name);
        else
            CHECK(nd >= 1 && nd <= BENCH_MAX_DIMS && d->dims[nd] == 0, "%s: %d head dims, terminated",
                  d->name, nd);
        int ng = bench_suite_n_groups(d);
        CHECK(ng >= 1 && ng <= BENCH_MAX_GROUPS, "%s: %d groups", d->name, ng);
        for (int k = 0; k < ng; k++) {
            bench_group g = bench_suite_group(d, k);
            CHECK(g.batch >= 1 && g.heads >= 1 && g.kv_heads >= 1 && g.heads % g.kv_heads == 0 && g.dim >= 16,
                  "%s group %d: B=%d H=%d H_kv=%d d=%d", d->name, k, g.batch, g.heads, g.kv_heads, g.dim);
        }
        CHECK(np >= 1 && np <= BENCH_MAX_PATTERNS && !d->patterns[np].label, "%s: %d patterns, terminated",
              d->name, np);
        for (int k = 1; k < ns; k++)
            CHECK(d->seqs[k] > d->seqs[k - 1], "%s: sequence lengths ascend", d->name);
        for (int k = 0; k < np; k++)
            CHECK(d->patterns[k].spec && (d->patterns[k].dtypes & BENCH_F32),
                  "%s/%s: a spec, float32 among its storage types", d->name, d->patterns[k].label);
        CHECK((d->groups[0].dim || (d->batch >= 1 && d->heads >= 1)) && d->block >= 8 && d->reps >= 1 &&
                  d->max_point_s > 0,
              "%s: settings", d->name);
    }
    CHECK(visible >= 2 && bench_suite_find("quick") && bench_suite_find("full"), "quick and full are listed");
    CHECK(!bench_suite_find("nope") && !bench_suite_find(NULL), "unknown suites are not found");
    const bench_suite_def *t = bench_suite_find("test");
    CHECK(t && bench_suite_dtypes(t) == (BENCH_F32 | BENCH_F16 | BENCH_BF16),
          "the test suite runs all three");
    /* models: shapes that fill a GPU (B*H 32-128, GQA, d 64 and 128, N 1K-16K), on GPUs only */
    const bench_suite_def *m = bench_suite_find("models");
    CHECK(m && !m->hidden && m->gpu_only && m->subdir && strcmp(m->subdir, "models") == 0,
          "models: listed, GPUs only, into DIR/models");
    if (!m) return;
    int gqa = 0, d64 = 0, d128 = 0;
    for (int k = 0; k < bench_suite_n_groups(m); k++) {
        bench_group g = bench_suite_group(m, k);
        CHECK(g.batch * g.heads >= 32 && g.batch * g.heads <= 128, "models group %d: B*H = %d in 32-128", k,
              g.batch * g.heads);
        gqa |= g.kv_heads < g.heads, d64 |= g.dim == 64, d128 |= g.dim == 128;
    }
    CHECK(gqa && d64 && d128, "models: GQA groups, d = 64 and 128");
    CHECK(m->seqs[0] == 1024 && m->seqs[bench_suite_n_seqs(m) - 1] == 16384, "models: N 1K-16K");
    const bench_suite_def *q = bench_suite_find("quick");
    CHECK(q && !q->gpu_only && !q->subdir && bench_suite_n_groups(q) == 2 &&
              bench_suite_group(q, 1).dim == 128 && bench_suite_group(q, 1).kv_heads == q->heads,
          "quick: one group per head dim, H_kv = H");
}

/* The noise rule: CV above BENCH_NOISY_CV, or a load average above the CPU count. */
static void noise(void)
{
    bench_timing quiet = {.ran = 1, .reps = 5, .median = 1, .min = 0.99, .max = 1.02, .cv = 0.01};
    bench_timing loud = {.ran = 1, .reps = 5, .median = 1, .min = 0.8, .max = 1.6, .cv = 0.2};
    bench_timing one = {.ran = 1, .reps = 1, .median = 1, .min = 1, .max = 1, .cv = 0.2};
    char line[400];
    CHECK(!bench_timing_noisy(&quiet) && bench_timing_noisy(&loud) && !bench_timing_noisy(&one),
          "noisy: CV 1%% no, 20%% yes, a single run never");
    CHECK(!bench_noise_warning("x", &quiet, 1.0, 2, line, sizeof line) && !line[0],
          "quiet, idle: no warning");
    CHECK(bench_noise_warning("fwd", &loud, 1.0, 2, line, sizeof line) && strstr(line, "fwd: noisy") &&
              strstr(line, "20.0%") && strstr(line, "max/min 2.00") && !strstr(line, "busy"),
          "noisy: the CV and max/min in the warning: %s", line);
    CHECK(bench_noise_warning(NULL, NULL, 5.0, 2, line, sizeof line) && strstr(line, "busy") &&
              strstr(line, "load average 5.0 on 2 CPUs"),
          "busy machine: %s", line);
    CHECK(bench_noise_warning("fwd", &loud, 5.0, 2, line, sizeof line) && strstr(line, "noisy") &&
              strstr(line, "busy"),
          "both in one line: %s", line);
    CHECK(!bench_noise_warning(NULL, NULL, 5.0, 0, line, sizeof line), "load unknown (0 CPUs): no warning");
    double load;
    int cpus;
    if (bench_load(&load, &cpus)) CHECK(cpus >= 1 && load >= 0, "bench_load: %g on %d CPUs", load, cpus);
    cJSON *j = bench_timing_json(&loud, 0);
    CHECK(bench_jnum(j, "cv", -1) == 0.2 && bench_jnum(j, "max_over_min", -1) == 2.0 &&
              bench_jbool(j, "noisy"),
          "timing JSON: cv, max_over_min, noisy");
    cJSON_Delete(j);
}

/* Which shapes fill the device: below half of the best dense figure of that dtype. */
static void fill(void)
{
    const bench_suite_def *d = bench_suite_find("test");
    scl_device_info di;
    memset(&di, 0, sizeof di);
    cJSON *doc = bench_doc_new(d, &di, "fake", 2, 5, "", "", "", "");
    cJSON *pts = cJSON_GetObjectItem(doc, "points");
    bench_group g = bench_suite_group(d, 0);
    const double fr[2] = {0.1, 0.4}; /* of a 1000 GFLOP/s peak */
    for (int i = 0; i < 2; i++) {
        cJSON *p = bench_point_new(d, "sparse", "dense", "dense", d->seqs[i], &g, SCL_F32);
        bench_timing t = {.ran = 1, .reps = 2, .median = 1, .min = 1, .max = 1, .flops = fr[i] * 1e9};
        cJSON_AddItemToObject(p, "forward", bench_timing_json(&t, 1000));
        cJSON_AddItemToArray(pts, p);
    }
    CHECK(fabs(bench_fill_best(doc, "f32") - 0.4) < 1e-9 && bench_fill_best(doc, "f16") < 0,
          "best per dtype");
    CHECK(bench_fill_ok(doc, 128, &g, "f32") == 0 && bench_fill_ok(doc, 256, &g, "f32") == 1 &&
              bench_fill_ok(doc, 256, &g, "f16") == -1,
          "N = 128 (10%% of peak, best 40%%) does not fill; N = 256 does; no f16 figure");
    char path[] = "/tmp/test_bench_fill_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w+") : NULL;
    CHECK(f != NULL, "temp file");
    if (f) {
        bench_fill_md(f, doc, "Fake");
        fclose(f);
        char *md = read_file(path, NULL);
        CHECK(md && strstr(md, "| B=1 H=2 d=32 | f32 | 10.0% (not filled) | 40.0% |") &&
                  strstr(md, "f32: does not fill this device (below 50% of its best f32 figure, 40.0% of "
                             "peak): B=1 H=2 d=32 at N = 128."),
              "fill table and statement: %s", md ? md : "");
        free(md);
        unlink(path);
    }
    cJSON_Delete(doc);
}

/* A point of the synthetic run: forward timing with median ms. */
static cJSON *point(const bench_suite_def *d, const char *label, const char *spec, int64_t n, int dim,
                    scl_dtype dt, double ms)
{
    bench_group g = {d->batch, d->heads, d->heads, dim};
    cJSON *p = bench_point_new(d, "sparse", label, spec, n, &g, dt);
    bench_timing t = {.ran = 1, .reps = 2, .median = ms, .min = ms, .max = ms, .flops = 1e6};
    cJSON_AddNumberToObject(p, "density", 0.5);
    cJSON_AddNumberToObject(p, "memory_bytes", 1 << 20);
    cJSON_AddItemToObject(p, "forward", bench_timing_json(&t, 0));
    return p;
}

static void documents(const char *work)
{
    const bench_suite_def *d = bench_suite_find("test");
    scl_device_info di;
    memset(&di, 0, sizeof di);
    snprintf(di.name, sizeof di.name, "Fake device");
    di.type = CL_DEVICE_TYPE_CPU;
    cJSON *doc = bench_doc_new(d, &di, "fake", 2, 5, "note", "sparsecl bench --suite test", "abc", "today");
    CHECK(strcmp(bench_jstr(doc, "format"), "sparsecl-bench") == 0 &&
              bench_jnum(doc, "suite_version", 0) == 2,
          "header: format and suite version");
    cJSON *pts = cJSON_GetObjectItem(doc, "points");
    /* points in the order a run writes them: dtype groups, then N, then patterns */
    cJSON_AddItemToArray(pts, point(d, "dense", "dense", 128, 32, SCL_F32, 0.5));
    cJSON_AddItemToArray(pts, point(d, "local", "local(32)", 128, 32, SCL_F32, 0.25));
    cJSON_AddItemToArray(pts, point(d, "local", "local(32)", 256, 32, SCL_BF16, 150));
    bench_shapes a, b;
    bench_doc_shapes(doc, &a);
    CHECK(!a.from_points && a.n_seqs == 2 && a.seqs[0] == 128 && a.seqs[1] == 256 && a.n_dims == 1 &&
              a.dims[0] == 32,
          "shapes from \"shapes\": N 128, 256 and d 32 (also where no point ran)");
    CHECK(a.n_dtypes == 3 && strcmp(a.dtypes[2], "bf16") == 0, "three dtypes, in report order");
    CHECK(a.n_patterns == 2 && strcmp(a.labels[1], "local") == 0 && strcmp(a.specs[1], "local(32)") == 0,
          "the patterns with their specs");
    cJSON *old = cJSON_Duplicate(doc, 1);
    cJSON_DeleteItemFromObject(old, "shapes");
    bench_doc_shapes(old, &b);
    CHECK(b.from_points && b.n_seqs == 2 && b.n_dims == 1 && b.n_patterns == 2 && b.n_dtypes == 2 &&
              strcmp(b.dtypes[1], "bf16") == 0,
          "an old file: the shapes its points have (f32 and bf16 only)");
    CHECK(bench_find_point(doc, "sparse", "local", 256, 32, "bf16") &&
              !bench_find_point(doc, "sparse", "local", 256, 32, "f16"),
          "bench_find_point");
    char dir[4096], path[4200], msg[512];
    snprintf(dir, sizeof dir, "%s/md", work);
    mkdir(dir, 0755);
    CHECK(bench_md_write(doc, dir, msg, sizeof msg) == 0, "bench_md_write: %s", msg);
    snprintf(path, sizeof path, "%s/bench.md", dir);
    char *md = read_file(path, NULL);
    CHECK(md && strstr(md, "# sparsecl benchmark: Fake device"), "bench.md title");
    CHECK(md && strstr(md, "## bfloat16 storage, d = 32") && !strstr(md, "## float16 storage"),
          "a section per dtype that has points");
    CHECK(md && strstr(md, "| 256 | 150 |"), "a time of 150 ms printed as 150");
    free(md);
    char t[32];
    bench_fmt_ms(t, sizeof t, 0.12345);
    CHECK(strcmp(t, "0.123") == 0, "bench_fmt_ms(0.12345) = %s", t);
    CHECK(strcmp(bench_short_reason(NULL, NULL), "—") == 0, "no point: a dash");
    cJSON_Delete(old);
    cJSON_Delete(doc);
}

int main(int argc, char **argv)
{
    test_args(argc, 1, "test_bench_lib WORK_DIR");
    mkdir(argv[1], 0755);
    suite_table();
    noise();
    fill();
    documents(argv[1]);
    return check_summary("bench_lib");
}
