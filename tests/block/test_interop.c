/* Embedding in an app that owns OpenCL: runtime from the app's context and queue, tensors as
 * sub-buffers at offsets inside one allocation, user events in the wait list, returned events,
 * and an out-of-order queue (plans and the block). */
#include "../check.h"
#include "attn_check.h"
#include "sparsecl_block.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const double TOL = 1e-4;
static cl_context ctx;
static cl_device_id dev;

static size_t round_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Q, K, V, O of a plan as sub-buffers of one buffer, each at an aligned, non-zero offset; the
 * plan's forward waits for a user event, its event completes only after. */
static void sub_buffers_and_events(cl_command_queue queue, const char *what)
{
    scl_runtime *rt = NULL;
    CHECK(scl_runtime_create_from_cl(ctx, queue, &rt) == SCL_OK, "runtime from the app's context");
    if (!rt) return;
    const char *spec = "causal & strided(32)";
    scl_shape shape = {2, 4, 2, 75, 75, 32, 16, 0.0f, SCL_LAYOUT_BHND};
    scl_pattern *pat = NULL;
    scl_plan *plan = NULL;
    CHECK(scl_pattern_create(rt, spec, &pat) == SCL_OK &&
              scl_plan_create(rt, pat, &shape, SCL_F32, &plan) == SCL_OK,
          "plan: %s", scl_last_error_message(rt));
    if (!plan) {
        scl_pattern_destroy(pat);
        scl_runtime_destroy(rt);
        return;
    }
    scl_plan_sizes sz;
    scl_plan_tensor_sizes(plan, &sz);
    cl_uint align_bits = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
    size_t align = align_bits / 8 ? align_bits / 8 : 128;
    /* Layout of the app's arena: [pad][Q][pad][K][V][O]: every tensor starts at a non-zero offset. */
    size_t off[4], sizes[4] = {sz.q, sz.k, sz.v, sz.o}, total = align;
    for (int i = 0; i < 4; i++) {
        off[i] = total;
        total = round_up(total + sizes[i], align) + (i == 0 ? align : 0);
    }
    cl_int err;
    cl_mem arena = clCreateBuffer(ctx, CL_MEM_READ_WRITE, total, NULL, &err);
    CHECK(err == CL_SUCCESS, "arena of %zu bytes", total);
    cl_mem sub[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4 && err == CL_SUCCESS; i++) {
        cl_buffer_region r = {off[i], sizes[i]};
        sub[i] = clCreateSubBuffer(arena, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &r, &err);
        CHECK(err == CL_SUCCESS, "sub-buffer %d at offset %zu: %d", i, off[i], err);
    }
    size_t nq = sz.q / 4, nk = sz.k / 4;
    float *q = malloc(sz.q), *k = malloc(sz.k), *v = malloc(sz.v), *o = malloc(sz.o);
    fill_uniform(q, nq, 1, 1.0f), fill_uniform(k, nk, 2, 1.0f), fill_uniform(v, nk, 3, 1.0f);
    /* Poison around the tensors: the kernels must stay inside their sub-buffers. */
    float *poison = malloc(total);
    for (size_t i = 0; i < total / 4; i++)
        poison[i] = 12345.0f;
    if (err == CL_SUCCESS) {
        clEnqueueWriteBuffer(queue, arena, CL_TRUE, 0, total, poison, 0, NULL, NULL);
        const float *src[3] = {q, k, v};
        for (int i = 0; i < 3; i++)
            CHECK(clEnqueueWriteBuffer(queue, arena, CL_TRUE, off[i], sizes[i], src[i], 0, NULL, NULL) ==
                      CL_SUCCESS,
                  "upload %d", i);
        cl_event gate = clCreateUserEvent(ctx, &err), done = NULL;
        scl_status st = scl_plan_forward(plan, sub[0], sub[1], sub[2], sub[3], NULL, 1, &gate, &done);
        CHECK(st == SCL_OK && done, "forward on sub-buffers: %s", scl_last_error_message(rt));
        sleep_ms(50);
        cl_int status = CL_COMPLETE;
        if (done) clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
        CHECK(status != CL_COMPLETE, "%s: forward ran before its wait list completed", what);
        clSetUserEventStatus(gate, CL_COMPLETE);
        if (done) {
            CHECK(clWaitForEvents(1, &done) == CL_SUCCESS, "wait for the returned event");
            clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
            CHECK(status == CL_COMPLETE, "returned event complete");
        }
        float *back = malloc(total);
        CHECK(clEnqueueReadBuffer(queue, arena, CL_TRUE, 0, total, back, done ? 1 : 0, done ? &done : NULL,
                                  NULL) == CL_SUCCESS,
              "read back");
        memcpy(o, (char *)back + off[3], sz.o);
        scl_shape ns = shape;
        ns.scale = (float)(1.0 / sqrt(32.0));
        double e = attn_error(spec, &ns, q, k, v, o);
        CHECK(e >= 0 && e <= TOL, "%s: sub-buffer forward error %.3g", what, e);
        printf("%s: forward on sub-buffers at offsets %zu/%zu/%zu/%zu, gated by a user event: error %.3g\n",
               what, off[0], off[1], off[2], off[3], e);
        /* Bytes outside the four tensors are untouched. */
        size_t bad = 0;
        for (size_t i = 0; i < total / 4; i++) {
            size_t byte = i * 4;
            int inside = 0;
            for (int t = 0; t < 4; t++)
                inside |= byte >= off[t] && byte < off[t] + sizes[t];
            if (!inside && back[i] != 12345.0f) bad++;
        }
        CHECK(bad == 0, "%zu floats outside the sub-buffers changed", bad);
        free(back);
        if (done) clReleaseEvent(done);
        clReleaseEvent(gate);
    }
    for (int i = 0; i < 4; i++)
        if (sub[i]) clReleaseMemObject(sub[i]);
    if (arena) clReleaseMemObject(arena);
    free(q), free(k), free(v), free(o), free(poison);
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
    scl_runtime_destroy(rt);
}

/* The block on x and y sub-buffers of one allocation, its wait list a user event, run twice
 * back to back on different inputs (scratch reuse must be ordered on out-of-order queues). */
static void block_on_queue(cl_command_queue queue, const char *what)
{
    scl_runtime *rt = NULL;
    CHECK(scl_runtime_create_from_cl(ctx, queue, &rt) == SCL_OK, "runtime");
    if (!rt) return;
    const char *spec = "causal & strided(16)";
    scl_block_config cfg = {1, 50, 64, 2, 96, 16, 0};
    scl_block_weights w;
    make_weights(&cfg, 3, &w);
    scl_pattern *pat = NULL;
    scl_block *blk = NULL;
    CHECK(scl_pattern_create(rt, spec, &pat) == SCL_OK && scl_block_create(rt, pat, &cfg, &w, &blk) == SCL_OK,
          "block: %s", scl_last_error_message(rt));
    const size_t n = (size_t)cfg.seq * cfg.d_model, bytes = n * 4;
    cl_uint align_bits = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
    size_t align = align_bits / 8 ? align_bits / 8 : 128, slot = round_up(bytes, align);
    cl_int err;
    cl_mem arena = clCreateBuffer(ctx, CL_MEM_READ_WRITE, align + 4 * slot, NULL, &err);
    cl_mem sub[4];
    for (int i = 0; i < 4; i++) {
        cl_buffer_region r = {align + (size_t)i * slot, bytes};
        sub[i] = clCreateSubBuffer(arena, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &r, &err);
    }
    float *x[2] = {malloc(bytes), malloc(bytes)}, *y[2] = {malloc(bytes), malloc(bytes)};
    double *ref = malloc(n * 8);
    fill_uniform(x[0], n, 21, 1.0f);
    fill_uniform(x[1], n, 22, 2.0f);
    if (blk) {
        cl_event up[2], gate = clCreateUserEvent(ctx, &err), done[2] = {NULL, NULL}, rd[2];
        clEnqueueWriteBuffer(queue, sub[0], CL_FALSE, 0, bytes, x[0], 0, NULL, &up[0]);
        clEnqueueWriteBuffer(queue, sub[2], CL_FALSE, 0, bytes, x[1], 0, NULL, &up[1]);
        cl_event w0[2] = {up[0], gate};
        CHECK(scl_block_forward(blk, sub[0], sub[1], 2, w0, &done[0]) == SCL_OK, "block 1: %s",
              scl_last_error_message(rt));
        CHECK(scl_block_forward(blk, sub[2], sub[3], 1, &up[1], &done[1]) == SCL_OK, "block 2: %s",
              scl_last_error_message(rt));
        sleep_ms(50);
        cl_int status = CL_COMPLETE;
        clGetEventInfo(done[0], CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
        CHECK(status != CL_COMPLETE, "%s: block finished before its wait list", what);
        clSetUserEventStatus(gate, CL_COMPLETE);
        for (int i = 0; i < 2; i++)
            clEnqueueReadBuffer(queue, sub[2 * i + 1], CL_FALSE, 0, bytes, y[i], 1, &done[i], &rd[i]);
        CHECK(clWaitForEvents(2, rd) == CL_SUCCESS, "reads");
        for (int i = 0; i < 2; i++) {
            char msg[256];
            double worst = -1, scale = 0;
            if (reference_block(spec, &cfg, &w, x[i], ref, msg, sizeof msg) == 0)
                compare(y[i], ref, n, &worst, &scale);
            CHECK(worst >= 0 && worst <= TOL * scale, "%s: block run %d error %.3g of %.3g", what, i, worst,
                  scale);
            printf("%s: block run %d on sub-buffers: error %.3g relative to output scale\n", what, i,
                   worst / scale);
        }
        for (int i = 0; i < 2; i++)
            clReleaseEvent(up[i]), clReleaseEvent(done[i]), clReleaseEvent(rd[i]);
        clReleaseEvent(gate);
    }
    for (int i = 0; i < 4; i++)
        if (sub[i]) clReleaseMemObject(sub[i]);
    if (arena) clReleaseMemObject(arena);
    for (int i = 0; i < 2; i++)
        free(x[i]), free(y[i]);
    free(ref);
    free_weights(&w);
    scl_block_destroy(blk);
    scl_pattern_destroy(pat);
    scl_runtime_destroy(rt);
}

/* Plans on an out-of-order queue: uploads, three forwards of different plans that may run
 * concurrently, each chained to its upload by events, reads chained to the forwards. */
static void out_of_order_plans(cl_command_queue queue)
{
    scl_runtime *rt = NULL;
    CHECK(scl_runtime_create_from_cl(ctx, queue, &rt) == SCL_OK, "runtime");
    if (!rt) return;
    const char *specs[3] = {"causal", "local(16) | global(0)", "causal & strided(16)"};
    scl_shape shape = {1, 2, 2, 61, 61, 16, 8, 0.0f, SCL_LAYOUT_BNHD};
    scl_plan *plan[3] = {NULL, NULL, NULL};
    cl_mem buf[3][4];
    float *host[3][4];
    cl_event ev[3][5];
    scl_plan_sizes sz = {0};
    for (int p = 0; p < 3; p++) {
        scl_pattern *pat = NULL;
        CHECK(scl_pattern_create(rt, specs[p], &pat) == SCL_OK &&
                  scl_plan_create(rt, pat, &shape, SCL_F32, &plan[p]) == SCL_OK,
              "plan %s: %s", specs[p], scl_last_error_message(rt));
        scl_pattern_destroy(pat);
        if (!plan[p]) return;
        scl_plan_tensor_sizes(plan[p], &sz);
        size_t s[4] = {sz.q, sz.k, sz.v, sz.o};
        for (int t = 0; t < 4; t++) {
            cl_int err;
            buf[p][t] = clCreateBuffer(ctx, CL_MEM_READ_WRITE, s[t], NULL, &err);
            host[p][t] = malloc(s[t]);
            if (t < 3) {
                fill_uniform(host[p][t], s[t] / 4, 10u * p + t, 1.0f);
                clEnqueueWriteBuffer(queue, buf[p][t], CL_FALSE, 0, s[t], host[p][t], 0, NULL, &ev[p][t]);
            }
        }
    }
    for (int p = 0; p < 3; p++)
        CHECK(scl_plan_forward(plan[p], buf[p][0], buf[p][1], buf[p][2], buf[p][3], NULL, 3, ev[p],
                               &ev[p][3]) == SCL_OK,
              "out-of-order forward %d: %s", p, scl_last_error_message(rt));
    for (int p = 0; p < 3; p++)
        clEnqueueReadBuffer(queue, buf[p][3], CL_FALSE, 0, sz.o, host[p][3], 1, &ev[p][3], &ev[p][4]);
    cl_event all[3] = {ev[0][4], ev[1][4], ev[2][4]};
    CHECK(clWaitForEvents(3, all) == CL_SUCCESS, "reads done");
    for (int p = 0; p < 3; p++) {
        scl_shape ns = shape;
        ns.scale = 0.25f;
        double e = attn_error(specs[p], &ns, host[p][0], host[p][1], host[p][2], host[p][3]);
        CHECK(e >= 0 && e <= TOL, "out-of-order forward '%s' error %.3g", specs[p], e);
        printf("out-of-order queue: forward '%s' (BNHD) error %.3g\n", specs[p], e);
        for (int t = 0; t < 5; t++)
            clReleaseEvent(ev[p][t]);
        for (int t = 0; t < 4; t++)
            clReleaseMemObject(buf[p][t]), free(host[p][t]);
        scl_plan_destroy(plan[p]);
    }
    scl_runtime_destroy(rt);
}

/* The host-array backward on an out-of-order queue: its reads must wait for its kernels. The
 * gradients must equal those of the same plan on an in-order runtime. */
static void out_of_order_host_backward(cl_command_queue queue)
{
    scl_runtime *ooo = NULL, *ordered = NULL;
    CHECK(scl_runtime_create_from_cl(ctx, queue, &ooo) == SCL_OK && scl_runtime_create(NULL, &ordered) == SCL_OK,
          "runtimes");
    scl_shape shape = {1, 2, 1, 200, 200, 32, 32, 0.0f, SCL_LAYOUT_BHND};
    scl_runtime *rts[2] = {ooo, ordered};
    float *g[2][3] = {{NULL}};
    size_t n[3] = {0};
    for (int r = 0; r < 2 && rts[r]; r++) {
        scl_pattern *pat = NULL;
        scl_plan *plan = NULL;
        CHECK(scl_pattern_create(rts[r], "causal | global(3)", &pat) == SCL_OK &&
                  scl_plan_create(rts[r], pat, &shape, SCL_F32, &plan) == SCL_OK,
              "plan: %s", scl_last_error_message(rts[r]));
        scl_pattern_destroy(pat);
        if (!plan) break;
        scl_plan_sizes sz;
        scl_plan_tensor_sizes(plan, &sz);
        n[0] = sz.q / 4, n[1] = n[2] = sz.k / 4;
        float *q = malloc(sz.q), *k = malloc(sz.k), *v = malloc(sz.v), *o = malloc(sz.o), *lse = malloc(sz.lse),
              *dout = malloc(sz.o);
        for (int t = 0; t < 3; t++) g[r][t] = calloc(n[t], 4);
        fill_uniform(q, n[0], 1, 1.0f), fill_uniform(k, n[1], 2, 1.0f), fill_uniform(v, n[1], 3, 1.0f);
        fill_uniform(dout, n[0], 4, 1.0f);
        CHECK(scl_plan_forward_host(plan, q, k, v, o, lse) == SCL_OK &&
                  scl_plan_backward_host(plan, q, k, v, o, lse, dout, g[r][0], g[r][1], g[r][2]) == SCL_OK,
              "host forward + backward: %s", scl_last_error_message(rts[r]));
        free(q), free(k), free(v), free(o), free(lse), free(dout);
        scl_plan_destroy(plan);
    }
    double worst = 0, scale = 0;
    for (int t = 0; t < 3 && g[0][t] && g[1][t]; t++)
        for (size_t i = 0; i < n[t]; i++) {
            worst = fmax(worst, fabs((double)g[0][t][i] - g[1][t][i]));
            scale = fmax(scale, fabs((double)g[1][t][i]));
        }
    CHECK(scale > 0 && worst <= 1e-5 * scale, "out-of-order host backward equals in-order: %.3g of %.3g", worst,
          scale);
    printf("out-of-order queue: host-array backward differs from in-order by %.3g (scale %.3g)\n", worst, scale);
    for (int r = 0; r < 2; r++)
        for (int t = 0; t < 3; t++) free(g[r][t]);
    scl_runtime_destroy(ooo);
    scl_runtime_destroy(ordered);
}

int main(void)
{
    scl_device_info info;
    char msg[2048];
    if (scl_device_select(NULL, &info, msg, sizeof msg) != SCL_OK) {
        fprintf(stderr, "no device: %s\n", msg);
        return 1;
    }
    dev = info.device;
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)info.platform, 0};
    ctx = clCreateContext(props, 1, &dev, NULL, NULL, &err);
    CHECK(err == CL_SUCCESS, "the app's context");
    cl_command_queue in_order = clCreateCommandQueue(ctx, dev, 0, &err);
    CHECK(err == CL_SUCCESS, "in-order queue");
    sub_buffers_and_events(in_order, "in-order queue");
    block_on_queue(in_order, "in-order queue");
    clReleaseCommandQueue(in_order);

    cl_command_queue_properties qp = 0;
    clGetDeviceInfo(dev, CL_DEVICE_QUEUE_PROPERTIES, sizeof qp, &qp, NULL);
    if (qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) {
        cl_command_queue ooo = clCreateCommandQueue(
            ctx, dev, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE | CL_QUEUE_PROFILING_ENABLE, &err);
        CHECK(err == CL_SUCCESS, "out-of-order queue: %d", err);
        if (err == CL_SUCCESS) {
            sub_buffers_and_events(ooo, "out-of-order queue");
            block_on_queue(ooo, "out-of-order queue");
            out_of_order_plans(ooo);
            out_of_order_host_backward(ooo);
            clReleaseCommandQueue(ooo);
        }
    } else {
        printf("%s has no out-of-order queues: that part is skipped\n", info.name);
    }
    clReleaseContext(ctx);
    return check_summary("interop");
}
