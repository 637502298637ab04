/* `sparsecl bench`: time the fused block-sparse forward against the dense fused kernel and a
 * CLBlast dense baseline, side by side in one run on one device. */
#include "baseline.h"
#include "bench_suite.h"
#include "cli.h"
#include "backward.h"
#include "internal.h"
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
    printf("usage: sparsecl bench --pattern SPEC --seq N --block B --heads H --dim d\n"
           "                      [--batch B] [--kv-heads H_kv] [--kv-seq M] [--dtype f32|f16] [--reps R]\n"
           "                      [--backward] [--decompose auto|off|force] [--device D] [--no-baselines]\n"
           "                      [--no-peak] [--profile] [--json]\n"
           "       sparsecl bench --suite quick|full [--device D|all] [--out DIR] [--note TEXT] ...\n"
           "                      (see sparsecl bench --suite quick --help)\n\n"
           "Times the fused forward on random inputs (2 warm-up runs, then R timed runs with OpenCL\n"
           "profiling events; median, min, max), then the same shape dense through the fused kernel\n"
           "and through CLBlast (SGEMM Q K^T -> softmax -> SGEMM P V), and prints the ratios.\n"
           "Effective GFLOP/s count 4*d flops per allowed (query, key) pair. --no-peak skips the\n"
           "device peak measurement (see `sparsecl peak`) used for the fraction-of-peak column.\n"
           "--backward also times the backward pass alone and forward followed by backward (backward\n"
           "FLOPs = 2.5x the forward's, FlashAttention's convention), against the dense fused backward;\n"
           "the CLBlast baseline is forward only.\n"
           "--decompose chooses how the plan runs the pattern (default auto: the cost model, as\n"
           "SPARSECL_DECOMPOSE). When the plan is decomposed into components (sparsecl pattern\n"
           "--explain), the same pattern is also timed through the plain block LUT, and the ratios\n"
           "compare the two and the effective rate on allowed elements with the dense kernel's.\n"
           "--profile prints the device time of every kernel of one forward (and backward) run\n"
           "(to stderr with --json).\n");
}

static void print_row(const char *name, const bench_timing *t, double peak)
{
    if (!t->ran) {
        printf("  %-22s not run: %s\n", name, t->note);
        return;
    }
    double gf = t->flops / t->median * 1e-6;
    printf("  %-22s median %9.3f ms  (min %9.3f, max %9.3f)  %9.1f GFLOP/s", name, t->median, t->min, t->max,
           gf);
    if (peak > 0) printf("  %5.1f%% of peak", 100.0 * gf / peak);
    printf("\n");
}

/* Every command of one forward (and backward) run with its device time. */
static void print_profile(scl_plan *plan, const bench_buffers *b, int backward, FILE *f)
{
    for (int pass = 0; pass <= backward; pass++) {
        scl_events all = {.n = 0};
        scl_status st =
            pass ? scl_plan_backward_events(plan, b->q, b->k, b->v, b->o, b->lse, b->dout, b->dq, b->dk,
                                            b->dv, 0, NULL, &all, NULL)
                 : scl_plan_forward_events(plan, b->q, b->k, b->v, b->o, b->lse, 0, NULL, &all, NULL);
        if (st == SCL_OK && all.n > 0 && clWaitForEvents(all.n, all.e) == CL_SUCCESS) {
            fprintf(f, "profile  %s, one run:\n", pass ? "backward" : "forward");
            scl_events_print(&all, f);
        }
        scl_events_release(&all);
    }
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
    static const struct option opts[] = {{"pattern", required_argument, NULL, 'p'},
                                         {"seq", required_argument, NULL, 'n'},
                                         {"kv-seq", required_argument, NULL, 'm'},
                                         {"block", required_argument, NULL, 'b'},
                                         {"heads", required_argument, NULL, 'H'},
                                         {"kv-heads", required_argument, NULL, 'K'},
                                         {"dim", required_argument, NULL, 'd'},
                                         {"batch", required_argument, NULL, 'B'},
                                         {"dtype", required_argument, NULL, 't'},
                                         {"reps", required_argument, NULL, 'r'},
                                         {"device", required_argument, NULL, 'D'},
                                         {"no-baselines", no_argument, NULL, 'x'},
                                         {"no-peak", no_argument, NULL, 'P'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"backward", no_argument, NULL, 'w'},
                                         {"decompose", required_argument, NULL, 'c'},
                                         {"profile", no_argument, NULL, 'F'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *spec = NULL, *dev = NULL;
    int64_t seq = 0, kv_seq = 0;
    int block = 0, heads = 1, kv_heads = 0, dim = 0, batch = 1, reps = 10, json = 0, baselines = 1, peak = 1,
        backward = 0, c, profile = 0;
    scl_decompose_mode mode = SCL_DECOMPOSE_AUTO;
    scl_dtype dt = SCL_F32;
    opterr = 0;
    optind = 1;
    for (int before = optind; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1; before = optind) {
        bool ok = true;
        switch (c) {
        case 'p':
            spec = optarg;
            break;
        case 'D':
            dev = optarg;
            break;
        case 'n':
            ok = cli_parse_i64(CMD, "--seq", optarg, 1, 1 << 30, &seq);
            break;
        case 'm':
            ok = cli_parse_i64(CMD, "--kv-seq", optarg, 1, 1 << 30, &kv_seq);
            break;
        case 'b':
            ok = cli_parse_int(CMD, "--block", optarg, 8, 256, &block);
            break;
        case 'H':
            ok = cli_parse_int(CMD, "--heads", optarg, 1, 65536, &heads);
            break;
        case 'K':
            ok = cli_parse_int(CMD, "--kv-heads", optarg, 1, 65536, &kv_heads);
            break;
        case 'd':
            ok = cli_parse_int(CMD, "--dim", optarg, 1, 4096, &dim);
            break;
        case 'B':
            ok = cli_parse_int(CMD, "--batch", optarg, 1, 65536, &batch);
            break;
        case 'r':
            ok = cli_parse_int(CMD, "--reps", optarg, 1, 100000, &reps);
            break;
        case 't':
            if (strcmp(optarg, "f32") == 0)
                dt = SCL_F32;
            else if (strcmp(optarg, "f16") == 0)
                dt = SCL_F16;
            else
                return cli_error(CMD, CLI_USAGE, "--dtype must be f32 or f16, got '%s'", optarg);
            break;
        case 'x':
            baselines = 0;
            break;
        case 'P':
            peak = 0;
            break;
        case 'j':
            json = 1;
            break;
        case 'w':
            backward = 1;
            break;
        case 'F':
            profile = 1;
            break;
        case 'c':
            if (strcmp(optarg, "auto") == 0)
                mode = SCL_DECOMPOSE_AUTO;
            else if (strcmp(optarg, "off") == 0)
                mode = SCL_DECOMPOSE_OFF;
            else if (strcmp(optarg, "force") == 0)
                mode = SCL_DECOMPOSE_FORCE;
            else
                return cli_error(CMD, CLI_USAGE, "--decompose: expected auto, off or force, got '%s'",
                                 optarg);
            break;
        case 'h':
            usage();
            return CLI_OK;
        default:
            return cli_refused(CMD, argv, before);
        }
        if (!ok) return CLI_USAGE;
    }
    if (optind < argc) return cli_error(CMD, CLI_USAGE, "unexpected argument '%s'", argv[optind]);
    if (!spec || !seq || !block || !dim)
        return cli_error(CMD, CLI_USAGE, "--pattern, --seq, --block and --dim are required (see --help)");

    scl_shape shape = {batch, heads, kv_heads, seq, kv_seq, dim, block, 0.0f, SCL_LAYOUT_BHND};
    scl_runtime *rt = NULL;
    scl_pattern *pat = NULL, *dense_pat = NULL;
    scl_plan *plan = NULL, *dense = NULL, *plain = NULL;
    bench_buffers bufs = {0};
    bench_timing sparse_t = {0}, dense_t = {0}, blast_t = {0}, bwd_t = {0}, both_t = {0}, dbwd_t = {0},
                 dboth_t = {0}, lut_t = {0}, lbwd_t = {0}, lboth_t = {0};
    scl_peak pk = {0};
    int rc = CLI_OK;
    scl_plan_options popt;
    scl_plan_options_init(&popt);
    popt.decompose = mode;
    scl_status st = scl_runtime_create(dev, &rt);
    if (st != SCL_OK) {
        rc = cli_error(CMD, CLI_FAILED, "%s", scl_last_error_message(rt));
        goto done;
    }
    if ((st = scl_pattern_create(rt, spec, &pat)) != SCL_OK ||
        (st = scl_plan_create_with_options(rt, pat, &shape, dt, &popt, &plan))) {
        rc = cli_error(CMD, st == SCL_ERR_INVALID_ARGUMENT || st == SCL_ERR_PATTERN ? CLI_USAGE : CLI_FAILED,
                       "%s", scl_last_error_message(rt));
        goto done;
    }
    scl_shape norm = shape;
    if (!norm.kv_heads) norm.kv_heads = heads;
    if (!norm.seq_k) norm.seq_k = seq;
    if ((st = bench_make_buffers(rt, &norm, dt, backward, &bufs)) != SCL_OK) {
        rc = cli_error(CMD, CLI_FAILED, "%s", scl_last_error_message(rt));
        goto done;
    }
    scl_plan_stats ps;
    scl_plan_get_stats(plan, &ps);
    double dense_pairs = (double)batch * heads * (double)norm.seq_q * (double)norm.seq_k;
    if (!json) fprintf(stderr, "bench: timing '%s' (%d+2 runs)...\n", spec, reps);
    if ((st = bench_time_forward(plan, &bufs, 2, reps, 0, &sparse_t)) != SCL_OK) {
        rc = cli_error(CMD, CLI_FAILED, "%s", scl_last_error_message(rt));
        goto done;
    }
    sparse_t.flops = 4.0 * dim * ps.allowed_pairs;
    dense_t.flops = blast_t.flops = 4.0 * dim * dense_pairs;
    bwd_t.flops = BENCH_BWD_FLOP_RATIO * sparse_t.flops;
    both_t.flops = (1.0 + BENCH_BWD_FLOP_RATIO) * sparse_t.flops;
    dbwd_t.flops = BENCH_BWD_FLOP_RATIO * dense_t.flops;
    dboth_t.flops = (1.0 + BENCH_BWD_FLOP_RATIO) * dense_t.flops;
    if (backward) {
        if (!json) fprintf(stderr, "bench: timing the backward pass...\n");
        bench_time_backward(plan, &bufs, 2, reps, 0, &bwd_t, &both_t);
    }
    if (profile) print_profile(plan, &bufs, backward, json ? stderr : stdout);
    lut_t.flops = sparse_t.flops;
    lbwd_t.flops = bwd_t.flops;
    lboth_t.flops = both_t.flops;
    if (baselines && ps.components > 0) { /* the same pattern through the plain block LUT */
        if (!json) fprintf(stderr, "bench: timing the plain block-LUT path...\n");
        popt.decompose = SCL_DECOMPOSE_OFF;
        if (scl_plan_create_with_options(rt, pat, &shape, dt, &popt, &plain) == SCL_OK) {
            bench_time_forward(plain, &bufs, 2, reps, 0, &lut_t);
            if (backward && lut_t.ran) bench_time_backward(plain, &bufs, 2, reps, 0, &lbwd_t, &lboth_t);
        }
        if (!lut_t.ran) snprintf(lut_t.note, sizeof lut_t.note, "%s", scl_last_error_message(rt));
    }
    if (baselines) {
        if (!json) fprintf(stderr, "bench: timing dense fused kernel...\n");
        if (scl_pattern_create(rt, "dense", &dense_pat) == SCL_OK &&
            scl_plan_create(rt, dense_pat, &shape, dt, &dense) == SCL_OK) {
            bench_time_forward(dense, &bufs, 2, reps, 0, &dense_t);
            if (backward && dense_t.ran) bench_time_backward(dense, &bufs, 2, reps, 0, &dbwd_t, &dboth_t);
        }
        if (!dense_t.ran) snprintf(dense_t.note, sizeof dense_t.note, "%s", scl_last_error_message(rt));
        if (backward && !dbwd_t.ran && !dbwd_t.note[0])
            snprintf(dbwd_t.note, sizeof dbwd_t.note, "%s", dense_t.note);
        if (!json) fprintf(stderr, "bench: timing CLBlast baseline...\n");
        if (dt == SCL_F16)
            snprintf(blast_t.note, sizeof blast_t.note,
                     "float16 storage: the CLBlast baseline is float32 only");
        else
            bench_time_clblast(rt, &norm, &bufs, 2, reps, 0, &blast_t, NULL);
    } else {
        snprintf(dense_t.note, sizeof dense_t.note, "--no-baselines");
        snprintf(lut_t.note, sizeof lut_t.note, "--no-baselines");
        snprintf(blast_t.note, sizeof blast_t.note, "--no-baselines");
        snprintf(dbwd_t.note, sizeof dbwd_t.note, "--no-baselines");
    }
    if (peak) {
        if (!json) fprintf(stderr, "bench: measuring device peak...\n");
        if (scl_measure_peak(rt, &pk) != SCL_OK) pk.fma_gflops = 0;
    }
    scl_plan_memory pmem;
    scl_plan_get_memory(plan, &pmem);
    size_t mem = bufs.bytes + pmem.forward_bytes;

    const scl_device_info *di = scl_runtime_device(rt);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "device", di->name);
        cJSON_AddStringToObject(root, "platform", di->platform_name);
        cJSON_AddStringToObject(root, "driver", di->driver_version);
        cJSON_AddStringToObject(root, "version", scl_version());
        cJSON_AddStringToObject(root, "pattern", spec);
        cJSON_AddNumberToObject(root, "batch", batch);
        cJSON_AddNumberToObject(root, "heads", heads);
        cJSON_AddNumberToObject(root, "kv_heads", norm.kv_heads);
        cJSON_AddNumberToObject(root, "seq_q", (double)norm.seq_q);
        cJSON_AddNumberToObject(root, "seq_k", (double)norm.seq_k);
        cJSON_AddNumberToObject(root, "dim", dim);
        cJSON_AddNumberToObject(root, "block", block);
        cJSON_AddStringToObject(root, "dtype", dt == SCL_F16 ? "f16" : "f32");
        cJSON_AddNumberToObject(root, "reps", reps);
        cJSON_AddNumberToObject(root, "density", ps.density);
        cJSON_AddNumberToObject(root, "block_density", ps.block_density);
        cJSON_AddNumberToObject(root, "allowed_pairs", ps.allowed_pairs);
        cJSON_AddNumberToObject(root, "computed_pairs", ps.computed_pairs);
        cJSON_AddNumberToObject(root, "components", ps.components);
        cJSON_AddStringToObject(root, "kernel_options", scl_plan_kernel_options(plan));
        cJSON_AddStringToObject(root, "kernel_params_from", scl_plan_kernel_source(plan));
        cJSON_AddNumberToObject(root, "plan_create_ms", ps.create_ms);
        cJSON_AddBoolToObject(root, "kernels_from_cache", ps.kernels_from_cache);
        cJSON_AddNumberToObject(root, "memory_bytes", (double)mem);
        if (pk.fma_gflops > 0) {
            cJSON_AddNumberToObject(root, "peak_fma_gflops", pk.fma_gflops);
            cJSON_AddNumberToObject(root, "peak_bandwidth_gbs", pk.bandwidth_gbs);
        }
        cJSON_AddItemToObject(root, "sparse", bench_timing_json(&sparse_t, pk.fma_gflops));
        cJSON_AddItemToObject(root, "dense_fused", bench_timing_json(&dense_t, pk.fma_gflops));
        cJSON_AddItemToObject(root, "clblast", bench_timing_json(&blast_t, pk.fma_gflops));
        if (ps.components > 0) {
            cJSON_AddItemToObject(root, "sparse_block_lut", bench_timing_json(&lut_t, pk.fma_gflops));
            if (lut_t.ran)
                cJSON_AddNumberToObject(root, "decomposed_speedup_over_block_lut",
                                        lut_t.median / sparse_t.median);
            if (backward) {
                cJSON_AddItemToObject(root, "block_lut_backward", bench_timing_json(&lbwd_t, pk.fma_gflops));
                if (lbwd_t.ran && bwd_t.ran)
                    cJSON_AddNumberToObject(root, "decomposed_backward_speedup_over_block_lut",
                                            lbwd_t.median / bwd_t.median);
            }
        }
        if (dense_t.ran)
            cJSON_AddNumberToObject(root, "effective_rate_over_dense",
                                    (sparse_t.flops / sparse_t.median) / (dense_t.flops / dense_t.median));
        if (dense_t.ran)
            cJSON_AddNumberToObject(root, "sparse_time_over_dense", sparse_t.median / dense_t.median);
        if (blast_t.ran && dense_t.ran)
            cJSON_AddNumberToObject(root, "dense_fused_speedup_over_clblast",
                                    blast_t.median / dense_t.median);
        if (backward) {
            cJSON_AddItemToObject(root, "backward", bench_timing_json(&bwd_t, pk.fma_gflops));
            cJSON_AddItemToObject(root, "forward_backward", bench_timing_json(&both_t, pk.fma_gflops));
            cJSON_AddItemToObject(root, "dense_fused_backward", bench_timing_json(&dbwd_t, pk.fma_gflops));
            cJSON_AddItemToObject(root, "dense_fused_forward_backward",
                                  bench_timing_json(&dboth_t, pk.fma_gflops));
            cJSON_AddNumberToObject(root, "backward_memory_bytes",
                                    (double)(mem + pmem.backward_bytes));
            if (bwd_t.ran && dbwd_t.ran)
                cJSON_AddNumberToObject(root, "sparse_backward_time_over_dense",
                                        bwd_t.median / dbwd_t.median);
        }
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
        cJSON_Delete(root);
    } else {
        printf("device   %s (%s)\n", di->name, di->driver_version);
        printf("shape    B=%d H=%d H_kv=%d N_q=%lld N_k=%lld d=%d block=%d %s\n", batch, heads, norm.kv_heads,
               (long long)norm.seq_q, (long long)norm.seq_k, dim, block, dt == SCL_F16 ? "f16" : "f32");
        printf("pattern  '%s': density %.4f, block density %.4f\n", spec, ps.density, ps.block_density);
        if (ps.components > 0)
            printf("plan     decomposed into %d components: %.4g computed / allowed pairs (sparsecl pattern "
                   "--explain)\n",
                   ps.components, ps.computed_pairs / ps.allowed_pairs);
        printf("kernel   %s\n         from %s\n", scl_plan_kernel_options(plan),
               scl_plan_kernel_source(plan));
        printf("plan     created in %.1f ms (kernels %s)\n", ps.create_ms,
               ps.kernels_from_cache ? "from the binary cache" : "compiled");
        printf("memory   %.1f MiB on the device (tensors + plan buffers)\n", mem / 1048576.0);
        if (pk.fma_gflops > 0)
            printf("peak     %.1f GFLOP/s fp32 FMA, %.1f GB/s (sparsecl peak)\n", pk.fma_gflops,
                   pk.bandwidth_gbs);
        print_row("sparse fused", &sparse_t, pk.fma_gflops);
        if (ps.components > 0) print_row("sparse block LUT", &lut_t, pk.fma_gflops);
        print_row("dense fused", &dense_t, pk.fma_gflops);
        print_row("dense CLBlast", &blast_t, pk.fma_gflops);
        if (backward) {
            print_row("sparse backward", &bwd_t, pk.fma_gflops);
            print_row("sparse fwd+bwd", &both_t, pk.fma_gflops);
            if (ps.components > 0) print_row("block LUT backward", &lbwd_t, pk.fma_gflops);
            print_row("dense fused backward", &dbwd_t, pk.fma_gflops);
            print_row("dense fused fwd+bwd", &dboth_t, pk.fma_gflops);
        }
        if (dense_t.ran)
            printf(
                "ratio    sparse / dense fused time = %.3f (block density p = %.3f; 1.25p + 0.03 = %.3f)\n",
                sparse_t.median / dense_t.median, ps.block_density, 1.25 * ps.block_density + 0.03);
        if (bwd_t.ran && dbwd_t.ran)
            printf("ratio    sparse / dense fused backward time = %.3f\n", bwd_t.median / dbwd_t.median);
        if (lut_t.ran)
            printf("ratio    decomposed is %.2fx faster than the block-LUT path (forward)\n",
                   lut_t.median / sparse_t.median);
        if (lbwd_t.ran && bwd_t.ran)
            printf("ratio    decomposed is %.2fx faster than the block-LUT path (backward)\n",
                   lbwd_t.median / bwd_t.median);
        if (dense_t.ran)
            printf("ratio    effective rate on allowed pairs / dense fused rate = %.3f\n",
                   (sparse_t.flops / sparse_t.median) / (dense_t.flops / dense_t.median));
        if (dense_t.ran && blast_t.ran)
            printf("ratio    dense fused is %.2fx faster than CLBlast\n", blast_t.median / dense_t.median);
    }
done:
    bench_free_buffers(&bufs);
    scl_plan_destroy(dense);
    scl_plan_destroy(plain);
    scl_plan_destroy(plan);
    scl_pattern_destroy(dense_pat);
    scl_pattern_destroy(pat);
    scl_runtime_destroy(rt);
    return rc;
}
