/* Device discovery and selection across all OpenCL platforms. */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCLI_MAX_DEVICES 64

/* Strings longer than our field are truncated rather than lost (PoCL's version string is long). */
static void device_string(cl_device_id d, cl_device_info what, char *out, size_t len)
{
    char buf[1024];
    if (clGetDeviceInfo(d, what, sizeof buf, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
    buf[sizeof buf - 1] = '\0';
    snprintf(out, len, "%s", buf);
}

scl_status scli_device_describe(cl_platform_id platform, cl_device_id device, int index, scl_device_info *out)
{
    memset(out, 0, sizeof *out);
    out->index = index;
    out->platform = platform;
    out->device = device;
    if (clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof out->platform_name, out->platform_name, NULL) !=
        CL_SUCCESS)
        out->platform_name[0] = '\0';
    out->platform_name[sizeof out->platform_name - 1] = '\0';
    device_string(device, CL_DEVICE_NAME, out->name, sizeof out->name);
    device_string(device, CL_DEVICE_VENDOR, out->vendor, sizeof out->vendor);
    device_string(device, CL_DRIVER_VERSION, out->driver_version, sizeof out->driver_version);
    device_string(device, CL_DEVICE_VERSION, out->device_version, sizeof out->device_version);
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof out->type, &out->type, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof out->compute_units, &out->compute_units, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof out->clock_mhz, &out->clock_mhz, NULL);
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof out->global_mem_bytes, &out->global_mem_bytes, NULL);
    clGetDeviceInfo(device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof out->local_mem_bytes, &out->local_mem_bytes, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof out->max_alloc_bytes, &out->max_alloc_bytes, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof out->max_work_group_size,
                    &out->max_work_group_size, NULL);
    size_t ext_len = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_len) == CL_SUCCESS && ext_len > 0) {
        char *ext = malloc(ext_len + 1);
        if (ext && clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, ext_len, ext, NULL) == CL_SUCCESS) {
            ext[ext_len] = '\0';
            out->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
            out->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
        }
        free(ext);
    }
    return SCL_OK;
}

scl_status scl_devices_list(scl_device_info *out, int capacity, int *count)
{
    if (!count || capacity < 0 || (capacity > 0 && !out)) return SCL_ERR_INVALID_ARGUMENT;
    *count = 0;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: no ICD installed */ || np == 0) return SCL_OK;
    if (err != CL_SUCCESS) return SCL_ERR_OPENCL;
    cl_platform_id plats[16];
    if (np > 16) np = 16;
    if (clGetPlatformIDs(np, plats, NULL) != CL_SUCCESS) return SCL_ERR_OPENCL;
    int n = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0) continue;
        cl_device_id devs[SCLI_MAX_DEVICES];
        if (nd > SCLI_MAX_DEVICES) nd = SCLI_MAX_DEVICES;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL) != CL_SUCCESS) continue;
        for (cl_uint d = 0; d < nd; d++, n++)
            if (n < capacity) scli_device_describe(plats[p], devs[d], n, &out[n]);
    }
    *count = n;
    return SCL_OK;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t hn = strlen(hay), nn = strlen(needle);
    for (size_t i = 0; i + nn <= hn; i++) {
        size_t k = 0;
        while (k < nn && tolower((unsigned char)hay[i + k]) == tolower((unsigned char)needle[k])) k++;
        if (k == nn) return true;
    }
    return false;
}

/* Vendor words match the vendor or platform strings each driver reports. */
static bool vendor_matches(const scl_device_info *d, const char *word)
{
    static const struct {
        const char *word;
        const char *needles[3];
    } vendors[] = {
        {"nvidia", {"nvidia", NULL, NULL}},
        {"amd", {"advanced micro devices", "amd", NULL}},
        {"intel", {"intel", NULL, NULL}},
        {"pocl", {"portable computing language", "pocl", NULL}},
        {"apple", {"apple", NULL, NULL}},
        {"arm", {"arm", "mali", NULL}},
    };
    for (size_t v = 0; v < sizeof vendors / sizeof vendors[0]; v++) {
        if (strcmp(vendors[v].word, word) != 0) continue;
        for (int k = 0; k < 3 && vendors[v].needles[k]; k++)
            if (contains_ci(d->vendor, vendors[v].needles[k]) || contains_ci(d->platform_name, vendors[v].needles[k]))
                return true;
        return false;
    }
    return false;
}

static bool is_vendor_word(const char *w)
{
    static const char *words[] = {"nvidia", "amd", "intel", "pocl", "apple", "arm"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(words[i], w) == 0) return true;
    return false;
}

static bool matches(const scl_device_info *d, const char *sel)
{
    if (strcmp(sel, "gpu") == 0) return (d->type & CL_DEVICE_TYPE_GPU) != 0;
    if (strcmp(sel, "cpu") == 0) return (d->type & CL_DEVICE_TYPE_CPU) != 0;
    if (strcmp(sel, "accelerator") == 0) return (d->type & CL_DEVICE_TYPE_ACCELERATOR) != 0;
    if (is_vendor_word(sel)) return vendor_matches(d, sel);
    return contains_ci(d->name, sel) || contains_ci(d->platform_name, sel);
}

static void list_devices(const scl_device_info *devs, int n, char *msg, size_t len)
{
    size_t used = strlen(msg);
    if (n == 0) {
        snprintf(msg + used, len - used, "; no OpenCL devices found (is an ICD such as pocl-opencl-icd installed?)");
        return;
    }
    snprintf(msg + used, len - used, "; available:");
    for (int i = 0; i < n; i++) {
        used = strlen(msg);
        snprintf(msg + used, len - used, " [%d] %s (%s)", i, devs[i].name, devs[i].platform_name);
    }
}

static bool parse_index(const char *s, int *out)
{
    if (!*s) return false;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p)) return false;
        v = v * 10 + (*p - '0');
        if (v > 100000) return false;
    }
    *out = (int)v;
    return true;
}

scl_status scl_device_select(const char *selector, scl_device_info *out, char *msg, size_t msg_len)
{
    char dummy[8];
    if (!msg || msg_len == 0) {
        msg = dummy;
        msg_len = sizeof dummy;
    }
    msg[0] = '\0';
    if (!out) return SCL_ERR_INVALID_ARGUMENT;
    if (!selector || !*selector) selector = getenv("SPARSECL_DEVICE");
    scl_device_info devs[SCLI_MAX_DEVICES];
    int n = 0;
    if (scl_devices_list(devs, SCLI_MAX_DEVICES, &n) != SCL_OK) {
        snprintf(msg, msg_len, "could not enumerate OpenCL platforms");
        return SCL_ERR_OPENCL;
    }
    if (n > SCLI_MAX_DEVICES) n = SCLI_MAX_DEVICES;
    if (!selector || !*selector) {
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < n; i++)
                if (devs[i].type & (pass == 0 ? CL_DEVICE_TYPE_GPU : CL_DEVICE_TYPE_CPU)) {
                    *out = devs[i];
                    return SCL_OK;
                }
        if (n > 0) {
            *out = devs[0];
            return SCL_OK;
        }
        snprintf(msg, msg_len, "no OpenCL device");
        list_devices(devs, n, msg, msg_len);
        return SCL_ERR_NO_DEVICE;
    }
    int index;
    if (parse_index(selector, &index)) {
        if (index < n) {
            *out = devs[index];
            return SCL_OK;
        }
        snprintf(msg, msg_len, "device index %d out of range (%d device%s)", index, n, n == 1 ? "" : "s");
        list_devices(devs, n, msg, msg_len);
        return SCL_ERR_NO_DEVICE;
    }
    /* "word:N" picks the N-th device matching word. */
    char word[256];
    snprintf(word, sizeof word, "%s", selector);
    int nth = 0;
    char *colon = strrchr(word, ':');
    if (colon && parse_index(colon + 1, &nth)) *colon = '\0';
    else nth = 0;
    char lower[256];
    size_t k = 0;
    for (; word[k] && k + 1 < sizeof lower; k++) lower[k] = (char)tolower((unsigned char)word[k]);
    lower[k] = '\0';
    int seen = 0;
    for (int i = 0; i < n; i++) {
        if (!matches(&devs[i], lower)) continue;
        if (seen++ == nth) {
            *out = devs[i];
            return SCL_OK;
        }
    }
    if (seen > 0)
        snprintf(msg, msg_len, "device selector '%s': only %d device%s match '%s'", selector, seen,
                 seen == 1 ? "" : "s", lower);
    else
        snprintf(msg, msg_len, "device selector '%s' matches no device", selector);
    list_devices(devs, n, msg, msg_len);
    return SCL_ERR_NO_DEVICE;
}
