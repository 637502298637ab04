/* Status codes, OpenCL error names and the per-runtime last-error message. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

const char *scl_version(void)
{
    return SCL_VERSION_STRING;
}

const char *scl_status_string(scl_status s)
{
    switch (s) {
    case SCL_OK: return "SCL_OK";
    case SCL_ERR_INVALID_ARGUMENT: return "SCL_ERR_INVALID_ARGUMENT";
    case SCL_ERR_OUT_OF_MEMORY: return "SCL_ERR_OUT_OF_MEMORY";
    case SCL_ERR_NO_DEVICE: return "SCL_ERR_NO_DEVICE";
    case SCL_ERR_OPENCL: return "SCL_ERR_OPENCL";
    case SCL_ERR_BUILD: return "SCL_ERR_BUILD";
    case SCL_ERR_IO: return "SCL_ERR_IO";
    case SCL_ERR_PATTERN: return "SCL_ERR_PATTERN";
    case SCL_ERR_UNSUPPORTED: return "SCL_ERR_UNSUPPORTED";
    }
    return "SCL_ERR_UNKNOWN";
}

scl_status scli_fail(scl_runtime *rt, scl_status status, const char *fmt, ...)
{
    if (rt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rt->last_error, sizeof rt->last_error, fmt, ap);
        va_end(ap);
    }
    return status;
}

scl_status scli_fail_cl(scl_runtime *rt, const char *call, cl_int err, const char *context)
{
    scl_status st = SCL_ERR_OPENCL;
    if (err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
        err == CL_INVALID_BUFFER_SIZE)
        st = SCL_ERR_OUT_OF_MEMORY;
    return scli_fail(rt, st, "%s failed: %s (%d)%s%s", call, scli_cl_error_name(err), (int)err,
                    context && *context ? ": " : "", context ? context : "");
}

scl_status scl_runtime_set_error(scl_runtime *rt, scl_status status, const char *message)
{
    return scli_fail(rt, status, "%s", message ? message : "");
}

scl_status scl_runtime_set_cl_error(scl_runtime *rt, const char *call, cl_int err, const char *context)
{
    return scli_fail_cl(rt, call ? call : "an OpenCL call", err, context);
}

const char *scli_cl_error_name(cl_int err)
{
#define E(x)                                                                                                   \
    case x: return #x
    switch (err) {
        E(CL_SUCCESS);
        E(CL_DEVICE_NOT_FOUND);
        E(CL_DEVICE_NOT_AVAILABLE);
        E(CL_COMPILER_NOT_AVAILABLE);
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE);
        E(CL_OUT_OF_RESOURCES);
        E(CL_OUT_OF_HOST_MEMORY);
        E(CL_PROFILING_INFO_NOT_AVAILABLE);
        E(CL_MEM_COPY_OVERLAP);
        E(CL_IMAGE_FORMAT_MISMATCH);
        E(CL_IMAGE_FORMAT_NOT_SUPPORTED);
        E(CL_BUILD_PROGRAM_FAILURE);
        E(CL_MAP_FAILURE);
        E(CL_MISALIGNED_SUB_BUFFER_OFFSET);
        E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
        E(CL_COMPILE_PROGRAM_FAILURE);
        E(CL_LINKER_NOT_AVAILABLE);
        E(CL_LINK_PROGRAM_FAILURE);
        E(CL_DEVICE_PARTITION_FAILED);
        E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
        E(CL_INVALID_VALUE);
        E(CL_INVALID_DEVICE_TYPE);
        E(CL_INVALID_PLATFORM);
        E(CL_INVALID_DEVICE);
        E(CL_INVALID_CONTEXT);
        E(CL_INVALID_QUEUE_PROPERTIES);
        E(CL_INVALID_COMMAND_QUEUE);
        E(CL_INVALID_HOST_PTR);
        E(CL_INVALID_MEM_OBJECT);
        E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR);
        E(CL_INVALID_IMAGE_SIZE);
        E(CL_INVALID_SAMPLER);
        E(CL_INVALID_BINARY);
        E(CL_INVALID_BUILD_OPTIONS);
        E(CL_INVALID_PROGRAM);
        E(CL_INVALID_PROGRAM_EXECUTABLE);
        E(CL_INVALID_KERNEL_NAME);
        E(CL_INVALID_KERNEL_DEFINITION);
        E(CL_INVALID_KERNEL);
        E(CL_INVALID_ARG_INDEX);
        E(CL_INVALID_ARG_VALUE);
        E(CL_INVALID_ARG_SIZE);
        E(CL_INVALID_KERNEL_ARGS);
        E(CL_INVALID_WORK_DIMENSION);
        E(CL_INVALID_WORK_GROUP_SIZE);
        E(CL_INVALID_WORK_ITEM_SIZE);
        E(CL_INVALID_GLOBAL_OFFSET);
        E(CL_INVALID_EVENT_WAIT_LIST);
        E(CL_INVALID_EVENT);
        E(CL_INVALID_OPERATION);
        E(CL_INVALID_GL_OBJECT);
        E(CL_INVALID_BUFFER_SIZE);
        E(CL_INVALID_MIP_LEVEL);
        E(CL_INVALID_GLOBAL_WORK_SIZE);
        E(CL_INVALID_PROPERTY);
        E(CL_INVALID_IMAGE_DESCRIPTOR);
        E(CL_INVALID_COMPILER_OPTIONS);
        E(CL_INVALID_LINKER_OPTIONS);
        E(CL_INVALID_DEVICE_PARTITION_COUNT);
    default: return "CL_UNKNOWN_ERROR";
    }
#undef E
}
