// 2-D max and average pooling over NCHW planes, forward and backward, with reference loops.
// Shapes as in neurite.h.
//
// Every (n, c) plane is independent, and a plane's backward pass accumulates overlapping windows
// (3×3 stride 2 overlaps by one row and column) into its own dx plane only; planes are the unit of
// parallel work, so no two threads ever write the same element and each element's sum runs in
// output scan order whatever the thread count. A plane of AlexNet's first pool (55×55 in, 27×27
// out) is 12 KiB in, 3 KiB out: it stays in L1 while its windows are scanned.
#include "nn_internal.h"

#include <math.h>

typedef struct {
    int64_t planes, H, W, KH, KW, sh, sw, pt, pl, OH, OW;
} pool_geo;

int64_t nk_pool2d_output_size(const nk_pool2d_shape *s, int64_t *out_h, int64_t *out_w) {
    const int64_t oh = nk_window_output_extent(s->in_h, s->pad_top, s->pad_bottom, s->window_h, s->stride_h);
    const int64_t ow = nk_window_output_extent(s->in_w, s->pad_left, s->pad_right, s->window_w, s->stride_w);
    if (oh < 0 || ow < 0) return -1;
    if (out_h) *out_h = oh;
    if (out_w) *out_w = ow;
    return oh * ow;
}

static pool_geo geo_of(const nk_pool2d_shape *s) {
    pool_geo g;
    g.planes = s->batch * s->channels;
    g.H = s->in_h; g.W = s->in_w; g.KH = s->window_h; g.KW = s->window_w;
    g.sh = s->stride_h; g.sw = s->stride_w; g.pt = s->pad_top; g.pl = s->pad_left;
    g.OH = g.OW = 0;
    if (nk_pool2d_output_size(s, &g.OH, &g.OW) < 0) { g.OH = g.OW = 0; g.planes = 0; }
    return g;
}

// Planes per thread below which pooling runs serially (a 27×27 plane is ~1 µs of work).
#define NK_POOL_MIN_PLANES 8

// ---------------------------------------------------------------------------------------------
// Max pooling
// ---------------------------------------------------------------------------------------------

// Comparisons go through nk__max_takes (internal.h): v replaces the running maximum b when larger,
// or when it is the first NaN (which then sticks, since nothing compares larger than NaN and b == b
// fails). Branch-free: on random data a branch on "v > b" mispredicts about once per window, which
// cost more than all the compares.

// One output, its window clipped to the input. Starts from the window's first element, so an
// all -inf window still gets a valid arg-max.
static inline void maxpool_one(const pool_geo *g, const float *x, int64_t oh, int64_t ow,
                               float *y, int32_t *am) {
    int64_t h0 = oh * g->sh - g->pt, h1 = NK_MIN(h0 + g->KH, g->H);
    int64_t w0 = ow * g->sw - g->pl, w1 = NK_MIN(w0 + g->KW, g->W);
    if (h0 < 0) h0 = 0;
    if (w0 < 0) w0 = 0;
    float best = -INFINITY;
    int64_t arg = -1;
    if (h0 < h1 && w0 < w1) {
        arg = h0 * g->W + w0;
        best = x[arg];
        for (int64_t h = h0; h < h1; h++)
            for (int64_t w = w0; w < w1; w++) {
                float v = x[h * g->W + w];
                int t = nk__max_takes(v, best);
                best = t ? v : best;
                arg = t ? h * g->W + w : arg;
            }
    }
    y[oh * g->OW + ow] = best;
    if (am) am[oh * g->OW + ow] = (int32_t)arg;
}

// The interior of each output row (n ≤ NK_POOL_ROW outputs whose windows lie wholly inside the
// plane) goes to the kernel table's max-pooling row kernel (kernels_*.c, contract in internal.h):
// every window sees its elements in row-major order (ties keep the first, the first NaN sticks),
// exactly as maxpool_one.
#define NK_POOL_ROW 256

// One plane: windows cut by the padding go through maxpool_one, the interior of each output row
// through the row kernel in chunks of at most NK_POOL_ROW outputs.
static void maxpool_plane(const pool_geo *g, const float *x, float *y, int32_t *am) {
    // Interior outputs: ow·sw − pl ≥ 0 and ow·sw − pl + KW ≤ W.
    int64_t owa = (g->pl + g->sw - 1) / g->sw;
    int64_t owb = g->W - g->KW + g->pl >= 0 ? (g->W - g->KW + g->pl) / g->sw + 1 : 0;
    if (owb > g->OW) owb = g->OW;
    if (owa > owb) owa = owb;
    const nk_maxpool_row_fn row = nk_kernels_for(NK_ISA_AUTO)->maxpool_row;
    float best[NK_POOL_ROW] __attribute__((aligned(64)));
    int32_t arg[NK_POOL_ROW] __attribute__((aligned(64)));
    for (int64_t oh = 0; oh < g->OH; oh++) {
        int64_t h0 = oh * g->sh - g->pt;
        int inside = h0 >= 0 && h0 + g->KH <= g->H;
        if (!inside) {
            for (int64_t ow = 0; ow < g->OW; ow++) maxpool_one(g, x, oh, ow, y, am);
            continue;
        }
        for (int64_t ow = 0; ow < owa; ow++) maxpool_one(g, x, oh, ow, y, am);
        for (int64_t ow = owb; ow < g->OW; ow++) maxpool_one(g, x, oh, ow, y, am);
        for (int64_t o0 = owa; o0 < owb; o0 += NK_POOL_ROW) {
            const int64_t n = NK_MIN((int64_t)NK_POOL_ROW, owb - o0);
            const int64_t start = h0 * g->W + o0 * g->sw - g->pl; // window of output o0
            row(x + start, g->W, g->KH, g->KW, g->sw, n, best, am ? arg : NULL);
            memcpy(y + oh * g->OW + o0, best, (size_t)n * sizeof(float));
            if (am) {
                int32_t *a = am + oh * g->OW + o0;
                for (int64_t o = 0; o < n; o++) a[o] = arg[o] + (int32_t)start;
            }
        }
    }
}

// The commonest pooling, 2×2 stride 2 with no padding (LeNet, VGG-style CNNs): its output rows are
// short (14 or 7 outputs at 28×28 input), so the general row kernel's staging copy and edge
// handling cost more than its compares; the table's 2×2 row kernel writes each row directly. Where
// the table has a kernel for several rows (AVX-512), one call takes the whole plane and packs rows
// of at most 8 outputs several to a vector: LeNet's pool2 (5 outputs a row) forward 50 -> 33 us,
// backward 43 -> 34 us (batch 64, 1 thread, Zen 4, interleaved with the row-by-row build).
static void maxpool_plane_2x2(const pool_geo *g, const float *x, float *y, int32_t *am) {
    const nk_kernels *kt = nk_kernels_for(NK_ISA_AUTO);
    if (kt->maxpool_2x2_rows) {
        kt->maxpool_2x2_rows(x, g->W, g->OW, g->OH, 0, y, am);
        return;
    }
    const nk_maxpool_2x2_row_fn row = kt->maxpool_2x2_row;
    for (int64_t oh = 0; oh < g->OH; oh++)
        row(x + 2 * oh * g->W, g->W, g->OW, (int32_t)(2 * oh * g->W), y + oh * g->OW, am ? am + oh * g->OW : NULL);
}

// Whether the 2×2 row kernels serve this pooling: 2×2 windows, stride 2, no padding.
static int pools_2x2(const pool_geo *g) {
    return g->KH == 2 && g->KW == 2 && g->sh == 2 && g->sw == 2 && g->pt == 0 && g->pl == 0 &&
           2 * g->OH <= g->H && 2 * g->OW <= g->W;
}

// Its backward plane: the table's row kernel writes both input rows of each output row in full
// (the windows tile them), and only what no window covers — an odd last column or row — is zeroed.
// The same values as zeroing the plane and adding each gradient at its arg-max.
static void maxpool_backward_plane_2x2(const pool_geo *g, const float *dy, const int32_t *am, float *dx) {
    const nk_kernels *kt = nk_kernels_for(NK_ISA_AUTO);
    if (kt->maxpool_2x2_backward_rows) kt->maxpool_2x2_backward_rows(dy, am, g->OW, g->OH, 0, g->W, dx);
    else
        for (int64_t oh = 0; oh < g->OH; oh++)
            kt->maxpool_2x2_backward_row(dy + oh * g->OW, am + oh * g->OW, g->OW, (int32_t)(2 * oh * g->W), g->W,
                                         dx + 2 * oh * g->W);
    if (2 * g->OW < g->W) // an odd last column, outside every window
        for (int64_t oh = 0; oh < g->OH; oh++) {
            float *d = dx + 2 * oh * g->W;
            for (int64_t w = 2 * g->OW; w < g->W; w++) d[w] = d[g->W + w] = 0.0f;
        }
    memset(dx + 2 * g->OH * g->W, 0, (size_t)((g->H - 2 * g->OH) * g->W) * sizeof(float));
}

// One pooling pass's operands, for its ranges of planes on the kernels' team (each plane is
// computed by one thread, so results do not depend on the thread count).
typedef struct pool_job {
    const pool_geo *g;
    const float *in;        // x (forward) or dy (backward)
    float *out;             // y (forward) or dx (backward)
    int32_t *argmax;        // written by the max forward (or NULL)
    const int32_t *argmaxIn; // read by the max backward
    int is_2x2;
} pool_job;

static void maxpool_forward_planes(void *context, int64_t begin, int64_t end) {
    const pool_job *j = context;
    const pool_geo *g = j->g;
    const int64_t is = g->H * g->W, os = g->OH * g->OW;
    for (int64_t p = begin; p < end; p++) {
        int32_t *am = j->argmax ? j->argmax + p * os : NULL;
        if (j->is_2x2) maxpool_plane_2x2(g, j->in + p * is, j->out + p * os, am);
        else maxpool_plane(g, j->in + p * is, j->out + p * os, am);
    }
}

void nk_maxpool2d_forward(const nk_pool2d_shape *s, int threads, const float *x, float *y,
                          int32_t *argmax) {
    pool_geo g = geo_of(s);
    int t = nk__threads(threads, g.planes, NK_POOL_MIN_PLANES);
    pool_job j = {&g, x, y, argmax, NULL, pools_2x2(&g)};
    nk__team_ranges(t, g.planes, 1, &j, maxpool_forward_planes);
}

void nk_maxpool2d_forward_ref(const nk_pool2d_shape *s, const float *x, float *y, int32_t *argmax) {
    pool_geo g = geo_of(s);
    for (int64_t p = 0; p < g.planes; p++)
        for (int64_t oh = 0; oh < g.OH; oh++)
            for (int64_t ow = 0; ow < g.OW; ow++) {
                float best = -INFINITY;
                int64_t arg = -1;
                for (int64_t i = 0; i < g.KH; i++)
                    for (int64_t j = 0; j < g.KW; j++) {
                        int64_t h = oh * g.sh - g.pt + i, w = ow * g.sw - g.pl + j;
                        if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
                        float v = x[p * g.H * g.W + h * g.W + w];
                        int first = arg < 0, nan_held = arg >= 0 && isnan(best);
                        if (!nan_held && (first || v > best || isnan(v))) { best = v; arg = h * g.W + w; }
                    }
                y[(p * g.OH + oh) * g.OW + ow] = best;
                if (argmax) argmax[(p * g.OH + oh) * g.OW + ow] = (int32_t)arg;
            }
}

static void maxpool_backward_planes(void *context, int64_t begin, int64_t end) {
    const pool_job *j = context;
    const pool_geo *g = j->g;
    const int64_t is = g->H * g->W, os = g->OH * g->OW;
    for (int64_t p = begin; p < end; p++) {
        float *d = j->out + p * is;
        const float *g_ = j->in + p * os;
        const int32_t *a = j->argmaxIn + p * os;
        if (j->is_2x2) { maxpool_backward_plane_2x2(g, g_, a, d); continue; }
        memset(d, 0, (size_t)is * sizeof(float));
        for (int64_t o = 0; o < os; o++)
            if (a[o] >= 0 && a[o] < is) d[a[o]] += g_[o]; // an index outside the plane writes nothing
    }
}

void nk__maxpool2d_backward_planes(const nk_pool2d_shape *s, int64_t count, const float *dy, const int32_t *argmax,
                                   float *dx) {
    pool_geo g = geo_of(s);
    pool_job j = {&g, dy, dx, NULL, argmax, pools_2x2(&g)};
    maxpool_backward_planes(&j, 0, count);
}

void nk_maxpool2d_backward(const nk_pool2d_shape *s, int threads, const float *dy,
                           const int32_t *argmax, float *dx) {
    pool_geo g = geo_of(s);
    if (g.planes == 0) return;
    int t = nk__threads(threads, g.planes, NK_POOL_MIN_PLANES);
    pool_job j = {&g, dy, dx, NULL, argmax, pools_2x2(&g)};
    nk__team_ranges(t, g.planes, 1, &j, maxpool_backward_planes);
}

void nk_maxpool2d_backward_ref(const nk_pool2d_shape *s, const float *dy, const int32_t *argmax,
                               float *dx) {
    pool_geo g = geo_of(s);
    const int64_t is = g.H * g.W, os = g.OH * g.OW;
    for (int64_t i = 0; i < g.planes * is; i++) dx[i] = 0;
    for (int64_t p = 0; p < g.planes; p++)
        for (int64_t o = 0; o < os; o++) {
            int32_t a = argmax[p * os + o];
            if (a >= 0 && a < is) dx[p * is + a] += dy[p * os + o];
        }
}

// ---------------------------------------------------------------------------------------------
// Average pooling (padding counts as zeros: the divisor is always window_h · window_w)
// ---------------------------------------------------------------------------------------------

static void avgpool_plane(const pool_geo *g, const float *x, float *y) {
    const float inv = 1.0f / (float)(g->KH * g->KW);
    for (int64_t oh = 0; oh < g->OH; oh++) {
        int64_t h0 = oh * g->sh - g->pt, h1 = NK_MIN(h0 + g->KH, g->H);
        if (h0 < 0) h0 = 0;
        for (int64_t ow = 0; ow < g->OW; ow++) {
            int64_t w0 = ow * g->sw - g->pl, w1 = NK_MIN(w0 + g->KW, g->W);
            if (w0 < 0) w0 = 0;
            float acc = 0;
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) acc += x[h * g->W + w];
            y[oh * g->OW + ow] = acc * inv;
        }
    }
}

static void avgpool_forward_planes(void *context, int64_t begin, int64_t end) {
    const pool_job *j = context;
    const int64_t is = j->g->H * j->g->W, os = j->g->OH * j->g->OW;
    for (int64_t p = begin; p < end; p++) avgpool_plane(j->g, j->in + p * is, j->out + p * os);
}

void nk_avgpool2d_forward(const nk_pool2d_shape *s, int threads, const float *x, float *y) {
    pool_geo g = geo_of(s);
    int t = nk__threads(threads, g.planes, NK_POOL_MIN_PLANES);
    pool_job j = {&g, x, y, NULL, NULL, 0};
    nk__team_ranges(t, g.planes, 1, &j, avgpool_forward_planes);
}

void nk_avgpool2d_forward_ref(const nk_pool2d_shape *s, const float *x, float *y) {
    pool_geo g = geo_of(s);
    for (int64_t p = 0; p < g.planes; p++)
        for (int64_t oh = 0; oh < g.OH; oh++)
            for (int64_t ow = 0; ow < g.OW; ow++) {
                double acc = 0;
                for (int64_t i = 0; i < g.KH; i++)
                    for (int64_t j = 0; j < g.KW; j++) {
                        int64_t h = oh * g.sh - g.pt + i, w = ow * g.sw - g.pl + j;
                        if (h >= 0 && h < g.H && w >= 0 && w < g.W) acc += x[(p * g.H + h) * g.W + w];
                    }
                y[(p * g.OH + oh) * g.OW + ow] = (float)(acc / (double)(g.KH * g.KW));
            }
}

static void avgpool_backward_planes(void *context, int64_t begin, int64_t end) {
    const pool_job *j = context;
    const pool_geo g = *j->g;
    const int64_t is = g.H * g.W, os = g.OH * g.OW;
    const float inv = 1.0f / (float)(g.KH * g.KW);
    for (int64_t p = begin; p < end; p++) {
        float *d = j->out + p * is;
        const float *gy = j->in + p * os;
        memset(d, 0, (size_t)is * sizeof(float));
        for (int64_t oh = 0; oh < g.OH; oh++) {
            int64_t h0 = oh * g.sh - g.pt, h1 = NK_MIN(h0 + g.KH, g.H);
            if (h0 < 0) h0 = 0;
            for (int64_t ow = 0; ow < g.OW; ow++) {
                int64_t w0 = ow * g.sw - g.pl, w1 = NK_MIN(w0 + g.KW, g.W);
                if (w0 < 0) w0 = 0;
                float v = gy[oh * g.OW + ow] * inv;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) d[h * g.W + w] += v;
            }
        }
    }
}

void nk_avgpool2d_backward(const nk_pool2d_shape *s, int threads, const float *dy, float *dx) {
    pool_geo g = geo_of(s);
    if (g.planes == 0) return;
    int t = nk__threads(threads, g.planes, NK_POOL_MIN_PLANES);
    pool_job j = {&g, dy, dx, NULL, NULL, 0};
    nk__team_ranges(t, g.planes, 1, &j, avgpool_backward_planes);
}

void nk_avgpool2d_backward_ref(const nk_pool2d_shape *s, const float *dy, float *dx) {
    pool_geo g = geo_of(s);
    // Gather form: each input sums the outputs whose window covers it.
    for (int64_t p = 0; p < g.planes; p++)
        for (int64_t h = 0; h < g.H; h++)
            for (int64_t w = 0; w < g.W; w++) {
                double acc = 0;
                for (int64_t oh = 0; oh < g.OH; oh++)
                    for (int64_t ow = 0; ow < g.OW; ow++) {
                        int64_t i = h - (oh * g.sh - g.pt), j = w - (ow * g.sw - g.pl);
                        if (i >= 0 && i < g.KH && j >= 0 && j < g.KW) acc += dy[(p * g.OH + oh) * g.OW + ow];
                    }
                dx[(p * g.H + h) * g.W + w] = (float)(acc / (double)(g.KH * g.KW));
            }
}
