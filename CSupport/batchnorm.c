// Batch normalisation over [N, C, S] (S = H·W after a convolution, 1 after a dense layer): training
// forward, inference forward and backward, with reference loops. Formulas in neurite.h.
//
// Work is split over channels: every statistic of a channel is summed by one thread in one fixed
// order (planes in batch order, 16 float lanes within a plane, then a double total), so results are
// bitwise the same for every thread count. With S = 1 a channel's values lie C floats apart, so
// that case walks the rows of a block of channels instead, with one double accumulator per channel.
#include "nn_internal.h"

#include <math.h>

// Channels per block in the S = 1 case (its accumulators stay in registers / L1).
#define NK_BN_CHANNEL_BLOCK 64

// The team for `items` units of parallel work over `values` floats in all: one thread below
// 16 384 values (a dense layer's small batch), where waking the team costs more than it saves.
static int team(int threads, int64_t items, int64_t values) {
    const int t = nk__threads(threads, items, 1);
    return values < (1 << 14) ? 1 : t;
}

// Σ p[i] (square = 0), Σ (p[i] − mu)² (square = 1) or Σ p[i]·q[i] (q given) over one plane.
static double plane_reduce(const float *p, const float *q, int64_t n, float mu, int square) {
    float lanes[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; j++) {
            float v = p[i + j];
            lanes[j] += q ? v * q[i + j] : square ? (v - mu) * (v - mu) : v;
        }
    }
    double total = 0;
    for (int j = 0; j < 16; j++) total += lanes[j];
    for (; i < n; i++) {
        float v = p[i];
        total += q ? v * q[i] : square ? (v - mu) * (v - mu) : v;
    }
    return total;
}

// Channel c's statistics over N planes of S floats: mean, 1/√(σ² + ε) and the unbiased variance.
static void channel_statistics(int64_t N, int64_t C, int64_t S, const float *x, float eps, int64_t c,
                               float *mean, float *invstd, float *var_unbiased) {
    const double m = (double)(N * S);
    double sum = 0;
    for (int64_t b = 0; b < N; b++) sum += plane_reduce(x + (b * C + c) * S, NULL, S, 0, 0);
    const float mu = (float)(sum / m);
    double sq = 0;
    for (int64_t b = 0; b < N; b++) sq += plane_reduce(x + (b * C + c) * S, NULL, S, mu, 1);
    const double variance = sq / m;
    mean[c] = mu;
    invstd[c] = (float)(1 / sqrt(variance + (double)eps));
    var_unbiased[c] = (float)(m > 1 ? sq / (m - 1) : variance);
}

// The S = 1 statistics of channels [c0, c1): rows in batch order, one double per channel.
static void row_statistics(int64_t N, int64_t C, const float *x, float eps, int64_t c0, int64_t c1,
                           float *mean, float *invstd, float *var_unbiased) {
    double acc[NK_BN_CHANNEL_BLOCK];
    const int64_t w = c1 - c0;
    const double m = (double)N;
    for (int64_t j = 0; j < w; j++) acc[j] = 0;
    for (int64_t b = 0; b < N; b++)
        for (int64_t j = 0; j < w; j++) acc[j] += x[b * C + c0 + j];
    for (int64_t j = 0; j < w; j++) mean[c0 + j] = (float)(acc[j] / m), acc[j] = 0;
    for (int64_t b = 0; b < N; b++)
        for (int64_t j = 0; j < w; j++) {
            float d = x[b * C + c0 + j] - mean[c0 + j];
            acc[j] += d * d;
        }
    for (int64_t j = 0; j < w; j++) {
        invstd[c0 + j] = (float)(1 / sqrt(acc[j] / m + (double)eps));
        var_unbiased[c0 + j] = (float)(m > 1 ? acc[j] / (m - 1) : acc[j] / m);
    }
}

// One batch-normalisation pass's operands, for its ranges of channels (or of channel blocks, or
// of planes) on the kernels' team.
typedef struct bn_job {
    int64_t N, C, S;
    float eps, m;
    const float *x, *gamma, *beta, *mean, *var, *dy, *xhat, *invstd;
    float *xhatOut, *y, *meanOut, *invstdOut, *varOut, *dgamma, *dbeta, *dx;
} bn_job;

// Training forward, S = 1: blocks [begin, end) of NK_BN_CHANNEL_BLOCK channels.
static void forward_train_row_blocks(void *context, int64_t begin, int64_t end) {
    const bn_job *j = context;
    const int64_t N = j->N, C = j->C;
    const float *x = j->x, *gamma = j->gamma, *beta = j->beta;
    float *xhat = j->xhatOut, *y = j->y, *mean = j->meanOut, *invstd = j->invstdOut;
    for (int64_t k = begin; k < end; k++) {
        const int64_t c0 = k * NK_BN_CHANNEL_BLOCK, c1 = NK_MIN(C, c0 + NK_BN_CHANNEL_BLOCK);
        row_statistics(N, C, x, j->eps, c0, c1, mean, invstd, j->varOut);
        for (int64_t b = 0; b < N; b++)
            for (int64_t c = c0; c < c1; c++) {
                float h = (x[b * C + c] - mean[c]) * invstd[c];
                xhat[b * C + c] = h;
                y[b * C + c] = gamma[c] * h + beta[c];
            }
    }
}

// Training forward: channels [begin, end).
static void forward_train_channels(void *context, int64_t begin, int64_t end) {
    const bn_job *j = context;
    const int64_t N = j->N, C = j->C, S = j->S;
    const float *x = j->x;
    float *xhat = j->xhatOut, *y = j->y;
    for (int64_t c = begin; c < end; c++) {
        channel_statistics(N, C, S, x, j->eps, c, j->meanOut, j->invstdOut, j->varOut);
        const float mu = j->meanOut[c], inv = j->invstdOut[c], g = j->gamma[c], bt = j->beta[c];
        for (int64_t b = 0; b < N; b++) {
            const int64_t o = (b * C + c) * S;
            for (int64_t i = 0; i < S; i++) {
                float h = (x[o + i] - mu) * inv;
                xhat[o + i] = h;
                y[o + i] = g * h + bt;
            }
        }
    }
}

// Inference forward: planes [begin, end) (image b's channels; the range runs over images).
static void forward_infer_images(void *context, int64_t begin, int64_t end) {
    const bn_job *j = context;
    const int64_t C = j->C, S = j->S;
    const float *x = j->x, *gamma = j->gamma, *beta = j->beta, *mean = j->mean, *var = j->var;
    for (int64_t b = begin; b < end; b++)
        for (int64_t c = 0; c < C; c++) {
            const float scale = gamma[c] / sqrtf(var[c] + j->eps), shift = beta[c] - mean[c] * scale;
            const int64_t o = (b * C + c) * S;
            for (int64_t i = 0; i < S; i++) j->y[o + i] = x[o + i] * scale + shift;
        }
}

// Backward, S = 1: blocks [begin, end) of NK_BN_CHANNEL_BLOCK channels.
static void backward_row_blocks(void *context, int64_t begin, int64_t end) {
    const bn_job *j = context;
    const int64_t N = j->N, C = j->C;
    const float m = j->m, *dy = j->dy, *xhat = j->xhat, *gamma = j->gamma, *invstd = j->invstd;
    float *dgamma = j->dgamma, *dbeta = j->dbeta, *dx = j->dx;
    for (int64_t k = begin; k < end; k++) {
        const int64_t c0 = k * NK_BN_CHANNEL_BLOCK, c1 = NK_MIN(C, c0 + NK_BN_CHANNEL_BLOCK);
        double sd[NK_BN_CHANNEL_BLOCK], sdh[NK_BN_CHANNEL_BLOCK];
        for (int64_t c = c0; c < c1; c++) sd[c - c0] = 0, sdh[c - c0] = 0;
        for (int64_t b = 0; b < N; b++)
            for (int64_t c = c0; c < c1; c++) {
                float d = dy[b * C + c];
                sd[c - c0] += d;
                sdh[c - c0] += d * xhat[b * C + c];
            }
        for (int64_t c = c0; c < c1; c++) dbeta[c] = (float)sd[c - c0], dgamma[c] = (float)sdh[c - c0];
        if (!dx) continue;
        for (int64_t b = 0; b < N; b++)
            for (int64_t c = c0; c < c1; c++) {
                const float kc = gamma[c] * invstd[c] / m;
                dx[b * C + c] = kc * (m * dy[b * C + c] - dbeta[c] - xhat[b * C + c] * dgamma[c]);
            }
    }
}

// Backward: channels [begin, end).
static void backward_channels(void *context, int64_t begin, int64_t end) {
    const bn_job *j = context;
    const int64_t N = j->N, C = j->C, S = j->S;
    const float m = j->m, *dy = j->dy, *xhat = j->xhat;
    float *dx = j->dx;
    for (int64_t c = begin; c < end; c++) {
        double sd = 0, sdh = 0;
        for (int64_t b = 0; b < N; b++) {
            const int64_t o = (b * C + c) * S;
            sd += plane_reduce(dy + o, NULL, S, 0, 0);
            sdh += plane_reduce(dy + o, xhat + o, S, 0, 0);
        }
        j->dbeta[c] = (float)sd;
        j->dgamma[c] = (float)sdh;
        if (!dx) continue;
        const float k = j->gamma[c] * j->invstd[c] / m, fsd = (float)sd, fsdh = (float)sdh;
        for (int64_t b = 0; b < N; b++) {
            const int64_t o = (b * C + c) * S;
            for (int64_t i = 0; i < S; i++) dx[o + i] = k * (m * dy[o + i] - fsd - xhat[o + i] * fsdh);
        }
    }
}

void nk_batchnorm_forward_train(int64_t N, int64_t C, int64_t S, const float *x, const float *gamma,
                                const float *beta, float eps, int threads, float *xhat, float *y,
                                float *mean, float *invstd, float *var_unbiased) {
    if (N <= 0 || C <= 0 || S <= 0) return;
    bn_job j = {.N = N, .C = C, .S = S, .eps = eps, .x = x, .gamma = gamma, .beta = beta, .xhatOut = xhat,
                .y = y, .meanOut = mean, .invstdOut = invstd, .varOut = var_unbiased};
    if (S == 1) {
        const int64_t blocks = (C + NK_BN_CHANNEL_BLOCK - 1) / NK_BN_CHANNEL_BLOCK;
        nk__team_ranges(team(threads, blocks, N * C), blocks, 1, &j, forward_train_row_blocks);
        return;
    }
    nk__team_ranges(team(threads, C, N * C * S), C, 1, &j, forward_train_channels);
}

void nk_batchnorm_forward_infer(int64_t N, int64_t C, int64_t S, const float *x, const float *gamma,
                                const float *beta, const float *mean, const float *var, float eps,
                                int threads, float *y) {
    if (N <= 0 || C <= 0 || S <= 0) return;
    bn_job j = {.N = N, .C = C, .S = S, .eps = eps, .x = x, .gamma = gamma, .beta = beta, .mean = mean,
                .var = var, .y = y};
    // Ranges of whole images: as many items (N·C planes) decide the team as before.
    const int t = team(threads, N * C, N * C * S);
    nk__team_ranges(t, N, 1, &j, forward_infer_images);
}

void nk_batchnorm_backward(int64_t N, int64_t C, int64_t S, const float *dy, const float *xhat,
                           const float *gamma, const float *invstd, int threads, float *dgamma,
                           float *dbeta, float *dx) {
    if (N <= 0 || C <= 0 || S <= 0) return;
    bn_job j = {.N = N, .C = C, .S = S, .m = (float)(N * S), .dy = dy, .xhat = xhat, .gamma = gamma,
                .invstd = invstd, .dgamma = dgamma, .dbeta = dbeta, .dx = dx};
    if (S == 1) {
        const int64_t blocks = (C + NK_BN_CHANNEL_BLOCK - 1) / NK_BN_CHANNEL_BLOCK;
        nk__team_ranges(team(threads, blocks, N * C), blocks, 1, &j, backward_row_blocks);
        return;
    }
    nk__team_ranges(team(threads, C, N * C * S), C, 1, &j, backward_channels);
}

void nk_batchnorm_forward_train_ref(int64_t N, int64_t C, int64_t S, const float *x, const float *gamma,
                                    const float *beta, float eps, float *xhat, float *y, float *mean,
                                    float *invstd, float *var_unbiased) {
    const double m = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double sum = 0, sq = 0;
        for (int64_t b = 0; b < N; b++)
            for (int64_t i = 0; i < S; i++) sum += x[(b * C + c) * S + i];
        const double mu = sum / m;
        for (int64_t b = 0; b < N; b++)
            for (int64_t i = 0; i < S; i++) {
                double d = x[(b * C + c) * S + i] - mu;
                sq += d * d;
            }
        const double inv = 1 / sqrt(sq / m + (double)eps);
        mean[c] = (float)mu;
        invstd[c] = (float)inv;
        var_unbiased[c] = (float)(m > 1 ? sq / (m - 1) : sq / m);
        for (int64_t b = 0; b < N; b++)
            for (int64_t i = 0; i < S; i++) {
                const int64_t o = (b * C + c) * S + i;
                double h = (x[o] - mu) * inv;
                xhat[o] = (float)h;
                y[o] = (float)(gamma[c] * h + beta[c]);
            }
    }
}

void nk_batchnorm_backward_ref(int64_t N, int64_t C, int64_t S, const float *dy, const float *xhat,
                               const float *gamma, const float *invstd, float *dgamma, float *dbeta,
                               float *dx) {
    const double m = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double sd = 0, sdh = 0;
        for (int64_t b = 0; b < N; b++)
            for (int64_t i = 0; i < S; i++) {
                const int64_t o = (b * C + c) * S + i;
                sd += dy[o];
                sdh += (double)dy[o] * xhat[o];
            }
        dbeta[c] = (float)sd;
        dgamma[c] = (float)sdh;
        if (!dx) continue;
        const double k = (double)gamma[c] * invstd[c] / m;
        for (int64_t b = 0; b < N; b++)
            for (int64_t i = 0; i < S; i++) {
                const int64_t o = (b * C + c) * S + i;
                dx[o] = (float)(k * (m * dy[o] - sd - xhat[o] * sdh));
            }
    }
}
