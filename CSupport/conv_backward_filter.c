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

// db[k] += Σ_n Σ_p dy[n][k][p]: each image's sum in float (sum_floats), taken by whichever thread
// handles the image, then the images' sums added in image order in double (fold_image_sums), so
// the bits do not depend on the thread count. The partials paths take an image's sums in its
// tile, which reads dy anyway; the others in a pass over images of their own (image_sums_range).
static void image_sums_of(const conv_geo *g, const float *dyn, float *sums_n) {
    for (int64_t k = 0; k < g->K; k++) sums_n[k] = sum_floats(dyn + k * g->P, g->P);
}

static void image_sums(const conv_geo *g, const float *dy, float *sums, int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) image_sums_of(g, dy + n * g->K * g->P, sums + n * g->K);
}

// db[k] += Σ_n sums[n][k], images in order, in double.
static void fold_image_sums(const conv_geo *g, const float *sums, float *db) {
    for (int64_t k = 0; k < g->K; k++) {
        double acc = 0;
        for (int64_t n = 0; n < g->N; n++) acc += sums[n * g->K + k];
        db[k] += (float)acc;
    }
}

typedef struct image_sums_job {
    const conv_geo *g;
    const float *dy;
    float *sums;
} image_sums_job;

static void image_sums_range(void *context, int64_t begin, int64_t end) {
    const image_sums_job *job = context;
    image_sums(job->g, job->dy, job->sums, begin, end);
}

// The partials paths' operands: tiles [begin, end) of the batch, each into its own partial
// part[ti·KC : (ti + 1)·KC], the ranges on the kernels' team (a range's scratch is its own).
typedef struct filter_tiles_job {
    const conv_geo *g;
    const float *x, *dy;
    float *part;       // ntiles partial dw, KC floats each
    int64_t tile, ld;  // images per tile, columns of a tile's matrices
    conv_filter_form form; // shifted partials: the plan's form of a tile's dw
    float *sums;       // db's per-image sums [N, K] (image_sums), or NULL
    // Shifted partials only: dy given as the max pooling after the convolution routes its pooled
    // gradient (dy NULL; see nk_conv2d_backward_filter_pooled): pooled_dy and argmax [N, K,
    // pooled], each arg-max an index into its [OH, OW] plane.
    const nk_pool2d_shape *pool;
    const float *pooled_dy;
    const int32_t *argmax;
    int64_t pooled;
} filter_tiles_job;

// Image n's dy: in place, or its K planes routed into `scratch` (K·P floats) from the pooled
// gradient by the pooling's own backward (the 2×2 stride-2 row kernels where they serve).
static const float *image_dy(const filter_tiles_job *job, int64_t n, float *scratch) {
    const conv_geo *g = job->g;
    if (job->dy) return job->dy + n * g->K * g->P;
    const int64_t first = n * g->K * job->pooled;
    nk__maxpool2d_backward_planes(job->pool, g->K, job->pooled_dy + first, job->argmax + first, scratch);
    return scratch;
}

// Shifted partials: the tiles' columns read as shifted rows of their images laid side by side
// (see the NK_CONV_FILTER_SHIFTED_PARTIALS branch below).
static void filter_tiles_shifted(void *context, int64_t begin, int64_t end) {
    const filter_tiles_job *job = context;
    const conv_geo *g = job->g;
    const int64_t tile = job->tile, ys = g->K * g->P, KC = g->K * g->CKK;
    const int64_t Hp = g->H + g->pt + g->pb, Wp = g->W + g->pl + g->pr, wmax = tile * Wp;
    const int64_t xtn = g->C * Hp * wmax + g->KW, dtn = g->K * g->OH * wmax;
    float *xt = nk__alloc_floats(xtn), *dt = nk__alloc_floats(dtn), *pt = job->form == NK_FILTER_SGEMM_TRANSPOSED ? nk__alloc_floats(KC) : NULL;
    const float **rows = (const float **)malloc((size_t)g->CKK * sizeof(float *));
    float *routed = job->dy ? NULL : nk__alloc_floats(ys); // one image's dy, routed from the pooled gradient
    if (!rows) abort();
    int64_t laid = -1; // tile width the zeroed layout is for
    for (int64_t ti = begin; ti < end; ti++) {
        const int64_t n0 = ti * tile, tn = NK_MIN(tile, g->N - n0), wt = tn * Wp;
        if (laid != tn) { // padding and garbage columns: zero, once per layout
            memset(xt, 0, (size_t)xtn * sizeof(float));
            memset(dt, 0, (size_t)dtn * sizeof(float));
            for (int64_t c = 0; c < g->C; c++)
                for (int64_t i = 0; i < g->KH; i++)
                    for (int64_t j = 0; j < g->KW; j++)
                        rows[(c * g->KH + i) * g->KW + j] = xt + c * Hp * wt + i * wt + j;
            laid = tn;
        }
        for (int64_t im = 0; im < tn; im++) {
            const float *xi = job->x + (n0 + im) * g->C * g->H * g->W;
            const float *di = image_dy(job, n0 + im, routed);
            if (job->sums) image_sums_of(g, di, job->sums + (n0 + im) * g->K);
            for (int64_t c = 0; c < g->C; c++)
                for (int64_t h = 0; h < g->H; h++)
                    memcpy(xt + c * Hp * wt + (h + g->pt) * wt + im * Wp + g->pl,
                           xi + (c * g->H + h) * g->W, (size_t)g->W * sizeof(float));
            for (int64_t k = 0; k < g->K; k++)
                for (int64_t oh = 0; oh < g->OH; oh++)
                    memcpy(dt + k * g->OH * wt + oh * wt + im * Wp, di + (k * g->OH + oh) * g->OW,
                           (size_t)g->OW * sizeof(float));
        }
        const int64_t n = (g->OH - 1) * wt + (tn - 1) * Wp + g->OW; // to the last real column
        float *dst = job->part + ti * KC;
        if (job->form == NK_FILTER_DOTS)
            nk_kernels_for(g->isa)->row_dots(g->K, dt, g->OH * wt, g->CKK, rows, n, dst, g->CKK);
        else if (job->form == NK_FILTER_SGEMM_TRANSPOSED) {
            // dstᵀ[CKK, K] = col · dtᵀ, the shifted rows the SGEMM's A, read in place (see
            // conv_plan.c). Each element is the same in-order sum of the same products as
            // dt · colᵀ, so the bits are the untransposed product's. Only the real columns take
            // part (column p is real when p mod Wp < OW; the Wp − OW others have dt = 0): LeNet's
            // conv2 skips 4 of every 14, and its filter gradient (batch 64, Zen 4, best of 400
            // calls, 3 interleaved runs) went 451 -> 347 us at 1 thread, 241 -> 188-196 at 2
            // (AVX2: 439 -> 339-343 us). Leaving out a zero product changes no sum, so the bits
            // are those of every column for finite inputs (the ISAs without the kernel take them
            // all; the kernel tests compare the ISAs bitwise).
            nk__sgemm_arows_runs(g->isa, g->CKK, g->K, n, rows, Wp, g->OW, 1, dt, g->OH * wt, 0.0f, pt, g->K);
            for (int64_t k = 0; k < g->K; k++)
                for (int64_t r = 0; r < g->CKK; r++) dst[k * g->CKK + r] = pt[r * g->K + k];
        } else nk__sgemm_brows(g->isa, 1, g->K, g->CKK, n, dt, g->OH * wt, rows, 0.0f, dst, g->CKK);
    }
    free(xt);
    free(dt);
    free(pt);
    free(routed);
    free((void *)rows);
}

// Partials: each tile through im2col and a one-thread SGEMM into its partial.
static void filter_tiles_partials(void *context, int64_t begin, int64_t end) {
    const filter_tiles_job *job = context;
    const conv_geo *g = job->g;
    const int64_t tile = job->tile, ld = job->ld, KC = g->K * g->CKK;
    float *col = nk__alloc_floats(g->CKK * ld);
    float *dyt = tile > 1 ? nk__alloc_floats(g->K * ld) : NULL;
    for (int64_t ti = begin; ti < end; ti++) {
        const int64_t n0 = ti * tile, tn = NK_MIN(tile, g->N - n0);
        if (job->sums) image_sums(g, job->dy, job->sums, n0, n0 + tn);
        nk__conv_fill_tile(g, 1, job->x, job->dy, n0, tn, ld, col, dyt);
        filter_tile_gemm(g, 1, job->dy, n0, tn, ld, col, dyt, 0.0f, job->part + ti * KC);
    }
    free(col);
    free(dyt);
}

// The chunks path's im2col: channels [begin, end) of a chunk of one image (ranges on the kernels'
// team), each channel writing its own rows of col.
typedef struct chunk_im2col_job {
    const conv_geo *g;
    const float *xc;  // the chunk's first channel of the image
    float *col;
} chunk_im2col_job;

static void chunk_im2col_channels(void *context, int64_t begin, int64_t end) {
    const chunk_im2col_job *job = context;
    for (int64_t c = begin; c < end; c++) nk__im2col(job->g, job->xc, job->col, job->g->P, c, c + 1);
}

// The shifted partials path for `job` (its part allocated here, sums when db): as the tiles'
// SGEMMs below, with each tile's columns read as shifted rows of the tile's images zero-padded side
// by side (see forward_tile_shifted): xt[c][Hp][tn·Wp], output rows tn·Wp wide, dy spread to
// match with zeros in the garbage columns, so no im2col pass is made.
static void shifted_partials(const conv_plan *pl, filter_tiles_job *job, float *dw, float *db) {
    const conv_geo *g = job->g;
    const int64_t ntiles = (g->N + pl->tile - 1) / pl->tile, KC = g->K * g->CKK;
    job->part = nk__alloc_floats(ntiles * KC);
    const int tt = pl->threads > ntiles ? (int)ntiles : pl->threads;
    nk__team_ranges(tt, ntiles, 1, job, filter_tiles_shifted);
    nk__conv_add_partials(ntiles, KC, job->part, dw);
    if (job->sums) fold_image_sums(g, job->sums, db);
    free(job->part);
    free(job->sums);
}

void nk_conv2d_backward_filter(const nk_conv2d_shape *s, int threads, const float *x,
                               const float *dy, float *dw, float *db) {
    const conv_geo g = nk__conv_geo(s);
    const conv_plan pl = nk__conv_plan_backward_filter(&g, threads);
    if (pl.path == NK_CONV_NOTHING && (g.N <= 0 || g.K <= 0 || g.P <= 0)) return;
    const int64_t ys = g.K * g.P;
    const int t = pl.threads;

    const int partials = pl.path == NK_CONV_FILTER_SHIFTED_PARTIALS || pl.path == NK_CONV_FILTER_PARTIALS;
    float *sums = db ? nk__alloc_floats(g.N * g.K) : NULL; // db's per-image sums (image_sums)
    if (db && !partials) {
        image_sums_job job = {&g, dy, sums};
        nk__team_ranges(pl.bias_threads, g.N, 1, &job, image_sums_range);
        fold_image_sums(&g, sums, db);
        free(sums);
        sums = NULL;
    }
    if (pl.path == NK_CONV_NOTHING) return; // no input channels: db only

    const int64_t tile = pl.tile;
    const int64_t ld = tile * g.P; // columns of a tile's matrices
    const int64_t ntiles = (g.N + tile - 1) / tile, KC = g.K * g.CKK;

    if (pl.path == NK_CONV_FILTER_SHIFTED_PARTIALS) {
        filter_tiles_job job = {&g, x, dy, NULL, tile, ld, pl.form, sums, NULL, NULL, NULL, 0};
        shifted_partials(&pl, &job, dw, db);
        return;
    }

    if (pl.path == NK_CONV_FILTER_PARTIALS) {
        // Small filters (LeNet's: dw is 150 or 2 400 floats) make SGEMMs too narrow to split. The
        // tiles run in parallel instead, each into its own partial dw, and the partials are added
        // into dw in tile order: the same sums in the same order for every thread count.
        float *part = nk__alloc_floats(ntiles * KC);
        const int tt = t > ntiles ? (int)ntiles : t;
        filter_tiles_job job = {&g, x, dy, part, tile, ld, pl.form, sums};
        nk__team_ranges(tt, ntiles, 1, &job, filter_tiles_partials);
        nk__conv_add_partials(ntiles, KC, part, dw);
        if (sums) fold_image_sums(&g, sums, db);
        free(part);
        free(sums);
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
                const int ct = t > nc ? (int)nc : t;
                chunk_im2col_job job = {&g, xn + c0 * g.H * g.W, col};
                nk__team_ranges(ct, nc, 1, &job, chunk_im2col_channels);
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

// The max pooling after the convolution (pool: its input is the convolution's output, [N, K, OH,
// OW]) turns the pooled gradient into dy; on the shifted partials path each image's dy is routed
// by the pooling's backward into a small scratch where the tile reads it (image_dy), instead of
// being written whole and read back: LeNet-5's conv1, 1.2 MB of dy a batch (a quarter of it
// nonzero) that the pooling's backward wrote and this path then copied into its tiles. The same
// values, so the bits of dw and db are those of the two calls. Other paths take dy whole.
void nk_conv2d_backward_filter_pooled(const nk_conv2d_shape *s, int threads, const float *x,
                                      const nk_pool2d_shape *pool, const float *pooled_dy,
                                      const int32_t *argmax, float *dw, float *db) {
    const conv_geo g = nk__conv_geo(s);
    const int64_t pooled = nk_pool2d_output_size(pool, NULL, NULL);
    if (pool->batch != g.N || pool->channels != g.K || pool->in_h != g.OH || pool->in_w != g.OW || pooled < 0)
        abort(); // a pooling of another shape: a programming error (the wrappers check shapes)
    const conv_plan pl = nk__conv_plan_backward_filter(&g, threads);
    if (pl.path == NK_CONV_FILTER_SHIFTED_PARTIALS && g.N > 0 && g.K > 0 && g.P > 0) {
        const int64_t ld = pl.tile * g.P;
        filter_tiles_job job = {&g, x, NULL, NULL, pl.tile, ld, pl.form, db ? nk__alloc_floats(g.N * g.K) : NULL,
                                pool, pooled_dy, argmax, pooled};
        shifted_partials(&pl, &job, dw, db);
        return;
    }
    float *dy = nk__alloc_floats(g.N * g.K * g.P);
    nk_maxpool2d_backward(pool, threads, pooled_dy, argmax, dy);
    nk_conv2d_backward_filter(s, threads, x, dy, dw, db);
    free(dy);
}
