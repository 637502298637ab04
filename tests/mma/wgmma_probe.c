/* Probe (not a test): can OpenCL C reach Hopper's wgmma? NVIDIA's OpenCL emits PTX for .target
 * sm_90, where ptxas refuses wgmma. The kernel below writes its wgmma lines as PTX comments
 * ("// @..." inside inline asm, so the compiler still allocates and substitutes their operands);
 * the host takes the built program's PTX (CL_PROGRAM_BINARIES), uncomments those lines, retargets
 * it to sm_90a and builds it again from that binary. One warpgroup computes D (64 x 32, f32) =
 * A (64 x 16) B (16 x 32) in bf16 with wgmma.mma_async m64n32k16, A and B from shared memory in
 * the no-swizzle core-matrix layout (8 x 16-byte core matrices: K-adjacent ones 128 bytes apart =
 * the descriptor's leading byte offset, M/N-adjacent ones 256 bytes apart = its stride byte offset),
 * and compares with the exact product of small integers. Prints PASS/FAIL and exits 0/1 (77: no
 * NVIDIA GPU of compute capability 9.0). Build: cc -O2 wgmma_probe.c -lOpenCL -o wgmma_probe. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *src =
    "#define C(x) \"// @\" x \"\\n\"\n"
    "__kernel __attribute__((reqd_work_group_size(128, 1, 1))) void probe(__global const ushort *a,\n"
    "    __global const ushort *b, __global float *d)\n"
    "{\n"
    "    __local ushort sa[64 * 16] __attribute__((aligned(128)));\n"
    "    __local ushort sb[32 * 16] __attribute__((aligned(128)));\n"
    "    const int lid = get_local_id(0), warp = lid >> 5, g = (lid & 31) >> 2, t = lid & 3;\n"
    "    /* core matrix (row / 8, k / 8) at ((row / 8) * 2 + k / 8) * 64 elements */\n"
    "    for (int i = lid; i < 64 * 16; i += 128) {\n"
    "        const int m = i / 16, k = i % 16;\n"
    "        sa[((m / 8) * 2 + k / 8) * 64 + (m % 8) * 8 + k % 8] = a[i];\n"
    "    }\n"
    "    for (int i = lid; i < 32 * 16; i += 128) { /* b is stored [n][k] */\n"
    "        const int n = i / 16, k = i % 16;\n"
    "        sb[((n / 8) * 2 + k / 8) * 64 + (n % 8) * 8 + k % 8] = b[i];\n"
    "    }\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    const ulong lbo = 128, sbo = 256;\n"
    "    const ulong da = (((ulong)(uint)(size_t)sa & 0x3ffff) >> 4) | ((lbo >> 4) << 16) | ((sbo >> 4) << 32);\n"
    "    const ulong db = (((ulong)(uint)(size_t)sb & 0x3ffff) >> 4) | ((lbo >> 4) << 16) | ((sbo >> 4) << 32);\n"
    "    float c[16];\n"
    "    for (int i = 0; i < 16; i++) c[i] = 0.0f;\n"
    "    __asm__ volatile(C(\"fence.proxy.async.shared::cta;\") C(\"wgmma.fence.sync.aligned;\") ::: \"memory\");\n"
    "    __asm__ volatile(C(\"wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, \"\n"
    "                     \"%7, %8, %9, %10, %11, %12, %13, %14, %15}, %16, %17, 1, 1, 1, 0, 0;\")\n"
    "                     : \"+f\"(c[0]), \"+f\"(c[1]), \"+f\"(c[2]), \"+f\"(c[3]), \"+f\"(c[4]), \"+f\"(c[5]),\n"
    "                       \"+f\"(c[6]), \"+f\"(c[7]), \"+f\"(c[8]), \"+f\"(c[9]), \"+f\"(c[10]), \"+f\"(c[11]),\n"
    "                       \"+f\"(c[12]), \"+f\"(c[13]), \"+f\"(c[14]), \"+f\"(c[15])\n"
    "                     : \"l\"(da), \"l\"(db) : \"memory\");\n"
    "    __asm__ volatile(C(\"wgmma.commit_group.sync.aligned;\") C(\"wgmma.wait_group.sync.aligned 0;\") ::: \"memory\");\n"
    "    /* accumulator layout: warp w owns rows 16w..; per n8 chunk j: (row g, cols 2t, 2t+1), (row g + 8, same) */\n"
    "    for (int j = 0; j < 4; j++) {\n"
    "        const int r = warp * 16 + g, col = j * 8 + 2 * t;\n"
    "        d[r * 32 + col] = c[4 * j], d[r * 32 + col + 1] = c[4 * j + 1];\n"
    "        d[(r + 8) * 32 + col] = c[4 * j + 2], d[(r + 8) * 32 + col + 1] = c[4 * j + 3];\n"
    "    }\n"
    "}\n";

static unsigned short bf16(int v) /* small integers are exact in bf16 */
{
    float f = (float)v;
    unsigned u;
    memcpy(&u, &f, 4);
    return (unsigned short)(u >> 16);
}

static char *patch(const char *ptx) /* uncomment "// @" lines, .target sm_90 -> sm_90a */
{
    char *out = malloc(strlen(ptx) + 16), *o = out;
    for (const char *p = ptx; *p;) {
        if (strncmp(p, "// @", 4) == 0) p += 4;
        else if (strncmp(p, ".target sm_90", 13) == 0 && p[13] != 'a') {
            memcpy(o, ".target sm_90a", 14), o += 14, p += 13;
        }
        else *o++ = *p++;
    }
    *o = 0;
    return out;
}

int main(void)
{
    cl_platform_id plats[8];
    cl_uint np = 0;
    cl_device_id dev = NULL;
    clGetPlatformIDs(8, plats, &np);
    for (cl_uint i = 0; i < np && !dev; i++) {
        char name[256] = "";
        clGetPlatformInfo(plats[i], CL_PLATFORM_NAME, sizeof name, name, NULL);
        if (strstr(name, "NVIDIA") && clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_GPU, 1, &dev, NULL) != CL_SUCCESS)
            dev = NULL;
    }
    cl_uint major = 0;
    if (!dev || clGetDeviceInfo(dev, 0x4000 /* CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV */, sizeof major, &major,
                                NULL) != CL_SUCCESS || major != 9) {
        printf("wgmma_probe: no NVIDIA GPU of compute capability 9.x: skipped\n");
        return 77;
    }
    cl_int err;
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    cl_command_queue q = clCreateCommandQueue(ctx, dev, 0, &err);
    cl_program p0 = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
    char log[8192] = "";
    if (clBuildProgram(p0, 1, &dev, "", NULL, NULL) != CL_SUCCESS) {
        clGetProgramBuildInfo(p0, dev, CL_PROGRAM_BUILD_LOG, sizeof log, log, NULL);
        printf("FAIL: first build (commented wgmma): %s\n", log);
        return 1;
    }
    size_t sz = 0;
    clGetProgramInfo(p0, CL_PROGRAM_BINARY_SIZES, sizeof sz, &sz, NULL);
    char *ptx = calloc(sz + 1, 1);
    unsigned char *bins[1] = {(unsigned char *)ptx};
    clGetProgramInfo(p0, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL);
    char *pt = patch(ptx);
    size_t len = strlen(pt);
    const unsigned char *pp = (const unsigned char *)pt;
    cl_int bst = 0;
    cl_program p1 = clCreateProgramWithBinary(ctx, 1, &dev, &len, &pp, &bst, &err);
    if (!p1 || clBuildProgram(p1, 1, &dev, "-cl-nv-verbose", NULL, NULL) != CL_SUCCESS) {
        if (p1) clGetProgramBuildInfo(p1, dev, CL_PROGRAM_BUILD_LOG, sizeof log, log, NULL);
        printf("FAIL: patched PTX (sm_90a, wgmma) does not build (%d): %s\n", err, log);
        const char *w = strstr(pt, "wgmma.mma_async");
        if (w) printf("patched line: %.200s\n", w);
        return 1;
    }
    clGetProgramBuildInfo(p1, dev, CL_PROGRAM_BUILD_LOG, sizeof log, log, NULL);
    printf("patched PTX built:\n%s\n", log);
    unsigned short ha[64 * 16], hb[32 * 16];
    int ia[64 * 16], ib[32 * 16];
    for (int i = 0; i < 64 * 16; i++) ia[i] = (i * 7 + 3) % 9 - 4, ha[i] = bf16(ia[i]);
    for (int i = 0; i < 32 * 16; i++) ib[i] = (i * 5 + 1) % 7 - 3, hb[i] = bf16(ib[i]);
    cl_mem ba = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof ha, ha, &err);
    cl_mem bb = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof hb, hb, &err);
    cl_mem bd = clCreateBuffer(ctx, CL_MEM_WRITE_ONLY, 64 * 32 * sizeof(float), NULL, &err);
    cl_kernel k = clCreateKernel(p1, "probe", &err);
    clSetKernelArg(k, 0, sizeof ba, &ba);
    clSetKernelArg(k, 1, sizeof bb, &bb);
    clSetKernelArg(k, 2, sizeof bd, &bd);
    size_t gws = 128, lws = 128;
    float hd[64 * 32];
    err = clEnqueueNDRangeKernel(q, k, 1, NULL, &gws, &lws, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clEnqueueReadBuffer(q, bd, CL_TRUE, 0, sizeof hd, hd, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        printf("FAIL: run: %d\n", err);
        return 1;
    }
    int bad = 0;
    for (int m = 0; m < 64; m++)
        for (int n = 0; n < 32; n++) {
            int ref = 0;
            for (int kk = 0; kk < 16; kk++) ref += ia[m * 16 + kk] * ib[n * 16 + kk];
            if (hd[m * 32 + n] != (float)ref) {
                if (bad < 5) printf("D[%d][%d] = %g, expected %d\n", m, n, hd[m * 32 + n], ref);
                bad++;
            }
        }
    printf("%s: wgmma m64n32k16 bf16 through OpenCL (patched PTX): %d of %d elements wrong\n",
           bad ? "FAIL" : "PASS", bad, 64 * 32);
    return bad ? 1 : 0;
}
