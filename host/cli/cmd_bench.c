/* `sparsecl bench`: time the fused block-sparse forward against the dense fused kernel and a
 * CLBlast dense baseline, side by side in one run on one device. */
#include "backward.h"
#include "bench.h"
#include "cli.h"
#include "cli_options.h"
#include "internal.h"
#include "param_schema.h"
#include "plan_internal.h"
#include "peak.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "bench";

static void usage(void)
{
    printf(
        "usage: sparsecl bench --pattern SPEC --seq N [--block B|auto] --heads H --dim d\n"
        "                      [--batch B] [--kv-heads H_kv] [--kv-seq M] [--dtype f32|f16|bf16] [--reps R]\n"
        "                      [--backward] [--decompose auto|off|force] [--device D] [--no-baselines]\n"
        "                      [--no-peak] [--profile] [--json]\n"
        "       sparsecl bench --suite quick|full|models [--device D|all] [--out DIR] [--note TEXT] ...\n"
        "                      (see sparsecl bench --suite quick --help)\n\n"
        "Times the fused forward on random inputs (2 warm-up runs, then R timed runs with OpenCL\n"
        "profiling events; median, min, max and CV = stddev/mean), then the same shape dense\n"
        "through the fused kernel and through CLBlast (SGEMM Q K^T -> softmax -> SGEMM P V), and\n"
        "prints the ratios. A timing whose runs spread more than 5%% (CV) is marked noisy and\n"
        "warned about on stderr, and so is a busy machine (1-minute load average above the CPU\n"
        "count, /proc/loadavg); --json records cv, max_over_min, noisy and the load.\n"
        "Effective GFLOP/s count 4*d flops per allowed (query, key) pair. --no-peak skips the\n"
        "device peak measurement (see `sparsecl peak`) used for the fraction-of-peak column.\n"
        "--dtype bf16 stores the tensors as bfloat16 (random values; compute is fp32 as for f16);\n"
        "the CLBlast baseline is float32 only.\n"
        "The plan's forward kernel variant and why it was chosen are printed beside where its\n"
        "parameters came from (SPARSECL_FWD_VARIANT prefers one; `sparsecl info` lists them).\n"
        "--backward also times the backward pass alone and forward followed by backward (backward\n"
        "FLOPs = 2.5x the forward's, FlashAttention's convention), against the dense fused backward;\n"
        "the CLBlast baseline is forward only.\n"
        "--decompose chooses how the plan runs the pattern (default auto: the cost model, as\n"
        "SPARSECL_DECOMPOSE). When the plan is decomposed into components (sparsecl pattern\n"
        "--explain), the same pattern is also timed through the plain block LUT, and the ratios\n"
        "compare the two and the effective rate on allowed elements with the dense kernel's.\n"
        "--profile prints the device time of every kernel of one forward (and backward) run\n"
        "(to stderr with --json).\n"
        "--block defaults to 64; auto lets the plan choose (a `sparsecl tune --pattern` entry of the\n"
        "device, else the rule of the README; with --backward for forward + backward) and prints\n"
        "the block it chose and why (--json: block, block_reason); the baselines run at that block.\n");
}

/* ---- Options ------------------------------------------------------------------------------ */

typedef struct bench_opts {
    cli_bench_shared sh; /* --pattern, --device, --block, --heads, --kv-heads, --batch, --backward */
    int64_t seq, kv_seq;
    int dim, reps;
    int json, baselines, peak, profile;
    scl_decompose_mode mode;
    scl_dtype dt;
} bench_opts;

/* --decompose, and the options of CLI_BENCH_OPTIONS (shared with the --distributed form) that the
 * table in parse() does not take with this command's bounds. */
static int parse_other(void *ctx, int code, const char *value)
{
    static const scl_decompose_mode modes[] = {SCL_DECOMPOSE_AUTO, SCL_DECOMPOSE_OFF, SCL_DECOMPOSE_FORCE};
    bench_opts *o = ctx;
    int which;
    if (code != 'c') return cli_bench_option(CMD, code, value, &o->sh) > 0 ? -1 : CLI_USAGE;
    if (!cli_parse_decompose(CMD, value, &which)) return CLI_USAGE;
    o->mode = modes[which];
    return -1;
}

/* -1 to go on, else the exit code. */
static int parse(int argc, char **argv, bench_opts *o)
{
    static const struct option shared[] = {CLI_BENCH_OPTIONS{0}};
    /* --seq, --dim, --reps and --dtype replace the shared entries: this command's bounds. */
    const cli_opt opts[] = {CLI_I64("seq", &o->seq, 1, 1 << 30),
                            CLI_INT("dim", &o->dim, 1, 4096),
                            CLI_INT("reps", &o->reps, 1, 100000),
                            CLI_DTYPE("dtype", &o->dt),
                            CLI_I64("kv-seq", &o->kv_seq, 1, 1 << 30),
                            CLI_SET("no-baselines", &o->baselines, 0),
                            CLI_SET("no-peak", &o->peak, 0),
                            CLI_SET("json", &o->json, 1),
                            CLI_OTHER("decompose", 'c'),
                            CLI_SET("profile", &o->profile, 1),
                            CLI_END};
    const cli_options p = {
        .cmd = CMD, .opts = opts, .usage = usage, .extra = shared, .other = parse_other, .ctx = o};
    int rc = cli_parse_options(&p, argc, argv);
    if (rc >= 0) return rc;
    if (!o->sh.spec || !o->seq || !o->dim)
        return cli_error(CMD, CLI_USAGE, "--pattern, --seq and --dim are required (see --help)");
    return -1;
}

/* ---- Running ------------------------------------------------------------------------------ */

/* What one run measured: the plan's, the plain block-LUT path's, the dense fused kernel's and
 * CLBlast's timings, forward and backward. */
typedef struct bench_state {
    scl_runtime *rt;
    scl_pattern *pat, *dense_pat;
    scl_plan *plan, *dense, *plain;
    scl_shape shape, norm;
    bench_buffers bufs;
    scl_plan_stats ps;
    scl_plan_memory pmem;
    scl_peak pk;
    size_t mem;
    bench_timing sparse, dense_t, blast, bwd, both, dbwd, dboth, lut, lbwd, lboth;
    double load1; /* the 1-minute load average after the runs, and the online CPUs (0: not known) */
    int cpus;
} bench_state;

/* Every command of one forward (and backward) run with its device time. */
static void print_profile(scl_plan *plan, const bench_buffers *b, int backward, FILE *f)
{
    for (int pass = 0; pass <= backward; pass++) {
        scli_events all = {.n = 0};
        scl_status st =
            pass ? scli_plan_backward_events(plan, b->q, b->k, b->v, b->o, b->lse, b->dout, b->dq, b->dk,
                                            b->dv, 0, NULL, &all, NULL)
                 : scli_plan_forward_events(plan, b->q, b->k, b->v, b->o, b->lse, 0, NULL, &all, NULL);
        if (st == SCL_OK && all.n > 0 && clWaitForEvents(all.n, all.e) == CL_SUCCESS) {
            fprintf(f, "profile  %s, one run:\n", pass ? "backward" : "forward");
            scli_events_print(&all, f);
        }
        scli_events_release(&all);
    }
}

static void set_flops(const bench_opts *o, bench_state *s)
{
    double dense_pairs = (double)o->sh.batch * o->sh.heads * (double)s->norm.seq_q * (double)s->norm.seq_k;
    s->sparse.flops = 4.0 * o->dim * s->ps.allowed_pairs;
    s->dense_t.flops = s->blast.flops = 4.0 * o->dim * dense_pairs;
    s->bwd.flops = BENCH_BWD_FLOP_RATIO * s->sparse.flops;
    s->both.flops = (1.0 + BENCH_BWD_FLOP_RATIO) * s->sparse.flops;
    s->dbwd.flops = BENCH_BWD_FLOP_RATIO * s->dense_t.flops;
    s->dboth.flops = (1.0 + BENCH_BWD_FLOP_RATIO) * s->dense_t.flops;
    s->lut.flops = s->sparse.flops;
    s->lbwd.flops = s->bwd.flops;
    s->lboth.flops = s->both.flops;
}

/* The runtime, the plan and the input buffers; a CLI exit code. */
static int setup(const bench_opts *o, const scl_plan_options *popt, bench_state *s)
{
    int block = o->sh.block == SCL_BLOCK_AUTO && o->sh.backward ? SCL_BLOCK_AUTO_BACKWARD : o->sh.block;
    s->shape = (scl_shape){o->sh.batch, o->sh.heads, o->sh.kv_heads, o->seq, o->kv_seq, o->dim, block, 0.0f,
                           SCL_LAYOUT_BHND};
    int rc = cli_runtime_create(CMD, o->sh.dev, &s->rt);
    if (rc != CLI_OK) return rc;
    scl_status st;
    if ((st = scl_pattern_create(s->rt, o->sh.spec, &s->pat)) != SCL_OK ||
        (st = scl_plan_create_with_options(s->rt, s->pat, &s->shape, o->dt, popt, &s->plan)))
        return cli_error(CMD,
                         st == SCL_ERR_INVALID_ARGUMENT || st == SCL_ERR_PATTERN ? CLI_USAGE : CLI_FAILED,
                         "%s", scl_last_error_message(s->rt));
    s->shape.block = scl_plan_block(s->plan); /* auto: the baselines run at the chosen block */
    s->norm = s->shape;
    if (!s->norm.kv_heads) s->norm.kv_heads = o->sh.heads;
    if (!s->norm.seq_k) s->norm.seq_k = o->seq;
    if (bench_make_buffers(s->rt, &s->norm, o->dt, o->sh.backward, &s->bufs) != SCL_OK)
        return cli_error(CMD, CLI_FAILED, "%s", scl_last_error_message(s->rt));
    scl_plan_get_stats(s->plan, &s->ps);
    return CLI_OK;
}

/* The dense fused kernel and CLBlast on the same shape; the plain block-LUT path of a decomposed
 * plan. */
static void run_baselines(const bench_opts *o, scl_plan_options *popt, bench_state *s)
{
    if (s->ps.components > 0) { /* the same pattern through the plain block LUT */
        if (!o->json) fprintf(stderr, "bench: timing the plain block-LUT path...\n");
        popt->decompose = SCL_DECOMPOSE_OFF;
        if (scl_plan_create_with_options(s->rt, s->pat, &s->shape, o->dt, popt, &s->plain) == SCL_OK) {
            bench_time_forward(s->plain, &s->bufs, 2, o->reps, 0, &s->lut);
            if (o->sh.backward && s->lut.ran)
                bench_time_backward(s->plain, &s->bufs, 2, o->reps, 0, &s->lbwd, &s->lboth);
        }
        if (!s->lut.ran) snprintf(s->lut.note, sizeof s->lut.note, "%s", scl_last_error_message(s->rt));
    }
    if (!o->json) fprintf(stderr, "bench: timing dense fused kernel...\n");
    if (scl_pattern_create(s->rt, "dense", &s->dense_pat) == SCL_OK &&
        scl_plan_create(s->rt, s->dense_pat, &s->shape, o->dt, &s->dense) == SCL_OK) {
        bench_time_forward(s->dense, &s->bufs, 2, o->reps, 0, &s->dense_t);
        if (o->sh.backward && s->dense_t.ran)
            bench_time_backward(s->dense, &s->bufs, 2, o->reps, 0, &s->dbwd, &s->dboth);
    }
    if (!s->dense_t.ran)
        snprintf(s->dense_t.note, sizeof s->dense_t.note, "%s", scl_last_error_message(s->rt));
    if (o->sh.backward && !s->dbwd.ran && !s->dbwd.note[0])
        snprintf(s->dbwd.note, sizeof s->dbwd.note, "%s", s->dense_t.note);
    if (!o->json) fprintf(stderr, "bench: timing CLBlast baseline...\n");
    if (o->dt != SCL_F32)
        snprintf(s->blast.note, sizeof s->blast.note, "%s storage: the CLBlast baseline is float32 only",
                 bench_dtype_long_name(o->dt));
    else
        bench_time_clblast(s->rt, &s->norm, &s->bufs, 2, o->reps, 0, &s->blast, NULL);
}

/* Every timing; a CLI exit code. */
static int run(const bench_opts *o, bench_state *s)
{
    scl_plan_options popt;
    scl_plan_options_init(&popt);
    popt.decompose = o->mode;
    int rc = setup(o, &popt, s);
    if (rc != CLI_OK) return rc;
    if (!o->json) fprintf(stderr, "bench: timing '%s' (%d+2 runs)...\n", o->sh.spec, o->reps);
    if (bench_time_forward(s->plan, &s->bufs, 2, o->reps, 0, &s->sparse) != SCL_OK)
        return cli_error(CMD, CLI_FAILED, "%s", scl_last_error_message(s->rt));
    set_flops(o, s);
    if (o->sh.backward) {
        if (!o->json) fprintf(stderr, "bench: timing the backward pass...\n");
        bench_time_backward(s->plan, &s->bufs, 2, o->reps, 0, &s->bwd, &s->both);
    }
    if (o->profile) print_profile(s->plan, &s->bufs, o->sh.backward, o->json ? stderr : stdout);
    if (o->baselines) {
        run_baselines(o, &popt, s);
    } else {
        bench_timing *none[] = {&s->dense_t, &s->lut, &s->blast, &s->dbwd};
        for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
            snprintf(none[i]->note, sizeof none[i]->note, "--no-baselines");
    }
    if (o->peak) {
        if (!o->json) fprintf(stderr, "bench: measuring device peak...\n");
        if (scl_measure_peak(s->rt, &s->pk) != SCL_OK) s->pk.fma_gflops = 0;
    }
    scl_plan_get_memory(s->plan, &s->pmem);
    s->mem = s->bufs.bytes + s->pmem.forward_bytes;
    bench_load(&s->load1, &s->cpus);
    return CLI_OK;
}

static void cleanup(bench_state *s)
{
    bench_free_buffers(&s->bufs);
    scl_plan_destroy(s->dense);
    scl_plan_destroy(s->plain);
    scl_plan_destroy(s->plan);
    scl_pattern_destroy(s->dense_pat);
    scl_pattern_destroy(s->pat);
    scl_runtime_destroy(s->rt);
}

/* ---- Printing ----------------------------------------------------------------------------- */

static void add_timing(cJSON *root, const char *key, const bench_timing *t, const bench_state *s)
{
    cJSON_AddItemToObject(root, key, bench_timing_json(t, s->pk.fma_gflops));
}

/* The run's shape, plan and device. */
static void json_plan(cJSON *root, const bench_opts *o, const bench_state *s)
{
    const scl_device_info *di = scl_runtime_device(s->rt);
    cJSON_AddStringToObject(root, "device", di->name);
    cJSON_AddStringToObject(root, "platform", di->platform_name);
    cJSON_AddStringToObject(root, "driver", di->driver_version);
    cJSON_AddStringToObject(root, "version", scl_version());
    cJSON_AddStringToObject(root, "pattern", o->sh.spec);
    cJSON_AddNumberToObject(root, "batch", o->sh.batch);
    cJSON_AddNumberToObject(root, "heads", o->sh.heads);
    cJSON_AddNumberToObject(root, "kv_heads", s->norm.kv_heads);
    cJSON_AddNumberToObject(root, "seq_q", (double)s->norm.seq_q);
    cJSON_AddNumberToObject(root, "seq_k", (double)s->norm.seq_k);
    cJSON_AddNumberToObject(root, "dim", o->dim);
    cJSON_AddNumberToObject(root, "block", s->norm.block);
    cJSON_AddStringToObject(root, "block_reason", scl_plan_block_reason(s->plan));
    cJSON_AddStringToObject(root, "dtype", scli_dtype_name(o->dt));
    cJSON_AddNumberToObject(root, "reps", o->reps);
    cJSON_AddNumberToObject(root, "density", s->ps.density);
    cJSON_AddNumberToObject(root, "block_density", s->ps.block_density);
    cJSON_AddNumberToObject(root, "allowed_pairs", s->ps.allowed_pairs);
    cJSON_AddNumberToObject(root, "computed_pairs", s->ps.computed_pairs);
    cJSON_AddNumberToObject(root, "components", s->ps.components);
    cJSON_AddStringToObject(root, "kernel_options", scl_plan_kernel_options(s->plan));
    cJSON_AddStringToObject(root, "kernel_params_from", scl_plan_kernel_source(s->plan));
    cJSON_AddStringToObject(root, "variant", scl_plan_variant(s->plan));
    cJSON_AddStringToObject(root, "variant_reason", scl_plan_variant_reason(s->plan));
    cJSON_AddNumberToObject(root, "plan_create_ms", s->ps.create_ms);
    cJSON_AddBoolToObject(root, "kernels_from_cache", s->ps.kernels_from_cache);
    cJSON_AddNumberToObject(root, "memory_bytes", (double)s->mem);
    if (s->pk.fma_gflops > 0) {
        cJSON_AddNumberToObject(root, "peak_fma_gflops", s->pk.fma_gflops);
        cJSON_AddNumberToObject(root, "peak_bandwidth_gbs", s->pk.bandwidth_gbs);
    }
    if (s->cpus > 0) {
        cJSON *l = cJSON_AddObjectToObject(root, "load");
        cJSON_AddNumberToObject(l, "load_average_1min", s->load1);
        cJSON_AddNumberToObject(l, "cpus", s->cpus);
        cJSON_AddBoolToObject(l, "busy", s->load1 > s->cpus);
    }
    cJSON_AddNumberToObject(root, "noisy_cv_threshold", BENCH_NOISY_CV);
}

/* The timings and their ratios. */
static void json_timings(cJSON *root, const bench_opts *o, const bench_state *s)
{
    add_timing(root, "sparse", &s->sparse, s);
    add_timing(root, "dense_fused", &s->dense_t, s);
    add_timing(root, "clblast", &s->blast, s);
    if (s->ps.components > 0) {
        add_timing(root, "sparse_block_lut", &s->lut, s);
        if (s->lut.ran)
            cJSON_AddNumberToObject(root, "decomposed_speedup_over_block_lut",
                                    s->lut.median / s->sparse.median);
        if (o->sh.backward) {
            add_timing(root, "block_lut_backward", &s->lbwd, s);
            if (s->lbwd.ran && s->bwd.ran)
                cJSON_AddNumberToObject(root, "decomposed_backward_speedup_over_block_lut",
                                        s->lbwd.median / s->bwd.median);
        }
    }
    if (s->dense_t.ran) {
        cJSON_AddNumberToObject(root, "effective_rate_over_dense",
                                (s->sparse.flops / s->sparse.median) /
                                    (s->dense_t.flops / s->dense_t.median));
        cJSON_AddNumberToObject(root, "sparse_time_over_dense", s->sparse.median / s->dense_t.median);
    }
    if (s->blast.ran && s->dense_t.ran)
        cJSON_AddNumberToObject(root, "dense_fused_speedup_over_clblast",
                                s->blast.median / s->dense_t.median);
    if (o->sh.backward) {
        add_timing(root, "backward", &s->bwd, s);
        add_timing(root, "forward_backward", &s->both, s);
        add_timing(root, "dense_fused_backward", &s->dbwd, s);
        add_timing(root, "dense_fused_forward_backward", &s->dboth, s);
        cJSON_AddNumberToObject(root, "backward_memory_bytes", (double)(s->mem + s->pmem.backward_bytes));
        if (s->bwd.ran && s->dbwd.ran)
            cJSON_AddNumberToObject(root, "sparse_backward_time_over_dense", s->bwd.median / s->dbwd.median);
    }
}

static void print_json(const bench_opts *o, const bench_state *s)
{
    cJSON *root = cJSON_CreateObject();
    json_plan(root, o, s);
    json_timings(root, o, s);
    char *text = cJSON_Print(root);
    if (text) puts(text);
    free(text);
    cJSON_Delete(root);
}

static void print_row(const char *name, const bench_timing *t, double peak)
{
    if (!t->ran) {
        printf("  %-22s not run: %s\n", name, t->note);
        return;
    }
    double gf = t->flops / t->median * 1e-6;
    printf("  %-22s median %9.3f ms  (min %9.3f, max %9.3f, CV %4.1f%%)  %9.1f GFLOP/s", name, t->median,
           t->min, t->max, 100 * t->cv, gf);
    if (peak > 0) printf("  %5.1f%% of peak", 100.0 * gf / peak);
    printf("%s\n", bench_timing_noisy(t) ? "  noisy" : "");
}

/* A warning line on stderr for every noisy timing, and one when the machine is busy. */
static void print_noise(const bench_state *s)
{
    const bench_timing *all[] = {&s->sparse, &s->lut,  &s->dense_t, &s->blast, &s->bwd,
                                 &s->both,   &s->lbwd, &s->dbwd,    &s->dboth};
    static const char *const names[] = {"sparse fused",       "sparse block LUT",   "dense fused",
                                        "dense CLBlast",      "sparse backward",    "sparse fwd+bwd",
                                        "block LUT backward", "dense fused backward", "dense fused fwd+bwd"};
    char line[400];
    fflush(stdout); /* after the table */
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (bench_noise_warning(names[i], all[i], 0, 0, line, sizeof line))
            fprintf(stderr, "bench: %s\n", line);
    if (bench_noise_warning(NULL, NULL, s->load1, s->cpus, line, sizeof line))
        fprintf(stderr, "bench: %s\n", line);
}

/* Device, shape, pattern, plan (kernel parameters, variant), memory, peak. */
static void print_plan(const bench_opts *o, const bench_state *s)
{
    const scl_device_info *di = scl_runtime_device(s->rt);
    const scl_plan_stats *ps = &s->ps;
    printf("device   %s (%s)\n", di->name, di->driver_version);
    printf("shape    B=%d H=%d H_kv=%d N_q=%lld N_k=%lld d=%d block=%d %s\n", o->sh.batch, o->sh.heads,
           s->norm.kv_heads, (long long)s->norm.seq_q, (long long)s->norm.seq_k, o->dim, s->norm.block,
           scli_dtype_name(o->dt));
    if (o->sh.block == SCL_BLOCK_AUTO)
        printf("block    %d (auto): %s\n", s->norm.block, scl_plan_block_reason(s->plan));
    printf("pattern  '%s': density %.4f, block density %.4f\n", o->sh.spec, ps->density, ps->block_density);
    if (ps->components > 0)
        printf("plan     decomposed into %d components: %.4g computed / allowed pairs (sparsecl pattern "
               "--explain)\n",
               ps->components, ps->computed_pairs / ps->allowed_pairs);
    printf("kernel   %s\n         from %s\n", scl_plan_kernel_options(s->plan),
           scl_plan_kernel_source(s->plan));
    printf("variant  %s\n", scl_plan_variant_reason(s->plan));
    printf("plan     created in %.1f ms (kernels %s)\n", ps->create_ms,
           ps->kernels_from_cache ? "from the binary cache" : "compiled");
    printf("memory   %.1f MiB on the device (tensors + plan buffers)\n", s->mem / 1048576.0);
    if (s->pk.fma_gflops > 0)
        printf("peak     %.1f GFLOP/s fp32 FMA, %.1f GB/s (sparsecl peak)\n", s->pk.fma_gflops,
               s->pk.bandwidth_gbs);
}

static void print_text(const bench_opts *o, const bench_state *s)
{
    double pk = s->pk.fma_gflops;
    print_plan(o, s);
    print_row("sparse fused", &s->sparse, pk);
    if (s->ps.components > 0) print_row("sparse block LUT", &s->lut, pk);
    print_row("dense fused", &s->dense_t, pk);
    print_row("dense CLBlast", &s->blast, pk);
    if (o->sh.backward) {
        print_row("sparse backward", &s->bwd, pk);
        print_row("sparse fwd+bwd", &s->both, pk);
        if (s->ps.components > 0) print_row("block LUT backward", &s->lbwd, pk);
        print_row("dense fused backward", &s->dbwd, pk);
        print_row("dense fused fwd+bwd", &s->dboth, pk);
    }
    if (s->dense_t.ran)
        printf("ratio    sparse / dense fused time = %.3f (block density p = %.3f: the ratio a kernel whose "
               "time is proportional to the blocks it computes would reach)\n",
               s->sparse.median / s->dense_t.median, s->ps.block_density);
    if (s->bwd.ran && s->dbwd.ran)
        printf("ratio    sparse / dense fused backward time = %.3f\n", s->bwd.median / s->dbwd.median);
    if (s->lut.ran)
        printf("ratio    decomposed is %.2fx faster than the block-LUT path (forward)\n",
               s->lut.median / s->sparse.median);
    if (s->lbwd.ran && s->bwd.ran)
        printf("ratio    decomposed is %.2fx faster than the block-LUT path (backward)\n",
               s->lbwd.median / s->bwd.median);
    if (s->dense_t.ran)
        printf("ratio    effective rate on allowed pairs / dense fused rate = %.3f\n",
               (s->sparse.flops / s->sparse.median) / (s->dense_t.flops / s->dense_t.median));
    if (s->dense_t.ran && s->blast.ran)
        printf("ratio    dense fused is %.2fx faster than CLBlast\n", s->blast.median / s->dense_t.median);
}

static bool has_suite(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--suite") == 0 || strncmp(argv[i], "--suite=", 8) == 0) return true;
    }
    return false;
}

#ifdef SCL_HAVE_MPI
int scl_mpi_cli_bench(int argc, char **argv); /* distributed/: `bench --distributed` over MPI */
#endif

int cmd_bench(int argc, char **argv)
{
#ifdef SCL_HAVE_MPI
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--distributed") == 0) return scl_mpi_cli_bench(argc, argv);
#endif
    if (has_suite(argc, argv)) return bench_suite_main(argc, argv);
    bench_opts o = {.sh = {.heads = 1, .batch = 1, .block = CLI_BLOCK_DEFAULT, .block_auto_ok = true},
                    .reps = 10,
                    .baselines = 1,
                    .peak = 1,
                    .mode = SCL_DECOMPOSE_AUTO,
                    .dt = SCL_F32};
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    bench_state s = {0};
    rc = run(&o, &s);
    if (rc == CLI_OK && o.json)
        print_json(&o, &s);
    else if (rc == CLI_OK)
        print_text(&o, &s);
    if (rc == CLI_OK) print_noise(&s);
    cleanup(&s);
    return rc;
}
