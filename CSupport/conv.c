// 2-D convolution, NCHW: forward, backward-data and backward-filter, each an im2col lowering onto
// SGEMM, with the direct loops kept beside them as the reference. Shapes as in neurite.h.
//
// Lowering. For one image x[C, H, W] the column matrix col[C·KH·KW, OH·OW] holds in row
// (c·KH + i)·KW + j, column oh·OW + ow the input x[c][oh·sh − pt + i][ow·sw − pl + j] (0 in the
// padding). Then
//   forward          y[K, OH·OW]          = w[K, C·KH·KW] · col
//   backward-data    dcol[C·KH·KW, OH·OW] = wᵀ · dy,  dx = col2im(dcol) (scatter-add)
//   backward-filter  dw[K, C·KH·KW]      += dy · colᵀ
// A 1×1, stride-1, unpadded kernel has col = x itself, so no copy is made.
//
// Threads and determinism. Forward and backward-data are independent per image: with at least as
// many images as threads each thread takes whole images (its own im2col scratch, a single-threaded
// SGEMM); otherwise images run in turn and the SGEMM and im2col split each one. Either way every
// output element is computed by the same operations, and the SGEMM itself is bitwise independent of
// its thread count, so the result is too. Backward-filter is a reduction over images: it runs over
// tiles of images whose size depends on the shape only (never on the thread count); a tile's
// columns are laid side by side (col_tile[C·KH·KW, T·OH·OW]) and one SGEMM adds dy_tile · col_tileᵀ
// into dw, the tiles in order. The SGEMM splits over dw's rows/columns, never over the sum, so no
// thread ever owns a partial sum that would have to be combined in a thread-dependent order. When
// dw is small (LeNet's) that SGEMM is too narrow to split, so the tiles run in parallel instead,
// each into its own partial dw, and the partials are added into dw in tile order afterwards.
//
// Small stride-1 convolutions (few filters) skip im2col altogether: over output rows as wide as
// the zero-padded input, each column-matrix row is a shifted run of the padded image, which the
// SGEMM packs from directly (forward_image_shifted, and the shifted backward-filter tiles).
//
// Loops use schedule(static): the toolchain's clang emits __kmpc_dispatch_deinit for dynamic
// schedules, which Debian's libomp 14 lacks (link error).
//
// Workspace is bounded: a thread's scratch holds one image's columns; a backward-filter tile holds
// at most NK_CONV_TILE_FLOATS floats of columns (at least one image).
#include "nn_internal.h"

#define NK_CONV_TILE_FLOATS ((int64_t)4 << 20) // at most 16 MiB of columns per backward-filter tile
#define NK_CONV_TILE_DEPTH 1024                 // output positions summed per backward-filter SGEMM
#define NK_CONV_PARTIAL_FLOATS ((int64_t)1 << 20) // cap on per-tile partial filter gradients
#define NK_CONV_LARGE_TILE_FLOATS ((int64_t)1 << 18) // columns per tile, large-filter backward-filter

typedef struct {
    int64_t N, C, H, W, K, KH, KW, sh, sw, pt, pl, pb, pr, OH, OW;
    int64_t P;    // OH·OW, columns per image
    int64_t CKK;  // C·KH·KW, rows of the column matrix
    int direct;   // 1×1, stride 1, unpadded: col is x
} conv_geo;

int64_t nk_conv2d_output_size(const nk_conv2d_shape *s, int64_t *out_h, int64_t *out_w) {
    if (s->kernel_h < 1 || s->kernel_w < 1 || s->stride_h < 1 || s->stride_w < 1 || s->in_h < 1 ||
        s->in_w < 1 || s->pad_top < 0 || s->pad_bottom < 0 || s->pad_left < 0 || s->pad_right < 0)
        return -1;
    int64_t ph = s->in_h + s->pad_top + s->pad_bottom, pw = s->in_w + s->pad_left + s->pad_right;
    if (ph < s->kernel_h || pw < s->kernel_w) return -1;
    int64_t oh = (ph - s->kernel_h) / s->stride_h + 1, ow = (pw - s->kernel_w) / s->stride_w + 1;
    if (out_h) *out_h = oh;
    if (out_w) *out_w = ow;
    return oh * ow;
}

static conv_geo geo_of(const nk_conv2d_shape *s) {
    conv_geo g;
    g.N = s->batch; g.C = s->in_channels; g.H = s->in_h; g.W = s->in_w; g.K = s->out_channels;
    g.KH = s->kernel_h; g.KW = s->kernel_w; g.sh = s->stride_h; g.sw = s->stride_w;
    g.pt = s->pad_top; g.pl = s->pad_left; g.pb = s->pad_bottom; g.pr = s->pad_right;
    g.OH = g.OW = 0;
    if (nk_conv2d_output_size(s, &g.OH, &g.OW) < 0) g.OH = g.OW = 0;
    g.P = g.OH * g.OW;
    g.CKK = g.C * g.KH * g.KW;
    g.direct = g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 &&
               s->pad_bottom == 0 && s->pad_right == 0;
    return g;
}

static int64_t filter_tile(const conv_geo *g);
static void fill_tile(const conv_geo *g, int ct, const float *x, const float *dy, int64_t n0,
                      int64_t tn, int64_t ld, float *col, float *dyt);
static int conv_tiles_ok(const conv_geo *g);
static int64_t side_tile(const conv_geo *g);
static void backward_data_tiles(const conv_geo *g, int t, int64_t tile, const float *dy,
                                const float *w, float *dx);

// Output columns [lo, hi) whose input column ow·sw − pl + j lies in [0, W).
static inline void valid_range(int64_t pad, int64_t j, int64_t stride, int64_t n, int64_t out,
                               int64_t *lo, int64_t *hi) {
    // ow·stride ≥ pad − j  and  ow·stride ≤ n − 1 + pad − j
    int64_t a = pad - j;
    int64_t l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int64_t b = n - 1 + pad - j;
    int64_t h = b < 0 ? 0 : b / stride + 1;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

// col[(c·KH + i)·KW + j][col_off + p] for channels [c0, c1) of one image x[C, H, W].
// col: rows of length ldcol.
static void im2col(const conv_geo *g, const float *x, float *col, int64_t ldcol, int64_t c0,
                   int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
        const float *xc = x + c * g->H * g->W;
        for (int64_t i = 0; i < g->KH; i++) {
            int64_t ohlo, ohhi;
            valid_range(g->pt, i, g->sh, g->H, g->OH, &ohlo, &ohhi);
            for (int64_t j = 0; j < g->KW; j++) {
                float *row = col + ((c * g->KH + i) * g->KW + j) * ldcol;
                int64_t owlo, owhi;
                valid_range(g->pl, j, g->sw, g->W, g->OW, &owlo, &owhi);
                memset(row, 0, (size_t)(ohlo * g->OW) * sizeof(float));
                for (int64_t oh = ohlo; oh < ohhi; oh++) {
                    float *r = row + oh * g->OW;
                    const float *src = xc + (oh * g->sh - g->pt + i) * g->W - g->pl + j;
                    for (int64_t ow = 0; ow < owlo; ow++) r[ow] = 0;
                    if (g->sw == 1) {
                        memcpy(r + owlo, src + owlo, (size_t)(owhi - owlo) * sizeof(float));
                    } else {
                        const int64_t sw = g->sw;
                        for (int64_t ow = owlo; ow < owhi; ow++) r[ow] = src[ow * sw];
                    }
                    for (int64_t ow = owhi; ow < g->OW; ow++) r[ow] = 0;
                }
                memset(row + ohhi * g->OW, 0, (size_t)((g->OH - ohhi) * g->OW) * sizeof(float));
            }
        }
    }
}

// dx[c] += the entries of dcol that im2col copied from x[c], for channels [c0, c1) of one image.
// Each channel's sum runs in the same order (kernel row, kernel column, output position) whoever
// runs it.
static void col2im(const conv_geo *g, const float *dcol, int64_t ldcol, float *dx, int64_t c0,
                   int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
        float *dxc = dx + c * g->H * g->W;
        for (int64_t i = 0; i < g->KH; i++) {
            int64_t ohlo, ohhi;
            valid_range(g->pt, i, g->sh, g->H, g->OH, &ohlo, &ohhi);
            for (int64_t j = 0; j < g->KW; j++) {
                const float *row = dcol + ((c * g->KH + i) * g->KW + j) * ldcol;
                int64_t owlo, owhi;
                valid_range(g->pl, j, g->sw, g->W, g->OW, &owlo, &owhi);
                for (int64_t oh = ohlo; oh < ohhi; oh++) {
                    const float *r = row + oh * g->OW;
                    float *dst = dxc + (oh * g->sh - g->pt + i) * g->W - g->pl + j;
                    if (g->sw == 1) {
                        for (int64_t ow = owlo; ow < owhi; ow++) dst[ow] += r[ow];
                    } else {
                        const int64_t sw = g->sw;
                        for (int64_t ow = owlo; ow < owhi; ow++) dst[ow * sw] += r[ow];
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------

// y[K, P] = w · col + bias for one image; `gemm_threads` for the SGEMM.
// wp: w packed by pack_weights (transA 0), or NULL.
static void forward_image(const conv_geo *g, int gemm_threads, const float *col, const float *w,
                          const float *wp, const float *bias, float *y) {
    float beta = 0;
    if (bias) {
        for (int64_t k = 0; k < g->K; k++) {
            float b = bias[k];
            float *yk = y + k * g->P;
            for (int64_t p = 0; p < g->P; p++) yk[p] = b;
        }
        beta = 1;
    }
    if (wp) nk__sgemm_pa(gemm_threads, g->K, g->P, g->CKK, wp, 0, col, g->P, beta, y, g->P);
    else nk_sgemm_ex(NK_ISA_AUTO, gemm_threads, 0, 0, g->K, g->P, g->CKK, 1.0f, w, g->CKK, col, g->P,
                     beta, y, g->P);
}

// The weights packed once per call as the SGEMM's A operand, w[K, CKK] (transA 0, forward) or
// wᵀ[CKK, K] (transA 1, backward-data): every image or tile then reuses them instead of packing
// them again (AlexNet conv4: a 384 x 2304 block, 16 times per call). NULL when packing once
// cannot pay (one product per call).
static float *pack_weights(const conv_geo *g, int threads, int transA, const float *w, int64_t products) {
    if (products < 2) return NULL;
    const int64_t M = transA ? g->CKK : g->K, K = transA ? g->K : g->CKK;
    float *wp = nk__alloc_floats(nk__sgemm_packed_a_floats(M, K));
    nk__sgemm_pack_a(threads, transA, M, K, w, g->CKK, wp);
    return wp;
}

// Shifted-rows forward for stride-1 convolutions with few filters (LeNet's). With the image
// zero-padded into xp[C, Hp, Wp], row (c, i, j) of the column matrix, taken over output rows Wp
// wide instead of OW, is xp[c] itself read from offset i·Wp + j: a contiguous run, so the SGEMM
// packs straight from the padded image (nk__sgemm_brows) and no im2col pass is made. The price is
// Wp − OW garbage columns per output row (computed, then dropped). Every kept element sees the
// same products in the same order as the im2col path, so the two agree bitwise. Measured (LeNet,
// batch 64, 1 thread): im2col and its copies were about half the forward time at these sizes.
static int forward_shifted_ok(const conv_geo *g) {
    if (g->sh != 1 || g->sw != 1 || g->direct || g->K > 64) return 0;
    const int64_t Wp = g->W + g->pl + g->pr;
    return g->OH * Wp <= 2 * g->P; // at most as many garbage columns as real ones
}

typedef struct { float *xp, *yp; const float **rows; } shifted_scratch;

static shifted_scratch shifted_alloc(const conv_geo *g) {
    const int64_t Hp = g->H + g->pt + g->pb, Wp = g->W + g->pl + g->pr;
    shifted_scratch sc;
    const int64_t xpn = g->C * Hp * Wp + g->KW;
    sc.xp = nk__alloc_floats(xpn);
    memset(sc.xp, 0, (size_t)xpn * sizeof(float)); // the padding stays zero for every image
    sc.yp = nk__alloc_floats(g->K * g->OH * Wp);
    sc.rows = (const float **)malloc((size_t)g->CKK * sizeof(float *));
    if (!sc.rows) abort();
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t i = 0; i < g->KH; i++)
            for (int64_t j = 0; j < g->KW; j++)
                sc.rows[(c * g->KH + i) * g->KW + j] = sc.xp + c * Hp * Wp + i * Wp + j;
    return sc;
}

static void shifted_free(shifted_scratch *sc) { free(sc->xp); free(sc->yp); free((void *)sc->rows); }

static void forward_image_shifted(const conv_geo *g, shifted_scratch *sc, const float *x,
                                  const float *w, const float *bias, float *y) {
    const int64_t Hp = g->H + g->pt + g->pb, Wp = g->W + g->pl + g->pr;
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t h = 0; h < g->H; h++)
            memcpy(sc->xp + c * Hp * Wp + (h + g->pt) * Wp + g->pl, x + (c * g->H + h) * g->W,
                   (size_t)g->W * sizeof(float));
    const int64_t n = (g->OH - 1) * Wp + g->OW; // columns up to the last real output
    float beta = 0;
    if (bias) { // as forward_image: y = bias, then y += w · col
        for (int64_t k = 0; k < g->K; k++) {
            float *yk = sc->yp + k * n;
            for (int64_t q = 0; q < n; q++) yk[q] = bias[k];
        }
        beta = 1;
    }
    nk__sgemm_brows(0, g->K, n, g->CKK, w, g->CKK, sc->rows, beta, sc->yp, n);
    for (int64_t k = 0; k < g->K; k++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            memcpy(y + (k * g->OH + oh) * g->OW, sc->yp + k * n + oh * Wp, (size_t)g->OW * sizeof(float));
}

// Images per tile for the side-by-side forward and backward-data SGEMMs (see forward_tiles): the
// T <= NK_CONV_SIDE_MAX whose T·P columns waste the least of their last NR-wide micro-panel,
// ties to the smaller T. A function of the shape only.
#define NK_CONV_SIDE_MAX 8
static int64_t side_tile(const conv_geo *g) {
    const int64_t NR = nk_kernels_for(NK_ISA_AUTO)->nr;
    int64_t best = 1;
    double bw = 1e30;
    for (int64_t t = 1; t <= NK_MIN((int64_t)NK_CONV_SIDE_MAX, g->N); t++) {
        const int64_t n = t * g->P, waste = (n + NR - 1) / NR * NR - n;
        const double f = (double)waste / (double)n;
        if (f < bw - 1e-3) { bw = f; best = t; }
    }
    return best;
}

// Side-by-side tiles pay (measured, 1 thread, conv3..5: 5-8 % forward and backward-data) where a single image's output is narrow (a few NR panels, the last
// partly wasted) and the weight matrix large: AlexNet conv2..5.
static int conv_tiles_ok(const conv_geo *g) {
    if (g->K <= 64) return 0;
    const int64_t NR = nk_kernels_for(NK_ISA_AUTO)->nr;
    const int64_t waste = (g->P + NR - 1) / NR * NR - g->P;
    return waste * 20 > g->P; // over 5 % of one image's micro-panel columns wasted

}

// Forward over tiles of T images laid side by side (side_tile): y_tile[K, T·P] = bias, then for
// each chunk of channels (at most KC column rows) im2col of the chunk, col_chunk[rows, T·P], and
// y_tile += w[:, chunk] · col_chunk in one SGEMM (split over its columns by `t` threads); then
// each image's block is copied out. Side by side: fewer partly-filled micro-panels than one SGEMM
// per image (AlexNet conv3..5: P = 169 = 5·32 + 9). Chunks: the columns are still cached when
// the SGEMM packs them (a whole tile's are 11 MB); measured 1 thread, conv3 53 -> 48 ms, conv5
// 57 -> 50 (conv2, one 729-column image per tile, got slower: not used there). Chunks, tiles and
// the weights' packing are functions of the shape only, so results do not depend on threads.
static void forward_tiles(const conv_geo *g, int t, const float *x, const float *w,
                          const float *bias, float *y) {
    const int64_t xs = g->C * g->H * g->W, ys = g->K * g->P, KK = g->KH * g->KW;
    const int64_t tile = side_tile(g), ld = tile * g->P;
    // Channels per chunk: at most one KC block of column rows, so each chunk's columns are
    // still cached when the SGEMM packs them right after im2col wrote them.
    int64_t cpc = NK_MAX((int64_t)1, nk_kernels_for(NK_ISA_AUTO)->kc / KK);
    if (cpc > g->C) cpc = g->C;
    const int64_t nch = (g->C + cpc - 1) / cpc;
    float *col = nk__alloc_floats(cpc * KK * ld);
    float *yt = nk__alloc_floats(g->K * ld);
    // The weights packed once per call, chunk by chunk: wp + woff[ch].
    int64_t *woff = (int64_t *)malloc((size_t)(nch + 1) * sizeof(int64_t));
    if (!woff) abort();
    woff[0] = 0;
    for (int64_t ch = 0; ch < nch; ch++) {
        const int64_t rows = (NK_MIN(g->C, (ch + 1) * cpc) - ch * cpc) * KK;
        woff[ch + 1] = woff[ch] + (nk__sgemm_packed_a_floats(g->K, rows) + 15) / 16 * 16;
    }
    float *wp = nk__alloc_floats(woff[nch]);
    for (int64_t ch = 0; ch < nch; ch++) {
        const int64_t c0 = ch * cpc, rows = (NK_MIN(g->C, c0 + cpc) - c0) * KK;
        nk__sgemm_pack_a(t, 0, g->K, rows, w + c0 * KK, g->CKK, wp + woff[ch]);
    }
    for (int64_t n0 = 0; n0 < g->N; n0 += tile) {
        const int64_t tn = NK_MIN(tile, g->N - n0), cols = tn * g->P;
        if (bias)
            for (int64_t k = 0; k < g->K; k++)
                for (int64_t q = 0; q < cols; q++) yt[k * ld + q] = bias[k];
        for (int64_t ch = 0; ch < nch; ch++) {
            const int64_t c0 = ch * cpc, nc = NK_MIN(g->C, c0 + cpc) - c0, items = tn * nc;
            int ct = t > items ? (int)items : t;
            (void)ct;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ct) schedule(static) if (ct > 1)
#endif
            for (int64_t it = 0; it < items; it++) {
                const int64_t i = it / nc, c = it % nc;
                im2col(g, x + (n0 + i) * xs + c0 * g->H * g->W, col + i * g->P, ld, c, c + 1);
            }
            const float beta = ch > 0 || bias ? 1.0f : 0.0f;
            nk__sgemm_pa(t, g->K, cols, nc * KK, wp + woff[ch], 0, col, ld, beta, yt, ld);
        }
        for (int64_t i = 0; i < tn; i++)
            for (int64_t k = 0; k < g->K; k++)
                memcpy(y + (n0 + i) * ys + k * g->P, yt + k * ld + i * g->P, (size_t)g->P * sizeof(float));
    }
    free(col);
    free(yt);
    free(wp);
    free(woff);
}

void nk_conv2d_forward(const nk_conv2d_shape *s, int threads, const float *x, const float *w,
                       const float *bias, float *y) {
    conv_geo g = geo_of(s);
    if (g.N <= 0 || g.K <= 0 || g.P <= 0) return;
    const int64_t xs = g.C * g.H * g.W, ys = g.K * g.P;
    int t = nk__threads(threads, g.N * g.K * g.P * g.CKK, 1 << 16);
    if (g.CKK == 0) { // no input channels: y = bias
        for (int64_t n = 0; n < g.N; n++)
            for (int64_t k = 0; k < g.K; k++)
                for (int64_t p = 0; p < g.P; p++) y[n * ys + k * g.P + p] = bias ? bias[k] : 0;
        return;
    }
    if (forward_shifted_ok(&g) && (t == 1 || g.N >= t)) { // whole images per thread
#ifdef _OPENMP
#pragma omp parallel num_threads(t) if (t > 1)
#endif
        {
            shifted_scratch sc = shifted_alloc(&g);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t n = 0; n < g.N; n++) forward_image_shifted(&g, &sc, x + n * xs, w, bias, y + n * ys);
            shifted_free(&sc);
        }
        return;
    }
    if (!g.direct && conv_tiles_ok(&g)) { forward_tiles(&g, t, x, w, bias, y); return; }
    float *wp = pack_weights(&g, t, 0, w, g.N);
    if (t > 1 && g.N >= t) {
#ifdef _OPENMP
#pragma omp parallel num_threads(t)
#endif
        {
            float *col = g.direct ? NULL : nk__alloc_floats(g.CKK * g.P);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t n = 0; n < g.N; n++) {
                const float *c = x + n * xs;
                if (!g.direct) { im2col(&g, c, col, g.P, 0, g.C); c = col; }
                forward_image(&g, 1, c, w, wp, bias, y + n * ys);
            }
            free(col);
        }
        free(wp);
        return;
    }
    float *col = g.direct ? NULL : nk__alloc_floats(g.CKK * g.P);
    int ct = t > g.C ? (int)g.C : t;
    for (int64_t n = 0; n < g.N; n++) {
        const float *c = x + n * xs;
        if (!g.direct) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(ct) schedule(static) if (ct > 1)
#endif
            for (int64_t ch = 0; ch < g.C; ch++) im2col(&g, x + n * xs, col, g.P, ch, ch + 1);
            c = col;
        }
        forward_image(&g, t, c, w, wp, bias, y + n * ys);
    }
    free(col);
    free(wp);
}

void nk_conv2d_forward_ref(const nk_conv2d_shape *s, const float *x, const float *w,
                           const float *bias, float *y) {
    conv_geo g = geo_of(s);
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

// ---------------------------------------------------------------------------------------------
// Backward-data
// ---------------------------------------------------------------------------------------------

// dx[C, H, W] of one image from dy[K, P]; dcol: scratch [CKK, P] (unused when direct).
// `ct` threads for col2im (over channels), `gemm_threads` for the SGEMM.
static void backward_data_image(const conv_geo *g, int gemm_threads, int ct, const float *dy,
                                const float *w, const float *wp, float *dcol, float *dx) {
    float *out = g->direct ? dx : dcol; // direct: dx[C, P] = wᵀ · dy
    if (wp) nk__sgemm_pa(gemm_threads, g->CKK, g->P, g->K, wp, 0, dy, g->P, 0.0f, out, g->P);
    else nk_sgemm_ex(NK_ISA_AUTO, gemm_threads, 1, 0, g->CKK, g->P, g->K, 1.0f, w, g->CKK, dy, g->P,
                     0.0f, out, g->P);
    if (g->direct) return;
    memset(dx, 0, (size_t)(g->C * g->H * g->W) * sizeof(float));
#ifdef _OPENMP
#pragma omp parallel for num_threads(ct) schedule(static) if (ct > 1)
#endif
    for (int64_t c = 0; c < g->C; c++) col2im(g, dcol, g->P, dx, c, c + 1);
}

// Backward-data for the side-by-side tiles (conv_tiles_ok), by chunks of channels: for each tile
// of T images and each chunk, dcol_chunk[rows, T·P] = w[:, chunk]ᵀ · dy_tile (one SGEMM, split by
// `t` threads), then col2im of the chunk's channels while dcol_chunk is still cached (a whole
// tile's dcol is 11 MB for AlexNet conv3). Chunk rows are a multiple of MR, so no micro-panel is
// partly empty. An SGEMM's element does not depend on M, so this is bitwise backward_data_tiles.
static void backward_data_chunked(const conv_geo *g, int t, const float *dy, const float *w,
                                  float *dx) {
    const int64_t xs = g->C * g->H * g->W, ys = g->K * g->P, KK = g->KH * g->KW;
    const int64_t tile = side_tile(g), ld = tile * g->P;
    const int64_t MR = nk_kernels_for(NK_ISA_AUTO)->mr;
    int64_t m = MR, a_ = KK, b_ = MR; // m = MR / gcd(KK, MR): channels per MR-aligned run
    while (b_) { int64_t r = a_ % b_; a_ = b_; b_ = r; }
    m = MR / a_;
    int64_t cpc = NK_MAX((int64_t)1, nk_kernels_for(NK_ISA_AUTO)->mc / KK) / m * m;
    if (cpc < m) cpc = m;
    if (cpc > g->C) cpc = g->C;
    const int64_t nch = (g->C + cpc - 1) / cpc;
    float *dyt = tile > 1 ? nk__alloc_floats(g->K * ld) : NULL;
    float *dcol = nk__alloc_floats(cpc * KK * ld);
    int64_t *woff = (int64_t *)malloc((size_t)(nch + 1) * sizeof(int64_t));
    if (!woff) abort();
    woff[0] = 0;
    for (int64_t ch = 0; ch < nch; ch++) {
        const int64_t rows = (NK_MIN(g->C, (ch + 1) * cpc) - ch * cpc) * KK;
        woff[ch + 1] = woff[ch] + (nk__sgemm_packed_a_floats(rows, g->K) + 15) / 16 * 16;
    }
    float *wp = nk__alloc_floats(woff[nch]);
    for (int64_t ch = 0; ch < nch; ch++) { // wᵀ rows [c0·KK, c1·KK): columns of w
        const int64_t c0 = ch * cpc, rows = (NK_MIN(g->C, c0 + cpc) - c0) * KK;
        nk__sgemm_pack_a(t, 1, rows, g->K, w + c0 * KK, g->CKK, wp + woff[ch]);
    }
    for (int64_t n0 = 0; n0 < g->N; n0 += tile) {
        const int64_t tn = NK_MIN(tile, g->N - n0), cols = tn * g->P;
        if (tn > 1) fill_tile(g, t, NULL, dy, n0, tn, ld, NULL, dyt);
        const float *a = tn > 1 ? dyt : dy + n0 * ys;
        const int64_t lda = tn > 1 ? ld : g->P;
        for (int64_t ch = 0; ch < nch; ch++) {
            const int64_t c0 = ch * cpc, nc = NK_MIN(g->C, c0 + cpc) - c0, items = tn * nc;
            nk__sgemm_pa(t, nc * KK, cols, g->K, wp + woff[ch], 0, a, lda, 0.0f, dcol, ld);
            int ct = t > items ? (int)items : t;
            (void)ct;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ct) schedule(static) if (ct > 1)
#endif
            for (int64_t it = 0; it < items; it++) {
                const int64_t i = it / nc, c = it % nc;
                float *dxc = dx + (n0 + i) * xs + c0 * g->H * g->W; // channel c0 of image n0 + i
                memset(dxc + c * g->H * g->W, 0, (size_t)(g->H * g->W) * sizeof(float));
                col2im(g, dcol + i * g->P, ld, dxc, c, c + 1);
            }
        }
    }
    free(dyt);
    free(dcol);
    free(wp);
    free(woff);
}

void nk_conv2d_backward_data(const nk_conv2d_shape *s, int threads, const float *dy,
                             const float *w, float *dx) {
    conv_geo g = geo_of(s);
    const int64_t xs = g.C * g.H * g.W, ys = g.K * g.P;
    if (g.N <= 0 || xs <= 0) return;
    if (g.P <= 0 || g.K <= 0) { memset(dx, 0, (size_t)(g.N * xs) * sizeof(float)); return; }
    int t = nk__threads(threads, g.N * g.K * g.P * g.CKK, 1 << 16);
    if (t == 1 && g.K <= 64 && !g.direct) { backward_data_tiles(&g, 1, filter_tile(&g), dy, w, dx); return; }
    if (!g.direct && conv_tiles_ok(&g)) { backward_data_chunked(&g, t, dy, w, dx); return; }
    float *wp = pack_weights(&g, t, 1, w, g.N);
    if (t > 1 && g.N >= t) {
#ifdef _OPENMP
#pragma omp parallel num_threads(t)
#endif
        {
            float *dcol = g.direct ? NULL : nk__alloc_floats(g.CKK * g.P);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t n = 0; n < g.N; n++)
                backward_data_image(&g, 1, 1, dy + n * ys, w, wp, dcol, dx + n * xs);
            free(dcol);
        }
        free(wp);
        return;
    }
    float *dcol = g.direct ? NULL : nk__alloc_floats(g.CKK * g.P);
    int ct = t > g.C ? (int)g.C : t;
    for (int64_t n = 0; n < g.N; n++) backward_data_image(&g, t, ct, dy + n * ys, w, wp, dcol, dx + n * xs);
    free(dcol);
    free(wp);
}

void nk_conv2d_backward_data_ref(const nk_conv2d_shape *s, const float *dy, const float *w,
                                 float *dx) {
    conv_geo g = geo_of(s);
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

// ---------------------------------------------------------------------------------------------
// Backward-filter
// ---------------------------------------------------------------------------------------------

// Images per tile: enough that a tile's SGEMM sums over at least NK_CONV_TILE_DEPTH output
// positions (so dw's read-modify-write is amortised), no more columns than NK_CONV_TILE_FLOATS,
// at least 1. A function of the shape only, so the order of the sum over images never depends on
// the thread count. Measured (LeNet conv1, batch 64, 1 thread): one 64-image tile (5 MB of
// columns, streamed through memory twice: im2col writes, packing reads) 3.1 ms; tiles of 2 images
// (157 KB, stay in L2) about a third of that.
static int64_t filter_tile(const conv_geo *g) {
    int64_t per = g->CKK * g->P;
    int64_t tile = (NK_CONV_TILE_DEPTH + g->P - 1) / g->P;
    if (per > 0 && tile * per > NK_CONV_TILE_FLOATS) tile = NK_CONV_TILE_FLOATS / per;
    if (tile < 1) tile = 1;
    if (tile > g->N) tile = g->N;
    return tile;
}

// Lays images [n0, n0 + tn) side by side: col[:, i·P + p] (rows of length ld; skipped when col is
// NULL) and, when dyt is not NULL and tn > 1, dyt[k][i·P + p]. Work items are (image, channel) pairs so small tiles still keep `ct` threads busy.
static void fill_tile(const conv_geo *g, int ct, const float *x, const float *dy, int64_t n0,
                      int64_t tn, int64_t ld, float *col, float *dyt) {
    const int64_t xs = g->C * g->H * g->W, ys = g->K * g->P;
    const int do_dy = dyt && tn > 1;
    const int64_t per = NK_MAX(col ? g->C : 0, do_dy ? g->K : 0);
    const int64_t items = tn * per;
    if (items == 0) return;
    if (ct > items) ct = (int)items;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ct) schedule(static) if (ct > 1)
#endif
    for (int64_t it = 0; it < items; it++) {
        int64_t i = it / per, c = it % per;
        const float *xi = x ? x + (n0 + i) * xs : NULL;
        if (col && c < g->C) {
            if (g->direct) {
                memcpy(col + c * ld + i * g->P, xi + c * g->P, (size_t)g->P * sizeof(float));
            } else {
                im2col(g, xi, col + i * g->P, ld, c, c + 1);
            }
        }
        if (do_dy && c < g->K)
            memcpy(dyt + c * ld + i * g->P, dy + (n0 + i) * ys + c * g->P, (size_t)g->P * sizeof(float));
    }
}

// out[K, CKK] = beta·out + Σ over the tile's images of dy · colᵀ, `gt` threads for the SGEMM.
// A one-image tile reads dy in place.
static void filter_tile_gemm(const conv_geo *g, int gt, const float *dy, int64_t n0, int64_t tn,
                             int64_t ld, const float *col, const float *dyt, float beta, float *out) {
    const int64_t cols = tn * g->P;
    const float *a = tn > 1 ? dyt : dy + n0 * g->K * g->P;
    const int64_t lda = tn > 1 ? ld : g->P;
    nk_sgemm_ex(NK_ISA_AUTO, gt, 0, 1, g->K, g->CKK, cols, 1.0f, a, lda, col, ld, beta, out, g->CKK);
}

// Σ d[0:n] in a fixed order: 16 running sums (lane l takes p ≡ l mod 16) folded pairwise, then
// the tail. Vectorises without reassociation; the one serial chain it replaces (four cycles per
// add) was a fifth of LeNet conv1's filter gradient (64·6·784 adds for db).
static float sum_floats(const float *d, int64_t n) {
    float acc[16] = {0};
    int64_t p = 0;
    for (; p + 16 <= n; p += 16)
        for (int l = 0; l < 16; l++) acc[l] += d[p + l];
    for (int w = 8; w > 0; w >>= 1)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    float s = acc[0];
    for (; p < n; p++) s += d[p];
    return s;
}

// Backward-data over tiles of images (filter_tile), single-threaded: dcol_tile[CKK, T·P] =
// wᵀ · dy_tile in one SGEMM per tile, then col2im per image. For few filters (LeNet's conv2: 16)
// the per-image SGEMM sums over only K = 16 and is dominated by its fixed costs; one SGEMM per tile
// amortises them (0.78 -> 0.66 ms, batch 64). Every element sees the same operations as per image
// (the SGEMM's result does not depend on N), so this changes no bits. With threads the per-image
// path, whole images per thread, was faster: the tiles' small parallel regions did not pay.
static void backward_data_tiles(const conv_geo *g, int t, int64_t tile, const float *dy,
                                const float *w, float *dx) {
    const int64_t xs = g->C * g->H * g->W, ys = g->K * g->P;
    const int64_t ld = tile * g->P;
    const int64_t rows = g->direct ? g->C : g->CKK;
    float *dyt = tile > 1 ? nk__alloc_floats(g->K * ld) : NULL;
    float *dcol = nk__alloc_floats(rows * ld);
    float *wp = pack_weights(g, t, 1, w, (g->N + tile - 1) / tile);
    for (int64_t n0 = 0; n0 < g->N; n0 += tile) {
        const int64_t tn = NK_MIN(tile, g->N - n0), cols = tn * g->P;
        if (tn > 1) fill_tile(g, t, NULL, dy, n0, tn, ld, NULL, dyt);
        const float *a = tn > 1 ? dyt : dy + n0 * ys;
        const int64_t lda = tn > 1 ? ld : g->P;
        if (wp) nk__sgemm_pa(t, rows, cols, g->K, wp, 0, a, lda, 0.0f, dcol, ld);
        else nk_sgemm_ex(NK_ISA_AUTO, t, 1, 0, rows, cols, g->K, 1.0f, w, g->CKK, a, lda, 0.0f, dcol, ld);
        if (t > 1 && !g->direct) { // col2im over (image, channel) items
            const int64_t items = tn * g->C;
#ifdef _OPENMP
#pragma omp parallel for num_threads(t) schedule(static)
#endif
            for (int64_t it = 0; it < items; it++) {
                const int64_t i = it / g->C, c = it % g->C;
                float *dxi = dx + (n0 + i) * xs;
                memset(dxi + c * g->H * g->W, 0, (size_t)(g->H * g->W) * sizeof(float));
                col2im(g, dcol + i * g->P, ld, dxi, c, c + 1);
            }
            continue;
        }
        for (int64_t i = 0; i < tn; i++) {
            float *dxi = dx + (n0 + i) * xs;
            if (g->direct) {
                for (int64_t c = 0; c < g->C; c++)
                    memcpy(dxi + c * g->P, dcol + c * ld + i * g->P, (size_t)g->P * sizeof(float));
            } else {
                memset(dxi, 0, (size_t)xs * sizeof(float));
                col2im(g, dcol + i * g->P, ld, dxi, 0, g->C);
            }
        }
    }
    free(dyt);
    free(dcol);
    free(wp);
}

void nk_conv2d_backward_filter(const nk_conv2d_shape *s, int threads, const float *x,
                               const float *dy, float *dw, float *db) {
    conv_geo g = geo_of(s);
    if (g.N <= 0 || g.K <= 0 || g.P <= 0) return;
    const int64_t ys = g.K * g.P;
    int t = nk__threads(threads, g.N * g.K * g.P * g.CKK, 1 << 16);

    if (db) { // db[k] += Σ_n Σ_p dy[n][k][p], images in order (each image's sum in float), in double
        int bt = nk__threads(threads, g.K * g.N * g.P, 1 << 14);
        if (bt > g.K) bt = (int)g.K;
#ifdef _OPENMP
#pragma omp parallel for num_threads(bt) schedule(static) if (bt > 1)
#endif
        for (int64_t k = 0; k < g.K; k++) {
            double acc = 0;
            for (int64_t n = 0; n < g.N; n++) acc += sum_floats(dy + n * ys + k * g.P, g.P);
            db[k] += (float)acc;
        }
    }
    if (g.CKK == 0) return;

    const int64_t tile = filter_tile(&g);
    int64_t ld = tile * g.P; // columns of a tile's matrices
    const int64_t ntiles = (g.N + tile - 1) / tile, KC = g.K * g.CKK;

    if (ntiles > 1 && ntiles * KC <= NK_CONV_PARTIAL_FLOATS && forward_shifted_ok(&g)) {
        // As below, with each tile's columns read as shifted rows of the tile's images zero-padded
        // side by side (see forward_image_shifted): xt[c][Hp][tn·Wp], output rows tn·Wp wide, dy
        // spread to match with zeros in the garbage columns, so no im2col pass is made.
        float *part = nk__alloc_floats(ntiles * KC);
        int tt = t > ntiles ? (int)ntiles : t;
        (void)tt; // unused in a serial build
#ifdef _OPENMP
#pragma omp parallel num_threads(tt) if (tt > 1)
#endif
        {
            const int64_t Hp = g.H + g.pt + g.pb, Wp = g.W + g.pl + g.pr, wmax = tile * Wp;
            const int64_t xtn = g.C * Hp * wmax + g.KW, dtn = g.K * g.OH * wmax;
            float *xt = nk__alloc_floats(xtn), *dt = nk__alloc_floats(dtn);
            const float **rows = (const float **)malloc((size_t)g.CKK * sizeof(float *));
            if (!rows) abort();
            int64_t laid = -1; // tile width the zeroed layout is for
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t ti = 0; ti < ntiles; ti++) {
                const int64_t n0 = ti * tile, tn = NK_MIN(tile, g.N - n0), wt = tn * Wp;
                if (laid != tn) { // padding and garbage columns: zero, once per layout
                    memset(xt, 0, (size_t)xtn * sizeof(float));
                    memset(dt, 0, (size_t)dtn * sizeof(float));
                    for (int64_t c = 0; c < g.C; c++)
                        for (int64_t i = 0; i < g.KH; i++)
                            for (int64_t j = 0; j < g.KW; j++)
                                rows[(c * g.KH + i) * g.KW + j] = xt + c * Hp * wt + i * wt + j;
                    laid = tn;
                }
                for (int64_t im = 0; im < tn; im++) {
                    const float *xi = x + (n0 + im) * g.C * g.H * g.W;
                    const float *di = dy + (n0 + im) * ys;
                    for (int64_t c = 0; c < g.C; c++)
                        for (int64_t h = 0; h < g.H; h++)
                            memcpy(xt + c * Hp * wt + (h + g.pt) * wt + im * Wp + g.pl,
                                   xi + (c * g.H + h) * g.W, (size_t)g.W * sizeof(float));
                    for (int64_t k = 0; k < g.K; k++)
                        for (int64_t oh = 0; oh < g.OH; oh++)
                            memcpy(dt + k * g.OH * wt + oh * wt + im * Wp, di + (k * g.OH + oh) * g.OW,
                                   (size_t)g.OW * sizeof(float));
                }
                const int64_t n = (g.OH - 1) * wt + (tn - 1) * Wp + g.OW; // to the last real column
                nk__sgemm_brows(1, g.K, g.CKK, n, dt, g.OH * wt, rows, 0.0f, part + ti * KC, g.CKK);
            }
            free(xt);
            free(dt);
            free((void *)rows);
        }
        for (int64_t ti = 0; ti < ntiles; ti++) {
            const float *pt = part + ti * KC;
            for (int64_t e = 0; e < KC; e++) dw[e] += pt[e];
        }
        free(part);
        return;
    }

    if (ntiles > 1 && ntiles * KC <= NK_CONV_PARTIAL_FLOATS) {
        // Small filters (LeNet's: dw is 150 or 2 400 floats) make SGEMMs too narrow to split. The
        // tiles run in parallel instead, each into its own partial dw, and the partials are added
        // into dw in tile order: the same sums in the same order for every thread count.
        float *part = nk__alloc_floats(ntiles * KC);
        int tt = t > ntiles ? (int)ntiles : t;
        (void)tt; // unused in a serial build
#ifdef _OPENMP
#pragma omp parallel num_threads(tt) if (tt > 1)
#endif
        {
            float *col = nk__alloc_floats(g.CKK * ld);
            float *dyt = tile > 1 ? nk__alloc_floats(g.K * ld) : NULL;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t ti = 0; ti < ntiles; ti++) {
                const int64_t n0 = ti * tile, tn = NK_MIN(tile, g.N - n0);
                fill_tile(&g, 1, x, dy, n0, tn, ld, col, dyt);
                filter_tile_gemm(&g, 1, dy, n0, tn, ld, col, dyt, 0.0f, part + ti * KC);
            }
            free(col);
            free(dyt);
        }
        for (int64_t ti = 0; ti < ntiles; ti++) {
            const float *pt = part + ti * KC;
            for (int64_t e = 0; e < KC; e++) dw[e] += pt[e];
        }
        free(part);
        return;
    }

    // Large filters: tiles in turn, each one SGEMM adding into dw, split over dw's rows/columns.
    // Here a tile's columns are capped at NK_CONV_LARGE_TILE_FLOATS, so that they are still in
    // cache when the SGEMM packs them right after im2col wrote them: measured (1 thread, batch 16)
    // one image per tile instead of the deeper tiles above, AlexNet conv2 168 -> 155 ms, conv3
    // 55 -> 48, conv5 57 -> 50, although dw (up to 3.5 MB) is then read and written per image.
    const int64_t ltile = NK_MAX((int64_t)1, NK_MIN(tile, NK_CONV_LARGE_TILE_FLOATS / (g.CKK * g.P)));
    ld = ltile * g.P;
    float *col = nk__alloc_floats(g.CKK * ld);
    float *dyt = ltile > 1 ? nk__alloc_floats(g.K * ld) : NULL;
    const int64_t KK = g.KH * g.KW;
    const int64_t cpc = NK_MIN(g.C, NK_MAX((int64_t)1, NK_CONV_LARGE_TILE_FLOATS / (KK * g.P)));
    if (ltile == 1 && !g.direct && cpc < g.C) {
        // One image's columns are still too big to stay cached (AlexNet conv2: 7 MB): by chunks of
        // channels, dw[:, chunk] += dy · col_chunkᵀ. An SGEMM's element does not depend on N, so
        // the sums are the same as for the whole image.
        for (int64_t n = 0; n < g.N; n++) {
            const float *xn = x + n * g.C * g.H * g.W;
            for (int64_t c0 = 0; c0 < g.C; c0 += cpc) {
                const int64_t nc = NK_MIN(cpc, g.C - c0);
                int ct = t > nc ? (int)nc : t;
                (void)ct;
#ifdef _OPENMP
#pragma omp parallel for num_threads(ct) schedule(static) if (ct > 1)
#endif
                for (int64_t c = 0; c < nc; c++) im2col(&g, xn + c0 * g.H * g.W, col, g.P, c, c + 1);
                nk_sgemm_ex(NK_ISA_AUTO, t, 0, 1, g.K, nc * KK, g.P, 1.0f, dy + n * ys, g.P, col, g.P,
                            1.0f, dw + c0 * KK, g.CKK);
            }
        }
        free(col);
        free(dyt);
        return;
    }
    for (int64_t n0 = 0; n0 < g.N; n0 += ltile) {
        const int64_t tn = NK_MIN(ltile, g.N - n0);
        fill_tile(&g, t, x, dy, n0, tn, ld, col, dyt);
        filter_tile_gemm(&g, t, dy, n0, tn, ld, col, dyt, 1.0f, dw);
    }
    free(col);
    free(dyt);
}

void nk_conv2d_backward_filter_ref(const nk_conv2d_shape *s, const float *x, const float *dy,
                                   float *dw, float *db) {
    conv_geo g = geo_of(s);
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
