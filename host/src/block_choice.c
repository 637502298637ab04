/* The block size of plans made with SCL_BLOCK_AUTO: tuned entry, else the compiler's rule. */
#include "block_choice.h"

#include "name_table.h"
#include "param_schema.h"
#include "tuning_db.h"

#include <stdio.h>
#include <string.h>

bool scli_block_is_auto(int block)
{
    return block == SCL_BLOCK_AUTO || block == SCL_BLOCK_AUTO_BACKWARD;
}

bool scli_dtype_from_name(const char *name, scl_dtype *out)
{
    const char *const names[] = {[SCL_F32] = scli_dtype_name(SCL_F32), [SCL_F16] = scli_dtype_name(SCL_F16),
                                 [SCL_BF16] = scli_dtype_name(SCL_BF16)};
    int i = scli_name_index(name, names, 3);
    if (i >= 0) *out = (scl_dtype)i;
    return i >= 0;
}

int64_t scli_seq_bucket(int64_t n)
{
    int64_t b = 1;
    while (b < n && b < ((int64_t)1 << 62))
        b <<= 1;
    return b;
}

void scli_block_class_of(const spc_pattern *p, const scl_shape *s, scl_dtype dtype, bool backward,
                        scli_block_class *out)
{
    out->pattern = spc_pattern_text(p);
    out->head_dim = s->head_dim;
    out->dtype = dtype;
    out->seq_bucket = scli_seq_bucket(s->seq_q);
    out->direction = backward ? "backward" : "forward";
}

static bool is_string(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

static bool is_number(const cJSON *o, const char *key, double want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble == want;
}

cJSON *scli_block_entry_find(const cJSON *db, const scli_block_class *k)
{
    cJSON *all = cJSON_GetObjectItemCaseSensitive(db, "block_choices"), *e;
    if (!cJSON_IsArray(all)) return NULL;
    cJSON_ArrayForEach(e, all)
    {
        if (is_string(e, "pattern", k->pattern) && is_number(e, "head_dim", k->head_dim) &&
            is_string(e, "dtype", scli_dtype_name(k->dtype)) &&
            is_number(e, "seq_bucket", (double)k->seq_bucket) && is_string(e, "direction", k->direction))
            return e;
    }
    return NULL;
}

/* An entry's block, if it is one plans accept and the pattern binds at it; else why not. */
static bool entry_block(const cJSON *e, const spc_pattern *p, const spc_geometry *g, int *block, char *why,
                        size_t len)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "block");
    if (!cJSON_IsNumber(b) || b->valuedouble != (double)b->valueint || b->valueint < 8 || b->valueint > 256 ||
        (b->valueint & (b->valueint - 1))) {
        snprintf(why, len, "its block is not a power of two from 8 to 256");
        return false;
    }
    spc_geometry gb = *g;
    gb.block = b->valueint;
    spc_bound *bound = NULL;
    spc_error err = {{0}, 0};
    bool ok = spc_bind(p, &gb, &bound, &err) == 0;
    spc_bound_free(bound);
    if (!ok) {
        snprintf(why, len, "block %d does not fit the pattern here: %.200s", b->valueint, err.message);
        return false;
    }
    *block = b->valueint;
    return true;
}

int scli_block_choose(const scli_tuning_set *set, const spc_pattern *p, const scl_shape *s, scl_dtype dtype,
                     bool backward, spc_decompose_mode mode, int *block, bool *from_db, char *why, size_t len,
                     spc_error *err)
{
    scli_block_class k;
    scli_block_class_of(p, s, dtype, backward, &k);
    spc_geometry g = {s->seq_q, s->seq_k > 0 ? s->seq_k : s->seq_q, 0, s->heads};
    char passed[700] = "";
    size_t n = 0;
    *from_db = false;
    for (int i = 0; set && i < set->n; i++) {
        const cJSON *e = scli_block_entry_find(set->dbs[i].db, &k);
        char reason[300];
        if (!e) continue;
        if (entry_block(e, p, &g, block, reason, sizeof reason)) {
            const scli_tuning_db_ref *r = &set->dbs[i];
            *from_db = true;
            int w =
                snprintf(why, len, "tuned: %s (pattern '%s', d=%d %s, N bucket %lld, %s, ", r->path,
                         k.pattern, k.head_dim, scli_dtype_name(dtype), (long long)k.seq_bucket, k.direction);
            if (w >= 0 && (size_t)w < len) {
                if (r->exact)
                    snprintf(why + w, len - (size_t)w, "exact device)%s%s", n ? "; " : "", passed);
                else
                    snprintf(why + w, len - (size_t)w, "fallback: same architecture %s, tuned on %s)%s%s",
                             set->arch, r->device, n ? "; " : "", passed);
            }
            return 0;
        }
        int w = snprintf(passed + n, sizeof passed - n, "%spassed over %s: %s", n ? "; " : "",
                         set->dbs[i].path, reason);
        if (w > 0) n = n + (size_t)w < sizeof passed ? n + (size_t)w : sizeof passed - 1;
    }
    spc_block_choice c;
    if (spc_block_rule(p, &g, mode, &c, err) != 0) return -1;
    *block = c.block[c.chosen];
    snprintf(why, len, "%s%s%s", c.why, n ? "; " : "", passed);
    return 0;
}
