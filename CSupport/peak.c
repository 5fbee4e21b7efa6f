// FMA throughput probe: independent multiply-add chains in registers, no memory traffic. The
// figure GEMM efficiency is quoted against (nk_fma_peak in neurite.h).
#include "neurite.h"
#include "internal.h"

// Twelve independent chains: more than latency x pipes (4 x 2 on Zen 4, Intel alike), so the
// loop runs at the FMA units' throughput. The multiplier is just below 1 and the addend tiny, so
// values stay finite for any iteration count. Each kernel returns a value derived from every
// accumulator so nothing is optimised away.
#define CHAINS 12

static float peak_ref(int64_t iters) {
    float acc[CHAINS][4];
    for (int c = 0; c < CHAINS; c++)
        for (int l = 0; l < 4; l++) acc[c][l] = (float)(c + l);
    const float m = 0.999999f, a = 1e-7f;
    for (int64_t i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++)
            for (int l = 0; l < 4; l++) acc[c][l] = acc[c][l] * m + a;
    float s = 0;
    for (int c = 0; c < CHAINS; c++)
        for (int l = 0; l < 4; l++) s += acc[c][l];
    return s;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static float peak_avx2(int64_t iters) {
    __m256 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    for (int64_t i = 0; i < iters; i++) {
#pragma clang loop unroll(full)
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
        __asm__ volatile("" : "+x"(acc[0])); // keep the loop a loop
    }
    __m256 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm256_add_ps(s, acc[c]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

__attribute__((target("avx512f,fma"))) static float peak_avx512(int64_t iters) {
    __m512 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    for (int64_t i = 0; i < iters; i++) {
#pragma clang loop unroll(full)
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
        __asm__ volatile("" : "+v"(acc[0]));
    }
    __m512 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm512_add_ps(s, acc[c]);
    return _mm512_reduce_add_ps(s);
}
#endif

static volatile float g_sink; // defeats dead-code elimination of the probe's result

// Returns the flops one thread performs for `iters` iterations of `isa`'s loop, running it.
static int64_t peak_one(nk_isa isa, int64_t iters) {
    switch (isa) {
#if defined(__x86_64__)
    case NK_ISA_AVX512: g_sink = peak_avx512(iters); return iters * CHAINS * 16 * 2;
    case NK_ISA_AVX2: g_sink = peak_avx2(iters); return iters * CHAINS * 8 * 2;
#endif
    default: g_sink = peak_ref(iters); return iters * CHAINS * 4 * 2;
    }
}

int64_t nk_fma_peak(nk_isa isa, int threads, int64_t iterations) {
    if (isa == NK_ISA_AUTO) isa = nk_isa_active();
    if (!nk_isa_supported(isa)) isa = NK_ISA_REF;
    int nt = threads > 0 ? threads : nk_get_num_threads();
    int64_t total = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(+ : total)
    total += peak_one(isa, iterations);
#else
    (void)nt;
    total = peak_one(isa, iterations);
#endif
    return total;
}
