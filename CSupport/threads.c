// Thread-count control shared by every kernel.
#include "neurite.h"
#include "internal.h"
#include "nn_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int g_threads = 0; // 0 = not yet initialised

static int parse_positive(const char *s) {
    if (!s || !*s) return 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || v < 1 || v > 4096) return 0;
    return (int)v;
}

// Counts distinct (physical id, core id) pairs in /proc/cpuinfo; falls back to online CPUs.
int nk_physical_cores(void) {
    static atomic_int cached = 0;
    int c = atomic_load(&cached);
    if (c > 0) return c;
    int cores = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        int phys = 0, seen = 0;
        long pairs[1024];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "physical id", 11) == 0) {
                const char *p = strchr(line, ':');
                if (p) phys = atoi(p + 1);
            } else if (strncmp(line, "core id", 7) == 0) {
                const char *p = strchr(line, ':');
                if (!p) continue;
                long key = (long)phys * 65536 + atoi(p + 1);
                int dup = 0;
                for (int i = 0; i < seen; i++) if (pairs[i] == key) { dup = 1; break; }
                if (!dup && seen < 1024) pairs[seen++] = key;
            }
        }
        fclose(f);
        cores = seen;
    }
    if (cores < 1) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cores = n > 0 ? (int)n : 1;
    }
    atomic_store(&cached, cores);
    return cores;
}

// A calling thread's own limit (0: none), for work that is already split over threads at a higher
// level (a training step's micro-shards): its kernels then stay on that thread.
static _Thread_local int t_thread_limit = 0;

void nk_set_thread_limit(int n) { t_thread_limit = n < 0 ? 0 : n; }
int nk_get_thread_limit(void) { return t_thread_limit; }

int nk_get_num_threads(void) {
    if (t_thread_limit > 0) return t_thread_limit;
    int t = atomic_load(&g_threads);
    if (t > 0) return t;
    t = parse_positive(getenv("NEURITE_NUM_THREADS"));
    if (!t) t = parse_positive(getenv("OMP_NUM_THREADS"));
    if (!t) t = nk_physical_cores();
    int expected = 0;
    atomic_compare_exchange_strong(&g_threads, &expected, t);
    return atomic_load(&g_threads);
}

void nk_set_num_threads(int n) { atomic_store(&g_threads, n < 1 ? 1 : n); }

int nk_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

// Host-language loops over the kernels' team (see neurite.h). The ranges depend on count, align and
// the thread count only; callers whose elements are independent (element-wise maps) get the same
// result for every thread count.
void nk_parallel_ranges(int64_t count, int64_t align, int64_t min_per_thread, void *context,
                        nk_range_fn fn) {
    if (count <= 0) return;
    if (align < 1) align = 1;
    // Work items are alignment units; the usual rule for how many threads they get (nn_internal.h).
    const int64_t units = (count + align - 1) / align;
    const int t = nk__threads(0, units, (min_per_thread + align - 1) / align);
    if (t <= 1) { fn(context, 0, count); return; }
    nk__team_ranges(t, count, align, context, fn);
}

// nk_parallel_items: each item with its thread's kernels limited to that thread (a nested region
// would run inline anyway; the limit also plans the kernels' work for one thread).
typedef struct parallel_items {
    void *ctx;
    nk_item_fn fn;
} parallel_items;

static void parallel_item(void *context, int item, int items) {
    (void)items;
    const parallel_items *p = context;
    const int outer = t_thread_limit;
    t_thread_limit = 1;
    p->fn(p->ctx, item);
    t_thread_limit = outer;
}

void nk_parallel_items(int64_t items, void *context, nk_item_fn fn) {
    if (items <= 0) return;
    parallel_items p = {context, fn};
    const int64_t threads = NK_MIN((int64_t)nk_get_num_threads(), items);
    if (items > 0xFFFF || threads <= 1) {
        for (int64_t i = 0; i < items; i++) parallel_item(&p, (int)i, (int)items);
        return;
    }
    nk__team_run((int)threads, (int)items, parallel_item, &p);
}
