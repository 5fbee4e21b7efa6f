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

// Draws come 64 at a time into a small buffer (the generator's dependency chain alone), then the
// 128 values they decide are masked in a loop without branches, which the compiler vectorises: a
// data-dependent branch per value mispredicted about once in five (keep = 0.8) and made the pass
// a quarter of LeNet-5's main-recipe step.
#define NK_DROPOUT_DRAWS 64

void nk_dropout_forward(uint64_t state[4], int64_t n, uint32_t threshold, float scale, const float *x,
                        float *y, float *mask) {
    uint32_t u[2 * NK_DROPOUT_DRAWS];
    for (int64_t i0 = 0; i0 < n; i0 += 2 * NK_DROPOUT_DRAWS) {
        const int64_t len = n - i0 < 2 * NK_DROPOUT_DRAWS ? n - i0 : 2 * NK_DROPOUT_DRAWS;
        const int64_t draws = (len + 1) / 2; // an odd tail still takes a whole draw
        for (int64_t d = 0; d < draws; d++) {
            const uint64_t r = next(state);
            u[2 * d] = (uint32_t)(r >> 40);
            u[2 * d + 1] = (uint32_t)((r >> 8) & 0xFFFFFF);
        }
        const float *xi = x + i0;
        float *yi = y + i0, *mi = mask + i0;
        for (int64_t j = 0; j < len; j++) {
            const float m = u[j] < threshold ? scale : 0.0f;
            mi[j] = m;
            yi[j] = xi[j] * m;
        }
    }
}
