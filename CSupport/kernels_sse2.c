// SSE2 kernels (x86-64 baseline), shared by the avx2 and avx512 rows of the kernel table: the
// transposing packer and the max-pooling row. Contracts: internal.h.
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define NK_SRC_ROW(k) (rows ? rows[(k)] + col0 : src + (int64_t)(k) * lds)

// 4x4 transposes: a panel costs about a quarter of the scalar scatter. Partial and all-zero groups
// of four rows go through the same transposes (missing rows read as zeros): filling them with
// scalar stores, one lane at a time, cost about as much as the full rows did for the narrow panels
// of convolution's filter gradient (25 of 32 columns, 6 of 8 rows).
void nk_f32_pack_transpose__sse2(const float *src, int64_t lds, const float *const *rows,
                                 int64_t col0, int n, int64_t kc, int R, float *restrict dst) {
    int i = 0;
    const __m128 z = _mm_setzero_ps();
    for (; i + 4 <= R; i += 4) {
        const int v = n - i; // rows of this group that exist
        if (v <= 0) {
            for (int64_t p = 0; p < kc; p++) _mm_storeu_ps(dst + p * R + i, z);
            continue;
        }
        const float *s0 = NK_SRC_ROW(i), *s1 = v > 1 ? NK_SRC_ROW(i + 1) : s0;
        const float *s2 = v > 2 ? NK_SRC_ROW(i + 2) : s0, *s3 = v > 3 ? NK_SRC_ROW(i + 3) : s0;
        int64_t p = 0;
        for (; p + 4 <= kc; p += 4) {
            __m128 r0 = _mm_loadu_ps(s0 + p);
            __m128 r1 = v > 1 ? _mm_loadu_ps(s1 + p) : z;
            __m128 r2 = v > 2 ? _mm_loadu_ps(s2 + p) : z;
            __m128 r3 = v > 3 ? _mm_loadu_ps(s3 + p) : z;
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(dst + (p + 0) * R + i, r0);
            _mm_storeu_ps(dst + (p + 1) * R + i, r1);
            _mm_storeu_ps(dst + (p + 2) * R + i, r2);
            _mm_storeu_ps(dst + (p + 3) * R + i, r3);
        }
        for (; p < kc; p++) {
            float *d = dst + p * R + i;
            d[0] = s0[p]; d[1] = v > 1 ? s1[p] : 0; d[2] = v > 2 ? s2[p] : 0; d[3] = v > 3 ? s3[p] : 0;
        }
    }
    // R not a multiple of 4 (the avx2 row's MR = 6): the last rows one at a time.
    for (; i < R; i++) {
        const float *s = i < n ? NK_SRC_ROW(i) : NULL;
        for (int64_t p = 0; p < kc; p++) dst[p * R + i] = s ? s[p] : 0;
    }
}

// Max pooling: four adjacent outputs at once with their running maxima and arg-maxes in
// registers across the whole window (stride-2 rows are two loads and a shuffle). Measured on
// AlexNet's 3x3/2 pool (16x96x55x55, 1 thread, Zen 4): the portable sweep 8.5 ms, this ~3 ms.
// r[0], r[sw], r[2sw], r[3sw]. A plain stride-2 load also reads r[7]; `last` (the row's last
// group, whose r[7] may lie past the plane) reads r[-1..6] instead (the caller guarantees r[-1]).
static inline __attribute__((always_inline)) __m128 pool_load4(const float *r, const int64_t sw,
                                                               const int last) {
    if (sw == 1) return _mm_loadu_ps(r);
    if (sw == 2 && !last)
        return _mm_shuffle_ps(_mm_loadu_ps(r), _mm_loadu_ps(r + 4), _MM_SHUFFLE(2, 0, 2, 0));
    if (sw == 2)
        return _mm_shuffle_ps(_mm_loadu_ps(r - 1), _mm_loadu_ps(r + 3), _MM_SHUFFLE(3, 1, 3, 1));
    return _mm_setr_ps(r[0], r[sw], r[2 * sw], r[3 * sw]);
}

// Outputs [o0, o0 + 4) with their running maxima and arg-maxes in registers across the window.
static inline __attribute__((always_inline)) void
maxpool_group4(const float *restrict x0, int64_t W, int64_t KH, int64_t KW, const int64_t sw,
               int64_t o0, const int last, const int want_arg, float *restrict best,
               int32_t *restrict arg) {
    const float *r0 = x0 + o0 * sw;
    const __m128i first = _mm_add_epi32(_mm_set1_epi32((int32_t)(o0 * sw)),
                                        _mm_setr_epi32(0, (int32_t)sw, (int32_t)(2 * sw), (int32_t)(3 * sw)));
    __m128 b = pool_load4(r0, sw, last);
    __m128i a = first;
    for (int64_t i = 0; i < KH; i++)
        for (int64_t j = i == 0 ? 1 : 0; j < KW; j++) {
            __m128 v = pool_load4(r0 + i * W + j, sw, last);
            __m128 t = _mm_or_ps(_mm_cmpgt_ps(v, b),
                                 _mm_and_ps(_mm_cmpunord_ps(v, v), _mm_cmpord_ps(b, b)));
            b = _mm_or_ps(_mm_and_ps(t, v), _mm_andnot_ps(t, b));
            if (want_arg) {
                __m128i ti = _mm_castps_si128(t);
                __m128i idx = _mm_add_epi32(first, _mm_set1_epi32((int32_t)(i * W + j)));
                a = _mm_or_si128(_mm_and_si128(ti, idx), _mm_andnot_si128(ti, a));
            }
        }
    _mm_storeu_ps(best + o0, b);
    if (want_arg) _mm_storeu_si128((__m128i *)(arg + o0), a);
}

// Groups of four; the row's last group is shifted back to end at n (recomputing a few outputs
// gives the same values), so only rows of under four outputs (or five at stride 2, where the last
// group reads x0[-1]) take the portable sweep.
static inline __attribute__((always_inline)) void
maxpool_groups(const float *restrict x0, int64_t W, int64_t KH, int64_t KW, const int64_t sw,
               int64_t n, const int want_arg, float *restrict best, int32_t *restrict arg) {
    int64_t o0 = 0;
    for (; o0 + 4 < n; o0 += 4) maxpool_group4(x0, W, KH, KW, sw, o0, 0, want_arg, best, arg);
    maxpool_group4(x0, W, KH, KW, sw, n - 4, 1, want_arg, best, arg);
}

void nk_f32_maxpool_row__sse2(const float *x0, int64_t W, int64_t KH, int64_t KW, int64_t sw,
                              int64_t n, float *best, int32_t *arg) {
    if (n < (sw == 2 ? 5 : 4)) { nk_f32_maxpool_row__ref(x0, W, KH, KW, sw, n, best, arg); return; }
    NK_MAXPOOL_ROW_SPECIALISED(maxpool_groups, x0, W, KH, KW, sw, n, best, arg);
}
#endif
