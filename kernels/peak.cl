/* clpeak-style micro-kernels: fp32 multiply-add throughput and global-memory bandwidth. They give
 * the roofline ceilings that benchmark results are compared against (host/src/peak.c).
 *
 * Throughput: every work-item runs CHAINS independent multiply-add chains of vector width W, so
 * the hardware always has independent instructions to issue (latency hidden by ILP inside the
 * work-item, not only by occupancy). x = x * mul + add with |mul| < 1 converges to a fixed point:
 * no overflow to inf and no denormals, which would slow some CPUs down. `mul`, `add` and `iters`
 * are run-time arguments and the chains' sum is stored, so the compiler can neither fold nor
 * drop the loop. mad() rather than fma(): fma() must be exact and is emulated (slowly) where the
 * hardware has no fused unit; mad() takes whatever is fastest. FLOPs per work-item and iteration:
 * 2 * CHAINS * W * UNROLL. */

#define UNROLL 8

#define MAD_STEP8(x)                                                                                           \
    x##0 = mad(x##0, m, a);                                                                                    \
    x##1 = mad(x##1, m, a);                                                                                    \
    x##2 = mad(x##2, m, a);                                                                                    \
    x##3 = mad(x##3, m, a);                                                                                    \
    x##4 = mad(x##4, m, a);                                                                                    \
    x##5 = mad(x##5, m, a);                                                                                    \
    x##6 = mad(x##6, m, a);                                                                                    \
    x##7 = mad(x##7, m, a)

/* 8 chains of type T; `seed` makes each work-item's start differ so no value is shared. */
#define MAD_KERNEL(NAME, T, REDUCE)                                                                            \
    __kernel void NAME(__global float *out, const float mul, const float add, const int iters)                \
    {                                                                                                          \
        const float seed = (float)(get_global_id(0) & 1023) * 1e-3f;                                           \
        const T m = (T)(mul), a = (T)(add);                                                                    \
        T x0 = (T)(seed), x1 = (T)(seed + 0.1f), x2 = (T)(seed + 0.2f), x3 = (T)(seed + 0.3f);                 \
        T x4 = (T)(seed + 0.4f), x5 = (T)(seed + 0.5f), x6 = (T)(seed + 0.6f), x7 = (T)(seed + 0.7f);          \
        for (int i = 0; i < iters; i++) {                                                                      \
            for (int u = 0; u < UNROLL; u++) { /* constant trip count: fully unrolled */                     \
                MAD_STEP8(x);                                                                                  \
            }                                                                                                  \
        }                                                                                                      \
        const T s = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7));                                         \
        out[get_global_id(0)] = REDUCE(s);                                                                     \
    }

#define RED1(s) (s)
#define RED4(s) ((s).s0 + (s).s1 + (s).s2 + (s).s3)
#define RED8(s) (RED4((s).lo) + RED4((s).hi))
#define RED16(s) (RED8((s).lo) + RED8((s).hi))

/* 8 chains each: CHAINS * W = 8, 32, 64, 128 lanes per step. */
MAD_KERNEL(peak_mad_f1, float, RED1)
MAD_KERNEL(peak_mad_f4, float4, RED4)
MAD_KERNEL(peak_mad_f8, float8, RED8)
/* 128 lanes: on CPUs whose vectors are 8 floats wide this is 16 independent FMA chains, enough
 * to cover latency x issue width of two FMA pipes (float8 alone is exactly at that limit). */
MAD_KERNEL(peak_mad_f16, float16, RED16)

/* Bandwidth, copy: one float4 per work-item, consecutive work-items on consecutive addresses.
 * Bytes moved = 2 * size (read + write). */
__kernel void peak_copy_f4(__global const float4 *restrict src, __global float4 *restrict dst)
{
    const size_t i = get_global_id(0);
    dst[i] = src[i];
}

/* Bandwidth, read: each work-item sums READS float4 spaced one launch-width apart (every load
 * instruction of a work-group is coalesced) and writes one float, 1/(16 * READS) of the bytes
 * read. Bytes moved ~ size. */
#define READS 16
__kernel void peak_read_f4(__global const float4 *restrict src, __global float *restrict out)
{
    const size_t gid = get_global_id(0), n = get_global_size(0);
    float4 acc = (float4)(0.0f);
    for (int r = 0; r < READS; r++) acc += src[gid + r * n];
    out[gid] = (acc.s0 + acc.s1) + (acc.s2 + acc.s3);
}
