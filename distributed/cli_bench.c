/* `sparsecl bench --distributed`: per rank, the bytes the chosen plan sent and received, against
 * what the head all-to-all, the pattern-aware exchange and ring attention move for the same shape
 * (computed by the planner), the time of the distributed forward (and backward), and, in the same
 * run, the single-rank time of the whole problem on rank 0, for the scaling. */
#include "../host/cli/cli.h"
#include "cli_distributed.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *CMD = "bench";

static void usage(void)
{
    printf(
        "usage: mpirun -np P sparsecl bench --distributed --pattern SPEC --seq N [--block B] --heads H --dim "
        "d\n"
        "                      [--kv-heads Hk] [--batch B] [--dtype f32|f16] [--exchange auto|heads|kv]\n"
        "                      [--reps R] [--backward] [--plan-only] [--no-single] [--device D]\n\n"
        "Prints per rank the bytes the chosen plan moved (sent + received) and the planner's figures for "
        "the\n"
        "head all-to-all, the pattern-aware K/V exchange (exactly the key blocks needed; and the key ranges "
        "it\n"
        "really fetches) and ring attention; the median wall time of the distributed forward over --reps "
        "runs\n"
        "(slowest rank, staging and MPI included), and the single-rank time of the same problem on rank 0,\n"
        "measured in the same run (--no-single skips it). --plan-only prints the byte figures without "
        "running.\n"
        "--block defaults to 64, as in every command (--block auto is for the single-device form).\n");
}

typedef struct opts {
    cli_bench_shared sh; /* --pattern, --device, --block, --heads, --kv-heads, --batch, --backward */
    int64_t n;
    int dim, reps, exchange, dtype, plan_only, no_single;
} opts;

static int parse(int argc, char **argv, opts *o, int rank)
{
    static const struct option lo[] = {CLI_BENCH_OPTIONS{"exchange", required_argument, NULL, 'x'},
                                       {"plan-only", no_argument, NULL, 'P'},
                                       {"no-single", no_argument, NULL, 'S'},
                                       {"distributed", no_argument, NULL, 'z'},
                                       {0}};
    int c, ok = 1;
    opterr = 0;
    optind = 1;
    for (int before = optind; ok && (c = getopt_long(argc, argv, "h", lo, NULL)) != -1; before = optind) {
        switch (c) {
        case 'n':
            ok = cli_parse_i64(CMD, "--seq", optarg, 1, (int64_t)1 << 31, &o->n);
            break;
        case 'd':
            ok = cli_parse_int(CMD, "--dim", optarg, 1, 256, &o->dim);
            break;
        case 'r':
            ok = cli_parse_int(CMD, "--reps", optarg, 1, 1000, &o->reps);
            break;
        case 'P':
            o->plan_only = 1;
            break;
        case 'S':
            o->no_single = 1;
            break;
        case 'z':
            break;
        case 't':
            if (strcmp(optarg, "f32") && strcmp(optarg, "f16"))
                return cli_error(CMD, CLI_USAGE, "--dtype %s: expected f32 or f16", optarg);
            o->dtype = strcmp(optarg, "f16") == 0 ? SCL_F16 : SCL_F32;
            break;
        case 'x':
            if ((o->exchange = cli_mpi_exchange(optarg)) < 0)
                return cli_error(CMD, CLI_USAGE, "--exchange %s: expected auto, heads or kv", optarg);
            break;
        case 'h':
            if (rank == 0) usage();
            return -1;
        default:
            if ((ok = cli_bench_option(CMD, c, optarg, &o->sh)) < 0)
                return rank == 0 ? cli_refused(CMD, argv, before) : CLI_USAGE;
        }
    }
    if (!ok) return CLI_USAGE;
    if (optind < argc) return cli_error(CMD, CLI_USAGE, "unexpected argument '%s'", argv[optind]);
    if (!o->sh.spec || !o->n || !o->sh.heads || !o->dim)
        return cli_error(CMD, CLI_USAGE, "--pattern, --seq, --heads and --dim are required (see --help)");
    return CLI_OK;
}

static cl_mem random_buffer(scl_runtime *rt, size_t bytes, unsigned seed)
{
    uint16_t *h = malloc(bytes + 2);
    for (size_t i = 0; h && i < bytes / 2; i++) {
        seed = seed * 1103515245u + 12345u;
        h[i] = (uint16_t)(0x3000 | ((seed >> 16) & 0x3ff)); /* small halves; as floats, small values too */
    }
    cl_int e;
    cl_mem m = clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE | (h ? CL_MEM_COPY_HOST_PTR : 0),
                              bytes ? bytes : 4, bytes && h ? h : NULL, &e);
    free(h);
    return m;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bufs {
    cl_mem t[10]; /* q k v o lse dout dq dk dv */
} bufs;

static void make_bufs(scl_runtime *rt, const opts *o, int64_t n, bufs *b)
{
    const size_t esz = o->dtype == SCL_F16 ? 2 : 4, q = (size_t)o->sh.batch * o->sh.heads * n * o->dim * esz;
    const size_t kv = (size_t)o->sh.batch * o->sh.kv_heads * n * o->dim * esz,
                 l = (size_t)o->sh.batch * o->sh.heads * n * 4;
    const size_t sz[9] = {q, kv, kv, q, l, q, q, kv, kv};
    for (int i = 0; i < 9; i++)
        b->t[i] = random_buffer(rt, sz[i], 17u + (unsigned)i);
}

static void free_bufs(bufs *b)
{
    for (int i = 0; i < 9; i++)
        if (b->t[i]) clReleaseMemObject(b->t[i]);
}

/* One distributed run: the slowest rank's wall time (ms); with --backward, *bwd the slowest rank's
 * time of the backward call alone (both calls block). */
static double dist_rep(scl_mpi_plan *plan, bufs *b, const opts *o, scl_status *st, double *bwd)
{
    cl_mem *m = b->t;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime(), t1 = t0;
    *st = scl_mpi_plan_forward(plan, m[0], m[1], m[2], m[3], m[4]);
    if (*st == SCL_OK && o->sh.backward) {
        t1 = MPI_Wtime();
        *st = scl_mpi_plan_backward(plan, m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]);
    }
    double dt[2] = {(MPI_Wtime() - t0) * 1e3, o->sh.backward ? (MPI_Wtime() - t1) * 1e3 : 0};
    MPI_Allreduce(MPI_IN_PLACE, dt, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    *bwd = dt[1];
    return dt[0];
}

/* The whole problem on rank 0 alone: the plan and buffers, made once. */
typedef struct single {
    scl_pattern *pat;
    scl_plan *plan;
    bufs b;
} single;

static scl_status single_setup(scl_runtime *rt, const opts *o, single *sg)
{
    scl_shape s = {o->sh.batch, o->sh.heads, o->sh.kv_heads, o->n, o->n, o->dim,
                   o->sh.block, 0,           SCL_LAYOUT_BHND};
    scl_status st = scl_pattern_create(rt, o->sh.spec, &sg->pat);
    if (st == SCL_OK) st = scl_plan_create(rt, sg->pat, &s, (scl_dtype)o->dtype, &sg->plan);
    if (st == SCL_OK) make_bufs(rt, o, o->n, &sg->b);
    return st;
}

/* One single-rank run on rank 0 while the others wait without spinning (a busy MPI wait would
 * take a core from it); returns its wall time (ms), or -1 on failure, on every rank. */
static double single_rep(scl_runtime *rt, const opts *o, single *sg, int rank, double *bwd)
{
    double dt[2] = {-1, 0};
    if (rank == 0) {
        cl_mem *m = sg->b.t;
        double t0 = MPI_Wtime(), t1 = t0;
        scl_status st = scl_plan_forward(sg->plan, m[0], m[1], m[2], m[3], m[4], 0, NULL, NULL);
        if (st == SCL_OK && o->sh.backward) { /* finished first, so the backward is timed alone */
            st = clFinish(scl_runtime_queue(rt)) == CL_SUCCESS ? SCL_OK : SCL_ERR_OPENCL;
            t1 = MPI_Wtime();
            if (st == SCL_OK)
                st = scl_plan_backward(sg->plan, m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], 0,
                                       NULL, NULL);
        }
        if (st == SCL_OK && clFinish(scl_runtime_queue(rt)) == CL_SUCCESS)
            dt[0] = (MPI_Wtime() - t0) * 1e3, dt[1] = o->sh.backward ? (MPI_Wtime() - t1) * 1e3 : 0;
    }
    MPI_Request req;
    MPI_Ibcast(dt, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD, &req);
    for (int done = 0; !done;) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (!done) nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    *bwd = dt[1];
    return dt[0];
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp);
    return t[n / 2];
}

/* Distributed and single-rank runs alternate, after one untimed run of each, so a change in the
 * machine's load hits both alike. Medians in *dist and *one (-1 when not run). */
static int time_both(scl_runtime *rt, scl_mpi_plan *plan, const opts *o, int rank, double *dist, double *one,
                     double *dist_bwd, double *one_bwd)
{
    int64_t n;
    bufs b = {{0}};
    single sg = {0};
    char msg[1024] = "";
    scl_mpi_plan_shard(plan, rank, NULL, &n);
    make_bufs(rt, o, n, &b);
    int want_single = !o->no_single, code = CLI_OK;
    scl_status st = rank == 0 && want_single ? single_setup(rt, o, &sg) : SCL_OK;
    if (st != SCL_OK) snprintf(msg, sizeof msg, "single-rank plan: %s", scl_last_error_message(rt));
    code = cli_mpi_agree(CMD, st == SCL_OK ? CLI_OK : CLI_FAILED, msg);
    double *td = calloc((size_t)o->reps * 4, sizeof *td), *ts = td + o->reps, *tdb = ts + o->reps,
           *tsb = tdb + o->reps, db = 0, sb = 0;
    for (int r = -1; r < o->reps && !code; r++) {
        double d = dist_rep(plan, &b, o, &st, &db);
        if (st != SCL_OK) {
            if (rank == 0) fprintf(stderr, "sparsecl %s: error: %s\n", CMD, scl_mpi_plan_error(plan));
            code = CLI_FAILED;
            break;
        }
        double s1 = want_single ? single_rep(rt, o, &sg, rank, &sb) : 0;
        if (s1 < 0) {
            if (rank == 0)
                fprintf(stderr, "sparsecl %s: error: single-rank run: %s\n", CMD, scl_last_error_message(rt));
            code = CLI_FAILED;
            break;
        }
        if (r >= 0) td[r] = d, ts[r] = s1, tdb[r] = db, tsb[r] = sb;
    }
    *dist = code ? -1 : median(td, o->reps);
    *one = code || !want_single ? -1 : median(ts, o->reps);
    *dist_bwd = code || !o->sh.backward ? -1 : median(tdb, o->reps);
    *one_bwd = code || !o->sh.backward || !want_single ? -1 : median(tsb, o->reps);
    free(td);
    free_bufs(&b);
    free_bufs(&sg.b);
    scl_plan_destroy(sg.plan);
    scl_pattern_destroy(sg.pat);
    return code;
}

static void print_table(const scl_mpi_plan *plan, int rank, int P)
{
    scl_mpi_traffic tr;
    scl_mpi_plan_traffic(plan, &tr);
    double mine[9] = {tr.heads_bytes, tr.kv_bytes,   tr.kv_run_bytes,
                      tr.ring_bytes,  tr.sent,       tr.received,
                      tr.comm_ms,     tr.compute_ms, 0};
    double *all = rank == 0 ? calloc((size_t)P * 9, sizeof *all) : NULL;
    MPI_Gather(mine, 9, MPI_DOUBLE, all, 9, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank != 0) return;
    printf("%-5s %9s %12s %12s %12s %12s %12s %12s %9s %9s %8s\n", "rank", "rows", "sent", "received",
           "heads a2a", "kv needed", "kv fetched", "ring", "comm ms", "local ms", "kv/ring");
    for (int r = 0; r < P; r++) {
        const double *a = all + r * 9;
        int64_t n;
        scl_mpi_plan_shard(plan, r, NULL, &n);
        printf("%-5d %9lld %12.0f %12.0f %12.0f %12.0f %12.0f %12.0f %9.1f %9.1f %8.4f\n", r, (long long)n,
               a[4], a[5], a[0], a[1], a[2], a[3], a[6], a[7], a[3] > 0 ? a[1] / a[3] : 0);
    }
    free(all);
}

int scl_mpi_cli_bench(int argc, char **argv)
{
    int P, rank = cli_mpi_begin(&argc, &argv, &P);
    opts o = {0};
    o.sh.batch = 1, o.reps = 3, o.sh.block = CLI_BLOCK_DEFAULT;
    int code = parse(argc, argv, &o, rank);
    if (code) return cli_mpi_end(code < 0 ? CLI_OK : code);
    if (!o.sh.kv_heads) o.sh.kv_heads = o.sh.heads;
    char msg[1024] = "";
    scl_runtime *rt = NULL;
    scl_mpi_plan *plan = NULL;
    scl_status st = scl_mpi_runtime_create(MPI_COMM_WORLD, o.sh.dev, &rt, msg, sizeof msg);
    scl_shape s = {o.sh.batch, o.sh.heads, o.sh.kv_heads, o.n, o.n, o.dim, o.sh.block, 0, SCL_LAYOUT_BHND};
    if (st == SCL_OK)
        st = scl_mpi_plan_create(rt, MPI_COMM_WORLD, o.sh.spec, &s, (scl_dtype)o.dtype, o.exchange, &plan);
    if (st != SCL_OK) {
        if (rank == 0)
            fprintf(stderr, "sparsecl %s: error: %s\n", CMD, plan ? scl_mpi_plan_error(plan) : msg);
        code =
            st == SCL_ERR_OPENCL || st == SCL_ERR_OUT_OF_MEMORY || st == SCL_ERR_IO ? CLI_FAILED : CLI_USAGE;
        goto done;
    }
    if (rank == 0)
        printf("distributed %s: %s, N=%lld, H=%d/%d, d=%d, block %d, %s, %d ranks on %s\n",
               o.sh.backward ? "forward+backward" : "forward", o.sh.spec, (long long)o.n, o.sh.heads,
               o.sh.kv_heads, o.dim, o.sh.block, o.dtype == SCL_F16 ? "f16" : "f32", P,
               scl_runtime_device(rt)->name);
    double dist = -1, single = -1, dist_bwd = -1, single_bwd = -1;
    if (!o.plan_only &&
        (code = time_both(rt, plan, &o, rank, &dist, &single, &dist_bwd, &single_bwd)) != CLI_OK)
        goto done;
    if (rank == 0)
        printf(
            "plan: %s (cost model's choice unless --exchange); bytes are forward, sent + received per rank;\n"
            "heads a2a / kv needed / kv fetched / ring: the planner's figures for the same shape\n",
            cli_mpi_exchange_name(scl_mpi_plan_exchange(plan)));
    if (rank == 0) {
        scl_mpi_traffic tr;
        scl_mpi_plan_traffic(plan, &tr);
        printf("cost model (busiest rank's bytes + its work in byte units): heads %.4g, kv %.4g%s\n",
               tr.heads_cost, tr.kv_cost, tr.kv_cost < 0 ? " (no KV plan)" : "");
        if (tr.reduced_rows > 0)
            printf("kv plan: %.0f global query rows reduced at the key owners (queries all-gathered, partial O and "
                   "LSE merged back by an LSE-merge MPI_Reduce_scatter; counted in kv needed/fetched)\n",
                   tr.reduced_rows);
    }
    print_table(plan, rank, P);
    if (rank == 0 && dist >= 0) {
        printf("time: distributed %.2f ms (median of %d, slowest rank, staging and MPI included)", dist,
               o.reps);
        if (single >= 0)
            printf(
                "; one rank %.2f ms (runs alternating); speed-up %.2fx; distributed / (one rank / %d) = %.2f",
                single, single / dist, P, dist / (single / P));
        printf("\n");
    }
    if (dist_bwd >= 0) {
        scl_mpi_traffic tr; /* the last call's: a backward (the same on every rank) */
        scl_mpi_plan_traffic(plan, &tr);
        if (rank == 0) {
            printf("time: backward alone: distributed %.2f ms (median of %d, slowest rank%s)", dist_bwd,
                   o.reps,
                   scl_mpi_plan_exchange(plan) != SCL_MPI_KV ? ""
                   : tr.overlapped                           ? ", overlapped"
                                                             : ", not overlapped");
            if (single_bwd >= 0)
                printf("; one rank %.2f ms; distributed / (one rank / %d) = %.2f", single_bwd, P,
                       dist_bwd / (single_bwd / P));
            printf("\n");
        }
    }
done:
    scl_mpi_plan_destroy(plan);
    scl_runtime_destroy(rt);
    return cli_mpi_end(code);
}
