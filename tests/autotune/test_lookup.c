/* Tuning-database look-up with fallback (issue 17): architecture keys of devices and databases;
 * the order exact device -> same architecture -> defaults over databases written for fake
 * devices; an entry invalid here is passed over with its reason; plans on the real device take a
 * same-architecture database and say so in scl_plan_kernel_source.
 * Usage: test_lookup WORK_DIR */
#include "../check.h"
#include "internal.h"
#include "params_fwd_simt.h"
#include "tuning_db.h"
#include "tuning_db_write.h"
#include "tune_env.h"
#include "../test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *work;

static scl_device_info fake(const char *name, const char *vendor, const char *platform, const char *opencl,
                            cl_device_type type)
{
    scl_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", name);
    snprintf(d.vendor, sizeof d.vendor, "%s", vendor);
    snprintf(d.platform_name, sizeof d.platform_name, "%s", platform);
    snprintf(d.device_version, sizeof d.device_version, "%s", opencl);
    snprintf(d.driver_version, sizeof d.driver_version, "1.0");
    d.type = type;
    d.compute_units = 8;
    d.max_work_group_size = 1024;
    d.local_mem_bytes = 48 * 1024;
    d.global_mem_bytes = d.max_alloc_bytes = (cl_ulong)1 << 32;
    return d;
}

static scl_device_info nvidia(const char *name)
{
    return fake(name, "NVIDIA Corporation", "NVIDIA CUDA", "OpenCL 3.0 CUDA", CL_DEVICE_TYPE_GPU);
}

static void arch_of(const scl_device_info *d, char *out, size_t len)
{
    scli_device_arch(d, out, len);
}

static void test_arch_keys(void)
{
    static const struct {
        const char *name, *arch;
    } nv[] = {
        {"NVIDIA H200", "nvidia-sm_90"},           {"NVIDIA H100 80GB HBM3", "nvidia-sm_90"},
        {"NVIDIA GH200 480GB", "nvidia-sm_90"},    {"NVIDIA A100-SXM4-40GB", "nvidia-sm_80"},
        {"NVIDIA A10", "nvidia-sm_86"},            {"NVIDIA GeForce RTX 4090", "nvidia-sm_89"},
        {"NVIDIA GeForce RTX 3080 Ti", "nvidia-sm_86"}, {"Tesla V100-SXM2-16GB", "nvidia-sm_70"},
        {"NVIDIA RTX 6000 Ada Generation", "nvidia-sm_89"}, {"NVIDIA Mystery", ""},
    };
    char a[64];
    for (size_t i = 0; i < sizeof nv / sizeof nv[0]; i++) {
        scl_device_info d = nvidia(nv[i].name);
        arch_of(&d, a, sizeof a);
        CHECK(strcmp(a, nv[i].arch) == 0, "%s: architecture '%s', expected '%s'", nv[i].name, a, nv[i].arch);
    }
    /* PoCL: the LLVM CPU from the HSTR, else from the name; the driver (pthread, cpu) is not part of it. */
    static const struct {
        const char *name, *vendor, *platform, *version, *arch, *what;
        cl_device_type type;
    } other[] = {
        {"pthread-skylake-avx512-AMD EPYC", "AuthenticAMD", "Portable Computing Language",
         "OpenCL 3.0 PoCL HSTR: pthread-x86_64-pc-linux-gnu-skylake-avx512", "pocl-skylake-avx512", "PoCL from HSTR",
         CL_DEVICE_TYPE_CPU},
        {"cpu-skylake-avx512-Intel(R) Xeon(R) Processor", "GenuineIntel", "Portable Computing Language",
         "OpenCL 3.0 PoCL", "pocl-skylake-avx512", "PoCL from the name", CL_DEVICE_TYPE_CPU},
        {"cpu-haswell-Intel(R) Core(TM) i7", "GenuineIntel", "Portable Computing Language", "OpenCL 3.0 PoCL",
         "pocl-haswell", "another PoCL CPU", CL_DEVICE_TYPE_CPU},
        {"gfx90a:sramecc+:xnack-", "Advanced Micro Devices, Inc.", "AMD Accelerated Parallel Processing",
         "OpenCL 2.0", "amd-gfx90a", "AMD ISA", CL_DEVICE_TYPE_GPU},
        {"Mystery Accelerator", "Nobody", "Some Platform", "OpenCL 1.2", "", "unknown device: no architecture",
         CL_DEVICE_TYPE_ACCELERATOR},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        scl_device_info p = fake(other[i].name, other[i].vendor, other[i].platform, other[i].version, other[i].type);
        arch_of(&p, a, sizeof a);
        CHECK(strcmp(a, other[i].arch) == 0, "%s: '%s', expected '%s'", other[i].what, a, other[i].arch);
    }
}

/* A database of device dev in dir with one forward entry (d = 64, block) and, optionally, an
 * explicit "arch" field; returns its path in path. */
static void write_db(const scl_device_info *dev, const char *dir, int block, const scli_fwd_params *p, const char *arch,
                     char *path, size_t len)
{
    mkdir(dir, 0755);
    cJSON *db = scl_tuning_db_new(dev);
    if (arch) cJSON_AddStringToObject(db, "arch", arch);
    cJSON *e = scl_tuning_db_entry(db, &scli_fwd_simt_schema, 64, block, SCL_F32);
    cJSON_AddItemToObject(e, "params", scl_params_to_json(&scli_fwd_simt_schema, p));
    char slug[200], msg[512];
    scli_device_slug(dev, slug, sizeof slug);
    snprintf(path, len, "%s/%s.json", dir, slug);
    CHECK(scl_tuning_db_save(path, db, msg, sizeof msg) == 0, "save %s: %s", path, msg);
    cJSON_Delete(db);
}

typedef struct outcome {
    bool found;
    scli_fwd_params got;
    char source[2048];
    scli_tuning_choice c;
    int n_dbs;
} outcome;

/* The runtime's look-up for (d = 64, block) on dev, as plans do it. */
static outcome look(const scl_device_info *dev, int block)
{
    static scli_tuning_set set;
    outcome o;
    memset(&o, 0, sizeof o);
    scli_param_context pc;
    scli_param_context_init(&pc, dev, 64, block);
    scli_tuning_set_read(&set, dev, false);
    o.n_dbs = set.n;
    o.found = scli_tuning_set_choose(&set, &scli_fwd_simt_schema, &pc, SCL_F32, &o.got, &o.c);
    scli_tuning_choice_text(&set, &o.c, &pc, SCL_F32, o.source, sizeof o.source);
    /* scli_tuning_lookup (a set read for the call) must agree with the runtime's set */
    scli_fwd_params again;
    char src[2048] = "";
    bool found = scli_tuning_lookup(&scli_fwd_simt_schema, dev, &pc, SCL_F32, &again, src, sizeof src);
    CHECK(found == o.found && (!found || (!memcmp(&again, &o.got, sizeof again) && strcmp(src, o.source) == 0)),
          "scli_tuning_lookup agrees: %s / %s", src, o.source);
    scli_tuning_set_free(&set);
    return o;
}

static void test_order(void)
{
    char user[700], env[700], user_tuning[700];
    tuning_sandbox(work, "env", user, env, user_tuning, sizeof user);
    setenv("SPARSECL_QUIET", "1", 1);

    scl_device_info h200 = nvidia("NVIDIA H200"), h100 = nvidia("NVIDIA H100 80GB HBM3"),
                    gh200 = nvidia("NVIDIA GH200 480GB"), a100 = nvidia("NVIDIA A100-SXM4-80GB");
    scli_param_context pc;
    scli_param_context_init(&pc, &h200, 64, 64);
    scli_fwd_params def, a, b, c, d, bad;
    char msg[256];
    CHECK(scli_params_default(&scli_fwd_simt_schema, &h200, &pc, &def), "GPU defaults for the fake device");
    a = b = c = d = def;
    a.stage_q = !def.stage_q;
    b.fast_exp = !def.fast_exp;
    c.stage_kv = !def.stage_kv;
    d.stage_q = !def.stage_q, d.fast_exp = !def.fast_exp;
    const scli_fwd_params *sets[] = {&a, &b, &c, &d};
    for (int i = 0; i < 4; i++)
        CHECK(scli_params_check(&scli_fwd_simt_schema, sets[i], &pc, msg, sizeof msg), "set %d valid: %s", i, msg);
    bad = def;
    bad.bq = 128; /* larger than the layout block: invalid for block 64 */
    CHECK(!scli_params_check(&scli_fwd_simt_schema, &bad, &pc, msg, sizeof msg), "bq=128 invalid at block 64");

    char p_h100[1400], p_a100[1400], p_h200[1400], p_gh200[1400];
    /* Nothing: defaults. */
    outcome o = look(&h200, 64);
    CHECK(!o.found && o.n_dbs == 0 && o.source[0] == '\0', "no database: defaults (%s)", o.source);

    /* Another architecture only (A100, sm_80): still the defaults; it is not even read in. */
    write_db(&a100, user_tuning, 64, &c, NULL, p_a100, sizeof p_a100);
    o = look(&h200, 64);
    CHECK(!o.found && o.n_dbs == 0, "another architecture is no fallback (%d databases)", o.n_dbs);

    /* Same architecture (H100 for an H200): the fallback, and the source says so. */
    write_db(&h100, user_tuning, 64, &a, NULL, p_h100, sizeof p_h100);
    o = look(&h200, 64);
    CHECK(o.found && !memcmp(&o.got, &a, sizeof a) && strstr(o.source, p_h100) && strstr(o.source, "fallback") &&
              strstr(o.source, "nvidia-sm_90") && strstr(o.source, "NVIDIA H100 80GB HBM3"),
          "same architecture: %s", o.source);
    /* Other shape classes are not in it: defaults. */
    o = look(&h200, 128);
    CHECK(!o.found, "a fallback database without the shape class: defaults (%s)", o.source);

    /* The exact device, even from a later directory, comes before a fallback from an earlier one. */
    write_db(&h200, env, 64, &b, NULL, p_h200, sizeof p_h200);
    o = look(&h200, 64);
    CHECK(o.found && !memcmp(&o.got, &b, sizeof b) && strstr(o.source, p_h200) && strstr(o.source, "exact device"),
          "exact device first: %s", o.source);
    CHECK(o.n_dbs == 2 && o.c.db == 0, "set: exact then fallback (%d databases, used %d)", o.n_dbs, o.c.db);

    /* The exact entry invalid here: passed over with its reason, the fallback used. */
    write_db(&h200, env, 64, &bad, NULL, p_h200, sizeof p_h200);
    o = look(&h200, 64);
    CHECK(o.found && !memcmp(&o.got, &a, sizeof a) && strstr(o.source, "fallback") && o.c.n_skipped == 1 &&
              strstr(o.source, "passed over") && strstr(o.source, p_h200) && strstr(o.c.skipped[0].reason, "bq"),
          "invalid exact entry passed over: %s", o.source);

    /* Two fallbacks in one directory: by file name (nvidia-gh200... before nvidia-h100...). */
    write_db(&gh200, user_tuning, 64, &d, NULL, p_gh200, sizeof p_gh200);
    o = look(&h200, 64);
    CHECK(o.found && !memcmp(&o.got, &d, sizeof d) && strstr(o.source, p_gh200), "fallbacks by file name: %s",
          o.source);
    remove(p_gh200);

    /* An explicit "arch" field wins over the name: an unknown part tagged sm_90 is a fallback. */
    scl_device_info odd = nvidia("NVIDIA Prototype X");
    char p_odd[1400];
    write_db(&odd, env, 64, &d, "nvidia-sm_90", p_odd, sizeof p_odd);
    remove(p_h100);
    o = look(&h200, 64);
    CHECK(o.found && !memcmp(&o.got, &d, sizeof d) && strstr(o.source, p_odd), "\"arch\" field: %s", o.source);

    /* Every entry invalid here: defaults, with each reason. */
    write_db(&odd, env, 64, &bad, "nvidia-sm_90", p_odd, sizeof p_odd);
    o = look(&h200, 64);
    CHECK(!o.found && o.c.db == -1 && o.c.n_skipped == 2 && strstr(o.source, p_odd) && strstr(o.source, p_h200),
          "all invalid: defaults, both passed over: %s", o.source);

    /* A corrupt database of the device is kept as an error (for info) and skipped. */
    FILE *f = fopen(p_h200, "w");
    if (f) fputs("{\"format\": \"sparsecl-tuning\", \"ver", f), fclose(f);
    static scli_tuning_set set;
    scli_tuning_set_read(&set, &h200, false);
    CHECK(set.n_errors == 1 && strstr(set.errors[0], "not valid JSON") && strcmp(set.error_path[0], p_h200) == 0,
          "corrupt exact database reported: %d %s", set.n_errors, set.n_errors ? set.errors[0] : "");
    scli_tuning_set_free(&set);
    remove(p_h200);
    remove(p_odd);
    remove(p_a100);

    /* PoCL CPUs: another machine's database of the same LLVM CPU (a PoCL 3 "pthread-" name for a
     * PoCL 5 "cpu-" device), not one of another CPU. */
    scl_device_info xeon = fake("cpu-skylake-avx512-Intel(R) Xeon(R) Processor", "GenuineIntel",
                                "Portable Computing Language",
                                "OpenCL 3.0 PoCL HSTR: cpu-x86_64-pc-linux-gnu-skylake-avx512", CL_DEVICE_TYPE_CPU),
                    epyc = fake("pthread-skylake-avx512-AMD EPYC", "AuthenticAMD", "Portable Computing Language",
                                "OpenCL 3.0 PoCL HSTR: pthread-x86_64-pc-linux-gnu-skylake-avx512", CL_DEVICE_TYPE_CPU),
                    hsw = fake("cpu-haswell-Intel(R) Core(TM) i7", "GenuineIntel", "Portable Computing Language",
                               "OpenCL 3.0 PoCL HSTR: cpu-x86_64-pc-linux-gnu-haswell", CL_DEVICE_TYPE_CPU);
    scli_param_context cpc;
    scli_param_context_init(&cpc, &xeon, 64, 64);
    scli_fwd_params cdef, ca, cb;
    CHECK(scli_params_default(&scli_fwd_simt_schema, &xeon, &cpc, &cdef), "CPU defaults");
    ca = cb = cdef;
    ca.stage_q = !cdef.stage_q;
    cb.fast_exp = !cdef.fast_exp;
    char p_epyc[1400], p_hsw[1400];
    write_db(&hsw, env, 64, &cb, NULL, p_hsw, sizeof p_hsw);
    o = look(&xeon, 64);
    CHECK(!o.found, "another CPU is no fallback: %s", o.source);
    write_db(&epyc, env, 64, &ca, NULL, p_epyc, sizeof p_epyc);
    o = look(&xeon, 64);
    CHECK(o.found && !memcmp(&o.got, &ca, sizeof ca) && strstr(o.source, p_epyc) &&
              strstr(o.source, "pocl-skylake-avx512"),
          "PoCL same CPU: %s", o.source);
    remove(p_epyc);
    remove(p_hsw);

    /* A device of unknown architecture reads only its own databases. */
    scl_device_info myst = fake("Mystery Accelerator", "Nobody", "Some Platform", "OpenCL 1.2", CL_DEVICE_TYPE_GPU);
    char p_myst[1400];
    write_db(&myst, env, 64, &a, NULL, p_myst, sizeof p_myst);
    write_db(&h100, env, 64, &b, NULL, p_h100, sizeof p_h100);
    o = look(&myst, 64);
    CHECK(o.found && o.n_dbs == 1 && strstr(o.source, "exact device"), "unknown architecture: own only: %s", o.source);
    remove(p_myst);
    remove(p_h100);
}

/* A plan on the real device takes a same-architecture database and names it. */
static void test_plan(void)
{
    scl_runtime *rt = NULL;
    if (scl_runtime_create(getenv("SPARSECL_TEST_DEVICE"), &rt) != SCL_OK) {
        CHECK(0, "no device: %s", scl_last_error_message(rt));
        scl_runtime_destroy(rt);
        return;
    }
    const scl_device_info *dev = scl_runtime_device(rt);
    char arch[64];
    scli_device_arch(dev, arch, sizeof arch);
    printf("device %s: architecture '%s'\n", dev->name, arch);
    if (!arch[0]) {
        printf("unknown architecture: the plan's fallback check is skipped\n");
        scl_runtime_destroy(rt);
        return;
    }
    char dir[600];
    snprintf(dir, sizeof dir, "%s/plan", work);
    setenv("SPARSECL_TUNING_DIR", dir, 1);
    scl_device_info other = *dev;
    snprintf(other.name, sizeof other.name, "Another Device Of The Same Architecture");
    scli_param_context pc;
    scli_param_context_init(&pc, dev, 64, 64);
    scli_fwd_params def, alt;
    CHECK(scli_params_default(&scli_fwd_simt_schema, dev, &pc, &def), "defaults");
    alt = def;
    alt.stage_q = !def.stage_q;
    char msg[256], path[1400];
    CHECK(scli_params_check(&scli_fwd_simt_schema, &alt, &pc, msg, sizeof msg), "alternative valid: %s", msg);
    write_db(&other, dir, 64, &alt, arch, path, sizeof path);
    scli_runtime_tuning_reload(rt);
    scl_pattern *pat = NULL;
    scl_plan *plan = NULL;
    scl_shape shape = {1, 1, 1, 64, 64, 64, 64, 0, 0};
    setenv("SPARSECL_FWD_VARIANT", "simt", 1);
    CHECK(scl_pattern_create(rt, "causal", &pat) == SCL_OK && scl_plan_create(rt, pat, &shape, SCL_F32, &plan) == SCL_OK,
          "plan: %s", scl_last_error_message(rt));
    const char *src = plan ? scl_plan_kernel_source(plan) : "";
    CHECK(strstr(src, path) && strstr(src, "fallback: same architecture") && strstr(src, arch),
          "the plan names the fallback entry: %s", src);
    printf("plan parameters from: %s\n", src);
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
    unsetenv("SPARSECL_FWD_VARIANT");
    remove(path);
    scl_runtime_destroy(rt);
}

int main(int argc, char **argv)
{
    test_args(argc, 1, "test_lookup WORK_DIR");
    work = argv[1];
    char cmd[700];
    if (!strchr(work, '\'')) { /* databases left by an earlier, failed run */
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
        if (system(cmd) != 0) fprintf(stderr, "could not clear %s\n", work);
    }
    mkdir(work, 0755);
    test_arch_keys();
    test_order();
    test_plan();
    return check_summary("lookup");
}
