/* Dense CLBlast baseline against a double-precision dense attention, the row-softmax kernel on
 * its own (rows with no allowed key), the refusals (too large, fp16, short buffers) and the
 * peak measurement. */
#include "../check.h"
#include "baseline.h"
#include "peak.h"
#include "shape.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* Plain dense attention in double, any layout, grouped-query mapping, causal j <= i. */
static void reference(const scl_shape *s, int causal, const float *q, const float *k, const float *v,
                      double *o)
{
    scli_strides qs, kvs;
    scli_shape_strides(s, &qs, &kvs);
    const int group = s->heads / s->kv_heads, d = s->head_dim;
    double *p = malloc((size_t)s->seq_k * sizeof *p);
    if (!p) return;
    for (int b = 0; b < s->batch; b++)
        for (int h = 0; h < s->heads; h++) {
            const float *qb = q + b * qs.b + h * qs.h;
            const float *kb = k + b * kvs.b + (h / group) * kvs.h, *vb = v + b * kvs.b + (h / group) * kvs.h;
            double *ob = o + b * qs.b + h * qs.h;
            for (int64_t i = 0; i < s->seq_q; i++) {
                double m = -INFINITY;
                for (int64_t j = 0; j < s->seq_k; j++) {
                    if (causal && j > i) {
                        p[j] = -INFINITY;
                        continue;
                    }
                    double acc = 0.0;
                    for (int c = 0; c < d; c++)
                        acc += (double)qb[i * qs.n + c] * kb[j * kvs.n + c];
                    p[j] = acc * s->scale;
                    if (p[j] > m) m = p[j];
                }
                double sum = 0.0;
                for (int64_t j = 0; j < s->seq_k; j++) {
                    p[j] = m == -INFINITY || p[j] == -INFINITY ? 0.0 : exp(p[j] - m);
                    sum += p[j];
                }
                for (int c = 0; c < d; c++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j < s->seq_k; j++)
                        acc += p[j] * vb[j * kvs.n + c];
                    ob[i * qs.n + c] = sum > 0.0 ? acc / sum : 0.0;
                }
            }
        }
    free(p);
}

static cl_mem upload(scl_runtime *rt, const float *x, size_t n)
{
    cl_int err;
    cl_mem m = clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                              n * sizeof *x, (void *)x, &err);
    return err == CL_SUCCESS ? m : NULL;
}

static void test_case(scl_runtime *rt, int B, int H, int Hkv, int64_t Nq, int64_t Nk, int d, int causal,
                      scl_tensor_layout layout)
{
    scl_shape in = {B, H, Hkv, Nq, Nk, d, 64, 0.0f, layout}; /* block 64 for the normalization */
    scl_shape s;
    char msg[256];
    if (scli_shape_normalize(&in, &s, msg, sizeof msg) != SCL_OK) {
        CHECK(0, "test shape invalid: %s", msg);
        return;
    }
    in.block = 0; /* the baseline accepts 0: it has no use for the block size */
    size_t nqe = (size_t)scli_shape_q_elems(&s), nke = (size_t)scli_shape_kv_elems(&s);
    float *q = malloc(nqe * sizeof *q), *k = malloc(nke * sizeof *k), *v = malloc(nke * sizeof *v);
    float *o = malloc(nqe * sizeof *o);
    double *ref = malloc(nqe * sizeof *ref);
    cl_mem bq = NULL, bk = NULL, bv = NULL, bo = NULL;
    scl_baseline *bl = NULL;
    if (!q || !k || !v || !o || !ref) {
        CHECK(0, "host allocation");
        goto out;
    }
    for (size_t i = 0; i < nqe; i++)
        q[i] = 2.0f * frand();
    for (size_t i = 0; i < nke; i++)
        k[i] = 2.0f * frand();
    for (size_t i = 0; i < nke; i++)
        v[i] = frand();
    for (size_t i = 0; i < nqe; i++)
        o[i] = NAN;
    reference(&s, causal, q, k, v, ref);
    bq = upload(rt, q, nqe);
    bk = upload(rt, k, nke);
    bv = upload(rt, v, nke);
    bo = upload(rt, o, nqe);
    if (!bq || !bk || !bv || !bo) {
        CHECK(0, "device allocation");
        goto out;
    }
    scl_status st = scl_baseline_create(rt, &in, SCL_F32, causal, &bl);
    CHECK(st == SCL_OK, "create: %s: %s", scl_status_string(st), scl_last_error_message(rt));
    if (st != SCL_OK) goto out;
    double ms = -1.0, t0 = now_ms();
    st = scl_baseline_run(bl, bq, bk, bv, bo, &ms);
    double wall = now_ms() - t0;
    CHECK(st == SCL_OK, "run: %s: %s", scl_status_string(st), scl_last_error_message(rt));
    if (st != SCL_OK) goto out;
    CHECK(ms > 0.0 && isfinite(ms) && ms <= wall + 1.0, "device time %.3f ms (host %.3f ms)", ms, wall);
    cl_int err =
        clEnqueueReadBuffer(scl_runtime_queue(rt), bo, CL_TRUE, 0, nqe * sizeof *o, o, 0, NULL, NULL);
    CHECK(err == CL_SUCCESS, "read back O: %d", err);
    double scale = 0.0, worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < nqe; i++)
        scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < nqe; i++) {
        double e = fabs((double)o[i] - ref[i]);
        if (!(e <= worst)) { /* NaN counts as the worst */
            worst = isnan(e) ? INFINITY : e;
            worst_i = i;
        }
    }
    double rel = worst / (scale > 0.0 ? scale : 1.0);
    printf("baseline B=%d H=%d H_kv=%d N_q=%lld N_k=%lld d=%d %s %s: max |err| %.3g (%.3g of scale %.3g) at "
           "%zu, "
           "%.3f ms\n",
           B, H, Hkv, (long long)Nq, (long long)Nk, d, causal ? "causal" : "dense",
           layout == SCL_LAYOUT_BNHD ? "BNHD" : "BHND", worst, rel, scale, worst_i, ms);
    CHECK(rel <= 1e-4, "max abs error %.3g relative to output scale %.3g (got %g, want %g at %zu)", rel,
          scale, (double)o[worst_i], ref[worst_i], worst_i);

    /* A second run reuses everything and gives the same answer. */
    st = scl_baseline_run(bl, bq, bk, bv, bo, NULL);
    CHECK(st == SCL_OK, "second run: %s", scl_last_error_message(rt));

    /* Buffers too small for the shape are refused, naming the tensor. */
    if (nke > 1) {
        cl_mem small =
            clCreateBuffer(scl_runtime_context(rt), CL_MEM_READ_WRITE, (nke - 1) * sizeof(float), NULL, &err);
        if (small) {
            st = scl_baseline_run(bl, bq, bk, small, bo, &ms);
            CHECK(st == SCL_ERR_INVALID_ARGUMENT && strstr(scl_last_error_message(rt), "buffer v"),
                  "short v refused: %s: %s", scl_status_string(st), scl_last_error_message(rt));
            clReleaseMemObject(small);
        }
    }
    CHECK(scl_baseline_run(bl, NULL, bk, bv, bo, &ms) == SCL_ERR_INVALID_ARGUMENT, "NULL q refused");
out:
    scl_baseline_destroy(bl);
    if (bq) clReleaseMemObject(bq);
    if (bk) clReleaseMemObject(bk);
    if (bv) clReleaseMemObject(bv);
    if (bo) clReleaseMemObject(bo);
    free(q);
    free(k);
    free(v);
    free(o);
    free(ref);
}

/* softmax_rows.cl alone, with a causal diagonal shifted so the first rows have no allowed key,
 * rows longer and shorter than the work-group. */
static void test_softmax_rows(scl_runtime *rt, long nk, long diag, size_t local)
{
    const long rows_per_bh = 9, bh = 3;
    const long rows = rows_per_bh * bh;
    const float scale = 0.7f;
    size_t n = (size_t)(rows * nk);
    float *s = malloc(n * sizeof *s), *out = malloc(n * sizeof *out);
    cl_program prog = NULL;
    cl_kernel kern = NULL;
    cl_mem buf = NULL;
    if (!s || !out) {
        CHECK(0, "host allocation");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        s[i] = 40.0f * frand(); /* large scores: exp() needs the max subtraction */
    scl_status st = scl_build_program(rt, "softmax_rows.cl", "", &prog, NULL);
    CHECK(st == SCL_OK, "build softmax_rows.cl: %s", scl_last_error_message(rt));
    if (st != SCL_OK) goto done;
    cl_int err;
    kern = clCreateKernel(prog, "softmax_rows", &err);
    buf = upload(rt, s, n);
    if (err != CL_SUCCESS || !buf) {
        CHECK(0, "kernel or buffer: %d", err);
        goto done;
    }
    const cl_long nq_l = rows_per_bh, nk_l = nk, diag_l = diag;
    const cl_int causal = 1;
    const size_t global[2] = {(size_t)rows_per_bh * local, (size_t)bh}, lsize[2] = {local, 1};
    err = clSetKernelArg(kern, 0, sizeof buf, &buf);
    err |= clSetKernelArg(kern, 1, sizeof nq_l, &nq_l);
    err |= clSetKernelArg(kern, 2, sizeof nk_l, &nk_l);
    err |= clSetKernelArg(kern, 3, sizeof scale, &scale);
    err |= clSetKernelArg(kern, 4, sizeof causal, &causal);
    err |= clSetKernelArg(kern, 5, sizeof diag_l, &diag_l);
    err |= clSetKernelArg(kern, 6, local * sizeof(float), NULL);
    CHECK(err == CL_SUCCESS, "set args");
    cl_command_queue queue = scl_runtime_queue(rt);
    err = clEnqueueNDRangeKernel(queue, kern, 2, NULL, global, lsize, 0, NULL, NULL);
    CHECK(err == CL_SUCCESS, "enqueue softmax_rows: %d", err);
    err = clEnqueueReadBuffer(queue, buf, CL_TRUE, 0, n * sizeof *out, out, 0, NULL, NULL);
    CHECK(err == CL_SUCCESS, "read back: %d", err);
    if (err != CL_SUCCESS) goto done;
    double worst = 0.0;
    int empty_ok = 1;
    for (long r = 0; r < rows; r++) {
        long i = r % rows_per_bh, lim = i + diag + 1;
        if (lim < 0) lim = 0;
        if (lim > nk) lim = nk;
        const float *x = s + r * nk, *y = out + r * nk;
        double m = -INFINITY, sum = 0.0;
        for (long j = 0; j < lim; j++)
            m = fmax(m, (double)x[j] * scale);
        for (long j = 0; j < lim; j++)
            sum += exp((double)x[j] * scale - m);
        for (long j = 0; j < nk; j++) {
            double want = j < lim ? exp((double)x[j] * scale - m) / sum : 0.0;
            double e = fabs(y[j] - want);
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
            if (lim == 0 && y[j] != 0.0f) empty_ok = 0;
        }
    }
    printf("softmax_rows: %ld rows, %ld keys, causal diag %ld, work-group %zu: max |err| %.3g\n", rows, nk,
           diag, local, worst);
    CHECK(worst <= 1e-6, "softmax max abs error %.3g", worst);
    CHECK(empty_ok, "rows with no allowed key are all zero");
done:
    if (buf) clReleaseMemObject(buf);
    if (kern) clReleaseKernel(kern);
    if (prog) clReleaseProgram(prog);
    free(s);
    free(out);
}

static void test_refusals(scl_runtime *rt)
{
    /* 32 heads of 2^20 x 2^20 scores: one head's 2^42 bytes (the baseline materializes one chunk of
     * heads at a time; one head is already more than CLBlast's 32-bit offsets and any device). */
    scl_shape huge = {.batch = 1, .heads = 32, .seq_q = 1 << 20, .head_dim = 64, .block = 64};
    scl_baseline *bl = (scl_baseline *)&huge; /* must be overwritten with NULL */
    size_t need = scl_baseline_scores_bytes(&huge);
    CHECK(need == ((size_t)1 << 42), "scores bytes %zu", need);
    scl_status st = scl_baseline_create(rt, &huge, SCL_F32, 0, &bl);
    const char *msg = scl_last_error_message(rt);
    printf("huge shape: %s: %s\n", scl_status_string(st), msg);
    CHECK(st == SCL_ERR_OUT_OF_MEMORY && !bl, "huge shape refused: %s", scl_status_string(st));
    CHECK(strstr(msg, "4398046511104") && strstr(msg, "bytes") && strstr(msg, "per allocation"),
          "message gives the bytes needed and the device limit: %s", msg);

    scl_shape small = {.batch = 1, .heads = 2, .seq_q = 16, .head_dim = 16};
    st = scl_baseline_create(rt, &small, SCL_F16, 0, &bl);
    CHECK(st == SCL_ERR_UNSUPPORTED && !bl && strstr(scl_last_error_message(rt), "cl_khr_fp16"),
          "fp16 refused: %s: %s", scl_status_string(st), scl_last_error_message(rt));
    small.heads = 3;
    small.kv_heads = 2;
    st = scl_baseline_create(rt, &small, SCL_F32, 0, &bl);
    CHECK(st == SCL_ERR_INVALID_ARGUMENT && !bl, "H not a multiple of H_kv: %s", scl_last_error_message(rt));
    CHECK(scl_baseline_create(rt, NULL, SCL_F32, 0, &bl) == SCL_ERR_INVALID_ARGUMENT, "NULL shape");
    CHECK(scl_baseline_create(NULL, &small, SCL_F32, 0, &bl) == SCL_ERR_INVALID_ARGUMENT, "NULL runtime");
    CHECK(scl_baseline_scores_bytes(NULL) == SIZE_MAX, "NULL shape has no size");
    CHECK(scl_baseline_run(NULL, NULL, NULL, NULL, NULL, NULL) == SCL_ERR_INVALID_ARGUMENT, "NULL baseline");
    scl_baseline_destroy(NULL);
}

static void test_peak(scl_runtime *rt)
{
    scl_peak p;
    double t0 = now_ms();
    scl_status st = scl_measure_peak(rt, &p);
    double t = now_ms() - t0;
    CHECK(st == SCL_OK, "measure peak: %s: %s", scl_status_string(st), scl_last_error_message(rt));
    printf("peak: %.1f GFLOP/s (%.2f ms), %.1f GB/s (%.2f ms), measured in %.0f ms\n", p.fma_gflops, p.fma_ms,
           p.bandwidth_gbs, p.bw_ms, t);
    CHECK(p.fma_gflops > 0.0 && isfinite(p.fma_gflops), "FMA GFLOP/s %g", p.fma_gflops);
    CHECK(p.bandwidth_gbs > 0.0 && isfinite(p.bandwidth_gbs), "bandwidth GB/s %g", p.bandwidth_gbs);
    CHECK(p.fma_ms > 0.0 && isfinite(p.fma_ms) && p.bw_ms > 0.0 && isfinite(p.bw_ms), "times %g %g", p.fma_ms,
          p.bw_ms);
    CHECK(scl_measure_peak(NULL, &p) == SCL_ERR_INVALID_ARGUMENT, "NULL runtime");
    CHECK(scl_measure_peak(rt, NULL) == SCL_ERR_INVALID_ARGUMENT, "NULL output");
}

int main(void)
{
    scl_runtime *rt = NULL;
    if (scl_runtime_create(getenv("SPARSECL_TEST_DEVICE"), &rt) != SCL_OK) {
        fprintf(stderr, "no OpenCL device: %s\n", rt ? scl_last_error_message(rt) : "");
        scl_runtime_destroy(rt);
        return EXIT_FAILURE;
    }
    printf("device: %s\n", scl_runtime_device(rt)->name);
    /* B*H > 1, H_kv < H, N_q != N_k, lengths that are multiples of nothing useful. */
    test_case(rt, 2, 4, 2, 37, 53, 32, 0, SCL_LAYOUT_BHND);
    test_case(rt, 2, 4, 2, 37, 53, 32, 1, SCL_LAYOUT_BHND);
    test_case(rt, 1, 6, 3, 101, 67, 64, 1, SCL_LAYOUT_BHND);
    test_case(rt, 2, 3, 1, 45, 83, 16, 0, SCL_LAYOUT_BNHD);
    test_case(rt, 1, 2, 1, 70, 29, 80, 1, SCL_LAYOUT_BNHD);
    test_case(rt, 1, 1, 1, 1, 1, 16, 1, SCL_LAYOUT_BHND);
    /* Large batches run in chunks (CLBlast's 32-bit offsets): force chunks of 3 and of 1 item. */
    setenv("SPARSECL_BASELINE_CHUNK", "3", 1);
    test_case(rt, 2, 4, 2, 37, 53, 32, 1, SCL_LAYOUT_BHND);
    setenv("SPARSECL_BASELINE_CHUNK", "1", 1);
    test_case(rt, 2, 3, 1, 45, 83, 16, 0, SCL_LAYOUT_BNHD);
    unsetenv("SPARSECL_BASELINE_CHUNK");
    test_softmax_rows(rt, 300, -3, 64);
    test_softmax_rows(rt, 53, -3, 64);
    test_softmax_rows(rt, 37, 100, 64);
    test_softmax_rows(rt, 1, 0, 8);
    test_refusals(rt);
    test_peak(rt);
    scl_runtime_destroy(rt);
    return check_summary("baseline");
}
