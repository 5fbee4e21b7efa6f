// SGEMM entry points. (Blocked kernel in progress: for now every call runs the naive loop.)
#include "neurite.h"

void nk_sgemm_ex(nk_isa isa, int threads, int transA, int transB, int64_t M, int64_t N,
                 int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                 float beta, float *C, int64_t ldc) {
    (void)isa; (void)threads;
    nk_sgemm_naive(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void nk_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
              float *C, int64_t ldc) {
    nk_sgemm_ex(NK_ISA_AUTO, 0, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int64_t nk_sgemm_parallel_threshold(void) { return 0; }
