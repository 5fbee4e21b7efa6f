// Dropout's forward pass: the mask from a xoshiro256** stream and the masked output in one pass.
// The stream is the same one NeuriteTensor's SeededGenerator produces (Random.swift), consumed the
// same way (each 64-bit draw gives the 24-bit uniforms of two consecutive elements: bits 63..40,
// then bits 31..8), so masks are identical to the Swift loop this replaces; it runs serially because
// the stream is sequential. Shapes in neurite.h.
#include "neurite.h"

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t next(uint64_t s[4]) {
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void nk_dropout_forward(uint64_t state[4], int64_t n, uint32_t threshold, float scale, const float *x,
                        float *y, float *mask) {
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const uint64_t r = next(state);
        const float m0 = (r >> 40) < threshold ? scale : 0.0f;
        const float m1 = ((r >> 8) & 0xFFFFFF) < threshold ? scale : 0.0f;
        mask[i] = m0;
        mask[i + 1] = m1;
        y[i] = x[i] * m0;
        y[i + 1] = x[i + 1] * m1;
    }
    if (i < n) {
        const uint64_t r = next(state);
        mask[i] = (r >> 40) < threshold ? scale : 0.0f;
        y[i] = x[i] * mask[i];
    }
}
