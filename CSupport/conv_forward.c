// Convolution forward, y = conv(x, w) + bias, along the plan's path (conv_plan.c). Every path
// sums each output element the same way: bias first, then the column matrix's rows chunk by chunk
// (the plan's `chunk` channels, at most one KC block of rows each, chunks in order, each chunk an
// in-order SGEMM sum), so the paths agree bitwise. The chunking depends on the shape and KC only
// (never on the thread count or the microkernel's tile), so the result is also the same for every
// ISA: a path that laid images side by side could otherwise not match one that did not.
#include "conv_internal.h"

typedef struct image_im2col_job {
    const conv_geo *g;
    const float *x; // the chunk's first channel
    float *col;
} image_im2col_job;

// im2col of the chunk's channels [begin, end), one channel at a time.
static void image_im2col_range(void *context, int64_t begin, int64_t end) {
    const image_im2col_job *j = context;
    for (int64_t c = begin; c < end; c++) nk__im2col(j->g, j->x, j->col, j->g->P, c, c + 1);
}

// y[K, P] = w · col + bias for one image x[C, H, W], chunk by chunk: im2col of the chunk's
// channels into col (chunk·KH·KW rows; `ct` threads over channels), then y += w[:, chunk] · col
// (`gemm_threads`), so the chunk's columns are still in L2 when the SGEMM packs them (a whole
// image's columns, AlexNet conv2: 7 MB, went through memory). A direct 1×1 reads x in place.
// wp, woff: w packed by nk__conv_pack_weight_chunks (transA 0), or NULL.
static void forward_image(const conv_geo *g, const conv_plan *pl, int gemm_threads, int ct,
                          const float *x, float *col, const float *w, const float *wp,
                          const int64_t *woff, const float *bias, float *y) {
    const int64_t KK = g->KH * g->KW, HW = g->H * g->W;
    if (bias) nk__conv_fill_bias(g->K, g->P, g->P, bias, y);
    for (int64_t c0 = 0, ch = 0; c0 < g->C; c0 += pl->chunk, ch++) {
        const int64_t nc = NK_MIN(pl->chunk, g->C - c0), rows = nc * KK;
        const float *b = x + c0 * HW; // direct: the chunk's channels are its rows
        if (!g->direct) {
            image_im2col_job job = {g, x + c0 * HW, col};
            nk__team_ranges(ct, nc, 1, &job, image_im2col_range);
            b = col;
        }
        const float beta = c0 > 0 || bias ? 1.0f : 0.0f;
        if (wp) nk__sgemm_pa(g->isa, gemm_threads, g->K, g->P, rows, wp + woff[ch], 0, b, g->P, beta, y, g->P);
        else nk_sgemm_ex(NK_ISA_AUTO, gemm_threads, 0, 0, g->K, g->P, rows, 1.0f, w + c0 * KK, g->CKK,
                         b, g->P, beta, y, g->P);
    }
}

// The shifted forward by output positions: with the column matrix seen from the output side, A's
// row i is real output position i (its place in the padded tile) and column p the offset of row p
// of the column matrix (c·Hp·wt + i·wt + j), so yᵀ[positions, K] = A·wᵀ takes the real positions
// only (nk__sgemm_aoffsets), none of the Wp − OW garbage columns per output row that the shifted
// rows compute (LeNet's conv2: 4 of every 14), at the price of a transposing copy-out. Each
// element is the same fma chain over the same KC blocks as the shifted rows' (the bias, when the
// depth is one chunk, added in the copy-out as there): the same bits. Chosen where the table row
// has the kernel (AVX-512, AVX2) and the filters fill 16-float vectors better than the shifted
// rows fill theirs (by_positions): conv2's 16 filters fill one vector against 300 real of 416
// computed columns; conv1's 6 would fill 6 of 16. conv2 forward, batch 64, Zen 4, best of 300, 3
// interleaved runs: 436 -> 347 us at 1 thread, 221-241 -> 182-205 at 2 (AVX2: 450 -> 337-354).
typedef struct positions_scratch {
    const float **apos; // tile·OH·OW output positions in xp
    int64_t *off;       // CKK row offsets
    float *t;           // yᵀ, tile·OH·OW x ldt
    int64_t ldt;
} positions_scratch;

// The shifted forward directly along output rows (nk_conv_rows_fn), where the table row has the
// kernel and the shape fits it: at most 8 filters (their sums for a row's ≤ 32 outputs stay in
// registers), the depth in one chunk and one KC block (so the column matrix's sum order is one
// fma chain over (c, i, j)). Each input row segment is loaded once for all filters and no lane
// computes a garbage column or an empty filter row: LeNet's conv1 (6 filters, rows of 28 in 32)
// filled 6 of the SGEMM's 8-row strips and 28 of 32 columns.
static int by_rows(const conv_geo *g, const conv_plan *pl) {
    return nk_kernels_for(g->isa)->conv_rows && g->K <= NK_CONV_ROWS_FILTERS && g->OW <= NK_CONV_ROWS_WIDTH &&
           pl->chunk >= g->C && g->CKK <= nk__sgemm_geometry(g->isa).kc;
}

// Whether the positions path computes fewer wasted lanes than the shifted rows, for the plan's tile.
static int by_positions(const conv_geo *g, const conv_plan *pl) {
    if (!nk__sgemm_has_aoffsets(g->isa) || pl->chunk < g->C || by_rows(g, pl)) return 0;
    const nk_sgemm_geometry geo = nk__sgemm_geometry(g->isa);
    const int64_t Wp = g->W + g->pl + g->pr, wt = pl->tile * Wp;
    const int64_t computed = ((g->OH - 1) * wt + (pl->tile - 1) * Wp + g->OW + geo.nr - 1) / geo.nr * geo.nr;
    const int64_t real = pl->tile * g->P, vecs = (g->K + 15) / 16 * 16, strips = (g->K + geo.mr - 1) / geo.mr * geo.mr;
    // g->K / vecs > (real / computed) · (g->K / strips), cross-multiplied
    return strips * computed > vecs * real;
}

// The positions of a range's tiles in its shifted scratch sc; the row offsets are those of sc's
// shifted rows.
static positions_scratch positions_alloc(const conv_geo *g, const shifted_scratch *sc) {
    const int64_t Wp = g->W + g->pl + g->pr, wt = sc->tile * Wp, M = sc->tile * g->P;
    positions_scratch ps;
    ps.ldt = (g->K + 15) / 16 * 16;
    ps.apos = (const float **)malloc((size_t)M * sizeof(float *));
    ps.off = (int64_t *)malloc((size_t)g->CKK * sizeof(int64_t));
    if (!ps.apos || !ps.off) abort();
    ps.t = nk__alloc_floats(M * ps.ldt);
    for (int64_t im = 0, q = 0; im < sc->tile; im++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) ps.apos[q++] = sc->xp + oh * wt + im * Wp + ow;
    for (int64_t p = 0; p < g->CKK; p++) ps.off[p] = sc->rows[p] - sc->xp;
    return ps;
}

static void positions_free(positions_scratch *ps) { free((void *)ps->apos); free(ps->off); free(ps->t); }

// y[im][k][pos] = t[im·P + pos][k] (+ bias[k] when not NULL; through the ReLU when asked for), the
// positions path's copy-out, in 8 x 8 blocks.
__attribute__((target_clones("avx512f", "avx2", "default")))
static void positions_copy_out(const conv_geo *g, const float *restrict t, int64_t ldt, int64_t tn, const float *bias,
                               int relu, float *restrict y) {
    for (int64_t im = 0; im < tn; im++) {
        const float *ti = t + im * g->P * ldt;
        float *yi = y + im * g->K * g->P;
        for (int64_t k0 = 0; k0 < g->K; k0 += 8)
            for (int64_t q0 = 0; q0 < g->P; q0 += 8) {
                const int64_t k1 = NK_MIN(g->K, k0 + 8), q1 = NK_MIN(g->P, q0 + 8);
                for (int64_t k = k0; k < k1; k++)
                    for (int64_t q = q0; q < q1; q++) {
                        const float v = bias ? ti[q * ldt + k] + bias[k] : ti[q * ldt + k];
                        yi[k * g->P + q] = relu ? nk__keep_or_zero(v, !(v < 0.0f)) : v;
                    }
            }
    }
}

// Shifted-rows forward for stride-1 convolutions with few filters (LeNet's). With the image
// zero-padded into xp[C, Hp, Wp], row (c, i, j) of the column matrix, taken over output rows Wp
// wide instead of OW, is xp[c] itself read from offset i·Wp + j: a contiguous run, so the SGEMM
// packs straight from the padded image (nk__sgemm_brows) and no im2col pass is made. The price is
// Wp − OW garbage columns per output row (computed, then dropped). Every kept element sees the
// same products in the same order as the im2col path, so the two agree bitwise. Measured (LeNet,
// batch 64, 1 thread): im2col and its copies were about half the forward time at these sizes.
// The plan's tile of images lies side by side (xp[C, Hp, tile·Wp], output rows tile·Wp wide), so
// one SGEMM's columns fill its last NR-wide micro-panel better than one image's (LeNet conv2: 136
// columns an image in 5 panels of 32, three images 416 in 13); an element's sum does not depend on
// the columns around it, so the bits are the same. A last, short tile computes its missing slots'
// columns too (from whatever they hold) and drops them.
static void forward_tile_shifted(const conv_geo *g, const conv_plan *pl, shifted_scratch *sc, positions_scratch *ps,
                                 const float *wpk, const float *x, int64_t tn, const float *w, const float *bias,
                                 int relu, float *y) {
    const int64_t Hp = g->H + g->pt + g->pb, Wp = g->W + g->pl + g->pr, wt = sc->tile * Wp;
    const int64_t xs = g->C * g->H * g->W, ys = g->K * g->P;
    for (int64_t im = 0; im < tn; im++)
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t h = 0; h < g->H; h++)
                memcpy(sc->xp + c * Hp * wt + (h + g->pt) * wt + im * Wp + g->pl, x + im * xs + (c * g->H + h) * g->W,
                       (size_t)g->W * sizeof(float));
    if (by_rows(g, pl)) { // directly along output rows, image by image (see by_rows)
        const nk_conv_rows_fn conv_rows = nk_kernels_for(g->isa)->conv_rows;
        for (int64_t im = 0; im < tn; im++)
            conv_rows(sc->xp + im * Wp, Hp * wt, wt, g->C, g->KH, g->KW, g->OH, g->OW, g->K, w, bias, relu, y + im * ys);
        return;
    }
    if (ps) { // by output positions (the depth in one chunk; the bias in the copy-out)
        nk__sgemm_aoffsets(g->isa, tn * g->P, g->K, g->CKK, ps->apos, ps->off, wpk, ps->t, ps->ldt);
        positions_copy_out(g, ps->t, ps->ldt, tn, bias, relu, y);
        return;
    }
    const int64_t n = (g->OH - 1) * wt + (tn - 1) * Wp + g->OW; // columns up to the last real output
    // With the whole depth in one chunk (LeNet's convolutions) the bias is added in the copy-out
    // rather than filled in first: acc + bias is the float fma(1, acc, bias) that the SGEMM's
    // beta = 1 update gives, so the bits are forward_image's, and the SGEMM writes C without
    // reading it after a pass that wrote it (LeNet conv1 forward, batch 64, 1 thread, Zen 4:
    // the fill was a tenth of the time). Over several chunks the bias comes first, as there.
    const int bias_after = bias && pl->chunk >= g->C;
    if (bias && !bias_after) nk__conv_fill_bias(g->K, n, n, bias, sc->yp); // as forward_image
    const int64_t KK = g->KH * g->KW;
    for (int64_t c0 = 0; c0 < g->C; c0 += pl->chunk) {
        const int64_t rows = NK_MIN(pl->chunk, g->C - c0) * KK;
        const float beta = c0 > 0 || (bias && !bias_after) ? 1.0f : 0.0f;
        nk__sgemm_brows(g->isa, 0, g->K, n, rows, w + c0 * KK, g->CKK, sc->rows + c0 * KK, beta, sc->yp, n);
    }
    for (int64_t im = 0; im < tn; im++)
        for (int64_t k = 0; k < g->K; k++)
            for (int64_t oh = 0; oh < g->OH; oh++) {
                float *dst = y + im * ys + (k * g->OH + oh) * g->OW;
                const float *src = sc->yp + k * n + oh * wt + im * Wp;
                if (bias_after) {
                    const float b = bias[k];
                    for (int64_t q = 0; q < g->OW; q++) {
                        const float v = src[q] + b;
                        dst[q] = relu ? nk__keep_or_zero(v, !(v < 0.0f)) : v;
                    }
                } else if (relu) nk__relu_copy(dst, src, g->OW);
                else memcpy(dst, src, (size_t)g->OW * sizeof(float));
            }
}

typedef struct tile_im2col_job {
    const conv_geo *g;
    const float *x;
    float *col;
    int64_t n0, c0, nc, xs, ld; // tile's first image, chunk's first channel and size, strides
} tile_im2col_job;

// im2col of items [begin, end) of a tile's chunk: item it is channel c0 + it % nc of image
// n0 + it / nc, into that image's columns of col.
static void tile_im2col_range(void *context, int64_t begin, int64_t end) {
    const tile_im2col_job *j = context;
    const conv_geo *g = j->g;
    for (int64_t it = begin; it < end; it++) {
        const int64_t i = it / j->nc, c = it % j->nc;
        nk__im2col(g, j->x + (j->n0 + i) * j->xs + j->c0 * g->H * g->W, j->col + i * g->P, j->ld, c, c + 1);
    }
}

typedef struct tile_copy_job {
    const conv_geo *g;
    const float *yt;
    float *y;
    int64_t n0, ys, ld;
    int relu;
} tile_copy_job;

// Copy-out of blocks [begin, end) of a tile's output: block b is filter b % K of image n0 + b / K
// (with the ReLU when asked for).
static void tile_copy_range(void *context, int64_t begin, int64_t end) {
    const tile_copy_job *j = context;
    const conv_geo *g = j->g;
    for (int64_t b = begin; b < end; b++) {
        const int64_t i = b / g->K, k = b % g->K;
        float *dst = j->y + (j->n0 + i) * j->ys + k * g->P;
        const float *src = j->yt + k * j->ld + i * g->P;
        if (j->relu) nk__relu_copy(dst, src, g->P);
        else memcpy(dst, src, (size_t)g->P * sizeof(float));
    }
}

// Forward over tiles of T images laid side by side (the plan's tile): y_tile[K, T·P] = bias, then for
// each chunk of channels (the plan's chunk: at most KC column rows) im2col of the chunk, col_chunk[rows, T·P], and
// y_tile += w[:, chunk] · col_chunk in one SGEMM (split over its columns by `t` threads); then
// each image's block is copied out. Side by side: fewer partly-filled micro-panels than one SGEMM
// per image (AlexNet conv3..5: P = 169 = 5·32 + 9). Chunks: the columns are still cached when
// the SGEMM packs them (a whole tile's are 11 MB); measured 1 thread, conv3 53 -> 48 ms, conv5
// 57 -> 50 (conv2, one 729-column image per tile, got slower: not used there). Chunks, tiles and
// the weights' packing are functions of the shape only, so results do not depend on threads.
static void forward_tiles(const conv_geo *g, const conv_plan *pl, const float *x, const float *w,
                          const float *bias, int relu, float *y) {
    const int t = pl->threads;
    const int64_t xs = g->C * g->H * g->W, ys = g->K * g->P, KK = g->KH * g->KW;
    const int64_t tile = pl->tile, ld = tile * g->P, cpc = pl->chunk;
    const int64_t nch = (g->C + cpc - 1) / cpc;
    float *col = nk__alloc_floats(cpc * KK * ld);
    float *yt = nk__alloc_floats(g->K * ld);
    int64_t *woff;
    float *wp = nk__conv_pack_weight_chunks(g, t, 0, w, cpc, &woff);
    for (int64_t n0 = 0; n0 < g->N; n0 += tile) {
        const int64_t tn = NK_MIN(tile, g->N - n0), cols = tn * g->P;
        if (bias) nk__conv_fill_bias(g->K, cols, ld, bias, yt);
        for (int64_t ch = 0; ch < nch; ch++) {
            const int64_t c0 = ch * cpc, nc = NK_MIN(g->C, c0 + cpc) - c0, items = tn * nc;
            const int ct = t > items ? (int)items : t;
            tile_im2col_job job = {g, x, col, n0, c0, nc, xs, ld};
            nk__team_ranges(ct, items, 1, &job, tile_im2col_range);
            const float beta = ch > 0 || bias ? 1.0f : 0.0f;
            nk__sgemm_pa(g->isa, t, g->K, cols, nc * KK, wp + woff[ch], 0, col, ld, beta, yt, ld);
        }
        // The copy-out is a pass over the whole tile's output: split it over the threads too,
        // rather than leave them idle between two parallel SGEMMs.
        const int64_t blocks = tn * g->K;
        const int ct = nk__threads(t, blocks * g->P, 8192); // floats copied
        tile_copy_job job = {g, yt, y, n0, ys, ld, relu};
        nk__team_ranges(ct, blocks, 1, &job, tile_copy_range);
    }
    free(col);
    free(yt);
    free(wp);
    free(woff);
}

void nk_conv2d_forward(const nk_conv2d_shape *s, int threads, const float *x, const float *w,
                       const float *bias, float *y) {
    nk_conv2d_forward_relu(s, threads, x, w, bias, 0, y);
}

typedef struct images_forward_job {
    const conv_geo *g;
    const conv_plan *pl;
    const float *x, *w, *wp, *bias;
    const int64_t *woff;
    float *y;
    int64_t xs, ys, scratch; // scratch: floats of the column scratch (the shifted path sizes its own)
    int gemm_threads, ct, relu;
    const float *wpk; // shifted path by output positions: wᵀ packed as the SGEMM's B, else NULL
} images_forward_job;

// Shifted-rows forward of tiles [begin, end) of the plan's tile images, with this range's own scratch.
static void shifted_tiles_range(void *context, int64_t begin, int64_t end) {
    const images_forward_job *j = context;
    const int64_t tile = j->pl->tile;
    shifted_scratch sc = nk__shifted_alloc(j->g, tile);
    positions_scratch ps = {0};
    if (j->wpk) ps = positions_alloc(j->g, &sc);
    for (int64_t ti = begin; ti < end; ti++) {
        const int64_t n0 = ti * tile, tn = NK_MIN(tile, j->g->N - n0);
        forward_tile_shifted(j->g, j->pl, &sc, j->wpk ? &ps : NULL, j->wpk, j->x + n0 * j->xs, tn, j->w, j->bias,
                             j->relu, j->y + n0 * j->ys);
    }
    if (j->wpk) positions_free(&ps);
    nk__shifted_free(&sc);
}

// Forward of images [begin, end), one after another through one column scratch of this range's.
static void images_range(void *context, int64_t begin, int64_t end) {
    const images_forward_job *j = context;
    float *col = j->g->direct ? NULL : nk__alloc_floats(j->scratch);
    for (int64_t n = begin; n < end; n++) {
        forward_image(j->g, j->pl, j->gemm_threads, j->ct, j->x + n * j->xs, col, j->w, j->wp, j->woff,
                      j->bias, j->y + n * j->ys);
        if (j->relu) nk__relu_copy(j->y + n * j->ys, j->y + n * j->ys, j->ys);
    }
    free(col);
}

// The ReLU, when asked for, is applied to each image's output (or tile's copy-out) by the thread
// that computed it, right after, while it is in that thread's cache.
void nk_conv2d_forward_relu(const nk_conv2d_shape *s, int threads, const float *x, const float *w,
                            const float *bias, int relu, float *y) {
    const conv_geo g = nk__conv_geo(s);
    const conv_plan pl = nk__conv_plan_forward(&g, threads);
    const int t = pl.threads;
    const int64_t xs = g.C * g.H * g.W, ys = g.K * g.P;
    switch (pl.path) {
    case NK_CONV_BIAS_ONLY: // no input channels
        for (int64_t n = 0; n < g.N; n++)
            for (int64_t k = 0; k < g.K; k++)
                for (int64_t p = 0; p < g.P; p++) y[n * ys + k * g.P + p] = bias ? bias[k] : 0;
        if (relu) nk__relu_copy(y, y, g.N * ys);
        return;
    case NK_CONV_SHIFTED: { // whole tiles of images per thread
        float *wpk = NULL;
        if (by_positions(&g, &pl)) {
            wpk = nk__alloc_floats(nk__sgemm_packed_b_floats(g.isa, g.CKK, g.K));
            nk__sgemm_pack_b(g.isa, 1, w, g.CKK, g.CKK, g.K, wpk);
        }
        images_forward_job job = {.g = &g, .pl = &pl, .x = x, .w = w, .bias = bias, .y = y,
                                  .xs = xs, .ys = ys, .relu = relu, .wpk = wpk};
        const int64_t ntiles = (g.N + pl.tile - 1) / pl.tile;
        nk__team_ranges(t > ntiles ? (int)ntiles : t, ntiles, 1, &job, shifted_tiles_range);
        free(wpk);
        return;
    }
    case NK_CONV_SIDE_BY_SIDE: forward_tiles(&g, &pl, x, w, bias, relu, y); return;
    case NK_CONV_PER_IMAGE: // whole images per thread
    case NK_CONV_IN_TURN: { // images in turn, threads inside im2col and the SGEMM
        const int per_image = pl.path == NK_CONV_PER_IMAGE;
        int64_t *woff = NULL;
        float *wp = g.N > 1 ? nk__conv_pack_weight_chunks(&g, t, 0, w, pl.chunk, &woff) : NULL;
        const int64_t colFloats = NK_MIN(pl.chunk, g.C) * g.KH * g.KW * g.P;
        const int ct = per_image ? 1 : (t > pl.chunk ? (int)pl.chunk : t);
        const int team = per_image ? t : 1;
        images_forward_job job = {&g, &pl, x, w, wp, bias, woff, y, xs, ys, colFloats,
                                  per_image ? 1 : t, ct, relu};
        nk__team_ranges(team, g.N, 1, &job, images_range);
        free(wp);
        free(woff);
        return;
    }
    default: return; // NK_CONV_NOTHING
    }
}
