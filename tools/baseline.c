/* Dense attention baseline: CLBlast batched SGEMM, row softmax, batched SGEMM. */
#include "baseline.h"

#include "shape.h"

#include <clblast_c.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct scl_baseline {
    scl_runtime *rt;
    scl_shape shape; /* normalised */
    int causal;
    size_t batch_count; /* B * H */
    size_t chunk;       /* items per CLBlast call: S offsets must fit CLBlast's 32-bit integers */
    /* CLBlast takes no wait list, so its calls are ordered by running them on an in-order,
     * profiling queue: the runtime's own, or one made here when the caller's is out of order. */
    cl_command_queue queue;
    bool own_queue;
    cl_mem s;
    cl_program prog;
    cl_kernel softmax;
    size_t local; /* softmax work-group size; one group per row */
    /* Per batch*head element offsets: Q/O, K/V (grouped-query mapping), S. */
    size_t *q_off, *kv_off, *s_off;
    float *ones, *zeros; /* alphas and betas, one per item */
};

static double host_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The baseline ignores the layout block size; accept 0 for it so callers need not invent one. */
static scl_status normalize(const scl_shape *in, scl_shape *out, char *msg, size_t len)
{
    if (!in) return scli_shape_normalize(NULL, out, msg, len);
    scl_shape s = *in;
    if (s.block == 0) s.block = 64;
    return scli_shape_normalize(&s, out, msg, len);
}

/* CLBlast's batched kernels take 32-bit element offsets, so S holds as many (batch, head) items as
 * keep every offset below 2^31 elements: at least one item, whose N_q x N_k scores it materializes;
 * larger batches run chunk by chunk through the same buffer. */
static size_t chunk_items(const scl_shape *s)
{
    double per = (double)s->seq_q * (double)s->seq_k, items = (double)s->batch * s->heads;
    double fit = floor(2147483647.0 / per);
    /* Tests shrink the chunk to exercise the multi-chunk path on small shapes. */
    const char *env = getenv("SPARSECL_BASELINE_CHUNK");
    if (env && atof(env) >= 1 && atof(env) < fit) fit = floor(atof(env));
    if (fit < 1) fit = 1;
    return (size_t)(fit < items ? fit : items);
}

static double scores_bytes_d(const scl_shape *s)
{
    return (double)chunk_items(s) * (double)s->seq_q * (double)s->seq_k * sizeof(float);
}

size_t scl_baseline_scores_bytes(const scl_shape *shape)
{
    scl_shape s;
    char msg[256];
    if (normalize(shape, &s, msg, sizeof msg) != SCL_OK) return SIZE_MAX;
    if (scores_bytes_d(&s) >= 0x1p63) return SIZE_MAX;
    return chunk_items(&s) * (size_t)s.seq_q * (size_t)s.seq_k * sizeof(float);
}

static const char *blast_status_name(CLBlastStatusCode s)
{
    switch (s) {
    case CLBlastNotImplemented:
        return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA:
        return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB:
        return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC:
        return "CLBlastInvalidMatrixC";
    case CLBlastInvalidDimension:
        return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA:
        return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB:
        return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC:
        return "CLBlastInvalidLeadDimC";
    case CLBlastInsufficientMemoryA:
        return "CLBlastInsufficientMemoryA (buffer A too small)";
    case CLBlastInsufficientMemoryB:
        return "CLBlastInsufficientMemoryB (buffer B too small)";
    case CLBlastInsufficientMemoryC:
        return "CLBlastInsufficientMemoryC (buffer C too small)";
    case CLBlastInsufficientMemoryTemp:
        return "CLBlastInsufficientMemoryTemp";
    case CLBlastInvalidBatchCount:
        return "CLBlastInvalidBatchCount";
    case CLBlastInvalidLocalMemUsage:
        return "CLBlastInvalidLocalMemUsage (not enough local memory)";
    case CLBlastNoHalfPrecision:
        return "CLBlastNoHalfPrecision";
    case CLBlastNoDoublePrecision:
        return "CLBlastNoDoublePrecision";
    case CLBlastDatabaseError:
        return "CLBlastDatabaseError";
    case CLBlastUnknownError:
        return "CLBlastUnknownError";
    case CLBlastUnexpectedError:
        return "CLBlastUnexpectedError";
    default:
        break;
    }
    /* The remaining codes are OpenCL's own. */
    return (int)s > -1000 ? scli_cl_error_name((cl_int)s) : "unknown CLBlast status";
}

static scl_status blast_fail(scl_runtime *rt, CLBlastStatusCode s, const char *step)
{
    scl_status st = SCL_ERR_OPENCL;
    if (s == CLBlastTempBufferAllocFailure || s == CLBlastOpenCLOutOfResources ||
        s == CLBlastOpenCLOutOfHostMemory || s == CLBlastInvalidBufferSize)
        st = SCL_ERR_OUT_OF_MEMORY;
    return scli_fail(rt, st, "CLBlastSgemmBatched failed: status %d (%s) computing %s", (int)s,
                    blast_status_name(s), step);
}

void scl_baseline_destroy(scl_baseline *b)
{
    if (!b) return;
    if (b->softmax) clReleaseKernel(b->softmax);
    if (b->own_queue && b->queue) clReleaseCommandQueue(b->queue);
    if (b->prog) clReleaseProgram(b->prog);
    if (b->s) clReleaseMemObject(b->s);
    free(b->q_off);
    free(b->kv_off);
    free(b->s_off);
    free(b->ones);
    free(b->zeros);
    free(b);
}

static scl_status check_fits(scl_runtime *rt, const scl_shape *s)
{

    const scl_device_info *d = &rt->dev;
    double need = scores_bytes_d(s);
    if (need <= (double)d->max_alloc_bytes && need <= (double)d->global_mem_bytes && need < 0x1p63) {
        /* One head's scores are addressed with CLBlast's 32-bit offsets: beyond 2^31 elements its
         * kernels would index out of bounds, so refuse like an allocation that does not fit. */
        if ((double)s->seq_q * (double)s->seq_k > 2147483647.0)
            return scli_fail(
                rt, SCL_ERR_OUT_OF_MEMORY,
                "dense baseline: one head's scores (N_q=%lld x N_k=%lld) exceed the 2^31 elements that "
                "CLBlast's 32-bit offsets can address",
                (long long)s->seq_q, (long long)s->seq_k);
        return SCL_OK;
    }
    return scli_fail(
        rt, SCL_ERR_OUT_OF_MEMORY,
        "dense baseline: the scores S [%zu of B*H=%d, N_q=%lld, N_k=%lld] fp32 need %.0f bytes (%.2f GiB), "
        "but "
        "%s allows at most %llu bytes (%.2f GiB) per allocation and has %llu bytes (%.2f GiB) of global "
        "memory",
        chunk_items(s), s->batch * s->heads, (long long)s->seq_q, (long long)s->seq_k, need,
        need / 1073741824.0, d->name, (unsigned long long)d->max_alloc_bytes,
        d->max_alloc_bytes / 1073741824.0, (unsigned long long)d->global_mem_bytes,
        d->global_mem_bytes / 1073741824.0);
}

static scl_status setup_softmax(scl_baseline *b)
{
    scl_runtime *rt = b->rt;
    scl_status st = scl_build_program(rt, "softmax_rows.cl", "", &b->prog, NULL);
    if (st != SCL_OK) return st;
    cl_int err;
    b->softmax = clCreateKernel(b->prog, "softmax_rows", &err);
    if (err != CL_SUCCESS) {
        b->softmax = NULL;
        return scli_fail_cl(rt, "clCreateKernel", err, "softmax_rows");
    }
    size_t max = 0;
    if (clGetKernelWorkGroupInfo(b->softmax, rt->dev.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof max, &max,
                                 NULL) != CL_SUCCESS ||
        max == 0)
        max = rt->dev.max_work_group_size ? rt->dev.max_work_group_size : 1;
    /* Power of two (the tree reduction needs it), no wider than the row needs. */
    size_t cap = 256;
    while (cap > 1 && (int64_t)(cap / 2) >= b->shape.seq_k)
        cap /= 2;
    if (max > cap) max = cap;
    if ((size_t)rt->dev.local_mem_bytes / sizeof(float) < max)
        max = (size_t)rt->dev.local_mem_bytes / sizeof(float);
    b->local = 1;
    while (b->local * 2 <= max)
        b->local *= 2;
    const cl_long nq = b->shape.seq_q, nk = b->shape.seq_k, diag = 0;
    const cl_int causal = b->causal;
    const float scale = b->shape.scale;
    cl_uint i = 0;
    if ((err = clSetKernelArg(b->softmax, i++, sizeof b->s, &b->s)) != CL_SUCCESS ||
        (err = clSetKernelArg(b->softmax, i++, sizeof nq, &nq)) != CL_SUCCESS ||
        (err = clSetKernelArg(b->softmax, i++, sizeof nk, &nk)) != CL_SUCCESS ||
        (err = clSetKernelArg(b->softmax, i++, sizeof scale, &scale)) != CL_SUCCESS ||
        (err = clSetKernelArg(b->softmax, i++, sizeof causal, &causal)) != CL_SUCCESS ||
        (err = clSetKernelArg(b->softmax, i++, sizeof diag, &diag)) != CL_SUCCESS ||
        (err = clSetKernelArg(b->softmax, i++, b->local * sizeof(float), NULL)) != CL_SUCCESS)
        return scli_fail_cl(rt, "clSetKernelArg", err, "softmax_rows");
    return SCL_OK;
}

scl_status scl_baseline_create(scl_runtime *rt, const scl_shape *shape, scl_dtype dtype, int causal,
                               scl_baseline **out)
{
    if (out) *out = NULL;
    if (!rt || !shape || !out)
        return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_baseline_create: NULL argument");
    if (dtype == SCL_F16)
        return scli_fail(rt, SCL_ERR_UNSUPPORTED,
                        "dense baseline: float16 is not supported; the baseline computes in float32 only "
                        "(CLBlast's half-precision GEMM, Hgemm, needs cl_khr_fp16, which %s %s)",
                        rt->dev.name, rt->dev.fp16 ? "has, but the baseline does not use it" : "lacks");
    if (dtype != SCL_F32)
        return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "dense baseline: unknown dtype %d", (int)dtype);
    scl_shape s;
    char msg[512];
    scl_status st = normalize(shape, &s, msg, sizeof msg);
    if (st != SCL_OK) return scli_fail(rt, st, "dense baseline: %s", msg);
    if ((st = check_fits(rt, &s)) != SCL_OK) return st;

    scl_baseline *b = calloc(1, sizeof *b);
    if (!b) return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "dense baseline: out of host memory");
    b->rt = rt;
    b->shape = s;
    b->causal = causal != 0;
    b->queue = rt->queue;
    if (rt->out_of_order) {
        cl_int qerr;
        b->queue = clCreateCommandQueue(rt->ctx, rt->dev.device, CL_QUEUE_PROFILING_ENABLE, &qerr);
        if (qerr != CL_SUCCESS) {
            b->queue = NULL;
            scl_baseline_destroy(b);
            return scli_fail_cl(rt, "clCreateCommandQueue", qerr, "in-order queue for the dense baseline");
        }
        b->own_queue = true;
    }
    b->batch_count = (size_t)s.batch * (size_t)s.heads;
    b->chunk = chunk_items(&s);
    size_t n = b->batch_count;
    b->q_off = malloc(n * sizeof *b->q_off);
    b->kv_off = malloc(n * sizeof *b->kv_off);
    b->s_off = malloc(n * sizeof *b->s_off);
    b->ones = malloc(n * sizeof *b->ones);
    b->zeros = malloc(n * sizeof *b->zeros);
    if (!b->q_off || !b->kv_off || !b->s_off || !b->ones || !b->zeros) {
        scl_baseline_destroy(b);
        return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "dense baseline: out of host memory for %zu batch offsets",
                        n);
    }
    scli_strides qs, kvs;
    scli_shape_strides(&s, &qs, &kvs);
    const int group = s.heads / s.kv_heads;
    for (int bi = 0; bi < s.batch; bi++)
        for (int h = 0; h < s.heads; h++) {
            size_t i = (size_t)bi * s.heads + h;
            b->q_off[i] = (size_t)(bi * qs.b + h * qs.h);
            b->kv_off[i] = (size_t)(bi * kvs.b + (h / group) * kvs.h);
            b->s_off[i] = (i % b->chunk) * (size_t)s.seq_q * (size_t)s.seq_k;
            b->ones[i] = 1.0f;
            b->zeros[i] = 0.0f;
        }

    cl_int err;
    size_t bytes = scl_baseline_scores_bytes(&s);
    b->s = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        b->s = NULL;
        scl_baseline_destroy(b);
        snprintf(msg, sizeof msg, "dense baseline scores S, %zu bytes", bytes);
        return scli_fail_cl(rt, "clCreateBuffer", err, msg);
    }
    if ((st = setup_softmax(b)) != SCL_OK) {
        scl_baseline_destroy(b);
        return st;
    }
    *out = b;
    return SCL_OK;
}

static scl_status check_buffer(scl_runtime *rt, cl_mem m, const char *name, int64_t elems)
{
    if (!m) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "dense baseline: buffer %s is NULL", name);
    size_t size = 0;
    cl_int err = clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS) return scli_fail_cl(rt, "clGetMemObjectInfo", err, name);
    double need = (double)elems * sizeof(float);
    if ((double)size < need)
        return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT,
                        "dense baseline: buffer %s has %zu bytes, the shape needs %.0f", name, size, need);
    return SCL_OK;
}

static int event_time(cl_event e, cl_profiling_info what, cl_ulong *t)
{
    return e && clGetEventProfilingInfo(e, what, sizeof *t, t, NULL) == CL_SUCCESS && *t != 0;
}

scl_status scl_baseline_run(scl_baseline *b, cl_mem q, cl_mem k, cl_mem v, cl_mem o, double *ms)
{
    if (ms) *ms = 0.0;
    if (!b) return SCL_ERR_INVALID_ARGUMENT;
    scl_runtime *rt = b->rt;
    const scl_shape *s = &b->shape;
    scl_status st;
    if ((st = check_buffer(rt, q, "q", scli_shape_q_elems(s))) != SCL_OK ||
        (st = check_buffer(rt, k, "k", scli_shape_kv_elems(s))) != SCL_OK ||
        (st = check_buffer(rt, v, "v", scli_shape_kv_elems(s))) != SCL_OK ||
        (st = check_buffer(rt, o, "o", scli_shape_q_elems(s))) != SCL_OK)
        return st;
    scli_strides qs, kvs;
    scli_shape_strides(s, &qs, &kvs);
    const size_t nq = (size_t)s->seq_q, nk = (size_t)s->seq_k, d = (size_t)s->head_dim;
    cl_command_queue queue = b->queue;
    cl_event ev[4] = {NULL, NULL, NULL, NULL}; /* marker, S = QK^T, softmax, O = PV */

    /* Earlier work (the caller's uploads) must not count: drain the queue, then mark the start.
     * The marker stands for the first CLBlast kernel, whose event CLBlast does not return. */
    cl_int err = clFinish(rt->queue); /* the caller's work on the inputs, on whichever queue */
    if (err == CL_SUCCESS && queue != rt->queue) err = clFinish(queue);
    if (err != CL_SUCCESS) return scli_fail_cl(rt, "clFinish", err, "before the dense baseline");
    double h0 = host_ms();
    if (clEnqueueMarkerWithWaitList(queue, 0, NULL, &ev[0]) != CL_SUCCESS) ev[0] = NULL;

    CLBlastStatusCode bs;
    for (size_t c0 = 0; c0 < b->batch_count; c0 += b->chunk) {
        const size_t n = b->batch_count - c0 < b->chunk ? b->batch_count - c0 : b->chunk;
        /* Keep the first chunk's S = Q K^T event (the start) and the last chunk's O = P V event. */
        if (c0 > 0) {
            for (int i = 2; i < 4; i++)
                if (ev[i]) clReleaseEvent(ev[i]), ev[i] = NULL;
        }
        cl_event *first = c0 == 0 ? &ev[1] : NULL;
        bs = CLBlastSgemmBatched(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, nq, nk, d,
                                 b->ones, q, b->q_off + c0, (size_t)qs.n, k, b->kv_off + c0, (size_t)kvs.n,
                                 b->zeros, b->s, b->s_off + c0, nk, n, &queue, first);
        if (bs != CLBlastSuccess) {
            st = blast_fail(rt, bs, "S = Q K^T");
            if (first) ev[1] = NULL;
            goto done;
        }
        const size_t global[2] = {nq * b->local, n}, local[2] = {b->local, 1};
        err = clEnqueueNDRangeKernel(queue, b->softmax, 2, NULL, global, local, 0, NULL, &ev[2]);
        if (err != CL_SUCCESS) {
            ev[2] = NULL;
            st = scli_fail_cl(rt, "clEnqueueNDRangeKernel", err, "softmax_rows");
            goto done;
        }
        bs = CLBlastSgemmBatched(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, nq, d, nk,
                                 b->ones, b->s, b->s_off + c0, nk, v, b->kv_off + c0, (size_t)kvs.n, b->zeros,
                                 o, b->q_off + c0, (size_t)qs.n, n, &queue, &ev[3]);
        if (bs != CLBlastSuccess) {
            st = blast_fail(rt, bs, "O = P V");
            ev[3] = NULL;
            goto done;
        }
    }
    err = clFinish(queue);
    double h1 = host_ms();
    if (err != CL_SUCCESS) {
        st = scli_fail_cl(rt, "clFinish", err, "dense baseline");
        goto done;
    }
    if (ms) {
        cl_ulong t0 = 0, t1 = 0, t;
        /* Start: the marker's end (all earlier work done), else the first event we have. */
        if (event_time(ev[0], CL_PROFILING_COMMAND_END, &t)) t0 = t;
        for (int i = 1; i < 4; i++)
            if (event_time(ev[i], CL_PROFILING_COMMAND_START, &t) && (t0 == 0 || t < t0)) t0 = t;
        for (int i = 1; i < 4; i++)
            if (event_time(ev[i], CL_PROFILING_COMMAND_END, &t) && t > t1) t1 = t;
        *ms = t0 && t1 > t0 ? (double)(t1 - t0) * 1e-6 : h1 - h0;
    }
    st = SCL_OK;
done:
    if (st != SCL_OK) clFinish(queue); /* leave nothing running on our buffers */
    for (int i = 0; i < 4; i++)
        if (ev[i]) clReleaseEvent(ev[i]);
    return st;
}
