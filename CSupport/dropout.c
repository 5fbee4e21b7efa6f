// Dropout's forward pass: the mask from xoshiro256** streams and the masked output in one pass.
// The first NK_DROPOUT_CHUNK values draw from the caller's stream, NeuriteTensor's SeededGenerator
// (Random.swift), consumed as the Swift loop this replaced did (each 64-bit draw gives the 24-bit
// uniforms of two consecutive values: bits 63..40, then bits 31..8), so every tensor up to that
// size — an MLP's or a dense layer's activations at the usual batch sizes — gets the masks it
// always had. Each further chunk k draws from its own NK_DROPOUT_STREAMS interleaved streams
// (the kernel table's dropout_streams: vector registers instead of one serial dependency chain),
// seeded from the caller's starting state and k, so the chunks are independent: they run in parallel, and the masks depend on the
// chunk size only, never on the thread count. (One sequential stream made LeNet-5's dropout after
// its first convolution, 300 000 values a batch, a serial ninth of its step.) Shapes in neurite.h.
#include "neurite.h"
#include "nn_internal.h"

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

// Values per chunk; the first chunk is the caller's stream (see above). A multiple of
// 2·NK_DROPOUT_DRAWS, so chunks start on a draw.
#define NK_DROPOUT_CHUNK ((int64_t)1 << 15)

// SplitMix64 (as SeededGenerator seeds itself): spreads chunk seeds over the state space.
static inline uint64_t splitmix(uint64_t *z) {
    uint64_t x = (*z += 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Mask and output of values [0, n) of one chunk, drawing from `state`.
static void dropout_chunk(uint64_t state[4], int64_t n, uint32_t threshold, float scale, const float *x,
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

void nk_dropout_forward(uint64_t state[4], int64_t n, uint32_t threshold, float scale, const float *x,
                        float *y, float *mask) {
    const int64_t chunks = (n + NK_DROPOUT_CHUNK - 1) / NK_DROPOUT_CHUNK;
    // Every chunk's seed comes from the caller's state before chunk 0 advances it.
    const uint64_t base = state[0] ^ (state[1] * 0x9E3779B97F4A7C15ull) ^ state[2] ^ (state[3] << 1);
    const int t = nk__threads(0, chunks, 1);
    const nk_dropout_streams_fn streams = nk_kernels_for(NK_ISA_AUTO)->dropout_streams;
    (void)t; (void)base;
#ifdef _OPENMP
#pragma omp parallel for num_threads(t) schedule(static) if (t > 1)
#endif
    for (int64_t k = 0; k < chunks; k++) {
        const int64_t i0 = k * NK_DROPOUT_CHUNK, len = NK_MIN(NK_DROPOUT_CHUNK, n - i0);
        if (k == 0) {
            dropout_chunk(state, len, threshold, scale, x, y, mask);
            continue;
        }
        uint64_t z = base ^ ((uint64_t)k << 32), s[4 * NK_DROPOUT_STREAMS];
        for (int l = 0; l < NK_DROPOUT_STREAMS; l++)
            for (int w = 0; w < 4; w++) s[w * NK_DROPOUT_STREAMS + l] = splitmix(&z);
        streams(s, len, threshold, scale, x + i0, y + i0, mask + i0);
    }
}
