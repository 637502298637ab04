/* LUT queries: statistics, element look-up, release. */
#include "spc_internal.h"

#include <stdlib.h>

void spc_lut_free(spc_lut *lut)
{
    if (!lut) return;
    free(lut->head_layout);
    free(lut->row_ptr);
    free(lut->col_idx);
    free(lut->row_mask);
    free(lut->col_ptr);
    free(lut->row_idx);
    free(lut->col_mask);
    free(lut->masks);
    free(lut);
}

static int popcount32(uint32_t x)
{
    int n = 0;
    while (x) {
        x &= x - 1;
        n++;
    }
    return n;
}

void spc_lut_stats(const spc_lut *lut, spc_stats *out)
{
    spc_stats s = {0};
    if (!lut) {
        *out = s;
        return;
    }
    int64_t *pop = malloc(sizeof *pop * ((size_t)lut->n_masks + 1));
    int64_t *users = calloc((size_t)lut->n_layouts + 1, sizeof *users);
    if (pop)
        for (int32_t m = 0; m < lut->n_masks; m++) {
            pop[m] = 0;
            for (int32_t w = 0; w < lut->mask_words; w++)
                pop[m] += popcount32(lut->masks[(size_t)m * lut->mask_words + w]);
        }
    if (users)
        for (int h = 0; h < lut->heads; h++)
            users[lut->head_layout[h]]++;
    int64_t nonempty = 0;
    for (int L = 0; L < lut->n_layouts; L++) {
        const int32_t *rp = lut->row_ptr + (size_t)L * (lut->nb_q + 1);
        int64_t u = users ? users[L] : 1, full = 0, part = 0, allowed = 0;
        if (u == 0) continue;
        for (int r = 0; r < lut->nb_q; r++) {
            int32_t len = rp[r + 1] - rp[r];
            if (len > s.max_row_blocks) s.max_row_blocks = len;
            for (int32_t e = rp[r]; e < rp[r + 1]; e++) {
                int32_t m = lut->row_mask[e];
                if (m < 0) {
                    full++;
                    allowed += (int64_t)lut->block * lut->block;
                } else {
                    part++;
                    allowed += pop ? pop[m] : 0;
                }
            }
        }
        s.full_blocks += u * full;
        s.partial_blocks += u * part;
        s.allowed += u * allowed;
        nonempty += u * (full + part);
    }
    double elems = (double)lut->heads * (double)lut->n_q * (double)lut->n_k;
    double blocks = (double)lut->heads * (double)lut->nb_q * (double)lut->nb_k;
    s.empty_blocks = (int64_t)lut->heads * lut->nb_q * lut->nb_k - nonempty;
    s.density = (double)s.allowed / elems;
    s.block_density = (double)nonempty / blocks;
    s.unique_masks = lut->n_masks;
    s.unique_layouts = lut->n_layouts;
    s.mean_row_blocks = (double)nonempty / ((double)lut->heads * lut->nb_q);
    s.lut_bytes = 4 * ((int64_t)lut->heads + (int64_t)lut->n_layouts * ((int64_t)lut->nb_q + lut->nb_k + 2) +
                       4 * lut->nnz + (int64_t)lut->n_masks * lut->mask_words);
    double dense = elems * 4.0;
    s.dense_scores_bytes = dense >= 9.2e18 ? INT64_MAX : (int64_t)dense;
    free(pop);
    free(users);
    *out = s;
}

bool spc_lut_allowed(const spc_lut *lut, int head, int64_t i, int64_t j)
{
    if (!lut || head < 0 || head >= lut->heads || i < 0 || j < 0 || i >= lut->n_q || j >= lut->n_k)
        return false;
    int L = lut->head_layout[head];
    int64_t r = i / lut->block, c = j / lut->block;
    const int32_t *rp = lut->row_ptr + (size_t)L * (lut->nb_q + 1);
    int32_t lo = rp[r], hi = rp[r + 1] - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (lut->col_idx[mid] < c)
            lo = mid + 1;
        else if (lut->col_idx[mid] > c)
            hi = mid - 1;
        else {
            int32_t m = lut->row_mask[mid];
            if (m < 0) return true;
            int64_t bit = (i - r * lut->block) * lut->block + (j - c * lut->block);
            return (lut->masks[(size_t)m * lut->mask_words + (size_t)(bit / 32)] >> (bit % 32)) & 1u;
        }
    }
    return false;
}
