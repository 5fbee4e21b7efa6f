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

void nk_adam_step(float *w, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
                  float beta2, float eps, float c1, float c2, float l2, float shrink) {
    int threads = n >= NK_OPTIM_PARALLEL_MIN ? nk_get_num_threads() : 1;
    nk_fp_prepare(threads);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
    for (int64_t i = 0; i < n; i++) {
        float grad = g[i] + l2 * w[i];
        float mi = beta1 * m[i] + (1 - beta1) * grad;
        float vi = beta2 * v[i] + (1 - beta2) * grad * grad;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] - shrink * w[i] - lr * (mi * c1) / (sqrtf(vi * c2) + eps);
    }
}
