// Convolution geometry and layout, shared by the stages (conv_internal.h): output sizes, the
// column matrix (im2col / col2im), images laid side by side, bias fill, partial sums, the weights
// packed once per call, and the zero-padded image of the shifted-rows paths.
#include "conv_internal.h"

int64_t nk_window_output_extent(int64_t in, int64_t pad_lo, int64_t pad_hi, int64_t window,
                                int64_t stride) {
    if (in < 1 || window < 1 || stride < 1 || pad_lo < 0 || pad_hi < 0) return -1;
    const int64_t padded = in + pad_lo + pad_hi;
    return padded < window ? -1 : (padded - window) / stride + 1;
}

int64_t nk_conv2d_output_size(const nk_conv2d_shape *s, int64_t *out_h, int64_t *out_w) {
    const int64_t oh = nk_window_output_extent(s->in_h, s->pad_top, s->pad_bottom, s->kernel_h, s->stride_h);
    const int64_t ow = nk_window_output_extent(s->in_w, s->pad_left, s->pad_right, s->kernel_w, s->stride_w);
    if (oh < 0 || ow < 0) return -1;
    if (out_h) *out_h = oh;
    if (out_w) *out_w = ow;
    return oh * ow;
}

conv_geo nk__conv_geo(const nk_conv2d_shape *s) {
    conv_geo g;
    g.N = s->batch; g.C = s->in_channels; g.H = s->in_h; g.W = s->in_w; g.K = s->out_channels;
    g.KH = s->kernel_h; g.KW = s->kernel_w; g.sh = s->stride_h; g.sw = s->stride_w;
    g.pt = s->pad_top; g.pl = s->pad_left; g.pb = s->pad_bottom; g.pr = s->pad_right;
    g.OH = g.OW = 0;
    if (nk_conv2d_output_size(s, &g.OH, &g.OW) < 0) g.OH = g.OW = 0;
    g.P = g.OH * g.OW;
    g.CKK = g.C * g.KH * g.KW;
    g.isa = nk_isa_active();
    g.direct = g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 &&
               s->pad_bottom == 0 && s->pad_right == 0;
    return g;
}

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
void nk__im2col(const conv_geo *g, const float *x, float *col, int64_t ldcol, int64_t c0,
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
// Stride-1 col2im gathered row by row: dx row h of channel c takes, for every (i, j) of the kernel
// with output row oh = h + pt - i inside [0, OH), dcol row (c, i, j) at oh shifted by pl - j, over
// the columns w whose output column w + pl - j is inside [0, OW) — in (i, j) order, the order the
// scatter below adds them, so both give the same bits. The terms of row h are the same for every
// channel (offsets from the channel's first dcol row), so the kernel table's shifted_sum runs all
// the channels' row h at once.
static void col2im_rows(const conv_geo *g, const float *dcol, int64_t ldcol, float *dx, int64_t c0,
                        int64_t c1) {
    const nk_shifted_sum_fn sum = nk_kernels_for(g->isa)->shifted_sum;
    int64_t off[NK_SHIFTED_SUM_MAX_TERMS], lo[NK_SHIFTED_SUM_MAX_TERMS], hi[NK_SHIFTED_SUM_MAX_TERMS];
    const int64_t KK = g->KH * g->KW;
    for (int64_t h = 0; h < g->H; h++) {
        int terms = 0;
        for (int64_t i = 0; i < g->KH; i++) {
            const int64_t oh = h + g->pt - i;
            if (oh < 0 || oh >= g->OH) continue;
            for (int64_t j = 0; j < g->KW; j++) {
                off[terms] = (i * g->KW + j) * ldcol + oh * g->OW + g->pl - j;
                lo[terms] = NK_MAX((int64_t)0, j - g->pl);
                hi[terms] = NK_MIN(g->W, j - g->pl + g->OW);
                terms++;
            }
        }
        sum(c1 - c0, dcol + c0 * KK * ldcol, KK * ldcol, off, lo, hi, terms, g->W,
            dx + (c0 * g->H + h) * g->W, g->H * g->W);
    }
}

void nk__col2im(const conv_geo *g, const float *dcol, int64_t ldcol, float *dx, int64_t c0,
                   int64_t c1) {
    if (g->sh == 1 && g->sw == 1 && g->KH * g->KW <= NK_SHIFTED_SUM_MAX_TERMS) {
        col2im_rows(g, dcol, ldcol, dx, c0, c1);
        return;
    }
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

// nk__conv_fill_tile's operands, for its ranges of (image, channel) items on the kernels' team.
typedef struct fill_tile_job {
    const conv_geo *g;
    const float *x, *dy;
    int64_t n0, ld, per; // first image, row length of col and dyt, items per image
    float *col, *dyt;
    int do_dy;           // dy laid out into dyt (dyt not NULL and more than one image)
} fill_tile_job;

static void fill_tile_items(void *context, int64_t begin, int64_t end) {
    const fill_tile_job *job = context;
    const conv_geo *g = job->g;
    const int64_t xs = g->C * g->H * g->W, ys = g->K * g->P;
    const int64_t n0 = job->n0, ld = job->ld, per = job->per;
    float *col = job->col, *dyt = job->dyt;
    const int do_dy = job->do_dy;
    for (int64_t it = begin; it < end; it++) {
        int64_t i = it / per, c = it % per;
        const float *xi = job->x ? job->x + (n0 + i) * xs : NULL;
        if (col && c < g->C) {
            if (g->direct) {
                memcpy(col + c * ld + i * g->P, xi + c * g->P, (size_t)g->P * sizeof(float));
            } else {
                nk__im2col(g, xi, col + i * g->P, ld, c, c + 1);
            }
        }
        if (do_dy && c < g->K)
            memcpy(dyt + c * ld + i * g->P, job->dy + (n0 + i) * ys + c * g->P, (size_t)g->P * sizeof(float));
    }
}

// Lays images [n0, n0 + tn) side by side: col[:, i·P + p] (rows of length ld; skipped when col is
// NULL) and, when dyt is not NULL and tn > 1, dyt[k][i·P + p]. Work items are (image, channel) pairs so small tiles still keep `ct` threads busy.
void nk__conv_fill_tile(const conv_geo *g, int ct, const float *x, const float *dy, int64_t n0,
                      int64_t tn, int64_t ld, float *col, float *dyt) {
    const int do_dy = dyt && tn > 1;
    const int64_t per = NK_MAX(col ? g->C : 0, do_dy ? g->K : 0);
    const int64_t items = tn * per;
    if (items == 0) return;
    if (ct > items) ct = (int)items;
    fill_tile_job job = {g, x, dy, n0, ld, per, col, dyt, do_dy};
    nk__team_ranges(ct, items, 1, &job, fill_tile_items);
}

// y[k][q] = bias[k] for q < cols (rows ld apart): the SGEMM then adds w · col with beta 1, so
// every path adds the bias first and the products after, in the same order.
void nk__conv_fill_bias(int64_t K, int64_t cols, int64_t ld, const float *bias, float *y) {
    for (int64_t k = 0; k < K; k++) {
        const float b = bias[k];
        float *yk = y + k * ld;
        for (int64_t q = 0; q < cols; q++) yk[q] = b;
    }
}

// dst[e] += part[t·n + e] for the parts t = 0, 1, ... in order: partial sums folded in a fixed
// order, whoever computed them.
void nk__conv_add_partials(int64_t parts, int64_t n, const float *part, float *dst) {
    for (int64_t t = 0; t < parts; t++) {
        const float *pt = part + t * n;
        for (int64_t e = 0; e < n; e++) dst[e] += pt[e];
    }
}

// The weights packed once per call as the SGEMM's A operand, w[K, CKK] (transA 0, forward) or
// wᵀ[CKK, K] (transA 1, backward-data): every image or tile then reuses them instead of packing
// them again (AlexNet conv4: a 384 x 2304 block, 16 times per call). NULL when packing once
// cannot pay (one product per call).
float *nk__conv_pack_weights(const conv_geo *g, int threads, int transA, const float *w, int64_t products) {
    if (products < 2) return NULL;
    const int64_t M = transA ? g->CKK : g->K, K = transA ? g->K : g->CKK;
    float *wp = nk__alloc_floats(nk__sgemm_packed_a_floats(g->isa, M, K));
    nk__sgemm_pack_a(g->isa, threads, transA, M, K, w, g->CKK, wp);
    return wp;
}

// The weights packed once per call by chunks of `chunk` input channels: chunk ch's block of
// w[:, c0·KK : c1·KK] (transA 0, forward) or of its transpose (transA 1, backward-data) starts at
// wp + (*offsets)[ch]. The caller frees both.
float *nk__conv_pack_weight_chunks(const conv_geo *g, int threads, int transA, const float *w,
                                   int64_t chunk, int64_t **offsets) {
    const int64_t KK = g->KH * g->KW, nch = (g->C + chunk - 1) / chunk;
    int64_t *off = (int64_t *)malloc((size_t)(nch + 1) * sizeof(int64_t));
    if (!off) abort();
    off[0] = 0;
    for (int64_t ch = 0; ch < nch; ch++) {
        const int64_t rows = (NK_MIN(g->C, (ch + 1) * chunk) - ch * chunk) * KK;
        const int64_t floats = transA ? nk__sgemm_packed_a_floats(g->isa, rows, g->K) : nk__sgemm_packed_a_floats(g->isa, g->K, rows);
        off[ch + 1] = off[ch] + (floats + 15) / 16 * 16;
    }
    float *wp = nk__alloc_floats(off[nch]);
    for (int64_t ch = 0; ch < nch; ch++) {
        const int64_t c0 = ch * chunk, rows = (NK_MIN(g->C, c0 + chunk) - c0) * KK;
        if (transA) nk__sgemm_pack_a(g->isa, threads, 1, rows, g->K, w + c0 * KK, g->CKK, wp + off[ch]);
        else nk__sgemm_pack_a(g->isa, threads, 0, g->K, rows, w + c0 * KK, g->CKK, wp + off[ch]);
    }
    *offsets = off;
    return wp;
}

shifted_scratch nk__shifted_alloc(const conv_geo *g, int64_t tile) {
    const int64_t Hp = g->H + g->pt + g->pb, Wp = g->W + g->pl + g->pr, wt = tile * Wp;
    shifted_scratch sc;
    sc.tile = tile;
    const int64_t xpn = g->C * Hp * wt + g->KW;
    sc.xp = nk__alloc_floats(xpn);
    memset(sc.xp, 0, (size_t)xpn * sizeof(float)); // the padding stays zero for every image
    sc.yp = nk__alloc_floats(g->K * g->OH * wt);
    sc.rows = (const float **)malloc((size_t)g->CKK * sizeof(float *));
    if (!sc.rows) abort();
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t i = 0; i < g->KH; i++)
            for (int64_t j = 0; j < g->KW; j++)
                sc.rows[(c * g->KH + i) * g->KW + j] = sc.xp + c * Hp * wt + i * wt + j;
    return sc;
}

void nk__shifted_free(shifted_scratch *sc) { free(sc->xp); free(sc->yp); free((void *)sc->rows); }

