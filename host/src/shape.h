/* Shape validation and tensor strides, shared by plans and the reference. */
#ifndef SCL_SHAPE_H
#define SCL_SHAPE_H

#include "sparsecl.h"

#include <stddef.h>

typedef struct scl_strides {
    int64_t b, h, n; /* elements; the head-dim stride is 1 */
} scl_strides;

/* Fill defaults (kv_heads = heads, seq_k = seq_q, scale = 1/sqrt(d)) and validate; on failure
 * writes one line naming the field into msg. */
scl_status scl_shape_normalize(const scl_shape *in, scl_shape *out, char *msg, size_t len);
void scl_shape_strides(const scl_shape *s, scl_strides *q, scl_strides *kv);
/* Element counts of Q/O and K/V. */
int64_t scl_shape_q_elems(const scl_shape *s);
int64_t scl_shape_kv_elems(const scl_shape *s);

#endif
