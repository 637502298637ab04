/* Fuzz target: tuning-database reader. A database is untrusted input (the user cache, a copied or
 * hand-edited results/tuning file), so beyond "does not crash" an accepted database goes through
 * what the runtime and `sparsecl tune --resume` do with it: entry look-up, parameters read from
 * every place the tuner keeps them, the validity check against a device's limits, the compiler
 * options, adding an entry and saving. Differential checks: parameters read back from their own
 * JSON are equal, each entry is found by its own shape class, and what would be saved loads again. */
#include "block_choice.h"
#include "tuning_db_write.h"
#include "params_bwd_simt.h"
#include "variants.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Two devices whose limits differ where the checks branch: GPU-like (register budget 192) and
 * CPU-like (4096). No OpenCL handle is needed for a check. */
static scl_device_info fake_device(int gpu)
{
    scl_device_info d;
    memset(&d, 0, sizeof d);
    strcpy(d.name, gpu ? "Fuzz GPU" : "Fuzz CPU");
    d.type = gpu ? CL_DEVICE_TYPE_GPU : CL_DEVICE_TYPE_CPU;
    d.local_mem_bytes = gpu ? 48 * 1024 : 256 * 1024;
    d.max_work_group_size = gpu ? 1024 : 4096;
    return d;
}

static void check_params(const scli_param_schema *k, const cJSON *obj, int head_dim, int block, scl_dtype dtype)
{
    scli_param_values p, q;
    if (!scli_params_from_json(k, obj, &p)) return;
    cJSON *back = scl_params_to_json(k, &p);
    if (!back || !scli_params_from_json(k, back, &q) || memcmp(&p, &q, k->size) != 0) abort();
    cJSON_Delete(back);
    if (head_dim < 1 || block < 1) return; /* the runtime never asks for such a shape class */
    for (int gpu = 0; gpu < 2; gpu++) {
        scl_device_info dev = fake_device(gpu);
        scli_param_context pc;
        scli_param_context_init(&pc, &dev, head_dim, block);
        char reason[256] = "", opts[1024];
        if (scli_params_check(k, &p, &pc, reason, sizeof reason)) {
            scli_params_options(k, &p, &pc, dtype, opts, sizeof opts);
        } else if (reason[0] == '\0') {
            abort(); /* a rejection must say why */
        }
    }
}

static void check_entry(cJSON *db, const cJSON *e)
{
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(e, "kernel");
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(e, "head_dim");
    const cJSON *bl = cJSON_GetObjectItemCaseSensitive(e, "block");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(kn) || !cJSON_IsNumber(hd) || !cJSON_IsNumber(bl) || !cJSON_IsString(dt)) return;
    const cJSON *var = cJSON_GetObjectItemCaseSensitive(e, "variant");
    const scli_param_schema *k = scli_schema_find(kn->valuestring, cJSON_IsString(var) ? var->valuestring : NULL);
    scl_dtype dtype = SCL_F32;
    while (dtype <= SCL_BF16 && strcmp(dt->valuestring, scli_dtype_name(dtype)) != 0) dtype++;
    if (!k || strcmp(k->kernel, kn->valuestring) != 0 || dtype > SCL_BF16) return;
    /* Its own shape class must find an entry (this one or an earlier duplicate). */
    if (!scli_tuning_db_find(db, k, hd->valueint, bl->valueint, dtype)) abort();
    int d = hd->valueint, b = bl->valueint;
    if (d > 4096 || b > 4096) d = b = 0; /* outside what the CLI and the runtime accept */
    check_params(k, cJSON_GetObjectItemCaseSensitive(e, "params"), d, b, dtype);
    check_params(k, cJSON_GetObjectItemCaseSensitive(e, "default_params"), d, b, dtype);
    const char *lists[] = {"measured", "runners_up"};
    for (int l = 0; l < 2; l++) {
        const cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(e, lists[l]))
            check_params(k, cJSON_GetObjectItemCaseSensitive(m, "params"), d, b, dtype);
    }
}

/* A block-choice entry: found by its own class, and the plans' choice over a set holding this
 * database either fails with a message or gives a block plans accept. Patterns are compiled, so
 * the lengths stay small. */
static void check_block_choice(cJSON *db, const cJSON *e)
{
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(e, "pattern"),
                *hd = cJSON_GetObjectItemCaseSensitive(e, "head_dim"), *t = cJSON_GetObjectItemCaseSensitive(e, "dtype"),
                *sb = cJSON_GetObjectItemCaseSensitive(e, "seq_bucket"),
                *dir = cJSON_GetObjectItemCaseSensitive(e, "direction");
    scl_dtype dtype = SCL_F32;
    if (!cJSON_IsString(pt) || !cJSON_IsNumber(hd) || !cJSON_IsString(t) ||
        !scli_dtype_from_name(t->valuestring, &dtype) || !cJSON_IsNumber(sb) || !cJSON_IsString(dir) ||
        (strcmp(dir->valuestring, "forward") && strcmp(dir->valuestring, "backward")))
        return;
    if (sb->valuedouble < 1 || sb->valuedouble > 1024 || sb->valuedouble != (double)sb->valueint) return;
    /* a head dim that is no int (64.5, 2^40) names no class plans ask for: never found, by design */
    if (hd->valuedouble != (double)hd->valueint) return;
    spc_pattern *p = NULL;
    spc_error err = {{0}, 0};
    if (spc_parse(pt->valuestring, &p, &err) != 0) return;
    static scli_tuning_set set; /* large: not on the stack */
    memset(&set, 0, sizeof set);
    set.n = 1;
    set.dbs[0].db = db;
    set.dbs[0].exact = true;
    scl_shape s = {1, 1, 1, sb->valueint, 0, hd->valueint, 0, 0.0f, SCL_LAYOUT_BHND};
    scli_block_class k;
    bool backward = strcmp(dir->valuestring, "backward") == 0;
    scli_block_class_of(p, &s, dtype, backward, &k);
    /* the entry's pattern text is its class only when it is already the normalised spelling */
    if (strcmp(k.pattern, pt->valuestring) == 0 && scli_seq_bucket(s.seq_q) == sb->valueint &&
        !scli_block_entry_find(db, &k))
        abort();
    int block = 0;
    bool from_db = false;
    char why[1400] = "";
    if (scli_block_choose(&set, p, &s, dtype, backward, SPC_DECOMPOSE_AUTO, &block, &from_db, why, sizeof why,
                         &err) == 0) {
        if (block < 8 || block > 256 || (block & (block - 1)) || !why[0]) abort();
    } else if (!err.message[0]) {
        abort(); /* a failure must say why */
    }
    spc_pattern_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    char msg[1200] = "";
    cJSON *db = scli_tuning_db_parse((const char *)data, size, "fuzz.json", msg, sizeof msg);
    if (!db) {
        if (msg[0] == '\0') abort(); /* refusals must say why */
        return 0;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(db, "entries")) check_entry(db, e);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(db, "block_choices")) check_block_choice(db, e);
    /* What `tune --resume` does: find or add its shape class, then save; the saved text must load. */
    cJSON *mine = scl_tuning_db_entry(db, &scli_bwd_simt_schema, 64, 64, SCL_F16);
    if (!mine) abort();
    if (!cJSON_GetObjectItemCaseSensitive(mine, "measured")) cJSON_AddArrayToObject(mine, "measured");
    char *text = cJSON_PrintUnformatted(db);
    if (text) {
        cJSON *again = scli_tuning_db_parse(text, strlen(text), "saved.json", msg, sizeof msg);
        if (!again || !scli_tuning_db_find(again, &scli_bwd_simt_schema, 64, 64, SCL_F16)) abort();
        cJSON_Delete(again);
        free(text);
    }
    cJSON_Delete(db);
    return 0;
}
