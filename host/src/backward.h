/* Backward pass internals shared with the autotuner. */
#ifndef SCLI_BACKWARD_H
#define SCLI_BACKWARD_H

#include "plan_internal.h"

/* Build (or rebuild) the plan's backward state with explicit parameters (NULL: the look-up order
 * of scli_choose_params: a tuning database entry, else the built-in defaults of the device type,
 * then SPARSECL_BWD_PARAMS). Rejected parameters give
 * SCL_ERR_INVALID_ARGUMENT with the reason; the previous state is dropped either way. */
scl_status scli_plan_prepare_backward(scl_plan *plan, const scli_bwd_params *params);
/* The block-LUT plan's implementations of the plan operations. */
scl_status scli_lut_backward(scl_plan *p, const cl_mem t[9], cl_uint num_wait, const cl_event *wait_list,
                            scli_events *all, cl_event *event);
scl_status scli_lut_prepare_backward(scl_plan *p, const scli_bwd_params *params);
size_t scli_lut_backward_bytes(const scl_plan *p);
/* The backward pass with every command's event collected into `all` (may be NULL). */
scl_status scli_plan_backward_events(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse,
                                    cl_mem dout, cl_mem dq, cl_mem dk, cl_mem dv, cl_uint num_wait,
                                    const cl_event *wait_list, scli_events *all, cl_event *event);

#endif
