/* `sparsecl attend`: block-sparse attention on .npy tensors. The options and file formats are a
 * contract that scripts rely on: keep them stable (README.md documents them). */
#include "cli.h"
#include "scl_npy.h"
#include "sparsecl.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dtype_words(scl_dtype t)
{
    return t == SCL_F16 ? "float16" : t == SCL_BF16 ? "bfloat16 (uint16 bits)" : "float32";
}

static const char *CMD = "attend";

static void usage(void)
{
    printf("usage: sparsecl attend --q Q.npy --k K.npy --v V.npy --pattern SPEC --block B\n"
           "                       [--scale S] [--out O.npy] [--lse LSE.npy] [--device D]\n"
           "                       [--layout bhnd|bnhd] [--json]\n"
           "                       [--dout dO.npy [--dq dQ.npy] [--dk dK.npy] [--dv dV.npy]]\n\n"
           "Runs fused block-sparse attention O = softmax(scale * Q K^T masked by SPEC) V.\n"
           "With --dout (the gradient of O, like Q) it then runs the backward pass, recomputing\n"
           "the attention weights from the saved log-sum-exp, and writes dQ (like Q) and dK, dV\n"
           "(like K, V; summed over the query heads that share a key/value head).\n"
           "  Q        [B, H, N_q, d]    float32, float16, or uint16 holding bfloat16 bit patterns\n"
           "  K, V     [B, H_kv, N_k, d] same dtype as Q; H must be a multiple of H_kv\n"
           "  --out    O [B, H, N_q, d] in Q's dtype\n"
           "  --lse    log-sum-exp [B, H, N_q] float32 (-inf for rows with no allowed key)\n"
           "  --scale  softmax scale, a positive number (default 1/sqrt(d))\n"
           "  --block  layout block size, a power of two 8..256\n"
           "  --layout bhnd (default): tensors are [B, H, N, d]; bnhd: [B, N, H, d] (Q, K, V, O,\n"
           "           dO and the gradients alike; LSE stays [B, H, N_q])\n"
           "  --json   print the run (shapes, pattern, density, device, files written) as JSON\n"
           "d must be one of 16, 32, 64, 80, 96, 128, 256. See `sparsecl pattern --help` for SPEC.\n");
}

/* An input file: its header is read and checked first (npy_open), its data only once every shape
 * has been checked against the others and against the device (npy_read_data). */
typedef struct input {
    const char *opt, *path;
    npy_array a;
    npy_file *f;
} input;

static int open_input(input *in)
{
    char msg[512];
    if (!in->path) return cli_error(CMD, CLI_USAGE, "%s is required (see --help)", in->opt);
    if (npy_open(in->path, &in->a, &in->f, msg, sizeof msg) != 0)
        return cli_error(CMD, CLI_USAGE, "%s %s: %s", in->opt, in->path, msg);
    if (in->a.dtype != NPY_F32 && in->a.dtype != NPY_F16 && in->a.dtype != NPY_U16)
        return cli_error(CMD, CLI_USAGE,
                         "%s %s: dtype %s is not float32, float16 or uint16 (bfloat16 bit patterns)", in->opt,
                         in->path, npy_dtype_name(in->a.dtype));
    if (in->a.ndim != 4)
        return cli_error(CMD, CLI_USAGE, "%s %s: expected 4 dimensions [B, H, N, d], got %d", in->opt,
                         in->path, in->a.ndim);
    return CLI_OK;
}

static int read_input(input *in)
{
    char msg[512];
    int rc = npy_read_data(in->f, &in->a, msg, sizeof msg);
    npy_close(in->f);
    in->f = NULL;
    return rc == 0 ? CLI_OK : cli_error(CMD, CLI_USAGE, "%s %s: %s", in->opt, in->path, msg);
}

static void close_input(input *in)
{
    npy_close(in->f);
    npy_free(&in->a);
}

static void human(char *out, size_t n, double b)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int k = 0;
    for (; b >= 1024 && k < 6; k++)
        b /= 1024;
    snprintf(out, n, "%.4g %s", b, u[k]);
}

/* Every tensor must fit one device buffer and all of them the device's global memory, before a
 * byte of data is read. */
static int check_device_memory(const scl_device_info *dev, const input *q, const input *k, bool backward)
{
    const double es = (double)q->a.itemsize, qb = (double)q->a.count * es, kb = (double)k->a.count * es,
                 lb = (double)q->a.shape[0] * (double)q->a.shape[1] * (double)q->a.shape[2] * 4;
    const struct {
        const char *what;
        double bytes;
    } t[] = {{"Q", qb},  {"K", kb},  {"V", kb},  {"O", qb}, {"LSE", lb},
             {"dO", qb}, {"dQ", qb}, {"dK", kb}, {"dV", kb}};
    double total = 0, max_alloc = (double)dev->max_alloc_bytes, global = (double)dev->global_mem_bytes;
    char a[32], b[32];
    for (size_t i = 0; i < (backward ? 9 : 5); i++) {
        total += t[i].bytes;
        if (max_alloc > 0 && t[i].bytes > max_alloc) {
            human(a, sizeof a, t[i].bytes), human(b, sizeof b, max_alloc);
            return cli_error(CMD, CLI_USAGE, "%s would take %s, more than the largest buffer of %s (%s)",
                             t[i].what, a, dev->name, b);
        }
    }
    if (global > 0 && total > global) {
        human(a, sizeof a, total), human(b, sizeof b, global);
        return cli_error(CMD, CLI_USAGE,
                         "the tensors of this %s pass take %s, more than the global memory of %s (%s)",
                         backward ? "forward and backward" : "forward", a, dev->name, b);
    }
    return CLI_OK;
}

#ifdef SCL_HAVE_MPI
int scl_mpi_cli_attend(int argc, char **argv); /* distributed/: `attend --distributed` over MPI */
#endif

int cmd_attend(int argc, char **argv)
{
#ifdef SCL_HAVE_MPI
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--distributed") == 0) return scl_mpi_cli_attend(argc, argv);
#endif
    static const struct option opts[] = {{"q", required_argument, NULL, 'q'},
                                         {"k", required_argument, NULL, 'k'},
                                         {"v", required_argument, NULL, 'v'},
                                         {"pattern", required_argument, NULL, 'p'},
                                         {"block", required_argument, NULL, 'b'},
                                         {"scale", required_argument, NULL, 's'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"lse", required_argument, NULL, 'l'},
                                         {"device", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"dout", required_argument, NULL, 'G'},
                                         {"dq", required_argument, NULL, 'Q'},
                                         {"dk", required_argument, NULL, 'K'},
                                         {"dv", required_argument, NULL, 'V'},
                                         {"layout", required_argument, NULL, 'L'},
                                         {"json", no_argument, NULL, 'j'},
                                         {0}};
    const char *qp = NULL, *kp = NULL, *vp = NULL, *spec = NULL, *outp = NULL, *lsep = NULL, *dev = NULL;
    const char *doutp = NULL, *dqp = NULL, *dkp = NULL, *dvp = NULL;
    int block = 0, c, json = 0;
    bool bnhd = false;
    double scale = 0;
    opterr = 0;
    optind = 1;
    for (int before = optind; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1; before = optind) {
        switch (c) {
        case 'q':
            qp = optarg;
            break;
        case 'k':
            kp = optarg;
            break;
        case 'v':
            vp = optarg;
            break;
        case 'p':
            spec = optarg;
            break;
        case 'o':
            outp = optarg;
            break;
        case 'l':
            lsep = optarg;
            break;
        case 'd':
            dev = optarg;
            break;
        case 'G':
            doutp = optarg;
            break;
        case 'Q':
            dqp = optarg;
            break;
        case 'K':
            dkp = optarg;
            break;
        case 'V':
            dvp = optarg;
            break;
        case 'b':
            if (!cli_parse_int(CMD, "--block", optarg, 8, 256, &block)) return CLI_USAGE;
            break;
        case 'L':
            if (strcmp(optarg, "bhnd") != 0 && strcmp(optarg, "bnhd") != 0)
                return cli_error(CMD, CLI_USAGE, "--layout expects bhnd or bnhd, got '%s'", optarg);
            bnhd = strcmp(optarg, "bnhd") == 0;
            break;
        case 'j':
            json = 1;
            break;
        case 's':
            /* The API reads scale 0 as 1/sqrt(d); the CLI never substitutes a value it was given. */
            if (!cli_parse_double(CMD, "--scale", optarg, -1e300, 1e30, &scale)) return CLI_USAGE;
            if (!((float)scale > 0.0f))
                return cli_error(CMD, CLI_USAGE,
                                 "--scale must be a positive number, got '%s' (leave --scale out for the "
                                 "default 1/sqrt(d))",
                                 optarg);
            break;
        case 'h':
            usage();
            return CLI_OK;
        default:
            return cli_refused(CMD, argv, before);
        }
    }
    if (optind < argc) return cli_error(CMD, CLI_USAGE, "unexpected argument '%s'", argv[optind]);
    if (!spec) return cli_error(CMD, CLI_USAGE, "--pattern is required (see --help)");
    if (!block) return cli_error(CMD, CLI_USAGE, "--block is required (see --help)");
    if ((dqp || dkp || dvp) && !doutp)
        return cli_error(CMD, CLI_USAGE, "--dq/--dk/--dv need --dout (the gradient of O)");

    /* Headers first: every shape is checked against the others and against the device before any
     * data is read (a 5 GiB Q used to be read whole before a heads mismatch was found). */
    input in_q = {"--q", qp, {0}, NULL}, in_k = {"--k", kp, {0}, NULL}, in_v = {"--v", vp, {0}, NULL},
          in_dout = {"--dout", doutp, {0}, NULL};
    npy_array q = {0}, k = {0}, v = {0}; /* the headers (copies; the data stays with the inputs) */
    int rc = open_input(&in_q);
    if (rc == CLI_OK) rc = open_input(&in_k);
    if (rc == CLI_OK) rc = open_input(&in_v);
    q = in_q.a, k = in_k.a, v = in_v.a;
    const int HI = bnhd ? 2 : 1, NI = bnhd ? 1 : 2; /* where H and N sit in the file's shape */
    if (rc == CLI_OK) {
        /* scl_shape reads seq_k = 0 as "same as N_q": a K/V file with no keys must never get there. */
        const struct {
            const char *opt, *path;
            const npy_array *a;
        } in[] = {{"--q", qp, &q}, {"--k", kp, &k}, {"--v", vp, &v}};
        for (int t = 0; t < 3 && rc == CLI_OK; t++)
            for (int d = 0; d < 4 && rc == CLI_OK; d++)
                if (in[t].a->shape[d] < 1)
                    rc = cli_error(CMD, CLI_USAGE,
                                   "%s %s: dimension %d (%s) is 0: attention needs at least one %s (an empty "
                                   "tensor is refused)",
                                   in[t].opt, in[t].path, d,
                                   d == 0    ? "B"
                                   : d == 3  ? "d"
                                   : d == HI ? "H"
                                             : "N",
                                   d == 0    ? "batch entry"
                                   : d == 3  ? "element"
                                   : d == HI ? "head"
                                   : t       ? "key"
                                             : "query");
    }
    if (rc == CLI_OK) {
        if (k.dtype != q.dtype || v.dtype != q.dtype)
            rc = cli_error(CMD, CLI_USAGE, "Q, K and V must have the same dtype (got %s, %s, %s)",
                           npy_dtype_name(q.dtype), npy_dtype_name(k.dtype), npy_dtype_name(v.dtype));
        else if (memcmp(k.shape, v.shape, sizeof k.shape) != 0)
            rc = cli_error(
                CMD, CLI_USAGE, "K and V shapes differ: [%lld, %lld, %lld, %lld] vs [%lld, %lld, %lld, %lld]",
                (long long)k.shape[0], (long long)k.shape[1], (long long)k.shape[2], (long long)k.shape[3],
                (long long)v.shape[0], (long long)v.shape[1], (long long)v.shape[2], (long long)v.shape[3]);
        else if (k.shape[0] != q.shape[0])
            rc = cli_error(CMD, CLI_USAGE, "batch of Q (%lld) and K (%lld) differ", (long long)q.shape[0],
                           (long long)k.shape[0]);
        else if (k.shape[3] != q.shape[3])
            rc = cli_error(CMD, CLI_USAGE, "head dim of Q (%lld) and K (%lld) differ", (long long)q.shape[3],
                           (long long)k.shape[3]);
        else if (k.shape[HI] < 1 || q.shape[HI] % k.shape[HI] != 0)
            rc = cli_error(CMD, CLI_USAGE, "Q heads (%lld) must be a multiple of K/V heads (%lld)%s",
                           (long long)q.shape[HI], (long long)k.shape[HI],
                           bnhd ? "" : " (for [B, N, H, d] files pass --layout bnhd)");
        else if (q.shape[0] > 1 << 20 || q.shape[HI] > 1 << 20)
            rc = cli_error(CMD, CLI_USAGE, "batch or heads too large");
        else if (q.shape[3] > 256) /* before the int conversion below */
            rc = cli_error(CMD, CLI_USAGE, "head dim %lld is not supported (16, 32, 64, 80, 96, 128, 256)",
                           (long long)q.shape[3]);
    }
    npy_array dout = {0};
    if (rc == CLI_OK && doutp) {
        rc = open_input(&in_dout);
        dout = in_dout.a;
        if (rc == CLI_OK && (dout.dtype != q.dtype || memcmp(dout.shape, q.shape, sizeof q.shape) != 0))
            rc = cli_error(CMD, CLI_USAGE, "--dout must have Q's dtype and shape [%lld, %lld, %lld, %lld]",
                           (long long)q.shape[0], (long long)q.shape[1], (long long)q.shape[2],
                           (long long)q.shape[3]);
    }
    scl_runtime *rt = NULL;
    scl_pattern *pat = NULL;
    scl_plan *plan = NULL;
    void *o = NULL;
    float *lse = NULL;
    if (rc == CLI_OK) rc = cli_runtime_create(CMD, dev, &rt);
    if (rc == CLI_OK) rc = check_device_memory(scl_runtime_device(rt), &in_q, &in_k, doutp != NULL);
    /* NumPy has no bfloat16: bf16 tensors travel as uint16 bit patterns (x.view(np.uint16)). */
    scl_dtype dt = q.dtype == NPY_F16 ? SCL_F16 : q.dtype == NPY_U16 ? SCL_BF16 : SCL_F32;
    scl_shape shape = {(int)q.shape[0], (int)q.shape[HI], (int)k.shape[HI],
                       q.shape[NI],     k.shape[NI],      (int)q.shape[3],
                       block,           (float)scale,     bnhd ? SCL_LAYOUT_BNHD : SCL_LAYOUT_BHND};
    if (rc == CLI_OK && !bnhd && q.shape[1] > q.shape[2])
        fprintf(stderr,
                "sparsecl attend: note: Q has more heads (%lld) than queries (%lld); for [B, N, H, d] files "
                "pass --layout bnhd\n",
                (long long)q.shape[1], (long long)q.shape[2]);
    if (rc == CLI_OK && scl_pattern_create(rt, spec, &pat) != SCL_OK)
        rc = cli_error(CMD, CLI_USAGE, "%s", scl_last_error_message(rt));
    if (rc == CLI_OK) {
        scl_status st = scl_plan_create(rt, pat, &shape, dt, &plan);
        if (st != SCL_OK)
            rc = cli_error(CMD,
                           st == SCL_ERR_INVALID_ARGUMENT || st == SCL_ERR_PATTERN ? CLI_USAGE : CLI_FAILED,
                           "%s", scl_last_error_message(rt));
    }
    /* Everything is checked: now the data, each file read once straight into its array. */
    if (rc == CLI_OK) rc = read_input(&in_q);
    if (rc == CLI_OK) rc = read_input(&in_k);
    if (rc == CLI_OK) rc = read_input(&in_v);
    if (rc == CLI_OK && doutp) rc = read_input(&in_dout);
    q = in_q.a, k = in_k.a, v = in_v.a, dout = in_dout.a;
    if (rc == CLI_OK) {
        scl_plan_sizes sz;
        scl_plan_tensor_sizes(plan, &sz);
        o = malloc(sz.o);
        lse = malloc(sz.lse);
        if (!o || !lse)
            rc = cli_error(CMD, CLI_FAILED, "out of host memory (%zu bytes)", sz.o + sz.lse);
        else if (scl_plan_forward_host(plan, q.data, k.data, v.data, o, lse) != SCL_OK)
            rc = cli_error(CMD, CLI_FAILED, "%s", scl_last_error_message(rt));
    }
    void *dq = NULL, *dk = NULL, *dv = NULL;
    if (rc == CLI_OK && doutp) {
        scl_plan_sizes sz;
        scl_plan_tensor_sizes(plan, &sz);
        dq = malloc(sz.q), dk = malloc(sz.k), dv = malloc(sz.v);
        if (!dq || !dk || !dv)
            rc = cli_error(CMD, CLI_FAILED, "out of host memory for the gradients");
        else if (scl_plan_backward_host(plan, q.data, k.data, v.data, o, lse, dout.data, dq, dk, dv) !=
                 SCL_OK)
            rc = cli_error(CMD, CLI_FAILED, "%s", scl_last_error_message(rt));
    }
    char msg[512];
    const struct {
        const char *opt, *path;
        const npy_array *like;
        void *data;
    } grads[] = {{"--dq", dqp, &q, dq}, {"--dk", dkp, &k, dk}, {"--dv", dvp, &v, dv}};
    for (int g = 0; g < 3 && rc == CLI_OK; g++)
        if (grads[g].path &&
            npy_write(grads[g].path, q.dtype, 4, grads[g].like->shape, grads[g].data, msg, sizeof msg) != 0)
            rc = cli_error(CMD, CLI_FAILED, "%s %s: %s", grads[g].opt, grads[g].path, msg);
    if (rc == CLI_OK && outp && npy_write(outp, q.dtype, 4, q.shape, o, msg, sizeof msg) != 0)
        rc = cli_error(CMD, CLI_FAILED, "--out %s: %s", outp, msg);
    int64_t lshape[3] = {q.shape[0], q.shape[HI], q.shape[NI]};
    if (rc == CLI_OK && lsep && npy_write(lsep, NPY_F32, 3, lshape, lse, msg, sizeof msg) != 0)
        rc = cli_error(CMD, CLI_FAILED, "--lse %s: %s", lsep, msg);
    if (rc == CLI_OK) {
        scl_plan_stats ps;
        scl_plan_get_stats(plan, &ps);
        const char *fwd_files[2] = {outp, lsep}, *bwd_files[3] = {dqp, dkp, dvp};
        if (!outp && !lsep && !dqp && !dkp && !dvp)
            fprintf(stderr,
                    "sparsecl attend: warning: no --out, --lse, --dq, --dk or --dv given: nothing was "
                    "written\n");
        if (json) {
            cJSON *o_ = cJSON_CreateObject(), *wrote = cJSON_CreateArray();
            cJSON_AddNumberToObject(o_, "batch", (double)shape.batch);
            cJSON_AddNumberToObject(o_, "heads", shape.heads);
            cJSON_AddNumberToObject(o_, "kv_heads", shape.kv_heads);
            cJSON_AddNumberToObject(o_, "n_q", (double)shape.seq_q);
            cJSON_AddNumberToObject(o_, "n_k", (double)shape.seq_k);
            cJSON_AddNumberToObject(o_, "head_dim", shape.head_dim);
            cJSON_AddStringToObject(o_, "dtype", dtype_words(dt));
            cJSON_AddStringToObject(o_, "layout", bnhd ? "bnhd" : "bhnd");
            cJSON_AddStringToObject(o_, "pattern", spec);
            cJSON_AddNumberToObject(o_, "block", block);
            cJSON_AddNumberToObject(o_, "density", ps.density);
            cJSON_AddNumberToObject(o_, "block_density", ps.block_density);
            cJSON_AddNumberToObject(o_, "components", ps.components);
            cJSON_AddStringToObject(o_, "device", scl_runtime_device(rt)->name);
            cJSON_AddBoolToObject(o_, "backward", doutp != NULL);
            for (int f = 0; f < 5; f++) {
                const char *p = f < 2 ? fwd_files[f] : bwd_files[f - 2];
                if (p) cJSON_AddItemToArray(wrote, cJSON_CreateString(p));
            }
            cJSON_AddItemToObject(o_, "wrote", wrote);
            char *text = cJSON_Print(o_);
            if (text) puts(text);
            free(text);
            cJSON_Delete(o_);
        } else {
            printf("attend: B=%d H=%d H_kv=%d N_q=%lld N_k=%lld d=%d %s%s, pattern '%s', block %d: density "
                   "%.4f, "
                   "block density %.4f on %s",
                   shape.batch, shape.heads, shape.kv_heads, (long long)shape.seq_q, (long long)shape.seq_k,
                   shape.head_dim, dtype_words(dt), bnhd ? " [B, N, H, d]" : "", spec,
                   block, ps.density, ps.block_density, scl_runtime_device(rt)->name);
            for (int f = 0, n = 0; f < 2; f++)
                if (fwd_files[f]) printf("%s%s", n++ ? ", " : "; wrote ", fwd_files[f]);
            printf("\n");
            if (doutp) {
                printf("attend: backward done");
                for (int f = 0, n = 0; f < 3; f++)
                    if (bwd_files[f]) printf("%s%s", n++ ? ", " : "; gradients written: ", bwd_files[f]);
                printf("\n");
            }
        }
    }
    free(dq), free(dk), free(dv);
    free(o);
    free(lse);
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
    scl_runtime_destroy(rt);
    close_input(&in_q);
    close_input(&in_k);
    close_input(&in_v);
    close_input(&in_dout);
    return rc;
}
