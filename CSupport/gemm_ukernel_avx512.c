// AVX-512 SGEMM microkernel, 8x32 tile: 16 zmm accumulators (8 rows x 2 vectors of 16 columns),
// two B vectors loaded per k step and one broadcast of A per row. Contract: nk_sgemm_ukernel_fn
// in internal.h. Why 8x32: Zen 4 issues one 512-bit FMA per cycle (two 256-bit halves) with a
// latency of 4, so 16 independent chains keep it busy with room to spare, while 8 rows divide
// the MLP's batch sizes (64, 256) exactly; edge columns use masked loads/stores.
#include "internal.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma"))), apply_to = function)
#include <immintrin.h>

#define MR 8
#define NR 32

// C[mr x nr] = alpha * Ap[MR x kc] . Bp[kc x NR] + beta * C
void nk_f32_gemm_ukernel_8x32__avx512(int64_t kc, const float *Ap, const float *Bp, float alpha,
                                      float beta, float *C, int64_t ldc, int mr, int nr) {
    __m512 c0[MR], c1[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) { c0[i] = _mm512_setzero_ps(); c1[i] = _mm512_setzero_ps(); }
    // Warm the C tile while the products run; it is needed only at the end.
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(C + (int64_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(C + (int64_t)i * ldc + 16), _MM_HINT_T0);
    }
#pragma clang loop unroll_count(4)
    for (int64_t p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_load_ps(Bp);
        const __m512 b1 = _mm512_load_ps(Bp + 16);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            const __m512 a = _mm512_set1_ps(Ap[i]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
        Ap += MR;
        Bp += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha);
    if (mr == MR && nr == NR) {
        if (beta == 0) {
#pragma clang loop unroll(full)
            for (int i = 0; i < MR; i++) {
                _mm512_storeu_ps(C + (int64_t)i * ldc, _mm512_mul_ps(va, c0[i]));
                _mm512_storeu_ps(C + (int64_t)i * ldc + 16, _mm512_mul_ps(va, c1[i]));
            }
        } else {
            const __m512 vb = _mm512_set1_ps(beta);
#pragma clang loop unroll(full)
            for (int i = 0; i < MR; i++) {
                float *c = C + (int64_t)i * ldc;
                _mm512_storeu_ps(c, _mm512_fmadd_ps(va, c0[i], _mm512_mul_ps(vb, _mm512_loadu_ps(c))));
                _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(va, c1[i], _mm512_mul_ps(vb, _mm512_loadu_ps(c + 16))));
            }
        }
        return;
    }
    const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1);
    const __m512 vb = _mm512_set1_ps(beta);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *c = C + (int64_t)i * ldc;
        if (beta == 0) {
            _mm512_mask_storeu_ps(c, m0, _mm512_mul_ps(va, c0[i]));
            _mm512_mask_storeu_ps(c + 16, m1, _mm512_mul_ps(va, c1[i]));
        } else {
            _mm512_mask_storeu_ps(c, m0, _mm512_fmadd_ps(va, c0[i], _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m0, c))));
            _mm512_mask_storeu_ps(c + 16, m1, _mm512_fmadd_ps(va, c1[i], _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16))));
        }
    }
}

#pragma clang attribute pop
#endif
