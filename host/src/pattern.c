/* Public scl_pattern: a parsed spec, bound to shapes when a plan is made. */
#include "internal.h"
#include "plan_internal.h"

#include <stdlib.h>

scl_status scl_pattern_create(scl_runtime *rt, const char *spec, scl_pattern **out)
{
    if (!out) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_pattern_create: out is NULL");
    *out = NULL;
    if (!spec) return scli_fail(rt, SCL_ERR_INVALID_ARGUMENT, "scl_pattern_create: spec is NULL");
    scl_pattern *p = calloc(1, sizeof *p);
    if (!p) return scli_fail(rt, SCL_ERR_OUT_OF_MEMORY, "out of host memory");
    spc_error err = {0};
    if (spc_parse(spec, &p->spec, &err) != 0) {
        free(p);
        if (err.column > 0) return scli_fail(rt, SCL_ERR_PATTERN, "pattern column %d: %s", err.column, err.message);
        return scli_fail(rt, SCL_ERR_PATTERN, "pattern: %s", err.message);
    }
    *out = p;
    return SCL_OK;
}

void scl_pattern_destroy(scl_pattern *p)
{
    if (!p) return;
    spc_pattern_free(p->spec);
    free(p);
}
