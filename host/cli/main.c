/* `sparsecl`: command-line front end. Each subcommand lives in its own cmd_*.c file. */
#include "cli.h"
#include "sparsecl.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} commands[] = {
    {"devices", cmd_devices, "list OpenCL platforms and devices"},
    {"info", cmd_info, "library version, kernel sources, cache and tuning databases"},
    {"pattern", cmd_pattern, "compile a sparsity pattern and show its block layout and LUT statistics"},
    {"attend", cmd_attend, "run block-sparse attention on .npy tensors"},
    {"bench", cmd_bench, "time a pattern against the dense fused kernel and a CLBlast baseline"},
    {"peak", cmd_peak, "measure the device's fp32 FMA throughput and memory bandwidth"},
    {"tune", cmd_tune, "search kernel parameters for this device and write its tuning database"},
    {"report", cmd_report, "regenerate results/README.md (devices side by side) from results/*/bench.json"},
    {"block", cmd_block, "run a Sparse Transformer block (LayerNorm, QKV, sparse attention, MLP) on .npy weights"},
};

static void usage(FILE *f)
{
    fprintf(f, "sparsecl %s: portable OpenCL block-sparse attention\n\n", scl_version());
    fprintf(f, "usage: sparsecl <command> [options]   (sparsecl <command> --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "version", "print the version (also -V, --version)");
    fprintf(f, "\nenvironment:\n"
               "  SPARSECL_DEVICE      device selector (index, cpu, gpu, nvidia, amd, intel, pocl, name part)\n"
               "  SPARSECL_CACHE_DIR   program binary cache (default $XDG_CACHE_HOME/sparsecl; 'off' disables)\n"
               "  SPARSECL_KERNEL_DIR  read kernel sources from this directory instead of the embedded copies\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "version") == 0) {
        printf("sparsecl %s\n", scl_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sparsecl: error: unknown command '%s' (try sparsecl --help)\n", argv[1]);
    return CLI_USAGE;
}
