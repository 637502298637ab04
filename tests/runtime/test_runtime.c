/* Runtime: device enumeration and selection, program build and its cache, external contexts. */
#include "../check.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *GOOD_KERNEL = "__kernel void add_one(__global float *x) { x[get_global_id(0)] += 1.0f; }\n";

static void test_enumeration_and_selection(void)
{
    scl_device_info devs[16];
    int n = -1;
    CHECK(scl_devices_list(devs, 16, &n) == SCL_OK, "list failed");
    CHECK(n >= 1, "expected at least one OpenCL device (PoCL), found %d", n);
    if (n < 1) return;
    printf("devices: %d, first: %s (%s)\n", n, devs[0].name, devs[0].platform_name);
    CHECK(scl_devices_list(NULL, 0, &n) == SCL_OK && n >= 1, "count-only listing");
    CHECK(scl_devices_list(NULL, 1, &n) == SCL_ERR_INVALID_ARGUMENT, "NULL out with capacity");

    scl_device_info d;
    char msg[2048];
    CHECK(scl_device_select("0", &d, msg, sizeof msg) == SCL_OK && d.index == 0, "index 0: %s", msg);
    CHECK(scl_device_select("cpu", &d, msg, sizeof msg) == SCL_OK && (d.type & CL_DEVICE_TYPE_CPU), "cpu: %s", msg);
    CHECK(scl_device_select("pocl", &d, msg, sizeof msg) == SCL_OK, "pocl vendor word: %s", msg);
    CHECK(scl_device_select("pocl:0", &d, msg, sizeof msg) == SCL_OK, "pocl:0: %s", msg);
    scl_status st = scl_device_select("gpu", &d, msg, sizeof msg);
    CHECK(st == SCL_OK ? (d.type & CL_DEVICE_TYPE_GPU) != 0 : st == SCL_ERR_NO_DEVICE, "gpu: %s", msg);
    /* A part of the device name selects it, case-insensitively. */
    char part[8];
    snprintf(part, sizeof part, "%.5s", devs[0].name);
    for (char *p = part; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    CHECK(scl_device_select(part, &d, msg, sizeof msg) == SCL_OK, "name part '%s': %s", part, msg);

    st = scl_device_select("no-such-device-xyz", &d, msg, sizeof msg);
    CHECK(st == SCL_ERR_NO_DEVICE, "unknown name gives %s", scl_status_string(st));
    CHECK(strstr(msg, "no-such-device-xyz") && strstr(msg, "available"), "message names selector and devices: %s",
          msg);
    printf("unknown selector message: %s\n", msg);
    st = scl_device_select("999", &d, msg, sizeof msg);
    CHECK(st == SCL_ERR_NO_DEVICE && strstr(msg, "out of range"), "index out of range: %s", msg);
    st = scl_device_select("pocl:7", &d, msg, sizeof msg);
    CHECK(st == SCL_ERR_NO_DEVICE, "pocl:7 gives %s", scl_status_string(st));

    /* SPARSECL_DEVICE is the default selector. */
    setenv("SPARSECL_DEVICE", "no-such-device-xyz", 1);
    CHECK(scl_device_select(NULL, &d, msg, sizeof msg) == SCL_ERR_NO_DEVICE, "env selector honoured");
    scl_runtime *rt = NULL;
    st = scl_runtime_create(NULL, &rt);
    CHECK(st == SCL_ERR_NO_DEVICE && strstr(scl_last_error_message(rt), "no-such-device-xyz"),
          "runtime_create reports the selector: %s", scl_last_error_message(rt));
    scl_runtime_destroy(rt);
    unsetenv("SPARSECL_DEVICE");
}

static void make_temp_dir(char *out, size_t len)
{
    snprintf(out, len, "/tmp/scl-test-cache-XXXXXX");
    if (!mkdtemp(out)) out[0] = '\0';
}

static void remove_dir(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static int build_once(const char *src, int *from_cache, double *ms)
{
    scl_runtime *rt = NULL;
    if (scl_runtime_create("cpu", &rt) != SCL_OK) {
        scl_runtime_destroy(rt);
        return -1;
    }
    cl_program prog = NULL;
    double t0 = now_ms();
    scl_status st = scl_build_program_source(rt, src, "-cl-mad-enable", &prog, from_cache);
    *ms = now_ms() - t0;
    if (prog) clReleaseProgram(prog);
    scl_runtime_destroy(rt);
    return st == SCL_OK ? 0 : -1;
}

static void test_build_and_cache(void)
{
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    setenv("SPARSECL_CACHE_DIR", dir, 1);

    /* A source unique to this run so no earlier cache entry can answer. */
    char src[512];
    snprintf(src, sizeof src, "%s// run %ld\n", GOOD_KERNEL, (long)getpid());
    int hit = -1;
    double cold, warm;
    CHECK(build_once(src, &hit, &cold) == 0 && hit == 0, "first build compiles (hit=%d)", hit);
    CHECK(build_once(src, &hit, &warm) == 0 && hit == 1, "second build served from cache (hit=%d)", hit);
    printf("build: cold %.1f ms, from cache %.1f ms\n", cold, warm);

    /* Corrupt the entry: flip bytes in the middle, then truncate another copy. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "for f in '%s'/*.bin; do printf 'XXXXXXXX' | dd of=\"$f\" bs=1 seek=100 conv=notrunc "
                              "status=none; done",
             dir);
    CHECK(system(cmd) == 0, "corrupting the cache entry");
    CHECK(build_once(src, &hit, &warm) == 0 && hit == 0, "corrupt entry detected and rebuilt (hit=%d)", hit);
    CHECK(build_once(src, &hit, &warm) == 0 && hit == 1, "rebuilt entry rewritten (hit=%d)", hit);
    snprintf(cmd, sizeof cmd, "for f in '%s'/*.bin; do truncate -s 50 \"$f\"; done", dir);
    CHECK(system(cmd) == 0, "truncating the cache entry");
    CHECK(build_once(src, &hit, &warm) == 0 && hit == 0, "truncated entry rebuilt (hit=%d)", hit);

    /* Different options are a different entry. */
    scl_runtime *rt = NULL;
    CHECK(scl_runtime_create("cpu", &rt) == SCL_OK, "runtime");
    cl_program prog = NULL;
    CHECK(scl_build_program_source(rt, src, "-DSOMETHING=1", &prog, &hit) == SCL_OK && hit == 0,
          "options are part of the key (hit=%d)", hit);
    if (prog) clReleaseProgram(prog);

    /* A broken kernel fails with the compiler's own words in the message. */
    const char *bad = "__kernel void broken(__global float *x) { x[0] = this_is_not_declared; }\n";
    scl_status st = scl_build_program_source(rt, bad, "", &prog, NULL);
    CHECK(st == SCL_ERR_BUILD, "broken kernel gives %s", scl_status_string(st));
    CHECK(strstr(scl_last_error_message(rt), "this_is_not_declared") != NULL,
          "message carries the build log: %.300s", scl_last_error_message(rt));
    CHECK(strstr(scl_last_error_message(rt), "CL_BUILD_PROGRAM_FAILURE") != NULL, "message names the CL error");

    /* An unknown embedded kernel file is an I/O error naming it. */
    st = scl_build_program(rt, "no_such_kernel.cl", "", &prog, NULL);
    CHECK(st == SCL_ERR_IO && strstr(scl_last_error_message(rt), "no_such_kernel.cl"), "missing kernel file: %s",
          scl_last_error_message(rt));
    scl_runtime_destroy(rt);

    /* A cache directory we cannot write to only costs speed. */
    setenv("SPARSECL_CACHE_DIR", "/proc/sparsecl-cannot-write-here", 1);
    setenv("SPARSECL_QUIET", "1", 1);
    CHECK(build_once(src, &hit, &warm) == 0 && hit == 0, "unwritable cache still builds");
    unsetenv("SPARSECL_QUIET");
    setenv("SPARSECL_CACHE_DIR", dir, 1);
    remove_dir(dir);
}

static void test_kernel_sources(void)
{
    char msg[512];
    /* Every embedded .cl file expands its includes. */
    int n = 0;
    for (int i = 0; scli_kernel_file_name(i); i++, n++) {
        char *src = scli_kernel_source_load(scli_kernel_file_name(i), msg, sizeof msg);
        CHECK(src != NULL, "%s: %s", scli_kernel_file_name(i), msg);
        CHECK(!src || !strstr(src, "#include \""), "%s has unexpanded includes", scli_kernel_file_name(i));
        free(src);
    }
    CHECK(n >= 1, "kernels are embedded (%d files)", n);

    /* SPARSECL_KERNEL_DIR replaces the embedded copies, includes too. */
    char dir[256];
    make_temp_dir(dir, sizeof dir);
    char path[512];
    snprintf(path, sizeof path, "%s/a.cl", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("#include \"b.clh\"\n__kernel void k(__global float *x) { x[0] = B_VALUE; }\n", f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/b.clh", dir);
    f = fopen(path, "w");
    if (f) {
        fputs("#define B_VALUE 42.0f\n", f);
        fclose(f);
    }
    setenv("SPARSECL_KERNEL_DIR", dir, 1);
    char *src = scli_kernel_source_load("a.cl", msg, sizeof msg);
    CHECK(src && strstr(src, "#define B_VALUE 42.0f") && strstr(src, "__kernel void k"), "disk source expanded: %s",
          src ? src : msg);
    free(src);
    src = scli_kernel_source_load("missing.cl", msg, sizeof msg);
    CHECK(!src && strstr(msg, "missing.cl") && strstr(msg, dir), "missing file on disk named: %s", msg);
    unsetenv("SPARSECL_KERNEL_DIR");
    remove_dir(dir);
}

static void test_external_context(void)
{
    scl_device_info d;
    char msg[1024];
    if (scl_device_select("cpu", &d, msg, sizeof msg) != SCL_OK) {
        CHECK(0, "no cpu device: %s", msg);
        return;
    }
    cl_int err;
    cl_context ctx = clCreateContext(NULL, 1, &d.device, NULL, NULL, &err);
    CHECK(err == CL_SUCCESS, "clCreateContext");
    cl_command_queue q = clCreateCommandQueue(ctx, d.device, CL_QUEUE_PROFILING_ENABLE, &err);
    CHECK(err == CL_SUCCESS, "clCreateCommandQueue");
    scl_runtime *rt = NULL;
    CHECK(scl_runtime_create_from_cl(ctx, q, &rt) == SCL_OK, "wrap caller's context");
    scl_runtime *rt2 = NULL;
    CHECK(scl_runtime_create_from_cl(NULL, q, &rt2) == SCL_ERR_INVALID_ARGUMENT && !rt2, "NULL context refused");
    CHECK(scl_runtime_create_from_cl(ctx, NULL, &rt2) == SCL_ERR_INVALID_ARGUMENT && !rt2, "NULL queue refused");
    CHECK(rt && scl_runtime_context(rt) == ctx && scl_runtime_queue(rt) == q, "runtime uses the caller's objects");
    CHECK(rt && strcmp(scl_runtime_device(rt)->name, d.name) == 0, "device described");
    cl_program prog = NULL;
    CHECK(scl_build_program_source(rt, GOOD_KERNEL, "", &prog, NULL) == SCL_OK, "build in caller's context: %s",
          scl_last_error_message(rt));
    /* Libraries built on this one (libsparsecl_block) report through the runtime's message. */
    CHECK(scl_runtime_set_error(rt, SCL_ERR_UNSUPPORTED, "block: layered message") == SCL_ERR_UNSUPPORTED &&
              strcmp(scl_last_error_message(rt), "block: layered message") == 0,
          "set_error: %s", scl_last_error_message(rt));
    CHECK(scl_runtime_set_cl_error(rt, "clFoo", CL_MEM_OBJECT_ALLOCATION_FAILURE, "w_qkv") == SCL_ERR_OUT_OF_MEMORY &&
              strcmp(scl_last_error_message(rt), "clFoo failed: CL_MEM_OBJECT_ALLOCATION_FAILURE (-4): w_qkv") == 0,
          "set_cl_error (allocation): %s", scl_last_error_message(rt));
    CHECK(scl_runtime_set_cl_error(rt, "clBar", CL_INVALID_VALUE, NULL) == SCL_ERR_OPENCL &&
              strcmp(scl_last_error_message(rt), "clBar failed: CL_INVALID_VALUE (-30)") == 0,
          "set_cl_error: %s", scl_last_error_message(rt));
    CHECK(scl_runtime_set_error(NULL, SCL_ERR_IO, "x") == SCL_ERR_IO &&
              scl_runtime_set_error(rt, SCL_ERR_IO, NULL) == SCL_ERR_IO && strcmp(scl_last_error_message(rt), "") == 0,
          "set_error with NULL runtime or message");
    scl_runtime_destroy(rt);

    /* The caller's objects survive the runtime: run the kernel on them. */
    float x[4] = {1, 2, 3, 4};
    cl_mem buf = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof x, x, &err);
    cl_kernel k = prog ? clCreateKernel(prog, "add_one", &err) : NULL;
    size_t gws = 4;
    if (k && buf) {
        clSetKernelArg(k, 0, sizeof buf, &buf);
        err = clEnqueueNDRangeKernel(q, k, 1, NULL, &gws, NULL, 0, NULL, NULL);
        CHECK(err == CL_SUCCESS, "launch after runtime destroyed: %s", scli_cl_error_name(err));
        clEnqueueReadBuffer(q, buf, CL_TRUE, 0, sizeof x, x, 0, NULL, NULL);
    }
    CHECK(x[0] == 2 && x[3] == 5, "kernel ran: %g %g", x[0], x[3]);
    if (k) clReleaseKernel(k);
    if (buf) clReleaseMemObject(buf);
    if (prog) clReleaseProgram(prog);
    clReleaseCommandQueue(q);
    clReleaseContext(ctx);
}

static void test_status_strings(void)
{
    CHECK(strcmp(scl_status_string(SCL_OK), "SCL_OK") == 0, "ok name");
    CHECK(strcmp(scl_status_string(SCL_ERR_BUILD), "SCL_ERR_BUILD") == 0, "build name");
    CHECK(strcmp(scl_status_string((scl_status)-99), "SCL_ERR_UNKNOWN") == 0, "unknown name");
    CHECK(strcmp(scli_cl_error_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES") == 0, "CL names");
    CHECK(strcmp(scl_last_error_message(NULL), "") != 0, "NULL runtime message");
    CHECK(strlen(scl_version()) >= 5, "version");
}

int main(void)
{
    test_status_strings();
    test_enumeration_and_selection();
    test_kernel_sources();
    test_build_and_cache();
    test_external_context();
    return check_summary("runtime");
}
