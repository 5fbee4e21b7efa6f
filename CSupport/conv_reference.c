// The direct convolution loops, serial, accumulating in double: the `_ref` twins of the three
// stages and the tests' oracle (their results differ from the fast kernels' in rounding only).
#include "conv_internal.h"

void nk_conv2d_forward_ref(const nk_conv2d_shape *s, const float *x, const float *w,
                           const float *bias, float *y) {
    const conv_geo g = nk__conv_geo(s);
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t k = 0; k < g.K; k++)
            for (int64_t oh = 0; oh < g.OH; oh++)
                for (int64_t ow = 0; ow < g.OW; ow++) {
                    double acc = bias ? bias[k] : 0;
                    for (int64_t c = 0; c < g.C; c++)
                        for (int64_t i = 0; i < g.KH; i++)
                            for (int64_t j = 0; j < g.KW; j++) {
                                int64_t ih = oh * g.sh - g.pt + i, iw = ow * g.sw - g.pl + j;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                acc += (double)x[((n * g.C + c) * g.H + ih) * g.W + iw] *
                                       w[((k * g.C + c) * g.KH + i) * g.KW + j];
                            }
                    y[((n * g.K + k) * g.OH + oh) * g.OW + ow] = (float)acc;
                }
}

void nk_conv2d_backward_data_ref(const nk_conv2d_shape *s, const float *dy, const float *w,
                                 float *dx) {
    const conv_geo g = nk__conv_geo(s);
    // Gather form: each dx element sums every (k, oh, ow, i, j) that read it.
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t c = 0; c < g.C; c++)
            for (int64_t ih = 0; ih < g.H; ih++)
                for (int64_t iw = 0; iw < g.W; iw++) {
                    double acc = 0;
                    for (int64_t k = 0; k < g.K; k++)
                        for (int64_t i = 0; i < g.KH; i++)
                            for (int64_t j = 0; j < g.KW; j++) {
                                int64_t a = ih + g.pt - i, b = iw + g.pl - j;
                                if (a < 0 || b < 0 || a % g.sh || b % g.sw) continue;
                                int64_t oh = a / g.sh, ow = b / g.sw;
                                if (oh >= g.OH || ow >= g.OW) continue;
                                acc += (double)dy[((n * g.K + k) * g.OH + oh) * g.OW + ow] *
                                       w[((k * g.C + c) * g.KH + i) * g.KW + j];
                            }
                    dx[((n * g.C + c) * g.H + ih) * g.W + iw] = (float)acc;
                }
}

void nk_conv2d_backward_filter_ref(const nk_conv2d_shape *s, const float *x, const float *dy,
                                   float *dw, float *db) {
    const conv_geo g = nk__conv_geo(s);
    for (int64_t k = 0; k < g.K; k++) {
        if (db) {
            double acc = 0;
            for (int64_t n = 0; n < g.N; n++)
                for (int64_t p = 0; p < g.P; p++) acc += dy[(n * g.K + k) * g.P + p];
            db[k] += (float)acc;
        }
        for (int64_t c = 0; c < g.C; c++)
            for (int64_t i = 0; i < g.KH; i++)
                for (int64_t j = 0; j < g.KW; j++) {
                    double acc = 0;
                    for (int64_t n = 0; n < g.N; n++)
                        for (int64_t oh = 0; oh < g.OH; oh++)
                            for (int64_t ow = 0; ow < g.OW; ow++) {
                                int64_t ih = oh * g.sh - g.pt + i, iw = ow * g.sw - g.pl + j;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                acc += (double)dy[((n * g.K + k) * g.OH + oh) * g.OW + ow] *
                                       x[((n * g.C + c) * g.H + ih) * g.W + iw];
                            }
                    dw[((k * g.C + c) * g.KH + i) * g.KW + j] += (float)acc;
                }
    }
}
