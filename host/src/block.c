/* Sparse Transformer block forward: LayerNorm, CLBlast GEMMs, the plan's sparse attention, fused
 * bias/GELU/residual kernels (kernels/block.cl). Formulas in host/include/sparsecl_block.h. */
#include "sparsecl_block.h"

#include <clblast_c.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    W_LN1_G,
    W_LN1_B,
    W_QKV,
    W_BQ,
    W_BK,
    W_BV,
    W_O,
    W_BO,
    W_LN2_G,
    W_LN2_B,
    W_1,
    W_B1,
    W_2,
    W_B2,
    W_COUNT
};
enum { S_LN, S_Q, S_K, S_V, S_ATT, S_TMP, S_OUT, S_FF, S_COUNT };

/* libsparsecl_block uses libsparsecl through its public API only; its messages go to the
 * runtime's last error, as the core's do. */
static scl_status block_fail(scl_runtime *rt, scl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static scl_status block_fail(scl_runtime *rt, scl_status status, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return scl_runtime_set_error(rt, status, msg);
}

struct scl_block {
    scl_runtime *rt;
    /* The block's steps run on an in-order queue: the caller's, or, when the caller's queue is
     * out-of-order, a private in-order one on the same context and device (with the plan made on
     * a runtime wrapping it). CLBlast takes no wait list, and barriers on PoCL's out-of-order
     * queues did not order its GEMMs; an in-order queue orders every step by construction. */
    cl_command_queue q;
    scl_runtime *own_rt;
    cl_command_queue own_queue;
    scl_block_config cfg; /* normalised */
    size_t rows;          /* B * N */
    scl_plan *plan;
    cl_program prog;
    cl_kernel ln, gelu, bias;
    size_t ln_local;
    cl_mem w[W_COUNT];
    cl_mem s[S_COUNT];
};

void scl_block_destroy(scl_block *b)
{
    if (!b) return;
    for (int i = 0; i < W_COUNT; i++)
        if (b->w[i]) clReleaseMemObject(b->w[i]);
    for (int i = 0; i < S_COUNT; i++)
        if (b->s[i]) clReleaseMemObject(b->s[i]);
    if (b->ln) clReleaseKernel(b->ln);
    if (b->gelu) clReleaseKernel(b->gelu);
    if (b->bias) clReleaseKernel(b->bias);
    if (b->prog) clReleaseProgram(b->prog);
    scl_plan_destroy(b->plan);
    scl_runtime_destroy(b->own_rt);
    if (b->own_queue) clReleaseCommandQueue(b->own_queue);
    free(b);
}

size_t scl_block_tensor_bytes(const scl_block *b)
{
    return b ? b->rows * (size_t)b->cfg.d_model * sizeof(float) : 0;
}

const scl_plan *scl_block_plan(const scl_block *b)
{
    return b ? b->plan : NULL;
}

static scl_status check_config(scl_runtime *rt, const scl_block_config *in, scl_block_config *c)
{
    *c = *in;
    if (c->eps == 0.0f) c->eps = 1e-5f;
#define BAD(...) return block_fail(rt, SCL_ERR_INVALID_ARGUMENT, "block: " __VA_ARGS__)
    if (c->batch < 1) BAD("batch must be >= 1, got %d", c->batch);
    if (c->seq < 1 || c->seq > (1 << 30))
        BAD("sequence length must be in 1..2^30, got %lld", (long long)c->seq);
    if (c->heads < 1) BAD("heads must be >= 1, got %d", c->heads);
    if (c->d_model < 1 || c->d_model % c->heads != 0)
        BAD("d_model (%d) must be a positive multiple of heads (%d)", c->d_model, c->heads);
    const int d = c->d_model / c->heads;
    if (d != 16 && d != 32 && d != 64 && d != 80 && d != 96 && d != 128 && d != 256)
        BAD("head dim d_model / heads = %d / %d = %d is not supported (16, 32, 64, 80, 96, 128, 256)",
            c->d_model, c->heads, d);
    if (c->d_ff < 1) BAD("d_ff must be >= 1, got %d", c->d_ff);
    if (!(c->eps > 0.0f) || isinf(c->eps)) BAD("LayerNorm eps must be finite and > 0");
    /* CLBlast indexes with 32-bit integers: keep every matrix below 2^31 elements. */
    const double rows = (double)c->batch * (double)c->seq;
    const double widest = c->d_ff > 3.0 * c->d_model ? c->d_ff : 3.0 * c->d_model;
    if (rows * (c->d_ff > c->d_model ? c->d_ff : c->d_model) >= 2147483648.0 ||
        (double)c->d_model * widest >= 2147483648.0)
        return block_fail(rt, SCL_ERR_UNSUPPORTED,
                        "block: B*N=%.0f rows of %d/%d columns exceed 2^31 elements per matrix", rows,
                        c->d_model, c->d_ff);
#undef BAD
    return SCL_OK;
}

static scl_status make_buffer(scl_block *b, cl_mem *out, size_t count, const float *data, const char *what)
{
    cl_int err;
    cl_mem_flags f = data ? CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR : CL_MEM_READ_WRITE;
    *out = clCreateBuffer(scl_runtime_context(b->rt), f, count * sizeof(float), (void *)data, &err);
    if (err != CL_SUCCESS) {
        *out = NULL;
        char ctx[160];
        snprintf(ctx, sizeof ctx, "block %s, %zu bytes", what, count * sizeof(float));
        return scl_runtime_set_cl_error(b->rt, "clCreateBuffer", err, ctx);
    }
    return SCL_OK;
}

static scl_status upload_weights(scl_block *b, const scl_block_weights *w)
{
    const size_t D = (size_t)b->cfg.d_model, F = (size_t)b->cfg.d_ff;
    const struct {
        const float *data;
        size_t count;
        const char *name;
    } t[W_COUNT] = {
        [W_LN1_G] = {w->ln1_g, D, "ln1_g"},
        [W_LN1_B] = {w->ln1_b, D, "ln1_b"},
        [W_QKV] = {w->w_qkv, D * 3 * D, "w_qkv"},
        [W_BQ] = {w->b_qkv, D, "b_qkv"},
        [W_BK] = {w->b_qkv ? w->b_qkv + D : NULL, D, "b_qkv"},
        [W_BV] = {w->b_qkv ? w->b_qkv + 2 * D : NULL, D, "b_qkv"},
        [W_O] = {w->w_o, D * D, "w_o"},
        [W_BO] = {w->b_o, D, "b_o"},
        [W_LN2_G] = {w->ln2_g, D, "ln2_g"},
        [W_LN2_B] = {w->ln2_b, D, "ln2_b"},
        [W_1] = {w->w_1, D * F, "w_1"},
        [W_B1] = {w->b_1, F, "b_1"},
        [W_2] = {w->w_2, F * D, "w_2"},
        [W_B2] = {w->b_2, D, "b_2"},
    };
    for (int i = 0; i < W_COUNT; i++)
        if (!t[i].data)
            return block_fail(b->rt, SCL_ERR_INVALID_ARGUMENT, "block: weight %s is NULL", t[i].name);
    scl_status st;
    for (int i = 0; i < W_COUNT; i++)
        if ((st = make_buffer(b, &b->w[i], t[i].count, t[i].data, t[i].name)) != SCL_OK) return st;
    return SCL_OK;
}

static scl_status alloc_scratch(scl_block *b)
{
    static const char *names[S_COUNT] = {
        "LayerNorm output", "Q",         "K", "V", "attention output", "GEMM output",
        "residual stream",  "MLP hidden"};
    scl_status st;
    for (int i = 0; i < S_COUNT; i++) {
        size_t cols = (size_t)(i == S_FF ? b->cfg.d_ff : b->cfg.d_model);
        if ((st = make_buffer(b, &b->s[i], b->rows * cols, NULL, names[i])) != SCL_OK) return st;
    }
    return SCL_OK;
}

static scl_status build_kernels(scl_block *b)
{
    scl_runtime *rt = b->rt;
    scl_status st = scl_build_program(rt, "block.cl", "", &b->prog, NULL);
    if (st != SCL_OK) return st;
    const char *names[3] = {"layernorm_rows", "bias_gelu", "bias_residual"};
    cl_kernel *ks[3] = {&b->ln, &b->gelu, &b->bias};
    for (int i = 0; i < 3; i++) {
        cl_int err;
        *ks[i] = clCreateKernel(b->prog, names[i], &err);
        if (err != CL_SUCCESS) {
            *ks[i] = NULL;
            return scl_runtime_set_cl_error(rt, "clCreateKernel", err, names[i]);
        }
    }
    /* LayerNorm work-group: a power of two (tree reduction), at most what the kernel, the local
     * memory and the row width call for. */
    const scl_device_info *dev = scl_runtime_device(rt);
    size_t max = 0;
    if (clGetKernelWorkGroupInfo(b->ln, dev->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof max, &max, NULL) !=
            CL_SUCCESS ||
        max == 0)
        max = dev->max_work_group_size ? dev->max_work_group_size : 1;
    size_t cap = 256;
    while (cap > 1 && (int)(cap / 2) >= b->cfg.d_model)
        cap /= 2;
    if (max > cap) max = cap;
    if (dev->local_mem_bytes && dev->local_mem_bytes / sizeof(float) < max)
        max = (size_t)(dev->local_mem_bytes / sizeof(float));
    b->ln_local = 1;
    while (b->ln_local * 2 <= max)
        b->ln_local *= 2;
    return SCL_OK;
}

static scl_status private_queue(scl_block *b)
{
    scl_runtime *rt = b->rt;
    cl_command_queue_properties props = 0;
    cl_int err = clGetCommandQueueInfo(scl_runtime_queue(rt), CL_QUEUE_PROPERTIES, sizeof props, &props, NULL);
    if (err != CL_SUCCESS) return scl_runtime_set_cl_error(rt, "clGetCommandQueueInfo", err, "the runtime's queue");
    if (!(props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)) return SCL_OK;
    b->own_queue = clCreateCommandQueue(scl_runtime_context(rt), scl_runtime_device(rt)->device,
                                        props & CL_QUEUE_PROFILING_ENABLE, &err);
    if (err != CL_SUCCESS) {
        b->own_queue = NULL;
        return scl_runtime_set_cl_error(rt, "clCreateCommandQueue", err, "the block's in-order queue");
    }
    b->q = b->own_queue;
    scl_status st = scl_runtime_create_from_cl(scl_runtime_context(rt), b->own_queue, &b->own_rt);
    if (st != SCL_OK) return block_fail(rt, st, "block: cannot wrap its in-order queue in a runtime");
    return SCL_OK;
}

static scl_status make_plan(scl_block *b, const scl_pattern *pattern, const scl_shape *shape)
{
    scl_runtime *prt = b->own_rt ? b->own_rt : b->rt;
    scl_status st = scl_plan_create(prt, pattern, shape, SCL_F32, &b->plan);
    if (st != SCL_OK && prt != b->rt) block_fail(b->rt, st, "%s", scl_last_error_message(prt));
    return st;
}

scl_status scl_block_create(scl_runtime *rt, const scl_pattern *pattern, const scl_block_config *config,
                            const scl_block_weights *weights, scl_block **out)
{
    if (out) *out = NULL;
    if (!rt) return SCL_ERR_INVALID_ARGUMENT;
    if (!out || !pattern || !config || !weights)
        return block_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_block_create: NULL %s",
                        !out       ? "out"
                        : !pattern ? "pattern"
                        : !config  ? "config"
                                   : "weights");
    if (!scl_runtime_context(rt)) return block_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_block_create: runtime has no context");
    scl_block_config cfg;
    scl_status st = check_config(rt, config, &cfg);
    if (st != SCL_OK) return st;
    scl_block *b = calloc(1, sizeof *b);
    if (!b) return block_fail(rt, SCL_ERR_OUT_OF_MEMORY, "block: out of host memory");
    b->rt = rt;
    b->cfg = cfg;
    b->rows = (size_t)cfg.batch * (size_t)cfg.seq;
    b->q = scl_runtime_queue(rt);
    scl_shape shape = {cfg.batch, cfg.heads, cfg.heads,      cfg.seq, cfg.seq, cfg.d_model / cfg.heads,
                       cfg.block, 0.0f,      SCL_LAYOUT_BNHD};
    if ((st = private_queue(b)) != SCL_OK || (st = upload_weights(b, weights)) != SCL_OK ||
        (st = make_plan(b, pattern, &shape)) != SCL_OK || (st = build_kernels(b)) != SCL_OK ||
        (st = alloc_scratch(b)) != SCL_OK) {
        scl_block_destroy(b);
        return st;
    }
    *out = b;
    return SCL_OK;
}

static scl_status check_tensor(scl_block *b, cl_mem m, const char *name)
{
    if (!m) return block_fail(b->rt, SCL_ERR_INVALID_ARGUMENT, "block: tensor %s is NULL", name);
    size_t size = 0, need = scl_block_tensor_bytes(b);
    cl_int err = clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS) return scl_runtime_set_cl_error(b->rt, "clGetMemObjectInfo", err, name);
    if (size < need)
        return block_fail(b->rt, SCL_ERR_INVALID_ARGUMENT,
                        "block: tensor %s has %zu bytes, [B=%d, N=%lld, D=%d] needs %zu", name, size,
                        b->cfg.batch, (long long)b->cfg.seq, b->cfg.d_model, need);
    return SCL_OK;
}

/* Steps run in order on the block's in-order queue; the first error stops the rest. */
typedef struct run_ctx {
    scl_block *b;
    scl_status st;
} run_ctx;

/* CLBlast 1.5.3 (Debian's) fills its process-wide kernel and database caches without a lock: two
 * threads making their first Sgemm at once read freed memory (ASan in test_threads under load;
 * CLBlast issue #486, fixed upstream by its PR #495 in 2023). CLBlast's state is global, so the
 * lock is too; a call only enqueues once its kernel is cached. */
static pthread_mutex_t clblast_lock = PTHREAD_MUTEX_INITIALIZER;

static void gemm(run_ctx *r, size_t m, size_t n, size_t k, cl_mem a, cl_mem bm, size_t b_off, size_t ldb,
                 cl_mem c, const char *what)
{
    if (r->st != SCL_OK) return;
    cl_command_queue q = r->b->q;
    pthread_mutex_lock(&clblast_lock);
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m, n, k,
                                       1.0f, a, 0, k, bm, b_off, ldb, 0.0f, c, 0, n, &q, NULL);
    pthread_mutex_unlock(&clblast_lock);
    if (s != CLBlastSuccess) {
        scl_status st = s == CLBlastTempBufferAllocFailure || s == CLBlastOpenCLOutOfResources ||
                                s == CLBlastOpenCLOutOfHostMemory
                            ? SCL_ERR_OUT_OF_MEMORY
                            : SCL_ERR_OPENCL;
        r->st =
            block_fail(r->b->rt, st, "block: CLBlastSgemm failed with status %d computing %s (%zu x %zu x %zu)",
                     (int)s, what, m, n, k);
    }
}

static void launch(run_ctx *r, cl_kernel k, const char *name, cl_uint dims, const size_t *global,
                   const size_t *local)
{
    if (r->st != SCL_OK) return;
    cl_int err = clEnqueueNDRangeKernel(r->b->q, k, dims, NULL, global, local, 0, NULL, NULL);
    if (err != CL_SUCCESS) r->st = scl_runtime_set_cl_error(r->b->rt, "clEnqueueNDRangeKernel", err, name);
}

static void layernorm(run_ctx *r, cl_mem x, cl_mem y, cl_mem g, cl_mem beta)
{
    if (r->st != SCL_OK) return;
    scl_block *b = r->b;
    const cl_int cols = b->cfg.d_model;
    const cl_float eps = b->cfg.eps;
    cl_int err = clSetKernelArg(b->ln, 0, sizeof x, &x);
    err |= clSetKernelArg(b->ln, 1, sizeof y, &y);
    err |= clSetKernelArg(b->ln, 2, sizeof g, &g);
    err |= clSetKernelArg(b->ln, 3, sizeof beta, &beta);
    err |= clSetKernelArg(b->ln, 4, sizeof cols, &cols);
    err |= clSetKernelArg(b->ln, 5, sizeof eps, &eps);
    err |= clSetKernelArg(b->ln, 6, b->ln_local * sizeof(float), NULL);
    if (err != CL_SUCCESS) {
        r->st = block_fail(b->rt, SCL_ERR_OPENCL, "clSetKernelArg failed for layernorm_rows");
        return;
    }
    size_t global = b->rows * b->ln_local, local = b->ln_local;
    launch(r, b->ln, "layernorm_rows", 1, &global, &local);
}

/* y = x + bias (+ res), or with gelu: y = GELU(x + bias); [rows, cols]. */
static void bias_op(run_ctx *r, int gelu, cl_mem y, cl_mem x, cl_mem bias, cl_mem res, int cols)
{
    if (r->st != SCL_OK) return;
    scl_block *b = r->b;
    cl_kernel k = gelu ? b->gelu : b->bias;
    const cl_int c = cols, has_res = res != NULL;
    cl_uint a = 0;
    cl_int err = clSetKernelArg(k, a++, sizeof y, &y);
    err |= clSetKernelArg(k, a++, sizeof x, &x);
    err |= clSetKernelArg(k, a++, sizeof bias, &bias);
    if (!gelu) {
        cl_mem rr = res ? res : x;
        err |= clSetKernelArg(k, a++, sizeof rr, &rr);
        err |= clSetKernelArg(k, a++, sizeof has_res, &has_res);
    }
    err |= clSetKernelArg(k, a++, sizeof c, &c);
    const char *name = gelu ? "bias_gelu" : "bias_residual";
    if (err != CL_SUCCESS) {
        r->st = block_fail(b->rt, SCL_ERR_OPENCL, "clSetKernelArg failed for %s", name);
        return;
    }
    size_t global[2] = {(size_t)cols, b->rows};
    launch(r, k, name, 2, global, NULL);
}

scl_status scl_block_forward(scl_block *b, cl_mem x, cl_mem y, cl_uint num_wait, const cl_event *wait_list,
                             cl_event *event)
{
    if (event) *event = NULL;
    if (!b) return SCL_ERR_INVALID_ARGUMENT;
    scl_runtime *rt = b->rt;
    if (num_wait > 0 && !wait_list)
        return block_fail(rt, SCL_ERR_INVALID_ARGUMENT, "block: num_wait is %u but wait_list is NULL",
                        num_wait);
    if (x && x == y)
        return block_fail(rt, SCL_ERR_INVALID_ARGUMENT, "block: x and y must be different buffers");
    run_ctx r = {b, SCL_OK};
    if ((r.st = check_tensor(b, x, "x")) != SCL_OK || (r.st = check_tensor(b, y, "y")) != SCL_OK) return r.st;
    cl_command_queue q = b->q;
    const size_t M = b->rows, D = (size_t)b->cfg.d_model, F = (size_t)b->cfg.d_ff;

    /* The caller's events, which CLBlast cannot take: a barrier on the in-order queue holds
     * every later step until they complete. */
    cl_int err = CL_SUCCESS;
    if (num_wait > 0) err = clEnqueueBarrierWithWaitList(q, num_wait, wait_list, NULL);
    if (err != CL_SUCCESS) return scl_runtime_set_cl_error(rt, "clEnqueueBarrierWithWaitList", err, "block wait list");
    layernorm(&r, x, b->s[S_LN], b->w[W_LN1_G], b->w[W_LN1_B]);
    gemm(&r, M, D, D, b->s[S_LN], b->w[W_QKV], 0, 3 * D, b->s[S_Q], "Q = LN1(x) W_qkv[:, 0:D]");
    gemm(&r, M, D, D, b->s[S_LN], b->w[W_QKV], D, 3 * D, b->s[S_K], "K = LN1(x) W_qkv[:, D:2D]");
    gemm(&r, M, D, D, b->s[S_LN], b->w[W_QKV], 2 * D, 3 * D, b->s[S_V], "V = LN1(x) W_qkv[:, 2D:3D]");
    bias_op(&r, 0, b->s[S_Q], b->s[S_Q], b->w[W_BQ], NULL, (int)D);
    bias_op(&r, 0, b->s[S_K], b->s[S_K], b->w[W_BK], NULL, (int)D);
    bias_op(&r, 0, b->s[S_V], b->s[S_V], b->w[W_BV], NULL, (int)D);
    if (r.st == SCL_OK) {
        r.st = scl_plan_forward(b->plan, b->s[S_Q], b->s[S_K], b->s[S_V], b->s[S_ATT], NULL, 0, NULL, NULL);
        if (r.st != SCL_OK && b->own_rt) block_fail(rt, r.st, "%s", scl_last_error_message(b->own_rt));
    }
    gemm(&r, M, D, D, b->s[S_ATT], b->w[W_O], 0, D, b->s[S_TMP], "attention W_o");
    bias_op(&r, 0, b->s[S_OUT], b->s[S_TMP], b->w[W_BO], x, (int)D);
    layernorm(&r, b->s[S_OUT], b->s[S_LN], b->w[W_LN2_G], b->w[W_LN2_B]);
    gemm(&r, M, F, D, b->s[S_LN], b->w[W_1], 0, F, b->s[S_FF], "LN2(out) W_1");
    bias_op(&r, 1, b->s[S_FF], b->s[S_FF], b->w[W_B1], NULL, (int)F);
    gemm(&r, M, D, F, b->s[S_FF], b->w[W_2], 0, D, b->s[S_TMP], "GELU(...) W_2");
    bias_op(&r, 0, y, b->s[S_TMP], b->w[W_B2], b->s[S_OUT], (int)D);
    if (r.st == SCL_OK && event) {
        /* A marker with no wait list completes after everything enqueued before it. */
        err = clEnqueueMarkerWithWaitList(q, 0, NULL, event);
        if (err != CL_SUCCESS) {
            *event = NULL;
            r.st = scl_runtime_set_cl_error(rt, "clEnqueueMarkerWithWaitList", err, "block completion event");
        }
    }
    /* The caller waits on our event, perhaps without flushing our private queue. */
    if (r.st == SCL_OK && b->own_queue && (err = clFlush(q)) != CL_SUCCESS)
        r.st = scl_runtime_set_cl_error(rt, "clFlush", err, "the block's in-order queue");
    if (r.st != SCL_OK) clFinish(q); /* leave nothing half-run on our buffers */
    return r.st;
}

scl_status scl_block_forward_host(scl_block *b, const float *x, float *y)
{
    if (!b) return SCL_ERR_INVALID_ARGUMENT;
    if (!x || !y) return block_fail(b->rt, SCL_ERR_INVALID_ARGUMENT, "scl_block_forward_host: NULL array");
    const size_t bytes = scl_block_tensor_bytes(b);
    cl_int e1 = CL_SUCCESS, e2 = CL_SUCCESS;
    cl_mem bx = clCreateBuffer(scl_runtime_context(b->rt), CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, (void *)x, &e1);
    cl_mem by = clCreateBuffer(scl_runtime_context(b->rt), CL_MEM_WRITE_ONLY, bytes, NULL, &e2);
    scl_status st = SCL_OK;
    if (e1 != CL_SUCCESS || e2 != CL_SUCCESS)
        st = scl_runtime_set_cl_error(b->rt, "clCreateBuffer", e1 != CL_SUCCESS ? e1 : e2, "block host-array convenience");
    cl_event done = NULL;
    if (st == SCL_OK) st = scl_block_forward(b, bx, by, 0, NULL, &done);
    if (st == SCL_OK) {
        cl_int err = clEnqueueReadBuffer(scl_runtime_queue(b->rt), by, CL_TRUE, 0, bytes, y, 1, &done, NULL);
        if (err != CL_SUCCESS) st = scl_runtime_set_cl_error(b->rt, "clEnqueueReadBuffer", err, "block output y");
    }
    if (done) clReleaseEvent(done);
    if (bx && e1 == CL_SUCCESS) clReleaseMemObject(bx);
    if (by && e2 == CL_SUCCESS) clReleaseMemObject(by);
    return st;
}
