/* Hopper's warpgroup MMA through NVIDIA's OpenCL, which compiles for .target sm_90 where ptxas
 * refuses wgmma: kernels built with -DWGMMA=1 -DSCL_MMA_PTX write their wgmma lines as PTX
 * comments ("// @...", kernels/mma.clh), so the first build allocates and substitutes their
 * operands; here the built program's PTX (NVIDIA's program binary) gets those lines uncommented and
 * its target raised to sm_90a, and is built again from that binary (tests/mma/wgmma_probe.c first
 * showed this path). The program cache then stores the patched PTX. */
#include "internal.h"

#include "ptx_wgmma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool scli_ptx_wants_wgmma(const char *options)
{
    return options && strstr(options, "-DSCL_MMA_PTX") && strstr(options, "-DWGMMA=1");
}

/* Uncomments every "// @" and turns ".target sm_90" into ".target sm_90a"; with min_groups > 0
 * also gives the forward kernel ".minnctapersm min_groups" (between its parameter list and its
 * body), so that ptxas fits its registers to that many work-groups per SM (OpenCL has no option
 * for it: the driver ignores -cl-nv-maxrregcount). NULL with *no_target set when the PTX has no
 * such target (a device other than compute capability 9.0), NULL alone when out of memory. */
static char *patch(const char *ptx, int min_groups, bool *no_target)
{
    const char *t = strstr(ptx, ".target sm_90");
    *no_target = !t || t[13] == 'a' || (t[13] >= '0' && t[13] <= '9');
    if (*no_target) return NULL;
    const char *entry = min_groups > 0 ? strstr(ptx, ".entry attn_fwd_mma(") : NULL;
    const char *close = entry ? strstr(entry, "\n)") : NULL;
    const char *body = close ? strchr(close + 1, '\n') : NULL; /* the line after the parameters */
    char dir[40] = "";
    if (body) snprintf(dir, sizeof dir, ".minnctapersm %d\n", min_groups);
    char *out = malloc(strlen(ptx) + strlen(dir) + 2), *o = out;
    if (!out) return NULL;
    for (const char *p = ptx; *p;) {
        if (p == t) {
            memcpy(o, ".target sm_90a", 14), o += 14, p += 13;
        } else if (strncmp(p, "// @", 4) == 0)
            p += 4;
        else {
            *o++ = *p++;
            if (p == body + 1) o += sprintf(o, "%s", dir);
        }
    }
    *o = '\0';
    return out;
}

scl_status scli_ptx_wgmma_rebuild(scl_runtime *rt, cl_program *prog, const char *options, const char *label)
{
    size_t size = 0;
    cl_int err = clGetProgramInfo(*prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL);
    if (err != CL_SUCCESS || size == 0)
        return scli_fail_cl(rt, "clGetProgramInfo(CL_PROGRAM_BINARY_SIZES)", err, label);
    char *ptx = calloc(size + 1, 1);
    if (!ptx)
        return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "%s: no memory for its PTX (%zu bytes)", label, size);
    unsigned char *bins[1] = {(unsigned char *)ptx};
    err = clGetProgramInfo(*prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL);
    bool no_target = false;
    const char *mg = strstr(options, "-DMIN_GROUPS=");
    char *patched = err == CL_SUCCESS ? patch(ptx, mg ? atoi(mg + 13) : 0, &no_target) : NULL;
    free(ptx);
    if (err != CL_SUCCESS) return scli_fail_cl(rt, "clGetProgramInfo(CL_PROGRAM_BINARIES)", err, label);
    if (no_target)
        return scli_fail(rt, SCL_ERR_BUILD,
                         "%s: WGMMA=1 needs PTX for .target sm_90 (compute capability 9.0); this program's "
                         "binary has none",
                         label);
    if (!patched)
        return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "%s: no memory for its patched PTX (%zu bytes)", label,
                         size);
    size_t len = strlen(patched);
    const unsigned char *src = (const unsigned char *)patched;
    cl_int bin_status = CL_SUCCESS;
    cl_program np = clCreateProgramWithBinary(rt->ctx, 1, &rt->dev.device, &len, &src, &bin_status, &err);
    if (err == CL_SUCCESS && bin_status == CL_SUCCESS)
        err = clBuildProgram(np, 1, &rt->dev.device, options, NULL, NULL);
    free(patched);
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS) {
        scl_status st = np ? scli_build_log_error(rt, np, err ? err : bin_status, label, "patched sm_90a PTX")
                           : scli_fail_cl(rt, "clCreateProgramWithBinary (patched sm_90a PTX)",
                                          err ? err : bin_status, label);
        if (np) clReleaseProgram(np);
        return st;
    }
    clReleaseProgram(*prog);
    *prog = np;
    return SCL_OK;
}
