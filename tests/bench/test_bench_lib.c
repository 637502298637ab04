/* The benchmark library without a device: the suite table (terminated lists within their limits,
 * unique names, storage types), bench.json's header and shapes written by bench_doc_new and read
 * back by bench_doc_shapes, the fallback for files without "shapes" (scanned from the points),
 * and bench.md from a synthetic document. Usage: test_bench_lib WORK_DIR */
#include "../check.h"
#include "files.h"
#include "bench.h"
#include "param_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
        CHECK(nd >= 1 && nd <= BENCH_MAX_DIMS && d->dims[nd] == 0, "%s: %d head dims, terminated", d->name,
              nd);
        CHECK(np >= 1 && np <= BENCH_MAX_PATTERNS && !d->patterns[np].label, "%s: %d patterns, terminated",
              d->name, np);
        for (int k = 1; k < ns; k++)
            CHECK(d->seqs[k] > d->seqs[k - 1], "%s: sequence lengths ascend", d->name);
        for (int k = 0; k < np; k++)
            CHECK(d->patterns[k].spec && (d->patterns[k].dtypes & BENCH_F32),
                  "%s/%s: a spec, float32 among its storage types", d->name, d->patterns[k].label);
        CHECK(d->batch >= 1 && d->heads >= 1 && d->block >= 8 && d->reps >= 1 && d->max_point_s > 0,
              "%s: settings", d->name);
    }
    CHECK(visible >= 2 && bench_suite_find("quick") && bench_suite_find("full"), "quick and full are listed");
    CHECK(!bench_suite_find("nope") && !bench_suite_find(NULL), "unknown suites are not found");
    const bench_suite_def *t = bench_suite_find("test");
    CHECK(t && bench_suite_dtypes(t) == (BENCH_F32 | BENCH_F16 | BENCH_BF16),
          "the test suite runs all three");
}

/* A point of the synthetic run: forward timing with median ms. */
static cJSON *point(const bench_suite_def *d, const char *label, const char *spec, int64_t n, int dim,
                    scl_dtype dt, double ms)
{
    cJSON *p = bench_point_new(d, "sparse", label, spec, n, dim, dt);
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
    char *md = slurp(path);
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
    if (argc != 2) {
        fprintf(stderr, "usage: test_bench_lib WORK_DIR\n");
        return 2;
    }
    mkdir(argv[1], 0755);
    suite_table();
    documents(argv[1]);
    return check_summary("bench_lib");
}
