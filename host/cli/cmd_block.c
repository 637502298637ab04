/* `sparsecl block`: one Sparse Transformer block forward on .npy input and weights. */
#include "cli.h"
#include "cli_options.h"
#include "scl_npy.h"
#include "sparsecl.h"
#include "sparsecl_block.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *CMD = "block";

static void usage(void)
{
    printf("usage: sparsecl block --x X.npy --weights DIR --heads H --pattern SPEC [--block B]\n"
           "                      [--out Y.npy] [--eps E] [--device D]\n\n"
           "Runs one Sparse Transformer block forward (pre-LayerNorm):\n"
           "  out = x + Attention(LN1(x) W_qkv + b_qkv) W_o + b_o\n"
           "  y   = out + GELU(LN2(out) W_1 + b_1) W_2 + b_2\n"
           "Attention is block-sparse with SPEC, H heads of d = D / H; GELU is the tanh approximation;\n"
           "LayerNorm eps defaults to 1e-5.\n\n"
           "  --x        [B, N, D] (or [N, D]) float32; float16/float64 are converted\n"
           "  --weights  directory holding these .npy files (float32, float16 or float64):\n"
           "               ln1_g.npy, ln1_b.npy  [D]        LayerNorm before attention\n"
           "               w_qkv.npy             [D, 3D]    columns: Q, then K, then V\n"
           "               b_qkv.npy             [3D]\n"
           "               w_o.npy               [D, D]     attention output projection\n"
           "               b_o.npy               [D]\n"
           "               ln2_g.npy, ln2_b.npy  [D]        LayerNorm before the MLP\n"
           "               w_1.npy               [D, D_ff]\n"
           "               b_1.npy               [D_ff]\n"
           "               w_2.npy               [D_ff, D]\n"
           "               b_2.npy               [D]\n"
           "             matrices are (in, out): y = x W (PyTorch's Linear.weight transposed)\n"
           "  --heads    H; D / H must be one of 16, 32, 64, 80, 96, 128, 256\n"
           "  --block    layout block size, a power of two 8..256 (default 64, as every command)\n"
           "  --out      y [B, N, D] (x's rank) float32\n"
           "See `sparsecl pattern --help` for SPEC.\n");
}

/* Opens an .npy file and checks its header (rank, dtype): its data is read by read_f32 once every
 * shape has been checked against the others. */
static int open_f32(const char *what, const char *path, int min_ndim, int max_ndim, npy_array *a,
                    npy_file **file)
{
    char msg[512];
    if (npy_open(path, a, file, msg, sizeof msg) != 0)
        return cli_error(CMD, CLI_USAGE, "%s %s: %s", what, path, msg);
    if (a->ndim < min_ndim || a->ndim > max_ndim)
        return cli_error(CMD, CLI_USAGE, "%s %s: expected %d to %d dimensions, got %d", what, path, min_ndim,
                         max_ndim, a->ndim);
    if (a->dtype != NPY_F32 && a->dtype != NPY_F16 && a->dtype != NPY_F64)
        return cli_error(CMD, CLI_USAGE, "%s %s: dtype %s is not float32, float16 or float64", what, path,
                         npy_dtype_name(a->dtype));
    return CLI_OK;
}

/* Reads the data of an opened file as float32 (converting float16/float64). */
static int read_f32(const char *what, const char *path, npy_array *a, npy_file **file)
{
    char msg[512];
    int rc = npy_read_data(*file, a, msg, sizeof msg);
    npy_close(*file);
    *file = NULL;
    if (rc != 0) return cli_error(CMD, CLI_USAGE, "%s %s: %s", what, path, msg);
    if (a->dtype == NPY_F32) return CLI_OK;
    float *f = malloc((size_t)(a->count ? a->count : 1) * sizeof *f);
    if (!f) return cli_error(CMD, CLI_FAILED, "out of host memory reading %s", path);
    for (int64_t i = 0; i < a->count; i++)
        f[i] =
            a->dtype == NPY_F16 ? npy_half_to_float(((uint16_t *)a->data)[i]) : (float)((double *)a->data)[i];
    free(a->data);
    a->data = f;
    a->dtype = NPY_F32;
    a->itemsize = 4;
    return CLI_OK;
}

enum { LN1_G, LN1_B, W_QKV, B_QKV, W_O, B_O, LN2_G, LN2_B, W_1, B_1, W_2, B_2, NW };
static const char *wnames[NW] = {"ln1_g", "ln1_b", "w_qkv", "b_qkv", "w_o", "b_o",
                                 "ln2_g", "ln2_b", "w_1",   "b_1",   "w_2", "b_2"};

static void shape_text(const npy_array *a, char *out, size_t len)
{
    size_t n = (size_t)snprintf(out, len, "[");
    for (int i = 0; i < a->ndim && n < len; i++)
        n += (size_t)snprintf(out + n, len - n, "%s%lld", i ? ", " : "", (long long)a->shape[i]);
    if (n < len) snprintf(out + n, len - n, "]");
}

static void weight_path(const char *dir, int i, char *path, size_t len, char *what, size_t wlen)
{
    snprintf(path, len, "%s/%s.npy", dir, wnames[i]);
    snprintf(what, wlen, "weight %s", wnames[i]);
}

/* Opens every weight and checks its shape against D (from x) and D_ff (from w_1), from the
 * headers alone. */
static int open_weights(const char *dir, int64_t D, npy_array *w, npy_file **wf, int64_t *d_ff)
{
    for (int i = 0; i < NW; i++) {
        char path[4096], what[64];
        weight_path(dir, i, path, sizeof path, what, sizeof what);
        int rc = open_f32(what, path, 1, 2, &w[i], &wf[i]);
        if (rc != CLI_OK) return rc;
    }
    *d_ff = w[W_1].ndim == 2 ? w[W_1].shape[1] : 0;
    const int64_t F = *d_ff;
    const struct {
        int ndim;
        int64_t d0, d1;
    } want[NW] = {{1, D, 0}, {1, D, 0}, {2, D, 3 * D}, {1, 3 * D, 0}, {2, D, D}, {1, D, 0},
                  {1, D, 0}, {1, D, 0}, {2, D, F},     {1, F, 0},     {2, F, D}, {1, D, 0}};
    for (int i = 0; i < NW; i++) {
        const npy_array *a = &w[i];
        if (a->ndim == want[i].ndim && a->shape[0] == want[i].d0 &&
            (a->ndim == 1 || a->shape[1] == want[i].d1) && (i != W_1 || F >= 1))
            continue;
        char got[128];
        shape_text(a, got, sizeof got);
        if (want[i].ndim == 1)
            return cli_error(
                CMD, CLI_USAGE, "weight %s/%s.npy has shape %s, expected [%lld] (D = %lld from --x%s)", dir,
                wnames[i], got, (long long)want[i].d0, (long long)D, i == B_1 ? ", D_ff from w_1" : "");
        return cli_error(CMD, CLI_USAGE,
                         "weight %s/%s.npy has shape %s, expected [%lld, %lld] (D = %lld from --x%s)", dir,
                         wnames[i], got, (long long)want[i].d0, (long long)want[i].d1, (long long)D,
                         i == W_2 ? ", D_ff from w_1" : "");
    }
    return CLI_OK;
}

typedef struct block_opts {
    const char *xp, *wdir, *spec, *outp, *dev;
    int heads, block;
    double eps;
} block_opts;

/* -1 to go on, else the exit code. */
static int parse(int argc, char **argv, block_opts *o)
{
    const cli_opt opts[] = {CLI_STR("x", &o->xp),
                            CLI_STR("weights", &o->wdir),
                            CLI_INT("heads", &o->heads, 1, 1 << 20),
                            CLI_STR("pattern", &o->spec),
                            CLI_BLOCK("block", &o->block, false),
                            CLI_STR("out", &o->outp),
                            CLI_DOUBLE("eps", &o->eps, 1e-30, 1.0),
                            CLI_STR("device", &o->dev),
                            CLI_END};
    const cli_options p = {.cmd = CMD, .opts = opts, .usage = usage};
    int rc = cli_parse_options(&p, argc, argv);
    if (rc >= 0) return rc;
    if (!o->xp) return cli_error(CMD, CLI_USAGE, "--x is required (see --help)");
    if (!o->wdir) return cli_error(CMD, CLI_USAGE, "--weights is required (see --help)");
    if (!o->heads) return cli_error(CMD, CLI_USAGE, "--heads is required (see --help)");
    if (!o->spec) return cli_error(CMD, CLI_USAGE, "--pattern is required (see --help)");
    return -1;
}

int cmd_block(int argc, char **argv)
{
    block_opts o = {.block = CLI_BLOCK_DEFAULT};
    int prc = parse(argc, argv, &o);
    if (prc >= 0) return prc;
    const char *xp = o.xp, *wdir = o.wdir, *spec = o.spec, *outp = o.outp, *dev = o.dev;
    const int heads = o.heads, block = o.block;
    const double eps = o.eps;

    /* Headers first: x and every weight are checked against each other before any data is read. */
    npy_array x = {0}, w[NW];
    npy_file *xf = NULL, *wf[NW] = {NULL};
    memset(w, 0, sizeof w);
    int64_t d_ff = 0;
    int rc = open_f32("--x", xp, 2, 3, &x, &xf);
    int64_t B = 1, N = 0, D = 0;
    if (rc == CLI_OK) {
        B = x.ndim == 3 ? x.shape[0] : 1;
        N = x.shape[x.ndim - 2];
        D = x.shape[x.ndim - 1];
        if (B < 1 || N < 1 || D < 1 || B > (1 << 20) || D > (1 << 20))
            rc = cli_error(CMD, CLI_USAGE, "--x %s: shape must be [B, N, D] with B, N, D >= 1", xp);
    }
    if (rc == CLI_OK) rc = open_weights(wdir, D, w, wf, &d_ff);
    if (rc == CLI_OK && (D % heads != 0))
        rc = cli_error(CMD, CLI_USAGE, "D = %lld (from --x) is not a multiple of --heads %d", (long long)D,
                       heads);
    if (rc == CLI_OK && d_ff > (1 << 24))
        rc = cli_error(CMD, CLI_USAGE, "D_ff = %lld is too large", (long long)d_ff);
    if (rc == CLI_OK) rc = read_f32("--x", xp, &x, &xf);
    for (int i = 0; i < NW && rc == CLI_OK; i++) {
        char path[4096], what[64];
        weight_path(wdir, i, path, sizeof path, what, sizeof what);
        rc = read_f32(what, path, &w[i], &wf[i]);
    }

    scl_runtime *rt = NULL;
    scl_pattern *pat = NULL;
    scl_block *blk = NULL;
    float *y = NULL;
    if (rc == CLI_OK) rc = cli_runtime_create(CMD, dev, &rt);
    if (rc == CLI_OK && scl_pattern_create(rt, spec, &pat) != SCL_OK)
        rc = cli_error(CMD, CLI_USAGE, "%s", scl_last_error_message(rt));
    if (rc == CLI_OK) {
        scl_block_config cfg = {(int)B, N, (int)D, heads, (int)d_ff, block, (float)eps};
        scl_block_weights bw = {w[LN1_G].data, w[LN1_B].data, w[W_QKV].data, w[B_QKV].data,
                                w[W_O].data,   w[B_O].data,   w[LN2_G].data, w[LN2_B].data,
                                w[W_1].data,   w[B_1].data,   w[W_2].data,   w[B_2].data};
        scl_status st = scl_block_create(rt, pat, &cfg, &bw, &blk);
        if (st != SCL_OK)
            rc = cli_error(CMD,
                           st == SCL_ERR_INVALID_ARGUMENT || st == SCL_ERR_PATTERN ? CLI_USAGE : CLI_FAILED,
                           "%s", scl_last_error_message(rt));
    }
    double ms = 0;
    if (rc == CLI_OK) {
        y = malloc(scl_block_tensor_bytes(blk));
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!y)
            rc = cli_error(CMD, CLI_FAILED, "out of host memory (%zu bytes)", scl_block_tensor_bytes(blk));
        else if (scl_block_forward_host(blk, x.data, y) != SCL_OK)
            rc = cli_error(CMD, CLI_FAILED, "%s", scl_last_error_message(rt));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6;
    }
    char msg[512];
    if (rc == CLI_OK && outp && npy_write(outp, NPY_F32, x.ndim, x.shape, y, msg, sizeof msg) != 0)
        rc = cli_error(CMD, CLI_FAILED, "--out %s: %s", outp, msg);
    if (rc == CLI_OK) {
        scl_plan_stats ps;
        scl_plan_get_stats(scl_block_plan(blk), &ps);
        printf("block: B=%lld N=%lld D=%lld H=%d d=%lld D_ff=%lld, pattern '%s', block %d: attention density "
               "%.4f, "
               "%.1f ms (with transfers) on %s%s%s\n",
               (long long)B, (long long)N, (long long)D, heads, (long long)(D / heads), (long long)d_ff, spec,
               block, ps.density, ms, scl_runtime_device(rt)->name, outp ? "; wrote " : "", outp ? outp : "");
    }
    free(y);
    scl_block_destroy(blk);
    scl_pattern_destroy(pat);
    scl_runtime_destroy(rt);
    npy_close(xf);
    npy_free(&x);
    for (int i = 0; i < NW; i++) {
        npy_close(wf[i]);
        npy_free(&w[i]);
    }
    return rc;
}
