/* Shape validation and tensor strides, shared by plans and the reference. */
#ifndef SCLI_SHAPE_H
#define SCLI_SHAPE_H

#include "sparsecl.h"

#include <stddef.h>

typedef struct scli_strides {
    int64_t b, h, n; /* elements; the head-dim stride is 1 */
} scli_strides;

/* Fill defaults (kv_heads = heads, seq_k = seq_q, scale = 1/sqrt(d)) and validate; on failure
 * writes one line naming the field into msg. */
scl_status scli_shape_normalize(const scl_shape *in, scl_shape *out, char *msg, size_t len);
void scli_shape_strides(const scl_shape *s, scli_strides *q, scli_strides *kv);
/* Element counts of Q/O and K/V. */
int64_t scli_shape_q_elems(const scl_shape *s);
int64_t scli_shape_kv_elems(const scl_shape *s);

#endif
