/* `sparsecl peak`: measured fp32 multiply-add throughput and memory bandwidth of a device, the
 * ceilings benchmark results are compared against. */
#include "cli.h"
#include "cli_options.h"
#include "peak.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(void)
{
    printf(
        "usage: sparsecl peak [--device D] [--json]\n\n"
        "Measures the device's fp32 multiply-add throughput (GFLOP/s, float/float4/float8 chains) and\n"
        "global-memory bandwidth (GB/s, float4 copy and read over up to 256 MiB) with clpeak-style\n"
        "micro-kernels; the best of several timed launches after warm-up.\n\n"
        "  --device D   device selector (default: SPARSECL_DEVICE, else the first GPU, else the first CPU)\n"
        "  --json       print one JSON object instead of text\n");
}

/* -d D, the short form of --device. */
static int short_device(void *device, int code, const char *value)
{
    (void)code;
    *(const char **)device = value;
    return -1;
}

int cmd_peak(int argc, char **argv)
{
    const char *device = NULL;
    int json = 0;
    const cli_opt opts[] = {CLI_STR("device", &device), CLI_SET("json", &json, 1), CLI_END};
    const cli_options parse = {.cmd = "peak",
                               .opts = opts,
                               .usage = usage,
                               .shorts = "d:",
                               .other = short_device,
                               .ctx = &device,
                               .refused = "unknown option '%s' (see --help)",
                               .missing = "option '%s' needs a value (see --help)"};
    int parsed = cli_parse_options(&parse, argc, argv);
    if (parsed >= 0) return parsed;

    scl_runtime *rt = NULL;
    int rc = cli_runtime_create("peak", device, &rt);
    if (rc != CLI_OK) return rc;
    const scl_device_info *d = scl_runtime_device(rt);
    scl_peak p;
    scl_status st = scl_measure_peak(rt, &p);
    if (st != SCL_OK) {
        cli_error("peak", CLI_FAILED, "%s: %s", scl_status_string(st), scl_last_error_message(rt));
        scl_runtime_destroy(rt);
        return CLI_FAILED;
    }
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "device", d->name);
        cJSON_AddStringToObject(root, "platform", d->platform_name);
        cJSON_AddStringToObject(root, "driver", d->driver_version);
        cJSON_AddNumberToObject(root, "compute_units", d->compute_units);
        cJSON_AddNumberToObject(root, "fma_gflops", p.fma_gflops);
        cJSON_AddNumberToObject(root, "bandwidth_gbs", p.bandwidth_gbs);
        cJSON_AddNumberToObject(root, "fma_ms", p.fma_ms);
        cJSON_AddNumberToObject(root, "bw_ms", p.bw_ms);
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
        cJSON_Delete(root);
    } else {
        printf("device      %s (%s, %u compute units)\n", d->name, d->platform_name, d->compute_units);
        printf("fp32 FMA    %.1f GFLOP/s  (best launch %.2f ms)\n", p.fma_gflops, p.fma_ms);
        printf("bandwidth   %.1f GB/s  (best launch %.2f ms)\n", p.bandwidth_gbs, p.bw_ms);
    }
    scl_runtime_destroy(rt);
    return CLI_OK;
}
