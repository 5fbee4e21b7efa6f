// Declarations shared by the C sources only (not part of the public API).
#ifndef NEURITE_INTERNAL_H
#define NEURITE_INTERNAL_H

#include "neurite.h"

// The toolchain's clang ships no omp.h; declare the few runtime functions we call.
#ifdef _OPENMP
int omp_get_thread_num(void);
int omp_get_num_threads(void);
#endif

#define NK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define NK_MAX(a, b) ((a) > (b) ? (a) : (b))

#include <math.h>

// ---------------------------------------------------------------------------------------------
// SGEMM microkernels: the ONE contract every ISA implements.
// ---------------------------------------------------------------------------------------------
// Ap: packed A micro-panel, kc steps of MR floats (Ap[p*MR + i] = op(A)[i][p]), rows >= mr are 0.
// Bp: packed B micro-panel, kc steps of NR floats (Bp[p*NR + j] = op(B)[p][j]), cols >= nr are 0.
// C:  [mr x nr] tile, row stride ldc; 1 <= mr <= MR, 1 <= nr <= NR (edge tiles touch only these).
// Computes C = alpha * (Ap . Bp) + beta * C: acc is the in-order sum over p = 0..kc-1 (one fma per
// step where the ISA has FMA), then each element becomes fma(alpha, acc, beta * c), or alpha * acc
// when beta == 0, in which case C is written and never read (NaNs in C do not propagate).
// Ap and Bp are 64-byte aligned.
typedef void (*nk_sgemm_ukernel_fn)(int64_t kc, const float *Ap, const float *Bp, float alpha,
                                    float beta, float *C, int64_t ldc, int mr, int nr);

// One row of the kernel table: a microkernel with its register tile and cache blocking.
// MC is a multiple of MR, NC of NR. KC is the only block size results depend on (it fixes the
// summation order), so it must never vary with the thread count.
typedef struct nk_gemm_config {
    nk_isa isa;
    nk_sgemm_ukernel_fn ukernel;
    int mr, nr;        // register tile
    int mc, kc, nc;    // cache blocks: A block mc x kc (L2), B block kc x nc (L3), B micro-panel kc x nr (L1)
} nk_gemm_config;

// The table row for `isa` (NK_ISA_AUTO = active; unsupported ISAs give the reference row).
const nk_gemm_config *nk_gemm_config_for(nk_isa isa);

void nk_f32_gemm_ukernel_4x16__ref(int64_t kc, const float *Ap, const float *Bp, float alpha,
                                   float beta, float *C, int64_t ldc, int mr, int nr);
#if defined(__x86_64__)
void nk_f32_gemm_ukernel_6x16__avx2(int64_t kc, const float *Ap, const float *Bp, float alpha,
                                    float beta, float *C, int64_t ldc, int mr, int nr);
void nk_f32_gemm_ukernel_8x32__avx512(int64_t kc, const float *Ap, const float *Bp, float alpha,
                                      float beta, float *C, int64_t ldc, int mr, int nr);
#endif

// C[M x N] = A[M x K] · op(B) + beta·C, single-threaded, where row p of B is brows[p][0:N]
// (transB = 0) or row j of B is brows[j][0:K] and op(B) = Bᵀ (transB = 1); rows need not be a
// constant stride apart. Same blocking and summation order as nk_sgemm_ex, so the result equals
// nk_sgemm_ex's on the same B bitwise.
void nk__sgemm_brows(int transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                     const float *const *brows, float beta, float *C, int64_t ldc);

// A packed once for many products with the same A (convolution's weights, reused for every image
// tile): nk__sgemm_pack_a lays op(A)[M x K] out exactly as the SGEMM's own packing would, block by
// block (nk__sgemm_packed_a_floats floats, 64-byte aligned), and nk__sgemm_pa computes
// C = op(A) · op(B) + beta·C from it (alpha 1, `threads` as nk_sgemm_ex). Same operations as
// nk_sgemm_ex on the unpacked A, so the same bits.
int64_t nk__sgemm_packed_a_floats(int64_t M, int64_t K);
void nk__sgemm_pack_a(int threads, int transA, int64_t M, int64_t K, const float *A, int64_t lda,
                      float *Apk);
void nk__sgemm_pa(int threads, int64_t M, int64_t N, int64_t K, const float *Apk, int transB,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
