/* wgmma kernels: the second build from patched PTX (host/src/ptx_wgmma.c). */
#ifndef SCLI_PTX_WGMMA_H
#define SCLI_PTX_WGMMA_H

#include "sparsecl.h"

#include <stdbool.h>

/* Build options of a kernel whose PTX needs the wgmma patch (-DSCL_MMA_PTX with -DWGMMA=1). */
bool scli_ptx_wants_wgmma(const char *options);

/* Replaces *prog (built from source) by the program built from its patched PTX; on failure *prog
 * is left as it was and the runtime's error says why. */
scl_status scli_ptx_wgmma_rebuild(scl_runtime *rt, cl_program *prog, const char *options, const char *label);

#endif
