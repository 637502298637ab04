/* Tensor-core forward (kernels/attn_fwd_mma.cl) against the double-precision reference, on the
 * default device: PTX mma.sync on NVIDIA sm_80+, the portable emulation elsewhere (PoCL in CI).
 *
 *   test_mma_fwd            correctness cases (tiny: the emulation is slow)
 *   test_mma_fwd --full     more cases and every supported head dim (for a GPU)
 *   test_mma_fwd --bench-only   no correctness cases (with SCL_MMA_SWEEP / SCL_MMA_BENCH)
 *   SCL_MMA_SWEEP=1         also times tile configurations at N = 16384 (dense, block 128)
 *   SCL_MMA_BENCH=1         also times the benchmark shapes (N = 16384, H = 16) and prints TFLOP/s
 *   SCL_MMA_PARAMS="BQ=128,BK=64,WARPS=4,STAGES=2,QREG=0,SWIZZLE=1"  overrides the defaults
 *   SCL_MMA_VERBOSE=1       prints every build log (-cl-nv-verbose on NVIDIA: ptxas registers/spills)
 *
 * Tolerances (max |O - O_ref| over max |V| = 1, since O is a convex combination of V rows):
 * P is rounded to the storage type before P V, as FlashAttention does, and O is rounded on store;
 * each costs at most half an ulp relative: 2^-11 (f16) and 2^-8 (bf16). Bounds: f16 2e-3,
 * bf16 1.6e-2 (about 2x the sum of both roundings); LSE (from f32 sums, no 16-bit rounding) 1e-3.
 * The worst errors seen are printed at the end. */
#define CL_TARGET_OPENCL_VERSION 120
#include "../check.h"
#include "scl_patterns.h"
#include "sparsecl.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV
#define CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV 0x4000
#define CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV 0x4001
#endif

#define TOL_F16 2e-3
#define TOL_BF16 1.6e-2
#define TOL_LSE 1e-3

/* Can this device run the inline-PTX form (-DSCL_MMA_PTX)? NVIDIA with compute capability 8.0+
 * (mma.sync m16n8k16 f16/bf16, ldmatrix, cp.async). To move into the library's variant registry. */
static int scl_mma_ptx_capable(cl_device_id dev)
{
    size_t n = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || n == 0) return 0;
    char *ext = malloc(n + 1);
    if (!ext) return 0;
    int ok = clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, n, ext, NULL) == CL_SUCCESS &&
             strstr(ext, "cl_nv_device_attribute_query") != NULL;
    free(ext);
    cl_uint major = 0, minor = 0;
    if (ok)
        ok = clGetDeviceInfo(dev, CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV, sizeof major, &major, NULL) ==
                 CL_SUCCESS &&
             clGetDeviceInfo(dev, CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV, sizeof minor, &minor, NULL) ==
                 CL_SUCCESS;
    return ok && major >= 8;
}

typedef struct mma_params {
    int bq, bk, warps, stages, qreg, swizzle, wgmma;
} mma_params;
static int want_wgmma; /* SCL_MMA_WGMMA=1: the wgmma form (WGMMA=1) wherever its tiles fit */

/* wgmma needs 64-row warpgroup tiles (BQ >= 64, 4 or 8 warps) and Q in registers unless the tiles
 * are slab tiles (QREG=0 reads Q by descriptor: d a multiple of 64, swizzled); d = 128 at BQ = 128
 * takes 8 warps (one m64 tile each) so that S and O fit the registers, and 128-key tiles (the
 * library's tiles there: host/src/params_fwd_mma.c; it also pipelines them with the warpgroups
 * taking turns, WG_PIPE=1 WG_PP=1, which the wgmma forms below run). */
static void fit_wgmma(mma_params *p, int d)
{
    if (p->wgmma && (p->bq < 64 || d > 128)) p->wgmma = 0;
    if (!p->wgmma) return;
    if (d % 64 || !p->swizzle) p->qreg = 1;
    if (p->warps % 4 || p->bq % (16 * p->warps)) p->warps = 4;
    if (d > 64 && p->bq >= 128 && p->warps < 8) p->warps = 8;
    if (d == 128 && p->bq >= 128) p->bk = 128;
}

/* Defaults by head dim and block: 128-row query tiles where the block allows (4 warps x 2 m16
 * tiles), 64-key tiles, Q fragments in registers up to d = 64 (d = 128 would need 64 more). */
static mma_params mma_defaults(int d, int block)
{
    mma_params p = {0};
    p.bq = block < 128 ? block : 128;
    /* Measured on the H200 (results/matrix-engine): 2 m16 tiles per warp where the tile allows
     * (BQ 128: 4 warps; BQ 64 at d <= 64: 2 warps), else 16 rows per warp. */
    p.warps = p.bq >= 128 || (p.bq == 64 && d > 64) ? 4 : p.bq == 64 ? 2 : p.bq / 16;
    if (d >= 256) {
        p.bq = block < 64 ? block : 64;
        p.warps = p.bq >= 64 ? 4 : p.bq / 16;
    }
    p.bk = block < 64 ? block : 64;
    if (d >= 256 && p.bk > 32) p.bk = 32;
    p.stages = 2;
    /* wgmma: Q fragments in registers, except d = 128 with 128-row tiles (Q by descriptor, as the
     * library chooses there) */
    p.qreg = d <= 64 || (want_wgmma && !(d == 128 && p.bq >= 128));
    p.swizzle = 1;
    p.wgmma = want_wgmma;
    fit_wgmma(&p, d);
    return p;
}

static void params_override(mma_params *p, const char *text)
{
    if (!text || !*text) return;
    const char *s = text;
    while (*s) {
        char key[16];
        int val, used = 0;
        if (sscanf(s, "%15[A-Z]=%d%n", key, &val, &used) != 2) break;
        if (!strcmp(key, "BQ"))
            p->bq = val;
        else if (!strcmp(key, "BK"))
            p->bk = val;
        else if (!strcmp(key, "WARPS"))
            p->warps = val;
        else if (!strcmp(key, "STAGES"))
            p->stages = val;
        else if (!strcmp(key, "QREG"))
            p->qreg = val;
        else if (!strcmp(key, "SWIZZLE"))
            p->swizzle = val;
        else if (!strcmp(key, "WGMMA"))
            p->wgmma = val;
        s += used;
        if (*s == ',') s++;
    }
}

/* ---- 16-bit formats on the host ---- */
static uint16_t f2h(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t s = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) return (uint16_t)(s | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0));
    if (a >= 0x477ff000u) return (uint16_t)(s | 0x7c00u); /* rounds to >= 65520: inf */
    if (a < 0x38800000u) { /* subnormal half: round a * 2^24 to an integer, to nearest even */
        float af;
        memcpy(&af, &a, 4);
        double x = (double)af * 16777216.0;
        double r = nearbyint(x);
        return (uint16_t)(s | (uint32_t)r);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u;
    return (uint16_t)(s | (r >> 13));
}
static float h2f(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, u;
    if (e == 0) {
        float v = (float)m * 5.9604644775390625e-8f;
        return s ? -v : v;
    }
    u = e == 31 ? s | 0x7f800000u | (m << 13) : s | ((e + 112u) << 23) | (m << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint16_t f2bf(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static float bf2f(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}

/* ---- programs, cached by option string ---- */
typedef struct prog_entry {
    char opts[512];
    cl_program prog;
    cl_kernel prep, fwd;
} prog_entry;
static prog_entry progs[64];
static int n_progs;
static int use_ptx, verbose;
static const char *extra_opts = ""; /* appended to the build options (timing experiments) */
static int kv_copy; /* 1: K and V through attn_prep_kv's padded copy (as plans with a key map); 0: read in place */
/* "maxnreg=N" (.maxnreg), "minctas=N" (.minnctapersm), "sm90a" (.target sm_90a), "wgfence" (a
 * wgmma.fence at entry: is Hopper's wgmma reachable this way?), comma-separated */
static const char *ptx_patch = "";
static char *ptx_dump_path; /* SCL_MMA_PTX_DUMP: the PTX of every program, appended */
static FILE *build_log_file;

static void build_opts(char *buf, size_t n, int d, int block, int bf16, const mma_params *p)
{
    snprintf(
        buf, n,
        "-DD=%d -DBLOCK=%d -DBQ=%d -DBK=%d -DWARPS=%d -DSTAGES=%d -DQREG=%d -DSWIZZLE=%d -DWGMMA=%d -D%s%s%s",
        d, block, p->bq, p->bk, p->warps, p->stages, p->qreg, p->swizzle, p->wgmma,
        bf16 ? "SCL_BF16" : "SCL_F16", use_ptx ? " -DSCL_MMA_PTX -cl-nv-verbose" : "", extra_opts);
    if (*ptx_patch) snprintf(buf + strlen(buf), n - strlen(buf), " -DSCL_PTX_PATCH_%s", ptx_patch);
}

/* Timing experiments only: PTX directives the OpenCL compiler cannot be asked for, patched into the
 * program's PTX (NVIDIA returns PTX as the program binary) and JIT-compiled again from it. */
static cl_program repatch_ptx(cl_program prog, scl_runtime *rt, const char *patch)
{
    cl_device_id dev = scl_runtime_device(rt)->device;
    size_t sz = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof sz, &sz, NULL) != CL_SUCCESS || !sz) return NULL;
    char *bin = calloc(sz + 1, 1), *out = calloc(sz + 1024, 1);
    unsigned char *bins[1] = {(unsigned char *)bin};
    cl_program np = NULL;
    if (!bin || !out || clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS) goto done;
    const char *ent = strstr(bin, ".entry attn_fwd_mma(");
    const char *close = ent ? strstr(ent, "\n)") : NULL;
    if (!close) goto done;
    const char *after = strchr(close + 1, '\n');
    if (!after) goto done;
    after++;
    char dirs[256] = "";
    int v;
    const char *q;
    if ((q = strstr(patch, "maxnreg=")) && sscanf(q, "maxnreg=%d", &v) == 1)
        snprintf(dirs + strlen(dirs), sizeof dirs - strlen(dirs), ".maxnreg %d\n", v);
    if ((q = strstr(patch, "minctas=")) && sscanf(q, "minctas=%d", &v) == 1)
        snprintf(dirs + strlen(dirs), sizeof dirs - strlen(dirs), ".minnctapersm %d\n", v);
    size_t head = (size_t)(after - bin);
    memcpy(out, bin, head);
    strcpy(out + head, dirs);
    strcat(out, after);
    if (strstr(patch, "wgfence")) { /* does ptxas take a Hopper wgmma instruction from here? */
        char *body = strstr(out + head, "\n{\n");
        if (body) {
            static const char ins[] = "\twgmma.fence.sync.aligned;\n";
            body += 3;
            memmove(body + sizeof ins - 1, body, strlen(body) + 1);
            memcpy(body, ins, sizeof ins - 1);
        }
    }
    if (strstr(patch, "sm90a")) {
        char *t = strstr(out, ".target sm_90");
        if (t && t[13] != 'a') {
            memmove(t + 14, t + 13, strlen(t + 13) + 1);
            t[13] = 'a';
        }
    }
    if (ptx_dump_path) {
        FILE *f = fopen(ptx_dump_path, "a");
        if (f) fprintf(f, "// ===== patched (%s)\n%s\n", patch, out), fclose(f);
    }
    size_t len = strlen(out);
    const unsigned char *src = (const unsigned char *)out;
    cl_int st = 0, err = 0;
    np = clCreateProgramWithBinary(scl_runtime_context(rt), 1, &dev, &len, &src, &st, &err);
    if (np && clBuildProgram(np, 1, &dev, "-cl-nv-verbose", NULL, NULL) != CL_SUCCESS) {
        char log[4096] = "";
        clGetProgramBuildInfo(np, dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        printf("patched PTX (%s) does not build: %s\n", patch, log);
        clReleaseProgram(np);
        np = NULL;
    }
done:
    free(bin);
    free(out);
    return np;
}

static prog_entry *get_program(scl_runtime *rt, const char *opts)
{
    for (int i = 0; i < n_progs; i++)
        if (!strcmp(progs[i].opts, opts)) return &progs[i];
    if (n_progs == (int)(sizeof progs / sizeof progs[0])) { /* full: drop the oldest */
        clReleaseKernel(progs[0].prep);
        clReleaseKernel(progs[0].fwd);
        clReleaseProgram(progs[0].prog);
        memmove(progs, progs + 1, sizeof progs[0] * (size_t)(--n_progs));
    }
    prog_entry *e = &progs[n_progs];
    memset(e, 0, sizeof *e);
    snprintf(e->opts, sizeof e->opts, "%s", opts);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int from_cache = 0;
    if (scl_build_program(rt, "attn_fwd_mma.cl", opts, &e->prog, &from_cache) != SCL_OK) {
        CHECK(0, "build '%s': %s", opts, scl_last_error_message(rt));
        return NULL;
    }
    cl_device_id dev = scl_runtime_device(rt)->device;
    if (ptx_dump_path && !*ptx_patch) {
        size_t sz = 0;
        clGetProgramInfo(e->prog, CL_PROGRAM_BINARY_SIZES, sizeof sz, &sz, NULL);
        char *bin = calloc(sz + 1, 1);
        unsigned char *bins[1] = {(unsigned char *)bin};
        FILE *f = bin ? fopen(ptx_dump_path, "a") : NULL;
        if (f && clGetProgramInfo(e->prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
            fprintf(f, "// ===== %s\n%s\n", opts, bin);
        if (f) fclose(f);
        free(bin);
    }
    if (*ptx_patch && use_ptx) {
        cl_program np = repatch_ptx(e->prog, rt, ptx_patch);
        clReleaseProgram(e->prog);
        e->prog = np;
        if (!np) {
            CHECK(0, "PTX patch '%s' failed for '%s'", ptx_patch, opts);
            return NULL;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    size_t ls = 0;
    clGetProgramBuildInfo(e->prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &ls);
    char *log = calloc(ls + 1, 1);
    if (log && ls) clGetProgramBuildInfo(e->prog, dev, CL_PROGRAM_BUILD_LOG, ls, log, NULL);
    double sec = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    if (build_log_file)
        fprintf(build_log_file, "=== %s (%.2f s%s)\n%s\n", opts, sec, from_cache ? ", cached" : "",
                log ? log : "");
    if (verbose) printf("build %s: %.2f s%s\n%s\n", opts, sec, from_cache ? " (cached)" : "", log ? log : "");
    /* One summary line per build from ptxas' report: registers, spills, shared memory. */
    if (log && use_ptx) {
        const char *u = strstr(log, "attn_fwd_mma");
        const char *r = u ? strstr(u, "Used ") : NULL;
        const char *sp = u ? strstr(u, "bytes spill stores") : NULL;
        if (r) {
            int regs = 0;
            sscanf(r, "Used %d registers", &regs);
            int spill = 0;
            if (sp) {
                const char *q = sp;
                while (q > u && q[-1] != ',' && q[-1] != '\n' && q[-1] != ':')
                    q--;
                sscanf(q, " %d", &spill);
            }
            printf("ptxas attn_fwd_mma: %d registers, %d bytes spill stores [%s]\n", regs, spill, opts);
        }
    }
    free(log);
    cl_int err;
    e->prep = clCreateKernel(e->prog, "attn_prep_kv", &err);
    e->fwd = clCreateKernel(e->prog, "attn_fwd_mma", &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (verbose)
        printf("kernels created after %.2f s\n", (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
    if (!e->prep || !e->fwd) {
        CHECK(0, "clCreateKernel failed (%d) for '%s'", err, opts);
        return NULL;
    }
    n_progs++;
    return e;
}

/* ---- one case ---- */
typedef struct mcase {
    const char *spec;
    int batch, heads, kv_heads;
    int64_t n_q, n_k;
    int d, block, bf16, bnhd;
} mcase;

typedef struct run_ctx {
    spc_bound *bound;
    spc_lut *lut;
    cl_mem row_ptr, col_idx, row_mask, masks, head_layout;
} run_ctx;

static double worst_o[2], worst_lse[2];

static cl_mem make_buf(cl_context ctx, size_t bytes, const void *src)
{
    cl_int err;
    if (bytes == 0) bytes = 4;
    cl_mem m = clCreateBuffer(ctx, src ? CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR : CL_MEM_READ_WRITE, bytes,
                              (void *)src, &err);
    if (err != CL_SUCCESS) fprintf(stderr, "clCreateBuffer(%zu) failed: %d\n", bytes, err);
    return m;
}

static int compile_lut(const mcase *c, run_ctx *r, cl_context ctx)
{
    spc_pattern *pat = NULL;
    spc_error err = {0};
    spc_geometry g = {c->n_q, c->n_k, c->block, c->heads};
    if (spc_parse(c->spec, &pat, &err) != 0 || spc_bind(pat, &g, &r->bound, &err) != 0 ||
        spc_compile(r->bound, &r->lut, &err) != 0) {
        CHECK(0, "pattern '%s': %s", c->spec, err.message);
        spc_pattern_free(pat);
        return 0;
    }
    spc_pattern_free(pat);
    const spc_lut *l = r->lut;
    r->row_ptr = make_buf(ctx, (size_t)l->n_layouts * (l->nb_q + 1) * 4, l->row_ptr);
    r->col_idx = make_buf(ctx, (size_t)l->nnz * 4, l->nnz ? l->col_idx : NULL);
    r->row_mask = make_buf(ctx, (size_t)l->nnz * 4, l->nnz ? l->row_mask : NULL);
    r->masks = make_buf(ctx, (size_t)l->n_masks * l->mask_words * 4, l->n_masks ? l->masks : NULL);
    r->head_layout = make_buf(ctx, (size_t)l->heads * 4, l->head_layout);
    return r->row_ptr && r->col_idx && r->row_mask && r->masks && r->head_layout;
}

static void free_lut(run_ctx *r)
{
    cl_mem m[] = {r->row_ptr, r->col_idx, r->row_mask, r->masks, r->head_layout};
    for (int i = 0; i < 5; i++)
        if (m[i]) clReleaseMemObject(m[i]);
    spc_lut_free(r->lut);
    spc_bound_free(r->bound);
    memset(r, 0, sizeof *r);
}

typedef struct tensors {
    uint16_t *q, *k, *v, *o;
    float *lse;
    cl_mem bq, bk, bv, bo, blse, bkt, bvp;
    int64_t nkp;
    long q_sb, q_sh, q_sn, k_sb, k_sh, k_sn;
} tensors;

/* Enqueue prep + forward; returns the forward's event (and the prep's through *prep_ev). */
static int enqueue(scl_runtime *rt, prog_entry *pe, const mcase *c, const mma_params *p, run_ctx *r,
                   tensors *t, cl_event *prep_ev, cl_event *fwd_ev)
{
    cl_command_queue qu = scl_runtime_queue(rt);
    cl_int err = CL_SUCCESS;
    cl_int n_q = (cl_int)c->n_q, n_k = (cl_int)c->n_k, nkp = (cl_int)t->nkp, heads = c->heads,
           kvh = c->kv_heads, group = c->heads / c->kv_heads, nb_q = r->lut->nb_q, mw = r->lut->mask_words;
    cl_float scale = (cl_float)(1.0 / sqrt((double)c->d));
    cl_mem nomap = NULL;
    cl_uint a = 0;
    *prep_ev = NULL;
    cl_long kvs[3] = {t->k_sb, t->k_sh, t->k_sn}; /* the kernel reads K and V where they are ... */
    cl_mem kt = t->bk, vp = t->bv;
    if (kv_copy) { /* ... or the plan's padded copy, [B*H_kv][NKP][D] */
        kvs[0] = (cl_long)kvh * t->nkp * c->d, kvs[1] = (cl_long)t->nkp * c->d, kvs[2] = c->d;
        kt = t->bkt, vp = t->bvp;
        cl_mem pa[] = {t->bk, t->bv, t->bkt, t->bvp};
        for (int i = 0; i < 4; i++)
            err |= clSetKernelArg(pe->prep, a++, sizeof(cl_mem), &pa[i]);
        err |= clSetKernelArg(pe->prep, a++, sizeof(cl_mem), &nomap);
        err |= clSetKernelArg(pe->prep, a++, sizeof n_k, &n_k);
        err |= clSetKernelArg(pe->prep, a++, sizeof nkp, &nkp);
        err |= clSetKernelArg(pe->prep, a++, sizeof kvh, &kvh);
        cl_long ks[3] = {t->k_sb, t->k_sh, t->k_sn};
        for (int i = 0; i < 3; i++)
            err |= clSetKernelArg(pe->prep, a++, sizeof(cl_long), &ks[i]);
        size_t pg[3] = {((size_t)c->d + 31) / 32 * 32, ((size_t)t->nkp + 31) / 32 * 2,
                        (size_t)c->batch * c->kv_heads},
               pl[3] = {32, 2, 1};
        if (err != CL_SUCCESS) {
            CHECK(0, "prep args: %d", err);
            return 0;
        }
        err = clEnqueueNDRangeKernel(qu, pe->prep, 3, NULL, pg, pl, 0, NULL, prep_ev);
        if (err != CL_SUCCESS) {
            CHECK(0, "prep enqueue: %d", err);
            return 0;
        }
    }
    a = 0;
    cl_mem fa[] = {t->bq,      kt,         vp,          t->bo,    t->blse,
                   r->row_ptr, r->col_idx, r->row_mask, r->masks, r->head_layout};
    for (int i = 0; i < 10; i++)
        err |= clSetKernelArg(pe->fwd, a++, sizeof(cl_mem), &fa[i]);
    err |= clSetKernelArg(pe->fwd, a++, sizeof n_q, &n_q);
    err |= clSetKernelArg(pe->fwd, a++, sizeof n_k, &n_k);
    err |= clSetKernelArg(pe->fwd, a++, sizeof nkp, &nkp);
    err |= clSetKernelArg(pe->fwd, a++, sizeof heads, &heads);
    err |= clSetKernelArg(pe->fwd, a++, sizeof group, &group);
    cl_long qs[3] = {t->q_sb, t->q_sh, t->q_sn};
    for (int i = 0; i < 3; i++)
        err |= clSetKernelArg(pe->fwd, a++, sizeof(cl_long), &qs[i]);
    err |= clSetKernelArg(pe->fwd, a++, sizeof nb_q, &nb_q);
    err |= clSetKernelArg(pe->fwd, a++, sizeof mw, &mw);
    err |= clSetKernelArg(pe->fwd, a++, sizeof scale, &scale);
    for (int i = 0; i < 3; i++)
        err |= clSetKernelArg(pe->fwd, a++, sizeof(cl_long), &kvs[i]);
    cl_mem nomaps[2] = {NULL, NULL}; /* no component maps, no merge (decomposed plans: test_forward) */
    cl_int lse_n = n_q, merge = 0;
    for (int i = 0; i < 2; i++)
        err |= clSetKernelArg(pe->fwd, a++, sizeof(cl_mem), &nomaps[i]);
    err |= clSetKernelArg(pe->fwd, a++, sizeof lse_n, &lse_n);
    err |= clSetKernelArg(pe->fwd, a++, sizeof merge, &merge);
    for (int i = 0; i < 3; i++) /* no split rows (plans: test_forward with SPARSECL_SPLIT_ROWS) */
        err |= clSetKernelArg(pe->fwd, a++, sizeof(cl_mem), &nomaps[0]);
    if (err != CL_SUCCESS) {
        CHECK(0, "fwd args: %d", err);
        return 0;
    }
    size_t wg = (size_t)p->warps * 32;
    size_t gws[2] = {(size_t)((c->n_q + p->bq - 1) / p->bq) * wg, (size_t)c->batch * c->heads},
           lws[2] = {wg, 1};
    err = clEnqueueNDRangeKernel(qu, pe->fwd, 2, NULL, gws, lws, *prep_ev ? 1 : 0, *prep_ev ? prep_ev : NULL, fwd_ev);
    if (err != CL_SUCCESS) {
        CHECK(0, "fwd enqueue: %d", err);
        return 0;
    }
    return 1;
}

static int make_tensors(scl_runtime *rt, const mcase *c, tensors *t)
{
    cl_context ctx = scl_runtime_context(rt);
    size_t nq = (size_t)c->batch * c->heads * c->n_q * c->d,
           nk = (size_t)c->batch * c->kv_heads * c->n_k * c->d;
    t->nkp = (c->n_k + c->block - 1) / c->block * c->block;
    if (c->bnhd) {
        t->q_sb = (long)c->n_q * c->heads * c->d, t->q_sh = c->d, t->q_sn = (long)c->heads * c->d;
        t->k_sb = (long)c->n_k * c->kv_heads * c->d, t->k_sh = c->d, t->k_sn = (long)c->kv_heads * c->d;
    } else {
        t->q_sb = (long)c->heads * c->n_q * c->d, t->q_sh = (long)c->n_q * c->d, t->q_sn = c->d;
        t->k_sb = (long)c->kv_heads * c->n_k * c->d, t->k_sh = (long)c->n_k * c->d, t->k_sn = c->d;
    }
    t->q = malloc(nq * 2), t->k = malloc(nk * 2), t->v = malloc(nk * 2), t->o = malloc(nq * 2);
    t->lse = malloc((size_t)c->batch * c->heads * c->n_q * 4);
    if (!t->q || !t->k || !t->v || !t->o || !t->lse) return 0;
    uint16_t (*cv)(float) = c->bf16 ? f2bf : f2h;
    for (size_t i = 0; i < nq; i++)
        t->q[i] = cv(frand());
    for (size_t i = 0; i < nk; i++)
        t->k[i] = cv(frand()), t->v[i] = cv(frand());
    for (size_t i = 0; i < nq; i++)
        t->o[i] = 0x7e00; /* NaN pattern: unwritten outputs show */
    t->bq = make_buf(ctx, nq * 2, t->q), t->bk = make_buf(ctx, nk * 2, t->k),
    t->bv = make_buf(ctx, nk * 2, t->v);
    t->bo = make_buf(ctx, nq * 2, t->o);
    t->blse = make_buf(ctx, (size_t)c->batch * c->heads * c->n_q * 4, NULL);
    size_t np = (size_t)c->batch * c->kv_heads * t->nkp * c->d * 2;
    t->bkt = make_buf(ctx, np, NULL), t->bvp = make_buf(ctx, np, NULL);
    return t->bq && t->bk && t->bv && t->bo && t->blse && t->bkt && t->bvp;
}

static void free_tensors(tensors *t)
{
    cl_mem m[] = {t->bq, t->bk, t->bv, t->bo, t->blse, t->bkt, t->bvp};
    for (int i = 0; i < 7; i++)
        if (m[i]) clReleaseMemObject(m[i]);
    free(t->q), free(t->k), free(t->v), free(t->o), free(t->lse);
    memset(t, 0, sizeof *t);
}

/* Reference row (b, h, i) in double; returns the LSE, fills o_ref[d]. */
static double ref_row(const mcase *c, const run_ctx *r, const tensors *t, int b, int h, int64_t i,
                      double *o_ref, double *s)
{
    float (*cv)(uint16_t) = c->bf16 ? bf2f : h2f;
    const int hk = h / (c->heads / c->kv_heads);
    const uint16_t *qr = t->q + b * t->q_sb + h * t->q_sh + i * t->q_sn;
    double mx = -INFINITY;
    for (int64_t j = 0; j < c->n_k; j++) {
        if (!spc_allowed(r->bound, h, i, j)) {
            s[j] = -INFINITY;
            continue;
        }
        const uint16_t *kr = t->k + b * t->k_sb + hk * t->k_sh + j * t->k_sn;
        double acc = 0;
        for (int x = 0; x < c->d; x++)
            acc += (double)cv(qr[x]) * cv(kr[x]);
        s[j] = acc / sqrt((double)c->d);
        if (s[j] > mx) mx = s[j];
    }
    for (int x = 0; x < c->d; x++)
        o_ref[x] = 0;
    if (mx == -INFINITY) return -INFINITY;
    double l = 0;
    for (int64_t j = 0; j < c->n_k; j++) {
        if (s[j] == -INFINITY) continue;
        const double p = exp(s[j] - mx);
        l += p;
        const uint16_t *vr = t->v + b * t->k_sb + hk * t->k_sh + j * t->k_sn;
        for (int x = 0; x < c->d; x++)
            o_ref[x] += p * cv(vr[x]);
    }
    for (int x = 0; x < c->d; x++)
        o_ref[x] /= l;
    return mx + log(l);
}

/* Compares rows (all when stride_rows = 1); returns the worst O and LSE errors. */
static void compare(const mcase *c, const run_ctx *r, const tensors *t, int sample, double *eo, double *el,
                    int *bad_empty)
{
    float (*cv)(uint16_t) = c->bf16 ? bf2f : h2f;
    double *o_ref = malloc(sizeof(double) * (size_t)c->d), *s = malloc(sizeof(double) * (size_t)c->n_k);
    *eo = 0, *el = 0, *bad_empty = 0;
    const int64_t rows = (int64_t)c->batch * c->heads * c->n_q;
    const int64_t n = sample ? sample : rows;
    for (int64_t k = 0; k < n; k++) {
        const int64_t idx = sample ? (int64_t)((uint64_t)(k * 2654435761u + 12345) % (uint64_t)rows) : k;
        const int b = (int)(idx / (c->heads * c->n_q)), h = (int)(idx / c->n_q % c->heads);
        const int64_t i = idx % c->n_q;
        const double lref = ref_row(c, r, t, b, h, i, o_ref, s);
        const float lg = t->lse[((int64_t)b * c->heads + h) * c->n_q + i];
        const uint16_t *orow = t->o + b * t->q_sb + h * t->q_sh + i * t->q_sn;
        if (lref == -INFINITY) {
            int ok = lg == -INFINITY;
            for (int x = 0; x < c->d; x++)
                ok &= cv(orow[x]) == 0.0f;
            *bad_empty += !ok;
            continue;
        }
        const double e = fabs(lg - lref);
        if (!(e <= *el)) *el = isnan(e) ? INFINITY : e;
        for (int x = 0; x < c->d; x++) {
            const double d = fabs(cv(orow[x]) - o_ref[x]);
            if (!(d <= *eo)) *eo = isnan(d) ? INFINITY : d;
        }
    }
    free(o_ref);
    free(s);
}

static void run_case(scl_runtime *rt, const mcase *c, const mma_params *p_in)
{
    mma_params p = p_in ? *p_in : mma_defaults(c->d, c->block);
    if (!p_in) params_override(&p, getenv("SCL_MMA_PARAMS"));
    if (p.bq > c->block) p.bq = c->block, p.warps = p.bq / 16 < p.warps ? p.bq / 16 : p.warps;
    if (p.bk > c->block) p.bk = c->block;
    if (p.wgmma) fit_wgmma(&p, c->d);
    char label[384];
    snprintf(label, sizeof label,
             "'%s' B=%d H=%d/%d N=%lld/%lld d=%d b=%d %s%s [BQ=%d BK=%d W=%d S=%d Q=%d%s]", c->spec, c->batch,
             c->heads, c->kv_heads, (long long)c->n_q, (long long)c->n_k, c->d, c->block,
             c->bf16 ? "bf16" : "f16", c->bnhd ? " BNHD" : "", p.bq, p.bk, p.warps, p.stages, p.qreg,
             p.wgmma ? " wgmma" : "");
    char opts[512];
    build_opts(opts, sizeof opts, c->d, c->block, c->bf16, &p);
    prog_entry *pe = get_program(rt, opts);
    if (!pe) return;
    run_ctx r = {0};
    tensors t = {0};
    cl_context ctx = scl_runtime_context(rt);
    if (!compile_lut(c, &r, ctx) || !make_tensors(rt, c, &t)) {
        CHECK(0, "%s: setup failed", label);
        free_lut(&r);
        free_tensors(&t);
        return;
    }
    cl_event pev = NULL, fev = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (enqueue(rt, pe, c, &p, &r, &t, &pev, &fev)) {
        cl_command_queue qu = scl_runtime_queue(rt);
        size_t nq = (size_t)c->batch * c->heads * c->n_q;
        cl_int e1 = clEnqueueReadBuffer(qu, t.bo, CL_TRUE, 0, nq * c->d * 2, t.o, 1, &fev, NULL);
        cl_int e2 = clEnqueueReadBuffer(qu, t.blse, CL_TRUE, 0, nq * 4, t.lse, 1, &fev, NULL);
        CHECK(e1 == CL_SUCCESS && e2 == CL_SUCCESS, "%s: read back %d %d", label, e1, e2);
        double eo, el;
        int bad_empty;
        compare(c, &r, &t, 0, &eo, &el, &bad_empty);
        const double tol = c->bf16 ? TOL_BF16 : TOL_F16;
        CHECK(eo <= tol && el <= TOL_LSE && !bad_empty,
              "%s: O err %.3g (tol %.3g), LSE err %.3g, bad empty rows %d", label, eo, tol, el, bad_empty);
        if (eo > worst_o[c->bf16]) worst_o[c->bf16] = eo;
        if (el > worst_lse[c->bf16]) worst_lse[c->bf16] = el;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("%-110s O %.2e LSE %.2e (%.1f s)\n", label, eo, el,
               (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
        fflush(stdout);
    }
    if (pev) clReleaseEvent(pev);
    if (fev) clReleaseEvent(fev);
    free_lut(&r);
    free_tensors(&t);
}

/* ---- timing ---- */
static double ev_ms(cl_event e)
{
    if (!e) return 0; /* no K/V copy when the kernel reads K and V in place */
    cl_ulong t0 = 0, t1 = 0;
    clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
    clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
    return (double)(t1 - t0) * 1e-6;
}
static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times prep + forward (median of `reps` after 2 warm-ups); prints and returns TFLOP/s.
 * Flops: 4 * d * allowed pairs (2 for S = QK^T, 2 for O = PV, per allowed (query, key) pair;
 * masked elements of computed blocks do not count). */
static double bench_case(scl_runtime *rt, const mcase *c, const mma_params *p_in, const char *tag, FILE *json)
{
    mma_params p = *p_in;
    if (p.bq > c->block) p.bq = c->block;
    if (p.bk > c->block) p.bk = c->block;
    if (p.bq < 16 * p.warps) p.warps = p.bq / 16;
    if (p.wgmma) fit_wgmma(&p, c->d);
    char opts[512];
    build_opts(opts, sizeof opts, c->d, c->block, c->bf16, &p);
    prog_entry *pe = get_program(rt, opts);
    if (!pe) return 0;
    run_ctx r = {0};
    tensors t = {0};
    double tf = 0;
    if (compile_lut(c, &r, scl_runtime_context(rt)) && make_tensors(rt, c, &t)) {
        spc_stats st;
        spc_lut_stats(r.lut, &st);
        const double flops = 4.0 * c->d * (double)st.allowed * c->batch;
        enum { REPS = 7 };
        double tf_ms[REPS], tp_ms[REPS];
        int ok = 1;
        for (int it = -2; it < REPS && ok; it++) {
            cl_event pev = NULL, fev = NULL;
            ok = enqueue(rt, pe, c, &p, &r, &t, &pev, &fev) && clWaitForEvents(1, &fev) == CL_SUCCESS;
            if (ok && it >= 0) tf_ms[it] = ev_ms(fev), tp_ms[it] = ev_ms(pev);
            if (pev) clReleaseEvent(pev);
            if (fev) clReleaseEvent(fev);
        }
        if (ok) {
            qsort(tf_ms, REPS, sizeof(double), cmp_d);
            qsort(tp_ms, REPS, sizeof(double), cmp_d);
            const double ms = tf_ms[REPS / 2], pms = tp_ms[REPS / 2];
            tf = flops / (ms * 1e-3) / 1e12;
            /* Spot check: 48 sampled rows against the double reference. */
            cl_command_queue qu = scl_runtime_queue(rt);
            size_t nq = (size_t)c->batch * c->heads * c->n_q;
            clEnqueueReadBuffer(qu, t.bo, CL_TRUE, 0, nq * c->d * 2, t.o, 0, NULL, NULL);
            clEnqueueReadBuffer(qu, t.blse, CL_TRUE, 0, nq * 4, t.lse, 0, NULL, NULL);
            double eo, el;
            int bad;
            compare(c, &r, &t, 48, &eo, &el, &bad);
            const double tol = c->bf16 ? TOL_BF16 : TOL_F16;
            if (!strstr(extra_opts, "ABLATE")) /* ablations compute wrong results on purpose */
                CHECK(eo <= tol && el <= TOL_LSE && !bad, "bench %s %s: O err %.3g LSE err %.3g", tag,
                      c->spec, eo, el);
            printf("| %s | %s | %s | %d | %d | %.4f | %d,%d,%d,%d,%d,%d | %.3f | %.3f | %.1f | %.2e |\n", tag,
                   c->spec, c->bf16 ? "bf16" : "f16", c->d, c->block, st.density, p.bq, p.bk, p.warps,
                   p.stages, p.qreg, p.swizzle, ms, pms, tf, eo);
            if (json)
                fprintf(json,
                        "{\"tag\":\"%s\",\"spec\":\"%s\",\"dtype\":\"%s\",\"n\":%lld,\"heads\":%d,\"d\":%d,"
                        "\"block\":%d,"
                        "\"density\":%.6f,\"bq\":%d,\"bk\":%d,\"warps\":%d,\"stages\":%d,\"qreg\":%d,"
                        "\"swizzle\":%d,"
                        "\"fwd_ms\":%.4f,\"prep_ms\":%.4f,\"tflops\":%.2f,\"max_err\":%.3g}\n",
                        tag, c->spec, c->bf16 ? "bf16" : "f16", (long long)c->n_q, c->heads, c->d, c->block,
                        st.density, p.bq, p.bk, p.warps, p.stages, p.qreg, p.swizzle, ms, pms, tf, eo);
            fflush(stdout);
        }
    }
    free_lut(&r);
    free_tensors(&t);
    return tf;
}

static void bench_header(void)
{
    printf("| run | pattern | dtype | d | block | density | BQ,BK,W,S,QREG,SWZ | fwd ms | prep ms | TFLOP/s "
           "| max err |\n");
    printf("| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
}

/* A 3 x 3 block layout (block 32) with an empty middle block row: rows with no allowed key. */
static const char *layout_spec = "layout(mma_empty_rows.npy)";
static int write_layout_npy(const char *path)
{
    static const uint8_t lay[9] = {1, 0, 1, 0, 0, 0, 0, 1, 1};
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 3), }");
    while ((10 + n + 1) % 64)
        hdr[n++] = ' ';
    hdr[n++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    const unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff), (unsigned char)(n >> 8)};
    int ok =
        fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)n, f) == (size_t)n && fwrite(lay, 1, 9, f) == 9;
    return fclose(f) == 0 && ok;
}

int main(int argc, char **argv)
{
    const int full = argc > 1 && !strcmp(argv[1], "--full");
    const int bench_only = argc > 1 && !strcmp(argv[1], "--bench-only"); /* timings only */
    verbose = getenv("SCL_MMA_VERBOSE") && *getenv("SCL_MMA_VERBOSE") == '1';
    want_wgmma = getenv("SCL_MMA_WGMMA") && *getenv("SCL_MMA_WGMMA") == '1';
    const char *blog = getenv("SCL_MMA_BUILD_LOG");
    if (blog && *blog) build_log_file = fopen(blog, "w");
    ptx_dump_path = getenv("SCL_MMA_PTX_DUMP");
    static char extra_env[512]; /* SCL_MMA_EXTRA_OPTS: build options for every case (kernel options) */
    if (getenv("SCL_MMA_EXTRA_OPTS")) snprintf(extra_env, sizeof extra_env, " %s", getenv("SCL_MMA_EXTRA_OPTS"));
    extra_opts = extra_env;
    scl_runtime *rt = NULL;
    if (scl_runtime_create(NULL, &rt) != SCL_OK) {
        fprintf(stderr, "test_mma_fwd: no OpenCL device: %s\n", rt ? scl_last_error_message(rt) : "");
        scl_runtime_destroy(rt);
        return 77; /* skipped */
    }
    const scl_device_info *dev = scl_runtime_device(rt);
    use_ptx = scl_mma_ptx_capable(dev->device);
    printf("device: %s (%s), %s\n", dev->name, dev->platform_name,
           use_ptx ? "inline PTX mma.sync (-DSCL_MMA_PTX)" : "portable emulation");

    /* CI (emulation: each build costs seconds of CPU compile, so cases share four builds):
     * d 16/32/64/128, blocks 16/32/64/128, f16 and bf16, both pipelines, Q in registers and not;
     * dense, causal, local, causal & strided, empty rows, odd N (77, 333), N_q != N_k both ways,
     * GQA 4/2, B = 2, [B,N,H,d] strides. */
    if (!write_layout_npy("mma_empty_rows.npy")) {
        CHECK(0, "cannot write mma_empty_rows.npy");
        return 1;
    }
    mma_params pa = {32, 32, 2, 2, 1, 1, 0}, pb = {64, 64, 4, 2, 1, 1, 0}, pc = {128, 64, 4, 1, 0, 1, 0},
               pd = {16, 16, 1, 2, 1, 1, 0};
    /* The wgmma form (emulated off Hopper): one m64 tile per warpgroup; two (BQ 128, 4 warps, 32-key
     * wgmma); two warpgroups with one K/V buffer; 128-key tiles at d = 64 (the library's d = 64
     * form with Q by descriptor, below); two warpgroups of two m64 tiles each (BQ 256, after the
     * forms). */
    mma_params pw1 = {64, 64, 4, 2, 1, 1, 1}, pw2 = {128, 32, 4, 2, 1, 1, 1}, pw3 = {128, 64, 8, 1, 1, 1, 1},
               pw4 = {128, 64, 8, 2, 1, 1, 1}, pw5 = {256, 64, 8, 2, 1, 1, 1},
               pw6 = {128, 128, 4, 2, 1, 1, 1};
    const struct {
        mcase c;
        const mma_params *p;
    } base[] = {
        {{"dense", 1, 2, 2, 64, 64, 32, 32, 0, 0}, &pa},
        {{layout_spec, 1, 2, 2, 96, 96, 32, 32, 0, 0}, &pa},  /* block row 1 empty */
        {{"causal", 2, 4, 2, 77, 130, 32, 32, 0, 0}, &pa},    /* N_q < N_k, GQA 4/2, B = 2 */
        {{"local(40)", 1, 4, 2, 150, 63, 32, 32, 0, 1}, &pa}, /* N_q > N_k (empty rows), BNHD */
        {{"causal & strided(24)", 1, 2, 2, 128, 128, 64, 64, 1, 0}, &pb},
        {{"local(20)", 1, 4, 2, 96, 130, 64, 64, 1, 0}, &pb},
        {{"causal & strided(40)", 1, 2, 1, 333, 333, 128, 128, 0, 0}, &pc},
        {{"causal", 1, 2, 2, 77, 77, 16, 16, 1, 0}, &pd},
        {{"causal & strided(24)", 1, 2, 2, 128, 128, 64, 64, 1, 0}, &pw1},
        {{"local(20)", 1, 4, 2, 96, 130, 64, 64, 0, 0}, &pw1},   /* N_q < N_k, GQA, tails */
        {{"causal", 1, 2, 1, 333, 200, 32, 128, 1, 0}, &pw2},    /* N_q > N_k: empty rows */
        {{"local(50)", 1, 1, 1, 180, 180, 16, 128, 0, 1}, &pw3}, /* BNHD */
        {{"causal & strided(40)", 1, 2, 1, 200, 190, 128, 128, 1, 0}, &pw4}, /* two 64-column slabs, tails */
        {{"local(70)", 1, 1, 1, 200, 190, 64, 128, 0, 0}, &pw6}, /* 128-key tiles at d = 64 (one wgmma of S) */
    };
    for (size_t i = 0; i < sizeof base / sizeof base[0] && !bench_only; i++)
        run_case(rt, &base[i].c, base[i].p);
    /* FREE_LOOP=1 (the PTX default at d <= 64; the emulation builds it only here, its compile time
     * doubles): rows of full blocks then a partial one (a tail; causal's diagonal), in the mma.sync
     * form and the wgmma forms of d = 64 (64-row tiles pipelined, 128 x 128 tiles, Q by descriptor). */
    if (!bench_only) {
        static const mcase tail64 = {"dense", 1, 1, 1, 100, 950, 64, 64, 0, 0},
                           tail128 = {"dense", 1, 1, 1, 100, 950, 64, 128, 0, 0},
                           causal64 = {"causal", 1, 2, 1, 200, 200, 64, 64, 1, 0};
        const char *saved = extra_opts;
        char opts[600];
        snprintf(opts, sizeof opts, "%s -DFREE_LOOP=1", saved);
        extra_opts = opts;
        run_case(rt, &tail64, &pb);
        mma_params q = pw6;
        q.qreg = 0;
        run_case(rt, &tail128, &q);
        snprintf(opts, sizeof opts, "%s -DFREE_LOOP=1 -DWG_PIPE=1", saved);
        run_case(rt, &causal64, &pw1);
        run_case(rt, &tail64, &pw1);
        extra_opts = saved;
    }
    /* The wgmma cases again with softmax overlapping the previous tile's P V (WG_PIPE=1, STAGES 2).
     * Then d = 64 and 128 (the slab-tile cases) on core-matrix tiles (WG_SWZ=0; by default they take
     * the 128-byte swizzle) and with Q read by descriptor (QREG=0), both loop forms each; then the
     * two warpgroups taking turns (WG_PP=1: the 8-warp cases, and a row of 15 key tiles that reuses
     * every K and V buffer and flips every mbarrier phase), Q by descriptor (the library's choice)
     * and, with --full, in registers. */
    static const struct {
        const char *opts;
        int q_by_descriptor, two_warpgroups, full_only;
    } wg_forms[] = {{" -DWG_PIPE=1", 0, 0, 0},           {" -DWG_SWZ=0", 0, 0, 0},
                    {" -DWG_SWZ=0 -DWG_PIPE=1", 0, 0, 0}, {"", 1, 0, 0},
                    {" -DWG_PIPE=1", 1, 0, 0},            {" -DWG_PIPE=1 -DWG_PP=1", 1, 1, 0},
                    {" -DWG_PIPE=1 -DWG_PP=1", 0, 1, 1}};
    static const mcase long_row = {"dense", 1, 1, 1, 100, 950, 64, 128, 0, 0};
    const char *saved_opts = extra_opts;
    for (size_t f = 0; f < sizeof wg_forms / sizeof wg_forms[0]; f++) {
        if (wg_forms[f].full_only && !full) continue;
        char form_opts[600];
        snprintf(form_opts, sizeof form_opts, "%s%s", saved_opts, wg_forms[f].opts);
        extra_opts = form_opts;
        for (size_t i = 0; i < sizeof base / sizeof base[0] && !bench_only; i++)
            if (base[i].p->wgmma && base[i].p->stages == 2 && (f == 0 || base[i].c.d % 64 == 0) &&
                (!wg_forms[f].two_warpgroups || base[i].p->warps == 8)) {
                mma_params q = *base[i].p;
                if (wg_forms[f].q_by_descriptor) q.qreg = 0;
                run_case(rt, &base[i].c, &q);
            }
        if (wg_forms[f].two_warpgroups && !bench_only) {
            mma_params q = pw4;
            q.qreg = !wg_forms[f].q_by_descriptor;
            run_case(rt, &long_row, &q);
        }
    }
    /* Two warpgroups of two m64 tiles each (BQ 256), taking turns, Q by descriptor: once. */
    if (!bench_only) {
        static const mcase rows256 = {"causal & strided(40)", 1, 1, 1, 260, 300, 64, 256, 1, 0};
        char pp_opts[600];
        snprintf(pp_opts, sizeof pp_opts, "%s -DWG_PIPE=1 -DWG_PP=1", saved_opts);
        extra_opts = pp_opts;
        mma_params q = pw5;
        q.qreg = 0;
        run_case(rt, &rows256, &q);
    }
    extra_opts = saved_opts;
    /* K and V through the padded copy (plans with a key map): a tail, GQA, B = 2; BNHD. */
    kv_copy = 1;
    for (size_t i = 2; i < 4 && !bench_only; i++)
        run_case(rt, &base[i].c, base[i].p);
    kv_copy = getenv("SCL_MMA_KV_COPY") && *getenv("SCL_MMA_KV_COPY") == '1';
    if (full) { /* every feature on its own build too, with the default parameters */
        const mcase cases[] = {
            {"dense", 1, 2, 2, 64, 64, 32, 32, 0, 0},
            {"causal", 1, 2, 2, 77, 77, 32, 16, 0, 0},
            {"local(20)", 1, 2, 1, 96, 96, 64, 32, 1, 0},
            {"causal & strided(24)", 1, 2, 2, 128, 128, 64, 64, 0, 0},
            {layout_spec, 1, 2, 2, 96, 96, 32, 32, 0, 0},
            {"causal", 2, 4, 2, 77, 130, 32, 32, 1, 0},
            {"local(40)", 1, 4, 2, 150, 63, 32, 32, 0, 1},
            {"dense", 1, 2, 2, 140, 140, 128, 64, 1, 0},
            {"causal", 1, 1, 1, 200, 200, 64, 128, 0, 0},
            {"causal & strided(40)", 1, 2, 2, 333, 333, 16, 128, 1, 0},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            run_case(rt, &cases[i], NULL);
        /* The other pipeline, Q re-read from local memory, no swizzle, 8 warps. */
        mma_params p1 = {64, 32, 4, 1, 0, 1, 0}, p2 = {64, 64, 2, 2, 1, 0, 0}, p3 = {128, 32, 8, 1, 1, 1, 0};
        static const mcase c1 = {"causal", 1, 2, 2, 100, 100, 64, 64, 0, 0};
        static const mcase c2 = {"causal & strided(24)", 1, 2, 1, 100, 90, 32, 64, 1, 0};
        static const mcase c3 = {"local(50)", 1, 1, 1, 180, 180, 32, 128, 0, 0};
        run_case(rt, &c1, &p1);
        run_case(rt, &c2, &p2);
        run_case(rt, &c3, &p3);
    }
    if (full) {
        /* Every head dim with blocks 16, 64 and 128 (both dtypes across them), blocks 32 and 256
         * for the common head dims; tails in both lengths, GQA. */
        static const int ds[] = {16, 32, 64, 80, 96, 128, 256};
        static const int blocks[] = {16, 64, 128};
        for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++)
            for (size_t j = 0; j < sizeof blocks / sizeof blocks[0]; j++) {
                const int bf = (int)((i + j) & 1);
                const mcase c = {bf ? "causal & strided(40)" : "local(100) | causal",
                                 1,
                                 4,
                                 2,
                                 333,
                                 301,
                                 ds[i],
                                 blocks[j],
                                 bf,
                                 0};
                run_case(rt, &c, NULL);
            }
        static const int ds2[] = {32, 64, 128};
        for (size_t i = 0; i < sizeof ds2 / sizeof ds2[0]; i++)
            for (int bi = 0; bi < 2; bi++) {
                const mcase c = {"causal", 2, 4, 1, 300, 555, ds2[i], bi ? 256 : 32, (int)(i & 1), 0};
                run_case(rt, &c, NULL);
            }
        const mcase more[] = {
            {"dense", 2, 8, 8, 1000, 1000, 64, 64, 1, 0},
            {"causal", 1, 8, 2, 1024, 2048, 128, 128, 0, 0},
            {layout_spec, 1, 2, 2, 96, 96, 128, 32, 1, 0},
        };
        for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
            run_case(rt, &more[i], NULL);
    }
    printf("worst errors: f16 O %.3g LSE %.3g (tol %.3g / %.3g); bf16 O %.3g LSE %.3g (tol %.3g / %.3g)\n",
           worst_o[0], worst_lse[0], TOL_F16, TOL_LSE, worst_o[1], worst_lse[1], TOL_BF16, TOL_LSE);

    const char *sweep = getenv("SCL_MMA_SWEEP"), *bench = getenv("SCL_MMA_BENCH");
    const char *jpath = getenv("SCL_MMA_JSON");
    FILE *json = jpath && *jpath ? fopen(jpath, "w") : NULL;
    mma_params best[2] = {mma_defaults(64, 128), mma_defaults(128, 128)};
    mma_params best64[2] = {mma_defaults(64, 64), mma_defaults(128, 64)}; /* best with BQ = 64 (block 64) */
    if (sweep && *sweep == '1') {
        /* Tile configurations at the benchmark's dense shape, block 128 (BQ up to 128). */
        static const mma_params cfg64[] = {
            {128, 64, 4, 2, 1, 1, 0},
            {128, 64, 4, 1, 1, 1, 0},
            {128, 32, 4, 2, 1, 1, 0},
            {128, 64, 4, 2, 0, 1, 0},
            {64, 64, 4, 2, 1, 1, 0},
            {64, 64, 2, 2, 1, 1, 0},
            {64, 32, 4, 2, 1, 1, 0},
            /* wgmma (the last field): 1 or 2 m64 tiles per warpgroup, 64- or 128-key tiles */
            {128, 64, 4, 2, 1, 1, 1},
            {128, 64, 8, 2, 1, 1, 1},
            {128, 128, 8, 2, 1, 1, 1},
            {64, 64, 4, 2, 1, 1, 1},
            {128, 64, 4, 1, 1, 1, 1},
        };
        static const mma_params cfg128[] = {
            {128, 64, 4, 2, 0, 1, 0},  {128, 32, 4, 2, 0, 1, 0}, {128, 32, 4, 2, 1, 1, 0},
            {128, 64, 8, 2, 1, 1, 0},  {64, 64, 4, 2, 1, 1, 0},  {64, 32, 4, 2, 1, 1, 0},
            {64, 64, 4, 2, 0, 1, 0},   {128, 64, 8, 2, 1, 1, 1}, {128, 32, 8, 2, 1, 1, 1},
            {128, 128, 8, 2, 1, 1, 1}, {64, 64, 4, 2, 1, 1, 1},  {64, 128, 4, 2, 1, 1, 1},
        };
        printf("\nsweep (dense, N = 16384, H = 16, bf16, block 128)\n");
        bench_header();
        for (int di = 0; di < 2; di++) {
            const int d = di ? 128 : 64;
            const mma_params *cfg = di ? cfg128 : cfg64;
            const size_t n = di ? sizeof cfg128 / sizeof cfg128[0] : sizeof cfg64 / sizeof cfg64[0];
            double bt = 0, bt64 = 0;
            for (size_t i = 0; i < n; i++) {
                const mcase c = {"dense", 1, 16, 16, 16384, 16384, d, 128, 1, 0};
                double tf = bench_case(rt, &c, &cfg[i], "sweep", json);
                if (tf > bt) bt = tf, best[di] = cfg[i];
                if (cfg[i].bq == 64 && tf > bt64) bt64 = tf, best64[di] = cfg[i];
            }
            /* Where the time goes: the best configuration without exponentials, without P V. */
            const mcase c = {"dense", 1, 16, 16, 16384, 16384, d, 128, 1, 0};
            if (!best[di].wgmma) { /* the ablations are mma.sync-only */
                extra_opts = " -DABLATE=1";
                bench_case(rt, &c, &best[di], "no-exp", json);
                extra_opts = " -DABLATE=2";
                bench_case(rt, &c, &best[di], "no-PV", json);
            }
            /* Registers capped for 3 work-groups per SM instead of 2 (ptxas spills instead). */
            extra_opts = " -cl-nv-maxrregcount=168";
            bench_case(rt, &c, &best[di], "maxrreg168", json);
            extra_opts = " -DSCL_ASM_VOLATILE=0";
            bench_case(rt, &c, &best[di], "asm-nonvolatile", json);
            extra_opts = " -DSCL_LDSM_LANEID=1";
            bench_case(rt, &c, &best[di], "ldsm-laneid", json);
            extra_opts = extra_env;
        }
    }
    const char *exps = getenv("SCL_MMA_EXPERIMENTS"); /* "tag|extra build options|PTX patch;..." */
    if (exps && *exps) {
        printf("\nexperiments (dense and causal, N = 16384, H = 16, bf16, blocks 128 and 64, best tiles)\n");
        bench_header();
        char buf[2048], ex[512];
        snprintf(buf, sizeof buf, "%s", exps);
        char *save = NULL;
        for (char *it = strtok_r(buf, ";", &save); it; it = strtok_r(NULL, ";", &save)) {
            char *f1 = strchr(it, '|'), *f2 = f1 ? strchr(f1 + 1, '|') : NULL;
            if (f1) *f1++ = 0;
            if (f2) *f2++ = 0;
            snprintf(ex, sizeof ex, "%s%s", f1 && *f1 ? " " : "", f1 ? f1 : "");
            /* "+wgmma" among the options: the wgmma form of the same tiles (fit_wgmma) */
            char *wg = strstr(ex, "+wgmma");
            if (wg) memset(wg, ' ', 6);
            /* "@KEY=V,..." among the options: tile parameters (as SCL_MMA_PARAMS), D=d and BLOCK=b
             * restrict the experiment to that head dim and block */
            char over[128] = "";
            int only_d = 0, only_block = 0;
            char *at = strchr(ex, '@');
            if (at) {
                size_t n = strcspn(at + 1, " ");
                snprintf(over, sizeof over, "%.*s", (int)(n < sizeof over ? n : sizeof over - 1), at + 1);
                memset(at, ' ', n + 1);
                const char *dv = strstr(over, "D="), *bv = strstr(over, "BLOCK=");
                if (dv && (dv == over || dv[-1] == ',')) only_d = atoi(dv + 2);
                if (bv) only_block = atoi(bv + 6);
            }
            extra_opts = ex;
            ptx_patch = f2 ? f2 : "";
            /* blocks 128 and 64, or BLOCK=b alone (another block: from the block-128 tiles) */
            const int other_block = only_block && only_block != 64 && only_block != 128;
            for (int bi = 0; bi < 2; bi++)
                for (int di = 0; di < 2; di++)
                    for (int pi = 0; pi < 2; pi++) {
                        const int block = other_block ? only_block : bi ? 64 : 128;
                        const mcase c = {pi ? "causal" : "dense", 1, 16, 16, 16384, 16384, di ? 128 : 64, block, 1, 0};
                        if ((only_d && c.d != only_d) || (only_block && c.block != only_block) || (other_block && bi))
                            continue;
                        mma_params p = bi ? best64[di] : best[di];
                        p.wgmma = wg != NULL;
                        if (p.wgmma) p.qreg = 1; /* Q by descriptor only when asked (@QREG=0) */
                        fit_wgmma(&p, c.d);
                        params_override(&p, over); /* after the fit: the experiment's word is final */
                        bench_case(rt, &c, &p, it, json);
                    }
        }
        extra_opts = extra_env;
        ptx_patch = "";
    }
    if (bench && *bench == '1') {
        static const char *pats[] = {"dense", "causal", "local(256)", "causal & strided(128)"};
        printf("\nbenchmark (N = 16384, H = 16, B = 1; TFLOP/s = 4 * d * allowed pairs / forward time)\n");
        bench_header();
        for (int di = 0; di < 2; di++)
            for (int bi = 0; bi < 2; bi++)
                for (int bf = 1; bf >= 0; bf--)
                    for (size_t pi = 0; pi < 4; pi++) {
                        const int d = di ? 128 : 64, block = bi ? 128 : 64;
                        const mcase c = {pats[pi], 1, 16, 16, 16384, 16384, d, block, bf, 0};
                        const mma_params p = block < best[di].bq ? best64[di] : best[di];
                        bench_case(rt, &c, &p, "bench", json);
                    }
    }
    if (json) fclose(json);
    if (build_log_file) fclose(build_log_file);
    for (int i = 0; i < n_progs; i++) {
        clReleaseKernel(progs[i].prep);
        clReleaseKernel(progs[i].fwd);
        clReleaseProgram(progs[i].prog);
    }
    scl_runtime_destroy(rt);
    return check_summary("mma_forward");
}
