// Optimizer updates: one element-wise pass over a parameter, split over threads in fixed chunks
// (every element's arithmetic is independent, so results never depend on the thread count).
#include "neurite.h"
#include "internal.h"

// Below this many elements one thread is faster than waking the team. (65 536 under OpenMP's
// fork-join; the kernels' team made LeNet-5's 61 706 parameters worth splitting: its SGD pass
// 6.4 -> 4.0 us a step at 2 threads, Zen 5.)
#define NK_OPTIM_PARALLEL_MIN 16384

typedef struct sgd_job {
    float *w, *v;
    const float *g;
    float lr, momentum, l2;
    int nesterov;
    int wide; // 1: AVX2 or AVX-512 machine (the AVX2 compile), 0: the baseline
} sgd_job;

// One SGD element range, defined once and compiled for the x86-64 baseline and, on x86-64, for AVX2
// (as Adam's below; FP contraction off in both, so the same bits).
#define NK_SGD_FUNCTION(NAME)                                                                    \
    static void NAME(float *restrict w, float *restrict v, const float *restrict g, int64_t begin, \
                     int64_t end, float lr, float momentum, float l2, int nesterov) {            \
        _Pragma("clang fp contract(off)")                                                        \
        if (v == NULL || momentum == 0) {                                                        \
            for (int64_t i = begin; i < end; i++) w[i] -= lr * (g[i] + l2 * w[i]);               \
            return;                                                                              \
        }                                                                                        \
        for (int64_t i = begin; i < end; i++) {                                                  \
            float grad = g[i] + l2 * w[i];                                                       \
            float vel = momentum * v[i] + grad;                                                  \
            v[i] = vel;                                                                          \
            w[i] -= lr * (nesterov ? grad + momentum * vel : vel);                               \
        }                                                                                        \
    }

NK_SGD_FUNCTION(sgd_elements)
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) NK_SGD_FUNCTION(sgd_elements_avx2)
#endif

static void sgd_range(void *context, int64_t begin, int64_t end) {
    const sgd_job *j = context;
#if defined(__x86_64__)
    if (j->wide) {
        sgd_elements_avx2(j->w, j->v, j->g, begin, end, j->lr, j->momentum, j->l2, j->nesterov);
        return;
    }
#endif
    sgd_elements(j->w, j->v, j->g, begin, end, j->lr, j->momentum, j->l2, j->nesterov);
}

// Which compile of a pass the active kernel family runs: 2 AVX-512, 1 AVX2, 0 the baseline (SGD
// has no AVX-512 compile: its pass is memory-bound, so AVX-512 machines run the AVX2 one).
static int pass_width(void) {
#if defined(__x86_64__)
    const nk_isa isa = nk_isa_active();
    return isa == NK_ISA_AVX512 ? 2 : isa == NK_ISA_AVX2 ? 1 : 0;
#else
    return 0;
#endif
}

// Runs an element-wise pass over n elements on the team (one range each; one thread when small).
static void optimizer_pass(int64_t n, void *job, nk_range_fn range) {
    int threads = n >= NK_OPTIM_PARALLEL_MIN ? nk_get_num_threads() : 1;
    nk_fp_prepare(1);
    nk__team_ranges(threads, n, 4096, job, range);
}

void nk_sgd_step(float *w, const float *g, float *v, int64_t n, float lr, float momentum, float l2,
                 int nesterov) {
    sgd_job j = {w, v, g, lr, momentum, l2, nesterov, pass_width() >= 1};
    optimizer_pass(n, &j, sgd_range);
}

// One Adam element range. Written once, compiled three times: for the x86-64 baseline (SSE2, 4
// lanes) and, on x86-64, for AVX2 (8 lanes) and AVX-512 (16; the pass is compute-bound at 4
// lanes: a square root and a division per element). FP contraction is off in all, so none fuses a
// multiply-add and all give the same bits (every operation here is correctly rounded either way).
// The AVX2 compile: on Zen 3 (AVX2, 1 thread) the MLP's Adam pass (235 146 parameters) took
// 226-271 us a step at 4 lanes, 112-118 at 8 (3 interleaved runs, `neurite-bench train --profile`).
#define NK_ADAM_FUNCTION(NAME)                                                                   \
    static void NAME(float *restrict w, const float *restrict g, float *restrict m, float *restrict v, \
                     int64_t begin, int64_t end, float lr, float beta1, float beta2, float eps,  \
                     float c1, float c2, float l2, float shrink) {                               \
        _Pragma("clang fp contract(off)")                                                        \
        for (int64_t i = begin; i < end; i++) {                                                  \
            float grad = g[i] + l2 * w[i];                                                       \
            float mi = beta1 * m[i] + (1 - beta1) * grad;                                        \
            float vi = beta2 * v[i] + (1 - beta2) * grad * grad;                                 \
            m[i] = mi;                                                                           \
            v[i] = vi;                                                                           \
            w[i] = w[i] - shrink * w[i] - lr * (mi * c1) / (sqrtf(vi * c2) + eps);               \
        }                                                                                        \
    }

NK_ADAM_FUNCTION(adam_range)
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma"))) NK_ADAM_FUNCTION(adam_range_avx512)
__attribute__((target("avx2,fma"))) NK_ADAM_FUNCTION(adam_range_avx2)
#endif

typedef struct adam_job {
    float *w, *m, *v;
    const float *g;
    float lr, beta1, beta2, eps, c1, c2, l2, shrink;
    int wide; // 2: AVX-512, 1: AVX2, 0: the baseline
} adam_job;

static void adam_job_range(void *context, int64_t begin, int64_t end) {
    const adam_job *j = context;
#if defined(__x86_64__)
    if (j->wide == 2) {
        adam_range_avx512(j->w, j->g, j->m, j->v, begin, end, j->lr, j->beta1, j->beta2, j->eps, j->c1, j->c2,
                          j->l2, j->shrink);
        return;
    }
    if (j->wide == 1) {
        adam_range_avx2(j->w, j->g, j->m, j->v, begin, end, j->lr, j->beta1, j->beta2, j->eps, j->c1, j->c2,
                        j->l2, j->shrink);
        return;
    }
#endif
    adam_range(j->w, j->g, j->m, j->v, begin, end, j->lr, j->beta1, j->beta2, j->eps, j->c1, j->c2, j->l2,
               j->shrink);
}

void nk_adam_step(float *w, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
                  float beta2, float eps, float c1, float c2, float l2, float shrink) {
    adam_job j = {w, m, v, g, lr, beta1, beta2, eps, c1, c2, l2, shrink, pass_width()};
    optimizer_pass(n, &j, adam_job_range);
}
