/* Backward pass: placeholder until the backward kernels land (see kernels/attn_bwd.cl). */
#include "plan_internal.h"

void scl_bwd_state_free(scl_bwd_state *b)
{
    (void)b;
}
