/* Masked row softmax for the dense (CLBlast) baseline, in place on S [BH, N_q, N_k] fp32.
 *
 * P[r, j] = exp(scale*S[r, j] - m_r) / sum_j' exp(scale*S[r, j'] - m_r) over the allowed keys j,
 * m_r = max over the allowed keys (max subtraction keeps exp() from overflowing). Disallowed
 * entries become 0; a row with no allowed key is all 0 (same convention as the fused kernel's
 * O = 0 for such rows). Causal: key j is allowed for query i when j <= i + diag (diag = 0 is the
 * pattern compiler's `causal`, j <= i).
 *
 * Launch: 2-D, global (N_q * WG, BH), local (WG, 1): one work-group per row, exactly, any
 * power-of-two WG; the reduction scratch is a __local argument of WG floats.
 * Every barrier is reached by the whole work-group unconditionally: no barrier sits under a
 * branch or inside a loop over rows (PoCL 3.1's work-group compiler mis-handles a row loop around
 * barriers, corrupting memory). Every work-item reads back only the entries it wrote itself, so
 * passes 2 and 3 need no barrier on global memory. */

__kernel void softmax_rows(__global float *s, const long n_q, const long n_k, const float scale, const int causal,
                           const long diag, __local float *red)
{
    const int lid = get_local_id(0);
    const int wg = get_local_size(0);
    const long i = get_group_id(0);                 /* query row inside its batch*head */
    const long r = get_group_id(1) * n_q + i;       /* row of S */
    __global float *row = s + r * n_k;

    /* Allowed keys form the prefix [0, lim) under the causal mask. */
    long lim = n_k;
    if (causal) {
        const long last = i + diag; /* last allowed key index */
        lim = last < 0 ? 0 : (last + 1 < n_k ? last + 1 : n_k);
    }

    /* Pass 1: row max over the allowed keys. */
    float m = -INFINITY;
    for (long j = lid; j < lim; j += wg) m = fmax(m, row[j] * scale);
    red[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = wg / 2; w > 0; w /= 2) {
        if (lid < w) red[lid] = fmax(red[lid], red[lid + w]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    m = red[0];
    /* No allowed key (or all allowed scores -inf): every entry becomes 0 through e = 0, inv = 0. */
    const int empty = m == -INFINITY;
    barrier(CLK_LOCAL_MEM_FENCE); /* everyone has read red[0] before it is reused */

    /* Pass 2: exponentials written in place, their sum reduced. */
    float sum = 0.0f;
    for (long j = lid; j < n_k; j += wg) {
        const float e = j < lim && !empty ? exp(row[j] * scale - m) : 0.0f;
        row[j] = e;
        sum += e;
    }
    red[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = wg / 2; w > 0; w /= 2) {
        if (lid < w) red[lid] += red[lid + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = red[0];
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;

    /* Pass 3: normalise. */
    for (long j = lid; j < lim; j += wg) row[j] *= inv;
}
