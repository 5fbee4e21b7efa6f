// The kernels' own thread team: the fork-join that a training step's short parallel regions use.
//
// Why not OpenMP's: an MLP step at batch 64 runs about a dozen regions of 4-80 us each. OpenMP's
// join waits for every thread of the team to check in, and on a shared host (KVM, two vCPUs) the
// second vCPU is absent for stretches of milliseconds: each region then waits for it, and two
// threads ran slower than one (measured 0.97x in such minutes). Here a region is a list of items
// (the parts a static split would give each thread) that any thread may claim: the caller claims
// items too, and a region ends when every item is done, not when every thread has turned up. Each
// thread first claims its own item, or its own block of items where a region cuts each thread's
// share into several (nk__team_ranges; the caller block 0, worker w block w), so in a calm run a
// region's part k runs on the same core step after step, next to the data it touched the step
// before, as under a static schedule; then it takes the items nobody has claimed, from the last.
// (Letting whoever came first take item 0 moved parts between the cores from one step to the
// next.) A worker that wakes late finds nothing left and goes back to waiting. Which thread runs
// an item never changes its arithmetic, so results stay bitwise the same for every thread count.
//
// A region can also be posted (nk__team_post_ranges): the workers start on it while the caller
// goes on with work of its own, and the caller's next region, or nk_team_join, finishes it first.
//
// Workers spin on a generation counter for a short while after each region (a step's regions
// follow each other within microseconds), then sleep on a futex word of their own, which only a
// region that uses them wakes. Calls from inside a region, or from a second host thread while a
// region runs, run their items on the calling thread.
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <string.h>
#include <stdlib.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NK_HAVE_MXCSR 1
static inline void cpu_relax(void) { _mm_pause(); }
#elif defined(__aarch64__)
static inline void cpu_relax(void) { __asm__ __volatile__("yield"); }
#else
static inline void cpu_relax(void) {}
#endif

#define NK_TEAM_MAX 256
// How long an idle worker keeps spinning before it sleeps. A training step's regions are a few
// microseconds apart; between epochs (evaluation, logging) a worker sleeps and the first region
// after pays one futex wake.
#define NK_TEAM_SPIN_NS 2000000

// One word holds the current region's generation (bits 63-33) and its claims, so a claim is one
// compare-and-swap that also checks the region: a worker that saw an older generation can never
// claim an item of a newer region. Up to 32 items (bit 32 set), the low 32 bits are a mask of the
// items claimed (bits at or past the item count set from the start), so each thread can ask for its
// own item; above that (bit 32 clear), items are handed out in order: the item count in bits 31-16
// and the next unclaimed item in bits 15-0.
#define NK_TEAM_MASK_ITEMS 32
#define NK_TEAM_MASK_MODE ((uint64_t)1 << 32)
static _Atomic uint64_t g_claim = 0;
static int g_items;                        // the current region's item count
static int g_block;                        // items each thread claims first (its own block)
static atomic_uint g_generation = 0;      // bumped once per region
static atomic_int g_team = 0;              // threads the current region may use (caller included)
static atomic_int g_done = 0;              // items of the current region completed
static atomic_int g_busy = 0;              // 1 while a host thread is running a region
static atomic_int g_workers = 0;           // workers started
static pthread_mutex_t g_start_lock = PTHREAD_MUTEX_INITIALIZER;

// The current region (written by its caller before the generation is published).
static nk_team_fn g_fn;
static void *g_ctx;
static unsigned g_csr;
static _Thread_local int t_in_region = 0;

// Each worker sleeps on a word of its own, so that a region wakes only the workers it uses: a
// region of T threads involves workers 1 … T−1; the others (started for a larger region earlier)
// stay asleep instead of spinning beside it.
typedef struct worker_slot {
    atomic_uint wake;   // futex word, bumped to wake the worker
    atomic_int asleep;  // 1 while the worker is (about to be) blocked on `wake`
    char pad[56];       // one cache line per worker
} worker_slot;
static worker_slot g_slots[NK_TEAM_MAX];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void futex_wait(atomic_uint *word, unsigned seen) {
#if defined(__linux__)
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
#else
    (void)word; (void)seen; usleep(50);
#endif
}

static void futex_wake(atomic_uint *word) {
#if defined(__linux__)
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
#else
    (void)word;
#endif
}

static inline uint64_t claim_generation(unsigned generation) { return (uint64_t)(generation & 0x7FFFFFFFu) << 33; }

// Claims and runs items of the region `generation` until none is left: this thread's own block
// first (items own·g_block … own·g_block + g_block − 1), lowest free first, then the highest free
// item of any block (the far end of another thread's block). Returns how many ran.
static int run_items(unsigned generation, int own) {
    const uint64_t gen = claim_generation(generation);
    int ran = 0;
    for (;;) {
        uint64_t c = atomic_load_explicit(&g_claim, memory_order_acquire), claimed;
        int item;
        if ((c & ~(((uint64_t)1 << 33) - 1)) != gen) return ran;
        if (c & NK_TEAM_MASK_MODE) {
            const uint32_t free_ = ~(uint32_t)c;
            if (!free_) return ran;
            const int first = own * g_block;
            const uint32_t mine = first < NK_TEAM_MASK_ITEMS
                ? free_ >> first & (g_block >= 32 ? 0xFFFFFFFFu : (1u << g_block) - 1) : 0;
            item = mine ? first + __builtin_ctz(mine) : 31 - __builtin_clz(free_);
            claimed = c | (uint64_t)1 << item;
        } else {
            const unsigned items = (unsigned)(c >> 16) & 0xFFFFu, next = (unsigned)c & 0xFFFFu;
            if (next >= items) return ran;
            item = (int)next;
            claimed = c + 1;
        }
        if (!atomic_compare_exchange_weak_explicit(&g_claim, &c, claimed, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        // The region cannot end (nor its descriptor change) before this item is counted done.
#ifdef NK_HAVE_MXCSR
        if (_mm_getcsr() != g_csr) _mm_setcsr(g_csr);
#endif
        t_in_region = 1;
        g_fn(g_ctx, item, g_items);
        t_in_region = 0;
        atomic_fetch_add_explicit(&g_done, 1, memory_order_release);
        ran++;
    }
}

// Whether the current region is one worker `own` takes part in.
static int wanted(int own) { return own < atomic_load(&g_team); }

static void *worker_main(void *arg) {
    const int own = (int)(intptr_t)arg; // this worker's id, and its own item in each region
    worker_slot *slot = &g_slots[own];
    unsigned seen = atomic_load_explicit(&g_generation, memory_order_acquire);
    for (;;) {
        // Spin for the next region while regions use this worker; sleep when they stop coming
        // (NK_TEAM_SPIN_NS) or when the region that came does not use it.
        uint64_t idle_since = now_ns();
        unsigned spins = 0;
        for (;;) {
            unsigned gen = atomic_load_explicit(&g_generation, memory_order_acquire);
            if (gen != seen && wanted(own)) { seen = gen; break; }
            const int idle = gen != seen || (++spins % 256 == 0 && now_ns() - idle_since > NK_TEAM_SPIN_NS);
            seen = gen;
            if (!idle) { cpu_relax(); continue; }
            const unsigned word = atomic_load(&slot->wake);
            atomic_store(&slot->asleep, 1);   // sequentially consistent: pairs with nk__team_run
            gen = atomic_load(&g_generation);
            if (gen == seen || !wanted(own)) futex_wait(&slot->wake, word);
            atomic_store(&slot->asleep, 0);
            idle_since = now_ns();
        }
        run_items(seen, own);
    }
    return NULL;
}

// Starts workers until `count` exist; returns how many do (fewer if the system refuses threads).
static int ensure_workers(int count) {
    if (count > NK_TEAM_MAX - 1) count = NK_TEAM_MAX - 1;
    int have = atomic_load_explicit(&g_workers, memory_order_acquire);
    if (have >= count) return have;
    pthread_mutex_lock(&g_start_lock);
    have = atomic_load(&g_workers);
    while (have < count) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attr, worker_main, (void *)(intptr_t)(have + 1));
        pthread_attr_destroy(&attr);
        if (failed) break;
        atomic_store(&g_workers, ++have);
    }
    pthread_mutex_unlock(&g_start_lock);
    return have;
}

int nk__team_threads(int threads) {
#ifdef _OPENMP
    return threads;
#else
    (void)threads;
    return 1; // a serial build (no OpenMP trait) starts no workers
#endif
}

// A posted region (nk__team_post_ranges): published by this host thread, which goes on with other
// work while the workers run its items; joined (what is left run here, then waited for) by this
// thread's next region or nk_team_join. Its context lives in g_posted_ctx meanwhile. The MLP's
// step ends in work on one thread (the 10-class layer's forward, the loss): the next batch's
// gather, posted just before, fills that time on the other core.
static _Thread_local int t_posted = 0;
static unsigned g_posted_generation;
static _Alignas(64) unsigned char g_posted_ctx[192];

// The waits of nk_team_stats: the calling thread's own, counted only while it records (a clock read
// costs ~20 ns, a region a few µs). Per thread, so a profiled training step counts only its own
// regions whatever other host threads run.
static _Thread_local int t_stats_on;
static _Thread_local nk_team_stats t_stats;

void nk_team_stats_record(int on) { t_stats_on = on != 0; }
int nk_team_stats_recording(void) { return t_stats_on; }
void nk_team_stats_read(nk_team_stats *out) { *out = t_stats; }

// The clock when this thread records (for stats_add), else 0.
static inline uint64_t stats_clock(void) { return t_stats_on ? now_ns() : 0; }

// Adds the time since `since` (a stats_clock reading; 0: not recording) to one of t_stats' counters.
static inline void stats_add(uint64_t *counter, uint64_t since) {
    if (since) *counter += now_ns() - since;
}

void nk_team_join(void) {
    if (!t_posted) return;
    t_posted = 0;
    const uint64_t since = stats_clock();
    run_items(g_posted_generation, 0);
    while (atomic_load_explicit(&g_done, memory_order_acquire) < g_items) cpu_relax();
    atomic_store_explicit(&g_busy, 0, memory_order_release);
    stats_add(&t_stats.join_ns, since);
}

// Takes the team for a region of `items` on at most `threads` threads: returns how many threads it
// gets (then this thread holds g_busy), or 0 when the region must run inline here instead: a
// serial build, one thread, a call from inside a region, a region already running on another host
// thread, or no worker could be started.
static int team_acquire(int threads, int items) {
    threads = nk__team_threads(threads);
    if (threads > items) threads = items;
    int expected = 0;
    if (threads <= 1 || items > 0xFFFF || t_in_region ||
        !atomic_compare_exchange_strong(&g_busy, &expected, 1))
        return 0;
    const int workers = ensure_workers(threads - 1);
    if (workers < 1) {
        atomic_store(&g_busy, 0);
        return 0;
    }
    return NK_MIN(threads, workers + 1);
}

// Publishes a region to the `team` threads team_acquire granted (each claiming its own `block` of
// items first) and wakes the workers it uses; returns the region's generation.
static unsigned team_start(int team, int items, int block, nk_team_fn fn, void *ctx) {
    g_fn = fn;
    g_ctx = ctx;
#ifdef NK_HAVE_MXCSR
    g_csr = _mm_getcsr();   // workers take the caller's floating-point mode (FTZ/DAZ)
#endif
    g_items = items;
    g_block = block;
    atomic_store_explicit(&g_done, 0, memory_order_relaxed);
    const unsigned generation = atomic_load_explicit(&g_generation, memory_order_relaxed) + 1;
    const uint64_t claims = items <= NK_TEAM_MASK_ITEMS
        ? NK_TEAM_MASK_MODE | (uint64_t)(uint32_t)~(uint32_t)(items == 32 ? 0xFFFFFFFFu : (1u << items) - 1)
        : (uint64_t)items << 16;
    atomic_store_explicit(&g_claim, claim_generation(generation) | claims, memory_order_release);
    atomic_store(&g_team, team);
    atomic_store(&g_generation, generation);   // sequentially consistent: pairs with worker_main
    for (int w = 1; w < team; w++)
        if (atomic_load(&g_slots[w].asleep)) {
            atomic_fetch_add(&g_slots[w].wake, 1);
            futex_wake(&g_slots[w].wake);
        }
    return generation;
}

// A region of `items` on at most `threads` threads, each claiming its own `block` of items first.
static void team_region(int threads, int items, int block, nk_team_fn fn, void *ctx) {
    if (items <= 0) return;
    nk_team_join(); // this thread's posted region first: one region at a time
    const int team = team_acquire(threads, items);
    if (!team) { // same items, same results
        for (int i = 0; i < items; i++) fn(ctx, i, items);
        return;
    }
    const unsigned generation = team_start(team, items, block, fn, ctx);
    run_items(generation, 0);
    const uint64_t since = stats_clock();
    while (atomic_load_explicit(&g_done, memory_order_acquire) < items) cpu_relax();
    atomic_store_explicit(&g_busy, 0, memory_order_release);
    if (since) t_stats.regions++;
    stats_add(&t_stats.end_wait_ns, since);
}

void nk__team_run(int threads, int items, nk_team_fn fn, void *ctx) { team_region(threads, items, 1, fn, ctx); }

// nk__team_ranges: `parts` threads' shares of [0, count), as a static schedule splits them (share
// w holds alignment units [units·w/parts, units·(w+1)/parts)), each cut into up to
// NK_TEAM_RANGES_PER_THREAD ranges of decreasing length (4, 3, 2 and 1 tenths of the share). A
// thread runs its own share's ranges in order; one that finishes early takes the last, shortest
// ranges of another's share. On a shared host one vCPU can run at a fraction of its speed for a
// while: with one range per thread the region then waits for the slow one's whole share; with
// four, the other core takes over up to six tenths of it. And the two threads rarely finish
// together (one starts a few microseconds late): the one done first then waits for the range the
// other is in, which the shrinking lengths keep short. (Measured with a timer at LeNet-5's
// convolution joins, 2 threads, three runs each: equal quarters 1-11 us of waiting a region,
// shrinking ranges 3-8 us; the host's noise hides any difference. Kept for the reasoning.)
// In a calm run each share stays on its core, next to the data it touched in the regions before.
#define NK_TEAM_RANGES_PER_THREAD 4
typedef struct team_ranges {
    int64_t count, units, align;
    int threads, per; // shares, and ranges per share
    void *ctx;
    nk_range_fn fn;
} team_ranges;

// Where range i of a share of n units ends (i = 0 … per): the share's first
// i·per − i·(i−1)/2 of its per·(per+1)/2 weight (range i weighs per − i).
static int64_t share_cut(int64_t n, int i, int per) {
    return n * (i * per - i * (i - 1) / 2) / (per * (per + 1) / 2);
}

// Ranges per thread for `units` alignment units over `parts` threads.
static int ranges_per_thread(int64_t units, int parts) {
    return (int)NK_MAX((int64_t)1, NK_MIN(units / parts, (int64_t)NK_MIN(NK_TEAM_RANGES_PER_THREAD, NK_TEAM_MASK_ITEMS / parts)));
}

static void team_range(void *context, int part, int parts) {
    (void)parts;
    const team_ranges *r = context;
    const int w = part / r->per, i = part % r->per;
    const int64_t first = r->units * w / r->threads, n = r->units * (w + 1) / r->threads - first;
    const int64_t begin = (first + share_cut(n, i, r->per)) * r->align,
                  end = NK_MIN(r->count, (first + share_cut(n, i + 1, r->per)) * r->align);
    if (begin < end) r->fn(r->ctx, begin, end);
}

void nk__team_ranges(int parts, int64_t count, int64_t align, void *ctx, nk_range_fn fn) {
    if (count <= 0) return;
    if (align < 1) align = 1;
    const int64_t units = (count + align - 1) / align;
    if (parts > units) parts = (int)units;
    if (parts <= 1) { fn(ctx, 0, count); return; }
    const int per = ranges_per_thread(units, parts);
    team_ranges r = {count, units, align, parts, per, ctx, fn};
    team_region(parts, parts * per, per, team_range, &r);
}

// The posted ranges' context: the ranges, then a copy of the caller's context they point to.
typedef struct posted_ranges {
    team_ranges r;
    _Alignas(16) unsigned char user[96];
} posted_ranges;
_Static_assert(sizeof(posted_ranges) <= sizeof g_posted_ctx, "posted context");

void nk__team_post_ranges(int parts, int64_t count, int64_t align, const void *ctx, size_t bytes, nk_range_fn fn) {
    if (count <= 0) return;
    nk_team_join();
    if (align < 1) align = 1;
    if (bytes > sizeof ((posted_ranges *)0)->user) abort(); // a caller's context too large: a programming error
    const int64_t units = (count + align - 1) / align;
    if (parts > units) parts = (int)units;
    const int per = parts > 1 ? ranges_per_thread(units, parts) : 1;
    const int team = parts > 1 ? team_acquire(parts, parts * per) : 0;
    if (!team) { // inline, now (the cuts never change a result)
        fn((void *)ctx, 0, count);
        return;
    }
    // g_busy is this thread's from here: nobody else posts or reads g_posted_ctx.
    posted_ranges *p = (posted_ranges *)g_posted_ctx;
    memcpy(p->user, ctx, bytes);
    p->r = (team_ranges){count, units, align, parts, per, p->user, fn};
    g_posted_generation = team_start(team, parts * per, per, team_range, p);
    t_posted = 1;
}
