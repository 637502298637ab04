/* Decomposed plans: a pattern split into components (patterns/decompose.c), each run by a
 * sub-plan over its gathered/permuted positions and merged by log-sum-exp. */
#ifndef SCL_DECOMPOSED_H
#define SCL_DECOMPOSED_H

#include "backward_params.h"
#include "plan_internal.h"

/* Turns plan p (shape, dtype, bound pattern set) into a decomposed plan over d's components. The
 * component LUTs are taken over (d keeps its statistics). */
scl_status scl_decomp_create(scl_plan *p, spc_decomposition *d, const scl_fwd_params *params);
void scl_decomp_free(scl_decomp *dec);
scl_status scl_decomp_forward(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_uint num_wait,
                              const cl_event *wait_list, scl_events *all, cl_event *event);
scl_status scl_decomp_backward(scl_plan *p, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_mem dout,
                               cl_mem dq, cl_mem dk, cl_mem dv, cl_uint num_wait, const cl_event *wait_list,
                               scl_events *all, cl_event *event);
scl_status scl_decomp_prepare_backward(scl_plan *p, const scl_bwd_params *params);
int scl_decomp_count(const scl_plan *p);
/* (query, key) pairs the components' kernels compute, over all batch*heads. */
double scl_decomp_computed_pairs(const scl_plan *p);
/* Device bytes of the components: their sub-plans and buffers (maps, gathered tensors, outputs). */
size_t scl_decomp_device_bytes(const scl_plan *p);
/* Component k's sub-plan. */
const scl_plan *scl_decomp_part(const scl_plan *p, int k);
/* The first component's sub-plan (its kernel parameters stand for the plan's). */
scl_plan *scl_decomp_first(const scl_plan *p);

#endif
