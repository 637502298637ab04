/* Runtime handles: our own context and queue on a selected device, or the caller's. */
#include "internal.h"
#include "tuning_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static scl_runtime *runtime_alloc(void)
{
    scl_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) return NULL;
    if (pthread_mutex_init(&rt->tuning_lock, NULL) != 0) {
        free(rt);
        return NULL;
    }
    scli_cache_default_dir(rt->cache_dir, sizeof rt->cache_dir);
    return rt;
}

scl_status scl_runtime_create(const char *selector, scl_runtime **out)
{
    if (!out) return SCL_ERR_INVALID_ARGUMENT;
    *out = NULL;
    scl_runtime *rt = runtime_alloc();
    if (!rt) return SCL_ERR_OUT_OF_MEMORY;
    char msg[2048];
    scl_status st = scl_device_select(selector, &rt->dev, msg, sizeof msg);
    if (st != SCL_OK) {
        /* No runtime to hold the message: hand back a runtime-less error through a stub. */
        scli_fail(rt, st, "%s", msg);
        *out = rt; /* caller reads scl_last_error_message(*out), then destroys it */
        return st;
    }
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)rt->dev.platform, 0};
    rt->ctx = clCreateContext(props, 1, &rt->dev.device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        st = scli_fail_cl(rt, "clCreateContext", err, rt->dev.name);
        *out = rt;
        return st;
    }
    rt->queue = clCreateCommandQueue(rt->ctx, rt->dev.device, CL_QUEUE_PROFILING_ENABLE, &err);
    if (err != CL_SUCCESS) {
        st = scli_fail_cl(rt, "clCreateCommandQueue", err, rt->dev.name);
        *out = rt;
        return st;
    }
    *out = rt;
    return SCL_OK;
}

scl_status scl_runtime_create_from_cl(cl_context ctx, cl_command_queue queue, scl_runtime **out)
{
    if (!out) return SCL_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!ctx || !queue) return SCL_ERR_INVALID_ARGUMENT;
    cl_context qctx = NULL;
    cl_device_id dev = NULL;
    cl_command_queue_properties qprops = 0;
    if (clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL) != CL_SUCCESS ||
        clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL) != CL_SUCCESS ||
        clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof qprops, &qprops, NULL) != CL_SUCCESS)
        return SCL_ERR_INVALID_ARGUMENT;
    if (qctx != ctx) return SCL_ERR_INVALID_ARGUMENT;
    cl_platform_id plat = NULL;
    if (clGetDeviceInfo(dev, CL_DEVICE_PLATFORM, sizeof plat, &plat, NULL) != CL_SUCCESS) return SCL_ERR_OPENCL;
    scl_runtime *rt = runtime_alloc();
    if (!rt) return SCL_ERR_OUT_OF_MEMORY;
    /* The index is unknown for a caller's device; -1 says so. */
    scli_device_describe(plat, dev, -1, &rt->dev);
    if (clRetainContext(ctx) != CL_SUCCESS || clRetainCommandQueue(queue) != CL_SUCCESS) {
        free(rt);
        return SCL_ERR_OPENCL;
    }
    rt->ctx = ctx;
    rt->queue = queue;
    rt->out_of_order = (qprops & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;
    *out = rt;
    return SCL_OK;
}

void scl_runtime_destroy(scl_runtime *rt)
{
    if (!rt) return;
    if (rt->queue) clReleaseCommandQueue(rt->queue);
    if (rt->ctx) clReleaseContext(rt->ctx);
    scli_runtime_tuning_reload(rt);
    pthread_mutex_destroy(&rt->tuning_lock);
    free(rt);
}

const scli_tuning_set *scli_runtime_tuning(scl_runtime *rt)
{
    pthread_mutex_lock(&rt->tuning_lock);
    if (!rt->tuning && (rt->tuning = malloc(sizeof *rt->tuning)) != NULL) scli_tuning_set_load(rt->tuning, &rt->dev);
    pthread_mutex_unlock(&rt->tuning_lock);
    return rt->tuning;
}

void scli_runtime_tuning_reload(scl_runtime *rt)
{
    pthread_mutex_lock(&rt->tuning_lock);
    if (rt->tuning) scli_tuning_set_free(rt->tuning);
    free(rt->tuning);
    rt->tuning = NULL;
    pthread_mutex_unlock(&rt->tuning_lock);
}

const scl_device_info *scl_runtime_device(const scl_runtime *rt)
{
    return rt ? &rt->dev : NULL;
}
cl_context scl_runtime_context(const scl_runtime *rt)
{
    return rt ? rt->ctx : NULL;
}
cl_command_queue scl_runtime_queue(const scl_runtime *rt)
{
    return rt ? rt->queue : NULL;
}
const char *scl_last_error_message(const scl_runtime *rt)
{
    return rt ? rt->last_error : "no runtime (NULL handle)";
}
const char *scl_runtime_cache_dir(const scl_runtime *rt)
{
    return rt ? rt->cache_dir : "";
}
