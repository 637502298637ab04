/* Double-precision reference forward: softmax(scale * Q K^T masked by allowed(i, j)) V. */
#include "reference.h"

#include "shape.h"

#include <math.h>
#include <stdlib.h>

double scl_reference_scores(const spc_bound *pattern, const scl_shape *s, int h, int64_t i, const float *qi,
                            const float *kh, int64_t kn, double *scores)
{
    double mx = -INFINITY;
    for (int64_t j = 0; j < s->seq_k; j++) {
        scores[j] = -INFINITY;
        if (!spc_allowed(pattern, h, i, j)) continue;
        const float *kj = kh + j * kn;
        double dot = 0;
        for (int c = 0; c < s->head_dim; c++) dot += (double)qi[c] * kj[c];
        scores[j] = dot * s->scale;
        if (scores[j] > mx) mx = scores[j];
    }
    return mx;
}

int scl_reference_forward(const spc_bound *pattern, const scl_shape *s, const float *q, const float *k,
                          const float *v, double *o, double *lse)
{
    scli_strides qs, ks;
    scli_shape_strides(s, &qs, &ks);
    const int d = s->head_dim, group = s->heads / s->kv_heads;
    double *scores = malloc(sizeof(double) * (size_t)s->seq_k);
    if (!scores) return -1;
    for (int b = 0; b < s->batch; b++)
        for (int h = 0; h < s->heads; h++) {
            const int hk = h / group;
            for (int64_t i = 0; i < s->seq_q; i++) {
                const float *qi = q + b * qs.b + h * qs.h + i * qs.n;
                const double mx =
                    scl_reference_scores(pattern, s, h, i, qi, k + b * ks.b + hk * ks.h, ks.n, scores);
                double *oi = o + b * qs.b + h * qs.h + i * qs.n;
                for (int c = 0; c < d; c++) oi[c] = 0;
                double sum = 0;
                if (mx != -INFINITY)
                    for (int64_t j = 0; j < s->seq_k; j++) {
                        if (scores[j] == -INFINITY) continue;
                        const double p = exp(scores[j] - mx);
                        sum += p;
                        const float *vj = v + b * ks.b + hk * ks.h + j * ks.n;
                        for (int c = 0; c < d; c++) oi[c] += p * vj[c];
                    }
                if (sum > 0)
                    for (int c = 0; c < d; c++) oi[c] /= sum;
                lse[((int64_t)b * s->heads + h) * s->seq_q + i] = sum > 0 ? mx + log(sum) : -INFINITY;
            }
        }
    free(scores);
    return 0;
}
