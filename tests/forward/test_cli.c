/* CLI tests: `sparsecl attend` round trip on .npy files against the reference, its error lines
 * for bad inputs, and the other commands' --help / --json. Usage: test_cli SPARSECL WORK_DIR */
#include "../check.h"
#include "../cli_expect.h"
#include "../test_util.h"
#include "reference.h"
#include "reference_backward.h"
#include "scl_bf16.h"
#include "scl_npy.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>

static void write_tensor(const char *name, npy_dtype t, int64_t b, int64_t h, int64_t n, int64_t d, unsigned seed,
                         float *copy)
{
    int64_t shape[4] = {b, h, n, d}, count = b * h * n * d;
    void *data = malloc((size_t)count * 4);
    uint32_t x = seed * 2654435761u + 1;
    for (int64_t i = 0; i < count; i++) {
        x = x * 1664525u + 1013904223u;
        float f = (float)((x >> 8) / 16777216.0) * 2.0f - 1.0f;
        if (t == NPY_F16) {
            ((uint16_t *)data)[i] = npy_float_to_half(f);
            f = npy_half_to_float(((uint16_t *)data)[i]);
        } else if (t == NPY_U16) { /* bfloat16 bit patterns, the attend convention */
            ((uint16_t *)data)[i] = scl_float_to_bf16(f);
            f = scl_bf16_to_float(((uint16_t *)data)[i]);
        } else {
            ((float *)data)[i] = f;
        }
        if (copy) copy[i] = f;
    }
    char path[1024], msg[256];
    snprintf(path, sizeof path, "%s/%s", cli_work, name);
    CHECK(npy_write(path, t, 4, shape, data, msg, sizeof msg) == 0, "write %s: %s", path, msg);
    free(data);
}

/* attend on files, then compare O and LSE with the double reference. */
/* bnhd: the files are [B, N, H, d] (--layout bnhd), the reference reads the same data so. */
static void round_trip(npy_dtype t, const char *spec, int block, bool bnhd)
{
    const int B = 2, H = 4, Hkv = 2, d = 32;
    const int64_t Nq = 77, Nk = 61;
    size_t nq = (size_t)B * H * Nq * d, nk = (size_t)B * Hkv * Nk * d;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4);
    write_tensor("q.npy", t, B, bnhd ? Nq : H, bnhd ? H : Nq, d, 1, q);
    write_tensor("k.npy", t, B, bnhd ? Nk : Hkv, bnhd ? Hkv : Nk, d, 2, k);
    write_tensor("v.npy", t, B, bnhd ? Nk : Hkv, bnhd ? Hkv : Nk, d, 3, v);
    char args[512];
    snprintf(args, sizeof args,
             "attend --q q.npy --k k.npy --v v.npy --pattern '%s' --block %d --out o.npy --lse lse.npy%s", spec,
             block, bnhd ? " --layout bnhd" : "");
    cli_expect(0, "wrote o.npy", args);

    char path[1024], msg[256];
    npy_array o = {0}, l = {0};
    snprintf(path, sizeof path, "%s/o.npy", cli_work);
    CHECK(npy_read(path, &o, msg, sizeof msg) == 0, "read O: %s", msg);
    snprintf(path, sizeof path, "%s/lse.npy", cli_work);
    CHECK(npy_read(path, &l, msg, sizeof msg) == 0, "read LSE: %s", msg);
    CHECK(o.dtype == t && o.ndim == 4 && o.shape[0] == B && o.shape[1] == (bnhd ? Nq : H) &&
              o.shape[2] == (bnhd ? H : Nq) && o.shape[3] == d,
          "O has Q's dtype and shape");
    CHECK(l.dtype == NPY_F32 && l.ndim == 3 && l.shape[2] == Nq, "LSE is float32 [B, H, N_q]");

    spc_pattern *pat = NULL;
    spc_bound *bound = NULL;
    spc_error err;
    spc_geometry g = {Nq, Nk, block, H};
    scl_shape shape = {B, H, Hkv, Nq, Nk, d, block, (float)(1.0 / sqrt(d)), bnhd ? SCL_LAYOUT_BNHD : SCL_LAYOUT_BHND};
    double *oref = malloc(nq * 8), *lref = malloc((size_t)B * H * Nq * 8);
    double worst = 0, scale = 0;
    if (o.data && l.data && spc_parse(spec, &pat, &err) == 0 && spc_bind(pat, &g, &bound, &err) == 0 &&
        scl_reference_forward(bound, &shape, q, k, v, oref, lref) == 0) {
        for (size_t i = 0; i < nq; i++) {
            double got = t == NPY_F16   ? npy_half_to_float(((uint16_t *)o.data)[i])
                         : t == NPY_U16 ? scl_bf16_to_float(((uint16_t *)o.data)[i])
                                        : ((float *)o.data)[i];
            worst = fmax(worst, fabs(got - oref[i]));
            scale = fmax(scale, fabs(oref[i]));
        }
        for (size_t i = 0; i < (size_t)B * H * Nq; i++)
            if (!isinf(lref[i])) worst = fmax(worst, fabs(((float *)l.data)[i] - lref[i]) * scale);
    } else {
        CHECK(0, "reference for '%s'", spec);
    }
    double tol = t == NPY_F16 ? 2e-3 : t == NPY_U16 ? 8e-3 : 1e-4;
    CHECK(worst <= tol * scale, "attend '%s' %s: error %.3g of scale %.3g", spec, npy_dtype_name(t), worst, scale);
    printf("attend round trip '%s' %s%s: max error %.3g relative to output scale\n", spec, npy_dtype_name(t),
           bnhd ? " [B, N, H, d]" : "", worst / (scale > 0 ? scale : 1));
    spc_bound_free(bound);
    spc_pattern_free(pat);
    npy_free(&o);
    npy_free(&l);
    free(q), free(k), free(v), free(oref), free(lref);
}

/* attend --dout: forward then backward on files; gradients against the double reference. */
static void backward_round_trip(void)
{
    const int B = 1, H = 4, Hkv = 2, d = 32, block = 16;
    const int64_t N = 45;
    const char *spec = "causal & strided(8)";
    size_t nq = (size_t)B * H * N * d, nk = (size_t)B * Hkv * N * d;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *g = malloc(nq * 4);
    write_tensor("q.npy", NPY_F32, B, H, N, d, 11, q);
    write_tensor("k.npy", NPY_F32, B, Hkv, N, d, 12, k);
    write_tensor("v.npy", NPY_F32, B, Hkv, N, d, 13, v);
    write_tensor("do.npy", NPY_F32, B, H, N, d, 14, g);
    char args[512];
    snprintf(args, sizeof args,
             "attend --q q.npy --k k.npy --v v.npy --pattern '%s' --block %d --dout do.npy --dq dq.npy --dk dk.npy "
             "--dv dv.npy",
             spec, block);
    cli_expect(0, "gradients written", args);
    double *rq = malloc(nq * 8), *rk = malloc(nk * 8), *rv = malloc(nk * 8);
    spc_pattern *pat = NULL;
    spc_bound *bound = NULL;
    spc_error err;
    spc_geometry geo = {N, N, block, H};
    scl_shape shape = {B, H, Hkv, N, N, d, block, (float)(1.0 / sqrt(d)), SCL_LAYOUT_BHND};
    CHECK(spc_parse(spec, &pat, &err) == 0 && spc_bind(pat, &geo, &bound, &err) == 0 &&
              scl_reference_backward(bound, &shape, q, k, v, g, rq, rk, rv) == 0,
          "reference gradients");
    const char *files[3] = {"dq.npy", "dk.npy", "dv.npy"};
    const double *refs[3] = {rq, rk, rv};
    const size_t counts[3] = {nq, nk, nk};
    for (int t = 0; t < 3; t++) {
        char path[1024], msg[256];
        npy_array a = {0};
        snprintf(path, sizeof path, "%s/%s", cli_work, files[t]);
        CHECK(npy_read(path, &a, msg, sizeof msg) == 0 && a.dtype == NPY_F32 && (size_t)a.count == counts[t],
              "%s written with the right size: %s", files[t], msg);
        double worst = 0, scale = 0;
        for (size_t i = 0; a.data && i < counts[t]; i++) {
            worst = fmax(worst, fabs(((float *)a.data)[i] - refs[t][i]));
            scale = fmax(scale, fabs(refs[t][i]));
        }
        CHECK(worst <= 1e-4 * scale, "%s: error %.3g of scale %.3g", files[t], worst, scale);
        printf("attend --dout: %s max error %.3g relative to its scale\n", files[t], worst / (scale > 0 ? scale : 1));
        npy_free(&a);
    }
    cli_expect(2, "need --dout", "attend --q q.npy --k k.npy --v v.npy --pattern causal --block 16 --dq x.npy");
    cli_expect(2, "--dout must have Q's dtype and shape",
           "attend --q q.npy --k k.npy --v v.npy --pattern causal --block 16 --dout k.npy --dq x.npy");
    spc_bound_free(bound);
    spc_pattern_free(pat);
    free(q), free(k), free(v), free(g), free(rq), free(rk), free(rv);
}

static void bad_inputs(void)
{
    write_tensor("q.npy", NPY_F32, 1, 4, 40, 32, 1, NULL);
    write_tensor("k3.npy", NPY_F32, 1, 3, 40, 32, 2, NULL);
    write_tensor("k.npy", NPY_F32, 1, 2, 40, 32, 2, NULL);
    write_tensor("v.npy", NPY_F32, 1, 2, 40, 32, 3, NULL);
    write_tensor("v_short.npy", NPY_F32, 1, 2, 39, 32, 3, NULL);
    write_tensor("k16.npy", NPY_F16, 1, 2, 40, 32, 2, NULL);
    write_tensor("q48.npy", NPY_F32, 1, 4, 40, 48, 1, NULL);
    write_tensor("k48.npy", NPY_F32, 1, 2, 40, 48, 1, NULL);
    int64_t shape3[3] = {4, 40, 32};
    float *flat = calloc(4 * 40 * 32, 4);
    char path[1024], msg[256];
    snprintf(path, sizeof path, "%s/q3.npy", cli_work);
    npy_write(path, NPY_F32, 3, shape3, flat, msg, sizeof msg);
    free(flat);
    snprintf(path, sizeof path, "%s/trunc.npy", cli_work);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("\x93NUMPY\x01\x00", f);
        fclose(f);
    }
    const char *ok = "--pattern causal --block 16";
    char a[512];
#define BAD(code, needle, ...)                                                                                 \
    do {                                                                                                       \
        snprintf(a, sizeof a, __VA_ARGS__);                                                                    \
        cli_expect(code, needle, a);                                                                               \
    } while (0)
    BAD(2, "multiple of K/V heads", "attend --q q.npy --k k3.npy --v k3.npy %s", ok);
    BAD(2, "same dtype", "attend --q q.npy --k k16.npy --v v.npy %s", ok);
    BAD(2, "K and V shapes differ", "attend --q q.npy --k k.npy --v v_short.npy %s", ok);
    BAD(2, "expected 4 dimensions", "attend --q q3.npy --k k.npy --v v.npy %s", ok);
    BAD(2, "missing.npy", "attend --q missing.npy --k k.npy --v v.npy %s", ok);
    BAD(2, "trunc.npy", "attend --q trunc.npy --k k.npy --v v.npy %s", ok);
    BAD(2, "head dim 48", "attend --q q48.npy --k k48.npy --v k48.npy %s", ok);
    BAD(2, "column", "attend --q q.npy --k k.npy --v v.npy --pattern 'causal & strided(0)' --block 16");
    BAD(2, "--pattern is required", "attend --q q.npy --k k.npy --v v.npy --block 16");
    /* --block: a power of two 8..256 or auto, the same message in every command; 64 by default */
    const char *blocks = "--block must be auto or a power of two from 8 to 256 (8, 16, 32, 64, 128, 256), got";
    BAD(2, blocks, "attend --q q.npy --k k.npy --v v.npy --pattern causal --block 12x");
    BAD(2, blocks, "attend --q q.npy --k k.npy --v v.npy --pattern causal --block 48");
    BAD(2, blocks, "attend --q q.npy --k k.npy --v v.npy --pattern causal --block 512");
    BAD(2, blocks, "bench --pattern causal --seq 64 --dim 32 --block 0");
    BAD(2, blocks, "pattern causal --seq 64 --block Auto");
    BAD(2, "--block must be a power of two from 8 to 256 (8, 16, 32, 64, 128, 256), got 'auto'",
        "block --x q.npy --weights . --heads 1 --pattern causal --block auto");
    BAD(2, "--block must be a power of two from 8 to 256 (8, 16, 32, 64, 128, 256), got '48'",
        "tune --block 32,48 --out x.json");
    BAD(2, "--block-only needs --pattern", "tune --block auto --block-only --out x.json");
    BAD(0, "block 64:", "attend --q q.npy --k k.npy --v v.npy --pattern causal");
    BAD(0, "\"block_reason\":\t\"the rule: ", "attend --q q.npy --k k.npy --v v.npy --pattern causal --block auto --json");
    BAD(0, "block (auto)    128 by the rule: block 128 is the largest", "pattern causal --seq 4096 --block auto --explain");
    BAD(2, "unknown or incomplete option", "attend --q q.npy --frobnicate");
    BAD(2, "matches no device", "attend --q q.npy --k k.npy --v v.npy %s --device no-such-device", ok);
    BAD(2, "unknown command", "frobnicate");
#undef BAD
}

static void other_commands(void)
{
    static const char *const with_help[] = {"attend", "bench", "peak", "devices", "info"};
    for (int i = 0; i < 5; i++) { /* every command has --help: its usage line, exit 0 */
        char args[64], usage[64];
        snprintf(args, sizeof args, "%s --help", with_help[i]);
        snprintf(usage, sizeof usage, "usage: sparsecl %s", with_help[i]);
        cli_expect(0, usage, args);
    }
    cli_expect(0, "\"devices\"", "devices --json");
    cli_expect(0, "\"kernels\"", "info --json");
    cli_expect(0, "\"forward_variants\"", "info --json");
    cli_expect(0, "forward variants, in the default order", "info");
    /* tune --dtype bf16: candidates verified against the reference with the bf16 tolerance */
    cli_expect(0, "attn_fwd d=32 block=32 bf16: best",
               "tune --dtype bf16 --dim 32 --block 32 --seq 128 --budget 1 --reps 1 --out tune-bf16.json");
    cli_expect(2, "--dtype must be f32, f16 or bf16", "tune --dtype f64 --out x.json");
    cli_expect(0, "\"sparse_time_over_dense\"",
           "bench --pattern 'local(16)' --seq 200 --block 32 --heads 2 --dim 32 --reps 2 --no-peak --json");
    cli_expect(2, "--dtype must be f32, f16 or bf16",
               "bench --pattern dense --seq 64 --block 32 --dim 32 --dtype f64");
    /* bf16 storage; the variant and why it was chosen, beside where the parameters came from */
    cli_expect(0, "bfloat16 storage: the CLBlast baseline is float32 only",
               "bench --pattern 'local(16)' --seq 128 --block 32 --heads 2 --dim 32 --reps 2 --no-peak "
               "--dtype bf16");
    cli_expect(0, "\nvariant  ", "bench --pattern 'local(16)' --seq 128 --block 32 --dim 32 --reps 2 --no-peak");
    cli_expect(0, "\"variant_reason\"",
               "bench --pattern dense --seq 64 --block 32 --dim 32 --reps 2 --no-peak --no-baselines --json");
    cli_expect(2, "head dim 40", "bench --pattern dense --seq 64 --block 32 --dim 40 --no-baselines --no-peak");
    /* A shape larger than the device: fails cleanly, naming the allocation and its size. */
    cli_expect(1, "scratch buffers of 68719476736 bytes",
           "bench --pattern 'local(0)' --seq 268435456 --block 256 --dim 64 --no-baselines --no-peak");
}

int main(int argc, char **argv)
{
    test_args(argc, 2, "test_cli SPARSECL WORK_DIR");
    cli_bin = test_abs_path("test_cli", argv[1]);
    cli_work = argv[2];
    mkdir(cli_work, 0755);
    round_trip(NPY_F32, "causal & strided(8)", 16, false);
    round_trip(NPY_F16, "local(9) | global(0)", 32, false);
    round_trip(NPY_U16, "causal & strided(8)", 16, false); /* bf16 as uint16 bit patterns */
    round_trip(NPY_F32, "causal & strided(8)", 16, true); /* --layout bnhd */
    backward_round_trip();
    bad_inputs();
    other_commands();
    return check_summary("cli");
}
