/* Program build through the on-disk binary cache. */
#include "internal.h"

#include "ptx_wgmma.h"
#include "scl_fileio.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Key: everything that changes the binary. The source hash covers expanded includes. */
static void cache_key(const scl_runtime *rt, const char *source, const char *options, char *key, size_t len)
{
    snprintf(key, len, "platform=%s|device=%s|driver=%s|version=%s|source=%016llx|options=%s",
             rt->dev.platform_name, rt->dev.name, rt->dev.driver_version, rt->dev.device_version,
             (unsigned long long)scl_fnv1a64(source, strlen(source), SCL_FNV_OFFSET), options ? options : "");
}

scl_status scli_build_log_error(scl_runtime *rt, cl_program prog, cl_int err, const char *label,
                                const char *options)
{
    size_t n = 0;
    char *log = NULL;
    if (clGetProgramBuildInfo(prog, rt->dev.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) == CL_SUCCESS && n > 0 &&
        (log = malloc(n + 1)) != NULL) {
        if (clGetProgramBuildInfo(prog, rt->dev.device, CL_PROGRAM_BUILD_LOG, n, log, NULL) != CL_SUCCESS) n = 0;
        log[n] = '\0';
    }
    scl_status st = scli_fail(rt, SCL_ERR_BUILD, "clBuildProgram failed for %s [%s]: %s (%d); build log:\n%s",
                             label, options && *options ? options : "no options", scli_cl_error_name(err), (int)err,
                             log && *log ? log : "(empty)");
    free(log);
    return st;
}

static cl_program from_binary(scl_runtime *rt, const unsigned char *bin, size_t size, const char *options)
{
    cl_int err, bin_status;
    cl_program prog =
        clCreateProgramWithBinary(rt->ctx, 1, &rt->dev.device, &size, &bin, &bin_status, &err);
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS) {
        if (prog) clReleaseProgram(prog);
        return NULL;
    }
    if (clBuildProgram(prog, 1, &rt->dev.device, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(prog);
        return NULL;
    }
    return prog;
}

static void store_binary(scl_runtime *rt, cl_program prog, const char *key)
{
    size_t size = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS || size == 0)
        return;
    unsigned char *bin = malloc(size);
    if (!bin) return;
    char msg[512];
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS &&
        !scli_cache_store(rt->cache_dir, key, bin, size, msg, sizeof msg)) {
        /* A read-only or full cache directory only costs speed: say so once, keep going. */
        static const char *warned = NULL;
        if (!warned && !getenv("SPARSECL_QUIET")) fprintf(stderr, "sparsecl: warning: %s\n", msg);
        warned = "yes";
    }
    free(bin);
}

/* Compiles are serialised within the process: some OpenCL compilers are not safe to run from
 * several threads at once (a crash seen once with four threads building into a fresh cache on
 * PoCL 3.1), and the cost is only paid on cache misses and binary loads. */
static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;
static scl_status build_locked(scl_runtime *rt, const char *source, const char *options, const char *label,
                               const char *key, cl_program *out, int *from_cache);

/* `label` names the source in messages: the build log's line numbers refer to the include-expanded text. */
static scl_status build(scl_runtime *rt, const char *source, const char *options, const char *label,
                        cl_program *out, int *from_cache)
{
    *out = NULL;
    if (from_cache) *from_cache = 0;
    char key[2048];
    cache_key(rt, source, options, key, sizeof key);
    pthread_mutex_lock(&build_lock);
    scl_status st = build_locked(rt, source, options, label, key, out, from_cache);
    pthread_mutex_unlock(&build_lock);
    return st;
}

static scl_status build_locked(scl_runtime *rt, const char *source, const char *options, const char *label,
                               const char *key, cl_program *out, int *from_cache)
{
    size_t size = 0;
    unsigned char *bin = scli_cache_load(rt->cache_dir, key, &size);
    if (bin) {
        cl_program prog = from_binary(rt, bin, size, options);
        free(bin);
        if (prog) {
            *out = prog;
            if (from_cache) *from_cache = 1;
            return SCL_OK;
        }
    }
    cl_int err;
    cl_program prog = clCreateProgramWithSource(rt->ctx, 1, &source, NULL, &err);
    if (err != CL_SUCCESS) return scli_fail_cl(rt, "clCreateProgramWithSource", err, NULL);
    err = clBuildProgram(prog, 1, &rt->dev.device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        scl_status st = scli_build_log_error(rt, prog, err, label, options);
        clReleaseProgram(prog);
        return st;
    }
    if (scli_ptx_wants_wgmma(options)) {
        scl_status st = scli_ptx_wgmma_rebuild(rt, &prog, options, label);
        if (st != SCL_OK) {
            clReleaseProgram(prog);
            return st;
        }
    }
    store_binary(rt, prog, key);
    *out = prog;
    return SCL_OK;
}

scl_status scl_build_program_source(scl_runtime *rt, const char *source, const char *options, cl_program *out,
                                    int *from_cache)
{
    if (!rt || !source || !out) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_build_program: NULL argument");
    return build(rt, source, options, "caller's source", out, from_cache);
}

scl_status scl_build_program(scl_runtime *rt, const char *kernel_file, const char *options, cl_program *out,
                             int *from_cache)
{
    if (!rt || !kernel_file || !out) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_build_program: NULL argument");
    char msg[1024];
    char *source = scli_kernel_source_load(kernel_file, msg, sizeof msg);
    if (!source) return scli_fail(rt, SCL_ERR_IO, "%s", msg);
    scl_status st = build(rt, source, options, kernel_file, out, from_cache);
    free(source);
    return st;
}
