// Portable kernels (the "ref" row of the kernel table, and the model every SIMD file follows):
// SGEMM microkernel 4x16, the packers and the max-pooling row. Contracts: internal.h.
// Plain C the compiler vectorises for the baseline target.
#include "internal.h"

#include <math.h>

#define MR 4
#define NR 16

// C[mr x nr] = alpha * A . B + beta * C, A(i, p) = A[i*rsa + p*csa], B(p, j) = B[p*rsb + j].
// Each product is added with one fmaf, in order over p, as the SIMD kernels' FMAs do: the same
// bits as every other row of the kernel table. An x86-64 CPU without FMA (before 2013) gets the
// clone that calls libm's (exact, slow) fmaf; every other one the hardware instruction. (Clones
// need ifunc, an ELF feature: elsewhere the baseline build calls fmaf.)
#if defined(__x86_64__) && defined(__ELF__)
__attribute__((target_clones("fma", "default")))
#endif
static void nk_f32_gemm_ukernel_4x16__ref_strided(int64_t kc, const float *A, int64_t rsa, int64_t csa,
                                           const float *B, int64_t rsb, float alpha, float beta,
                                           float *C, int64_t ldc, int mr, int nr) {
    float acc[MR][NR] = {{0}};
    for (int64_t p = 0; p < kc; p++)
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++) acc[i][j] = fmaf(A[i * rsa + p * csa], B[p * rsb + j], acc[i][j]);
    for (int i = 0; i < mr; i++) {
        float *c = C + (int64_t)i * ldc;
        if (beta == 0) {
            for (int j = 0; j < nr; j++) c[j] = alpha * acc[i][j];
        } else {
            for (int j = 0; j < nr; j++) c[j] = fmaf(alpha, acc[i][j], beta * c[j]);
        }
    }
}

// C[mr x nr] = alpha * Ap[MR x kc] . Bp[kc x NR] + beta * C: the packed panels are the strided
// case rsa = 1, csa = MR, rsb = NR.
static void nk_f32_gemm_ukernel_4x16__ref(int64_t kc, const float *Ap, const float *Bp, float alpha,
                                   float beta, float *C, int64_t ldc, int mr, int nr) {
    nk_f32_gemm_ukernel_4x16__ref_strided(kc, Ap, 1, MR, Bp, NR, alpha, beta, C, ldc, mr, nr);
}

#define NK_SRC_ROW(k) (rows ? rows[(k)] + col0 : src + (int64_t)(k) * lds)

static void nk_f32_pack_copy__ref(const float *src, int64_t lds, const float *const *rows, int64_t col0,
                           int n, int64_t kc, int R, float *restrict dst) {
    for (int64_t p = 0; p < kc; p++) {
        const float *restrict s = NK_SRC_ROW(p);
        float *restrict d = dst + p * R;
        int j = 0;
        for (; j < n; j++) d[j] = s[j];
        for (; j < R; j++) d[j] = 0;
    }
}

static void nk_f32_pack_transpose__ref(const float *src, int64_t lds, const float *const *rows,
                                int64_t col0, int n, int64_t kc, int R, float *restrict dst) {
    int i = 0;
    for (; i < n; i++) {
        const float *restrict s = NK_SRC_ROW(i);
        for (int64_t p = 0; p < kc; p++) dst[p * R + i] = s[p];
    }
    for (; i < R; i++)
        for (int64_t p = 0; p < kc; p++) dst[p * R + i] = 0;
}

// The window offsets outermost and the outputs innermost: a branch-free sweep over the caller's
// arrays that the compiler vectorises where it can (the select below is not a branch).
static inline __attribute__((always_inline)) void
maxpool_sweep(const float *restrict x0, int64_t W, int64_t KH, int64_t KW, const int64_t sw,
              int64_t n, const int want_arg, float *restrict best, int32_t *restrict arg) {
    for (int64_t o = 0; o < n; o++) best[o] = x0[o * sw];
    if (want_arg)
        for (int64_t o = 0; o < n; o++) arg[o] = (int32_t)(o * sw);
    for (int64_t i = 0; i < KH; i++)
        for (int64_t j = i == 0 ? 1 : 0; j < KW; j++) {
            const float *restrict r = x0 + i * W + j;
            const int32_t off = (int32_t)(i * W + j);
            const int32_t n32 = (int32_t)n, sw32 = (int32_t)sw;
            for (int32_t o = 0; o < n32; o++) {
                float v = r[o * sw32], b = best[o];
                int32_t t = -(int32_t)nk__max_takes(v, b); // all ones or zero
                best[o] = t ? v : b;
                if (want_arg) arg[o] = (arg[o] & ~t) | ((off + o * sw32) & t);
            }
        }
}

// Dispatches on the stride so the common strides get constant-stride loops.
void nk_f32_maxpool_row__ref(const float *x0, int64_t W, int64_t KH, int64_t KW, int64_t sw,
                             int64_t n, float *best, int32_t *arg) {
    NK_MAXPOOL_ROW_SPECIALISED(maxpool_sweep, x0, W, KH, KW, sw, n, best, arg);
}

// The 2×2 stride-2 row, one window at a time (also the avx2 row's: measured no slower there than
// the general row kernel, whose staging it skips).
void nk_f32_maxpool_2x2_row__ref(const float *r0, int64_t W, int64_t n, int32_t base, float *y, int32_t *arg) {
    const float *r1 = r0 + W;
    for (int64_t o = 0; o < n; o++) {
        const float v[4] = {r0[2 * o], r0[2 * o + 1], r1[2 * o], r1[2 * o + 1]};
        const int32_t off[4] = {(int32_t)(2 * o), (int32_t)(2 * o + 1), (int32_t)(W + 2 * o), (int32_t)(W + 2 * o + 1)};
        float best = v[0];
        int32_t at = off[0];
        for (int j = 1; j < 4; j++) {
            int t = nk__max_takes(v[j], best);
            best = t ? v[j] : best;
            at = t ? off[j] : at;
        }
        y[o] = best;
        if (arg) arg[o] = base + at;
    }
}

void nk_f32_maxpool_2x2_backward_row__ref(const float *dy, const int32_t *arg, int64_t n, int32_t base, int64_t W,
                                         float *dx) {
    float *d1 = dx + W;
    for (int64_t o = 0; o < n; o++) {
        const int64_t a = (int64_t)arg[o] - base; // 64-bit: any int32 arg, no overflow
        const float g = 0.0f + dy[o];
        dx[2 * o] = a == 2 * o ? g : 0.0f;
        dx[2 * o + 1] = a == 2 * o + 1 ? g : 0.0f;
        d1[2 * o] = a == W + 2 * o ? g : 0.0f;
        d1[2 * o + 1] = a == W + 2 * o + 1 ? g : 0.0f;
    }
}

void nk_f32_shifted_sum__ref(int64_t rows, const float *src, int64_t lds, const int64_t *off,
                             const int64_t *lo, const int64_t *hi, int terms, int64_t n, float *dst,
                             int64_t ldd) {
    for (int64_t r = 0; r < rows; r++)
        for (int t = 0; t < terms; t++)
            for (int64_t w = NK_MAX(lo[t], (int64_t)0); w < NK_MIN(hi[t], n); w++)
                dst[r * ldd + w] += src[r * lds + off[t] + w];
}

// Dot products of rows (contract nk_row_dots_fn): the 16 lanes as an array, one fmaf a product.
#if defined(__x86_64__) && defined(__ELF__)
__attribute__((target_clones("fma", "default")))
#endif
static void nk_f32_row_dots__ref(int64_t ka, const float *a, int64_t lda, int64_t rb,
                                 const float *const *brows, int64_t n, float *out, int64_t ldo) {
    enum { L = NK_DOT_LANES };
    for (int64_t k = 0; k < ka; k++)
        for (int64_t r = 0; r < rb; r++) {
            const float *x = a + k * lda, *y = brows[r];
            float lane[L] = {0};
            for (int64_t p = 0; p < n; p++) lane[p % L] = fmaf(x[p], y[p], lane[p % L]);
            for (int w = L / 2; w > 0; w >>= 1)
                for (int l = 0; l < w; l++) lane[l] += lane[l + w];
            out[k * ldo + r] = lane[0];
        }
}

void nk_f32_dropout_streams__ref(uint64_t *state, int64_t n, uint32_t threshold, float scale,
                                 const float *x, float *y, uint16_t *keep) {
    enum { L = NK_DROPOUT_STREAMS };
    uint64_t *s0 = state, *s1 = state + L, *s2 = state + 2 * L, *s3 = state + 3 * L;
    for (int64_t v0 = 0; v0 < n; v0 += 2 * L) {
        uint16_t word = 0;
        for (int l = 0; l < L; l++) {
            const uint64_t m5 = s1[l] * 5, d = ((m5 << 7) | (m5 >> 57)) * 9, t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = (s3[l] << 45) | (s3[l] >> 19);
            const uint32_t u[2] = {(uint32_t)(d >> 40), (uint32_t)((d >> 8) & 0xFFFFFF)};
            for (int h = 0; h < 2; h++) {
                const int64_t v = v0 + 2 * l + h;
                if (v >= n) break;
                const int kept = u[h] < threshold;
                word |= (uint16_t)(kept << (2 * l + h));
                y[v] = x[v] * (kept ? scale : 0.0f);
            }
        }
        keep[v0 / 16] = word;
    }
}

static void nk_f32_dropout_apply__ref(int64_t n, const uint16_t *keep, float scale, const float *dy,
                                      const float *gate, float *dx) {
    for (int64_t v = 0; v < n; v++) {
        const float d = dy[v] * (!keep || (keep[v / 16] >> (v % 16)) & 1 ? scale : 0.0f);
        dx[v] = !gate || gate[v] > 0 ? d : 0.0f;
    }
}

static int always(void) { return 1; }

const nk_kernels nk_kernels_ref = {
    .isa = NK_ISA_REF, .name = "ref", .supported = always,
    .ukernel = nk_f32_gemm_ukernel_4x16__ref, .mr = MR, .nr = NR,
    .ukernel_strided = nk_f32_gemm_ukernel_4x16__ref_strided,
    .pack_copy = nk_f32_pack_copy__ref, .pack_transpose = nk_f32_pack_transpose__ref,
    .maxpool_row = nk_f32_maxpool_row__ref, .maxpool_2x2_row = nk_f32_maxpool_2x2_row__ref,
    .maxpool_2x2_backward_row = nk_f32_maxpool_2x2_backward_row__ref,
    .shifted_sum = nk_f32_shifted_sum__ref, .row_dots = nk_f32_row_dots__ref,
    .dropout_streams = nk_f32_dropout_streams__ref, .dropout_apply = nk_f32_dropout_apply__ref,
};
