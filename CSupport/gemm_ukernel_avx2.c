// AVX2+FMA SGEMM microkernel, 6x16 tile: 12 ymm accumulators (6 rows x 2 vectors of 8 columns),
// two B vectors and one A broadcast per row per k step: 15 of the 16 ymm registers. Contract:
// nk_sgemm_ukernel_fn in internal.h. Two FMA pipes x latency 4 need >= 8 independent chains; 12
// leave headroom. Edge columns use maskload/maskstore.
#include "internal.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#include <immintrin.h>

#define MR 6
#define NR 16

// C[mr x nr] = alpha * Ap[MR x kc] . Bp[kc x NR] + beta * C
void nk_f32_gemm_ukernel_6x16__avx2(int64_t kc, const float *Ap, const float *Bp, float alpha,
                                    float beta, float *C, int64_t ldc, int mr, int nr) {
    __m256 c0[MR], c1[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) { c0[i] = _mm256_setzero_ps(); c1[i] = _mm256_setzero_ps(); }
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(C + (int64_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(C + (int64_t)i * ldc + 15), _MM_HINT_T0);
    }
#pragma clang loop unroll_count(4)
    for (int64_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_load_ps(Bp);
        const __m256 b1 = _mm256_load_ps(Bp + 8);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            const __m256 a = _mm256_broadcast_ss(Ap + i);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
        Ap += MR;
        Bp += NR;
    }
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 vb = _mm256_set1_ps(beta);
    if (mr == MR && nr == NR) {
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
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
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *c = C + (int64_t)i * ldc;
        if (beta == 0) {
            _mm256_maskstore_ps(c, m0, _mm256_mul_ps(va, c0[i]));
            _mm256_maskstore_ps(c + 8, m1, _mm256_mul_ps(va, c1[i]));
        } else {
            _mm256_maskstore_ps(c, m0, _mm256_fmadd_ps(va, c0[i], _mm256_mul_ps(vb, _mm256_maskload_ps(c, m0))));
            _mm256_maskstore_ps(c + 8, m1, _mm256_fmadd_ps(va, c1[i], _mm256_mul_ps(vb, _mm256_maskload_ps(c + 8, m1))));
        }
    }
}

#pragma clang attribute pop
#endif
