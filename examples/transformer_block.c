/* Example 2: a host app running one Sparse Transformer block (sparsecl_block.h) over a long
 * sequence: causal & strided(128) attention, D = 256 over 4 heads, MLP width 1024.
 *   transformer_block [--seq N] [--device D] [--pattern SPEC]      (default N = 16384) */
#include <sparsecl.h>
#include <sparsecl_block.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static float *random_array(size_t n, unsigned seed, float scale, float offset)
{
    float *p = malloc(n * sizeof *p);
    unsigned s = seed * 2654435761u + 1u;
    for (size_t i = 0; p && i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = offset + scale * ((float)(s >> 8) / 16777216.0f * 2.0f - 1.0f);
    }
    return p;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    long long seq = 16384;
    const char *device = NULL, *spec = "causal & strided(128)";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seq") == 0)
            seq = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--device") == 0)
            device = argv[i + 1];
        else if (strcmp(argv[i], "--pattern") == 0)
            spec = argv[i + 1];
        else {
            fprintf(stderr, "usage: transformer_block [--seq N] [--device D] [--pattern SPEC]\n");
            return 2;
        }
    }
    if (seq < 1) {
        fprintf(stderr, "--seq must be >= 1\n");
        return 2;
    }
    const int D = 256, H = 4, F = 1024;
    scl_block_config cfg = {.batch = 1, .seq = seq, .d_model = D, .heads = H, .d_ff = F, .block = 64};
    const float sd = 1.0f / sqrtf((float)D), sf = 1.0f / sqrtf((float)F);
    float *p[12] = {random_array(D, 1, 0.1f, 1.0f),
                    random_array(D, 2, 0.1f, 0.0f),
                    random_array((size_t)D * 3 * D, 3, sd, 0),
                    random_array(3 * D, 4, 0.1f, 0),
                    random_array((size_t)D * D, 5, sd, 0),
                    random_array(D, 6, 0.1f, 0),
                    random_array(D, 7, 0.1f, 1.0f),
                    random_array(D, 8, 0.1f, 0),
                    random_array((size_t)D * F, 9, sd, 0),
                    random_array(F, 10, 0.1f, 0),
                    random_array((size_t)F * D, 11, sf, 0),
                    random_array(D, 12, 0.1f, 0)};
    scl_block_weights w = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]};
    const size_t n = (size_t)seq * D;
    float *x = random_array(n, 99, 1.0f, 0.0f), *y = malloc(n * sizeof *y);

    int status = 1;
    scl_runtime *rt = NULL;
    scl_pattern *pat = NULL;
    scl_block *blk = NULL;
    scl_status st = scl_runtime_create(device, &rt);
    if (st == SCL_OK) st = scl_pattern_create(rt, spec, &pat);
    if (st == SCL_OK) st = scl_block_create(rt, pat, &cfg, &w, &blk);
    if (st == SCL_OK) {
        double t0 = now_ms();
        st = scl_block_forward_host(blk, x, y); /* first run: includes CLBlast's kernel compilation */
        double t1 = now_ms();
        if (st == SCL_OK) st = scl_block_forward_host(blk, x, y);
        double t2 = now_ms();
        if (st == SCL_OK) {
            double sum = 0, sumsq = 0;
            int finite = 1;
            for (size_t i = 0; i < n; i++) {
                finite &= isfinite(y[i]) != 0;
                sum += y[i];
                sumsq += (double)y[i] * y[i];
            }
            scl_plan_stats ps;
            scl_plan_get_stats(scl_block_plan(blk), &ps);
            printf("block N=%lld D=%d H=%d D_ff=%d '%s' (density %.4f) on %s: first run %.1f ms, second %.1f "
                   "ms; "
                   "mean(y) %.4f, rms(y) %.4f\n",
                   seq, D, H, F, spec, ps.density, scl_runtime_device(rt)->name, t1 - t0, t2 - t1, sum / n,
                   sqrt(sumsq / n));
            status = finite ? 0 : 1;
            if (!finite) fprintf(stderr, "non-finite output\n");
        }
    }
    if (st != SCL_OK) fprintf(stderr, "%s: %s\n", scl_status_string(st), scl_last_error_message(rt));
    scl_block_destroy(blk);
    scl_pattern_destroy(pat);
    scl_runtime_destroy(rt);
    for (int i = 0; i < 12; i++)
        free(p[i]);
    free(x);
    free(y);
    return status;
}
