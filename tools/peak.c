/* Device ceilings: clpeak-style fp32 multiply-add throughput and global-memory bandwidth. */
#include "peak.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define PEAK_RUNS 4                /* timed launches after warm-up; the best one counts */
#define PEAK_ITEMS_PER_CU 2048     /* enough work-items to fill a GPU compute unit twice over */
#define PEAK_MAD_LANES_PER_ITER 64 /* 8 chains x UNROLL 8 in kernels/peak.cl, times the width */
#define PEAK_READS 16              /* READS in kernels/peak.cl */
#define PEAK_MIB ((size_t)1 << 20)
#define PEAK_MAX_BYTES (256 * PEAK_MIB)
#define PEAK_MIN_BYTES (16 * PEAK_MIB)

static double host_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One launch, waited for; device time from its profiling event, or host time when the queue
 * (a caller's, through scl_runtime_create_from_cl) has no profiling. */
static scl_status launch(scl_runtime *rt, cl_kernel k, size_t global, size_t local, const char *name,
                         double *ms)
{
    cl_event ev = NULL;
    double t0 = host_ms();
    cl_int err = clEnqueueNDRangeKernel(rt->queue, k, 1, NULL, &global, &local, 0, NULL, &ev);
    if (err != CL_SUCCESS) return scli_fail_cl(rt, "clEnqueueNDRangeKernel", err, name);
    err = clWaitForEvents(1, &ev);
    double t1 = host_ms();
    if (err != CL_SUCCESS) {
        clReleaseEvent(ev);
        return scli_fail_cl(rt, "clWaitForEvents", err, name);
    }
    cl_ulong start = 0, end = 0;
    if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL) == CL_SUCCESS &&
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL) == CL_SUCCESS &&
        end > start)
        *ms = (double)(end - start) * 1e-6;
    else
        *ms = t1 - t0;
    clReleaseEvent(ev);
    if (!(*ms > 0.0)) *ms = 1e-6; /* a timer too coarse to see the launch: avoid dividing by zero */
    return SCL_OK;
}

/* Largest power of two <= min(cap, what the kernel allows on this device). */
static size_t pick_local(scl_runtime *rt, cl_kernel k, size_t cap)
{
    size_t max = 0;
    if (clGetKernelWorkGroupInfo(k, rt->dev.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof max, &max, NULL) !=
            CL_SUCCESS ||
        max == 0)
        max = rt->dev.max_work_group_size ? rt->dev.max_work_group_size : 1;
    if (max > cap) max = cap;
    size_t p = 1;
    while (p * 2 <= max)
        p *= 2;
    return p;
}

static scl_status create_kernel(scl_runtime *rt, cl_program prog, const char *name, cl_kernel *out)
{
    cl_int err;
    *out = clCreateKernel(prog, name, &err);
    if (err != CL_SUCCESS) {
        *out = NULL;
        return scli_fail_cl(rt, "clCreateKernel", err, name);
    }
    return SCL_OK;
}

static scl_status set_arg(scl_runtime *rt, cl_kernel k, cl_uint i, size_t size, const void *v,
                          const char *name)
{
    cl_int err = clSetKernelArg(k, i, size, v);
    return err == CL_SUCCESS ? SCL_OK : scli_fail_cl(rt, "clSetKernelArg", err, name);
}

/* One multiply-add kernel: calibrate the loop count to about target_ms, then the best of
 * PEAK_RUNS launches. */
static scl_status measure_mad(scl_runtime *rt, cl_program prog, const char *name, int width, cl_mem out,
                              size_t global, double target_ms, double *gflops, double *best_ms)
{
    cl_kernel k = NULL;
    scl_status st = create_kernel(rt, prog, name, &k);
    if (st != SCL_OK) return st;
    size_t local = pick_local(rt, k, 256);
    const float mul = 0.95f, add = 0.01f; /* fixed point 0.2: no overflow, no denormals */
    int iters = 1;
    double ms = 0.0;
    if ((st = set_arg(rt, k, 0, sizeof out, &out, name)) != SCL_OK ||
        (st = set_arg(rt, k, 1, sizeof mul, &mul, name)) != SCL_OK ||
        (st = set_arg(rt, k, 2, sizeof add, &add, name)) != SCL_OK ||
        (st = set_arg(rt, k, 3, sizeof iters, &iters, name)) != SCL_OK)
        goto done;
    /* Warm-up: the first launch may include just-in-time compilation (PoCL builds its
     * work-group functions at the first enqueue). */
    if ((st = launch(rt, k, global, local, name, &ms)) != SCL_OK) goto done;
    iters = 16;
    if ((st = set_arg(rt, k, 3, sizeof iters, &iters, name)) != SCL_OK ||
        (st = launch(rt, k, global, local, name, &ms)) != SCL_OK)
        goto done;
    double scaled = iters * target_ms / ms;
    iters = scaled < 16.0 ? 16 : scaled > (double)(1 << 22) ? (1 << 22) : (int)scaled;
    if ((st = set_arg(rt, k, 3, sizeof iters, &iters, name)) != SCL_OK) goto done;
    double flops = 2.0 * (double)global * iters * PEAK_MAD_LANES_PER_ITER * width;
    *gflops = 0.0;
    for (int r = 0; r < PEAK_RUNS; r++) {
        if ((st = launch(rt, k, global, local, name, &ms)) != SCL_OK) goto done;
        double g = flops / (ms * 1e6);
        if (g > *gflops) {
            *gflops = g;
            *best_ms = ms;
        }
    }
done:
    clReleaseKernel(k);
    return st;
}

static scl_status measure_fma(scl_runtime *rt, cl_program prog, scl_peak *out)
{
    const int cu = rt->dev.compute_units ? (int)rt->dev.compute_units : 1;
    size_t global = (size_t)cu * PEAK_ITEMS_PER_CU;
    /* A CPU's launches are long anyway; a GPU's are kept short of display watchdogs. */
    double target_ms = (rt->dev.type & CL_DEVICE_TYPE_GPU) ? 10.0 : 25.0;
    cl_int err;
    cl_mem buf = clCreateBuffer(rt->ctx, CL_MEM_WRITE_ONLY, global * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) return scli_fail_cl(rt, "clCreateBuffer", err, "peak FMA output");
    static const struct {
        const char *name;
        int width;
    } variants[] = {{"peak_mad_f1", 1}, {"peak_mad_f4", 4}, {"peak_mad_f8", 8}, {"peak_mad_f16", 16}};
    scl_status st = SCL_OK;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0] && st == SCL_OK; i++) {
        double g = 0.0, ms = 0.0;
        st = measure_mad(rt, prog, variants[i].name, variants[i].width, buf, global, target_ms, &g, &ms);
        if (st == SCL_OK && g > out->fma_gflops) {
            out->fma_gflops = g;
            out->fma_ms = ms;
        }
    }
    clReleaseMemObject(buf);
    return st;
}

static int is_alloc_failure(cl_int err)
{
    return err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
           err == CL_OUT_OF_HOST_MEMORY || err == CL_INVALID_BUFFER_SIZE;
}

/* Source and destination buffers of `*bytes` each, touched once (drivers may allocate lazily);
 * halves the size while the device refuses it. */
static scl_status alloc_pair(scl_runtime *rt, size_t *bytes, cl_mem *src, cl_mem *dst)
{
    *src = *dst = NULL;
    for (;;) {
        cl_int err, err2 = CL_SUCCESS;
        const char *call = "clCreateBuffer";
        *src = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, *bytes, NULL, &err);
        if (err == CL_SUCCESS) *dst = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, *bytes, NULL, &err);
        if (err == CL_SUCCESS) {
            const float one = 1.0f, zero = 0.0f;
            call = "clEnqueueFillBuffer";
            err = clEnqueueFillBuffer(rt->queue, *src, &one, sizeof one, 0, *bytes, 0, NULL, NULL);
            if (err == CL_SUCCESS)
                err = clEnqueueFillBuffer(rt->queue, *dst, &zero, sizeof zero, 0, *bytes, 0, NULL, NULL);
            err2 = clFinish(rt->queue);
            if (err == CL_SUCCESS) {
                err = err2;
                call = "clFinish";
            }
        }
        if (err == CL_SUCCESS) return SCL_OK;
        if (*src) clReleaseMemObject(*src);
        if (*dst) clReleaseMemObject(*dst);
        *src = *dst = NULL;
        if (!is_alloc_failure(err) || *bytes / 2 < PEAK_MIN_BYTES) {
            char ctx[128];
            snprintf(ctx, sizeof ctx, "peak bandwidth buffers of %zu bytes", *bytes);
            return scli_fail_cl(rt, call, err, ctx);
        }
        *bytes /= 2;
    }
}

static scl_status measure_bw(scl_runtime *rt, cl_program prog, scl_peak *out)
{
    size_t bytes = PEAK_MAX_BYTES;
    size_t quarter = (size_t)(rt->dev.max_alloc_bytes / 4);
    if (quarter < bytes) bytes = quarter;
    /* Whole MiB keeps both launch sizes multiples of any work-group size up to 4096. */
    bytes = bytes / PEAK_MIB * PEAK_MIB;
    if (bytes < PEAK_MIN_BYTES) bytes = PEAK_MIN_BYTES;
    cl_mem src = NULL, dst = NULL;
    cl_kernel copy = NULL, read = NULL;
    scl_status st = alloc_pair(rt, &bytes, &src, &dst);
    if (st != SCL_OK) return st;
    if ((st = create_kernel(rt, prog, "peak_copy_f4", &copy)) != SCL_OK ||
        (st = create_kernel(rt, prog, "peak_read_f4", &read)) != SCL_OK ||
        (st = set_arg(rt, copy, 0, sizeof src, &src, "peak_copy_f4")) != SCL_OK ||
        (st = set_arg(rt, copy, 1, sizeof dst, &dst, "peak_copy_f4")) != SCL_OK ||
        (st = set_arg(rt, read, 0, sizeof src, &src, "peak_read_f4")) != SCL_OK ||
        (st = set_arg(rt, read, 1, sizeof dst, &dst, "peak_read_f4")) != SCL_OK) /* dst as the small output */
        goto done;

    size_t n4 = bytes / 16;
    struct {
        cl_kernel k;
        const char *name;
        size_t global;
        double bytes_moved;
    } runs[2] = {{copy, "peak_copy_f4", n4, 2.0 * (double)bytes},
                 {read, "peak_read_f4", n4 / PEAK_READS, (double)bytes + (double)(n4 / PEAK_READS) * 4.0}};
    for (int v = 0; v < 2; v++) {
        size_t local = pick_local(rt, runs[v].k, 256);
        double ms;
        if ((st = launch(rt, runs[v].k, runs[v].global, local, runs[v].name, &ms)) != SCL_OK) goto done;
        for (int r = 0; r < PEAK_RUNS; r++) {
            if ((st = launch(rt, runs[v].k, runs[v].global, local, runs[v].name, &ms)) != SCL_OK) goto done;
            double gbs = runs[v].bytes_moved / (ms * 1e6);
            if (gbs > out->bandwidth_gbs) {
                out->bandwidth_gbs = gbs;
                out->bw_ms = ms;
            }
        }
    }
done:
    if (copy) clReleaseKernel(copy);
    if (read) clReleaseKernel(read);
    clReleaseMemObject(src);
    clReleaseMemObject(dst);
    return st;
}

scl_status scl_measure_peak(scl_runtime *rt, scl_peak *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!rt || !out) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_measure_peak: NULL argument");
    cl_int err = clFinish(rt->queue);
    if (err != CL_SUCCESS) return scli_fail_cl(rt, "clFinish", err, "before the peak measurement");
    cl_program prog = NULL;
    scl_status st = scl_build_program(rt, "peak.cl", "", &prog, NULL);
    if (st != SCL_OK) return st;
    scl_peak p;
    memset(&p, 0, sizeof p);
    st = measure_fma(rt, prog, &p);
    if (st == SCL_OK) st = measure_bw(rt, prog, &p);
    clReleaseProgram(prog);
    if (st == SCL_OK) *out = p;
    return st;
}
