// The naive SGEMM: the test oracle and the fallback. Shapes as in neurite.h.
#include "neurite.h"

// C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C
void nk_sgemm_naive(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                    float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            float acc = 0;
            for (int64_t p = 0; p < K; p++) {
                float a = transA ? A[p * lda + i] : A[i * lda + p];
                float b = transB ? B[j * ldb + p] : B[p * ldb + j];
                acc += a * b;
            }
            float c = beta == 0 ? 0 : beta * C[i * ldc + j];
            C[i * ldc + j] = alpha * acc + c;
        }
    }
}
