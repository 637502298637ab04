/* Double-precision reference backward. With P = softmax(scale S) over allowed keys, D_i = dO_i . O_i:
 * dV_j = sum_i P_ij dO_i, dS_ij = P_ij (dO_i . V_j - D_i), dQ_i = scale sum_j dS_ij K_j,
 * dK_j = scale sum_i dS_ij Q_i. */
#include "reference_backward.h"

#include "reference.h"

#include "shape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int scl_reference_backward(const spc_bound *pattern, const scl_shape *s, const float *q, const float *k,
                           const float *v, const float *dout, double *dq, double *dk, double *dv)
{
    scli_strides qs, ks;
    scli_shape_strides(s, &qs, &ks);
    const int d = s->head_dim, group = s->heads / s->kv_heads;
    double *p = malloc(sizeof(double) * (size_t)s->seq_k);
    double *oi = malloc(sizeof(double) * (size_t)d);
    if (!p || !oi) {
        free(p);
        free(oi);
        return -1;
    }
    memset(dq, 0, sizeof(double) * (size_t)scli_shape_q_elems(s));
    memset(dk, 0, sizeof(double) * (size_t)scli_shape_kv_elems(s));
    memset(dv, 0, sizeof(double) * (size_t)scli_shape_kv_elems(s));
    for (int b = 0; b < s->batch; b++)
        for (int h = 0; h < s->heads; h++) {
            const int hk = h / group;
            for (int64_t i = 0; i < s->seq_q; i++) {
                const float *qi = q + b * qs.b + h * qs.h + i * qs.n;
                const float *gi = dout + b * qs.b + h * qs.h + i * qs.n;
                const double mx =
                    scl_reference_scores(pattern, s, h, i, qi, k + b * ks.b + hk * ks.h, ks.n, p);
                if (mx == -INFINITY) continue; /* empty row: no gradient flows */
                double sum = 0;
                for (int64_t j = 0; j < s->seq_k; j++)
                    sum += p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - mx);
                for (int c = 0; c < d; c++)
                    oi[c] = 0;
                for (int64_t j = 0; j < s->seq_k; j++) {
                    p[j] /= sum;
                    if (p[j] == 0) continue;
                    const float *vj = v + b * ks.b + hk * ks.h + j * ks.n;
                    for (int c = 0; c < d; c++)
                        oi[c] += p[j] * vj[c];
                }
                double di = 0;
                for (int c = 0; c < d; c++)
                    di += (double)gi[c] * oi[c];
                double *dqi = dq + b * qs.b + h * qs.h + i * qs.n;
                for (int64_t j = 0; j < s->seq_k; j++) {
                    if (p[j] == 0) continue;
                    const int64_t kv = b * ks.b + hk * ks.h + j * ks.n;
                    double dp = 0;
                    for (int c = 0; c < d; c++)
                        dp += (double)gi[c] * v[kv + c];
                    const double ds = p[j] * (dp - di) * s->scale;
                    for (int c = 0; c < d; c++) {
                        dqi[c] += ds * k[kv + c];
                        dk[kv + c] += ds * qi[c];
                        dv[kv + c] += p[j] * gi[c];
                    }
                }
            }
        }
    free(p);
    free(oi);
    return 0;
}
