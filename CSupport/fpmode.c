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
// kernel entry calls it before its parallel region; the kernels' team (team.c) gives each item the
// mode of the thread that started the region. So all threads of one computation share one mode, and
// results stay bitwise identical across thread counts. NEURITE_DENORMALS=keep (or
// nk_set_flush_denormals(0)) keeps IEEE subnormals.
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define NK_MXCSR_FTZ_DAZ 0x8040u   // bit 15 flush-to-zero, bit 6 denormals-are-zero
#endif

static atomic_int g_flush = -1;        // -1: not yet read from the environment
static atomic_int g_generation = 1;    // bumped by every mode change
static _Thread_local int t_generation = 0;

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
    (void)threads; // the team takes the caller's mode at each region (team.c)
    int gen = atomic_load_explicit(&g_generation, memory_order_relaxed);
    if (t_generation == gen) return;
    set_this_thread(flush_wanted());
    t_generation = gen;
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

typedef struct mismatch_check {
    int want;
    atomic_int started, bad;
} mismatch_check;

// One item of nk_fp_team_mismatches: waits (up to 50 ms) for every item to have started, so that
// the items run on different threads of the team when the team has them, then checks this thread.
static void check_item(void *context, int item, int items) {
    (void)item;
    mismatch_check *c = context;
    atomic_fetch_add(&c->started, 1);
    for (long spins = 0; atomic_load(&c->started) < items && spins < 50000; spins++) usleep(1);
    if (nk_fp_thread_flushes() != c->want) atomic_fetch_add(&c->bad, 1);
}

int nk_fp_team_mismatches(int threads) {
    nk_fp_prepare(threads);
    mismatch_check c = {flush_wanted(), 0, 0};
    const int team = nk__team_threads(threads); // as many items as threads: each waits for the others
    nk__team_run(team, team, check_item, &c);
    return atomic_load(&c.bad);
}
