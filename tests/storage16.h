/* 16-bit storage in the kernel tests: values rounded to f16 or bf16 as the device stores them. */
#ifndef SCL_TEST_STORAGE16_H
#define SCL_TEST_STORAGE16_H

#include "scl_bf16.h"
#include "scl_npy.h"
#include "sparsecl.h"

#include <stddef.h>
#include <stdint.h>

/* The stored bits of x in dtype t (F16 or BF16). */
static inline uint16_t store16(scl_dtype t, float x)
{
    return t == SCL_F16 ? npy_float_to_half(x) : scl_float_to_bf16(x);
}

static inline float load16(scl_dtype t, uint16_t h)
{
    return t == SCL_F16 ? npy_half_to_float(h) : scl_bf16_to_float(h);
}

/* Round x to dtype t: h receives the stored bits, x the value the device sees. */
static inline void to_storage(scl_dtype t, float *x, uint16_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = load16(t, h[i] = store16(t, x[i]));
}

#endif
