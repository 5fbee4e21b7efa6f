// 2-D convolution, NCHW: declarations shared by its stages, one file each —
//   conv_geometry.c         shapes, im2col / col2im, tile layout, packed weights
//   conv_plan.c             the strategy of each call, chosen once; every threshold named there
//   conv_forward.c          y = conv(x, w) + bias
//   conv_backward_data.c    dx from dy
//   conv_backward_filter.c  dw, db from x and dy
//   conv_reference.c        the direct loops (the `_ref` twins, the tests' oracle)
// Shapes as in neurite.h.
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
// its thread count, so the result is too. Forward sums over the same chunks of channels on every
// path (conv_forward.c), so the results are also the same for every ISA. Backward-filter is a reduction over images: it runs over
// tiles of images whose size depends on the shape only (never on the thread count); a tile's
// columns are laid side by side (col_tile[C·KH·KW, T·OH·OW]) and one SGEMM adds dy_tile · col_tileᵀ
// into dw, the tiles in order. The SGEMM splits over dw's rows/columns, never over the sum, so no
// thread ever owns a partial sum that would have to be combined in a thread-dependent order. When
// dw is small (LeNet's) that SGEMM is too narrow to split, so the tiles run in parallel instead,
// each into its own partial dw, and the partials are added into dw in tile order afterwards.
//
// Small stride-1 convolutions (few filters) skip im2col altogether: over output rows as wide as
// the zero-padded input, each column-matrix row is a shifted run of the padded image, which the
// SGEMM packs from directly (forward_tile_shifted, and the shifted backward-filter tiles).
//
// Loops use schedule(static): the toolchain's clang emits __kmpc_dispatch_deinit for dynamic
// schedules, which Debian's libomp 14 lacks (link error).
//
// Workspace is bounded: a thread's scratch holds one image's columns; a backward-filter tile holds
// at most NK_CONV_TILE_FLOATS floats of columns (at least one image).
#ifndef NEURITE_CONV_INTERNAL_H
#define NEURITE_CONV_INTERNAL_H

#include "nn_internal.h"

// A convolution's geometry, from nk_conv2d_shape.
typedef struct conv_geo {
    int64_t N, C, H, W, K, KH, KW, sh, sw, pt, pl, pb, pr, OH, OW;
    int64_t P;    // OH·OW, columns per image
    int64_t CKK;  // C·KH·KW, rows of the column matrix
    int direct;   // 1×1, stride 1, unpadded: col is x
    // The kernel family of this call, resolved once: weights packed for one ISA's register tile
    // must be multiplied by the same ISA's kernels even if another thread changes the active ISA
    // meanwhile (nk_isa_set_active), so every SGEMM of the call names it.
    nk_isa isa;
} conv_geo;

conv_geo nk__conv_geo(const nk_conv2d_shape *s);

// How one call runs (conv_plan.c). Every path gives the same bits (see the overview above), so
// the choice may depend on the thread count; the tile and chunk sizes that fix a sum's order
// depend on the shape only.
typedef enum conv_path {
    NK_CONV_NOTHING,       // empty output (or input)
    NK_CONV_BIAS_ONLY,     // forward without input channels: y = bias
    NK_CONV_ZERO,          // backward-data with an empty output: dx = 0
    NK_CONV_SHIFTED,       // forward: SGEMM over shifted rows of `tile` padded images side by side, whole tiles per thread
    NK_CONV_SIDE_BY_SIDE,  // forward / backward-data: `tile` images side by side, `chunk` channels at a time
    NK_CONV_TILES,         // backward-data, one thread: one SGEMM per tile of `tile` images
    NK_CONV_PER_IMAGE,     // whole images per thread: im2col + single-threaded SGEMM
    NK_CONV_IN_TURN,       // images in turn, threads inside im2col / col2im and the SGEMM
    NK_CONV_FILTER_SHIFTED_PARTIALS, // backward-filter: tiles in parallel into partial dw, shifted rows
    NK_CONV_FILTER_PARTIALS,         // backward-filter: tiles in parallel into partial dw, im2col
    NK_CONV_FILTER_CHUNKS,           // backward-filter: per image, `chunk` channels at a time
    NK_CONV_FILTER_TILES,            // backward-filter: tiles of `tile` images in turn, into dw
} conv_path;

// How the shifted partials compute a tile's dw[K, CKK] (conv_plan.c chooses). Dots give other bits
// than the SGEMMs (a 16-lane sum, not an in-order one), so whether they are used depends on the
// shape only; the two SGEMM forms give the same bits, so the choice between them may depend on the
// ISA's register tile.
typedef enum conv_filter_form {
    NK_FILTER_SGEMM,            // dw = dy · colᵀ, the shifted rows B, packed
    NK_FILTER_SGEMM_TRANSPOSED, // dwᵀ = col · dyᵀ, the shifted rows A, read in place
    NK_FILTER_DOTS,             // each element a dot product of a dy row and a shifted row
} conv_filter_form;

typedef struct conv_plan {
    conv_path path;
    int threads;     // team size for the call
    int64_t tile;    // images per tile (side by side, tiles, filter tiles)
    int64_t chunk;   // channels per chunk (side by side, filter chunks)
    int bias_threads; // backward-filter: team for db's per-image sums (paths without tiles of partials)
    conv_filter_form form; // backward-filter, shifted partials: how a tile's dw is computed
} conv_plan;

conv_plan nk__conv_plan_forward(const conv_geo *g, int threads);
conv_plan nk__conv_plan_backward_data(const conv_geo *g, int threads);
conv_plan nk__conv_plan_backward_filter(const conv_geo *g, int threads);
// The thread count for a convolution of this size (nk__threads with the planner's work grain).
int nk__conv_threads(const conv_geo *g, int threads);

// conv_geometry.c
void nk__im2col(const conv_geo *g, const float *x, float *col, int64_t ldcol, int64_t c0, int64_t c1);
void nk__col2im(const conv_geo *g, const float *dcol, int64_t ldcol, float *dx, int64_t c0, int64_t c1);
void nk__conv_fill_tile(const conv_geo *g, int ct, const float *x, const float *dy, int64_t n0,
                        int64_t tn, int64_t ld, float *col, float *dyt);
void nk__conv_fill_bias(int64_t K, int64_t cols, int64_t ld, const float *bias, float *y);
void nk__conv_add_partials(int64_t parts, int64_t n, const float *part, float *dst);
float *nk__conv_pack_weights(const conv_geo *g, int threads, int transA, const float *w, int64_t products);
float *nk__conv_pack_weight_chunks(const conv_geo *g, int threads, int transA, const float *w,
                                   int64_t chunk, int64_t **offsets);

// Shifted rows (conv_geometry.c): the image zero-padded into xp[C, Hp, Wp]; row (c, i, j) of the
// column matrix, over output rows Wp wide, is xp + c·Hp·Wp + i·Wp + j.
// The shifted forward's scratch for tiles of `tile` images side by side: xp[C, Hp, tile·Wp] (zero
// padding around each image's slot), yp[K, OH·tile·Wp], rows[CKK] into xp.
typedef struct shifted_scratch { float *xp, *yp; const float **rows; int64_t tile; } shifted_scratch;
shifted_scratch nk__shifted_alloc(const conv_geo *g, int64_t tile);
void nk__shifted_free(shifted_scratch *sc);

#endif
