// Local response normalisation across channels (NCHW), forward and backward, with reference
// loops. Formulas and shapes in neurite.h.
//
// The window runs over channels, which NCHW stores H·W floats apart. The fast kernels therefore
// work on a block of NK_LRN_BLOCK contiguous pixels of one image at a time: for each channel the
// window sum is a handful of vector FMAs over rows that are already in L1 (size·BLOCK floats), and
// blocks are the unit of parallel work (each output is computed by one thread, in one fixed order).
// Window sums are recomputed per channel (size FMAs) rather than kept as a running sum, whose
// add-then-subtract would drift.
#include "nn_internal.h"

#include <math.h>

#define NK_LRN_BLOCK 64

// s^(-beta); β = 0.75 (AlexNet) as 1/(√s · ⁴√s), several times cheaper than powf.
static inline float neg_pow(float s, float beta, int is_075) {
    if (is_075) {
        float r = sqrtf(s);
        return 1.0f / (r * sqrtf(r));
    }
    return powf(s, -beta);
}

// Window of output channel c: [c − lo, c + hi] ∩ [0, C), lo = size/2, hi = size − 1 − lo.
// Input channel j is in the window of outputs [j − hi, j + lo].

// One LRN pass's operands, for its ranges of (image, pixel block) items on the kernels' team.
typedef struct lrn_job {
    int64_t C, HW, lo, hi, blocks;
    float k, a, coef, beta; // a = alpha/size (forward), coef = 2·alpha·beta/size (backward)
    int is_075;
    const float *x, *y, *scale, *dy;
    float *out, *scaleOut; // y and scale (forward) or dx (backward)
} lrn_job;

static void lrn_forward_blocks(void *context, int64_t begin, int64_t end) {
    const lrn_job *j = context;
    const int64_t C = j->C, HW = j->HW, lo = j->lo, hi = j->hi, blocks = j->blocks;
    const float k = j->k, a = j->a, beta = j->beta;
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / blocks, p0 = (item % blocks) * NK_LRN_BLOCK;
        const int64_t len = NK_MIN(NK_LRN_BLOCK, HW - p0);
        const float *xn = j->x + n * C * HW + p0;
        float acc[NK_LRN_BLOCK];
        for (int64_t c = 0; c < C; c++) {
            for (int64_t p = 0; p < len; p++) acc[p] = 0;
            const int64_t c0 = NK_MAX(c - lo, 0), c1 = NK_MIN(c + hi, C - 1);
            for (int64_t cc = c0; cc <= c1; cc++) {
                const float *r = xn + cc * HW;
                for (int64_t p = 0; p < len; p++) acc[p] += r[p] * r[p];
            }
            const float *xc = xn + c * HW;
            float *yc = j->out + n * C * HW + c * HW + p0;
            float *sc = j->scaleOut ? j->scaleOut + n * C * HW + c * HW + p0 : NULL;
            for (int64_t p = 0; p < len; p++) {
                float s = k + a * acc[p];
                if (sc) sc[p] = s;
                yc[p] = xc[p] * neg_pow(s, beta, j->is_075);
            }
        }
    }
}

void nk_lrn_forward(int64_t N, int64_t C, int64_t HW, int64_t size, float k, float alpha,
                    float beta, int threads, const float *x, float *y, float *scale) {
    if (N <= 0 || C <= 0 || HW <= 0) return;
    const int64_t blocks = (HW + NK_LRN_BLOCK - 1) / NK_LRN_BLOCK;
    int t = nk__threads(threads, N * blocks * C, 1 << 12);
    lrn_job j = {C, HW, size / 2, size - 1 - size / 2, blocks, k, alpha / (float)size, 0, beta, beta == 0.75f,
                 x, NULL, NULL, NULL, y, scale};
    nk__team_ranges(t, N * blocks, 1, &j, lrn_forward_blocks);
}

void nk_lrn_forward_ref(int64_t N, int64_t C, int64_t HW, int64_t size, float k, float alpha,
                        float beta, const float *x, float *y, float *scale) {
    const int64_t lo = size / 2, hi = size - 1 - lo;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < HW; p++) {
                double sum = 0;
                for (int64_t cc = c - lo; cc <= c + hi; cc++) {
                    if (cc < 0 || cc >= C) continue;
                    double v = x[(n * C + cc) * HW + p];
                    sum += v * v;
                }
                double s = (double)k + (double)alpha / (double)size * sum;
                int64_t i = (n * C + c) * HW + p;
                if (scale) scale[i] = (float)s;
                y[i] = (float)((double)x[i] * pow(s, -(double)beta));
            }
}

static void lrn_backward_blocks(void *context, int64_t begin, int64_t end) {
    const lrn_job *j = context;
    const int64_t C = j->C, HW = j->HW, lo = j->lo, hi = j->hi, blocks = j->blocks;
    const float coef = j->coef, beta = j->beta;
    const float *x = j->x, *y = j->y, *scale = j->scale, *dy = j->dy;
    // ratio[c][p] = dy·y/scale for every channel of the block: the terms of the window sums.
    float *ratio = nk__alloc_floats(C * NK_LRN_BLOCK);
    for (int64_t item = begin; item < end; item++) {
        const int64_t n = item / blocks, p0 = (item % blocks) * NK_LRN_BLOCK;
        const int64_t len = NK_MIN(NK_LRN_BLOCK, HW - p0), off = n * C * HW + p0;
        for (int64_t c = 0; c < C; c++) {
            const float *g = dy + off + c * HW, *yc = y + off + c * HW, *sc = scale + off + c * HW;
            float *r = ratio + c * NK_LRN_BLOCK;
            for (int64_t p = 0; p < len; p++) r[p] = g[p] * yc[p] / sc[p];
        }
        for (int64_t jc = 0; jc < C; jc++) {
            float acc[NK_LRN_BLOCK];
            for (int64_t p = 0; p < len; p++) acc[p] = 0;
            const int64_t c0 = NK_MAX(jc - hi, 0), c1 = NK_MIN(jc + lo, C - 1);
            for (int64_t c = c0; c <= c1; c++) {
                const float *r = ratio + c * NK_LRN_BLOCK;
                for (int64_t p = 0; p < len; p++) acc[p] += r[p];
            }
            const float *g = dy + off + jc * HW, *xj = x + off + jc * HW, *sc = scale + off + jc * HW;
            float *d = j->out + off + jc * HW;
            for (int64_t p = 0; p < len; p++)
                d[p] = g[p] * neg_pow(sc[p], beta, j->is_075) - coef * xj[p] * acc[p];
        }
    }
    free(ratio);
}

void nk_lrn_backward(int64_t N, int64_t C, int64_t HW, int64_t size, float alpha, float beta,
                     int threads, const float *x, const float *y, const float *scale,
                     const float *dy, float *dx) {
    if (N <= 0 || C <= 0 || HW <= 0) return;
    const int64_t blocks = (HW + NK_LRN_BLOCK - 1) / NK_LRN_BLOCK;
    int t = nk__threads(threads, N * blocks * C, 1 << 12);
    lrn_job j = {C, HW, size / 2, size - 1 - size / 2, blocks, 0, 0, 2.0f * alpha * beta / (float)size, beta,
                 beta == 0.75f, x, y, scale, dy, dx, NULL};
    nk__team_ranges(t, N * blocks, 1, &j, lrn_backward_blocks);
}

void nk_lrn_backward_ref(int64_t N, int64_t C, int64_t HW, int64_t size, float alpha, float beta,
                         const float *x, const float *y, const float *scale, const float *dy,
                         float *dx) {
    const int64_t lo = size / 2, hi = size - 1 - lo;
    // Straight from the chain rule: ∂y[c]/∂x[j] = δ_cj s_c^-β − 2αβ/size · x_c x_j s_c^(−β−1) for j
    // in window(c); y is not used (the reference recomputes what the fast kernel reads from it).
    (void)y;
    for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < C; j++)
            for (int64_t p = 0; p < HW; p++) {
                int64_t ij = (n * C + j) * HW + p;
                double acc = (double)dy[ij] * pow((double)scale[ij], -(double)beta);
                for (int64_t c = 0; c < C; c++) {
                    if (j < c - lo || j > c + hi) continue;
                    int64_t ic = (n * C + c) * HW + p;
                    acc -= 2.0 * alpha * beta / (double)size * (double)dy[ic] * x[ic] * x[ij] *
                           pow((double)scale[ic], -(double)beta - 1.0);
                }
                dx[ij] = (float)acc;
            }
}
