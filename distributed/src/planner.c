/* The planner: for every pair of ranks, exactly which key blocks rank r's queries need from rank
 * s (from the pattern compiler's block LUT over the whole sequence), the bytes each exchange plan
 * moves per rank, and so the cost model's choice. Nothing here runs a kernel or sends a message. */
#include "mpi_internal.h"
#include "scl_patterns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    int64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0;
}

/* need[r * P + s]: keys of rank s that rank r's queries attend (whole blocks, all heads);
 * kv_blocks[r]: the non-empty blocks of rank r's rows over all heads (its work in the KV plan);
 * head_blocks[h]: the non-empty blocks of head h (the work it brings in the head all-to-all). */
static void needed(scl_mpi_plan *p, const spc_lut *lut, int64_t *need, double *kv_blocks, double *head_blocks)
{
    const int P = p->size, b = p->shape.block;
    const int64_t N = p->shape.seq_q;
    for (int r = 0; r < P; r++) {
        unsigned char *mark = p->need + (size_t)r * (size_t)lut->nb_k;
        int64_t rb0 = p->start[r] / b, rb1 = (p->start[r] + p->len[r] + b - 1) / b;
        for (int L = 0; L < lut->n_layouts; L++)
            for (int64_t row = rb0; row < rb1; row++) {
                const int32_t *ptr = lut->row_ptr + (size_t)L * (lut->nb_q + 1);
                for (int32_t e = ptr[row]; e < ptr[row + 1]; e++)
                    mark[lut->col_idx[e]] = 1;
            }
        for (int h = 0; h < lut->heads; h++) {
            const int32_t *ptr = lut->row_ptr + (size_t)lut->head_layout[h] * (lut->nb_q + 1);
            kv_blocks[r] += ptr[rb1] - ptr[rb0];
            if (r == 0) head_blocks[h] = ptr[lut->nb_q] - ptr[0];
        }
        int first = -1, last = -1;
        for (int c = 0; c < lut->nb_k; c++) {
            if (!mark[c]) continue;
            if (first < 0) first = c;
            last = c;
            int64_t k0 = (int64_t)c * b, k1 = k0 + b < N ? k0 + b : N;
            for (int s = 0; s < P; s++)
                need[r * P + s] += overlap(k0, k1, p->start[s], p->start[s] + p->len[s]);
        }
        /* The KV plan fetches the whole range between the first and last needed key. */
        p->k_lo[r] = first < 0 ? p->start[r] : (int64_t)first * b;
        p->k_hi[r] = last < 0 ? p->start[r] : ((int64_t)last + 1) * b < N ? ((int64_t)last + 1) * b : N;
        if (p->len[r] > 0 && p->k_hi[r] <= p->k_lo[r]) p->k_hi[r] = p->k_lo[r] + 1;
    }
}

/* Rows reduced at the key owners (plan_reduce.c), for the overlapped forward of patterns of absolute
 * positions: a query block that needs more than half of the key blocks the other ranks own (a
 * global row) ships its queries instead of fetching those keys. Marks them in p->grow, counts each
 * rank's in p->g_rows, and gives p->need_fwd (the key blocks the other rows need) and needf (as
 * need, for them). Without reduced rows need_fwd is need. */
static scl_status reduce_rows(scl_mpi_plan *p, const spc_lut *lut, const int64_t *need, int64_t *needf)
{
    const int P = p->size, b = p->shape.block;
    const int64_t N = p->shape.seq_q, nb = lut->nb_k;
    free(p->grow), free(p->g_rows);
    p->need_fwd = p->need, p->g_total = 0;
    p->grow = calloc((size_t)nb + 1, 1), p->g_rows = calloc((size_t)P, sizeof *p->g_rows);
    int32_t *stamp = malloc(((size_t)nb + 1) * sizeof *stamp);
    if (!p->grow || !p->g_rows || !stamp) {
        free(stamp);
        return smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "planner: reduced rows");
    }
    memcpy(needf, need, (size_t)P * P * sizeof *needf);
    for (int64_t c = 0; c < nb; c++)
        stamp[c] = -1;
    for (int r = 0; r < P && p->exact && P > 1 && smpi_overlap_wanted() == 1; r++) {
        const int64_t rb0 = p->start[r] / b, rb1 = (p->start[r] + p->len[r] + b - 1) / b, remote = nb - (rb1 - rb0);
        for (int64_t R = rb0; R < rb1; R++) {
            int64_t cnt = 0;
            for (int L = 0; L < lut->n_layouts; L++) {
                const int32_t *ptr = lut->row_ptr + (size_t)L * (lut->nb_q + 1);
                for (int32_t e = ptr[R]; e < ptr[R + 1]; e++) {
                    const int32_t c = lut->col_idx[e];
                    if ((c < rb0 || c >= rb1) && stamp[c] != R) stamp[c] = (int32_t)R, cnt++;
                }
            }
            if (2 * cnt > remote) p->grow[R] = 1, p->g_rows[r] += (R + 1) * b < N ? b : N - R * b;
        }
        p->g_total += p->g_rows[r];
    }
    free(stamp);
    if (!p->g_total) return SCL_OK;
    if (!(p->need_fwd = calloc((size_t)P * (size_t)nb, 1))) {
        p->need_fwd = p->need;
        return smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "planner: %lld x %d block flags", (long long)nb, P);
    }
    memset(needf, 0, (size_t)P * P * sizeof *needf);
    for (int r = 0; r < P; r++) {
        unsigned char *mark = p->need_fwd + (size_t)r * (size_t)nb;
        const int64_t rb0 = p->start[r] / b, rb1 = (p->start[r] + p->len[r] + b - 1) / b;
        for (int L = 0; L < lut->n_layouts; L++)
            for (int64_t R = rb0; R < rb1; R++) {
                const int32_t *ptr = lut->row_ptr + (size_t)L * (lut->nb_q + 1);
                for (int32_t e = ptr[R]; !p->grow[R] && e < ptr[R + 1]; e++)
                    mark[lut->col_idx[e]] = 1;
            }
        for (int64_t c = 0; c < nb; c++)
            for (int s = 0; mark[c] && s < P; s++)
                needf[r * P + s] +=
                    overlap(c * b, (c + 1) * b < N ? (c + 1) * b : N, p->start[s], p->start[s] + p->len[s]);
    }
    return SCL_OK;
}

/* The reduced rows' bytes of rank r, sent + received: its queries to every other rank and every
 * other rank's in, then (lse, o[d]) float records the same way back. */
static double reduce_bytes(const scl_mpi_plan *p, int r)
{
    const double bh = (double)p->shape.batch * p->shape.heads, d = p->shape.head_dim;
    const double per_row = bh * (d * (double)p->esz + (d + 1) * 4.0);
    return per_row * ((double)(p->size - 1) * (double)p->g_rows[r] + (double)(p->g_total - p->g_rows[r]));
}

static double heads_bytes(const scl_mpi_plan *p, int r)
{
    const double B = p->shape.batch, H = p->shape.heads, Hkv = p->shape.kv_heads, N = (double)p->shape.seq_q;
    const double n = (double)p->len[r], hn = p->hn[r], kvn = p->kvn[r],
                 row = (double)p->shape.head_dim * p->esz;
    double out = B * n * row * ((H - hn) + 2 * (Hkv - kvn));     /* my rows of the others' heads */
    double in = B * (N - n) * row * (hn + 2 * kvn);              /* the others' rows of my heads */
    double back = B * (hn * (N - n) + (H - hn) * n) * (row + 4); /* O and LSE return */
    return out + in + back;
}

scl_status smpi_plan_traffic(scl_mpi_plan *p, const char *spec, int *kv_ok, double *max_heads,
                             double *max_kv_run)
{
    const int P = p->size, me = p->rank;
    spc_error err;
    spc_pattern *pat = NULL;
    spc_bound *bound = NULL;
    spc_lut *lut = NULL;
    spc_geometry g = {p->shape.seq_q, p->shape.seq_q, p->shape.block, p->shape.heads};
    int64_t *need = calloc((size_t)P * P * 2, sizeof *need), *needf = need + (size_t)P * P;
    double *kv_blocks = calloc((size_t)P + (size_t)p->shape.heads, sizeof *kv_blocks),
           *head_blocks = kv_blocks + P;
    scl_status st = SCL_OK;
    if (!need || !kv_blocks) {
        free(need);
        free(kv_blocks);
        return smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "planner");
    }
    if (spc_parse(spec, &pat, &err) != 0 || spc_bind(pat, &g, &bound, &err) != 0 ||
        spc_compile(bound, &lut, &err) != 0) {
        st = smpi_fail(p, SCL_ERR_PATTERN, "pattern '%s': %s", spec, err.message);
        goto done;
    }
    p->nb = lut->nb_k;
    if (p->need_fwd != p->need) free(p->need_fwd);
    p->need_fwd = NULL;
    free(p->need);
    if (!(p->need = calloc((size_t)P * (size_t)p->nb, 1))) {
        st = smpi_fail(p, SCL_ERR_OUT_OF_MEMORY, "planner: %lld x %d block flags", (long long)p->nb, P);
        goto done;
    }
    needed(p, lut, need, kv_blocks, head_blocks);
    /* Work in the cost model's unit, bytes: a computed score costs 4d flops (forward), a byte on
     * the wire is worth SPARSECL_MPI_FLOP_PER_BYTE flops (default 1000: a GPU at tens of TFLOP/s
     * behind a link of tens of GB/s). Only the busiest rank's work counts: it sets the time. */
    const char *fpb = getenv("SPARSECL_MPI_FLOP_PER_BYTE");
    double ratio = fpb && atof(fpb) > 0 ? atof(fpb) : 1000.0;
    double per_block =
        (double)p->shape.batch * p->shape.block * p->shape.block * 4.0 * p->shape.head_dim / ratio;
    const double kvrow = 2.0 * p->shape.batch * p->shape.kv_heads * p->shape.head_dim * (double)p->esz;
    /* i - j patterns run a shifted frame (memory of the shard plus its halo); the others the
     * absolute frame, exactly the needed blocks moved but whole-sequence buffers on every rank. */
    p->exact = !smpi_shift_invariant(spc_pattern_text(pat));
    if ((st = reduce_rows(p, lut, need, needf)) != SCL_OK) goto done;
    *kv_ok = 1;
    *max_heads = *max_kv_run = 0;
    double work_heads = 0, work_kv = 0;
    for (int r = 0; r < P; r++) {
        double exact = 0, run = 0, wh = 0;
        for (int h = p->h0[r]; h < p->h0[r] + p->hn[r]; h++)
            wh += head_blocks[h];
        if (wh > work_heads) work_heads = wh;
        if (kv_blocks[r] > work_kv) work_kv = kv_blocks[r];
        for (int s = 0; s < P; s++) {
            if (s == r) continue;
            exact += (double)(needf[r * P + s] + needf[s * P + r]) * kvrow;
            int64_t in =
                p->len[r] ? overlap(p->k_lo[r], p->k_hi[r], p->start[s], p->start[s] + p->len[s]) : 0;
            int64_t out =
                p->len[s] ? overlap(p->k_lo[s], p->k_hi[s], p->start[r], p->start[r] + p->len[r]) : 0;
            run +=
                p->exact ? (double)(needf[r * P + s] + needf[s * P + r]) * kvrow : (double)(in + out) * kvrow;
        }
        exact += reduce_bytes(p, r);
        if (p->exact) run += reduce_bytes(p, r);
        double hb = heads_bytes(p, r);
        if (hb > *max_heads) *max_heads = hb;
        if (run > *max_kv_run) *max_kv_run = run;
        if (r == me) {
            p->traffic.kv_bytes = exact;
            p->traffic.kv_run_bytes = *kv_ok ? run : -1;
            p->traffic.heads_bytes = hb;
        }
    }
    p->traffic.heads_cost = *max_heads + work_heads * per_block;
    p->traffic.kv_cost = *kv_ok ? *max_kv_run + work_kv * per_block : -1;
    *max_heads = p->traffic.heads_cost;
    *max_kv_run = p->traffic.kv_cost;
    /* Ring attention: each of the P - 1 steps passes one shard's K and V on (sent) and takes the
     * next one in (received). */
    p->traffic.ring_bytes = 2.0 * (P - 1) * kvrow * ((double)p->shape.seq_q / P);
    p->traffic.reduced_rows = (double)p->g_total;
    spc_lut_free(p->lut); /* kept: the overlapped forward's sub-plans are cut from it */
    p->lut = lut;
    lut = NULL;
done:
    spc_lut_free(lut);
    spc_bound_free(bound);
    spc_pattern_free(pat);
    free(need);
    free(kv_blocks);
    return st;
}
