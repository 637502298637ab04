/* Matrix-engine capability of a device: NVIDIA compute capability from cl_nv_device_attribute_query. */
#include "matrix_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV
#define CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV 0x4000
#define CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV 0x4001
#endif

static int has_extension(cl_device_id dev, const char *name)
{
    size_t n = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || n == 0) return 0;
    char *ext = malloc(n + 1);
    if (!ext) return 0;
    int ok = clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, n, ext, NULL) == CL_SUCCESS;
    ext[n] = '\0';
    ok = ok && strstr(ext, name) != NULL;
    free(ext);
    return ok;
}

int scli_mma_native(const scl_device_info *dev, char *why, size_t len)
{
    if (!dev || !dev->device || !strstr(dev->vendor, "NVIDIA")) {
        snprintf(why, len, "no matrix engine this build drives (NVIDIA compute capability 8.0+ only)");
        return 0;
    }
    cl_uint major = 0, minor = 0;
    if (!has_extension(dev->device, "cl_nv_device_attribute_query") ||
        clGetDeviceInfo(dev->device, CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV, sizeof major, &major, NULL) !=
            CL_SUCCESS ||
        clGetDeviceInfo(dev->device, CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV, sizeof minor, &minor, NULL) !=
            CL_SUCCESS) {
        snprintf(why, len, "the NVIDIA driver does not report a compute capability");
        return 0;
    }
    if (major < 8) {
        snprintf(why, len, "compute capability %u.%u: mma.sync m16n8k16 needs 8.0", major, minor);
        return 0;
    }
    return (int)(major * 10 + minor);
}
