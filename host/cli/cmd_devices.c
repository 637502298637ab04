/* `sparsecl devices`: what OpenCL can see, as a table or JSON. */
#include "cli.h"
#include "cli_options.h"
#include "sparsecl.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_DEVICES 64

static const char *type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU) return "gpu";
    if (t & CL_DEVICE_TYPE_CPU) return "cpu";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    return "other";
}

static void print_json(const scl_device_info *d, int n, int selected)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", d[i].index);
        cJSON_AddStringToObject(o, "platform", d[i].platform_name);
        cJSON_AddStringToObject(o, "name", d[i].name);
        cJSON_AddStringToObject(o, "type", type_name(d[i].type));
        cJSON_AddStringToObject(o, "vendor", d[i].vendor);
        cJSON_AddStringToObject(o, "driver", d[i].driver_version);
        cJSON_AddStringToObject(o, "opencl", d[i].device_version);
        cJSON_AddNumberToObject(o, "compute_units", d[i].compute_units);
        cJSON_AddNumberToObject(o, "clock_mhz", d[i].clock_mhz);
        cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d[i].global_mem_bytes);
        cJSON_AddNumberToObject(o, "local_mem_bytes", (double)d[i].local_mem_bytes);
        cJSON_AddNumberToObject(o, "max_alloc_bytes", (double)d[i].max_alloc_bytes);
        cJSON_AddNumberToObject(o, "max_work_group_size", (double)d[i].max_work_group_size);
        cJSON_AddBoolToObject(o, "fp16", d[i].fp16);
        cJSON_AddBoolToObject(o, "fp64", d[i].fp64);
        cJSON_AddBoolToObject(o, "default", d[i].index == selected);
        cJSON_AddItemToArray(arr, o);
    }
    char *text = cJSON_Print(root);
    if (text) puts(text);
    free(text);
    cJSON_Delete(root);
}

static void print_table(const scl_device_info *d, int n, int selected)
{
    for (int i = 0; i < n; i++) {
        printf("[%d]%s %s\n", d[i].index, d[i].index == selected ? " (default)" : "", d[i].name);
        printf("    platform    %s\n", d[i].platform_name);
        printf("    type        %s, vendor %s\n", type_name(d[i].type), d[i].vendor);
        printf("    driver      %s (%s)\n", d[i].driver_version, d[i].device_version);
        printf("    compute     %u units @ %u MHz, max work-group %zu\n", d[i].compute_units, d[i].clock_mhz,
               d[i].max_work_group_size);
        printf("    memory      global %.2f GiB (max alloc %.2f GiB), local %.1f KiB\n",
               d[i].global_mem_bytes / 1073741824.0, d[i].max_alloc_bytes / 1073741824.0,
               d[i].local_mem_bytes / 1024.0);
        printf("    fp16 %s, fp64 %s\n", d[i].fp16 ? "yes" : "no", d[i].fp64 ? "yes" : "no");
    }
}

static void usage(void)
{
    fputs(
        "usage: sparsecl devices [--json]\n\nLists every OpenCL device of every platform with the properties "
        "sparsecl uses.\nThe default device (SPARSECL_DEVICE, else the first GPU, else the first CPU) is "
        "marked.\n",
        stdout);
}

int cmd_devices(int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {CLI_SET("json", &json, 1), CLI_END};
    const cli_options parse = {
        .cmd = "devices", .opts = opts, .usage = usage, .refused = "unknown option '%s' (see --help)"};
    int rc = cli_parse_options(&parse, argc, argv);
    if (rc >= 0) return rc;
    scl_device_info devs[MAX_DEVICES];
    int n = 0;
    if (scl_devices_list(devs, MAX_DEVICES, &n) != SCL_OK)
        return cli_error("devices", CLI_FAILED, "cannot enumerate OpenCL platforms");
    if (n > MAX_DEVICES) n = MAX_DEVICES;
    scl_device_info def;
    bool found;
    rc = cli_select_device("devices", NULL, &def, &found);
    if (rc != CLI_OK) return rc;
    int selected = found ? def.index : -1;
    if (json) print_json(devs, n, selected);
    else if (n == 0) printf("no OpenCL devices found (install an ICD, e.g. pocl-opencl-icd)\n");
    else print_table(devs, n, selected);
    return CLI_OK;
}
