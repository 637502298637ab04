/* `sparsecl pattern SPEC --seq N ...`: compile a sparsity pattern, print its statistics, and
 * export the layout, element mask, LUT (binary/JSON) or a PNG picture. */
#include "cli.h"
#include "cli_options.h"
#include "scl_patterns.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD "pattern"
/* The element mask is built in memory; refuse it above this size. */
#define MASK_LIMIT ((int64_t)256 << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sparsecl pattern SPEC --seq N [--kv-seq M] [--block B|auto] [--heads H] [--json]\n"
            "                        [--layout-out L.npy] [--mask-out M.npy] [--lut-out F.lut]\n"
            "                        [--lut-json F.json] [--png P.png] [--explain [--decompose MODE]]\n"
            "\n"
            "Compile a block-sparse attention pattern and print its statistics.\n"
            "\n"
            "SPEC is one line, e.g. 'causal & strided(128)' or 'heads(0-3: causal; 4-7: local(256))'.\n"
            "Primitives: dense, causal, local(w), strided(l), fixed(l, c), dilated(w, d),\n"
            "global(t1, a-b, ...), longformer(w, t1, ...), bigbird(window, globals, randoms, seed),\n"
            "layout(path.npy); combine with | (union), & (intersection) and parentheses.\n"
            "See patterns/README.md for the exact definitions.\n"
            "\n"
            "options:\n"
            "  --seq N          query length N_q (required)\n"
            "  --kv-seq M       key length N_k (default: N_q)\n"
            "  --block B        block size, a power of two from 8 to 256 (default 64), or auto: the\n"
            "                   rule plans use without a tuning entry (largest of 32, 64, 128 whose\n"
            "                   computed elements are within 10%% of the fewest)\n"
            "  --heads H        number of heads (default 1)\n"
            "  --json           print the statistics as JSON\n"
            "  --layout-out F   write the block layout [H, nb_q, nb_k] uint8 (0 empty, 1 full, 2 partial)\n"
            "  --mask-out F     write the element mask [H, N_q, N_k] uint8 (at most 256 MiB)\n"
            "  --lut-out F      write the binary LUT file (format in patterns/README.md)\n"
            "  --lut-json F     write the LUT as JSON\n"
            "  --png F          draw the block layout: heads in a grid, labelled, under a title (the\n"
            "                   spec and shape) and a legend of full/partial/empty blocks\n"
            "  --explain        how plans run the pattern: its components (block LUT, gathered rows,\n"
            "                   gathered columns, permuted local), the elements each computes and the\n"
            "                   wasted fraction, before and after decomposition\n"
            "  --decompose M    with --explain: auto (the cost model, as plans do), off, or force\n"
            "  -h, --help       show this help\n");
}

/* One-line error naming the column, then the spec with a caret under it. */
static int spec_error(const char *spec, const spc_error *err)
{
    if (err->column > 0) {
        cli_error(CMD, CLI_USAGE, "column %d: %s", err->column, err->message);
        fprintf(stderr, "  %s\n  %*s^\n", spec, err->column - 1, "");
    } else {
        cli_error(CMD, CLI_USAGE, "%s", err->message);
    }
    return CLI_USAGE;
}

static cJSON *explain_json(const spc_decomposition *d);

static void print_human(const char *text, const spc_lut *l, const spc_stats *s, double ms)
{
    char lut[32], dense[32];
    spc_format_bytes(lut, sizeof lut, (double)s->lut_bytes, "B");
    spc_format_bytes(dense, sizeof dense, (double)s->dense_scores_bytes, "B");
    printf("pattern         %s\n", text);
    printf("geometry        N_q %lld x N_k %lld, block %d (%d x %d blocks), %d head%s\n", (long long)l->n_q,
           (long long)l->n_k, l->block, l->nb_q, l->nb_k, l->heads, l->heads == 1 ? "" : "s");
    printf("density         %.4g%% of elements, %.4g%% of blocks\n", 100 * s->density,
           100 * s->block_density);
    printf("allowed         %lld elements\n", (long long)s->allowed);
    printf("blocks          full %lld, partial %lld, empty %lld\n", (long long)s->full_blocks,
           (long long)s->partial_blocks, (long long)s->empty_blocks);
    printf("unique masks    %d\n", s->unique_masks);
    printf("unique layouts  %d\n", s->unique_layouts);
    printf("blocks per row  max %d, mean %.2f\n", s->max_row_blocks, s->mean_row_blocks);
    printf("LUT size        %s (dense fp32 scores: %s)\n", lut, dense);
    printf("compile time    %.2f ms\n", ms);
}

static int print_json(const char *text, const spc_lut *l, const spc_stats *s, double ms,
                      const spc_decomposition *d, const char *block_reason)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return -1;
    cJSON *ex = d ? explain_json(d) : NULL;
    if (d && !ex) {
        cJSON_Delete(o);
        return -1;
    }
    cJSON_AddStringToObject(o, "spec", text);
    cJSON_AddNumberToObject(o, "n_q", (double)l->n_q);
    cJSON_AddNumberToObject(o, "n_k", (double)l->n_k);
    cJSON_AddNumberToObject(o, "block", l->block);
    if (block_reason) cJSON_AddStringToObject(o, "block_reason", block_reason);
    cJSON_AddNumberToObject(o, "heads", l->heads);
    cJSON_AddNumberToObject(o, "nb_q", l->nb_q);
    cJSON_AddNumberToObject(o, "nb_k", l->nb_k);
    cJSON_AddNumberToObject(o, "density", s->density);
    cJSON_AddNumberToObject(o, "block_density", s->block_density);
    cJSON_AddNumberToObject(o, "allowed", (double)s->allowed);
    cJSON_AddNumberToObject(o, "full_blocks", (double)s->full_blocks);
    cJSON_AddNumberToObject(o, "partial_blocks", (double)s->partial_blocks);
    cJSON_AddNumberToObject(o, "empty_blocks", (double)s->empty_blocks);
    cJSON_AddNumberToObject(o, "unique_masks", s->unique_masks);
    cJSON_AddNumberToObject(o, "unique_layouts", s->unique_layouts);
    cJSON_AddNumberToObject(o, "max_row_blocks", s->max_row_blocks);
    cJSON_AddNumberToObject(o, "mean_row_blocks", s->mean_row_blocks);
    cJSON_AddNumberToObject(o, "lut_bytes", (double)s->lut_bytes);
    cJSON_AddNumberToObject(o, "dense_scores_bytes", (double)s->dense_scores_bytes);
    cJSON_AddNumberToObject(o, "compile_ms", ms);
    if (ex) cJSON_AddItemToObject(o, "explain", ex);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    if (!txt) return -1;
    printf("%s\n", txt);
    cJSON_free(txt);
    return 0;
}

static const char *exec_name(spc_exec e)
{
    static const char *names[] = {"block LUT", "gathered rows", "gathered columns", "permuted local"};
    return names[e];
}

static double wasted(double allowed, double computed)
{
    return computed > 0 ? 1.0 - allowed / computed : 0.0;
}

static void print_explain(const spc_decomposition *d)
{
    double allowed = 0, computed = 0;
    for (int k = 0; k < d->n; k++) {
        allowed += (double)d->comp[k].stats.allowed;
        computed += d->comp[k].computed;
    }
    printf("execution       %s\n", d->n ? "decomposed" : "block LUT");
    printf("  %-24s %14s %14s %8s\n", "component", "allowed", "computed", "wasted");
    printf("  %-24s %14lld %14.0f %7.1f%%\n", "before: block LUT", (long long)d->plain_allowed, d->plain_computed,
           100 * wasted((double)d->plain_allowed, d->plain_computed));
    for (int k = 0; k < d->n; k++) {
        const spc_component *c = &d->comp[k];
        printf("  %d %-22s %14lld %14.0f %7.1f%%   %s (%lld x %lld)\n", k + 1, exec_name(c->exec),
               (long long)c->stats.allowed, c->computed, 100 * wasted((double)c->stats.allowed, c->computed), c->what,
               (long long)c->n_q, (long long)c->n_k);
    }
    if (d->n) {
        printf("  %-24s %14.0f %14.0f %7.1f%%\n", "after: all components", allowed, computed,
               100 * wasted(allowed, computed));
        printf("cost model      %.4g (block LUT %.4g) computed-element units incl. gather/merge traffic\n", d->cost,
               d->plain_cost);
    } else {
        printf("why             %s\n", d->why);
    }
}

static cJSON *explain_json(const spc_decomposition *d)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if (!o || !arr) {
        cJSON_Delete(o);
        cJSON_Delete(arr);
        return NULL;
    }
    cJSON_AddBoolToObject(o, "decomposed", d->n > 0);
    cJSON_AddNumberToObject(o, "plain_allowed", (double)d->plain_allowed);
    cJSON_AddNumberToObject(o, "plain_computed", d->plain_computed);
    cJSON_AddNumberToObject(o, "plain_wasted", wasted((double)d->plain_allowed, d->plain_computed));
    cJSON_AddNumberToObject(o, "plain_cost", d->plain_cost);
    if (d->n) cJSON_AddNumberToObject(o, "cost", d->cost);
    else cJSON_AddStringToObject(o, "why", d->why);
    for (int k = 0; k < d->n; k++) {
        const spc_component *c = &d->comp[k];
        cJSON *e = cJSON_CreateObject();
        if (!e) break;
        cJSON_AddStringToObject(e, "kind", exec_name(c->exec));
        cJSON_AddStringToObject(e, "what", c->what);
        cJSON_AddNumberToObject(e, "n_q", (double)c->n_q);
        cJSON_AddNumberToObject(e, "n_k", (double)c->n_k);
        cJSON_AddNumberToObject(e, "allowed", (double)c->stats.allowed);
        cJSON_AddNumberToObject(e, "computed", c->computed);
        cJSON_AddNumberToObject(e, "wasted", wasted((double)c->stats.allowed, c->computed));
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddItemToObject(o, "components", arr);
    return o;
}

static double now_ms(void)
{
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

typedef struct pattern_opts {
    const char *spec;
    int64_t n_q, n_k;
    int block, heads;
    bool json, explain;
    spc_decompose_mode mode;
    const char *layout_out, *mask_out, *lut_out, *lut_json, *png;
} pattern_opts;

/* --decompose, the one option of its own. */
static int parse_other(void *ctx, int code, const char *value)
{
    static const spc_decompose_mode modes[] = {SPC_DECOMPOSE_AUTO, SPC_DECOMPOSE_OFF, SPC_DECOMPOSE_FORCE};
    int which;
    (void)code;
    if (!cli_parse_decompose(CMD, value, &which)) return CLI_USAGE;
    ((pattern_opts *)ctx)->mode = modes[which];
    return -1;
}

static void help(void)
{
    usage(stdout);
}

/* -1 to go on, else the exit code. */
static int parse(int argc, char **argv, pattern_opts *o)
{
    const cli_opt opts[] = {CLI_I64("seq", &o->n_q, 1, (double)((int64_t)1 << 40)),
                            CLI_I64("kv-seq", &o->n_k, 1, (double)((int64_t)1 << 40)),
                            CLI_BLOCK("block", &o->block, true),
                            CLI_INT("heads", &o->heads, 1, 65536),
                            CLI_BOOL("json", &o->json),
                            CLI_STR("layout-out", &o->layout_out),
                            CLI_STR("mask-out", &o->mask_out),
                            CLI_STR("lut-out", &o->lut_out),
                            CLI_STR("lut-json", &o->lut_json),
                            CLI_STR("png", &o->png),
                            CLI_BOOL("explain", &o->explain),
                            CLI_OTHER("decompose", 0),
                            CLI_END};
    const cli_options p = {.cmd = CMD,
                           .opts = opts,
                           .usage = help,
                           .other = parse_other,
                           .ctx = o,
                           .refused = "unknown option '%s' (see --help)",
                           .missing = "option '%s' needs a value (see --help)",
                           .operands = true};
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_OK;
    }
    int rc = cli_parse_options(&p, argc, argv);
    if (rc >= 0) return rc;
    if (optind >= argc) return cli_error(CMD, CLI_USAGE, "missing SPEC (see --help)");
    if (optind + 1 < argc)
        return cli_error(CMD, CLI_USAGE, "unexpected argument '%s' (quote the spec if it has spaces)",
                         argv[optind + 1]);
    o->spec = argv[optind];
    if (o->n_q == 0) return cli_error(CMD, CLI_USAGE, "--seq N is required");
    if (o->n_k == 0) o->n_k = o->n_q;
    double mask_bytes = (double)o->heads * (double)o->n_q * (double)o->n_k;
    if (o->mask_out && mask_bytes > (double)MASK_LIMIT)
        return cli_error(
            CMD, CLI_USAGE,
            "--mask-out: the element mask would be %.0f bytes (%.1f MiB: %d x %lld x %lld), above the "
            "256 MiB limit; use --layout-out or shorter sequences",
            mask_bytes, mask_bytes / (1 << 20), o->heads, (long long)o->n_q, (long long)o->n_k);
    return -1;
}

/* The files the options name; a CLI exit code. */
static int write_outputs(const pattern_opts *o, const spc_bound *bound, const spc_lut *lut)
{
    spc_error err;
    if (o->layout_out && spc_lut_write_layout_npy(lut, o->layout_out, &err) != 0)
        return cli_error(CMD, CLI_FAILED, "--layout-out: %s", err.message);
    if (o->mask_out && spc_write_mask_npy(bound, o->mask_out, MASK_LIMIT, &err) != 0)
        return cli_error(CMD, CLI_FAILED, "--mask-out: %s", err.message);
    if (o->lut_out && spc_lut_write(lut, o->lut_out, &err) != 0)
        return cli_error(CMD, CLI_FAILED, "--lut-out: %s", err.message);
    if (o->lut_json && spc_lut_write_json(lut, o->lut_json, &err) != 0)
        return cli_error(CMD, CLI_FAILED, "--lut-json: %s", err.message);
    if (o->png && spc_lut_write_png_titled(lut, o->png, o->spec, &err) != 0)
        return cli_error(CMD, CLI_FAILED, "--png: %s", err.message);
    return CLI_OK;
}

int cmd_pattern(int argc, char **argv)
{
    pattern_opts o = {.block = 64, .heads = 1, .mode = SPC_DECOMPOSE_AUTO};
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    spc_error err;
    spc_pattern *pat = NULL;
    spc_bound *bound = NULL;
    spc_lut *lut = NULL;
    spc_decomposition *dec = NULL;
    rc = CLI_FAILED;
    double t0 = now_ms();
    if (spc_parse(o.spec, &pat, &err) != 0) return spec_error(o.spec, &err);
    spc_geometry g = {o.n_q, o.n_k, o.block, o.heads};
    spc_block_choice choice;
    if (o.block == SCL_BLOCK_AUTO) { /* no device here: the rule, never a tuning entry */
        if (spc_block_rule(pat, &g, o.mode, &choice, &err) != 0) {
            rc = spec_error(o.spec, &err);
            goto done;
        }
        g.block = choice.block[choice.chosen];
    }
    if (spc_bind(pat, &g, &bound, &err) != 0) {
        rc = spec_error(o.spec, &err);
        goto done;
    }
    if (spc_compile(bound, &lut, &err) != 0) {
        cli_error(CMD, CLI_FAILED, "%s", err.message);
        goto done;
    }
    double ms = now_ms() - t0;
    spc_stats s;
    spc_lut_stats(lut, &s);
    if (o.explain && spc_decompose(bound, &s, o.mode, &dec, &err) != 0) {
        cli_error(CMD, CLI_FAILED, "--explain: %s", err.message);
        goto done;
    }
    if (o.json) {
        if (print_json(spc_pattern_text(pat), lut, &s, ms, dec, o.block == SCL_BLOCK_AUTO ? choice.why : NULL) != 0) {
            cli_error(CMD, CLI_FAILED, "out of memory printing JSON");
            goto done;
        }
    } else {
        print_human(spc_pattern_text(pat), lut, &s, ms);
        if (o.block == SCL_BLOCK_AUTO)
            printf("block (auto)    %d by %s (no device here: plans also read tuned entries)\n", g.block,
                   choice.why);
        if (dec) print_explain(dec);
    }
    rc = write_outputs(&o, bound, lut);
done:
    spc_decomposition_free(dec);
    spc_lut_free(lut);
    spc_bound_free(bound);
    spc_pattern_free(pat);
    return rc;
}
