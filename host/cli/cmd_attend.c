/* `sparsecl attend`: block-sparse attention on .npy tensors. The options and file formats are a
 * contract that scripts rely on: keep them stable (README.md documents them). */
#include "cli.h"
#include "cli_options.h"
#include "scl_npy.h"
#include "sparsecl.h"

#include <cjson/cJSON.h>
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
    printf("usage: sparsecl attend --q Q.npy --k K.npy --v V.npy --pattern SPEC [--block B|auto]\n"
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
           "  --block  layout block size, a power of two 8..256 (default 64), or auto: the plan\n"
           "           chooses (a `sparsecl tune --pattern` entry of the device, else the rule of\n"
           "           the README); the block used and why are printed (--json: block, block_reason)\n"
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

typedef struct attend_opts {
    const char *q, *k, *v, *spec, *out, *lse, *dev, *dout, *dq, *dk, *dv;
    int block, json;
    bool bnhd;
    double scale;
} attend_opts;

/* The plan's block: --block, else the default; auto chooses for the passes that run. */
static int block_of(const attend_opts *o)
{
    if (o->block == SCL_BLOCK_AUTO && o->dout) return SCL_BLOCK_AUTO_BACKWARD;
    return o->block ? o->block : CLI_BLOCK_DEFAULT;
}

/* The options of CLI_ATTEND_OPTIONS (shared with the --distributed form) and --layout: the file
 * names, --pattern and --device as given, the others checked. -1 to go on, else the exit code. */
static int parse_other(void *ctx, int code, const char *value)
{
    attend_opts *o = ctx;
    const char **paths[] = {
        ['q'] = &o->q,   ['k'] = &o->k,    ['v'] = &o->v,  ['p'] = &o->spec, ['o'] = &o->out, ['l'] = &o->lse,
        ['d'] = &o->dev, ['G'] = &o->dout, ['Q'] = &o->dq, ['K'] = &o->dk,   ['V'] = &o->dv};
    if (code > 0 && code < (int)(sizeof paths / sizeof paths[0]) && paths[code]) {
        *paths[code] = value;
        return -1;
    }
    switch (code) {
    case 'b':
        return cli_parse_block(CMD, value, true, &o->block) ? -1 : CLI_USAGE;
    case 'L':
        if (strcmp(value, "bhnd") != 0 && strcmp(value, "bnhd") != 0)
            return cli_error(CMD, CLI_USAGE, "--layout expects bhnd or bnhd, got '%s'", value);
        o->bnhd = strcmp(value, "bnhd") == 0;
        return -1;
    case 's':
        /* The API reads scale 0 as 1/sqrt(d); the CLI never substitutes a value it was given. */
        if (!cli_parse_double(CMD, "--scale", value, -1e300, 1e30, &o->scale)) return CLI_USAGE;
        if (!((float)o->scale > 0.0f))
            return cli_error(CMD, CLI_USAGE,
                             "--scale must be a positive number, got '%s' (leave --scale out for the "
                             "default 1/sqrt(d))",
                             value);
        return -1;
    default:
        return CLI_USAGE; /* not reached: the table has no other code */
    }
}

/* Options into *o; -1 to go on, else the exit code. */
static int parse(int argc, char **argv, attend_opts *o)
{
    static const struct option shared[] = {CLI_ATTEND_OPTIONS{0}};
    const cli_opt opts[] = {CLI_OTHER("layout", 'L'), CLI_SET("json", &o->json, 1), CLI_END};
    const cli_options p = {
        .cmd = CMD, .opts = opts, .usage = usage, .extra = shared, .other = parse_other, .ctx = o};
    int rc = cli_parse_options(&p, argc, argv);
    if (rc >= 0) return rc;
    if (!o->spec) return cli_error(CMD, CLI_USAGE, "--pattern is required (see --help)");
    if ((o->dq || o->dk || o->dv) && !o->dout)
        return cli_error(CMD, CLI_USAGE, "--dq/--dk/--dv need --dout (the gradient of O)");
    return -1;
}

/* Every dimension of Q, K and V is at least 1: scl_shape reads seq_k = 0 as "same as N_q", so a
 * K/V file with no keys must never get there. hi: where H sits in the file's shape. */
static int check_nonempty(const input *const in[3], int hi)
{
    for (int t = 0; t < 3; t++)
        for (int d = 0; d < 4; d++)
            if (in[t]->a.shape[d] < 1)
                return cli_error(CMD, CLI_USAGE,
                                 "%s %s: dimension %d (%s) is 0: attention needs at least one %s (an empty "
                                 "tensor is refused)",
                                 in[t]->opt, in[t]->path, d,
                                 d == 0    ? "B"
                                 : d == 3  ? "d"
                                 : d == hi ? "H"
                                           : "N",
                                 d == 0    ? "batch entry"
                                 : d == 3  ? "element"
                                 : d == hi ? "head"
                                 : t       ? "key"
                                           : "query");
    return CLI_OK;
}

/* Q, K and V agree with each other (the headers only). */
static int check_shapes(const npy_array *q, const npy_array *k, const npy_array *v, int hi, bool bnhd)
{
    if (k->dtype != q->dtype || v->dtype != q->dtype)
        return cli_error(CMD, CLI_USAGE, "Q, K and V must have the same dtype (got %s, %s, %s)",
                         npy_dtype_name(q->dtype), npy_dtype_name(k->dtype), npy_dtype_name(v->dtype));
    if (memcmp(k->shape, v->shape, sizeof k->shape) != 0)
        return cli_error(
            CMD, CLI_USAGE, "K and V shapes differ: [%lld, %lld, %lld, %lld] vs [%lld, %lld, %lld, %lld]",
            (long long)k->shape[0], (long long)k->shape[1], (long long)k->shape[2], (long long)k->shape[3],
            (long long)v->shape[0], (long long)v->shape[1], (long long)v->shape[2], (long long)v->shape[3]);
    if (k->shape[0] != q->shape[0])
        return cli_error(CMD, CLI_USAGE, "batch of Q (%lld) and K (%lld) differ", (long long)q->shape[0],
                         (long long)k->shape[0]);
    if (k->shape[3] != q->shape[3])
        return cli_error(CMD, CLI_USAGE, "head dim of Q (%lld) and K (%lld) differ", (long long)q->shape[3],
                         (long long)k->shape[3]);
    if (k->shape[hi] < 1 || q->shape[hi] % k->shape[hi] != 0)
        return cli_error(CMD, CLI_USAGE, "Q heads (%lld) must be a multiple of K/V heads (%lld)%s",
                         (long long)q->shape[hi], (long long)k->shape[hi],
                         bnhd ? "" : " (for [B, N, H, d] files pass --layout bnhd)");
    if (q->shape[0] > 1 << 20 || q->shape[hi] > 1 << 20)
        return cli_error(CMD, CLI_USAGE, "batch or heads too large");
    if (q->shape[3] > 256) /* before the int conversion of the shape */
        return cli_error(CMD, CLI_USAGE, "head dim %lld is not supported (16, 32, 64, 80, 96, 128, 256)",
                         (long long)q->shape[3]);
    return CLI_OK;
}

/* One attend run: its inputs (headers, then data), the plan, the outputs. */
typedef struct attend_run {
    input q, k, v, dout;
    int hi, ni; /* where H and N sit in the files' shape */
    scl_dtype dt;
    scl_shape shape;
    scl_runtime *rt;
    scl_pattern *pat;
    scl_plan *plan;
    void *o, *dq, *dk, *dv;
    float *lse;
} attend_run;

/* Headers first: every shape is checked against the others and against the device before any data
 * is read (a 5 GiB Q used to be read whole before a heads mismatch was found). */
static int open_and_check(const attend_opts *o, attend_run *r)
{
    r->q = (input){"--q", o->q, {0}, NULL}, r->k = (input){"--k", o->k, {0}, NULL};
    r->v = (input){"--v", o->v, {0}, NULL}, r->dout = (input){"--dout", o->dout, {0}, NULL};
    r->hi = o->bnhd ? 2 : 1, r->ni = o->bnhd ? 1 : 2;
    int rc = open_input(&r->q);
    if (rc == CLI_OK) rc = open_input(&r->k);
    if (rc == CLI_OK) rc = open_input(&r->v);
    const input *const all[3] = {&r->q, &r->k, &r->v};
    if (rc == CLI_OK) rc = check_nonempty(all, r->hi);
    const npy_array *q = &r->q.a, *k = &r->k.a;
    if (rc == CLI_OK) rc = check_shapes(q, k, &r->v.a, r->hi, o->bnhd);
    if (rc == CLI_OK && o->dout) {
        rc = open_input(&r->dout);
        if (rc == CLI_OK &&
            (r->dout.a.dtype != q->dtype || memcmp(r->dout.a.shape, q->shape, sizeof q->shape) != 0))
            rc = cli_error(CMD, CLI_USAGE, "--dout must have Q's dtype and shape [%lld, %lld, %lld, %lld]",
                           (long long)q->shape[0], (long long)q->shape[1], (long long)q->shape[2],
                           (long long)q->shape[3]);
    }
    if (rc == CLI_OK) rc = cli_runtime_create(CMD, o->dev, &r->rt);
    if (rc == CLI_OK) rc = check_device_memory(scl_runtime_device(r->rt), &r->q, &r->k, o->dout != NULL);
    /* NumPy has no bfloat16: bf16 tensors travel as uint16 bit patterns (x.view(np.uint16)). */
    r->dt = q->dtype == NPY_F16 ? SCL_F16 : q->dtype == NPY_U16 ? SCL_BF16 : SCL_F32;
    r->shape =
        (scl_shape){(int)q->shape[0], (int)q->shape[r->hi], (int)k->shape[r->hi],
                    q->shape[r->ni],  k->shape[r->ni],      (int)q->shape[3],
                    block_of(o),      (float)o->scale,      o->bnhd ? SCL_LAYOUT_BNHD : SCL_LAYOUT_BHND};
    if (rc == CLI_OK && !o->bnhd && q->shape[1] > q->shape[2])
        fprintf(stderr,
                "sparsecl attend: note: Q has more heads (%lld) than queries (%lld); for [B, N, H, d] files "
                "pass --layout bnhd\n",
                (long long)q->shape[1], (long long)q->shape[2]);
    return rc;
}

/* The plan, the data (each file read once straight into its array), forward and backward. */
static int compute(const attend_opts *o, attend_run *r)
{
    int rc = CLI_OK;
    if (scl_pattern_create(r->rt, o->spec, &r->pat) != SCL_OK)
        return cli_error(CMD, CLI_USAGE, "%s", scl_last_error_message(r->rt));
    scl_status st = scl_plan_create(r->rt, r->pat, &r->shape, r->dt, &r->plan);
    if (st != SCL_OK)
        return cli_error(CMD,
                         st == SCL_ERR_INVALID_ARGUMENT || st == SCL_ERR_PATTERN ? CLI_USAGE : CLI_FAILED,
                         "%s", scl_last_error_message(r->rt));
    if (rc == CLI_OK) rc = read_input(&r->q);
    if (rc == CLI_OK) rc = read_input(&r->k);
    if (rc == CLI_OK) rc = read_input(&r->v);
    if (rc == CLI_OK && o->dout) rc = read_input(&r->dout);
    if (rc != CLI_OK) return rc;
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(r->plan, &sz);
    r->o = malloc(sz.o);
    r->lse = malloc(sz.lse);
    if (!r->o || !r->lse) return cli_error(CMD, CLI_FAILED, "out of host memory (%zu bytes)", sz.o + sz.lse);
    if (scl_plan_forward_host(r->plan, r->q.a.data, r->k.a.data, r->v.a.data, r->o, r->lse) != SCL_OK)
        return cli_error(CMD, CLI_FAILED, "%s", scl_last_error_message(r->rt));
    if (!o->dout) return CLI_OK;
    r->dq = malloc(sz.q), r->dk = malloc(sz.k), r->dv = malloc(sz.v);
    if (!r->dq || !r->dk || !r->dv) return cli_error(CMD, CLI_FAILED, "out of host memory for the gradients");
    if (scl_plan_backward_host(r->plan, r->q.a.data, r->k.a.data, r->v.a.data, r->o, r->lse, r->dout.a.data,
                               r->dq, r->dk, r->dv) != SCL_OK)
        return cli_error(CMD, CLI_FAILED, "%s", scl_last_error_message(r->rt));
    return CLI_OK;
}

static int write_outputs(const attend_opts *o, const attend_run *r)
{
    char msg[512];
    const npy_array *q = &r->q.a;
    const struct {
        const char *opt, *path;
        const npy_array *like;
        void *data;
    } grads[] = {{"--dq", o->dq, q, r->dq}, {"--dk", o->dk, &r->k.a, r->dk}, {"--dv", o->dv, &r->v.a, r->dv}};
    for (int g = 0; g < 3; g++)
        if (grads[g].path &&
            npy_write(grads[g].path, q->dtype, 4, grads[g].like->shape, grads[g].data, msg, sizeof msg) != 0)
            return cli_error(CMD, CLI_FAILED, "%s %s: %s", grads[g].opt, grads[g].path, msg);
    if (o->out && npy_write(o->out, q->dtype, 4, q->shape, r->o, msg, sizeof msg) != 0)
        return cli_error(CMD, CLI_FAILED, "--out %s: %s", o->out, msg);
    int64_t lshape[3] = {q->shape[0], q->shape[r->hi], q->shape[r->ni]};
    if (o->lse && npy_write(o->lse, NPY_F32, 3, lshape, r->lse, msg, sizeof msg) != 0)
        return cli_error(CMD, CLI_FAILED, "--lse %s: %s", o->lse, msg);
    return CLI_OK;
}

static void print_json(const attend_opts *o, const attend_run *r, const scl_plan_stats *ps)
{
    const scl_shape *s = &r->shape;
    const char *files[5] = {o->out, o->lse, o->dq, o->dk, o->dv};
    cJSON *j = cJSON_CreateObject(), *wrote = cJSON_CreateArray();
    cJSON_AddNumberToObject(j, "batch", (double)s->batch);
    cJSON_AddNumberToObject(j, "heads", s->heads);
    cJSON_AddNumberToObject(j, "kv_heads", s->kv_heads);
    cJSON_AddNumberToObject(j, "n_q", (double)s->seq_q);
    cJSON_AddNumberToObject(j, "n_k", (double)s->seq_k);
    cJSON_AddNumberToObject(j, "head_dim", s->head_dim);
    cJSON_AddStringToObject(j, "dtype", dtype_words(r->dt));
    cJSON_AddStringToObject(j, "layout", o->bnhd ? "bnhd" : "bhnd");
    cJSON_AddStringToObject(j, "pattern", o->spec);
    cJSON_AddNumberToObject(j, "block", scl_plan_block(r->plan));
    cJSON_AddStringToObject(j, "block_reason", scl_plan_block_reason(r->plan));
    cJSON_AddNumberToObject(j, "density", ps->density);
    cJSON_AddNumberToObject(j, "block_density", ps->block_density);
    cJSON_AddNumberToObject(j, "components", ps->components);
    cJSON_AddStringToObject(j, "device", scl_runtime_device(r->rt)->name);
    cJSON_AddBoolToObject(j, "backward", o->dout != NULL);
    for (int f = 0; f < 5; f++)
        if (files[f]) cJSON_AddItemToArray(wrote, cJSON_CreateString(files[f]));
    cJSON_AddItemToObject(j, "wrote", wrote);
    char *text = cJSON_Print(j);
    if (text) puts(text);
    free(text);
    cJSON_Delete(j);
}

static void print_text(const attend_opts *o, const attend_run *r, const scl_plan_stats *ps)
{
    const scl_shape *s = &r->shape;
    const char *fwd_files[2] = {o->out, o->lse}, *bwd_files[3] = {o->dq, o->dk, o->dv};
    printf("attend: B=%d H=%d H_kv=%d N_q=%lld N_k=%lld d=%d %s%s, pattern '%s', block %d: density "
           "%.4f, "
           "block density %.4f on %s",
           s->batch, s->heads, s->kv_heads, (long long)s->seq_q, (long long)s->seq_k, s->head_dim,
           dtype_words(r->dt), o->bnhd ? " [B, N, H, d]" : "", o->spec, scl_plan_block(r->plan), ps->density,
           ps->block_density, scl_runtime_device(r->rt)->name);
    for (int f = 0, n = 0; f < 2; f++)
        if (fwd_files[f]) printf("%s%s", n++ ? ", " : "; wrote ", fwd_files[f]);
    printf("\n");
    if (o->block == SCL_BLOCK_AUTO)
        printf("attend: block %d (auto): %s\n", scl_plan_block(r->plan), scl_plan_block_reason(r->plan));
    if (o->dout) {
        printf("attend: backward done");
        for (int f = 0, n = 0; f < 3; f++)
            if (bwd_files[f]) printf("%s%s", n++ ? ", " : "; gradients written: ", bwd_files[f]);
        printf("\n");
    }
}

static void release(attend_run *r)
{
    free(r->dq), free(r->dk), free(r->dv), free(r->o), free(r->lse);
    scl_plan_destroy(r->plan);
    scl_pattern_destroy(r->pat);
    scl_runtime_destroy(r->rt);
    close_input(&r->q);
    close_input(&r->k);
    close_input(&r->v);
    close_input(&r->dout);
}

int cmd_attend(int argc, char **argv)
{
#ifdef SCL_HAVE_MPI
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--distributed") == 0) return scl_mpi_cli_attend(argc, argv);
#endif
    attend_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    attend_run r = {0};
    rc = open_and_check(&o, &r);
    if (rc == CLI_OK) rc = compute(&o, &r);
    if (rc == CLI_OK) rc = write_outputs(&o, &r);
    if (rc == CLI_OK) {
        scl_plan_stats ps;
        scl_plan_get_stats(r.plan, &ps);
        if (!o.out && !o.lse && !o.dq && !o.dk && !o.dv)
            fprintf(stderr,
                    "sparsecl attend: warning: no --out, --lse, --dq, --dk or --dv given: nothing was "
                    "written\n");
        if (o.json)
            print_json(&o, &r, &ps);
        else
            print_text(&o, &r, &ps);
    }
    release(&r);
    return rc;
}
