/* Which matrix-engine primitives a device runs natively (kernels/mma.clh): today NVIDIA's
 * mma.sync m16n8k16 (f16/bf16), ldmatrix and cp.async through inline PTX, compute capability 8.0+.
 * Intel's subgroup matrix extension and AMD's MFMA/WMMA builtins are not implemented yet. */
#ifndef SCLI_MATRIX_ENGINE_H
#define SCLI_MATRIX_ENGINE_H

#include "sparsecl.h"

#include <stddef.h>

/* Static __local arrays NVIDIA's OpenCL builds for sm_90 beyond CL_DEVICE_LOCAL_MEM_SIZE (measured:
 * 226 KiB run, 227 KiB refused by ptxas; shared/matrix-engines/README.md). */
#define SCLI_NV_STATIC_LOCAL_BYTES ((size_t)226 * 1024)

/* The compute capability as major * 10 + minor (80 and up) when the device runs the PTX primitives
 * (-DSCL_MMA_PTX); else 0 with why not. */
int scli_mma_native(const scl_device_info *dev, char *why, size_t len);

/* Compute capability 9.0 exactly: Hopper's warpgroup MMA (wgmma, sm_90a features do not carry to
 * later architectures), reached through the patched PTX of host/src/ptx_wgmma.c. */
#define SCLI_CC_WGMMA 90

#endif
