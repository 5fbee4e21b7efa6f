// neurite.h: the one public C header of Neurite's kernels (module CNeurite).
//
// Conventions: every matrix is row-major float32. A "leading dimension" (ld*) is the distance in
// floats between the starts of two consecutive rows. Shapes are given in the comment above each
// function as [rows x cols]. Every kernel is deterministic: for the same inputs it produces
// bitwise identical results whatever the thread count (work is split over independent output
// blocks, never over a reduction).
#ifndef NEURITE_H
#define NEURITE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------------------------
// Instruction sets and dispatch
// ---------------------------------------------------------------------------------------------

/// Kernel families. The active one is chosen once from CPUID; NEURITE_ISA=ref|avx2|avx512
/// overrides the choice (an ISA the CPU lacks falls back to the best supported one).
typedef enum nk_isa {
    NK_ISA_AUTO = -1,   ///< only as an argument: "whatever is active"
    NK_ISA_REF = 0,     ///< portable C
    NK_ISA_AVX2 = 1,    ///< AVX2 + FMA (x86-64)
    NK_ISA_AVX512 = 2,  ///< AVX-512 F/VL/BW/DQ + FMA (x86-64)
    NK_ISA_NEON = 3,    ///< Advanced SIMD (arm64)
} nk_isa;

/// The ISA every kernel uses when called with NK_ISA_AUTO.
nk_isa nk_isa_active(void);
/// 1 when this CPU (and build) can run `isa`, else 0.
int nk_isa_supported(nk_isa isa);
/// Changes the active ISA; returns 0, or -1 (and changes nothing) when `isa` is unsupported.
int nk_isa_set_active(nk_isa isa);
/// "ref", "avx2", "avx512", "neon".
const char *nk_isa_name(nk_isa isa);
/// The CPU's brand string (e.g. "AMD EPYC 9B14"), or "unknown".
const char *nk_cpu_name(void);

// ---------------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------------

/// 1 when the library was built with OpenMP, else 0 (every kernel then runs serially).
int nk_openmp_enabled(void);
/// The thread count kernels use. Defaults to NEURITE_NUM_THREADS, then OMP_NUM_THREADS, then the
/// number of physical cores. Never below 1.
int nk_get_num_threads(void);
/// Sets the thread count for subsequent kernel calls (values < 1 mean 1).
void nk_set_num_threads(int n);
/// Physical cores of this machine (logical CPUs / SMT siblings).
int nk_physical_cores(void);

// ---------------------------------------------------------------------------------------------
// SGEMM: C = alpha * op(A) * op(B) + beta * C
// ---------------------------------------------------------------------------------------------
// op(A): [M x K] (A stored [M x K], or [K x M] when transA), op(B): [K x N] (B stored [K x N], or
// [N x K] when transB), C: [M x N]. Any M, N, K >= 0. beta == 0 overwrites C without reading it
// (NaNs in C do not propagate). K == 0 or alpha == 0 scales C by beta.

/// Blocked, packed, OpenMP-parallel SGEMM with the active ISA and thread count.
void nk_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
              float *C, int64_t ldc);

/// The same with an explicit ISA (NK_ISA_AUTO = active) and thread count (<= 0 = current setting).
/// An unsupported ISA falls back to the reference microkernel.
void nk_sgemm_ex(nk_isa isa, int threads, int transA, int transB, int64_t M, int64_t N,
                 int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                 float beta, float *C, int64_t ldc);

/// Naive triple loop (float accumulation, serial): the oracle and the fallback.
void nk_sgemm_naive(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                    float *C, int64_t ldc);

/// The SGEMM blocking for `isa` (NK_ISA_AUTO = active; unsupported = reference): writes
/// out[0..4] = MR, NR (register tile), MC, KC, NC (cache blocks) and returns the ISA actually used.
int nk_sgemm_blocking(nk_isa isa, int out[5]);

/// Products with fewer than this many flops (2*M*N*K) run on one thread. Measured, see gemm.c.
int64_t nk_sgemm_parallel_threshold(void);

// ---------------------------------------------------------------------------------------------
// Machine probe
// ---------------------------------------------------------------------------------------------

/// Runs `iterations` rounds of independent FMA chains in `isa`'s widest vectors on `threads`
/// threads (<= 0 = current setting; each thread does all iterations) and returns the number of
/// flops performed (an FMA counts 2). Time the call to get the machine's FMA peak.
int64_t nk_fma_peak(nk_isa isa, int threads, int64_t iterations);

// ---------------------------------------------------------------------------------------------
// Optimizer updates (element-wise over one parameter of n floats; parallel in fixed chunks)
// ---------------------------------------------------------------------------------------------

/// SGD: grad = g + l2·w; with momentum (v != NULL and momentum > 0) v = momentum·v + grad and
/// w -= lr·(nesterov ? grad + momentum·v : v); otherwise w -= lr·grad. w, g, v: [n].
void nk_sgd_step(float *w, const float *g, float *v, int64_t n, float lr, float momentum, float l2,
                 int nesterov);

/// Adam: grad = g + l2·w; m = β1·m + (1−β1)·grad; v = β2·v + (1−β2)·grad²;
/// w = w − shrink·w − lr·(m·c1)/(√(v·c2) + eps), c1, c2 the bias corrections 1/(1−βᵗ).
/// w, g, m, v: [n].
void nk_adam_step(float *w, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
                  float beta2, float eps, float c1, float c2, float l2, float shrink);

/// Keeps large buffers in the heap between allocations (glibc: raises the mmap and trim
/// thresholds) so per-batch tensors do not pay fresh-page faults. Called once by the tensor module.
void nk_tune_allocator(void);

#ifdef __cplusplus
}
#endif
#endif
