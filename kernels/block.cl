/* Element-wise pieces of the Sparse Transformer block (host/src/block.c), float32 row-major
 * matrices [rows, cols]. The GEMMs between them are CLBlast's; attention is the plan's kernel.
 *
 *   layernorm_rows  y = (x - mean) / sqrt(var + eps) * gamma + beta, per row (biased variance)
 *   bias_gelu       y = GELU(x + bias), GELU's tanh approximation (Hendrycks & Gimpel 2016, as in
 *                   GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 *   bias_residual   y = x + bias + res
 *
 * y may alias x (in place) in bias_gelu and bias_residual: every work-item reads and writes only
 * its own element. */

/* Launch: global (rows * WG), local (WG), WG a power of two; `red` is WG floats of __local memory.
 * One work-group per row, no loop over rows around the barriers (PoCL's work-group compiler
 * mishandles that, see softmax_rows.cl). Two passes, mean then the variance of (x - mean), so rows
 * with a large mean keep their precision. */
__kernel void layernorm_rows(__global const float *x, __global float *y, __global const float *gamma,
                             __global const float *beta, const int cols, const float eps, __local float *red)
{
    const int lid = get_local_id(0);
    const int wg = get_local_size(0);
    const long r = get_group_id(0);
    __global const float *xr = x + r * cols;
    __global float *yr = y + r * cols;

    float s = 0.0f;
    for (int c = lid; c < cols; c += wg) s += xr[c];
    red[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = wg / 2; w > 0; w /= 2) {
        if (lid < w) red[lid] += red[lid + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float mean = red[0] / (float)cols;
    barrier(CLK_LOCAL_MEM_FENCE); /* everyone has read red[0] before it is reused */

    float v = 0.0f;
    for (int c = lid; c < cols; c += wg) {
        const float d = xr[c] - mean;
        v += d * d;
    }
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = wg / 2; w > 0; w /= 2) {
        if (lid < w) red[lid] += red[lid + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float inv = rsqrt(red[0] / (float)cols + eps);
    for (int c = lid; c < cols; c += wg) yr[c] = (xr[c] - mean) * inv * gamma[c] + beta[c];
}

/* Launch: global (cols, rows). */
__kernel void bias_gelu(__global float *y, __global const float *x, __global const float *bias, const int cols)
{
    const int c = get_global_id(0);
    const long i = (long)get_global_id(1) * cols + c;
    const float t = x[i] + bias[c];
    const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
    y[i] = 0.5f * t * (1.0f + tanh(k * (t + 0.044715f * t * t * t)));
}

/* Launch: global (cols, rows). has_res = 0 leaves the residual out (res is then not read). */
__kernel void bias_residual(__global float *y, __global const float *x, __global const float *bias,
                            __global const float *res, const int has_res, const int cols)
{
    const int c = get_global_id(0);
    const long i = (long)get_global_id(1) * cols + c;
    float t = x[i] + bias[c];
    if (has_res) t += res[i];
    y[i] = t;
}
