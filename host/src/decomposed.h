/* Decomposed plans: a pattern split into components (patterns/decompose.c), each run by a
 * sub-plan over its gathered/permuted positions and merged by log-sum-exp. */
#ifndef SCLI_DECOMPOSED_H
#define SCLI_DECOMPOSED_H

#include "plan_internal.h"

/* Turns plan p (shape, dtype, configuration, bound pattern set) into a decomposed plan over d's
 * components, which run as sub-plans made with p's configuration; p's operations become the
 * decomposed plan's. The component LUTs are taken over (d keeps its statistics). */
scl_status scli_decomp_create(scl_plan *p, spc_decomposition *d);
void scli_decomp_free(scli_decomp *dec);
/* Component k's sub-plan. */
const scl_plan *scli_decomp_part(const scl_plan *p, int k);
/* The first component's sub-plan (its kernel parameters stand for the plan's). */
scl_plan *scli_decomp_first(const scl_plan *p);

#endif
