// Floating-point mode: flush-to-zero (FTZ) and denormals-are-zero (DAZ) in every thread that runs
// Neurite arithmetic.
//
// Why: momentum and Adam buffers, and the gradients of always-zero inputs (the black border pixels
// of Fashion-MNIST), decay geometrically into the subnormal range, where x86 arithmetic takes a
// microcode assist per operation (~100x slower): the Adam recipe lost a third of its speed by
// epoch 3. Values below 2^-126 carry no information for training, so flushing them costs nothing.
//
// How: MXCSR is per thread. nk_fp_prepare() sets the calling thread's mode when it differs from the
// wanted one (a thread-local generation makes the common case one load and one compare), and every
// kernel entry calls it before forking an OpenMP team; LLVM's libomp copies the forking thread's
// MXCSR into each worker at every parallel region (KMP_INHERIT_FP_CONTROL, on by default), and
// nk_fp_prepare also sets it inside a team once per generation in case that inheritance is off. So
// all threads of one computation share one mode, and results stay bitwise identical across thread
// counts. NEURITE_DENORMALS=keep (or nk_set_flush_denormals(0)) keeps IEEE subnormals.
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define NK_MXCSR_FTZ_DAZ 0x8040u   // bit 15 flush-to-zero, bit 6 denormals-are-zero
#endif

static atomic_int g_flush = -1;        // -1: not yet read from the environment
static atomic_int g_generation = 1;    // bumped by every mode change
static _Thread_local int t_generation = 0;
static _Thread_local int t_team = 0;   // the largest team this thread has set up

static int flush_wanted(void) {
    int f = atomic_load(&g_flush);
    if (f >= 0) return f;
    const char *e = getenv("NEURITE_DENORMALS");
    f = (e && strcmp(e, "keep") == 0) ? 0 : 1;
    int expected = -1;
    atomic_compare_exchange_strong(&g_flush, &expected, f);
    return atomic_load(&g_flush);
}

static void set_this_thread(int flush) {
#ifdef NK_MXCSR_FTZ_DAZ
    unsigned int csr = _mm_getcsr();
    unsigned int want = flush ? (csr | NK_MXCSR_FTZ_DAZ) : (csr & ~NK_MXCSR_FTZ_DAZ);
    if (want != csr) _mm_setcsr(want);
#else
    (void)flush;   // arm64 flushes through FPCR.FZ; not set here (no NEON kernels yet)
#endif
}

void nk_fp_prepare(int threads) {
    int gen = atomic_load_explicit(&g_generation, memory_order_relaxed);
    if (t_generation == gen && threads <= t_team) return;
    int flush = flush_wanted();
    set_this_thread(flush);
#ifdef _OPENMP
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        set_this_thread(flush);
    }
#endif
    if (t_generation != gen) t_team = 0;
    t_generation = gen;
    if (threads > t_team) t_team = threads;
}

int nk_flush_denormals(void) { return flush_wanted(); }

void nk_set_flush_denormals(int on) {
    atomic_store(&g_flush, on ? 1 : 0);
    atomic_fetch_add(&g_generation, 1);
}

int nk_fp_thread_flushes(void) {
#ifdef NK_MXCSR_FTZ_DAZ
    return (_mm_getcsr() & NK_MXCSR_FTZ_DAZ) == NK_MXCSR_FTZ_DAZ;
#else
    return 0;
#endif
}

int nk_fp_team_mismatches(int threads) {
    int want = flush_wanted(), bad = 0;
    nk_fp_prepare(threads);
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : bad)
#endif
    bad += nk_fp_thread_flushes() != want;
    return bad;
}
