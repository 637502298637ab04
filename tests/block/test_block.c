/* Sparse Transformer block: library forward against the double reference for several patterns
 * and shapes (N not a multiple of the block), argument errors, and `sparsecl block` on .npy files.
 * Usage: test_block SPARSECL WORK_DIR */
#include "../check.h"
#include "../cli_expect.h"
#include "../test_util.h"
#include "reference_block.h"
#include "scl_npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const double TOL = 1e-4; /* fp32: max abs error relative to the output scale */

static void check_block(scl_runtime *rt, const char *spec, scl_block_config cfg)
{
    const size_t n = (size_t)cfg.batch * cfg.seq * cfg.d_model;
    scl_block_weights w;
    make_weights(&cfg, 7, &w);
    float *x = malloc(n * 4), *y = malloc(n * 4);
    double *ref = malloc(n * 8);
    fill_uniform(x, n, 3, 1.5f);
    char msg[512] = "";
    scl_pattern *pat = NULL;
    scl_block *blk = NULL;
    scl_status st = scl_pattern_create(rt, spec, &pat);
    if (st == SCL_OK) st = scl_block_create(rt, pat, &cfg, &w, &blk);
    CHECK(st == SCL_OK, "block '%s': %s", spec, scl_last_error_message(rt));
    scl_pattern_destroy(pat); /* the block keeps what it needs */
    if (st == SCL_OK) st = scl_block_forward_host(blk, x, y);
    CHECK(st == SCL_OK, "forward '%s': %s", spec, scl_last_error_message(rt));
    int ok = reference_block(spec, &cfg, &w, x, ref, msg, sizeof msg) == 0;
    CHECK(ok, "reference: %s", msg);
    if (st == SCL_OK && ok) {
        double worst, scale;
        compare(y, ref, n, &worst, &scale);
        CHECK(worst <= TOL * scale,
              "block '%s' B=%d N=%lld D=%d H=%d F=%d block=%d: error %.3g of scale %.3g", spec, cfg.batch,
              (long long)cfg.seq, cfg.d_model, cfg.heads, cfg.d_ff, cfg.block, worst, scale);
        printf("block '%s' B=%d N=%lld D=%d H=%d D_ff=%d block=%d: max error %.3g relative to output scale "
               "%.3g\n",
               spec, cfg.batch, (long long)cfg.seq, cfg.d_model, cfg.heads, cfg.d_ff, cfg.block,
               worst / scale, scale);
        /* A second run on the same block gives the same result (scratch reuse). */
        float *y2 = malloc(n * 4);
        CHECK(scl_block_forward_host(blk, x, y2) == SCL_OK && memcmp(y, y2, n * 4) == 0,
              "repeat run identical");
        free(y2);
    }
    scl_block_destroy(blk);
    free_weights(&w);
    free(x), free(y), free(ref);
}

static void errors(scl_runtime *rt)
{
    scl_block_config cfg = {1, 40, 64, 4, 32, 16, 0};
    scl_block_weights w;
    make_weights(&cfg, 1, &w);
    scl_pattern *pat = NULL;
    CHECK(scl_pattern_create(rt, "causal", &pat) == SCL_OK, "pattern");
    scl_block *blk = (scl_block *)1;
    scl_block_weights bad = w;
    bad.w_2 = NULL;
    CHECK(scl_block_create(rt, pat, &cfg, &bad, &blk) == SCL_ERR_INVALID_ARGUMENT && blk == NULL &&
              strstr(scl_last_error_message(rt), "w_2"),
          "NULL weight named: %s", scl_last_error_message(rt));
    scl_block_config c2 = cfg;
    c2.heads = 3;
    CHECK(scl_block_create(rt, pat, &c2, &w, &blk) == SCL_ERR_INVALID_ARGUMENT &&
              strstr(scl_last_error_message(rt), "multiple of heads"),
          "D not a multiple of H: %s", scl_last_error_message(rt));
    c2 = cfg;
    c2.heads = 1; /* d = 64 is fine */
    c2.d_model = 48;
    c2.heads = 4; /* d = 12 is not */
    CHECK(scl_block_create(rt, pat, &c2, &w, &blk) == SCL_ERR_INVALID_ARGUMENT &&
              strstr(scl_last_error_message(rt), "head dim"),
          "unsupported head dim: %s", scl_last_error_message(rt));
    c2 = cfg;
    c2.block = 12;
    CHECK(scl_block_create(rt, pat, &c2, &w, &blk) == SCL_ERR_INVALID_ARGUMENT, "bad block size: %s",
          scl_last_error_message(rt));
    c2 = cfg;
    c2.d_ff = 0;
    CHECK(scl_block_create(rt, pat, &c2, &w, &blk) == SCL_ERR_INVALID_ARGUMENT, "d_ff 0");
    CHECK(scl_block_create(rt, NULL, &cfg, &w, &blk) == SCL_ERR_INVALID_ARGUMENT, "NULL pattern");
    CHECK(scl_block_create(NULL, pat, &cfg, &w, &blk) == SCL_ERR_INVALID_ARGUMENT, "NULL runtime");

    CHECK(scl_block_create(rt, pat, &cfg, &w, &blk) == SCL_OK, "create: %s", scl_last_error_message(rt));
    cl_int err;
    cl_mem small = clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE, 64, NULL, &err);
    cl_mem ok =
        clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE, scl_block_tensor_bytes(blk), NULL, &err);
    CHECK(scl_block_forward(blk, small, ok, 0, NULL, NULL) == SCL_ERR_INVALID_ARGUMENT &&
              strstr(scl_last_error_message(rt), "tensor x"),
          "small x: %s", scl_last_error_message(rt));
    CHECK(scl_block_forward(blk, ok, NULL, 0, NULL, NULL) == SCL_ERR_INVALID_ARGUMENT, "NULL y");
    CHECK(scl_block_forward(blk, ok, ok, 0, NULL, NULL) == SCL_ERR_INVALID_ARGUMENT, "x aliasing y");
    CHECK(scl_block_forward(blk, ok, small, 1, NULL, NULL) == SCL_ERR_INVALID_ARGUMENT, "wait list NULL");
    CHECK(scl_block_forward(NULL, ok, small, 0, NULL, NULL) == SCL_ERR_INVALID_ARGUMENT, "NULL block");
    CHECK(scl_block_forward_host(blk, NULL, NULL) == SCL_ERR_INVALID_ARGUMENT, "NULL host arrays");
    clReleaseMemObject(small);
    clReleaseMemObject(ok);
    scl_block_destroy(blk);
    scl_block_destroy(NULL);
    scl_pattern_destroy(pat);
    free_weights(&w);
}

/* ---- CLI ---------------------------------------------------------------------------------- */
static void save(const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, const float *data)
{
    char path[1024], msg[256];
    int64_t shape[3] = {d0, d1, d2};
    snprintf(path, sizeof path, "%s/%s", cli_work, name);
    CHECK(npy_write(path, NPY_F32, ndim, shape, data, msg, sizeof msg) == 0, "write %s: %s", path, msg);
}

static void save_weights(const char *dir, const scl_block_config *c, const scl_block_weights *w)
{
    char p[256];
    const int64_t D = c->d_model, F = c->d_ff;
#define S1(name, n) (snprintf(p, sizeof p, "%s/" #name ".npy", dir), save(p, 1, n, 0, 0, w->name))
#define S2(name, a, b) (snprintf(p, sizeof p, "%s/" #name ".npy", dir), save(p, 2, a, b, 0, w->name))
    S1(ln1_g, D), S1(ln1_b, D), S2(w_qkv, D, 3 * D), S1(b_qkv, 3 * D), S2(w_o, D, D), S1(b_o, D);
    S1(ln2_g, D), S1(ln2_b, D), S2(w_1, D, F), S1(b_1, F), S2(w_2, F, D), S1(b_2, D);
#undef S1
#undef S2
}

static void cli(void)
{
    scl_block_config cfg = {2, 45, 64, 2, 80, 16, 0};
    const char *spec = "causal & strided(16)";
    const size_t n = (size_t)cfg.batch * cfg.seq * cfg.d_model;
    scl_block_weights w;
    make_weights(&cfg, 11, &w);
    float *x = malloc(n * 4);
    double *ref = malloc(n * 8);
    fill_uniform(x, n, 5, 1.0f);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/w", cli_work);
    mkdir(cli_work, 0755);
    mkdir(dir, 0755);
    save_weights("w", &cfg, &w);
    save("x.npy", 3, cfg.batch, cfg.seq, cfg.d_model, x);
    cli_expect(0, "wrote y.npy",
           "block --x x.npy --weights w --heads 2 --pattern 'causal & strided(16)' --block 16 --out y.npy");
    char path[1400], msg[512];
    npy_array y = {0};
    snprintf(path, sizeof path, "%s/y.npy", cli_work);
    CHECK(npy_read(path, &y, msg, sizeof msg) == 0, "read y: %s", msg);
    CHECK(y.dtype == NPY_F32 && y.ndim == 3 && y.shape[0] == cfg.batch && y.shape[1] == cfg.seq &&
              y.shape[2] == cfg.d_model,
          "y is float32 [B, N, D]");
    if (y.data && y.count == (int64_t)n && reference_block(spec, &cfg, &w, x, ref, msg, sizeof msg) == 0) {
        double worst, scale;
        compare(y.data, ref, n, &worst, &scale);
        CHECK(worst <= TOL * scale, "CLI block: error %.3g of scale %.3g", worst, scale);
        printf("sparsecl block round trip: max error %.3g relative to output scale\n", worst / scale);
    } else {
        CHECK(0, "CLI output or reference missing: %s", msg);
    }
    npy_free(&y);

    /* Errors: one line, exit 2, naming the file. */
    cli_expect(0, "w_qkv.npy", "block --help");
    cli_expect(2, "--weights is required", "block --x x.npy --heads 2 --pattern causal --block 16");
    cli_expect(2, "not a multiple of --heads",
           "block --x x.npy --weights w --heads 3 --pattern causal --block 16");
    cli_expect(2, "head dim", "block --x x.npy --weights w --heads 8 --pattern causal --block 16");
    cli_expect(2, "pattern", "block --x x.npy --weights w --heads 2 --pattern 'causal &' --block 16");
    save("w/w_o.npy", 2, cfg.d_model, cfg.d_model + 1, 0, w.w_qkv);
    cli_expect(2, "w_o.npy has shape [64, 65], expected [64, 64]",
           "block --x x.npy --weights w --heads 2 --pattern causal --block 16");
    save("w/w_o.npy", 2, cfg.d_model, cfg.d_model, 0, w.w_o);
    save("w/b_1.npy", 1, cfg.d_ff + 2, 0, 0, w.w_1);
    cli_expect(2, "b_1.npy has shape [82], expected [80]",
           "block --x x.npy --weights w --heads 2 --pattern causal --block 16");
    snprintf(path, sizeof path, "%s/w/b_1.npy", cli_work);
    remove(path);
    cli_expect(2, "b_1.npy", "block --x x.npy --weights w --heads 2 --pattern causal --block 16");
    cli_expect(2, "missing.npy", "block --x missing.npy --weights w --heads 2 --pattern causal --block 16");
    free_weights(&w);
    free(x), free(ref);
}

int main(int argc, char **argv)
{
    test_args(argc, 2, "test_block SPARSECL WORK_DIR");
    cli_bin = argv[1];
    cli_work = argv[2];
    scl_runtime *rt = NULL;
    if (scl_runtime_create(NULL, &rt) != SCL_OK) {
        fprintf(stderr, "no runtime: %s\n", scl_last_error_message(rt));
        scl_runtime_destroy(rt);
        return 1;
    }
    /* N not a multiple of the block; per-head patterns; d of 16, 32 and 64; D_ff not a power of 2. */
    check_block(rt, "causal", (scl_block_config){2, 77, 64, 4, 96, 16, 0});
    check_block(rt, "causal & strided(16)", (scl_block_config){1, 100, 64, 2, 128, 16, 0});
    check_block(rt, "local(24) | global(0, 5)", (scl_block_config){2, 53, 32, 2, 40, 8, 0});
    check_block(rt, "heads(0: causal; 1-3: local(20))", (scl_block_config){1, 70, 64, 4, 64, 32, 1e-3f});
    check_block(rt, "dense", (scl_block_config){1, 33, 64, 1, 48, 16, 0});
    errors(rt);
    scl_runtime_destroy(rt);
    cli();
    return check_summary("block");
}
