/* Patterns from block layouts held in memory, the normalised spec of a pattern, and the element
 * mask a pattern gives for a geometry (scl_pattern_create_layout, scl_pattern_spec,
 * scl_pattern_mask; used by the Python package). */
#include "plan_internal.h"

#include <stdlib.h>
#include <string.h>

scl_status scl_pattern_create_layout(scl_runtime *rt, const uint8_t *layout, int heads, int64_t nb_q,
                                     int64_t nb_k, int block, const int32_t *mask_ids, const uint32_t *masks,
                                     int32_t n_masks, scl_pattern **out)
{
    if (!out) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_pattern_create_layout: out is NULL");
    *out = NULL;
    scl_pattern *p = calloc(1, sizeof *p);
    if (!p) return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    spc_error err = {0};
    if (spc_pattern_from_layout(layout, heads, nb_q, nb_k, block, mask_ids, masks, n_masks, &p->spec, &err) !=
        0) {
        free(p);
        scl_status st =
            strstr(err.message, "out of memory") ? SCL_ERR_OUT_OF_MEMORY : SCL_ERR_INVALID_ARGUMENT;
        return scli_fail(rt, st, "scl_pattern_create_layout: %s", err.message);
    }
    *out = p;
    return SCL_OK;
}

const char *scl_pattern_spec(const scl_pattern *p)
{
    return p ? spc_pattern_text(p->spec) : "";
}

static void fill_block(uint8_t *m, int64_t n_q, int64_t n_k, int B, int64_t r, int64_t c,
                       const uint32_t *mask)
{
    int64_t i1 = (r + 1) * B < n_q ? (r + 1) * B : n_q, j1 = (c + 1) * B < n_k ? (c + 1) * B : n_k;
    for (int64_t i = r * B; i < i1; i++)
        for (int64_t j = c * B; j < j1; j++) {
            int64_t bit = (i - r * B) * B + (j - c * B);
            m[i * n_k + j] = mask ? (uint8_t)((mask[bit / 32] >> (bit % 32)) & 1u) : 1;
        }
}

scl_status scl_pattern_mask(scl_runtime *rt, const scl_pattern *pattern, int heads, int64_t seq_q,
                            int64_t seq_k, int block, uint8_t *out, size_t out_bytes)
{
    if (!pattern || !out)
        return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_pattern_mask: pattern or out is NULL");
    if (heads < 1 || seq_q < 1 || seq_k < 0 || block < 8 || block > 256 || (block & (block - 1)) != 0)
        return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT,
                        "scl_pattern_mask: heads %d, N_q %lld, N_k %lld, block %d out of range", heads,
                        (long long)seq_q, (long long)seq_k, block);
    if (seq_k == 0) seq_k = seq_q;
    if ((uint64_t)seq_q > SIZE_MAX / (uint64_t)seq_k ||
        (uint64_t)seq_q * (uint64_t)seq_k > SIZE_MAX / (size_t)heads ||
        (size_t)heads * (size_t)seq_q * (size_t)seq_k != out_bytes)
        return scli_fail(
            rt, SCL_ERR_INVALID_ARGUMENT,
            "scl_pattern_mask: out holds %zu bytes, the mask [%d, %lld, %lld] needs exactly H*N_q*N_k",
            out_bytes, heads, (long long)seq_q, (long long)seq_k);
    spc_geometry g = {seq_q, seq_k, block, heads};
    spc_error err = {0};
    spc_bound *b = NULL;
    spc_lut *lut = NULL;
    if (spc_bind(pattern->spec, &g, &b, &err) != 0 || spc_compile(b, &lut, &err) != 0) {
        spc_bound_free(b);
        if (err.column > 0)
            return scli_fail(rt, SCL_ERR_PATTERN, "pattern column %d: %s", err.column, err.message);
        return scli_fail(rt, SCL_ERR_PATTERN, "pattern: %s", err.message);
    }
    memset(out, 0, out_bytes);
    /* From the block LUT the kernels run (equal to the definitions: tests/patterns checks it). */
    for (int h = 0; h < heads; h++) {
        int L = lut->head_layout[h];
        uint8_t *m = out + (size_t)h * (size_t)seq_q * (size_t)seq_k;
        for (int r = 0; r < lut->nb_q; r++) {
            const int32_t *ptr = lut->row_ptr + (size_t)L * (size_t)(lut->nb_q + 1) + r;
            for (int32_t e = ptr[0]; e < ptr[1]; e++) {
                int32_t mid = lut->row_mask[e];
                fill_block(m, seq_q, seq_k, block, r, lut->col_idx[e],
                           mid < 0 ? NULL : lut->masks + (size_t)mid * (size_t)lut->mask_words);
            }
        }
    }
    spc_lut_free(lut);
    spc_bound_free(b);
    return SCL_OK;
}
