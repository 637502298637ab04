/* libsparsecl_mpi against the single-device plan: forward (O, LSE) and backward (dQ, dK, dV) of
 * both exchange plans for many patterns and shapes, run under mpirun with 2 or 4 ranks. Every
 * rank builds the same global tensors; rank 0 runs the single-device plan on them and compares
 * what the ranks computed on their shards. Also: a failure on one rank is an error on every rank. */
#include "scl_npy.h"
#include "sparsecl_mpi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tcase {
    const char *spec;
    int64_t n;
    int heads, kv_heads, dim, block;
    int f16; /* half storage (fp32 accumulation), against the single-device f16 plan */
} tcase;

static const tcase CASES[] = {
    {"dense", 200, 4, 4, 16, 16, 0},
    {"causal", 200, 4, 4, 16, 16, 0},
    {"local(16)", 200, 4, 4, 16, 16, 0},
    {"causal & strided(16)", 200, 4, 4, 16, 16, 0},
    {"strided(24)", 136, 2, 2, 16, 8, 0},
    {"causal & fixed(32, 4)", 200, 4, 4, 16, 16, 0},
    {"longformer(8, 0, 37)", 200, 4, 4, 16, 16, 0},
    {"bigbird(3, 1, 2, 7)", 256, 4, 4, 16, 16, 0},
    {"heads(0-1: causal & local(12); 2: dense; 3: causal & dilated(4, 3))", 200, 4, 4, 16, 16, 0},
    {"heads(0: bigbird(3, 1, 1, 5); 1-3: longformer(4, 9))", 192, 4, 4, 16, 16, 0},
    {"causal", 200, 4, 2, 16, 16, 0},            /* GQA */
    {"local(20)", 200, 8, 2, 32, 16, 0},         /* GQA, 4 query heads per K/V head */
    {"causal & local(9)", 101, 2, 1, 16, 32, 0}, /* N not divisible by the block or by P */
    {"causal", 37, 3, 3, 16, 8, 0},              /* a tail block and odd heads */
    {"causal & local(5)", 20, 2, 2, 16, 16, 0},  /* fewer blocks than ranks at P = 4: idle ranks */
    {"causal & local(24)", 160, 4, 2, 16, 16, 1},
    {"longformer(6, 3)", 160, 2, 2, 32, 16, 1},
    {"global(3)", 200, 2, 2, 16, 16, 0},              /* ranks > 0: fetched keys only, no local part */
    {"local(4) & global(190)", 200, 2, 2, 16, 16, 0}, /* ranks whose rows have no allowed key */
};

static float frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

static float *filled(size_t n, uint64_t seed)
{
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n && a; i++)
        a[i] = frand(&seed);
    return a;
}

/* Rows [a, a + n) of every (batch, head) of a [BH][N][w] tensor: to the shard, or back. */
static void rows(float *full, float *shard, int64_t bh, int64_t N, int64_t a, int64_t n, int w, int to_shard)
{
    for (int64_t i = 0; i < bh; i++) {
        float *f = full + (size_t)(i * N + a) * w, *s = shard + (size_t)(i * n) * w;
        if (to_shard)
            memcpy(s, f, (size_t)(n * w) * sizeof *s);
        else
            memcpy(f, s, (size_t)(n * w) * sizeof *s);
    }
}

/* Halves of a float array (NULL stays NULL). */
static uint16_t *halves(const float *a, size_t n)
{
    uint16_t *h = a ? malloc((n + 1) * sizeof *h) : NULL;
    for (size_t i = 0; h && i < n; i++)
        h[i] = npy_float_to_half(a[i]);
    return h;
}

static void widen(const uint16_t *h, float *a, size_t n)
{
    for (size_t i = n; i-- > 0;)
        a[i] = npy_half_to_float(h[i]); /* backwards: h may alias a */
}

static cl_mem upload(scl_runtime *rt, const float *host, size_t n, int f16)
{
    cl_int e;
    uint16_t *h = f16 ? halves(host, n) : NULL;
    cl_mem m = clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0),
                              (n ? n : 1) * (f16 ? 2 : 4), f16 ? (void *)h : (void *)host, &e);
    free(h);
    return m;
}

/* The ranks' shards of one output tensor, gathered onto rank 0 into a [BH][N][w] array. */
static void collect(scl_runtime *rt, const scl_mpi_plan *plan, cl_mem buf, float *full, int64_t bh, int64_t N,
                    int w, int f16)
{
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    int64_t a, n;
    scl_mpi_plan_shard(plan, rank, &a, &n);
    size_t cnt = (size_t)(bh * n * w);
    float *mine = malloc((cnt + 1) * sizeof *mine);
    if (cnt)
        clEnqueueReadBuffer(scl_runtime_queue(rt), buf, CL_TRUE, 0, cnt * (f16 ? 2 : 4), mine, 0, NULL, NULL);
    if (f16) widen((const uint16_t *)mine, mine, cnt);
    for (int r = 0; r < P; r++) {
        int64_t ra, rn;
        scl_mpi_plan_shard(plan, r, &ra, &rn);
        size_t rc = (size_t)(bh * rn * w);
        float *tmp = malloc((rc + 1) * sizeof *tmp);
        if (r == rank) memcpy(tmp, mine, rc * sizeof *tmp);
        if (r != 0 && rank == r) MPI_Send(mine, (int)rc, MPI_FLOAT, 0, 7, MPI_COMM_WORLD);
        if (r != 0 && rank == 0) MPI_Recv(tmp, (int)rc, MPI_FLOAT, r, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rank == 0) rows(full, tmp, bh, N, ra, rn, w, 0);
        free(tmp);
    }
    free(mine);
}

static double max_err(const float *a, const float *ref, size_t n, double *scale)
{
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        if (isinf(ref[i]) && isinf(a[i]) && (ref[i] < 0) == (a[i] < 0)) continue;
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= e)) e = d; /* NaN wins */
        if (fabs(ref[i]) > s && !isinf(ref[i])) s = fabs(ref[i]);
    }
    *scale = s > 1 ? s : 1;
    return e;
}

/* The single-device plan on the whole tensors (rank 0). */
static scl_status reference(scl_runtime *rt, const tcase *c, const float *q, const float *k, const float *v,
                            const float *dout, float *o, float *lse, float *dq, float *dk, float *dv)
{
    scl_shape s = {1, c->heads, c->kv_heads, c->n, c->n, c->dim, c->block, 0, SCL_LAYOUT_BHND};
    scl_pattern *pat = NULL;
    scl_plan *plan = NULL;
    scl_status st = scl_pattern_create(rt, c->spec, &pat);
    if (st == SCL_OK) st = scl_plan_create(rt, pat, &s, c->f16 ? SCL_F16 : SCL_F32, &plan);
    if (c->f16) { /* the same halves the ranks had; outputs widened in place for the comparison */
        size_t nq = (size_t)(c->heads * c->n * c->dim), nk = (size_t)(c->kv_heads * c->n * c->dim);
        uint16_t *hq = halves(q, nq), *hk = halves(k, nk), *hv = halves(v, nk), *hd = halves(dout, nq);
        if (st == SCL_OK) st = scl_plan_forward_host(plan, hq, hk, hv, o, lse);
        if (st == SCL_OK) st = scl_plan_backward_host(plan, hq, hk, hv, o, lse, hd, dq, dk, dv);
        widen((uint16_t *)o, o, nq), widen((uint16_t *)dq, dq, nq);
        widen((uint16_t *)dk, dk, nk), widen((uint16_t *)dv, dv, nk);
        free(hq), free(hk), free(hv), free(hd);
    } else {
        if (st == SCL_OK) st = scl_plan_forward_host(plan, q, k, v, o, lse);
        if (st == SCL_OK) st = scl_plan_backward_host(plan, q, k, v, o, lse, dout, dq, dk, dv);
    }
    if (st != SCL_OK) fprintf(stderr, "reference: %s\n", scl_last_error_message(rt));
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
    return st;
}

/* Mode 3: the KV plan with SPARSECL_MPI_OVERLAP=off (its frame plan, the fallback of the overlap). */
enum { KV_SERIAL = 3 };
static const char *EXNAME[] = {"auto", "heads", "kv", "kv-off"};

/* One case under one exchange: 0 passed, 1 failed. */
static int run_case(scl_runtime *rt, const tcase *c, int ex)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const int64_t N = c->n, H = c->heads, Hk = c->kv_heads, d = c->dim;
    scl_shape s = {1, c->heads, c->kv_heads, N, N, c->dim, c->block, 0, SCL_LAYOUT_BHND};
    scl_mpi_plan *plan = NULL;
    if (ex == KV_SERIAL) setenv("SPARSECL_MPI_OVERLAP", "off", 1);
    scl_status st = scl_mpi_plan_create(rt, MPI_COMM_WORLD, c->spec, &s, c->f16 ? SCL_F16 : SCL_F32,
                                        ex == KV_SERIAL ? SCL_MPI_KV : (scl_mpi_exchange)ex, &plan);
    unsetenv("SPARSECL_MPI_OVERLAP");
    if (st != SCL_OK) { /* both plans run every pattern */
        if (rank == 0) printf("FAIL %-60s %-5s plan: %s\n", c->spec, EXNAME[ex], scl_mpi_plan_error(plan));
        scl_mpi_plan_destroy(plan);
        return 1;
    }
    float *q = filled((size_t)(H * N * d), 11), *k = filled((size_t)(Hk * N * d), 12);
    float *v = filled((size_t)(Hk * N * d), 13), *dout = filled((size_t)(H * N * d), 14);
    float *out[5], *ref[5];
    const int64_t bh[5] = {H, H, H, Hk, Hk}, w[5] = {d, 1, d, d, d};
    int64_t a, n;
    scl_mpi_plan_shard(plan, rank, &a, &n);
    float *sq = malloc((size_t)(H * n * d + 1) * 4), *sk = malloc((size_t)(Hk * n * d + 1) * 4);
    float *sv = malloc((size_t)(Hk * n * d + 1) * 4), *sdo = malloc((size_t)(H * n * d + 1) * 4);
    rows(q, sq, H, N, a, n, (int)d, 1);
    rows(k, sk, Hk, N, a, n, (int)d, 1);
    rows(v, sv, Hk, N, a, n, (int)d, 1);
    rows(dout, sdo, H, N, a, n, (int)d, 1);
    const int h = c->f16;
    cl_mem bq = upload(rt, sq, (size_t)(H * n * d), h), bk = upload(rt, sk, (size_t)(Hk * n * d), h);
    cl_mem bv = upload(rt, sv, (size_t)(Hk * n * d), h), bdo = upload(rt, sdo, (size_t)(H * n * d), h);
    cl_mem bo = upload(rt, NULL, (size_t)(H * n * d), h), bl = upload(rt, NULL, (size_t)(H * n), 0);
    cl_mem bdq = upload(rt, NULL, (size_t)(H * n * d), h), bdk = upload(rt, NULL, (size_t)(Hk * n * d), h);
    cl_mem bdv = upload(rt, NULL, (size_t)(Hk * n * d), h);
    st = scl_mpi_plan_forward(plan, bq, bk, bv, bo, bl);
    scl_mpi_traffic tr;
    scl_mpi_plan_traffic(plan, &tr); /* the forward's: the backward resets the counters */
    /* NaN in the gradients' buffers first: a row or key the backward leaves unwritten fails */
    const cl_uint nan2 = 0x7fc07fc0u; /* a NaN as f32, two NaNs as f16 */
    cl_mem grads[3] = {bdq, bdk, bdv};
    const size_t gsize[3] = {(size_t)(H * n * d), (size_t)(Hk * n * d), (size_t)(Hk * n * d)};
    for (int t = 0; t < 3 && st == SCL_OK; t++)
        if (gsize[t] * (h ? 2 : 4) % 4 == 0 && gsize[t])
            clEnqueueFillBuffer(scl_runtime_queue(rt), grads[t], &nan2, sizeof nan2, 0,
                                gsize[t] * (h ? 2 : 4), 0, NULL, NULL);
    clFinish(scl_runtime_queue(rt));
    if (st == SCL_OK) st = scl_mpi_plan_backward(plan, bq, bk, bv, bo, bl, bdo, bdq, bdk, bdv);
    scl_mpi_traffic tb;
    scl_mpi_plan_traffic(plan, &tb); /* the backward's */
    int failed = st != SCL_OK;
    if (failed && rank == 0)
        printf("FAIL %-60s %-5s run: %s\n", c->spec, EXNAME[ex], scl_mpi_plan_error(plan));
    cl_mem bufs[5] = {bo, bl, bdq, bdk, bdv};
    for (int t = 0; t < 5; t++) {
        out[t] = calloc((size_t)(bh[t] * N * w[t]), sizeof(float));
        ref[t] = calloc((size_t)(bh[t] * N * w[t]), sizeof(float));
        if (!failed) collect(rt, plan, bufs[t], out[t], bh[t], N, (int)w[t], h && t != 1);
    }
    if (rank == 0 && !failed) {
        failed = reference(rt, c, q, k, v, dout, ref[0], ref[1], ref[2], ref[3], ref[4]) != SCL_OK;
        static const char *name[5] = {"O", "LSE", "dQ", "dK", "dV"};
        char line[320] = "";
        size_t l = 0;
        for (int t = 0; t < 5 && !failed; t++) {
            double scale, e = max_err(out[t], ref[t], (size_t)(bh[t] * N * w[t]), &scale);
            /* fp32 round-off: the plans add the same terms in another order (and LSE merges); with
             * half storage one rounding of the stored result (dK, dV partials summed in fp32 and
             * rounded once more at their owner). */
            if (!(e <= (h ? 2e-3 : 1e-4) * scale)) failed = 1;
            l += (size_t)snprintf(line + l, sizeof line - l, " %s %.1e", name[t], e / scale);
        }
        /* the KV plan's forward runs overlapped unless told not to */
        int want = scl_mpi_plan_exchange(plan) == SCL_MPI_KV && ex != KV_SERIAL;
        if (tr.overlapped != want) failed = 1;
        /* and so does its backward (a silent fallback to the frame plan fails) */
        if (tb.overlapped != want) failed = 1;
        /* global rows are reduced at the key owners when overlapped (the planner may reduce others) */
        int global_rows = strstr(c->spec, "longformer") || strstr(c->spec, "bigbird") || !strcmp(c->spec, "global(3)");
        if (want && global_rows && !(tr.reduced_rows > 0)) failed = 1;
        if (want && tr.reduced_rows > 0)
            l += (size_t)snprintf(line + l, sizeof line - l, " reduced %.0f rows", tr.reduced_rows);
        l += (size_t)snprintf(line + l, sizeof line - l, "%s%s", tr.overlapped ? " overlapped" : "",
                              tb.overlapped ? " bwd-overlapped" : "");
        printf("%s %-60s %-6s ran %-5s N=%lld H=%lld/%lld b=%d %s:%s\n", failed ? "FAIL" : "ok  ", c->spec,
               EXNAME[ex], EXNAME[scl_mpi_plan_exchange(plan)], (long long)N, (long long)H, (long long)Hk,
               c->block, h ? "f16" : "f32", line);
    }
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    for (int t = 0; t < 5; t++)
        free(out[t]), free(ref[t]);
    cl_mem all[9] = {bq, bk, bv, bdo, bo, bl, bdq, bdk, bdv};
    for (int t = 0; t < 9; t++)
        clReleaseMemObject(all[t]);
    free(q), free(k), free(v), free(dout), free(sq), free(sk), free(sv), free(sdo);
    scl_mpi_plan_destroy(plan);
    return failed;
}

/* Bad input on the last rank only: every rank must return the error, and the message must name
 * that rank (no rank may hang: the test's timeout would catch it). */
static int run_failures(scl_runtime *rt)
{
    int rank, P, failed = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    char want[32];
    snprintf(want, sizeof want, "rank %d:", P - 1);
    scl_shape s = {1, 2, 2, 64, 64, 16, 16, 0, SCL_LAYOUT_BHND};
    const char *spec = rank == P - 1 ? "causal & nonsense(3)" : "causal";
    scl_mpi_plan *plan = NULL;
    scl_status st = scl_mpi_plan_create(rt, MPI_COMM_WORLD, spec, &s, SCL_F32, SCL_MPI_AUTO, &plan);
    int bad = st == SCL_OK || strncmp(scl_mpi_plan_error(plan), want, strlen(want)) != 0;
    if (rank == 0)
        printf("%s bad spec on rank %d -> %s: %s\n", bad ? "FAIL" : "ok  ", P - 1, scl_status_string(st),
               scl_mpi_plan_error(plan));
    failed += bad;
    scl_mpi_plan_destroy(plan);
    if (rank == P - 1) setenv("SPARSECL_MPI_OVERLAP", "maybe", 1); /* refused, not read as on or off */
    st = scl_mpi_plan_create(rt, MPI_COMM_WORLD, "causal", &s, SCL_F32, SCL_MPI_KV, &plan);
    unsetenv("SPARSECL_MPI_OVERLAP");
    bad = st != SCL_ERR_INVALID_ARGUMENT || strncmp(scl_mpi_plan_error(plan), want, strlen(want)) != 0;
    if (rank == 0)
        printf("%s bad SPARSECL_MPI_OVERLAP on rank %d -> %s: %s\n", bad ? "FAIL" : "ok  ", P - 1,
               scl_status_string(st), scl_mpi_plan_error(plan));
    failed += bad;
    scl_mpi_plan_destroy(plan);
    for (int ex = SCL_MPI_HEADS; ex <= SCL_MPI_KV; ex++) {
        st = scl_mpi_plan_create(rt, MPI_COMM_WORLD, "causal", &s, SCL_F32, (scl_mpi_exchange)ex, &plan);
        int64_t n;
        scl_mpi_plan_shard(plan, rank, NULL, &n);
        cl_mem b = upload(rt, NULL, (size_t)(2 * n * 16), 0);
        /* the last rank forgets its output buffer */
        if (st == SCL_OK) st = scl_mpi_plan_forward(plan, b, b, b, rank == P - 1 ? NULL : b, NULL);
        bad = st == SCL_OK || strncmp(scl_mpi_plan_error(plan), want, strlen(want)) != 0;
        if (rank == 0)
            printf("%s missing buffer on rank %d (%s) -> %s: %s\n", bad ? "FAIL" : "ok  ", P - 1, EXNAME[ex],
                   scl_status_string(st), scl_mpi_plan_error(plan));
        failed += bad;
        /* the last rank's V is one row short of its shard */
        cl_mem shortb = upload(rt, NULL, (size_t)(2 * n * 16) - (rank == P - 1 ? 16 : 0), 0);
        st = scl_mpi_plan_forward(plan, b, b, shortb, b, NULL);
        bad = st == SCL_OK || strncmp(scl_mpi_plan_error(plan), want, strlen(want)) != 0;
        if (rank == 0)
            printf("%s short buffer on rank %d (%s) -> %s: %s\n", bad ? "FAIL" : "ok  ", P - 1, EXNAME[ex],
                   scl_status_string(st), scl_mpi_plan_error(plan));
        failed += bad;
        clReleaseMemObject(shortb);
        clReleaseMemObject(b);
        scl_mpi_plan_destroy(plan);
    }
    MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return failed;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    scl_runtime *rt = NULL;
    char msg[1024];
    if (scl_mpi_runtime_create(MPI_COMM_WORLD, NULL, &rt, msg, sizeof msg) != SCL_OK) {
        if (rank == 0) fprintf(stderr, "test_mpi: %s\n", msg);
        scl_runtime_destroy(rt);
        MPI_Finalize();
        return 1;
    }
    const char *only = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        if (only && !strstr(CASES[i].spec, only)) continue;
        for (int ex = SCL_MPI_AUTO; ex <= KV_SERIAL; ex++) {
            int r = run_case(rt, &CASES[i], ex);
            passed += r != 1, failed += r == 1;
        }
    }
    if (!only || strcmp(only, "failures") == 0) { /* "failures": only these */
        int r = run_failures(rt);
        passed += !r, failed += r;
    }
    if (rank == 0) printf("test_mpi, %d ranks: %d passed, %d failed\n", P, passed, failed);
    scl_runtime_destroy(rt);
    MPI_Finalize();
    return failed ? 1 : 0;
}
