// Convolution backward-data, dx from dy, along the plan's path (conv_plan.c): dcol = wᵀ · dy
// (an SGEMM whose elements do not depend on how its columns are grouped), then col2im, each dx
// channel summed in the same order on every path (see conv_internal.h).
#include "conv_internal.h"

typedef struct image_col2im_job {
    const conv_geo *g;
    const float *dcol;
    float *dxc; // the chunk's first channel
} image_col2im_job;

// Channels [begin, end) of the chunk: each zeroed, then col2im of its rows of dcol.
static void image_col2im_range(void *context, int64_t begin, int64_t end) {
    const image_col2im_job *j = context;
    const int64_t HW = j->g->H * j->g->W;
    for (int64_t c = begin; c < end; c++) {
        memset(j->dxc + c * HW, 0, (size_t)HW * sizeof(float));
        nk__col2im(j->g, j->dcol, j->g->P, j->dxc, c, c + 1);
    }
}

// dx[C, H, W] of one image from dy[K, P], by the plan's chunks of channels: dcol_chunk =
// w[:, chunk]ᵀ · dy (`gemm_threads`), then col2im of the chunk's channels (`ct` threads) while
// dcol_chunk is still cached; dcol: scratch of one chunk's rows (unused when direct: the chunk's
// rows of wᵀ · dy are dx's channels themselves).
// wp, woff: wᵀ packed by nk__conv_pack_weight_chunks (transA 1), or NULL.
static void backward_data_image(const conv_geo *g, const conv_plan *pl, int gemm_threads, int ct,
                                const float *dy, const float *w, const float *wp,
                                const int64_t *woff, float *dcol, float *dx) {
    const int64_t KK = g->KH * g->KW, HW = g->H * g->W;
    for (int64_t c0 = 0, ch = 0; c0 < g->C; c0 += pl->chunk, ch++) {
        const int64_t nc = NK_MIN(pl->chunk, g->C - c0), rows = nc * KK;
        float *out = g->direct ? dx + c0 * HW : dcol; // direct: dcol's rows are dx's channels
        if (wp) nk__sgemm_pa(g->isa, gemm_threads, rows, g->P, g->K, wp + woff[ch], 0, dy, g->P, 0.0f, out, g->P);
        else nk_sgemm_ex(NK_ISA_AUTO, gemm_threads, 1, 0, rows, g->P, g->K, 1.0f, w + c0 * KK, g->CKK,
                         dy, g->P, 0.0f, out, g->P);
        if (g->direct) continue;
        image_col2im_job job = {g, dcol, dx + c0 * HW};
        nk__team_ranges(ct, nc, 1, &job, image_col2im_range);
    }
}

typedef struct tile_col2im_job {
    const conv_geo *g;
    const float *dcol;
    float *dx;
    int64_t n0, c0, nc, xs, ld; // tile's first image, chunk's first channel and size, strides
} tile_col2im_job;

// Items [begin, end) of a tile's chunk: item it is channel c0 + it % nc of image n0 + it / nc,
// zeroed, then col2im of its rows of that image's columns of dcol.
static void tile_col2im_range(void *context, int64_t begin, int64_t end) {
    const tile_col2im_job *j = context;
    const conv_geo *g = j->g;
    for (int64_t it = begin; it < end; it++) {
        const int64_t i = it / j->nc, c = it % j->nc;
        float *dxc = j->dx + (j->n0 + i) * j->xs + j->c0 * g->H * g->W; // channel c0 of image n0 + i
        memset(dxc + c * g->H * g->W, 0, (size_t)(g->H * g->W) * sizeof(float));
        nk__col2im(g, j->dcol + i * g->P, j->ld, dxc, c, c + 1);
    }
}

// Backward-data for the side-by-side tiles (conv_tiles_ok), by chunks of channels: for each tile
// of T images and each chunk, dcol_chunk[rows, T·P] = w[:, chunk]ᵀ · dy_tile (one SGEMM, split by
// `t` threads), then col2im of the chunk's channels while dcol_chunk is still cached (a whole
// tile's dcol is 11 MB for AlexNet conv3). Chunk rows are a multiple of MR, so no micro-panel is
// partly empty. An SGEMM's element does not depend on M, so this is bitwise backward_data_tiles.
static void backward_data_chunked(const conv_geo *g, const conv_plan *pl, const float *dy,
                                  const float *w, float *dx) {
    const int t = pl->threads;
    const int64_t xs = g->C * g->H * g->W, ys = g->K * g->P, KK = g->KH * g->KW;
    const int64_t tile = pl->tile, ld = tile * g->P, cpc = pl->chunk;
    const int64_t nch = (g->C + cpc - 1) / cpc;
    float *dyt = tile > 1 ? nk__alloc_floats(g->K * ld) : NULL;
    float *dcol = nk__alloc_floats(cpc * KK * ld);
    int64_t *woff;
    float *wp = nk__conv_pack_weight_chunks(g, t, 1, w, cpc, &woff);
    for (int64_t n0 = 0; n0 < g->N; n0 += tile) {
        const int64_t tn = NK_MIN(tile, g->N - n0), cols = tn * g->P;
        if (tn > 1) nk__conv_fill_tile(g, t, NULL, dy, n0, tn, ld, NULL, dyt);
        const float *a = tn > 1 ? dyt : dy + n0 * ys;
        const int64_t lda = tn > 1 ? ld : g->P;
        for (int64_t ch = 0; ch < nch; ch++) {
            const int64_t c0 = ch * cpc, nc = NK_MIN(g->C, c0 + cpc) - c0, items = tn * nc;
            nk__sgemm_pa(g->isa, t, nc * KK, cols, g->K, wp + woff[ch], 0, a, lda, 0.0f, dcol, ld);
            const int ct = t > items ? (int)items : t;
            tile_col2im_job job = {g, dcol, dx, n0, c0, nc, xs, ld};
            nk__team_ranges(ct, items, 1, &job, tile_col2im_range);
        }
    }
    free(dyt);
    free(dcol);
    free(wp);
    free(woff);
}

typedef struct tiles_backward_job {
    const conv_geo *g;
    const float *dy, *w, *wp;
    float *dx;
    int64_t tile, rows; // rows: of dcol (C when direct, else CKK)
} tiles_backward_job;

// Images [begin, end) in tiles of at most `tile` images, one after another through this range's
// own dy and dcol scratch.
static void tiles_backward_range(void *context, int64_t begin, int64_t end) {
    const tiles_backward_job *j = context;
    const conv_geo *g = j->g;
    const float *dy = j->dy, *w = j->w, *wp = j->wp;
    float *dx = j->dx;
    const int64_t tile = j->tile, rows = j->rows;
    const int64_t xs = g->C * g->H * g->W, ys = g->K * g->P;
    const int64_t ld = tile * g->P;
    float *dyt = tile > 1 ? nk__alloc_floats(g->K * ld) : NULL;
    float *dcol = nk__alloc_floats(rows * ld);
    for (int64_t n0 = begin; n0 < end; n0 += tile) {
        const int64_t tn = NK_MIN(tile, end - n0), cols = tn * g->P;
        if (tn > 1) nk__conv_fill_tile(g, 1, NULL, dy, n0, tn, ld, NULL, dyt);
        const float *a = tn > 1 ? dyt : dy + n0 * ys;
        const int64_t lda = tn > 1 ? ld : g->P;
        if (wp) nk__sgemm_pa(g->isa, 1, rows, cols, g->K, wp, 0, a, lda, 0.0f, dcol, ld);
        else nk_sgemm_ex(NK_ISA_AUTO, 1, 1, 0, rows, cols, g->K, 1.0f, w, g->CKK, a, lda, 0.0f, dcol, ld);
        for (int64_t i = 0; i < tn; i++) {
            float *dxi = dx + (n0 + i) * xs;
            if (g->direct) {
                for (int64_t c = 0; c < g->C; c++)
                    memcpy(dxi + c * g->P, dcol + c * ld + i * g->P, (size_t)g->P * sizeof(float));
            } else {
                memset(dxi, 0, (size_t)xs * sizeof(float));
                nk__col2im(g, dcol + i * g->P, ld, dxi, 0, g->C);
            }
        }
    }
    free(dyt);
    free(dcol);
}

// Backward-data over tiles of the plan's `tile` images: dcol_tile[CKK, T·P] = wᵀ · dy_tile in one
// single-threaded SGEMM per tile, then col2im per image; with threads, whole tiles per thread
// (each range of tiles its own dcol and dy scratch). For few filters (LeNet's conv2: 16) a per-image SGEMM sums
// over only K = 16 and is dominated by its fixed costs; one SGEMM per tile amortises them (0.78 ->
// 0.66 ms, batch 64, 1 thread). Every element sees the same operations as per image (the SGEMM's
// result does not depend on N), so this changes no bits. With threads, an equal share of the
// images per thread, each share in tiles (faster than whole images per thread: conv_plan.c; whole
// tiles per thread gave LeNet conv2's 64 images in tiles of 11 a 33/31 split).
static void backward_data_tiles(const conv_geo *g, int threads, int64_t tile, const float *dy,
                                const float *w, float *dx) {
    const int64_t rows = g->direct ? g->C : g->CKK;
    const int64_t ntiles = (g->N + tile - 1) / tile;
    const int t = threads > ntiles ? (int)ntiles : threads;
    float *wp = nk__conv_pack_weights(g, 1, 1, w, ntiles);
    tiles_backward_job job = {g, dy, w, wp, dx, tile, rows};
    nk__team_ranges(t, g->N, 1, &job, tiles_backward_range);
    free(wp);
}

typedef struct images_backward_job {
    const conv_geo *g;
    const conv_plan *pl;
    const float *dy, *w, *wp;
    const int64_t *woff;
    float *dx;
    int64_t xs, ys, scratch; // scratch: floats of the dcol scratch
    int gemm_threads, ct;
} images_backward_job;

// Backward-data of images [begin, end), one after another through one dcol scratch of this range's.
static void images_backward_range(void *context, int64_t begin, int64_t end) {
    const images_backward_job *j = context;
    float *dcol = j->g->direct ? NULL : nk__alloc_floats(j->scratch);
    for (int64_t n = begin; n < end; n++)
        backward_data_image(j->g, j->pl, j->gemm_threads, j->ct, j->dy + n * j->ys, j->w, j->wp, j->woff,
                            dcol, j->dx + n * j->xs);
    free(dcol);
}

void nk_conv2d_backward_data(const nk_conv2d_shape *s, int threads, const float *dy,
                             const float *w, float *dx) {
    const conv_geo g = nk__conv_geo(s);
    const conv_plan pl = nk__conv_plan_backward_data(&g, threads);
    const int t = pl.threads;
    const int64_t xs = g.C * g.H * g.W, ys = g.K * g.P;
    switch (pl.path) {
    case NK_CONV_ZERO: memset(dx, 0, (size_t)(g.N * xs) * sizeof(float)); return;
    case NK_CONV_TILES: backward_data_tiles(&g, t, pl.tile, dy, w, dx); return;
    case NK_CONV_SIDE_BY_SIDE: backward_data_chunked(&g, &pl, dy, w, dx); return;
    case NK_CONV_PER_IMAGE: // whole images per thread
    case NK_CONV_IN_TURN: { // images in turn, threads inside the SGEMM and col2im
        const int per_image = pl.path == NK_CONV_PER_IMAGE;
        int64_t *woff = NULL;
        float *wp = g.N > 1 ? nk__conv_pack_weight_chunks(&g, t, 1, w, pl.chunk, &woff) : NULL;
        const int64_t dcolFloats = NK_MIN(pl.chunk, g.C) * g.KH * g.KW * g.P;
        const int ct = per_image ? 1 : (t > pl.chunk ? (int)pl.chunk : t);
        const int team = per_image ? t : 1;
        images_backward_job job = {&g, &pl, dy, w, wp, woff, dx, xs, ys, dcolFloats, per_image ? 1 : t, ct};
        nk__team_ranges(team, g.N, 1, &job, images_backward_range);
        free(wp);
        free(woff);
        return;
    }
    default: return; // NK_CONV_NOTHING
    }
}
