// Dropout's forward pass: the keep bits from xoshiro256** streams and the masked output in one
// pass; its backward applies the bits to the gradient.
// The values are cut into chunks of NK_DROPOUT_CHUNK; chunk k draws from its own NK_DROPOUT_STREAMS
// interleaved streams (the kernel table's dropout_streams: vector registers instead of one serial
// dependency chain), seeded by SplitMix64 from the caller's starting state and k. The chunks are
// independent, so they run in parallel, and the masks depend on the chunk size only, never on the
// thread count or the ISA. The caller's generator (NeuriteTensor's SeededGenerator) advances by one
// draw per call, so the next call seeds different streams. (One sequential stream made LeNet-5's
// dropout after its first convolution, 300 000 values a batch, a serial ninth of its step; kept
// for the first 32 768 values until 2026-12-03, it still cost the MLP's two dropout layers 17 µs a
// step on one core, Zen 5.) Shapes in neurite.h.
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

// Values per chunk: a multiple of the 16 values a round of the streams decides. Small enough that
// the MLP's 64 × 256 activations split over two threads, large enough that seeding a chunk's
// streams (32 SplitMix64 outputs) is noise.
#define NK_DROPOUT_CHUNK ((int64_t)1 << 13)

// SplitMix64 (as SeededGenerator seeds itself): spreads chunk seeds over the state space.
static inline uint64_t splitmix(uint64_t *z) {
    uint64_t x = (*z += 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// One dropout pass's operands, for its ranges of chunks on the kernels' team.
typedef struct dropout_job {
    int64_t n;
    uint64_t base;          // forward: the seed the chunks' streams are derived from
    uint32_t threshold;
    float scale;
    const float *in;        // x (forward) or dy (backward)
    float *out;             // y (forward) or dx (backward)
    uint16_t *keep;         // written by the forward
    const uint16_t *keepIn; // read by the backward
    const float *gate;      // the backward's ReLU output (or NULL)
} dropout_job;

static void forward_chunks(void *context, int64_t begin, int64_t end) {
    const dropout_job *j = context;
    const nk_dropout_streams_fn streams = nk_kernels_for(NK_ISA_AUTO)->dropout_streams;
    for (int64_t k = begin; k < end; k++) {
        const int64_t i0 = k * NK_DROPOUT_CHUNK, len = NK_MIN(NK_DROPOUT_CHUNK, j->n - i0);
        uint64_t z = j->base ^ ((uint64_t)k << 32), s[4 * NK_DROPOUT_STREAMS];
        for (int l = 0; l < NK_DROPOUT_STREAMS; l++)
            for (int w = 0; w < 4; w++) s[w * NK_DROPOUT_STREAMS + l] = splitmix(&z);
        streams(s, len, j->threshold, j->scale, j->in + i0, j->out + i0, j->keep + i0 / 16);
    }
}

static void backward_chunks(void *context, int64_t begin, int64_t end) {
    const dropout_job *j = context;
    const nk_dropout_apply_fn apply = nk_kernels_for(NK_ISA_AUTO)->dropout_apply;
    for (int64_t k = begin; k < end; k++) {
        const int64_t i0 = k * NK_DROPOUT_CHUNK, len = NK_MIN(NK_DROPOUT_CHUNK, j->n - i0);
        apply(len, j->keepIn ? j->keepIn + i0 / 16 : NULL, j->scale, j->in + i0, j->gate ? j->gate + i0 : NULL, j->out + i0);
    }
}

void nk_dropout_forward(uint64_t state[4], int64_t n, uint32_t threshold, float scale, const float *x,
                        float *y, uint16_t *keep) {
    const int64_t chunks = (n + NK_DROPOUT_CHUNK - 1) / NK_DROPOUT_CHUNK;
    const uint64_t base = state[0] ^ (state[1] * 0x9E3779B97F4A7C15ull) ^ state[2] ^ (state[3] << 1);
    (void)next(state);
    dropout_job j = {n, base, threshold, scale, x, y, keep, NULL, NULL};
    nk__team_ranges(nk__threads(0, chunks, 1), chunks, 1, &j, forward_chunks);
}

// The chunks again, split the same way, so that a range's keep words are those its forward
// range wrote.
void nk_dropout_backward(int64_t n, const uint16_t *keep, float scale, const float *dy, float *dx) {
    nk_dropout_relu_backward(n, keep, scale, NULL, dy, dx);
}

void nk_dropout_relu_backward(int64_t n, const uint16_t *keep, float scale, const float *h, const float *dy,
                              float *dx) {
    const int64_t chunks = (n + NK_DROPOUT_CHUNK - 1) / NK_DROPOUT_CHUNK;
    dropout_job j = {n, 0, 0, scale, dy, dx, NULL, keep, h};
    nk__team_ranges(nk__threads(0, chunks, 1), chunks, 1, &j, backward_chunks);
}

// A ReLU's backward alone is the pass above with every value kept. (Written in Swift over SIMD16
// closures it cost 3-4 ns a vector, a call each, where this pass is bound by memory: LeNet-5's
// pooled gradients, 25 600 and 75 264 values a step, took 4.6-6.2 and 13-20 us on one core of
// Zen 5; this pass 1.3 and 2.7-3.3 us.)
void nk_relu_backward(int64_t n, const float *h, float scale, const float *dy, float *dx) {
    nk_dropout_relu_backward(n, NULL, scale, h, dy, dx);
}
