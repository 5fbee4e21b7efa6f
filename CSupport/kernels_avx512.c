// AVX-512 kernels: the SGEMM microkernel and the copying packer. Microkernel, 8x32 tile: 16 zmm accumulators (8 rows x 2 vectors of 16 columns),
// two B vectors loaded per k step and one broadcast of A per row. Contract: nk_sgemm_ukernel_fn
// in internal.h. Why 8x32: Zen 4 issues one 512-bit FMA per cycle (two 256-bit halves) with a
// latency of 4, so 16 independent chains keep it busy with room to spare, while 8 rows divide
// the MLP's batch sizes (64, 256) exactly; edge columns use masked loads/stores.
#include "internal.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma"))), apply_to = function)
#include <immintrin.h>
#include "transpose8x8.h"

#define MR 8
#define NR 32

// C[ROWS x nr] = alpha * acc + beta * C (beta == 0: C not read); full tiles unmasked.
static inline __attribute__((always_inline)) void
store_tile(const __m512 *c0, const __m512 *c1, float alpha, float beta, float *C, int64_t ldc,
           const int ROWS, const int VECS, int nr) {
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (VECS == 2 && nr == NR) {
#pragma clang loop unroll(full)
        for (int i = 0; i < ROWS; i++) {
            float *c = C + (int64_t)i * ldc;
            if (beta == 0) {
                _mm512_storeu_ps(c, _mm512_mul_ps(va, c0[i]));
                _mm512_storeu_ps(c + 16, _mm512_mul_ps(va, c1[i]));
            } else {
                _mm512_storeu_ps(c, _mm512_fmadd_ps(va, c0[i], _mm512_mul_ps(vb, _mm512_loadu_ps(c))));
                _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(va, c1[i], _mm512_mul_ps(vb, _mm512_loadu_ps(c + 16))));
            }
        }
        return;
    }
    const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1);
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) {
        float *c = C + (int64_t)i * ldc;
        if (beta == 0) {
            _mm512_mask_storeu_ps(c, m0, _mm512_mul_ps(va, c0[i]));
            if (VECS == 2) _mm512_mask_storeu_ps(c + 16, m1, _mm512_mul_ps(va, c1[i]));
        } else {
            _mm512_mask_storeu_ps(c, m0, _mm512_fmadd_ps(va, c0[i], _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m0, c))));
            if (VECS == 2)
                _mm512_mask_storeu_ps(c + 16, m1, _mm512_fmadd_ps(va, c1[i], _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16))));
        }
    }
}

// The tile for a compile-time number of rows (1..MR) and 16-column vectors (1..2): edge tiles
// (the last rows of M, or N <= 16 such as a 10-class output layer) compute only what they store,
// so a 10 x n product costs 10 rows of FMAs instead of 16 and an m x 10 one half the columns.
// Each element still sees the same FMAs in the same order as in the full tile: same bits.
static inline __attribute__((always_inline)) void
tile(int64_t kc, const float *Ap, const float *Bp, float alpha, float beta, float *C, int64_t ldc,
     const int ROWS, const int VECS, int nr) {
    __m512 c0[MR], c1[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) { c0[i] = _mm512_setzero_ps(); c1[i] = _mm512_setzero_ps(); }
    // Warm the C tile while the products run; it is needed only at the end.
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) {
        _mm_prefetch((const char *)(C + (int64_t)i * ldc), _MM_HINT_T0);
        if (VECS == 2) _mm_prefetch((const char *)(C + (int64_t)i * ldc + 16), _MM_HINT_T0);
    }
#pragma clang loop unroll_count(4)
    for (int64_t p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_load_ps(Bp);
        const __m512 b1 = VECS == 2 ? _mm512_load_ps(Bp + 16) : b0;
#pragma clang loop unroll(full)
        for (int i = 0; i < ROWS; i++) {
            const __m512 a = _mm512_set1_ps(Ap[i]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            if (VECS == 2) c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
        Ap += MR;
        Bp += NR;
    }
    store_tile(c0, c1, alpha, beta, C, ldc, ROWS, VECS, nr);
}

// C[mr x nr] = alpha * Ap[MR x kc] . Bp[kc x NR] + beta * C
static void nk_f32_gemm_ukernel_8x32__avx512(int64_t kc, const float *Ap, const float *Bp, float alpha,
                                      float beta, float *C, int64_t ldc, int mr, int nr) {
#define NK_TILE_ROWS(V)                                                                             \
    switch (mr) {                                                                                  \
    case 1: tile(kc, Ap, Bp, alpha, beta, C, ldc, 1, V, nr); return;                               \
    case 2: tile(kc, Ap, Bp, alpha, beta, C, ldc, 2, V, nr); return;                               \
    case 3: tile(kc, Ap, Bp, alpha, beta, C, ldc, 3, V, nr); return;                               \
    case 4: tile(kc, Ap, Bp, alpha, beta, C, ldc, 4, V, nr); return;                               \
    case 5: tile(kc, Ap, Bp, alpha, beta, C, ldc, 5, V, nr); return;                               \
    case 6: tile(kc, Ap, Bp, alpha, beta, C, ldc, 6, V, nr); return;                               \
    case 7: tile(kc, Ap, Bp, alpha, beta, C, ldc, 7, V, nr); return;                               \
    default: tile(kc, Ap, Bp, alpha, beta, C, ldc, 8, V, nr); return;                              \
    }
    if (nr > 16) { NK_TILE_ROWS(2) }
    NK_TILE_ROWS(1)
#undef NK_TILE_ROWS
}

// The unpacked tile (nk_sgemm_ukernel_strided_fn): A broadcast from A[i*rsa + p*csa], B loaded
// (masked to nr columns) from B + p*rsb. Same FMAs per element in the same order as tile().
// With brows (BROWS = 1), B's row p is brows[p] + bcol instead (nk_sgemm_ukernel_brows_fn); with
// arows (AROWS = 1), A's row i is arows[i] + acol, read along p (nk_sgemm_ukernel_arows_fn), and
// with `cols` (not NULL) only the columns in runs (nk_sgemm_ukernel_arows_runs_fn) or column p at
// arows[i][offsets[p]] (nk_sgemm_ukernel_aoffsets_fn).
static inline __attribute__((always_inline)) void
tile_strided(int64_t kc, const float *A, int64_t rsa, int64_t csa, const float *B, int64_t rsb,
             const float *const *brows, int64_t bcol, const float *const *arows, int64_t acol,
             const nk_a_columns *cols, float alpha, float beta, float *C, int64_t ldc, const int ROWS, const int VECS,
             const int BROWS, const int AROWS, int nr) {
    __m512 c0[MR], c1[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) { c0[i] = _mm512_setzero_ps(); c1[i] = _mm512_setzero_ps(); }
    const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1);
    const float *a[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) a[i] = AROWS ? arows[i] + acol : A + i * rsa;
    // Column p's FMAs: B's row p at b.
#define NK_STRIDED_STEP(p, b)                                                                      \
    do {                                                                                           \
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);                                            \
        const __m512 b1 = VECS == 2 ? _mm512_maskz_loadu_ps(m1, (b) + 16) : b0;                   \
        _Pragma("clang loop unroll(full)") for (int i = 0; i < ROWS; i++) {                        \
            const __m512 av = _mm512_set1_ps(a[i][!AROWS ? (p) * csa : cols && cols->offsets ? cols->offsets[p] : (p)]); \
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);                                                \
            if (VECS == 2) c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);                                 \
        }                                                                                          \
    } while (0)
    NK_STRIDED_COLUMNS(kc, B, rsb, brows, bcol, BROWS, cols, acol, NK_STRIDED_STEP);
#undef NK_STRIDED_STEP
    store_tile(c0, c1, alpha, beta, C, ldc, ROWS, VECS, nr);
}

static void nk_f32_gemm_ukernel_8x32__avx512_strided(int64_t kc, const float *A, int64_t rsa, int64_t csa,
                                              const float *B, int64_t rsb, float alpha, float beta,
                                              float *C, int64_t ldc, int mr, int nr) {
#define NK_TILE_ROWS(V)                                                                             \
    switch (mr) {                                                                                  \
    case 1: tile_strided(kc, A, rsa, csa, B, rsb, NULL, 0, NULL, 0, NULL, alpha, beta, C, ldc, 1, V, 0, 0, nr); return;          \
    case 2: tile_strided(kc, A, rsa, csa, B, rsb, NULL, 0, NULL, 0, NULL, alpha, beta, C, ldc, 2, V, 0, 0, nr); return;          \
    case 3: tile_strided(kc, A, rsa, csa, B, rsb, NULL, 0, NULL, 0, NULL, alpha, beta, C, ldc, 3, V, 0, 0, nr); return;          \
    case 4: tile_strided(kc, A, rsa, csa, B, rsb, NULL, 0, NULL, 0, NULL, alpha, beta, C, ldc, 4, V, 0, 0, nr); return;          \
    case 5: tile_strided(kc, A, rsa, csa, B, rsb, NULL, 0, NULL, 0, NULL, alpha, beta, C, ldc, 5, V, 0, 0, nr); return;          \
    case 6: tile_strided(kc, A, rsa, csa, B, rsb, NULL, 0, NULL, 0, NULL, alpha, beta, C, ldc, 6, V, 0, 0, nr); return;          \
    case 7: tile_strided(kc, A, rsa, csa, B, rsb, NULL, 0, NULL, 0, NULL, alpha, beta, C, ldc, 7, V, 0, 0, nr); return;          \
    default: tile_strided(kc, A, rsa, csa, B, rsb, NULL, 0, NULL, 0, NULL, alpha, beta, C, ldc, 8, V, 0, 0, nr); return;         \
    }
    if (nr > 16) { NK_TILE_ROWS(2) }
    NK_TILE_ROWS(1)
#undef NK_TILE_ROWS
}

// The packed-A tile with B's rows read in place through row pointers (nk_sgemm_ukernel_brows_fn).
static void nk_f32_gemm_ukernel_8x32__avx512_brows(int64_t kc, const float *Ap, const float *const *brows,
                                                   int64_t bcol, float alpha, float beta, float *C,
                                                   int64_t ldc, int mr, int nr) {
#define NK_TILE_ROWS(V)                                                                             \
    switch (mr) {                                                                                  \
    case 1: tile_strided(kc, Ap, 1, MR, NULL, 0, brows, bcol, NULL, 0, NULL, alpha, beta, C, ldc, 1, V, 1, 0, nr); return; \
    case 2: tile_strided(kc, Ap, 1, MR, NULL, 0, brows, bcol, NULL, 0, NULL, alpha, beta, C, ldc, 2, V, 1, 0, nr); return; \
    case 3: tile_strided(kc, Ap, 1, MR, NULL, 0, brows, bcol, NULL, 0, NULL, alpha, beta, C, ldc, 3, V, 1, 0, nr); return; \
    case 4: tile_strided(kc, Ap, 1, MR, NULL, 0, brows, bcol, NULL, 0, NULL, alpha, beta, C, ldc, 4, V, 1, 0, nr); return; \
    case 5: tile_strided(kc, Ap, 1, MR, NULL, 0, brows, bcol, NULL, 0, NULL, alpha, beta, C, ldc, 5, V, 1, 0, nr); return; \
    case 6: tile_strided(kc, Ap, 1, MR, NULL, 0, brows, bcol, NULL, 0, NULL, alpha, beta, C, ldc, 6, V, 1, 0, nr); return; \
    case 7: tile_strided(kc, Ap, 1, MR, NULL, 0, brows, bcol, NULL, 0, NULL, alpha, beta, C, ldc, 7, V, 1, 0, nr); return; \
    default: tile_strided(kc, Ap, 1, MR, NULL, 0, brows, bcol, NULL, 0, NULL, alpha, beta, C, ldc, 8, V, 1, 0, nr); return; \
    }
    if (nr > 16) { NK_TILE_ROWS(2) }
    NK_TILE_ROWS(1)
#undef NK_TILE_ROWS
}

// A's rows read in place through row pointers, B a packed panel: every column
// (nk_sgemm_ukernel_arows_fn) or, with runs, those in runs (nk_sgemm_ukernel_arows_runs_fn).
static inline __attribute__((always_inline)) void
arows_tile(int64_t kc, const float *const *arows, int64_t acol, const nk_a_columns *runs, const float *Bp, float alpha,
           float beta, float *C, int64_t ldc, int mr, int nr) {
#define NK_TILE_ROWS(V)                                                                                        \
    switch (mr) {                                                                                             \
    case 1: tile_strided(kc, NULL, 0, 0, Bp, NR, NULL, 0, arows, acol, runs, alpha, beta, C, ldc, 1, V, 0, 1, nr); return; \
    case 2: tile_strided(kc, NULL, 0, 0, Bp, NR, NULL, 0, arows, acol, runs, alpha, beta, C, ldc, 2, V, 0, 1, nr); return; \
    case 3: tile_strided(kc, NULL, 0, 0, Bp, NR, NULL, 0, arows, acol, runs, alpha, beta, C, ldc, 3, V, 0, 1, nr); return; \
    case 4: tile_strided(kc, NULL, 0, 0, Bp, NR, NULL, 0, arows, acol, runs, alpha, beta, C, ldc, 4, V, 0, 1, nr); return; \
    case 5: tile_strided(kc, NULL, 0, 0, Bp, NR, NULL, 0, arows, acol, runs, alpha, beta, C, ldc, 5, V, 0, 1, nr); return; \
    case 6: tile_strided(kc, NULL, 0, 0, Bp, NR, NULL, 0, arows, acol, runs, alpha, beta, C, ldc, 6, V, 0, 1, nr); return; \
    case 7: tile_strided(kc, NULL, 0, 0, Bp, NR, NULL, 0, arows, acol, runs, alpha, beta, C, ldc, 7, V, 0, 1, nr); return; \
    default: tile_strided(kc, NULL, 0, 0, Bp, NR, NULL, 0, arows, acol, runs, alpha, beta, C, ldc, 8, V, 0, 1, nr); return; \
    }
    if (nr > 16) { NK_TILE_ROWS(2) }
    NK_TILE_ROWS(1)
#undef NK_TILE_ROWS
}

static void nk_f32_gemm_ukernel_8x32__avx512_arows(int64_t kc, const float *const *arows, int64_t acol,
                                                   const float *Bp, float alpha, float beta, float *C,
                                                   int64_t ldc, int mr, int nr) {
    arows_tile(kc, arows, acol, NULL, Bp, alpha, beta, C, ldc, mr, nr);
}

static void nk_f32_gemm_ukernel_8x32__avx512_arows_runs(int64_t kc, const float *const *arows, int64_t acol,
                                                        int64_t period, int64_t keep, const float *Bp, float alpha,
                                                        float beta, float *C, int64_t ldc, int mr, int nr) {
    const nk_a_columns runs = {period, keep, NULL};
    arows_tile(kc, arows, acol, &runs, Bp, alpha, beta, C, ldc, mr, nr);
}

static void nk_f32_gemm_ukernel_8x32__avx512_aoffsets(int64_t kc, const float *const *apos, const int64_t *off,
                                                      const float *Bp, float alpha, float beta, float *C, int64_t ldc,
                                                      int mr, int nr) {
    const nk_a_columns at = {0, 0, off};
    arows_tile(kc, apos, 0, &at, Bp, alpha, beta, C, ldc, mr, nr);
}

// Packer (contract nk_pack_fn, internal.h): masked loads and stores, 16 columns at a time, so a
// full or partial panel row is a few instructions and no libc memcpy/memset call (those cost more
// than the copy itself on the short rows of convolution's per-image products).
static void nk_f32_pack_copy__avx512(const float *src, int64_t lds, const float *const *rows,
                              int64_t col0, int n, int64_t kc, int R, float *restrict dst) {
    enum { MAXV = 4 }; // R <= 64
    __mmask16 ld[MAXV], st[MAXV];
    const int vecs = (R + 15) / 16;
    for (int v = 0; v < vecs; v++) {
        const int have = NK_MAX(0, NK_MIN(16, n - 16 * v)), room = NK_MIN(16, R - 16 * v);
        ld[v] = (__mmask16)((1u << have) - 1);
        st[v] = (__mmask16)((1u << room) - 1);
    }
    for (int64_t p = 0; p < kc; p++) {
        const float *s = rows ? rows[p] + col0 : src + p * lds;
        float *d = dst + p * R;
        for (int v = 0; v < vecs; v++)
            _mm512_mask_storeu_ps(d + 16 * v, st[v], _mm512_maskz_loadu_ps(ld[v], s + 16 * v));
    }
}

// Transposing packer (contract nk_pack_fn, internal.h) for panels of a multiple of 8 rows (the
// 8x32 tile's A and B panels): 8 source rows × 8 columns at a time, transposed in registers
// (unpack, shuffle, 128-bit lane permute) and stored as 8 panel rows of 8; the last columns go
// through masked loads, so nothing past a row's kc floats is read, and rows past n are zeros. The
// SSE2 packer it replaces here moved 4 × 4 blocks (about twice the instructions per float); it
// remains the fallback for other R.
static void nk_f32_pack_transpose__avx512(const float *src, int64_t lds, const float *const *rows,
                                          int64_t col0, int n, int64_t kc, int R, float *restrict dst) {
    if (R % 8 != 0) { nk_f32_pack_transpose__sse2(src, lds, rows, col0, n, kc, R, dst); return; }
    const __m256 z = _mm256_setzero_ps();
    for (int i = 0; i < R; i += 8) {
        const int v = NK_MAX(0, NK_MIN(8, n - i)); // rows of this group that exist
        const float *s[8];
        for (int k = 0; k < 8; k++) s[k] = k < v ? (rows ? rows[i + k] + col0 : src + (int64_t)(i + k) * lds) : NULL;
        for (int64_t p = 0; p < kc; p += 8) {
            const int64_t rem = NK_MIN(8, kc - p);
            const __mmask8 m = (__mmask8)((1u << rem) - 1);
            __m256 r[8];
            for (int k = 0; k < 8; k++) r[k] = k < v ? _mm256_maskz_loadu_ps(m, s[k] + p) : z;
            __m256 col[8]; // column j of the 8 × 8 block: rows i..i+7 at column p + j
            nk__transpose8x8_ps(r, col);
            for (int j = 0; j < rem; j++) _mm256_storeu_ps(dst + (p + j) * R + i, col[j]);
        }
    }
}

// The windows of one step: top rows' 32 floats in t0:t1 and bottom rows' in b0:b1 (window l's
// four elements at lanes 2l and 2l + 1 of each pair), split into left (even) and right (odd)
// columns with one permute each; then the four compares of nk__max_takes in row-major order as mask
// moves on values and offsets (window l's top-left offset in lane l of `first`, W to the row below);
// the lanes in `out` stored to y and, when not NULL, arg.
static inline __attribute__((always_inline)) void
window_max_store(__m512 t0, __m512 t1, __m512 b0, __m512 b1, __m512i first, int64_t W, float *y, int32_t *arg,
                 __mmask16 out) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512 v[4] = {_mm512_permutex2var_ps(t0, even, t1), _mm512_permutex2var_ps(t0, odd, t1),
                         _mm512_permutex2var_ps(b0, even, b1), _mm512_permutex2var_ps(b0, odd, b1)};
    const __m512i off[4] = {first, _mm512_add_epi32(first, _mm512_set1_epi32(1)),
                            _mm512_add_epi32(first, _mm512_set1_epi32((int32_t)W)),
                            _mm512_add_epi32(first, _mm512_set1_epi32((int32_t)W + 1))};
    __m512 best = v[0];
    __m512i at = off[0];
    for (int j = 1; j < 4; j++) {
        // nk__max_takes: v > best, or v is NaN and best is not.
        const __mmask16 t = _mm512_cmp_ps_mask(v[j], best, _CMP_GT_OQ) |
                            (_mm512_cmp_ps_mask(v[j], v[j], _CMP_UNORD_Q) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q));
        best = _mm512_mask_mov_ps(best, t, v[j]);
        at = _mm512_mask_mov_epi32(at, t, off[j]);
    }
    _mm512_mask_storeu_ps(y, out, best);
    if (arg) _mm512_mask_storeu_epi32(arg, out, at);
}

// 2×2 stride-2 max-pool row, 16 windows per step: two 32-float loads per input row, then
// window_max_store. The last step's loads and stores are masked, so nothing outside the windows
// is read.
static void nk_f32_maxpool_2x2_row__avx512(const float *r0, int64_t W, int64_t n, int32_t base, float *y,
                                           int32_t *arg) {
    const float *r1 = r0 + W;
    const __m512i lane2 = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
    for (int64_t o = 0; o < n; o += 16) {
        const int64_t rem = NK_MIN(16, n - o);
        const __mmask16 out = (__mmask16)((1u << rem) - 1);
        const int64_t lo = NK_MIN(32, 2 * rem);
        const __mmask16 m0 = (__mmask16)(lo >= 16 ? 0xFFFF : (1u << lo) - 1);
        const __mmask16 m1 = (__mmask16)(lo > 16 ? (1u << (lo - 16)) - 1 : 0);
        const __m512 t0 = _mm512_maskz_loadu_ps(m0, r0 + 2 * o), t1 = _mm512_maskz_loadu_ps(m1, r0 + 2 * o + 16);
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, r1 + 2 * o), b1 = _mm512_maskz_loadu_ps(m1, r1 + 2 * o + 16);
        const __m512i first = _mm512_add_epi32(lane2, _mm512_set1_epi32(base + (int32_t)(2 * o)));
        window_max_store(t0, t1, b0, b1, first, W, y + o, arg ? arg + o : NULL, out);
    }
}

// The backward of one step's windows: gradient g and arg-max a of window l in lane l (lanes in
// `in`), its top-left offset in lane l of tl. Each of the four elements gets g where a points at it,
// else +0; out[0]:out[1] are the top rows' 32 floats (window l's at 2l, 2l + 1), out[2]:out[3] the
// bottom rows'.
static inline __attribute__((always_inline)) void
window_gradients(__m512 g, __m512i a, __m512i tl, int64_t W, __mmask16 in, __m512 out[4]) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i one = _mm512_set1_epi32(1), bl = _mm512_add_epi32(tl, _mm512_set1_epi32((int32_t)W));
    const __m512 v[4] = {_mm512_maskz_mov_ps(_mm512_mask_cmpeq_epi32_mask(in, a, tl), g),
                         _mm512_maskz_mov_ps(_mm512_mask_cmpeq_epi32_mask(in, a, _mm512_add_epi32(tl, one)), g),
                         _mm512_maskz_mov_ps(_mm512_mask_cmpeq_epi32_mask(in, a, bl), g),
                         _mm512_maskz_mov_ps(_mm512_mask_cmpeq_epi32_mask(in, a, _mm512_add_epi32(bl, one)), g)};
    out[0] = _mm512_permutex2var_ps(v[0], lo, v[1]);
    out[1] = _mm512_permutex2var_ps(v[0], hi, v[1]);
    out[2] = _mm512_permutex2var_ps(v[2], lo, v[3]);
    out[3] = _mm512_permutex2var_ps(v[2], hi, v[3]);
}

// 2×2 stride-2 max-pool backward row (contract nk_maxpool_2x2_backward_row_fn), 16 windows per
// step: four compares of the arg-maxes against the windows' offsets give four masks, the masked
// gradients of the left and right columns interleave into the two rows' 32 floats with one permute
// each, and the last step's stores are masked to the 2n columns.
static void nk_f32_maxpool_2x2_backward_row__avx512(const float *dy, const int32_t *arg, int64_t n, int32_t base,
                                                    int64_t W, float *dx) {
    const __m512i lane2 = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
    const __m512 zero = _mm512_setzero_ps();
    float *d1 = dx + W;
    for (int64_t o = 0; o < n; o += 16) {
        const int64_t rem = NK_MIN(16, n - o), cols = 2 * rem;
        const __mmask16 in = (__mmask16)((1u << rem) - 1);
        const __mmask16 s0 = (__mmask16)(cols >= 16 ? 0xFFFF : (1u << cols) - 1);
        const __mmask16 s1 = (__mmask16)(cols > 16 ? (1u << (cols - 16)) - 1 : 0);
        const __m512 g = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(in, dy + o));
        const __m512i a = _mm512_maskz_loadu_epi32(in, arg + o);
        const __m512i tl = _mm512_add_epi32(lane2, _mm512_set1_epi32(base + (int32_t)(2 * o)));
        __m512 rows[4];
        window_gradients(g, a, tl, W, in, rows);
        _mm512_mask_storeu_ps(dx + 2 * o, s0, rows[0]);
        _mm512_mask_storeu_ps(dx + 2 * o + 16, s1, rows[1]);
        _mm512_mask_storeu_ps(d1 + 2 * o, s0, rows[2]);
        _mm512_mask_storeu_ps(d1 + 2 * o + 16, s1, rows[3]);
    }
}

// A convolution along output rows (contract nk_conv_rows_fn): per output row, the K ≤ 8 filters'
// sums for its ≤ 32 outputs in 2K registers, each input row segment loaded once per (c, i, j) and
// used by every filter.
static inline __attribute__((always_inline)) void
conv_rows_k(const float *x, int64_t cs, int64_t rs, int64_t C, int64_t KH, int64_t KW, int64_t OH, int64_t OW,
            const int K, const float *w, const float *bias, int relu, float *y) {
    const __mmask16 m0 = OW >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << OW) - 1);
    const __mmask16 m1 = OW <= 16 ? (__mmask16)0 : OW >= 32 ? (__mmask16)0xFFFF : (__mmask16)((1u << (OW - 16)) - 1);
    const int64_t taps = C * KH * KW, plane = OH * OW;
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t oh = 0; oh < OH; oh++) {
        __m512 a0[NK_CONV_ROWS_FILTERS], a1[NK_CONV_ROWS_FILTERS];
#pragma clang loop unroll(full)
        for (int k = 0; k < K; k++) { a0[k] = zero; a1[k] = zero; }
        int64_t p = 0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < KH; i++) {
                const float *row = x + c * cs + (oh + i) * rs;
                for (int64_t j = 0; j < KW; j++, p++) {
                    const __m512 x0 = _mm512_maskz_loadu_ps(m0, row + j), x1 = _mm512_maskz_loadu_ps(m1, row + j + 16);
#pragma clang loop unroll(full)
                    for (int k = 0; k < K; k++) {
                        const __m512 wv = _mm512_set1_ps(w[k * taps + p]);
                        a0[k] = _mm512_fmadd_ps(wv, x0, a0[k]);
                        a1[k] = _mm512_fmadd_ps(wv, x1, a1[k]);
                    }
                }
            }
#pragma clang loop unroll(full)
        for (int k = 0; k < K; k++) {
            __m512 v0 = a0[k], v1 = a1[k];
            if (bias) {
                const __m512 b = _mm512_set1_ps(bias[k]);
                v0 = _mm512_add_ps(v0, b);
                v1 = _mm512_add_ps(v1, b);
            }
            if (relu) { // 0 where v < 0 (NaN and −0 kept), as nk__relu_copy
                v0 = _mm512_mask_mov_ps(v0, _mm512_cmp_ps_mask(v0, zero, _CMP_LT_OQ), zero);
                v1 = _mm512_mask_mov_ps(v1, _mm512_cmp_ps_mask(v1, zero, _CMP_LT_OQ), zero);
            }
            _mm512_mask_storeu_ps(y + k * plane + oh * OW, m0, v0);
            _mm512_mask_storeu_ps(y + k * plane + oh * OW + 16, m1, v1);
        }
    }
}

static void nk_f32_conv_rows__avx512(const float *x, int64_t cs, int64_t rs, int64_t C, int64_t KH, int64_t KW,
                                     int64_t OH, int64_t OW, int64_t K, const float *w, const float *bias, int relu,
                                     float *y) {
    switch (K) {
    case 1: conv_rows_k(x, cs, rs, C, KH, KW, OH, OW, 1, w, bias, relu, y); return;
    case 2: conv_rows_k(x, cs, rs, C, KH, KW, OH, OW, 2, w, bias, relu, y); return;
    case 3: conv_rows_k(x, cs, rs, C, KH, KW, OH, OW, 3, w, bias, relu, y); return;
    case 4: conv_rows_k(x, cs, rs, C, KH, KW, OH, OW, 4, w, bias, relu, y); return;
    case 5: conv_rows_k(x, cs, rs, C, KH, KW, OH, OW, 5, w, bias, relu, y); return;
    case 6: conv_rows_k(x, cs, rs, C, KH, KW, OH, OW, 6, w, bias, relu, y); return;
    case 7: conv_rows_k(x, cs, rs, C, KH, KW, OH, OW, 7, w, bias, relu, y); return;
    default: conv_rows_k(x, cs, rs, C, KH, KW, OH, OW, 8, w, bias, relu, y); return;
    }
}

// Short rows, several to a step (contracts nk_maxpool_2x2_rows_fn, nk_maxpool_2x2_backward_rows_fn):
// with n <= 8 outputs a row (LeNet's 10×10 planes: 5), q = 16 / n output rows share a step's 16
// lanes, output row j of the step in lanes [j·n, (j + 1)·n), and a 32-lane pair of input floats
// holds its 2n columns at lanes [2jn, 2(j + 1)n). Each row's columns are loaded (stored) masked to
// its lanes through a pointer offset by −2jn, so lane L touches the row's element L − 2jn and masked
// lanes touch nothing. The rest of a step is the row kernels' own, so values and arg-maxes are the
// same. Longer rows go through the row kernels one at a time.
typedef struct short_rows {
    int q;                   // output rows per step
    __m512i first;           // lane L: its window's top-left offset from the step's first top row
    __mmask16 lo[16], hi[16]; // row j's lanes of the pair's first and second 16
} short_rows;

// The layout for n and W, computed once per thread for a run of planes alike (its loops cost as
// much as a small plane's compares).
static const short_rows *short_rows_layout(int64_t n, int64_t W) {
    static _Thread_local short_rows r;
    static _Thread_local int64_t rn = 0, rW = 0;
    if (rn == n && rW == W) return &r;
    r.q = 16 / (int)n;
    int32_t first[16] = {0};
    for (int j = 0; j < r.q; j++)
        for (int c = 0; c < n; c++) first[j * n + c] = (int32_t)(2 * j * W + 2 * c);
    r.first = _mm512_loadu_si512(first);
    for (int j = 0; j < r.q; j++) {
        const int a = (int)(2 * n * j), b = (int)(2 * n * (j + 1)); // lanes [a, b) of the pair
        const uint32_t bits = (b >= 32 ? 0xFFFFFFFFu : (1u << b) - 1) & ~((1u << a) - 1);
        r.lo[j] = (__mmask16)(bits & 0xFFFF);
        r.hi[j] = (__mmask16)(bits >> 16);
    }
    rn = n;
    rW = W;
    return &r;
}

static void nk_f32_maxpool_2x2_rows__avx512(const float *r0, int64_t W, int64_t n, int64_t rows, int32_t base,
                                            float *y, int32_t *arg) {
    if (n > 8) {
        for (int64_t q = 0; q < rows; q++)
            nk_f32_maxpool_2x2_row__avx512(r0 + 2 * q * W, W, n, base + (int32_t)(2 * q * W), y + q * n,
                                           arg ? arg + q * n : NULL);
        return;
    }
    const short_rows L = *short_rows_layout(n, W);
    for (int64_t q0 = 0; q0 < rows; q0 += L.q) {
        const int qs = (int)NK_MIN((int64_t)L.q, rows - q0);
        __m512 t0 = _mm512_setzero_ps(), t1 = t0, b0 = t0, b1 = t0;
        for (int j = 0; j < qs; j++) {
            const float *top = r0 + (q0 + j) * 2 * W - 2 * n * j;
            t0 = _mm512_mask_loadu_ps(t0, L.lo[j], top);
            t1 = _mm512_mask_loadu_ps(t1, L.hi[j], top + 16);
            b0 = _mm512_mask_loadu_ps(b0, L.lo[j], top + W);
            b1 = _mm512_mask_loadu_ps(b1, L.hi[j], top + W + 16);
        }
        const __m512i first = _mm512_add_epi32(L.first, _mm512_set1_epi32(base + (int32_t)(2 * q0 * W)));
        window_max_store(t0, t1, b0, b1, first, W, y + q0 * n, arg ? arg + q0 * n : NULL,
                         (__mmask16)((1u << (qs * n)) - 1));
    }
}

static void nk_f32_maxpool_2x2_backward_rows__avx512(const float *dy, const int32_t *arg, int64_t n, int64_t rows,
                                                     int32_t base, int64_t W, float *dx) {
    if (n > 8) {
        for (int64_t q = 0; q < rows; q++)
            nk_f32_maxpool_2x2_backward_row__avx512(dy + q * n, arg + q * n, n, base + (int32_t)(2 * q * W), W,
                                                    dx + 2 * q * W);
        return;
    }
    const short_rows L = *short_rows_layout(n, W);
    for (int64_t q0 = 0; q0 < rows; q0 += L.q) {
        const int qs = (int)NK_MIN((int64_t)L.q, rows - q0);
        const __mmask16 in = (__mmask16)((1u << (qs * n)) - 1);
        const __m512 g = _mm512_add_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(in, dy + q0 * n));
        const __m512i a = _mm512_maskz_loadu_epi32(in, arg + q0 * n);
        const __m512i tl = _mm512_add_epi32(L.first, _mm512_set1_epi32(base + (int32_t)(2 * q0 * W)));
        __m512 out[4];
        window_gradients(g, a, tl, W, in, out);
        for (int j = 0; j < qs; j++) {
            float *top = dx + (q0 + j) * 2 * W - 2 * n * j;
            _mm512_mask_storeu_ps(top, L.lo[j], out[0]);
            _mm512_mask_storeu_ps(top + 16, L.hi[j], out[1]);
            _mm512_mask_storeu_ps(top + W, L.lo[j], out[2]);
            _mm512_mask_storeu_ps(top + W + 16, L.hi[j], out[3]);
        }
    }
}

// Sums of shifted rows, 16 outputs of up to 8 rows a step, each held in a register across all
// terms; each term's load is masked to its range (lanes outside read as +0, and adding +0 to a sum
// that started from dst changes nothing unless the sum is -0, which a sum started from +0 never
// is: the same bits as adding only the terms in range). A term's mask is the same for every row,
// so a block's masks are made once (tm), and up to 8 rows (LeNet conv2's 6 channels at once) keep
// as many independent chains of adds in flight: 4 rows and then 1 at a time, each chain waiting on
// the add before it, and a mask made per term and row, cost LeNet conv2's backward-data a third
// of its time.
static inline __attribute__((always_inline)) void
shifted_sum_rows(const int R, const float *src, int64_t lds, const int64_t *off, const __mmask16 *tm,
                 int terms, int64_t w0, __mmask16 out, float *dst, int64_t ldd) {
    __m512 acc[8];
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++) acc[r] = _mm512_maskz_loadu_ps(out, dst + r * ldd + w0);
    for (int t = 0; t < terms; t++) {
        if (!tm[t]) continue;
        const float *s = src + off[t] + w0;
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++) acc[r] = _mm512_add_ps(acc[r], _mm512_maskz_loadu_ps(tm[t], s + r * lds));
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++) _mm512_mask_storeu_ps(dst + r * ldd + w0, out, acc[r]);
}

static void nk_f32_shifted_sum__avx512(int64_t rows, const float *src, int64_t lds, const int64_t *off,
                                       const int64_t *lo, const int64_t *hi, int terms, int64_t n,
                                       float *dst, int64_t ldd) {
    __mmask16 tm[NK_SHIFTED_SUM_MAX_TERMS];
    for (int64_t w0 = 0; w0 < n; w0 += 16) {
        const int64_t rem = NK_MIN((int64_t)16, n - w0);
        const __mmask16 out = (__mmask16)((1u << rem) - 1);
        for (int t = 0; t < terms; t++) {
            const int64_t a = NK_MAX(lo[t] - w0, (int64_t)0), b = NK_MIN(hi[t] - w0, rem);
            tm[t] = a < b ? (__mmask16)(((1u << b) - 1) & ~((1u << a) - 1)) : 0;
        }
        for (int64_t r = 0; r < rows; r += 8) {
            const float *s = src + r * lds;
            float *d = dst + r * ldd;
            switch (NK_MIN((int64_t)8, rows - r)) {
            case 1: shifted_sum_rows(1, s, lds, off, tm, terms, w0, out, d, ldd); break;
            case 2: shifted_sum_rows(2, s, lds, off, tm, terms, w0, out, d, ldd); break;
            case 3: shifted_sum_rows(3, s, lds, off, tm, terms, w0, out, d, ldd); break;
            case 4: shifted_sum_rows(4, s, lds, off, tm, terms, w0, out, d, ldd); break;
            case 5: shifted_sum_rows(5, s, lds, off, tm, terms, w0, out, d, ldd); break;
            case 6: shifted_sum_rows(6, s, lds, off, tm, terms, w0, out, d, ldd); break;
            case 7: shifted_sum_rows(7, s, lds, off, tm, terms, w0, out, d, ldd); break;
            default: shifted_sum_rows(8, s, lds, off, tm, terms, w0, out, d, ldd); break;
            }
        }
    }
}

// Dot products of rows (contract nk_row_dots_fn). A block of KB <= 6 rows of a by RB <= 4 rows of
// brows holds its 24 sums in zmm accumulators (one 16-lane sum each) over one pass along the rows:
// 10 loads per 24 FMAs, so the FMA unit, not the loads, sets the pace. The last, partial 16
// columns load masked and fma masked (mask3: lanes past n keep their sum unchanged).
static inline __attribute__((always_inline)) void
row_dots_block(const int KB, const int RB, const float *a, int64_t lda, const float *const *b, int64_t n,
               float *out, int64_t ldo) {
    __m512 acc[6][4];
#pragma clang loop unroll(full)
    for (int k = 0; k < KB; k++)
#pragma clang loop unroll(full)
        for (int r = 0; r < RB; r++) acc[k][r] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= n; p += 16) {
        __m512 x[6];
#pragma clang loop unroll(full)
        for (int k = 0; k < KB; k++) x[k] = _mm512_loadu_ps(a + k * lda + p);
#pragma clang loop unroll(full)
        for (int r = 0; r < RB; r++) {
            const __m512 y = _mm512_loadu_ps(b[r] + p);
#pragma clang loop unroll(full)
            for (int k = 0; k < KB; k++) acc[k][r] = _mm512_fmadd_ps(x[k], y, acc[k][r]);
        }
    }
    if (p < n) {
        const __mmask16 m = (__mmask16)((1u << (n - p)) - 1);
        __m512 x[6];
#pragma clang loop unroll(full)
        for (int k = 0; k < KB; k++) x[k] = _mm512_maskz_loadu_ps(m, a + k * lda + p);
#pragma clang loop unroll(full)
        for (int r = 0; r < RB; r++) {
            const __m512 y = _mm512_maskz_loadu_ps(m, b[r] + p);
#pragma clang loop unroll(full)
            for (int k = 0; k < KB; k++) acc[k][r] = _mm512_mask3_fmadd_ps(x[k], y, acc[k][r], m);
        }
    }
#pragma clang loop unroll(full)
    for (int k = 0; k < KB; k++)
#pragma clang loop unroll(full)
        for (int r = 0; r < RB; r++) {
            const __m512 v = acc[k][r];
            const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
            __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
            q = _mm_add_ps(q, _mm_movehl_ps(q, q)); // lanes 0, 1: l + (l + 2)
            q = _mm_add_ss(q, _mm_movehdup_ps(q));  // lane 0: 0 + 1
            out[k * ldo + r] = _mm_cvtss_f32(q);
        }
}

#define NK_ROW_DOTS_CASE(KB, RB) \
    case KB * 8 + RB: row_dots_block(KB, RB, a + k * lda, lda, brows + r, n, out + k * ldo + r, ldo); break;
#define NK_ROW_DOTS_CASES(KB) \
    NK_ROW_DOTS_CASE(KB, 1) NK_ROW_DOTS_CASE(KB, 2) NK_ROW_DOTS_CASE(KB, 3) NK_ROW_DOTS_CASE(KB, 4)

static void nk_f32_row_dots__avx512(int64_t ka, const float *a, int64_t lda, int64_t rb,
                                    const float *const *brows, int64_t n, float *out, int64_t ldo) {
    for (int64_t k = 0; k < ka; k += 6)
        for (int64_t r = 0; r < rb; r += 4) {
            switch ((int)NK_MIN(6, ka - k) * 8 + (int)NK_MIN(4, rb - r)) {
                NK_ROW_DOTS_CASES(1) NK_ROW_DOTS_CASES(2) NK_ROW_DOTS_CASES(3)
                NK_ROW_DOTS_CASES(4) NK_ROW_DOTS_CASES(5) NK_ROW_DOTS_CASES(6)
            }
        }
}

// Dropout over 8 streams, one 64-bit lane each: a round is a handful of integer instructions on
// four zmm state words (multiplies by 5 and 9 as shifts and adds, rotates native), then its 16
// values at once. Each lane's draw d becomes the 32-bit pair (d >> 40, (d >> 8) & 0xFFFFFF), which
// is values 2l and 2l + 1 in order; whole rounds load and store unmasked, the last, partial one
// masked to n.
static void nk_f32_dropout_streams__avx512(uint64_t *state, int64_t n, uint32_t threshold, float scale,
                                           const float *x, float *y, uint16_t *keep_bits) {
    __m512i s0 = _mm512_loadu_si512(state), s1 = _mm512_loadu_si512(state + 8);
    __m512i s2 = _mm512_loadu_si512(state + 16), s3 = _mm512_loadu_si512(state + 24);
    const __m512i low24 = _mm512_set1_epi64(0xFFFFFF), th = _mm512_set1_epi32((int)threshold);
    const __m512 vs = _mm512_set1_ps(scale), zero = _mm512_setzero_ps();
    for (int64_t v0 = 0; v0 < n; v0 += 16) {
        const __m512i m5 = _mm512_add_epi64(_mm512_slli_epi64(s1, 2), s1);
        const __m512i r7 = _mm512_rol_epi64(m5, 7);
        const __m512i d = _mm512_add_epi64(_mm512_slli_epi64(r7, 3), r7);
        const __m512i t = _mm512_slli_epi64(s1, 17);
        s2 = _mm512_xor_si512(s2, s0);
        s3 = _mm512_xor_si512(s3, s1);
        s1 = _mm512_xor_si512(s1, s2);
        s0 = _mm512_xor_si512(s0, s3);
        s2 = _mm512_xor_si512(s2, t);
        s3 = _mm512_rol_epi64(s3, 45);
        const __m512i u = _mm512_or_si512(_mm512_srli_epi64(d, 40),
                                          _mm512_slli_epi64(_mm512_and_si512(_mm512_srli_epi64(d, 8), low24), 32));
        const __mmask16 keep = _mm512_cmplt_epu32_mask(u, th);
        const __m512 m = _mm512_mask_mov_ps(zero, keep, vs);
        const int64_t rem = n - v0;
        if (rem >= 16) { // whole vectors unmasked (see the backward below)
            keep_bits[v0 / 16] = (uint16_t)keep;
            _mm512_storeu_ps(y + v0, _mm512_mul_ps(_mm512_loadu_ps(x + v0), m));
            continue;
        }
        const __mmask16 io = (__mmask16)((1u << rem) - 1);
        keep_bits[v0 / 16] = (uint16_t)(keep & io);
        _mm512_mask_storeu_ps(y + v0, io, _mm512_mul_ps(_mm512_maskz_loadu_ps(io, x + v0), m));
    }
    _mm512_storeu_si512(state, s0);
    _mm512_storeu_si512(state + 8, s1);
    _mm512_storeu_si512(state + 16, s2);
    _mm512_storeu_si512(state + 24, s3);
}

// Dropout's backward (contract nk_dropout_apply_fn): a keep word is the 16 lanes' mask register.
// A gate's lanes that are not > 0 (NaN included: an ordered compare) become +0 after the product.
// Whole vectors load and store unmasked: with every vector's loads and store masked the pass ran at
// half the speed over data in DRAM on Zen 5 (the masked form kept only for the last, partial one).
static inline __attribute__((always_inline)) __m512 dropout_apply_vector(const uint16_t *keep, int64_t v0, __m512 vs,
                                                                          __m512 d, const float *gate, __m512 g) {
    d = _mm512_mul_ps(d, keep ? _mm512_maskz_mov_ps((__mmask16)keep[v0 / 16], vs) : vs);
    return gate ? _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_GT_OQ), d) : d;
}

static void nk_f32_dropout_apply__avx512(int64_t n, const uint16_t *keep, float scale, const float *dy,
                                         const float *gate, float *dx) {
    const __m512 vs = _mm512_set1_ps(scale), zero = _mm512_setzero_ps();
    int64_t v0 = 0;
    for (; v0 + 16 <= n; v0 += 16)
        _mm512_storeu_ps(dx + v0, dropout_apply_vector(keep, v0, vs, _mm512_loadu_ps(dy + v0), gate,
                                                       gate ? _mm512_loadu_ps(gate + v0) : zero));
    if (v0 < n) {
        const __mmask16 io = (__mmask16)((1u << (n - v0)) - 1);
        _mm512_mask_storeu_ps(dx + v0, io, dropout_apply_vector(keep, v0, vs, _mm512_maskz_loadu_ps(io, dy + v0), gate,
                                                                gate ? _mm512_maskz_loadu_ps(io, gate + v0) : zero));
    }
}

#pragma clang attribute pop

// Outside the target attribute: this runs on CPUs without the ISA.
static int supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("fma");
}

const nk_kernels nk_kernels_avx512 = {
    .isa = NK_ISA_AVX512, .name = "avx512", .supported = supported,
    .ukernel = nk_f32_gemm_ukernel_8x32__avx512, .mr = MR, .nr = NR,
    .ukernel_strided = nk_f32_gemm_ukernel_8x32__avx512_strided,
    .ukernel_brows = nk_f32_gemm_ukernel_8x32__avx512_brows,
    .ukernel_arows = nk_f32_gemm_ukernel_8x32__avx512_arows,
    .ukernel_arows_runs = nk_f32_gemm_ukernel_8x32__avx512_arows_runs,
    .ukernel_aoffsets = nk_f32_gemm_ukernel_8x32__avx512_aoffsets,
    .pack_copy = nk_f32_pack_copy__avx512, .pack_transpose = nk_f32_pack_transpose__avx512,
    .maxpool_row = nk_f32_maxpool_row__sse2, .maxpool_2x2_row = nk_f32_maxpool_2x2_row__avx512,
    .maxpool_2x2_backward_row = nk_f32_maxpool_2x2_backward_row__avx512,
    .maxpool_2x2_rows = nk_f32_maxpool_2x2_rows__avx512,
    .maxpool_2x2_backward_rows = nk_f32_maxpool_2x2_backward_rows__avx512,
    .shifted_sum = nk_f32_shifted_sum__avx512, .row_dots = nk_f32_row_dots__avx512, .conv_rows = nk_f32_conv_rows__avx512,
    .dropout_streams = nk_f32_dropout_streams__avx512, .dropout_apply = nk_f32_dropout_apply__avx512,
};
#endif
