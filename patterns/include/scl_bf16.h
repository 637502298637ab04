/* bfloat16 <-> float (round to nearest even; NaN stays NaN), for the host side of bf16 storage:
 * tensors, .npy files (stored as uint16 bit patterns), references. Header-only. */
#ifndef SCL_BF16_H
#define SCL_BF16_H

#include <stdint.h>
#include <string.h>

static inline float scl_bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint16_t scl_float_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#endif
