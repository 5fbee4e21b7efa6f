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
#include <stdint.h>
#include <string.h>
#include <stdatomic.h>

// ---------------------------------------------------------------------------------------------
// Claimed work items: a parallel loop over independent items that survives a slow thread.
// ---------------------------------------------------------------------------------------------
// Thread t of nt owns items [t*n/nt, (t+1)*n/nt) and works through them in order, as a static
// schedule would (so in a calm run each thread touches the data it touched in the previous pass);
// when it runs out it takes the items other threads have not reached yet, from the far end of each
// one's share, where its owner would arrive last. Each item is claimed by an atomic exchange, so
// it runs exactly once whoever runs it. On a shared machine one core can run at half speed, or
// start a parallel region late, for seconds at a time; with a static schedule every region then
// waits for it. Which thread computes an item must not change the item's arithmetic (each item
// writes its own outputs): results stay bitwise identical for every thread count.
#define NK_CLAIMS_MAX 64
typedef struct nk_claims {
    int n;                             // items, at most NK_CLAIMS_MAX
    atomic_uchar taken[NK_CLAIMS_MAX]; // 1 once a thread has claimed the item
} nk_claims;

static inline void nk__claims_init(nk_claims *cl, int n) {
    cl->n = n;
    for (int i = 0; i < n; i++) atomic_init(&cl->taken[i], 0);
}

// The next item for thread tid of nt, or -1 when none is left. *step starts at 0 and counts the
// positions this thread has visited in its order (own share, then each other thread's backwards).
static inline int nk__claims_next(nk_claims *cl, int *step, int tid, int nt) {
    const int n = cl->n, own0 = n * tid / nt, own1 = n * (tid + 1) / nt;
    while (*step < n) {
        int k = (*step)++, item = -1;
        if (k < own1 - own0) item = own0 + k;
        else {
            k -= own1 - own0;
            for (int o = 1; o < nt && item < 0; o++) {
                const int t = (tid + o) % nt, lo = n * t / nt, hi = n * (t + 1) / nt;
                if (k < hi - lo) item = hi - 1 - k;
                else k -= hi - lo;
            }
            if (item < 0) return -1;
        }
        if (!atomic_exchange_explicit(&cl->taken[item], 1, memory_order_relaxed)) return item;
    }
    return -1;
}

// ---------------------------------------------------------------------------------------------
// The kernels' thread team (team.c).
// ---------------------------------------------------------------------------------------------
// A parallel region is `items` calls fn(ctx, item, items), item = 0..items-1, each on one of at
// most `threads` threads of the team (the caller included), in any order; nk__team_run returns
// when all are done. Items must not depend on which thread runs them or on each other.
typedef void (*nk_team_fn)(void *ctx, int item, int items);
void nk__team_run(int threads, int items, nk_team_fn fn, void *ctx);
// nk__team_ranges posted: the workers start on the ranges while this thread goes on with other
// work (the next batch's gather during the serial end of a step). The context (`bytes`, at most
// 96) is copied; what fn writes may be read only after this thread's next region or nk_team_join,
// which run what is left here and wait for the rest. Inline, before returning, where a region
// would run inline (one thread, inside a region, another host thread's region running).
void nk__team_post_ranges(int parts, int64_t count, int64_t align, const void *ctx, size_t bytes, nk_range_fn fn);
// The threads a region asked to run on `threads` gets: `threads`, or 1 in a serial build.
int nk__team_threads(int threads);
// fn on contiguous ranges covering [0, count) as items of one region on `parts` threads: each
// thread's share as a static schedule cuts it, itself cut into up to four ranges that the thread
// runs in order unless another thread, done with its own, takes them from the end; bounds are
// multiples of `align` except the last end (fewer ranges when there are fewer alignment units).
// Callers' results must not depend on where the ranges are cut (they never depended on the
// thread count).
void nk__team_ranges(int parts, int64_t count, int64_t align, void *ctx, nk_range_fn fn);

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

// The same product on unpacked operands, for products too small for packing to pay (gemm.c): A's
// element (i, p) at A[i*rsa + p*csa], B's element (p, j) at B[p*rsb + j]; only rows i < mr of A
// and columns j < nr of B are read. Same operations per element as nk_sgemm_ukernel_fn, so the
// same bits. A packed panel is the case rsa = 1, csa = MR; a packed B panel rsb = NR.
typedef void (*nk_sgemm_ukernel_strided_fn)(int64_t kc, const float *A, int64_t rsa, int64_t csa,
                                            const float *B, int64_t rsb, float alpha, float beta,
                                            float *C, int64_t ldc, int mr, int nr);

// The product with a packed A panel and B's rows read in place through row pointers: B's element
// (p, j) at brows[p][bcol + j], only columns j < nr read. For a B whose rows are not a constant
// stride apart (convolution's shifted image rows) used by too few A panels for packing it to pay.
// Same operations per element as nk_sgemm_ukernel_fn: same bits. Optional in a table row (NULL:
// gemm.c packs B instead).
typedef void (*nk_sgemm_ukernel_brows_fn)(int64_t kc, const float *Ap, const float *const *brows,
                                          int64_t bcol, float alpha, float beta, float *C,
                                          int64_t ldc, int mr, int nr);

// The product with A's rows read in place through row pointers and a packed B panel: A's element
// (i, p) at arows[i][acol + p], only rows i < mr read. For an A whose rows are not a constant
// stride apart (convolution's shifted image rows) used by a single B panel. Same operations per
// element as nk_sgemm_ukernel_fn: same bits. Optional in a table row (NULL: gemm.c packs A).
typedef void (*nk_sgemm_ukernel_arows_fn)(int64_t kc, const float *const *arows, int64_t acol,
                                          const float *Bp, float alpha, float beta, float *C,
                                          int64_t ldc, int mr, int nr);

// nk_sgemm_ukernel_arows_fn over the columns of A in runs only: column acol + p takes part when
// (acol + p) mod period < keep, and the others are left out of every element's sum. For a K whose
// left-out columns hold zero products (the shifted filter gradient's garbage columns, where dy is
// zero): leaving out a term that is ±0 changes no sum (one that starts at +0 never becomes −0), so
// the bits are nk_sgemm_ukernel_arows_fn's over all of K for finite A. Optional in a table row
// (NULL: the product takes every column).
typedef void (*nk_sgemm_ukernel_arows_runs_fn)(int64_t kc, const float *const *arows, int64_t acol,
                                               int64_t period, int64_t keep, const float *Bp, float alpha,
                                               float beta, float *C, int64_t ldc, int mr, int nr);

// Which columns of a row-pointer A the unpacked microkernels read, and where: with period > 0 only
// the columns in runs (nk_sgemm_ukernel_arows_runs_fn); with offsets, column p of row i at
// arows[i][offsets[p]] instead of arows[i][acol + p] (nk_sgemm_ukernel_aoffsets_fn).
typedef struct nk_a_columns {
    int64_t period, keep;
    const int64_t *offsets;
} nk_a_columns;

// The runs of nk_sgemm_ukernel_arows_runs_fn: moves *p (a column of the kc in a tile, *phase its
// (acol + p) mod period) past the left-out columns and returns the end of the run that starts there
// (kc when the tile ends first); *phase is then the phase at that end. A run loop reads
// `for (p = 0, phase = acol % period; (end = nk__next_run(&p, &phase, kc, period, keep)) > p;)`.
static inline int64_t nk__next_run(int64_t *p, int64_t *phase, int64_t kc, int64_t period, int64_t keep) {
    if (*phase >= keep) {
        *p += period - *phase;
        *phase = 0;
    }
    if (*p >= kc) return *p;
    const int64_t end = NK_MIN(kc, *p + keep - *phase);
    *phase += end - *p;
    return end;
}

// The column loop of the unpacked microkernels (kernels_*.c): STEP(p, b) for each column p < kc of
// the tile, B's row p at b (brows[p] + bcol with row pointers, else B, advanced by rsb a column),
// or, with runs (cols->period > 0), for the columns in runs only (B packed, row p at B + p·rsb).
#define NK_STRIDED_COLUMNS(kc, B, rsb, brows, bcol, BROWS, cols, acol, STEP)                                  \
    do {                                                                                                    \
        if (!(cols) || (cols)->period <= 0)                                                                 \
            for (int64_t p_ = 0; p_ < (kc); p_++) {                                                         \
                STEP(p_, (BROWS) ? (brows)[p_] + (bcol) : (B));                                              \
                if (!(BROWS)) (B) += (rsb);                                                                  \
            }                                                                                               \
        else                                                                                                \
            for (int64_t p_ = 0, phase_ = (acol) % (cols)->period, end_;                                     \
                 (end_ = nk__next_run(&p_, &phase_, (kc), (cols)->period, (cols)->keep)) > p_;)            \
                for (; p_ < end_; p_++) STEP(p_, (B) + p_ * (rsb));                                         \
    } while (0)

// The product with A's element (i, p) at apos[i][off[p]] (only rows i < mr read) and a packed B
// panel: a convolution's column matrix seen from its output positions (apos[i]: position i in the
// padded image, off[p]: row p's kernel offset), any set of positions. Same operations per element
// as nk_sgemm_ukernel_fn: same bits. Optional in a table row (NULL: the convolution keeps its
// shifted rows).
typedef void (*nk_sgemm_ukernel_aoffsets_fn)(int64_t kc, const float *const *apos, const int64_t *off,
                                             const float *Bp, float alpha, float beta, float *C, int64_t ldc,
                                             int mr, int nr);

// Packing contract (gemm.c packs every operand through these, so no operator names an ISA).
// Source row k is rows[k] + col0 when rows is not NULL, else src + k*lds.
//  copy:      dst[p*R + j] = row p [j]  for j < n, 0 for n <= j < R, p < kc  (panel across a row)
//  transpose: dst[p*R + i] = row i [p]  for i < n, 0 for n <= i < R, p < kc  (panel down rows)
// dst is 64-byte aligned when R*4 is a multiple of 64 and the panel starts a packed block.
typedef void (*nk_pack_fn)(const float *src, int64_t lds, const float *const *rows, int64_t col0,
                           int n, int64_t kc, int R, float *dst);

// Max-pooling row kernel: for o < n, best[o] = max over i < KH, j < KW of x0[i*W + o*sw + j] and
// arg[o] = the offset i*W + o*sw + j of the first maximum in row-major window order (NaN wins,
// see pool.c); arg may be NULL. Reads only inside the windows.
typedef void (*nk_maxpool_row_fn)(const float *x0, int64_t W, int64_t KH, int64_t KW, int64_t sw,
                                  int64_t n, float *best, int32_t *arg);

// 2×2 stride-2 max-pooling row (the commonest pooling): for o < n, the window's top row is
// r0[2o], r0[2o + 1] and its bottom row r0[W + 2o], r0[W + 2o + 1]; y[o] = its maximum and, when
// arg is not NULL, arg[o] = base + the offset (from r0) of its first maximum in row-major order
// (NaN wins, see pool.c). Reads only inside the windows; writes y[0:n] and arg[0:n] directly.
typedef void (*nk_maxpool_2x2_row_fn)(const float *r0, int64_t W, int64_t n, int32_t base, float *y,
                                      int32_t *arg);

// Its backward row: for o < n, each of window o's four elements — dx[2o], dx[2o + 1] (top row) and
// dx[W + 2o], dx[W + 2o + 1] (bottom row), at plane offsets base + 2o, … — becomes 0 + dy[o] when
// arg[o] is its plane offset, else +0: what zeroing dx and adding dy[o] at arg[o] gives (-0 and NaN
// included) when every arg[o] lies in its own window, as the forward row writes them. Writes the
// 2n columns of both rows directly: no zeroing pass, no scattered adds.
typedef void (*nk_maxpool_2x2_backward_row_fn)(const float *dy, const int32_t *arg, int64_t n,
                                               int32_t base, int64_t W, float *dx);

// Both for `rows` output rows of a plane at once, for short rows (n outputs each: LeNet's 10×10
// planes give 5), where a call per row and its mostly empty vectors cost more than the compares.
// Output row q: input rows from r0 + 2qW (dx + 2qW), outputs y + qn and arg + qn (gradients dy + qn),
// offsets from base + 2qW. Each row exactly as the row kernels compute it. Optional in a table row
// (NULL: pool.c calls the row kernels row by row).
typedef void (*nk_maxpool_2x2_rows_fn)(const float *r0, int64_t W, int64_t n, int64_t rows, int32_t base,
                                       float *y, int32_t *arg);
typedef void (*nk_maxpool_2x2_backward_rows_fn)(const float *dy, const int32_t *arg, int64_t n, int64_t rows,
                                                int32_t base, int64_t W, float *dx);

// Sums of shifted rows (col2im in gather form), for `rows` rows at once: for r < rows and w < n,
// dst[r*ldd + w] += src[r*lds + off[t] + w] for each term t whose range holds w (lo[t] <= w < hi[t]),
// added in term order t = 0, 1, ... . src is read only inside the terms' ranges. A dx row takes all
// its adds in a register, and rows (channels) side by side keep independent sums in flight (a
// scatter-add re-read what it had just stored; one row's chain of adds waits on their latency).
// Same adds in the same order on every ISA: same bits.
#define NK_SHIFTED_SUM_MAX_TERMS 64 // terms of one call at most
typedef void (*nk_shifted_sum_fn)(int64_t rows, const float *src, int64_t lds, const int64_t *off,
                                  const int64_t *lo, const int64_t *hi, int terms, int64_t n,
                                  float *dst, int64_t ldd);

// Dot products of rows, ka by rb at once: out[k*ldo + r] = Σ_{p<n} a[k*lda + p] · brows[r][p] for
// k < ka, r < rb. Each sum in one order on every ISA: 16 lanes, lane l the in-order fma chain over
// p ≡ l (mod 16) from +0, then the lanes folded pairwise (lane l += lane l + 8 for l < 8, then
// l + 4, l + 2, l + 1). Same bits on every ISA. For sums too long and outputs too few for an SGEMM
// to fill its register tile (convolution's filter gradient with few filters: 6 rows by 25, summed
// over 1 800 columns): every lane of every FMA is a product of the sum, nothing is packed.
// A stride-1 convolution computed directly along output rows, for few filters and short rows
// (LeNet's conv1: 6 filters, rows of 28): y[k][oh][ow] = (Σ over c, i, j in order of fma
// w[k][c][i][j]·x[c][oh + i][ow + j], from +0) + bias[k] (bias NULL: the sum alone), through the
// ReLU when relu, for k < K ≤ NK_CONV_ROWS_FILTERS and ow < OW ≤ NK_CONV_ROWS_WIDTH, oh < OH. x is
// the padded image: channel c's row h at x + c·cs + h·rs. The column matrix's sum for each element
// in its order (c, i, j), so the bits of the shifted rows' SGEMM with the bias added after (one KC
// block: C·KH·KW ≤ KC). Optional in a table row (NULL: the shifted rows).
#define NK_CONV_ROWS_FILTERS 8
#define NK_CONV_ROWS_WIDTH 32
typedef void (*nk_conv_rows_fn)(const float *x, int64_t cs, int64_t rs, int64_t C, int64_t KH, int64_t KW,
                                int64_t OH, int64_t OW, int64_t K, const float *w, const float *bias, int relu,
                                float *y);

#define NK_DOT_LANES 16
typedef void (*nk_row_dots_fn)(int64_t ka, const float *a, int64_t lda, int64_t rb,
                               const float *const *brows, int64_t n, float *out, int64_t ldo);

// Dropout masks from NK_DROPOUT_STREAMS interleaved xoshiro256** streams (each of dropout.c's
// blocks): word w (s0..s3) of stream l at state[w*NK_DROPOUT_STREAMS + l], advanced in place. Round
// r draws once from every stream; stream l's draw d gives values v = 2·(r·STREAMS + l) and v + 1 the
// 24-bit uniforms d >> 40 and (d >> 8) & 0xFFFFFF; value v is kept when its uniform is below
// `threshold`: bit v % 16 of keep[v / 16] is set, and y[v] = x[v] · scale (else the bit is clear and
// y[v] = x[v] · 0), for v < n (only those are read or written; a last word's bits past n are 0).
// The streams are independent dependency chains that fit side by side in vector registers. Integer
// draws and one multiply per value: the same bits on every ISA. A round decides 16 values, one
// keep word: the mask is 1/32 of the values' bytes, so backward reads a bit, not a float, a value.
#define NK_DROPOUT_STREAMS 8
typedef void (*nk_dropout_streams_fn)(uint64_t *state, int64_t n, uint32_t threshold, float scale,
                                      const float *x, float *y, uint16_t *keep);

// Dropout's backward through the forward's keep bits: dx[v] = dy[v] · (bit v of keep ? scale : 0)
// for v < n — the product the float mask gave (NaN and the sign of zero included): same bits on
// every ISA. keep NULL keeps every value (dx[v] = dy[v] · scale: a ReLU's backward alone, scale 1
// or a keep scale). With a gate (the output h of a ReLU before the dropout; NULL = none), then that
// ReLU's backward: dx[v] = +0 where !(gate[v] > 0). dx may equal dy.
typedef void (*nk_dropout_apply_fn)(int64_t n, const uint16_t *keep, float scale, const float *dy,
                                    const float *gate, float *dx);

// One row of the kernel table: every hand-vectorised routine of one ISA, the SGEMM microkernel's
// register tile, and the cache blocks derived for it (dispatch.c). Each kernels_<isa>.c defines
// its row (nk_kernels_<isa>, cache blocks left 0) next to the kernels it names.
// MC is a multiple of MR, NC of NR. KC is the only block size results depend on (it fixes the
// summation order), so it never varies with the thread count, and by default not with the CPU
// either (NK_GEMM_KC, see dispatch.c): MC and NC come from the cache model, KC does not.
typedef struct nk_kernels {
    nk_isa isa;
    const char *name;            // as nk_isa_name and NEURITE_ISA spell it
    int (*supported)(void);      // 1 when this CPU runs the row (compiled without the row's ISA)
    nk_sgemm_ukernel_fn ukernel;
    int mr, nr;                  // register tile
    nk_sgemm_ukernel_strided_fn ukernel_strided; // same tile, unpacked operands
    nk_sgemm_ukernel_brows_fn ukernel_brows;     // same tile, B through row pointers (or NULL)
    nk_sgemm_ukernel_arows_fn ukernel_arows;     // same tile, A through row pointers (or NULL)
    nk_sgemm_ukernel_arows_runs_fn ukernel_arows_runs; // the same over runs of A's columns (or NULL)
    nk_sgemm_ukernel_aoffsets_fn ukernel_aoffsets;     // A through position pointers and offsets (or NULL)
    nk_pack_fn pack_copy;        // packing, see nk_pack_fn
    nk_pack_fn pack_transpose;
    nk_maxpool_row_fn maxpool_row;
    nk_maxpool_2x2_row_fn maxpool_2x2_row;
    nk_maxpool_2x2_backward_row_fn maxpool_2x2_backward_row;
    nk_maxpool_2x2_rows_fn maxpool_2x2_rows;                   // or NULL
    nk_maxpool_2x2_backward_rows_fn maxpool_2x2_backward_rows; // or NULL
    nk_shifted_sum_fn shifted_sum;
    nk_row_dots_fn row_dots;
    nk_conv_rows_fn conv_rows; // or NULL
    nk_dropout_streams_fn dropout_streams;
    nk_dropout_apply_fn dropout_apply;
    int mc, kc, nc;    // cache blocks: A block mc x kc (L2), B block kc x nc (L3), B micro-panel kc x nr (L1)
    int kc_model;      // the KC the analytic model gives for this machine's L1 (reported; used only
                       // with NEURITE_GEMM_KC=model)
} nk_kernels;

// The table row for `isa` (NK_ISA_AUTO = active; unsupported ISAs give the reference row).
const nk_kernels *nk_kernels_for(nk_isa isa);

// One level of the data-cache hierarchy as seen from one core.
typedef struct nk_cache_level {
    int64_t bytes;  // total size of the level (of one instance)
    int ways;       // associativity
    int line;       // line size in bytes
    int shared;     // logical CPUs sharing one instance
} nk_cache_level;

// The machine's data caches (cache.c), read once; NEURITE_CACHE=l1d:48K/12,l2:2M/16 overrides.
typedef struct nk_cache_info {
    nk_cache_level l1d, l2, l3;
    const char *source;  // "sysfs", "cpuid", "NEURITE_CACHE" or "default"
} nk_cache_info;
const nk_cache_info *nk__cache_info(void);
// This machine's caches with the levels `profile` names replaced (NEURITE_CACHE syntax); 0 when
// the profile names no level it can read.
int nk__cache_with_profile(const char *profile, nk_cache_info *out);

// The rows, one per kernel file, in the order dispatch.c prefers them (last supported wins).
extern const nk_kernels nk_kernels_ref;
#if defined(__x86_64__)
extern const nk_kernels nk_kernels_avx2, nk_kernels_avx512;
#endif

// Kernels shared between rows: the portable max-pool row (the SSE2 one falls back to it for short
// rows) and the SSE2 routines the avx2 and avx512 rows use.
void nk_f32_maxpool_row__ref(const float *x0, int64_t W, int64_t KH, int64_t KW, int64_t sw,
                             int64_t n, float *best, int32_t *arg);
void nk_f32_maxpool_2x2_row__ref(const float *r0, int64_t W, int64_t n, int32_t base, float *y, int32_t *arg);
void nk_f32_maxpool_2x2_backward_row__ref(const float *dy, const int32_t *arg, int64_t n, int32_t base, int64_t W,
                                         float *dx);
void nk_f32_dropout_streams__ref(uint64_t *state, int64_t n, uint32_t threshold, float scale,
                                 const float *x, float *y, uint16_t *keep);
void nk_f32_shifted_sum__ref(int64_t rows, const float *src, int64_t lds, const int64_t *off,
                             const int64_t *lo, const int64_t *hi, int terms, int64_t n, float *dst,
                             int64_t ldd);
#if defined(__x86_64__)
void nk_f32_pack_transpose__sse2(const float *src, int64_t lds, const float *const *rows,
                                 int64_t col0, int n, int64_t kc, int R, float *dst);
void nk_f32_maxpool_row__sse2(const float *x0, int64_t W, int64_t KH, int64_t KW, int64_t sw,
                              int64_t n, float *best, int32_t *arg);
#endif

// Calls F(x0, W, KH, KW, sw, n, want_arg, best, arg) — an always-inline max-pool row body — with
// the stride (1, 2 or other) and want_arg as compile-time constants where they are common, so
// each instance gets constant-stride loops. Shared by the max-pool row kernels.
#define NK_MAXPOOL_ROW_SPECIALISED(F, x0, W, KH, KW, sw, n, best, arg)                          \
    do {                                                                                       \
        if (arg) {                                                                             \
            if ((sw) == 1) F(x0, W, KH, KW, 1, n, 1, best, arg);                               \
            else if ((sw) == 2) F(x0, W, KH, KW, 2, n, 1, best, arg);                          \
            else F(x0, W, KH, KW, sw, n, 1, best, arg);                                        \
        } else {                                                                               \
            if ((sw) == 1) F(x0, W, KH, KW, 1, n, 0, best, NULL);                              \
            else if ((sw) == 2) F(x0, W, KH, KW, 2, n, 0, best, NULL);                         \
            else F(x0, W, KH, KW, sw, n, 0, best, NULL);                                       \
        }                                                                                      \
    } while (0)

// v where keep is 1, +0 where it is 0: a mask on the bits instead of a branch, which a ReLU's
// pattern (half the units, at random) would mispredict half the time.
static inline float nk__keep_or_zero(float v, int keep) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= (uint32_t)0 - (uint32_t)keep;
    memcpy(&v, &bits, sizeof v);
    return v;
}

// dst[i] = ReLU(src[i]) = 0 where src[i] < 0, else src[i] (NaN and −0 unchanged): Tensor.relu()'s
// bits. dst may equal src.
static inline void nk__relu_copy(float *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = nk__keep_or_zero(src[i], !(src[i] < 0.0f));
}

// Max pooling's comparison: v replaces the running maximum b when greater, or when v is the first
// NaN (a NaN propagates; the first one wins). Shared by pool.c and the row kernels.
static inline int nk__max_takes(float v, float b) { return (v > b) | ((v != v) & (b == b)); }

// C[M x N] = A[M x K] · op(B) + beta·C, single-threaded, where row p of B is brows[p][0:N]
// (transB = 0) or row j of B is brows[j][0:K] and op(B) = Bᵀ (transB = 1); rows need not be a
// constant stride apart. Same blocking and summation order as nk_sgemm_ex, so the result equals
// nk_sgemm_ex's on the same B bitwise.
void nk__sgemm_brows(nk_isa isa, int transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                     const float *const *brows, float beta, float *C, int64_t ldc);
// C[M x N] = beta * C + A · op(B), single-threaded, where row i of A is arows[i][0:K] (rows need
// not be a constant stride apart; read in place where the kernel table row can, else packed).
// Same blocking and summation order as nk_sgemm_ex: equal bits.
void nk__sgemm_arows(nk_isa isa, int64_t M, int64_t N, int64_t K, const float *const *arows, int transB,
                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
// nk__sgemm_arows where only the columns p of A with p mod period < keep can give nonzero products
// (B's rows there are zero): where the table row has nk_sgemm_ukernel_arows_runs_fn the others
// are left out, the same bits for finite A; elsewhere every column is taken.
void nk__sgemm_arows_runs(nk_isa isa, int64_t M, int64_t N, int64_t K, const float *const *arows, int64_t period,
                          int64_t keep, int transB, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

// Whether the kernel table row of `isa` has nk_sgemm_ukernel_aoffsets_fn.
int nk__sgemm_has_aoffsets(nk_isa isa);
// Floats of a K x N B packed whole by nk__sgemm_pack_b (N rounded up to whole NR-column panels).
int64_t nk__sgemm_packed_b_floats(nk_isa isa, int64_t K, int64_t N);
// Packs op(B) (K x N; transB: B stored [N x K]) whole: K block b at Bpk + Npad·b·KC, laid out as
// the SGEMM packs one block of B.
void nk__sgemm_pack_b(nk_isa isa, int transB, const float *B, int64_t ldb, int64_t K, int64_t N, float *Bpk);
// C[M x N] = A·B, single-threaded, A's element (i, p) at apos[i][off[p]] (nk_sgemm_ukernel_aoffsets_fn;
// only where nk__sgemm_has_aoffsets), B packed by nk__sgemm_pack_b. The blocking and summation
// order of nk_sgemm_ex (KC blocks in order, each an in-order fma chain): equal bits.
void nk__sgemm_aoffsets(nk_isa isa, int64_t M, int64_t N, int64_t K, const float *const *apos, const int64_t *off,
                        const float *Bpk, float *C, int64_t ldc);

// The active SGEMM's tile geometry, for operators that size their own work to it (convolution's
// plan): register tile MR x NR and the cache blocks MC and KC.
typedef struct nk_sgemm_geometry { int64_t mr, nr, mc, kc; } nk_sgemm_geometry;
nk_sgemm_geometry nk__sgemm_geometry(nk_isa isa);

// A packed once for many products with the same A (convolution's weights, reused for every image
// tile): nk__sgemm_pack_a lays op(A)[M x K] out exactly as the SGEMM's own packing would, block by
// block (nk__sgemm_packed_a_floats floats, 64-byte aligned), and nk__sgemm_pa computes
// C = op(A) · op(B) + beta·C from it (alpha 1, `threads` as nk_sgemm_ex). Same operations as
// nk_sgemm_ex on the unpacked A, so the same bits.
int64_t nk__sgemm_packed_a_floats(nk_isa isa, int64_t M, int64_t K);
void nk__sgemm_pack_a(nk_isa isa, int threads, int transA, int64_t M, int64_t K, const float *A, int64_t lda,
                      float *Apk);
void nk__sgemm_pa(nk_isa isa, int threads, int64_t M, int64_t N, int64_t K, const float *Apk, int transB,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
