// Optimizer updates: one element-wise pass over a parameter, split over threads in fixed chunks
// (every element's arithmetic is independent, so results never depend on the thread count).
#include "neurite.h"
#include "internal.h"

// Below this many elements one thread is faster than waking the team.
#define NK_OPTIM_PARALLEL_MIN 65536

void nk_sgd_step(float *w, const float *g, float *v, int64_t n, float lr, float momentum, float l2,
                 int nesterov) {
    int threads = n >= NK_OPTIM_PARALLEL_MIN ? nk_get_num_threads() : 1;
    nk_fp_prepare(threads);
    if (v == NULL || momentum == 0) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
        for (int64_t i = 0; i < n; i++) w[i] -= lr * (g[i] + l2 * w[i]);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
    for (int64_t i = 0; i < n; i++) {
        float grad = g[i] + l2 * w[i];
        float vel = momentum * v[i] + grad;
        v[i] = vel;
        w[i] -= lr * (nesterov ? grad + momentum * vel : vel);
    }
}

// One Adam element range. Written once, compiled twice: for the x86-64 baseline (SSE2, 4 lanes)
// and, on x86-64, for AVX-512 (16 lanes; the pass is compute-bound at 4 lanes: a square root and a
// division per element). FP contraction is off in both, so neither fuses a multiply-add and the
// two give the same bits (every operation here is correctly rounded either way).
#define NK_ADAM_RANGE                                                                            \
    for (int64_t i = begin; i < end; i++) {                                                      \
        float grad = g[i] + l2 * w[i];                                                           \
        float mi = beta1 * m[i] + (1 - beta1) * grad;                                            \
        float vi = beta2 * v[i] + (1 - beta2) * grad * grad;                                     \
        m[i] = mi;                                                                               \
        v[i] = vi;                                                                               \
        w[i] = w[i] - shrink * w[i] - lr * (mi * c1) / (sqrtf(vi * c2) + eps);                   \
    }

static void adam_range(float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
                       int64_t begin, int64_t end, float lr, float beta1, float beta2, float eps, float c1,
                       float c2, float l2, float shrink) {
#pragma clang fp contract(off)
    NK_ADAM_RANGE
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
static void adam_range_avx512(float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
                              int64_t begin, int64_t end, float lr, float beta1, float beta2, float eps,
                              float c1, float c2, float l2, float shrink) {
#pragma clang fp contract(off)
    NK_ADAM_RANGE
}
#endif

void nk_adam_step(float *w, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
                  float beta2, float eps, float c1, float c2, float l2, float shrink) {
    int threads = n >= NK_OPTIM_PARALLEL_MIN ? nk_get_num_threads() : 1;
    nk_fp_prepare(threads);
    int wide = 0;
#if defined(__x86_64__)
    wide = nk_isa_active() == NK_ISA_AVX512;
#endif
    // Fixed chunks of 4096 elements: each thread takes whole chunks, in order.
    const int64_t chunk = 4096, chunks = (n + chunk - 1) / chunk;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
    for (int64_t k = 0; k < chunks; k++) {
        const int64_t begin = k * chunk, end = NK_MIN(n, begin + chunk);
#if defined(__x86_64__)
        if (wide) { adam_range_avx512(w, g, m, v, begin, end, lr, beta1, beta2, eps, c1, c2, l2, shrink); continue; }
#endif
        adam_range(w, g, m, v, begin, end, lr, beta1, beta2, eps, c1, c2, l2, shrink);
    }
}
