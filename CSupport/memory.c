// Allocator tuning. Training allocates and frees the same large activation buffers every batch;
// with glibc's defaults every buffer above the mmap threshold is a fresh mmap, so each batch pays
// page faults and zeroing of new pages (measured: ~10 % of MLP training time in clear_page and
// page-fault handling). Raising the thresholds keeps those buffers in the heap for reuse.
#include "neurite.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void nk_tune_allocator(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

// Mini-batch gather: rows of a large data set picked in shuffled order are scattered over memory,
// so each row copy waits on DRAM; splitting the rows over threads overlaps those waits, and each
// thread asks for the row two ahead while it copies this one (the hardware prefetcher only starts
// inside a row, after its first misses). Measured on Zen 5 in a C loop over Fashion-MNIST-sized
// rows: 16-19 -> 12 us a batch of 64; one row ahead is too late, four no better than two.
#include "internal.h"
#include <string.h>

enum { GATHER_AHEAD = 2 };

typedef struct gather_job {
    float *dst;
    const float *src;     // float rows, or NULL when the rows are bytes
    const uint8_t *bytes; // 8-bit rows standing for value / 255 (nk_gather_unit_bytes)
    const int64_t *rows;
    int64_t width;
} gather_job;

// Row i of a byte-row job: each value / 255, the float the IDX image loader's division gives (the
// data set's float copy), bit for bit. With FMA, without the divider: q = u·r (r = 1/255 rounded)
// is off by an ulp for 126 of the 256 bytes, but its exact residual e = u − 255·q (one fma) makes
// q + e·r the correctly rounded quotient for every one of them (the tests check all 256 on every
// ISA). The division had bound the gather to the divider: a batch of 64 rows of 784 bytes
// (3 136 AVX-512 divisions), 1 thread, Zen 4, best of 2 000 in a C loop: rows in cache 5.2 -> 3.0
// us, rows from memory (mean) 8.9-11.5 -> 6.9-8.4 us.
#define NK_UNIT_BYTES_FMA(NAME)                                                                  \
    static void NAME(float *restrict dst, const uint8_t *restrict src, int64_t width) {        \
        const float r = 1.0f / 255.0f;                                                          \
        for (int64_t j = 0; j < width; j++) {                                                   \
            const float u = (float)src[j], q = u * r;                                           \
            dst[j] = __builtin_fmaf(__builtin_fmaf(-q, 255.0f, u), r, q);                        \
        }                                                                                       \
    }

static void unit_bytes_divide(float *restrict dst, const uint8_t *restrict src, int64_t width) {
    for (int64_t j = 0; j < width; j++) dst[j] = (float)src[j] / 255.0f;
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vl,avx512bw,fma"))) NK_UNIT_BYTES_FMA(unit_bytes_avx512)
__attribute__((target("avx2,fma"))) NK_UNIT_BYTES_FMA(unit_bytes_avx2)
#endif

static void unit_bytes_row(float *restrict dst, const uint8_t *restrict src, int64_t width) {
#if defined(__x86_64__)
    switch (nk_isa_active()) {
    case NK_ISA_AVX512: unit_bytes_avx512(dst, src, width); return;
    case NK_ISA_AVX2: unit_bytes_avx2(dst, src, width); return;
    default: break;
    }
#endif
    unit_bytes_divide(dst, src, width);
}

// Rows [begin, end) of the batch; a range's own rows are prefetched two ahead.
static void gather_range(void *context, int64_t begin, int64_t end) {
    const gather_job *g = context;
    const int64_t width = g->width, rowBytes = width * (g->bytes ? 1 : (int64_t)sizeof(float));
    const char *base = g->bytes ? (const char *)g->bytes : (const char *)g->src;
    for (int64_t i = begin; i < end; i++) {
        if (i + GATHER_AHEAD < end) {
            const char *next = base + g->rows[i + GATHER_AHEAD] * rowBytes;
            for (int64_t byte = 0; byte < rowBytes; byte += 64) __builtin_prefetch(next + byte, 0, 3);
        }
        if (g->bytes) unit_bytes_row(g->dst + i * width, g->bytes + g->rows[i] * width, width);
        else memcpy(g->dst + i * width, g->src + g->rows[i] * width, (size_t)width * sizeof(float));
    }
}

// Threads for a gather of count x width floats (below 16 K floats a fork costs what it saves).
static int gather_threads(int64_t count, int64_t width) { return count * width >= 16384 ? nk_get_num_threads() : 1; }

// The job's `count` rows on the team: posted (the caller goes on) or run to the end here.
static void run_gather(gather_job g, int64_t count, int posted) {
    nk_fp_prepare(1);
    const int threads = gather_threads(count, g.width);
    if (posted) nk__team_post_ranges(threads, count, 1, &g, sizeof g, gather_range);
    else nk__team_ranges(threads, count, 1, &g, gather_range);
}

void nk_gather_rows_post(float *dst, const float *src, const int64_t *rows, int64_t count, int64_t width) {
    run_gather((gather_job){dst, src, NULL, rows, width}, count, 1);
}

void nk_gather_rows(float *dst, const float *src, const int64_t *rows, int64_t count, int64_t width) {
    run_gather((gather_job){dst, src, NULL, rows, width}, count, 0);
}

// Byte rows: a quarter of the float rows' memory traffic. Gathering a Fashion-MNIST batch of 64
// rows (784 values) out of 60 000 in shuffled order, in a C loop (Zen 3, 1 thread): floats 39-45
// us, bytes converted on the way 20-24 us (2 rows ahead; 4 or 8 ahead no better).
void nk_gather_unit_bytes_post(float *dst, const uint8_t *src, const int64_t *rows, int64_t count, int64_t width) {
    run_gather((gather_job){dst, NULL, src, rows, width}, count, 1);
}

void nk_gather_unit_bytes(float *dst, const uint8_t *src, const int64_t *rows, int64_t count, int64_t width) {
    run_gather((gather_job){dst, NULL, src, rows, width}, count, 0);
}

// Asking for a whole batch a step ahead: at 1 thread the gather waits on DRAM for each row (the
// two-ahead hint covers part of the latency); requested a step earlier, the lines are in cache
// when it runs (an L2 line evicted meanwhile lands in L3 on these CPUs, still far nearer than DRAM).
void nk_prefetch_rows(const void *src, const int64_t *rows, int64_t count, int64_t row_bytes) {
    const char *base = src;
    for (int64_t i = 0; i < count; i++) {
        const char *row = base + rows[i] * row_bytes;
        for (int64_t byte = 0; byte < row_bytes; byte += 64) __builtin_prefetch(row + byte, 0, 2);
        if (row_bytes > 0) __builtin_prefetch(row + row_bytes - 1, 0, 2); // a last line the stride skipped
    }
}
