// Portable SGEMM microkernel, 4x16 tile. Contract: see nk_sgemm_ukernel_fn in internal.h.
// Plain C the compiler vectorises for the baseline target; also the model the SIMD kernels follow.
#include "internal.h"

#include <math.h>

#define MR 4
#define NR 16

// C[mr x nr] = alpha * Ap[MR x kc] . Bp[kc x NR] + beta * C
void nk_f32_gemm_ukernel_4x16__ref(int64_t kc, const float *Ap, const float *Bp, float alpha,
                                   float beta, float *C, int64_t ldc, int mr, int nr) {
    float acc[MR][NR] = {{0}};
    for (int64_t p = 0; p < kc; p++) {
        const float *a = Ap + p * MR;
        const float *b = Bp + p * NR;
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < mr; i++) {
        float *c = C + (int64_t)i * ldc;
        if (beta == 0) {
            for (int j = 0; j < nr; j++) c[j] = alpha * acc[i][j];
        } else {
            for (int j = 0; j < nr; j++) c[j] = fmaf(alpha, acc[i][j], beta * c[j]);
        }
    }
}
