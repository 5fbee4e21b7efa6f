// AVX2 kernels: the SGEMM microkernel with its unpacked and row-pointer variants, the copying and
// transposing packers, 2×2 max-pool rows, shifted-row sums and dropout — the same table row the
// AVX-512 file fills, so an AVX2-only CPU (Zen 3, measured) takes the paths AVX-512 takes (the
// general max-pool row is the SSE2 one on both).
// Microkernel, 6x16 tile: 12 ymm accumulators (6 rows x 2 vectors of 8 columns), two B vectors and
// one A broadcast per row per k step: 15 of the 16 ymm registers. Contract: nk_sgemm_ukernel_fn in
// internal.h. Two FMA pipes x latency 4 need >= 8 independent chains; 12 leave headroom. Edge
// columns load masked and store by store_first (not maskstore: slow on Zen 3, below); edge tiles
// compute only their rows and vectors (as AVX-512).
#include "internal.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#include <immintrin.h>
#include "transpose8x8.h"

#define MR 6
#define NR 16

// Stores the first n (0 <= n <= 8) floats of v at d as 4-, 2- and 1-float stores. Zen 3's masked
// stores (vmaskmovps) cost more than the rest of a short loop's step: perf put 28 % of the 2×2
// max-pool row's time on two of them, and they made most of the cost of LeNet-5's edge tiles.
static inline __attribute__((always_inline)) void store_first(float *d, __m256 v, int n) {
    if (n >= 8) { _mm256_storeu_ps(d, v); return; }
    __m128 part = _mm256_castps256_ps128(v);
    if (n >= 4) {
        _mm_storeu_ps(d, part);
        part = _mm256_extractf128_ps(v, 1);
        d += 4;
        n -= 4;
    }
    if (n >= 2) {
        _mm_storel_pi((__m64 *)d, part);
        part = _mm_movehl_ps(part, part);
        d += 2;
        n -= 2;
    }
    if (n) _mm_store_ss(d, part);
}

// C[ROWS x nr] = alpha * acc + beta * C (beta == 0: C not read); full vectors unmasked, a partial
// one read masked and stored by store_first.
static inline __attribute__((always_inline)) void
store_tile(const __m256 *c0, const __m256 *c1, float alpha, float beta, float *C, int64_t ldc,
           const int ROWS, const int VECS, int nr) {
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 vb = _mm256_set1_ps(beta);
    if (VECS == 2 && nr == NR) {
#pragma clang loop unroll(full)
        for (int i = 0; i < ROWS; i++) {
            float *c = C + (int64_t)i * ldc;
            if (beta == 0) {
                _mm256_storeu_ps(c, _mm256_mul_ps(va, c0[i]));
                _mm256_storeu_ps(c + 8, _mm256_mul_ps(va, c1[i]));
            } else {
                _mm256_storeu_ps(c, _mm256_fmadd_ps(va, c0[i], _mm256_mul_ps(vb, _mm256_loadu_ps(c))));
                _mm256_storeu_ps(c + 8, _mm256_fmadd_ps(va, c1[i], _mm256_mul_ps(vb, _mm256_loadu_ps(c + 8))));
            }
        }
        return;
    }
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), iota);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), iota);
    const int n0 = NK_MIN(nr, 8), n1 = nr - 8;
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) {
        float *c = C + (int64_t)i * ldc;
        if (beta == 0) {
            store_first(c, _mm256_mul_ps(va, c0[i]), n0);
            if (VECS == 2) store_first(c + 8, _mm256_mul_ps(va, c1[i]), n1);
        } else {
            const __m256 old0 = n0 == 8 ? _mm256_loadu_ps(c) : _mm256_maskload_ps(c, m0);
            store_first(c, _mm256_fmadd_ps(va, c0[i], _mm256_mul_ps(vb, old0)), n0);
            if (VECS == 2)
                store_first(c + 8, _mm256_fmadd_ps(va, c1[i], _mm256_mul_ps(vb, _mm256_maskload_ps(c + 8, m1))), n1);
        }
    }
}

// The tile for a compile-time number of rows (1..MR) and 8-column vectors (1..2); same FMAs per
// element in the same order as the full tile, so the same bits.
static inline __attribute__((always_inline)) void
tile(int64_t kc, const float *Ap, const float *Bp, float alpha, float beta, float *C, int64_t ldc,
     const int ROWS, const int VECS, int nr) {
    __m256 c0[MR], c1[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) { c0[i] = _mm256_setzero_ps(); c1[i] = _mm256_setzero_ps(); }
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) {
        _mm_prefetch((const char *)(C + (int64_t)i * ldc), _MM_HINT_T0);
        if (VECS == 2) _mm_prefetch((const char *)(C + (int64_t)i * ldc + 15), _MM_HINT_T0);
    }
#pragma clang loop unroll_count(4)
    for (int64_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_load_ps(Bp);
        const __m256 b1 = VECS == 2 ? _mm256_load_ps(Bp + 8) : b0;
#pragma clang loop unroll(full)
        for (int i = 0; i < ROWS; i++) {
            const __m256 a = _mm256_broadcast_ss(Ap + i);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            if (VECS == 2) c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
        Ap += MR;
        Bp += NR;
    }
    store_tile(c0, c1, alpha, beta, C, ldc, ROWS, VECS, nr);
}

// C[mr x nr] = alpha * Ap[MR x kc] . Bp[kc x NR] + beta * C
static void nk_f32_gemm_ukernel_6x16__avx2(int64_t kc, const float *Ap, const float *Bp, float alpha,
                                    float beta, float *C, int64_t ldc, int mr, int nr) {
#define NK_TILE_ROWS(V)                                                                             \
    switch (mr) {                                                                                  \
    case 1: tile(kc, Ap, Bp, alpha, beta, C, ldc, 1, V, nr); return;                               \
    case 2: tile(kc, Ap, Bp, alpha, beta, C, ldc, 2, V, nr); return;                               \
    case 3: tile(kc, Ap, Bp, alpha, beta, C, ldc, 3, V, nr); return;                               \
    case 4: tile(kc, Ap, Bp, alpha, beta, C, ldc, 4, V, nr); return;                               \
    case 5: tile(kc, Ap, Bp, alpha, beta, C, ldc, 5, V, nr); return;                               \
    default: tile(kc, Ap, Bp, alpha, beta, C, ldc, 6, V, nr); return;                              \
    }
    if (nr > 8) { NK_TILE_ROWS(2) }
    NK_TILE_ROWS(1)
#undef NK_TILE_ROWS
}

// The unpacked tile (nk_sgemm_ukernel_strided_fn): A broadcast from A[i*rsa + p*csa], B loaded
// from B + p*rsb. Same FMAs per element in the same order as tile(). With brows (BROWS = 1), B's
// row p is brows[p] + bcol instead (nk_sgemm_ukernel_brows_fn); with arows (AROWS = 1), A's row i
// is arows[i] + acol, read along p (nk_sgemm_ukernel_arows_fn). FULL: the tile's nr columns fill
// its vectors, so B's rows load unmasked (nearly every tile of a convolution's shifted rows);
// otherwise the loads are masked to nr columns. With `runs` (not NULL, arows and a packed B only)
// just the columns in runs (nk_sgemm_ukernel_arows_runs_fn), or column p of row i at
// arows[i][offsets[p]] (nk_sgemm_ukernel_aoffsets_fn).
static inline __attribute__((always_inline)) void
tile_strided_loop(int64_t kc, const float *A, int64_t rsa, int64_t csa, const float *B, int64_t rsb,
                  const float *const *brows, int64_t bcol, const float *const *arows, int64_t acol,
                  const nk_a_columns *runs, float alpha, float beta, float *C, int64_t ldc, const int ROWS, const int VECS,
                  const int BROWS, const int AROWS, const int FULL, int nr) {
    __m256 c0[MR], c1[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) { c0[i] = _mm256_setzero_ps(); c1[i] = _mm256_setzero_ps(); }
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), iota);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), iota);
    const float *a[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) a[i] = AROWS ? arows[i] + acol : A + i * rsa;
    // Column p's FMAs: B's row p at b.
#define NK_STRIDED_STEP(p, b)                                                                       \
    do {                                                                                            \
        const __m256 b0 = FULL ? _mm256_loadu_ps(b) : _mm256_maskload_ps(b, m0);                    \
        const __m256 b1 = VECS == 2 ? (FULL ? _mm256_loadu_ps((b) + 8) : _mm256_maskload_ps((b) + 8, m1)) : b0; \
        _Pragma("clang loop unroll(full)") for (int i = 0; i < ROWS; i++) {                         \
            const __m256 av = _mm256_broadcast_ss(a[i] + (!AROWS ? (p) * csa : runs && runs->offsets ? runs->offsets[p] : (p))); \
            c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);                                                 \
            if (VECS == 2) c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);                                  \
        }                                                                                           \
    } while (0)
    NK_STRIDED_COLUMNS(kc, B, rsb, brows, bcol, BROWS, runs, acol, NK_STRIDED_STEP);
#undef NK_STRIDED_STEP
    store_tile(c0, c1, alpha, beta, C, ldc, ROWS, VECS, nr);
}

static inline __attribute__((always_inline)) void
tile_strided(int64_t kc, const float *A, int64_t rsa, int64_t csa, const float *B, int64_t rsb,
             const float *const *brows, int64_t bcol, const float *const *arows, int64_t acol,
             const nk_a_columns *runs, float alpha, float beta, float *C, int64_t ldc, const int ROWS, const int VECS,
             const int BROWS, const int AROWS, int nr) {
    if (nr == 8 * VECS)
        tile_strided_loop(kc, A, rsa, csa, B, rsb, brows, bcol, arows, acol, runs, alpha, beta, C, ldc, ROWS, VECS,
                          BROWS, AROWS, 1, nr);
    else
        tile_strided_loop(kc, A, rsa, csa, B, rsb, brows, bcol, arows, acol, runs, alpha, beta, C, ldc, ROWS, VECS,
                          BROWS, AROWS, 0, nr);
}

// Runs tile_strided(ARGS..., rows, vecs, BROWS, AROWS, nr) for the tile's mr (1..MR) rows and its
// 8-column vectors (1..2): the dispatch of the three unpacked variants below.
#define NK_STRIDED_TILE(BROWS, AROWS, ...)                                                         \
    do {                                                                                           \
        const int vecs_ = nr > 8 ? 2 : 1;                                                          \
        switch (mr * 4 + vecs_) {                                                                  \
        case 1 * 4 + 1: tile_strided(__VA_ARGS__, 1, 1, BROWS, AROWS, nr); return;                 \
        case 1 * 4 + 2: tile_strided(__VA_ARGS__, 1, 2, BROWS, AROWS, nr); return;                 \
        case 2 * 4 + 1: tile_strided(__VA_ARGS__, 2, 1, BROWS, AROWS, nr); return;                 \
        case 2 * 4 + 2: tile_strided(__VA_ARGS__, 2, 2, BROWS, AROWS, nr); return;                 \
        case 3 * 4 + 1: tile_strided(__VA_ARGS__, 3, 1, BROWS, AROWS, nr); return;                 \
        case 3 * 4 + 2: tile_strided(__VA_ARGS__, 3, 2, BROWS, AROWS, nr); return;                 \
        case 4 * 4 + 1: tile_strided(__VA_ARGS__, 4, 1, BROWS, AROWS, nr); return;                 \
        case 4 * 4 + 2: tile_strided(__VA_ARGS__, 4, 2, BROWS, AROWS, nr); return;                 \
        case 5 * 4 + 1: tile_strided(__VA_ARGS__, 5, 1, BROWS, AROWS, nr); return;                 \
        case 5 * 4 + 2: tile_strided(__VA_ARGS__, 5, 2, BROWS, AROWS, nr); return;                 \
        case 6 * 4 + 1: tile_strided(__VA_ARGS__, 6, 1, BROWS, AROWS, nr); return;                 \
        default: tile_strided(__VA_ARGS__, 6, 2, BROWS, AROWS, nr); return;                        \
        }                                                                                          \
    } while (0)

static void nk_f32_gemm_ukernel_6x16__avx2_strided(int64_t kc, const float *A, int64_t rsa, int64_t csa,
                                            const float *B, int64_t rsb, float alpha, float beta,
                                            float *C, int64_t ldc, int mr, int nr) {
    NK_STRIDED_TILE(0, 0, kc, A, rsa, csa, B, rsb, NULL, 0, NULL, 0, NULL, alpha, beta, C, ldc);
}

// The packed-A tile with B's rows read in place through row pointers (nk_sgemm_ukernel_brows_fn).
static void nk_f32_gemm_ukernel_6x16__avx2_brows(int64_t kc, const float *Ap, const float *const *brows,
                                                 int64_t bcol, float alpha, float beta, float *C,
                                                 int64_t ldc, int mr, int nr) {
    NK_STRIDED_TILE(1, 0, kc, Ap, 1, MR, NULL, 0, brows, bcol, NULL, 0, NULL, alpha, beta, C, ldc);
}

// A's rows read in place through row pointers, B a packed panel (nk_sgemm_ukernel_arows_fn).
static void nk_f32_gemm_ukernel_6x16__avx2_arows(int64_t kc, const float *const *arows, int64_t acol,
                                                 const float *Bp, float alpha, float beta, float *C,
                                                 int64_t ldc, int mr, int nr) {
    NK_STRIDED_TILE(0, 1, kc, NULL, 0, 0, Bp, NR, NULL, 0, arows, acol, NULL, alpha, beta, C, ldc);
}

// The same over runs of A's columns (nk_sgemm_ukernel_arows_runs_fn).
static void nk_f32_gemm_ukernel_6x16__avx2_arows_runs(int64_t kc, const float *const *arows, int64_t acol,
                                                      int64_t period, int64_t keep, const float *Bp, float alpha,
                                                      float beta, float *C, int64_t ldc, int mr, int nr) {
    const nk_a_columns runs = {period, keep, NULL};
    NK_STRIDED_TILE(0, 1, kc, NULL, 0, 0, Bp, NR, NULL, 0, arows, acol, &runs, alpha, beta, C, ldc);
}

// A through output-position pointers and row offsets (nk_sgemm_ukernel_aoffsets_fn).
static void nk_f32_gemm_ukernel_6x16__avx2_aoffsets(int64_t kc, const float *const *apos, const int64_t *off,
                                                    const float *Bp, float alpha, float beta, float *C, int64_t ldc,
                                                    int mr, int nr) {
    const nk_a_columns at = {0, 0, off};
    NK_STRIDED_TILE(0, 1, kc, NULL, 0, 0, Bp, NR, NULL, 0, apos, 0, &at, alpha, beta, C, ldc);
}
#undef NK_STRIDED_TILE

// Packer (contract nk_pack_fn, internal.h), 8 columns at a time (see the AVX-512 packer for why
// not memcpy): whole vectors of the source row load unmasked, a partial one masked (lanes past n
// read as zeros), none past it; each vector of the panel row is stored whole, or its first R − 8v
// floats by store_first (a 6-row A panel). Every load and store masked, as first written, put
// perf's samples on the masked stores (Zen 3); B panels (R = 16) now store unmasked only.
static void nk_f32_pack_copy__avx2(const float *src, int64_t lds, const float *const *rows, int64_t col0,
                            int n, int64_t kc, int R, float *restrict dst) {
    enum { MAXV = 8 }; // R <= 64
    __m256i ld[MAXV];
    int have[MAXV], room[MAXV];
    const int vecs = (R + 7) / 8;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int v = 0; v < vecs; v++) {
        have[v] = NK_MAX(0, NK_MIN(8, n - 8 * v));
        room[v] = NK_MIN(8, R - 8 * v);
        ld[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(have[v]), iota);
    }
    for (int64_t p = 0; p < kc; p++) {
        const float *s = rows ? rows[p] + col0 : src + p * lds;
        float *d = dst + p * R;
        for (int v = 0; v < vecs; v++) {
            const __m256 x = have[v] == 8 ? _mm256_loadu_ps(s + 8 * v)
                           : have[v] == 0 ? _mm256_setzero_ps() : _mm256_maskload_ps(s + 8 * v, ld[v]);
            store_first(d + 8 * v, x, room[v]);
        }
    }
}

// Transposing packer (contract nk_pack_fn, internal.h): groups of 8 panel rows, 8 source rows × 8
// columns at a time transposed in registers (unpack, shuffle, 128-bit lane permute). A group of 6
// (the 6x16 tile's A panels) stores each column as 4 + 2 floats; the last columns load masked, so
// nothing past a row's kc floats is read; rows past n are zeros. The SSE2 packer moved 4 × 4 blocks
// and the last two rows of a 6-row panel one float at a time (Zen 3, 1 thread: see the commit).
static void nk_f32_pack_transpose__avx2(const float *src, int64_t lds, const float *const *rows, int64_t col0,
                                        int n, int64_t kc, int R, float *restrict dst) {
    const __m256 z = _mm256_setzero_ps();
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int i = 0; i < R; i += 8) {
        const int w = NK_MIN(8, R - i);              // panel rows this group fills
        const int v = NK_MAX(0, NK_MIN(w, n - i));   // of them, rows that exist
        const __m256i st = _mm256_cmpgt_epi32(_mm256_set1_epi32(w), iota);
        const float *s[8];
        for (int k = 0; k < 8; k++) s[k] = k < v ? (rows ? rows[i + k] + col0 : src + (int64_t)(i + k) * lds) : NULL;
        for (int64_t p = 0; p < kc; p += 8) {
            const int64_t rem = NK_MIN(8, kc - p);
            const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), iota);
            __m256 r[8];
            for (int k = 0; k < 8; k++)
                r[k] = k >= v ? z : rem == 8 ? _mm256_loadu_ps(s[k] + p) : _mm256_maskload_ps(s[k] + p, m);
            __m256 col[8]; // column j of the 8 × 8 block: rows i..i+7 at column p + j
            nk__transpose8x8_ps(r, col);
            for (int j = 0; j < rem; j++) {
                float *d = dst + (p + j) * R + i;
                if (w == 8) _mm256_storeu_ps(d, col[j]);
                else if (w == 6) {
                    _mm_storeu_ps(d, _mm256_castps256_ps128(col[j]));
                    _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(col[j], 1));
                } else _mm256_maskstore_ps(d, st, col[j]);
            }
        }
    }
}

// Dropout over 8 streams (contract nk_dropout_streams_fn): streams 0-3 in one ymm per state word,
// 4-7 in another. AVX2 has neither 64-bit rotates nor multiplies: rotates are two shifts and an or,
// the multiplies by 5 and 9 shifts and adds. The 24-bit uniforms and the threshold (at most 2^24)
// fit a signed compare. A round's 16 values are the two halves' 8 each; the tail round is masked.
static inline __attribute__((always_inline)) __m256i rotl64(__m256i v, int k) {
    return _mm256_or_si256(_mm256_slli_epi64(v, k), _mm256_srli_epi64(v, 64 - k));
}

static void nk_f32_dropout_streams__avx2(uint64_t *state, int64_t n, uint32_t threshold, float scale,
                                         const float *x, float *y, uint16_t *keep) {
    __m256i s[4][2];
    for (int w = 0; w < 4; w++)
        for (int h = 0; h < 2; h++) s[w][h] = _mm256_loadu_si256((const __m256i *)(state + 8 * w + 4 * h));
    const __m256i low24 = _mm256_set1_epi64x(0xFFFFFF), th = _mm256_set1_epi32((int)threshold);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 vs = _mm256_set1_ps(scale);
    for (int64_t v0 = 0; v0 < n; v0 += 16) {
        unsigned word = 0;
        for (int h = 0; h < 2; h++) {
            __m256i *s0 = &s[0][h], *s1 = &s[1][h], *s2 = &s[2][h], *s3 = &s[3][h];
            const __m256i m5 = _mm256_add_epi64(_mm256_slli_epi64(*s1, 2), *s1);
            const __m256i r7 = rotl64(m5, 7);
            const __m256i d = _mm256_add_epi64(_mm256_slli_epi64(r7, 3), r7);
            const __m256i t = _mm256_slli_epi64(*s1, 17);
            *s2 = _mm256_xor_si256(*s2, *s0);
            *s3 = _mm256_xor_si256(*s3, *s1);
            *s1 = _mm256_xor_si256(*s1, *s2);
            *s0 = _mm256_xor_si256(*s0, *s3);
            *s2 = _mm256_xor_si256(*s2, t);
            *s3 = rotl64(*s3, 45);
            const __m256i u = _mm256_or_si256(_mm256_srli_epi64(d, 40),
                                              _mm256_slli_epi64(_mm256_and_si256(_mm256_srli_epi64(d, 8), low24), 32));
            const __m256 kept = _mm256_castsi256_ps(_mm256_cmpgt_epi32(th, u));
            const __m256 m = _mm256_and_ps(kept, vs);
            const int64_t at = v0 + 8 * h, rem = n - at;
            if (rem <= 0) break;
            if (rem >= 8) {
                word |= (unsigned)_mm256_movemask_ps(kept) << (8 * h);
                _mm256_storeu_ps(y + at, _mm256_mul_ps(_mm256_loadu_ps(x + at), m));
            } else {
                const __m256i io = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), iota);
                word |= (unsigned)_mm256_movemask_ps(_mm256_and_ps(kept, _mm256_castsi256_ps(io))) << (8 * h);
                _mm256_maskstore_ps(y + at, io, _mm256_mul_ps(_mm256_maskload_ps(x + at, io), m));
            }
        }
        keep[v0 / 16] = (uint16_t)word;
    }
    for (int w = 0; w < 4; w++)
        for (int h = 0; h < 2; h++) _mm256_storeu_si256((__m256i *)(state + 8 * w + 4 * h), s[w][h]);
}

// Dropout's backward (contract nk_dropout_apply_fn): a keep byte becomes 8 lanes' mask by testing
// each lane's own bit of the broadcast byte.
static void nk_f32_dropout_apply__avx2(int64_t n, const uint16_t *keep, float scale, const float *dy,
                                       const float *gate, float *dx) {
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 vs = _mm256_set1_ps(scale);
    for (int64_t at = 0; at < n; at += 8) {
        const __m256i byte = _mm256_set1_epi32(keep ? (keep[at / 16] >> (at % 16)) & 0xFF : 0xFF);
        const __m256 m = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(byte, bit), bit)), vs);
        const int64_t rem = n - at;
        // The gate's lanes that are not > 0 (NaN included: an ordered compare) become +0.
        if (rem >= 8) {
            __m256 d = _mm256_mul_ps(_mm256_loadu_ps(dy + at), m);
            if (gate) d = _mm256_and_ps(d, _mm256_cmp_ps(_mm256_loadu_ps(gate + at), _mm256_setzero_ps(), _CMP_GT_OQ));
            _mm256_storeu_ps(dx + at, d);
        } else {
            const __m256i io = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), iota);
            __m256 d = _mm256_mul_ps(_mm256_maskload_ps(dy + at, io), m);
            if (gate) d = _mm256_and_ps(d, _mm256_cmp_ps(_mm256_maskload_ps(gate + at, io), _mm256_setzero_ps(), _CMP_GT_OQ));
            _mm256_maskstore_ps(dx + at, io, d);
        }
    }
}

// 2×2 stride-2 max-pool row (contract nk_maxpool_2x2_row_fn), 8 windows per step: two 8-float
// loads per input row, split into the windows' left (even) and right (odd) columns by a shuffle
// within 128-bit lanes and a 64-bit permute, then the four compares of nk__max_takes in row-major
// order as blends of values and offsets. A row of at least 8 windows ends with the step of its
// last 8, which recomputes (and stores again, with the same values) some of the step before:
// Zen 3's masked stores cost more than the rest of a step (perf: 28 % of the kernel's time on
// the two stores of a 6-window tail, LeNet-5's 14-window rows). A shorter row loads masked, so
// nothing outside the windows is read, and stores by store_first.
static void nk_f32_maxpool_2x2_row__avx2(const float *r0, int64_t W, int64_t n, int32_t base, float *y,
                                         int32_t *arg) {
    const float *r1 = r0 + W;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i lane2 = _mm256_slli_epi32(iota, 1);
    for (int64_t step = 0; step < n; step += 8) {
        const int64_t o = n >= 8 ? NK_MIN(step, n - 8) : 0, rem = NK_MIN(8, n - o);
        __m256 t0, t1, b0, b1;
        if (rem == 8) {
            t0 = _mm256_loadu_ps(r0 + 2 * o), t1 = _mm256_loadu_ps(r0 + 2 * o + 8);
            b0 = _mm256_loadu_ps(r1 + 2 * o), b1 = _mm256_loadu_ps(r1 + 2 * o + 8);
        } else {
            const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(2 * rem)), iota);
            const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(2 * rem - 8)), iota);
            t0 = _mm256_maskload_ps(r0 + 2 * o, m0), t1 = _mm256_maskload_ps(r0 + 2 * o + 8, m1);
            b0 = _mm256_maskload_ps(r1 + 2 * o, m0), b1 = _mm256_maskload_ps(r1 + 2 * o + 8, m1);
        }
        // shuffle_ps takes (a0 a2 b0 b2 | a4 a6 b4 b6); the permute puts the 64-bit pairs in order.
        const __m256 v[4] = {
            _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0))),
            _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0))),
            _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0))),
            _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)))};
        const __m256i first = _mm256_add_epi32(lane2, _mm256_set1_epi32(base + (int32_t)(2 * o)));
        const __m256i off[4] = {first, _mm256_add_epi32(first, _mm256_set1_epi32(1)),
                                _mm256_add_epi32(first, _mm256_set1_epi32((int32_t)W)),
                                _mm256_add_epi32(first, _mm256_set1_epi32((int32_t)W + 1))};
        __m256 best = v[0];
        __m256i at = off[0];
        for (int j = 1; j < 4; j++) {
            // nk__max_takes: v > best, or v is NaN and best is not.
            const __m256 t = _mm256_or_ps(_mm256_cmp_ps(v[j], best, _CMP_GT_OQ),
                                          _mm256_and_ps(_mm256_cmp_ps(v[j], v[j], _CMP_UNORD_Q),
                                                        _mm256_cmp_ps(best, best, _CMP_ORD_Q)));
            best = _mm256_blendv_ps(best, v[j], t);
            at = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(at), _mm256_castsi256_ps(off[j]), t));
        }
        if (rem == 8) {
            _mm256_storeu_ps(y + o, best);
            if (arg) _mm256_storeu_si256((__m256i *)(arg + o), at);
        } else {
            store_first(y + o, best, (int)rem);
            if (arg) store_first((float *)(arg + o), _mm256_castsi256_ps(at), (int)rem);
        }
    }
}

// 2×2 stride-2 max-pool backward row (contract nk_maxpool_2x2_backward_row_fn), 8 windows per step:
// four compares of the arg-maxes against the windows' offsets give four masks; the masked
// gradients of the left and right columns interleave into each row's 16 floats (unpack within
// 128-bit lanes, then a lane permute). As in the forward row, a row of at least 8 windows ends
// with its last 8 (rewriting some outputs with the values they already hold) and only a shorter
// one loads masked (and stores by store_first).
static void nk_f32_maxpool_2x2_backward_row__avx2(const float *dy, const int32_t *arg, int64_t n, int32_t base,
                                                  int64_t W, float *dx) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i lane2 = _mm256_slli_epi32(iota, 1);
    const __m256i one = _mm256_set1_epi32(1), down = _mm256_set1_epi32((int32_t)W);
    float *d1 = dx + W;
    for (int64_t step = 0; step < n; step += 8) {
        const int64_t o = n >= 8 ? NK_MIN(step, n - 8) : 0, rem = NK_MIN(8, n - o);
        const __m256i in = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), iota);
        const __m256 g = _mm256_add_ps(_mm256_setzero_ps(), rem == 8 ? _mm256_loadu_ps(dy + o) : _mm256_maskload_ps(dy + o, in));
        const __m256i a = rem == 8 ? _mm256_loadu_si256((const __m256i *)(arg + o)) : _mm256_maskload_epi32(arg + o, in);
        const __m256i tl = _mm256_add_epi32(lane2, _mm256_set1_epi32(base + (int32_t)(2 * o)));
        const __m256i bl = _mm256_add_epi32(tl, down);
        // Lanes past rem: g is +0 there, so whatever the compare, nothing but +0 is formed (and
        // those lanes are not stored).
        const __m256 v[4] = {_mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(a, tl)), g),
                             _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(a, _mm256_add_epi32(tl, one))), g),
                             _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(a, bl)), g),
                             _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(a, _mm256_add_epi32(bl, one))), g)};
        for (int r = 0; r < 2; r++) {
            const __m256 lo = _mm256_unpacklo_ps(v[2 * r], v[2 * r + 1]), hi = _mm256_unpackhi_ps(v[2 * r], v[2 * r + 1]);
            const __m256 first = _mm256_permute2f128_ps(lo, hi, 0x20), second = _mm256_permute2f128_ps(lo, hi, 0x31);
            float *d = (r ? d1 : dx) + 2 * o;
            if (rem == 8) {
                _mm256_storeu_ps(d, first);
                _mm256_storeu_ps(d + 8, second);
            } else {
                store_first(d, first, (int)NK_MIN(8, 2 * rem));
                store_first(d + 8, second, (int)NK_MAX(0, 2 * rem - 8));
            }
        }
    }
}

// Sums of shifted rows (contract nk_shifted_sum_fn), 8 outputs of up to 8 rows a step, each held in
// a register across all terms. A term that covers all 8 outputs loads unmasked; one that covers
// part of them loads masked (lanes outside read as +0, and adding +0 to a sum that started from dst
// changes nothing unless the sum is -0, which a sum started from +0 never is: the same bits as
// adding only the terms in range, as on AVX-512). As there, a term's mask is made once per block
// (the same for every row) and up to 8 rows keep independent chains of adds in flight.
static inline __attribute__((always_inline)) void
shifted_sum_rows(const int R, const float *src, int64_t lds, const int64_t *off, const __m256i *tm,
                 const unsigned char *full, int terms, int64_t w0, __m256i out, int64_t rem, float *dst,
                 int64_t ldd) {
    __m256 acc[8];
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++) acc[r] = rem == 8 ? _mm256_loadu_ps(dst + r * ldd + w0) : _mm256_maskload_ps(dst + r * ldd + w0, out);
    for (int t = 0; t < terms; t++) {
        const float *s = src + off[t] + w0;
        if (full[t] == 1) {
#pragma clang loop unroll(full)
            for (int r = 0; r < R; r++) acc[r] = _mm256_add_ps(acc[r], _mm256_loadu_ps(s + r * lds));
        } else if (full[t] == 2) {
#pragma clang loop unroll(full)
            for (int r = 0; r < R; r++) acc[r] = _mm256_add_ps(acc[r], _mm256_maskload_ps(s + r * lds, tm[t]));
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++) store_first(dst + r * ldd + w0, acc[r], (int)rem);
}

static void nk_f32_shifted_sum__avx2(int64_t rows, const float *src, int64_t lds, const int64_t *off,
                                     const int64_t *lo, const int64_t *hi, int terms, int64_t n,
                                     float *dst, int64_t ldd) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i tm[NK_SHIFTED_SUM_MAX_TERMS];
    unsigned char full[NK_SHIFTED_SUM_MAX_TERMS]; // per term: 0 out of the block, 1 all 8 lanes, 2 masked
    for (int64_t w0 = 0; w0 < n; w0 += 8) {
        const int64_t rem = NK_MIN((int64_t)8, n - w0);
        const __m256i out = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), iota);
        for (int t = 0; t < terms; t++) {
            const int64_t a = NK_MAX(lo[t] - w0, (int64_t)0), b = NK_MIN(hi[t] - w0, rem);
            full[t] = a >= b ? 0 : a == 0 && b == 8 ? 1 : 2;
            tm[t] = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)a), iota),
                                        _mm256_cmpgt_epi32(_mm256_set1_epi32((int)b), iota));
        }
        for (int64_t r = 0; r < rows; r += 8) {
            const float *s = src + r * lds;
            float *d = dst + r * ldd;
            switch (NK_MIN((int64_t)8, rows - r)) {
            case 1: shifted_sum_rows(1, s, lds, off, tm, full, terms, w0, out, rem, d, ldd); break;
            case 2: shifted_sum_rows(2, s, lds, off, tm, full, terms, w0, out, rem, d, ldd); break;
            case 3: shifted_sum_rows(3, s, lds, off, tm, full, terms, w0, out, rem, d, ldd); break;
            case 4: shifted_sum_rows(4, s, lds, off, tm, full, terms, w0, out, rem, d, ldd); break;
            case 5: shifted_sum_rows(5, s, lds, off, tm, full, terms, w0, out, rem, d, ldd); break;
            case 6: shifted_sum_rows(6, s, lds, off, tm, full, terms, w0, out, rem, d, ldd); break;
            case 7: shifted_sum_rows(7, s, lds, off, tm, full, terms, w0, out, rem, d, ldd); break;
            default: shifted_sum_rows(8, s, lds, off, tm, full, terms, w0, out, rem, d, ldd); break;
            }
        }
    }
}

// Dot products of rows (contract nk_row_dots_fn): each 16-lane sum in two ymm (lanes 0-7, 8-15).
// A block of KB <= 2 rows of a by RB <= 3 rows of brows: 12 accumulators and a's 4 vectors fill
// the 16 registers, brows' vectors are the FMAs' memory operands. The last, partial 16 columns load
// masked (zeros) and blend the fma's result into the lanes before n only.
static inline __attribute__((always_inline)) void
row_dots_block(const int KB, const int RB, const float *a, int64_t lda, const float *const *b, int64_t n,
               float *out, int64_t ldo) {
    __m256 acc[2][3][2];
#pragma clang loop unroll(full)
    for (int k = 0; k < KB; k++)
#pragma clang loop unroll(full)
        for (int r = 0; r < RB; r++) acc[k][r][0] = acc[k][r][1] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= n; p += 16) {
        __m256 x[2][2];
#pragma clang loop unroll(full)
        for (int k = 0; k < KB; k++) {
            x[k][0] = _mm256_loadu_ps(a + k * lda + p);
            x[k][1] = _mm256_loadu_ps(a + k * lda + p + 8);
        }
#pragma clang loop unroll(full)
        for (int r = 0; r < RB; r++)
#pragma clang loop unroll(full)
            for (int h = 0; h < 2; h++) {
                const __m256 y = _mm256_loadu_ps(b[r] + p + 8 * h);
#pragma clang loop unroll(full)
                for (int k = 0; k < KB; k++) acc[k][r][h] = _mm256_fmadd_ps(x[k][h], y, acc[k][r][h]);
            }
    }
    if (p < n) {
        const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i m[2] = {_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - p)), iota),
                              _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - p - 8)), iota)};
#pragma clang loop unroll(full)
        for (int h = 0; h < 2; h++)
#pragma clang loop unroll(full)
            for (int r = 0; r < RB; r++) {
                const __m256 y = _mm256_maskload_ps(b[r] + p + 8 * h, m[h]);
#pragma clang loop unroll(full)
                for (int k = 0; k < KB; k++) {
                    const __m256 x = _mm256_maskload_ps(a + k * lda + p + 8 * h, m[h]);
                    acc[k][r][h] = _mm256_blendv_ps(acc[k][r][h], _mm256_fmadd_ps(x, y, acc[k][r][h]),
                                                    _mm256_castsi256_ps(m[h]));
                }
            }
    }
#pragma clang loop unroll(full)
    for (int k = 0; k < KB; k++)
#pragma clang loop unroll(full)
        for (int r = 0; r < RB; r++) {
            const __m256 h = _mm256_add_ps(acc[k][r][0], acc[k][r][1]); // l + (l + 8)
            __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
            q = _mm_add_ps(q, _mm_movehl_ps(q, q)); // lanes 0, 1: l + (l + 2)
            q = _mm_add_ss(q, _mm_movehdup_ps(q));  // lane 0: 0 + 1
            out[k * ldo + r] = _mm_cvtss_f32(q);
        }
}

static void nk_f32_row_dots__avx2(int64_t ka, const float *a, int64_t lda, int64_t rb,
                                  const float *const *brows, int64_t n, float *out, int64_t ldo) {
    for (int64_t k = 0; k < ka; k += 2)
        for (int64_t r = 0; r < rb; r += 3) {
            const float *ak = a + k * lda;
            const float *const *br = brows + r;
            float *o = out + k * ldo + r;
            switch ((int)NK_MIN(2, ka - k) * 4 + (int)NK_MIN(3, rb - r)) {
            case 5: row_dots_block(1, 1, ak, lda, br, n, o, ldo); break;
            case 6: row_dots_block(1, 2, ak, lda, br, n, o, ldo); break;
            case 7: row_dots_block(1, 3, ak, lda, br, n, o, ldo); break;
            case 9: row_dots_block(2, 1, ak, lda, br, n, o, ldo); break;
            case 10: row_dots_block(2, 2, ak, lda, br, n, o, ldo); break;
            default: row_dots_block(2, 3, ak, lda, br, n, o, ldo); break;
            }
        }
}

#pragma clang attribute pop

// Outside the target attribute: this runs on CPUs without the ISA.
static int supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const nk_kernels nk_kernels_avx2 = {
    .isa = NK_ISA_AVX2, .name = "avx2", .supported = supported,
    .ukernel = nk_f32_gemm_ukernel_6x16__avx2, .mr = MR, .nr = NR,
    .ukernel_strided = nk_f32_gemm_ukernel_6x16__avx2_strided,
    .ukernel_brows = nk_f32_gemm_ukernel_6x16__avx2_brows,
    .ukernel_arows = nk_f32_gemm_ukernel_6x16__avx2_arows,
    .ukernel_arows_runs = nk_f32_gemm_ukernel_6x16__avx2_arows_runs,
    .ukernel_aoffsets = nk_f32_gemm_ukernel_6x16__avx2_aoffsets,
    .pack_copy = nk_f32_pack_copy__avx2, .pack_transpose = nk_f32_pack_transpose__avx2,
    .maxpool_row = nk_f32_maxpool_row__sse2, .maxpool_2x2_row = nk_f32_maxpool_2x2_row__avx2,
    .maxpool_2x2_backward_row = nk_f32_maxpool_2x2_backward_row__avx2,
    .shifted_sum = nk_f32_shifted_sum__avx2, .row_dots = nk_f32_row_dots__avx2,
    .dropout_streams = nk_f32_dropout_streams__avx2, .dropout_apply = nk_f32_dropout_apply__avx2,
};
#endif
