/* `sparsecl attend --distributed`: the attend file contract over MPI ranks. Rank 0 reads the whole
 * .npy files, scatters each rank its shard of the sequence, every rank runs its part of the
 * distributed plan on its own device, and rank 0 gathers and writes the whole outputs, so the
 * files are exactly those of the single-device `sparsecl attend`. */
#include "../host/cli/cli.h"
#include "cli_distributed.h"
#include "scl_npy.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "attend";

static void usage(void)
{
    printf("usage: mpirun -np P sparsecl attend --distributed --q Q.npy --k K.npy --v V.npy --pattern SPEC\n"
           "                       [--block B] [--exchange auto|heads|kv] [--scale S] [--out O.npy] [--lse "
           "L.npy]\n"
           "                       [--device D] [--dout dO.npy [--dq dQ.npy] [--dk dK.npy] [--dv dV.npy]]\n\n"
           "The files and their shapes are those of `sparsecl attend` (N_q = N_k): rank 0 reads them whole,\n"
           "scatters every rank its contiguous shard of the sequence (whole blocks), and gathers and writes\n"
           "the outputs. Each rank runs on --device, else SPARSECL_DEVICE, else its local rank's GPU, else\n"
           "the default device. --exchange: heads = head all-to-all, kv = pattern-aware K/V exchange\n"
           "(only the needed key blocks move), auto = the cost model's choice (bytes and work).\n"
           "--block defaults to 64, as in every command (--block auto is for the single-device form).\n");
}

enum { F_Q, F_K, F_V, F_DOUT, F_IN, F_O = F_IN, F_LSE, F_DQ, F_DK, F_DV, F_ALL };

typedef struct job {
    const char *path[F_ALL], *spec, *dev;
    int block, exchange;
    double scale;
    int64_t dims[F_ALL][4];
    int dtype;
} job;

static int parse(int argc, char **argv, job *j, int rank)
{
    static const struct option opts[] = {CLI_ATTEND_OPTIONS{"exchange", required_argument, NULL, 'x'},
                                         {"distributed", no_argument, NULL, 'D'},
                                         {0}};
    static const char keys[] = "qkvGolQKV";
    static const int slot[] = {F_Q, F_K, F_V, F_DOUT, F_O, F_LSE, F_DQ, F_DK, F_DV};
    int c;
    opterr = 0;
    optind = 1;
    for (int before = optind; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1; before = optind) {
        const char *k = c ? strchr(keys, c) : NULL;
        if (k)
            j->path[slot[k - keys]] = optarg;
        else if (c == 'p')
            j->spec = optarg;
        else if (c == 'd')
            j->dev = optarg;
        else if (c == 'b') {
            if (!cli_parse_block(CMD, optarg, false, &j->block)) return CLI_USAGE;
        } else if (c == 's') {
            if (!cli_parse_double(CMD, "--scale", optarg, 0, 1e30, &j->scale)) return CLI_USAGE;
        } else if (c == 'x') {
            if ((j->exchange = cli_mpi_exchange(optarg)) < 0)
                return cli_error(CMD, CLI_USAGE, "--exchange %s: expected auto, heads or kv", optarg);
        } else if (c == 'h') {
            if (rank == 0) usage();
            return -1;
        } else if (c != 'D') {
            return rank == 0 ? cli_refused(CMD, argv, before) : CLI_USAGE;
        }
    }
    if (optind < argc) return cli_error(CMD, CLI_USAGE, "unexpected argument '%s'", argv[optind]);
    if (!j->spec) return cli_error(CMD, CLI_USAGE, "--pattern is required (see --help)");
    if (!j->block) j->block = CLI_BLOCK_DEFAULT; /* the same default as every command */
    return CLI_OK;
}

/* Rank 0: read and check the inputs. Returns an exit code with msg filled. */
static int load(job *j, npy_array *a, char *msg, size_t len)
{
    static const char *opt[F_IN] = {"--q", "--k", "--v", "--dout"};
    for (int f = 0; f < F_IN; f++) {
        if (!j->path[f] && f == F_DOUT) continue;
        if (!j->path[f]) return snprintf(msg, len, "%s is required (see --help)", opt[f]), CLI_USAGE;
        char m[512];
        if (npy_read(j->path[f], &a[f], m, sizeof m) != 0)
            return snprintf(msg, len, "%s %s: %s", opt[f], j->path[f], m), CLI_USAGE;
        if (a[f].ndim != 4 || (a[f].dtype != NPY_F32 && a[f].dtype != NPY_F16))
            return snprintf(msg, len, "%s %s: expected a float32 or float16 [B, H, N, d] array", opt[f],
                            j->path[f]),
                   CLI_USAGE;
        memcpy(j->dims[f], a[f].shape, sizeof j->dims[f]);
        if (a[f].dtype != a[F_Q].dtype)
            return snprintf(msg, len, "%s: dtype differs from Q's", opt[f]), CLI_USAGE;
    }
    const int64_t *q = j->dims[F_Q], *k = j->dims[F_K], *v = j->dims[F_V], *g = j->dims[F_DOUT];
    if (memcmp(k, v, sizeof j->dims[0]) || k[0] != q[0] || k[2] != q[2] || k[3] != q[3] || k[1] < 1 ||
        q[1] % k[1])
        return snprintf(
                   msg, len,
                   "K and V must be [B, H_kv, N, d] with Q's B, N (N_q = N_k here) and d, H %% H_kv = 0"),
               CLI_USAGE;
    if (j->path[F_DOUT] && memcmp(g, q, sizeof j->dims[0]))
        return snprintf(msg, len, "--dout must have Q's shape"), CLI_USAGE;
    if (q[0] > 65536 || q[1] > 65536 || q[2] > ((int64_t)1 << 31) - 1)
        return snprintf(msg, len, "shape too large"), CLI_USAGE;
    j->dtype = a[F_Q].dtype == NPY_F16 ? SCL_F16 : SCL_F32;
    return CLI_OK;
}

/* Rows [a, a + n) of every (batch, head) slice between a whole [BH][N] array and a shard. */
static void rows(char *full, char *shard, int64_t bh, int64_t N, int64_t a, int64_t n, size_t row,
                 int to_shard)
{
    for (int64_t i = 0; i < bh; i++) {
        char *f = full + (size_t)(i * N + a) * row, *s = shard + (size_t)(i * n) * row;
        memcpy(to_shard ? s : f, to_shard ? f : s, (size_t)n * row);
    }
}

/* Whole tensor on rank 0 <-> shards: scatter (to_ranks) or gather, through one packed buffer. */
static void move(const scl_mpi_plan *plan, char *full, char *shard, int64_t bh, int64_t N, size_t row,
                 int to_ranks)
{
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    int *cnt = calloc((size_t)P * 2, sizeof *cnt), *dis = cnt + P;
    char *pack = rank == 0 ? malloc((size_t)(bh * N) * row + 1) : NULL;
    MPI_Datatype t;
    MPI_Type_contiguous((int)row, MPI_BYTE, &t);
    MPI_Type_commit(&t);
    for (int r = 0, o = 0; r < P; r++) {
        int64_t a, n;
        scl_mpi_plan_shard(plan, r, &a, &n);
        cnt[r] = (int)(bh * n), dis[r] = o, o += cnt[r];
        if (rank == 0 && to_ranks) rows(full, pack + (size_t)dis[r] * row, bh, N, a, n, row, 1);
    }
    if (to_ranks)
        MPI_Scatterv(pack, cnt, dis, t, shard, cnt[rank], t, 0, MPI_COMM_WORLD);
    else
        MPI_Gatherv(shard, cnt[rank], t, pack, cnt, dis, t, 0, MPI_COMM_WORLD);
    for (int r = 0; rank == 0 && !to_ranks && r < P; r++) {
        int64_t a, n;
        scl_mpi_plan_shard(plan, r, &a, &n);
        rows(full, pack + (size_t)dis[r] * row, bh, N, a, n, row, 0);
    }
    MPI_Type_free(&t);
    free(pack);
    free(cnt);
}

static int status_code(scl_status s)
{
    return s == SCL_ERR_INVALID_ARGUMENT || s == SCL_ERR_PATTERN || s == SCL_ERR_NO_DEVICE ||
                   s == SCL_ERR_UNSUPPORTED
               ? CLI_USAGE
               : CLI_FAILED;
}

static cl_mem buffer(scl_runtime *rt, void *host, size_t bytes)
{
    cl_int e;
    return clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0),
                          bytes ? bytes : 4, bytes ? host : NULL, &e);
}

/* Everything after the inputs are known on every rank: shards in, plan, shards out. */
static int compute(job *j, npy_array *a, scl_runtime *rt, int rank)
{
    const int64_t B = j->dims[F_Q][0], H = j->dims[F_Q][1], Hk = j->dims[F_K][1], N = j->dims[F_Q][2];
    const int d = (int)j->dims[F_Q][3], bwd = j->dims[F_DOUT][0] > 0;
    const size_t esz = j->dtype == SCL_F16 ? 2 : 4, row = (size_t)d * esz;
    scl_shape shape = {(int)B, (int)H, (int)Hk, N, N, d, j->block, (float)j->scale, SCL_LAYOUT_BHND};
    scl_mpi_plan *plan = NULL;
    scl_status st = scl_mpi_plan_create(rt, MPI_COMM_WORLD, j->spec, &shape, j->dtype, j->exchange, &plan);
    if (st != SCL_OK) {
        if (rank == 0) fprintf(stderr, "sparsecl %s: error: %s\n", CMD, scl_mpi_plan_error(plan));
        scl_mpi_plan_destroy(plan);
        return status_code(st);
    }
    int64_t start, n;
    scl_mpi_plan_shard(plan, rank, &start, &n);
    const int64_t bh[F_ALL] = {B * H, B * Hk, B * Hk, B * H, B * H, B * H, B * H, B * Hk, B * Hk};
    const size_t rw[F_ALL] = {row, row, row, row, row, sizeof(float), row, row, row};
    char *host[F_ALL] = {0}, *whole[F_ALL] = {0};
    cl_mem dev[F_ALL] = {0};
    for (int f = 0; f < F_ALL; f++) {
        if (!bwd && (f == F_DOUT || f >= F_DQ)) continue;
        host[f] = calloc((size_t)(bh[f] * n) * rw[f] + 1, 1);
        if (f < F_IN) move(plan, rank == 0 ? a[f].data : NULL, host[f], bh[f], N, rw[f], 1);
        dev[f] = buffer(rt, f < F_IN ? host[f] : NULL, (size_t)(bh[f] * n) * rw[f]);
    }
    st = scl_mpi_plan_forward(plan, dev[F_Q], dev[F_K], dev[F_V], dev[F_O], dev[F_LSE]);
    if (st == SCL_OK && bwd)
        st = scl_mpi_plan_backward(plan, dev[F_Q], dev[F_K], dev[F_V], dev[F_O], dev[F_LSE], dev[F_DOUT],
                                   dev[F_DQ], dev[F_DK], dev[F_DV]);
    int code = st == SCL_OK ? CLI_OK : CLI_FAILED;
    if (code && rank == 0) fprintf(stderr, "sparsecl %s: error: %s\n", CMD, scl_mpi_plan_error(plan));
    char msg[600] = "";
    for (int f = F_O; f < F_ALL && !code; f++) {
        if (!dev[f]) continue;
        size_t bytes = (size_t)(bh[f] * n) * rw[f];
        if (bytes)
            clEnqueueReadBuffer(scl_runtime_queue(rt), dev[f], CL_TRUE, 0, bytes, host[f], 0, NULL, NULL);
        if (rank == 0) whole[f] = malloc((size_t)(bh[f] * N) * rw[f] + 1);
        move(plan, whole[f], host[f], bh[f], N, rw[f], 0);
        if (rank != 0 || !j->path[f] || code) continue;
        int64_t dims[4] = {B, bh[f] / B, N, d};
        npy_dtype t = f == F_LSE ? NPY_F32 : j->dtype == SCL_F16 ? NPY_F16 : NPY_F32;
        char m[512];
        if (npy_write(j->path[f], t, f == F_LSE ? 3 : 4, dims, whole[f], m, sizeof m) != 0)
            code = CLI_FAILED, snprintf(msg, sizeof msg, "%s: %s", j->path[f], m);
    }
    code = code == CLI_OK ? cli_mpi_agree(CMD, code, msg) : code;
    if (rank == 0 && code == CLI_OK) {
        scl_mpi_traffic tr;
        scl_mpi_plan_traffic(plan, &tr);
        int P;
        MPI_Comm_size(MPI_COMM_WORLD, &P);
        fprintf(stderr, "sparsecl %s: %d ranks, %s exchange, rank 0 sent %.0f and received %.0f bytes\n", CMD,
                P, cli_mpi_exchange_name(scl_mpi_plan_exchange(plan)), tr.sent, tr.received);
    }
    for (int f = 0; f < F_ALL; f++) {
        free(host[f]);
        free(whole[f]);
        if (dev[f]) clReleaseMemObject(dev[f]);
    }
    scl_mpi_plan_destroy(plan);
    return code;
}

int scl_mpi_cli_attend(int argc, char **argv)
{
    int P, rank = cli_mpi_begin(&argc, &argv, &P);
    job j = {0};
    char msg[1024] = "";
    int code = parse(argc, argv, &j, rank);
    if (code) return cli_mpi_end(code < 0 ? CLI_OK : code);
    npy_array a[F_IN];
    memset(a, 0, sizeof a);
    code = rank == 0 ? load(&j, a, msg, sizeof msg) : CLI_OK;
    if ((code = cli_mpi_agree(CMD, code, msg)) != CLI_OK) goto done;
    MPI_Bcast(j.dims, (int)(sizeof j.dims / sizeof j.dims[0][0]), MPI_INT64_T, 0, MPI_COMM_WORLD);
    MPI_Bcast(&j.dtype, 1, MPI_INT, 0, MPI_COMM_WORLD);
    scl_runtime *rt = NULL;
    scl_status st = scl_mpi_runtime_create(MPI_COMM_WORLD, j.dev, &rt, msg, sizeof msg);
    if (st != SCL_OK) {
        if (rank == 0) fprintf(stderr, "sparsecl %s: error: %s\n", CMD, msg);
        code = status_code(st);
    } else {
        code = compute(&j, a, rt, rank);
    }
    scl_runtime_destroy(rt);
done:
    for (int f = 0; f < F_IN; f++)
        npy_free(&a[f]);
    return cli_mpi_end(code);
}
