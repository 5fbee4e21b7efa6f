// AVX2 kernels: the SGEMM microkernel and the copying packer.
// Microkernel, 6x16 tile: 12 ymm accumulators (6 rows x 2 vectors of 8 columns), two B vectors and
// one A broadcast per row per k step: 15 of the 16 ymm registers. Contract: nk_sgemm_ukernel_fn in
// internal.h. Two FMA pipes x latency 4 need >= 8 independent chains; 12 leave headroom. Edge
// columns use maskload/maskstore; edge tiles compute only their rows and vectors (as AVX-512).
#include "internal.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#include <immintrin.h>

#define MR 6
#define NR 16

// C[ROWS x nr] = alpha * acc + beta * C (beta == 0: C not read); full tiles unmasked.
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
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) {
        float *c = C + (int64_t)i * ldc;
        if (beta == 0) {
            _mm256_maskstore_ps(c, m0, _mm256_mul_ps(va, c0[i]));
            if (VECS == 2) _mm256_maskstore_ps(c + 8, m1, _mm256_mul_ps(va, c1[i]));
        } else {
            _mm256_maskstore_ps(c, m0, _mm256_fmadd_ps(va, c0[i], _mm256_mul_ps(vb, _mm256_maskload_ps(c, m0))));
            if (VECS == 2)
                _mm256_maskstore_ps(c + 8, m1, _mm256_fmadd_ps(va, c1[i], _mm256_mul_ps(vb, _mm256_maskload_ps(c + 8, m1))));
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
// (masked to nr columns) from B + p*rsb. Same FMAs per element in the same order as tile().
static inline __attribute__((always_inline)) void
tile_strided(int64_t kc, const float *A, int64_t rsa, int64_t csa, const float *B, int64_t rsb,
             float alpha, float beta, float *C, int64_t ldc, const int ROWS, const int VECS, int nr) {
    __m256 c0[MR], c1[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) { c0[i] = _mm256_setzero_ps(); c1[i] = _mm256_setzero_ps(); }
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), iota);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), iota);
    const float *a[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) a[i] = A + i * rsa;
    for (int64_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_maskload_ps(B, m0);
        const __m256 b1 = VECS == 2 ? _mm256_maskload_ps(B + 8, m1) : b0;
#pragma clang loop unroll(full)
        for (int i = 0; i < ROWS; i++) {
            const __m256 av = _mm256_broadcast_ss(a[i] + p * csa);
            c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
            if (VECS == 2) c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
        }
        B += rsb;
    }
    store_tile(c0, c1, alpha, beta, C, ldc, ROWS, VECS, nr);
}

static void nk_f32_gemm_ukernel_6x16__avx2_strided(int64_t kc, const float *A, int64_t rsa, int64_t csa,
                                            const float *B, int64_t rsb, float alpha, float beta,
                                            float *C, int64_t ldc, int mr, int nr) {
#define NK_TILE_ROWS(V)                                                                             \
    switch (mr) {                                                                                  \
    case 1: tile_strided(kc, A, rsa, csa, B, rsb, alpha, beta, C, ldc, 1, V, nr); return;          \
    case 2: tile_strided(kc, A, rsa, csa, B, rsb, alpha, beta, C, ldc, 2, V, nr); return;          \
    case 3: tile_strided(kc, A, rsa, csa, B, rsb, alpha, beta, C, ldc, 3, V, nr); return;          \
    case 4: tile_strided(kc, A, rsa, csa, B, rsb, alpha, beta, C, ldc, 4, V, nr); return;          \
    case 5: tile_strided(kc, A, rsa, csa, B, rsb, alpha, beta, C, ldc, 5, V, nr); return;          \
    default: tile_strided(kc, A, rsa, csa, B, rsb, alpha, beta, C, ldc, 6, V, nr); return;         \
    }
    if (nr > 8) { NK_TILE_ROWS(2) }
    NK_TILE_ROWS(1)
#undef NK_TILE_ROWS
}

// Packer (contract nk_pack_fn, internal.h): masked loads and stores, 8 columns at a time (see the
// AVX-512 packer for why not memcpy).
static void nk_f32_pack_copy__avx2(const float *src, int64_t lds, const float *const *rows, int64_t col0,
                            int n, int64_t kc, int R, float *restrict dst) {
    enum { MAXV = 8 }; // R <= 64
    __m256i ld[MAXV], st[MAXV];
    const int vecs = (R + 7) / 8;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int v = 0; v < vecs; v++) {
        ld[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8 * v), iota);
        st[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(R - 8 * v), iota);
    }
    for (int64_t p = 0; p < kc; p++) {
        const float *s = rows ? rows[p] + col0 : src + p * lds;
        float *d = dst + p * R;
        for (int v = 0; v < vecs; v++)
            _mm256_maskstore_ps(d + 8 * v, st[v], _mm256_maskload_ps(s + 8 * v, ld[v]));
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
    .pack_copy = nk_f32_pack_copy__avx2, .pack_transpose = nk_f32_pack_transpose__sse2,
    .maxpool_row = nk_f32_maxpool_row__sse2, .maxpool_2x2_row = nk_f32_maxpool_2x2_row__ref,
    .maxpool_2x2_backward_row = nk_f32_maxpool_2x2_backward_row__ref,
    .shifted_sum = nk_f32_shifted_sum__ref,
    .dropout_streams = nk_f32_dropout_streams__avx2, .dropout_apply = nk_f32_dropout_apply__avx2,
};
#endif
