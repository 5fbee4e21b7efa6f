// The strategy of each convolution call, chosen once from the shape, the thread count and the
// SGEMM's tile geometry. Every threshold that picks a path or sizes a tile is named here, with the
// measurement behind it. Paths and the bitwise argument: conv_internal.h.
#include "conv_internal.h"

// Work items (N·K·P·CKK multiply-adds) per thread below which a call runs on one thread.
#define NK_CONV_MIN_WORK_PER_THREAD ((int64_t)1 << 16)

// Shifted rows (forward, and the filter gradient's partials) are for stride-1 convolutions with
// at most this many filters (LeNet's 6 and 16): with more, the SGEMM is long enough in M that
// im2col's copy is a small share of the time.
#define NK_CONV_SHIFTED_MAX_FILTERS 64
// ... and at most this many computed columns per real one: over output rows as wide as the padded
// input, Wp − OW garbage columns per row are computed and dropped.
#define NK_CONV_SHIFTED_MAX_COLUMN_RATIO 2

// Side-by-side tiles (forward, backward-data) pay (measured, 1 thread, AlexNet conv3..5: 5-8 %)
// where a single image's output is narrow, its last NR-wide micro-panel partly empty, and the
// weight matrix large: more than NK_CONV_SIDE_MIN_FILTERS filters and over 1/NK_CONV_SIDE_WASTE
// (5 %) of one image's micro-panel columns wasted. At most NK_CONV_SIDE_MAX images per tile.
#define NK_CONV_SIDE_MIN_FILTERS 64
#define NK_CONV_SIDE_WASTE 20
#define NK_CONV_SIDE_MAX 8

// Backward-data with at most this many filters (LeNet conv2: 16) runs one SGEMM per tile of images
// (whole tiles per thread when there are at least as many tiles as threads): per image it sums
// over only K products and is dominated by its fixed costs (1 thread, batch 64: 0.78 -> 0.66 ms;
// 2 threads, against whole images per thread, LeNet conv2 backward 0.34 -> 0.27 ms, Zen 5).
#define NK_CONV_FEW_FILTERS 64

// Backward-filter tiles: enough images that a tile's SGEMM sums over at least
// NK_CONV_TILE_DEPTH output positions (dw's read-modify-write amortised), a power of two of them
// (so a power-of-two batch cuts into equal tiles, as many as 2 or 4 threads divide evenly: LeNet
// conv2 at batch 64 four tiles of 16 rather than five of 11 and one of 9; 2 threads, filter gradient
// 0.25-0.27 -> 0.24-0.25 ms, Zen 4, interleaved), at most
// NK_CONV_TILE_FLOATS floats of columns (16 MiB). Measured (LeNet conv1, batch 64, 1 thread): one
// 64-image tile (5 MB of columns, streamed through memory twice) 3.1 ms; 2-image tiles (157 KB,
// in L2) about a third of that.
#define NK_CONV_TILE_FLOATS ((int64_t)4 << 20)
#define NK_CONV_TILE_DEPTH 1024
// Backward-data tiles (few filters): as many images as keep a tile's dcol (CKK × T·P floats)
// within NK_CONV_DATA_TILE_FLOATS (256 KiB, a quarter of a 1 MiB L2), so col2im reads it back from
// L2 right after the SGEMM wrote it. No sum runs over images here, so the tile changes no bits.
// Measured (LeNet conv2, batch 64, Zen 4, best of 300 calls, 5 interleaved rounds): 4 images
// 442-480 us at 1 thread, 228-258 at 2; 11 images 494-500 / 252-284; 16 images 493-506 / 250-290.
#define NK_CONV_DATA_TILE_FLOATS ((int64_t)1 << 16)
// Tiles run in parallel into partial filter gradients when all partials together are at most
// this many floats (LeNet's dw: 150 or 2 400 floats; SGEMMs that narrow do not split).
#define NK_CONV_PARTIAL_FLOATS ((int64_t)1 << 20)
// Large filters: a tile's columns are capped at this many floats (1 MiB) so they are still cached
// when the SGEMM packs them right after im2col (1 thread, batch 16: AlexNet conv2 168 -> 155 ms,
// conv3 55 -> 48, conv5 57 -> 50), and channels are chunked when one image exceeds it (conv2:
// 7 MB of columns per image, 190 -> 155 ms).
#define NK_CONV_LARGE_TILE_FLOATS ((int64_t)1 << 18)

// The shifted filter gradient with fewer filters than a dot product's 16 lanes (LeNet conv1: 6)
// runs as dot products of dy rows with shifted rows (nk_row_dots_fn): every lane of every FMA a
// product of the sum, nothing packed. Either SGEMM form leaves lanes empty there: the transpose
// below fills K of a vector's 16 lanes; the plain form packs the shifted rows (as much work as the
// products) into a tile K rows tall. Measured (LeNet conv1, batch 64, 1 thread, Zen 4): filter
// gradient 0.40 -> 0.22 ms. With 16 filters (conv2) the transposed SGEMM fills its vectors and
// both forms run at the FMA unit's pace (0.44 against 0.45 ms): the SGEMM stays.
// Otherwise it runs as its transpose, dwᵀ = col · dyᵀ with the column matrix's shifted rows read in
// place as the SGEMM's A, when the filters fill at least 1/NK_CONV_TRANSPOSED_FILL of one NR-wide B
// panel; with fewer, most of each panel's lanes would multiply zeros. Otherwise the shifted rows
// are B, packed. Measured (1 thread, batch 64, Zen 5, AVX-512 NR = 32): LeNet conv2 (16 filters)
// backward 0.55 -> 0.50 ms.
#define NK_CONV_TRANSPOSED_FILL 2

// db's per-image sums (K·P adds an image) go parallel over images from this many adds per thread.
#define NK_CONV_BIAS_MIN_WORK_PER_THREAD ((int64_t)1 << 14)

int nk__conv_threads(const conv_geo *g, int threads) {
    return nk__threads(threads, g->N * g->K * g->P * g->CKK, NK_CONV_MIN_WORK_PER_THREAD);
}

static int shifted_ok(const conv_geo *g) {
    if (g->sh != 1 || g->sw != 1 || g->direct || g->K > NK_CONV_SHIFTED_MAX_FILTERS) return 0;
    const int64_t Wp = g->W + g->pl + g->pr;
    return g->OH * Wp <= NK_CONV_SHIFTED_MAX_COLUMN_RATIO * g->P;
}

static int side_by_side_ok(const conv_geo *g, int64_t NR) {
    if (g->direct || g->K <= NK_CONV_SIDE_MIN_FILTERS) return 0;
    const int64_t waste = (g->P + NR - 1) / NR * NR - g->P;
    return waste * NK_CONV_SIDE_WASTE > g->P;
}

// Images per side-by-side tile: the T <= NK_CONV_SIDE_MAX whose T·P columns waste the least of
// their last NR-wide micro-panel, ties to the smaller T.
static int64_t side_tile(const conv_geo *g, int64_t NR) {
    int64_t best = 1;
    double bw = 1e30;
    for (int64_t t = 1; t <= NK_MIN((int64_t)NK_CONV_SIDE_MAX, g->N); t++) {
        const int64_t n = t * g->P, waste = (n + NR - 1) / NR * NR - n;
        const double f = (double)waste / (double)n;
        if (f < bw - 1e-3) { bw = f; best = t; }
    }
    return best;
}

// Images side by side in a shifted forward tile: the T <= NK_CONV_SIDE_MAX (and at most N / threads,
// so every thread has a tile) whose SGEMM computes the fewest columns per real output, counting
// the garbage columns and the last NR-wide micro-panel's empty ones; ties to the smaller T.
// (LeNet conv2: 3 images, 416 of 416 computed columns for 300 outputs, against 160 for 100 alone;
// conv1 stays at 1, 896 columns in 28 full panels.) The forward's bits do not depend on it.
static int64_t shifted_tile(const conv_geo *g, int64_t NR, int threads) {
    const int64_t Wp = g->W + g->pl + g->pr, most = NK_MAX((int64_t)1, NK_MIN((int64_t)NK_CONV_SIDE_MAX, g->N / threads));
    int64_t best = 1;
    double bw = 1e30;
    for (int64_t t = 1; t <= most; t++) {
        const int64_t n = (g->OH - 1) * t * Wp + (t - 1) * Wp + g->OW, computed = (n + NR - 1) / NR * NR;
        const double f = (double)computed / (double)(t * g->P);
        if (f < bw - 1e-3) { bw = f; best = t; }
    }
    return best;
}

static int64_t filter_tile(const conv_geo *g) {
    const int64_t per = g->CKK * g->P;
    int64_t tile = 1;
    while (tile * g->P < NK_CONV_TILE_DEPTH) tile *= 2;
    if (per > 0 && tile * per > NK_CONV_TILE_FLOATS) tile = NK_CONV_TILE_FLOATS / per;
    return NK_MAX((int64_t)1, NK_MIN(tile, g->N));
}

static int64_t data_tile(const conv_geo *g) {
    const int64_t per = g->CKK * g->P;
    return NK_MAX((int64_t)1, NK_MIN(g->N, per > 0 ? NK_CONV_DATA_TILE_FLOATS / per : g->N));
}

conv_plan nk__conv_plan_forward(const conv_geo *g, int threads) {
    conv_plan p = {NK_CONV_NOTHING, 1, 1, g->C, 1, NK_FILTER_SGEMM};
    if (g->N <= 0 || g->K <= 0 || g->P <= 0) return p;
    p.threads = nk__conv_threads(g, threads);
    const int t = p.threads;
    nk_sgemm_geometry geo = nk__sgemm_geometry(g->isa);
    if (g->CKK == 0) p.path = NK_CONV_BIAS_ONLY;
    else if (shifted_ok(g) && (t == 1 || g->N >= t)) {
        p.path = NK_CONV_SHIFTED;
        p.tile = shifted_tile(g, geo.nr, t);
    }
    else if (side_by_side_ok(g, geo.nr)) {
        p.path = NK_CONV_SIDE_BY_SIDE;
        p.tile = side_tile(g, geo.nr);
    } else p.path = t > 1 && g->N >= t ? NK_CONV_PER_IMAGE : NK_CONV_IN_TURN;
    // Every path sums over the same channel chunks (conv_forward.c): at most one KC block of
    // column rows each, so a chunk is one SGEMM depth block, and in the side-by-side path its
    // columns are still cached when the SGEMM packs them right after im2col (1 thread: conv3
    // 53 -> 48 ms).
    p.chunk = NK_MIN(g->C, NK_MAX((int64_t)1, geo.kc / (g->KH * g->KW)));
    return p;
}

conv_plan nk__conv_plan_backward_data(const conv_geo *g, int threads) {
    conv_plan p = {NK_CONV_NOTHING, 1, 1, g->C, 1, NK_FILTER_SGEMM};
    if (g->N <= 0 || g->C * g->H * g->W <= 0) return p;
    if (g->P <= 0 || g->K <= 0) { p.path = NK_CONV_ZERO; return p; }
    p.threads = nk__conv_threads(g, threads);
    const int t = p.threads;
    nk_sgemm_geometry geo = nk__sgemm_geometry(g->isa);
    const int64_t tile = data_tile(g);
    if (g->K <= NK_CONV_FEW_FILTERS && !g->direct && (t == 1 || (g->N + tile - 1) / tile >= t)) {
        p.path = NK_CONV_TILES;
        p.tile = tile;
    } else if (side_by_side_ok(g, geo.nr)) {
        p.path = NK_CONV_SIDE_BY_SIDE;
        p.tile = side_tile(g, geo.nr);
    } else p.path = t > 1 && g->N >= t ? NK_CONV_PER_IMAGE : NK_CONV_IN_TURN;
    // The side-by-side, per-image and in-turn paths compute dcol by chunks of channels: about one
    // MC block of dcol rows per chunk (still cached when col2im reads it), rounded to whole MR-row
    // micro-panels: m = MR / gcd(KH·KW, MR) channels make a whole number of them. dcol's rows are
    // independent sums, so the chunking changes no bits.
    const int64_t KK = g->KH * g->KW;
    int64_t a = KK, b = geo.mr;
    while (b) { const int64_t r = a % b; a = b; b = r; }
    const int64_t m = geo.mr / a;
    p.chunk = NK_MIN(g->C, NK_MAX(m, NK_MAX((int64_t)1, geo.mc / KK) / m * m));
    return p;
}

conv_plan nk__conv_plan_backward_filter(const conv_geo *g, int threads) {
    conv_plan p = {NK_CONV_NOTHING, 1, 1, g->C, 1, NK_FILTER_SGEMM};
    if (g->N <= 0 || g->K <= 0 || g->P <= 0) return p;
    p.threads = nk__conv_threads(g, threads);
    p.bias_threads = (int)NK_MIN((int64_t)nk__threads(threads, g->K * g->N * g->P, NK_CONV_BIAS_MIN_WORK_PER_THREAD), g->N);
    p.tile = filter_tile(g);
    const int64_t ntiles = (g->N + p.tile - 1) / p.tile;
    if (g->CKK == 0) return p; // db only (the entry computes db for every path)
    if (ntiles > 1 && ntiles * g->K * g->CKK <= NK_CONV_PARTIAL_FLOATS) {
        p.path = shifted_ok(g) ? NK_CONV_FILTER_SHIFTED_PARTIALS : NK_CONV_FILTER_PARTIALS;
        if (g->K < NK_DOT_LANES) p.form = NK_FILTER_DOTS;
        else if (g->K * NK_CONV_TRANSPOSED_FILL >= nk__sgemm_geometry(g->isa).nr) p.form = NK_FILTER_SGEMM_TRANSPOSED;
        return p;
    }
    p.tile = NK_MAX((int64_t)1, NK_MIN(p.tile, NK_CONV_LARGE_TILE_FLOATS / (g->CKK * g->P)));
    const int64_t KK = g->KH * g->KW;
    p.chunk = NK_MIN(g->C, NK_MAX((int64_t)1, NK_CONV_LARGE_TILE_FLOATS / (KK * g->P)));
    p.path = p.tile == 1 && !g->direct && p.chunk < g->C ? NK_CONV_FILTER_CHUNKS : NK_CONV_FILTER_TILES;
    return p;
}
