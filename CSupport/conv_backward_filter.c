// Convolution backward-filter, dw += Σ dy · colᵀ and db += Σ dy, along the plan's path
// (conv_plan.c). The sum over images runs over tiles whose size depends on the shape only; tiles
// are added in order (into dw, or through per-tile partials folded in tile order), so no thread
// owns a partial sum that would be combined in a thread-dependent order (see conv_internal.h).
#include "conv_internal.h"

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

void nk_conv2d_backward_filter(const nk_conv2d_shape *s, int threads, const float *x,
                               const float *dy, float *dw, float *db) {
    const conv_geo g = nk__conv_geo(s);
    const conv_plan pl = nk__conv_plan_backward_filter(&g, threads);
    if (pl.path == NK_CONV_NOTHING && (g.N <= 0 || g.K <= 0 || g.P <= 0)) return;
    const int64_t ys = g.K * g.P;
    const int t = pl.threads;

    if (db) { // db[k] += Σ_n Σ_p dy[n][k][p], images in order (each image's sum in float), in double
        const int bt = pl.bias_threads;
        (void)bt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(bt) schedule(static) if (bt > 1)
#endif
        for (int64_t k = 0; k < g.K; k++) {
            double acc = 0;
            for (int64_t n = 0; n < g.N; n++) acc += sum_floats(dy + n * ys + k * g.P, g.P);
            db[k] += (float)acc;
        }
    }
    if (pl.path == NK_CONV_NOTHING) return; // no input channels: db only

    const int64_t tile = pl.tile;
    const int64_t ld = tile * g.P; // columns of a tile's matrices
    const int64_t ntiles = (g.N + tile - 1) / tile, KC = g.K * g.CKK;

    if (pl.path == NK_CONV_FILTER_SHIFTED_PARTIALS) {
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
            float *xt = nk__alloc_floats(xtn), *dt = nk__alloc_floats(dtn), *pt = pl.transposed ? nk__alloc_floats(KC) : NULL;
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
                float *dst = part + ti * KC;
                if (pl.transposed) {
                    // dstᵀ[CKK, K] = col · dtᵀ, the shifted rows the SGEMM's A, read in place (see
                    // conv_plan.c). Each element is the same in-order sum of the same products as
                    // dt · colᵀ, so the bits are the untransposed product's.
                    nk__sgemm_arows(g.isa, g.CKK, g.K, n, rows, 1, dt, g.OH * wt, 0.0f, pt, g.K);
                    for (int64_t k = 0; k < g.K; k++)
                        for (int64_t r = 0; r < g.CKK; r++) dst[k * g.CKK + r] = pt[r * g.K + k];
                } else nk__sgemm_brows(g.isa, 1, g.K, g.CKK, n, dt, g.OH * wt, rows, 0.0f, dst, g.CKK);
            }
            free(xt);
            free(dt);
            free(pt);
            free((void *)rows);
        }
        nk__conv_add_partials(ntiles, KC, part, dw);
        free(part);
        return;
    }

    if (pl.path == NK_CONV_FILTER_PARTIALS) {
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
                nk__conv_fill_tile(&g, 1, x, dy, n0, tn, ld, col, dyt);
                filter_tile_gemm(&g, 1, dy, n0, tn, ld, col, dyt, 0.0f, part + ti * KC);
            }
            free(col);
            free(dyt);
        }
        nk__conv_add_partials(ntiles, KC, part, dw);
        free(part);
        return;
    }

    // Large filters: tiles in turn (the plan caps a tile's columns so they are still cached when
    // the SGEMM packs them right after im2col wrote them), each one SGEMM adding into dw, split
    // over dw's rows/columns.
    float *col = nk__alloc_floats(g.CKK * ld);
    float *dyt = tile > 1 ? nk__alloc_floats(g.K * ld) : NULL;
    const int64_t KK = g.KH * g.KW, cpc = pl.chunk;
    if (pl.path == NK_CONV_FILTER_CHUNKS) {
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
                for (int64_t c = 0; c < nc; c++) nk__im2col(&g, xn + c0 * g.H * g.W, col, g.P, c, c + 1);
                nk_sgemm_ex(NK_ISA_AUTO, t, 0, 1, g.K, nc * KK, g.P, 1.0f, dy + n * ys, g.P, col, g.P,
                            1.0f, dw + c0 * KK, g.CKK);
            }
        }
        free(col);
        free(dyt);
        return;
    }
    for (int64_t n0 = 0; n0 < g.N; n0 += tile) {
        const int64_t tn = NK_MIN(tile, g.N - n0);
        nk__conv_fill_tile(&g, t, x, dy, n0, tn, ld, col, dyt);
        filter_tile_gemm(&g, t, dy, n0, tn, ld, col, dyt, 1.0f, dw);
    }
    free(col);
    free(dyt);
}

