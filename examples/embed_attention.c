/* Example 1: an app that owns its OpenCL context and queue runs sparsecl's forward and backward
 * pass for the Sparse Transformer's `causal & strided(128)` pattern on its own buffers. */
#include <sparsecl.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK_SCL(call)                                                                                      \
    do {                                                                                                     \
        scl_status s_ = (call);                                                                              \
        if (s_ != SCL_OK) {                                                                                  \
            fprintf(stderr, "%s: %s: %s\n", #call, scl_status_string(s_), scl_last_error_message(rt));       \
            status = 1;                                                                                      \
            goto done;                                                                                       \
        }                                                                                                    \
    } while (0)

int main(int argc, char **argv)
{
    const int64_t n = argc > 1 ? atoll(argv[1]) : 1024;
    int status = 0;
    /* The app's own OpenCL objects: first platform, first device. */
    cl_platform_id platform;
    cl_device_id device;
    cl_int err = clGetPlatformIDs(1, &platform, NULL);
    if (err == CL_SUCCESS) err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "no OpenCL device (%d)\n", err);
        return 1;
    }
    cl_context ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cl_command_queue queue = clCreateCommandQueue(ctx, device, 0, &err);

    scl_runtime *rt = NULL;
    scl_pattern *pattern = NULL;
    scl_plan *plan = NULL;
    cl_mem buf[10] = {NULL};
    float *host = NULL;
    printf("sparsecl %s\n", scl_version());
    CHECK_SCL(scl_runtime_create_from_cl(ctx, queue, &rt));
    CHECK_SCL(scl_pattern_create(rt, "causal & strided(128)", &pattern));
    scl_shape shape = {.batch = 1, .heads = 4, .seq_q = n, .head_dim = 64, .block = 64};
    CHECK_SCL(scl_plan_create(rt, pattern, &shape, SCL_F32, &plan));

    /* q, k, v, o, lse, dout, dq, dk, dv: the app's buffers. */
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(plan, &sz);
    size_t bytes[9] = {sz.q, sz.k, sz.v, sz.o, sz.lse, sz.o, sz.q, sz.k, sz.v};
    host = malloc(sz.q > sz.k ? sz.q : sz.k);
    for (int i = 0; i < 9; i++) {
        buf[i] = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes[i], NULL, &err);
        if (err != CL_SUCCESS) {
            fprintf(stderr, "clCreateBuffer: %d\n", err);
            status = 1;
            goto done;
        }
    }
    for (int i = 0; i < 6; i++) { /* inputs: q, k, v and dout */
        if (i == 3 || i == 4) continue;
        for (size_t j = 0; j < bytes[i] / 4; j++)
            host[j] = (float)((j * 2654435761u + i) % 1000) / 1000.0f - 0.5f;
        clEnqueueWriteBuffer(queue, buf[i], CL_TRUE, 0, bytes[i], host, 0, NULL, NULL);
    }
    cl_event fwd = NULL, bwd = NULL;
    CHECK_SCL(scl_plan_forward(plan, buf[0], buf[1], buf[2], buf[3], buf[4], 0, NULL, &fwd));
    scl_status bst = scl_plan_backward(plan, buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7],
                                       buf[8], 1, &fwd, &bwd);
    clReleaseEvent(fwd);
    CHECK_SCL(bst);
    clWaitForEvents(1, &bwd);
    clReleaseEvent(bwd);
    clEnqueueReadBuffer(queue, buf[6], CL_TRUE, 0, sz.q, host, 0, NULL, NULL);
    double sum = 0;
    for (size_t j = 0; j < sz.q / 4; j++)
        sum += host[j];
    scl_plan_stats st;
    scl_plan_get_stats(plan, &st);
    printf("N=%lld, causal & strided(128): density %.4f; forward + backward done, sum(dQ) = %.6g\n",
           (long long)n, st.density, sum);
done:
    for (int i = 0; i < 10; i++)
        if (buf[i]) clReleaseMemObject(buf[i]);
    free(host);
    scl_plan_destroy(plan);
    scl_pattern_destroy(pattern);
    scl_runtime_destroy(rt);
    clReleaseCommandQueue(queue);
    clReleaseContext(ctx);
    return status;
}
