/* Device ceilings measured with clpeak-style micro-kernels (kernels/peak.cl): fp32 multiply-add
 * throughput and global-memory bandwidth. Benchmarks report their results as fractions of these. */
#ifndef SCL_PEAK_H
#define SCL_PEAK_H

#include "internal.h"

typedef struct scl_peak {
    double fma_gflops;    /* best of the float / float4 / float8 multiply-add kernels, 2 FLOP per mad */
    double bandwidth_gbs; /* best of the float4 copy (read + write bytes) and read kernels, 1 GB = 1e9 B */
    double fma_ms, bw_ms; /* device time of the single launch each number comes from */
} scl_peak;

/* Runs the micro-kernels on the runtime's queue (profiling events; warm-up, then the best of
 * several launches). Takes well under 5 s on a 2-core CPU. The bandwidth buffers are
 * min(256 MiB, max_alloc / 4) each, halved down to 16 MiB if the device refuses them. Waits for
 * the queue to drain first. On failure *out is zeroed and the message names the failing call. */
scl_status scl_measure_peak(scl_runtime *rt, scl_peak *out);

#endif
