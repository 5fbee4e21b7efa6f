// neurite.h: the one public C header of Neurite's kernels (module CNeurite).
//
// Conventions: every matrix is row-major float32. A "leading dimension" (ld*) is the distance in
// floats between the starts of two consecutive rows. Shapes are given in the comment above each
// function as [rows x cols]. Every kernel is deterministic: for the same inputs it produces
// bitwise identical results whatever the thread count (work is split over independent output
// blocks, never over a reduction), whatever the ISA (every microkernel adds the same products
// with the same FMAs in the same order) and whatever the CPU (the SGEMM's depth block KC, the one
// block size that orders sums, is fixed; only MC and NC follow the caches).
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
    NK_ISA_NEON = 3,    ///< reserved for Advanced SIMD (arm64): no kernels yet, never supported
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
/// Limits the kernels called from the calling thread to `n` threads (0 removes the limit); other
/// threads keep the global setting. For work already split over threads above the kernels.
void nk_set_thread_limit(int n);
/// The calling thread's limit (0: none).
int nk_get_thread_limit(void);
/// Physical cores of this machine (logical CPUs / SMT siblings).
int nk_physical_cores(void);
/// A range [begin, end) of a host-language loop run by nk_parallel_ranges.
typedef void (*nk_range_fn)(void *context, int64_t begin, int64_t end);
/// Runs fn on contiguous ranges covering [0, count), one per thread of the kernels' team (the current
/// thread setting, or 1 when count < 2·min_per_thread); range bounds are multiples of `align` except
/// the last end. For element-wise loops written in Swift (activations), whose results then do not
/// depend on the thread count. Runs on the kernels' team with the caller's floating-point mode.
void nk_parallel_ranges(int64_t count, int64_t align, int64_t min_per_thread, void *context,
                        nk_range_fn fn);
/// One item of nk_parallel_items.
typedef void (*nk_item_fn)(void *context, int64_t item);
/// Runs fn(context, i) for every i in [0, items) as the items of one region of the kernels' team
/// (at most the current thread setting's threads, the caller included): any thread may take any
/// item, each thread its own first. The kernels an item calls run on that item's thread alone. For
/// work split above the kernels (a training step's micro-shards) whose items do not depend on
/// which thread runs them.
void nk_parallel_items(int64_t items, void *context, nk_item_fn fn);

// ---------------------------------------------------------------------------------------------
// Floating-point mode (denormals)
// ---------------------------------------------------------------------------------------------

/// Sets the calling thread's floating-point mode to the wanted one (flush-to-zero and
/// denormals-are-zero unless turned off); the kernels' team takes that mode at each parallel
/// region. Every kernel calls it before its parallel region; a no-op (one compare) when nothing
/// changed since this thread's last call. `threads` is unused (kept for callers that pass it).
void nk_fp_prepare(int threads);
/// 1 when Neurite flushes subnormal floats to zero (the default), 0 when it keeps IEEE subnormals
/// (NEURITE_DENORMALS=keep or nk_set_flush_denormals(0)).
int nk_flush_denormals(void);
/// Chooses whether threads running Neurite arithmetic flush subnormals (1) or keep them (0); takes
/// effect in each thread at its next kernel call.
void nk_set_flush_denormals(int on);
/// 1 when the calling thread's MXCSR has both FTZ and DAZ set (always 0 off x86).
int nk_fp_thread_flushes(void);
/// Runs a parallel region of `threads` items on the kernels' team and counts the items whose
/// thread's mode differs from the wanted one (0 when every worker flushes as the setting says).
/// For tests.
int nk_fp_team_mismatches(int threads);

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

/// What a product does to its result besides the product: a layer's bias, ReLU, dropout's and the
/// ReLU's backward, and
/// the bias gradient, done by each thread on the block of C it computed while that block is still in
/// its cache, instead of as separate passes over C after the product (each a pass that runs on one
/// thread at a layer's sizes, or forks a team of its own). Zero-initialise, then set what is needed.
/// Each step gives the same bits as the separate pass it replaces.
typedef struct nk_sgemm_epilogue {
    /// Before the product, every row of C is set to bias[0:N], and the product is added to it (the
    /// call's beta is then ignored): C = alpha·op(A)·op(B) + bias.
    const float *bias;
    /// After the product, C = 0 where C < 0 (ReLU; NaN and −0 pass unchanged).
    int relu;
    /// After the product (and before the gate), C = C · (kept ? keep_scale : 0), element (i, j)
    /// kept when bit (i·N + j) % 16 of keep_bits[(i·N + j) / 16] is set (dropout's backward, from
    /// the mask its forward wrote).
    const uint16_t *keep_bits;
    float keep_scale;
    /// After the product, C = 0 where !(gate > 0), gate: [M x N] at row stride ldgate (ReLU's
    /// backward, read from its output h: h > 0 exactly where its input was).
    const float *gate;
    int64_t ldgate;
    /// Alongside the product, column_sums[j] = (sum_accumulate ? column_sums[j] : 0) +
    /// Σ_i sum_of[i·sum_width + j] for i in 0..<sum_rows, top to bottom (the bias gradient Σ_batch δ,
    /// beside its weight gradient); the columns are shared out among the product's threads.
    const float *sum_of;
    int64_t sum_rows, sum_width;
    float *column_sums;
    int sum_accumulate;
} nk_sgemm_epilogue;

/// nk_sgemm_ex with an epilogue (NULL = none).
void nk_sgemm_fused(nk_isa isa, int threads, int transA, int transB, int64_t M, int64_t N,
                    int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                    float beta, float *C, int64_t ldc, const nk_sgemm_epilogue *epilogue);

/// One product of nk_sgemm_fused_pair: the arguments of nk_sgemm_fused (epilogue NULL = none).
typedef struct nk_sgemm_product {
    int transA, transB;
    int64_t M, N, K;
    float alpha;
    const float *A;
    int64_t lda;
    const float *B;
    int64_t ldb;
    float beta;
    float *C;
    int64_t ldc;
    const nk_sgemm_epilogue *epilogue;
} nk_sgemm_product;

/// Two independent products (neither reads what the other writes) as one parallel region: with an
/// even team each is split over half of it (at 2 threads each runs whole on its own thread), with
/// an odd one each as nk_sgemm_fused would split it; the threads take the parts of both, so one
/// join serves the two and a thread done with its parts takes those nobody has started (a layer's
/// weight and input gradients, equal in flops). Same bits as two nk_sgemm_fused calls.
void nk_sgemm_fused_pair(nk_isa isa, int threads, const nk_sgemm_product *first, const nk_sgemm_product *second);

/// Naive triple loop (float accumulation, serial): the oracle and the fallback.
void nk_sgemm_naive(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                    float *C, int64_t ldc);

/// The SGEMM blocking for `isa` (NK_ISA_AUTO = active; unsupported = reference): writes
/// out[0..4] = MR, NR (register tile), MC, KC, NC (cache blocks) and returns the ISA actually used.
int nk_sgemm_blocking(nk_isa isa, int out[5]);

/// One line naming `isa`'s SGEMM tile and cache blocks and the cache hierarchy they were derived
/// from (and where it was read). Block sizes come from the caches (NEURITE_CACHE=l1d:48K/12,l2:2M/16
/// overrides them) and NEURITE_GEMM_MC / NEURITE_GEMM_KC / NEURITE_GEMM_NC override each block.
const char *nk_sgemm_blocking_text(nk_isa isa);

/// The blocking the cache model gives `isa` on a machine whose caches are `profile` (NEURITE_CACHE
/// syntax, e.g. "l1d:32K/8,l2:1M/8"; levels it does not name are this machine's; NULL or "" =
/// this machine), ignoring the NEURITE_GEMM_* overrides: out[0..5] = MR, NR, MC, KC, NC and the
/// KC the model itself asks for. Returns the ISA used, or -1 when the profile names no level.
int nk_sgemm_blocking_for_caches(nk_isa isa, const char *profile, int out[6]);

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

/// dst[i, :] = src[rows[i], :] for i < count; rows of `width` floats (a shuffled mini-batch).
/// dst: [count x width], src: [* x width], rows: [count] (each a valid row of src).
void nk_gather_rows(float *dst, const float *src, const int64_t *rows, int64_t count, int64_t width);
/// nk_gather_rows started on the kernels' team while the caller goes on (the next mini-batch during
/// the serial end of a training step). dst may be read only after nk_team_join on the calling
/// thread (its next kernel call that starts a parallel region joins it too); dst, src and rows
/// must stay valid until then. Runs inline, before returning, with one thread or when another host
/// thread's kernels hold the team.
void nk_gather_rows_post(float *dst, const float *src, const int64_t *rows, int64_t count, int64_t width);
/// dst[i, j] = src[rows[i], j] / 255 for i < count: rows of `width` bytes standing for fractions of
/// 255 (8-bit images), as floats, each the division the IDX loader makes (so the same bits as
/// gathering the float copy). src: [* x width] bytes; otherwise as nk_gather_rows.
void nk_gather_unit_bytes(float *dst, const uint8_t *src, const int64_t *rows, int64_t count, int64_t width);
/// nk_gather_unit_bytes started on the kernels' team while the caller goes on (as nk_gather_rows_post).
void nk_gather_unit_bytes_post(float *dst, const uint8_t *src, const int64_t *rows, int64_t count, int64_t width);
/// Cache hints for rows[i] of src (rows of row_bytes bytes), i < count: the next mini-batch's
/// rows requested a step before they are gathered. Hints only; no memory is written and no value
/// changes. src and rows as for nk_gather_rows.
void nk_prefetch_rows(const void *src, const int64_t *rows, int64_t count, int64_t row_bytes);
/// Finishes the work the calling thread posted (nk_gather_rows_post): runs what is left, waits for
/// the rest. A no-op when nothing is posted.
void nk_team_join(void);

/// Where the calling thread waited on the kernels' team while it recorded: parallel regions it ran
/// on the team (not inline), nanoseconds it spent at their ends waiting for items other threads
/// were running, and nanoseconds it spent joining its posted work (running what was left of it,
/// then waiting for the rest).
typedef struct nk_team_stats {
    uint64_t regions, end_wait_ns, join_ns;
} nk_team_stats;
/// Starts (1) or stops (0) recording the calling thread's nk_team_stats; off by default (no clock
/// reads).
void nk_team_stats_record(int on);
/// 1 while the calling thread records its nk_team_stats, else 0.
int nk_team_stats_recording(void);
/// The calling thread's counts so far (never reset; take differences).
void nk_team_stats_read(nk_team_stats *out);

// ---------------------------------------------------------------------------------------------
// Convolution, pooling and local response normalisation (NCHW float32, batched)
// ---------------------------------------------------------------------------------------------
// Tensors are contiguous NCHW: x[n][c][h][w]. Padding is zero padding given per side. Every
// kernel takes `threads` (<= 0 = the current setting, nk_get_num_threads()) and gives bitwise
// identical results for every thread count. Each has a `_ref` twin: plain loops, serial, the
// oracle of the tests (its results differ from the fast kernel's in rounding only).

/// Output extent of a window sliding over one padded dimension: ⌊(in + pad_lo + pad_hi − window) /
/// stride⌋ + 1, or -1 when the window is larger than the padded input or an argument is out of
/// range (in, window, stride < 1; a pad < 0). The one formula behind convolution's and pooling's
/// output sizes (here and in the Swift layers).
int64_t nk_window_output_extent(int64_t in, int64_t pad_lo, int64_t pad_hi, int64_t window,
                                int64_t stride);

/// Geometry of a 2-D convolution. Output height OH = (H + pad_top + pad_bottom - KH) / stride_h
/// + 1 (floor), likewise OW; nk_conv2d_output_size returns -1 when the kernel does not fit.
typedef struct nk_conv2d_shape {
    int64_t batch;          ///< N
    int64_t in_channels;    ///< C
    int64_t in_h, in_w;     ///< H, W
    int64_t out_channels;   ///< K
    int64_t kernel_h, kernel_w;   ///< KH, KW
    int64_t stride_h, stride_w;   ///< >= 1
    int64_t pad_top, pad_bottom, pad_left, pad_right;  ///< >= 0
} nk_conv2d_shape;

/// OH * OW, after storing OH and OW in *out_h / *out_w (either may be NULL); -1 when the padded
/// input is smaller than the kernel or an extent / stride is not positive.
int64_t nk_conv2d_output_size(const nk_conv2d_shape *s, int64_t *out_h, int64_t *out_w);

/// y = conv(x, w) + bias. x: [N, C, H, W], w: [K, C, KH, KW], bias: [K] or NULL, y: [N, K, OH, OW]
/// (overwritten). im2col + SGEMM per image, parallel over images (or inside the SGEMM when the
/// batch is smaller than the thread count); 1x1 stride-1 unpadded kernels skip im2col.
void nk_conv2d_forward(const nk_conv2d_shape *s, int threads, const float *x, const float *w,
                       const float *bias, float *y);
/// nk_conv2d_forward, then ReLU (y = 0 where y < 0; NaN and −0 unchanged) when relu is 1, each
/// image's output by the thread that computed it: a following ReLU layer's pass fused in, same bits.
void nk_conv2d_forward_relu(const nk_conv2d_shape *s, int threads, const float *x, const float *w,
                            const float *bias, int relu, float *y);
/// Direct 7-loop convolution, serial. Shapes as nk_conv2d_forward.
void nk_conv2d_forward_ref(const nk_conv2d_shape *s, const float *x, const float *w,
                           const float *bias, float *y);

/// dx = ∂E/∂x from dy = ∂E/∂y. dy: [N, K, OH, OW], w: [K, C, KH, KW], dx: [N, C, H, W]
/// (overwritten). Per image: dcol = wᵀ·dy [C·KH·KW x OH·OW], then col2im (scatter-add).
void nk_conv2d_backward_data(const nk_conv2d_shape *s, int threads, const float *dy,
                             const float *w, float *dx);
void nk_conv2d_backward_data_ref(const nk_conv2d_shape *s, const float *dy, const float *w,
                                 float *dx);

/// dw += ∂E/∂w, db += ∂E/∂bias (accumulated, like every parameter gradient). x: [N, C, H, W],
/// dy: [N, K, OH, OW], dw: [K, C, KH, KW], db: [K] or NULL. The sum over images runs in a fixed
/// order: images in tiles whose size depends on the shape only, one SGEMM per tile
/// (dw += dy_tile [K x T·OH·OW] · col_tileᵀ), tiles in sequence, so no thread owns a partial sum.
void nk_conv2d_backward_filter(const nk_conv2d_shape *s, int threads, const float *x,
                               const float *dy, float *dw, float *db);
void nk_conv2d_backward_filter_ref(const nk_conv2d_shape *s, const float *x, const float *dy,
                                   float *dw, float *db);

/// Geometry of 2-D pooling over each (n, c) plane. OH = (H + pad_top + pad_bottom - window_h) /
/// stride_h + 1 (floor), likewise OW.
typedef struct nk_pool2d_shape {
    int64_t batch, channels, in_h, in_w;           ///< N, C, H, W
    int64_t window_h, window_w;                   ///< >= 1
    int64_t stride_h, stride_w;                   ///< >= 1
    int64_t pad_top, pad_bottom, pad_left, pad_right;  ///< >= 0, each < its window extent
} nk_pool2d_shape;

/// OH * OW (stored in *out_h, *out_w when not NULL), or -1 when the window does not fit.
int64_t nk_pool2d_output_size(const nk_pool2d_shape *s, int64_t *out_h, int64_t *out_w);

/// Max pooling; padding never wins (it is -inf). x: [N, C, H, W], y: [N, C, OH, OW],
/// argmax: [N, C, OH, OW] or NULL — for each output the index h·W + w of its maximum within its
/// input plane, the first in row-major scan order on ties (-1 when the window holds no input; y is
/// then -inf). A NaN propagates (the window's first NaN wins). Parallel over (n, c) planes.
void nk_maxpool2d_forward(const nk_pool2d_shape *s, int threads, const float *x, float *y,
                          int32_t *argmax);
void nk_maxpool2d_forward_ref(const nk_pool2d_shape *s, const float *x, float *y, int32_t *argmax);
/// dx = ∂E/∂x: dy routed to each window's arg-max; overlapping windows add in output scan order.
/// dy, argmax: [N, C, OH, OW], dx: [N, C, H, W] (overwritten). Parallel over (n, c) planes. An
/// arg-max outside its plane is skipped; one outside its window (never from the forward) is
/// skipped by the 2×2 stride-2 path and added where it points otherwise.
void nk_maxpool2d_backward(const nk_pool2d_shape *s, int threads, const float *dy,
                           const int32_t *argmax, float *dx);
void nk_maxpool2d_backward_ref(const nk_pool2d_shape *s, const float *dy, const int32_t *argmax,
                               float *dx);
/// nk_conv2d_backward_filter for a convolution whose output a max pooling `pool` took (pool's
/// input is [N, K, OH, OW], the convolution's output; it aborts otherwise): dy is what
/// nk_maxpool2d_backward(pool, pooled_dy, argmax) gives, routed image by image where the filter
/// gradient reads it instead of written whole first. The bits of dw and db are those of the two
/// calls. pooled_dy, argmax: [N, K, pooled OH, pooled OW].
void nk_conv2d_backward_filter_pooled(const nk_conv2d_shape *s, int threads, const float *x,
                                      const nk_pool2d_shape *pool, const float *pooled_dy,
                                      const int32_t *argmax, float *dw, float *db);

/// Average pooling: each output is the sum of its window's inputs divided by window_h·window_w
/// (padding counts as zeros, PyTorch's count_include_pad). x: [N, C, H, W], y: [N, C, OH, OW].
void nk_avgpool2d_forward(const nk_pool2d_shape *s, int threads, const float *x, float *y);
void nk_avgpool2d_forward_ref(const nk_pool2d_shape *s, const float *x, float *y);
/// dx = ∂E/∂x, dy spread evenly over each window. dy: [N, C, OH, OW], dx: [N, C, H, W] (overwritten).
void nk_avgpool2d_backward(const nk_pool2d_shape *s, int threads, const float *dy, float *dx);
void nk_avgpool2d_backward_ref(const nk_pool2d_shape *s, const float *dy, float *dx);

/// Local response normalisation across channels (AlexNet §3.3, PyTorch's convention for alpha):
///   scale[c] = k + alpha / size · Σ_{c' = c - size/2}^{c + (size-1)/2} x[c']²   (c' clipped to [0, C))
///   y[c] = x[c] · scale[c]^(-beta)
/// x, y, scale: [N, C, H, W]; scale may be NULL (inference). alpha is divided by size as in PyTorch
/// and Caffe (AlexNet there: size 5, k 2, alpha 1e-4, beta 0.75); the paper writes k + α·Σ, so
/// its α is alpha / size here.
void nk_lrn_forward(int64_t N, int64_t C, int64_t HW, int64_t size, float k, float alpha,
                    float beta, int threads, const float *x, float *y, float *scale);
void nk_lrn_forward_ref(int64_t N, int64_t C, int64_t HW, int64_t size, float k, float alpha,
                        float beta, const float *x, float *y, float *scale);
/// dx from dy, with x, y and scale from the forward pass (all [N, C, H, W]; dx overwritten):
///   dx[j] = dy[j] · scale[j]^(-beta) - 2·alpha·beta/size · x[j] · Σ_{c: j in window(c)} dy[c]·y[c]/scale[c]
void nk_lrn_backward(int64_t N, int64_t C, int64_t HW, int64_t size, float alpha, float beta,
                     int threads, const float *x, const float *y, const float *scale,
                     const float *dy, float *dx);
void nk_lrn_backward_ref(int64_t N, int64_t C, int64_t HW, int64_t size, float alpha, float beta,
                         const float *x, const float *y, const float *scale, const float *dy,
                         float *dx);

/// Batch normalisation over x: [N, C, S] (S = H·W after a convolution, 1 after a dense layer),
/// statistics per channel over its m = N·S values (training):
///   mean[c] = (1/m) Σ x,  σ²[c] = (1/m) Σ (x − mean)²,  invstd[c] = 1/√(σ² + eps),
///   var_unbiased[c] = σ²·m/(m − 1),  xhat = (x − mean)·invstd,  y = gamma[c]·xhat + beta[c].
/// gamma, beta, mean, invstd, var_unbiased: [C]; xhat, y: [N, C, S] (overwritten). Each channel is
/// summed by one thread in a fixed order: results are the same for every thread count.
void nk_batchnorm_forward_train(int64_t N, int64_t C, int64_t S, const float *x, const float *gamma,
                                const float *beta, float eps, int threads, float *xhat, float *y,
                                float *mean, float *invstd, float *var_unbiased);
void nk_batchnorm_forward_train_ref(int64_t N, int64_t C, int64_t S, const float *x, const float *gamma,
                                    const float *beta, float eps, float *xhat, float *y, float *mean,
                                    float *invstd, float *var_unbiased);
/// Inference: y = gamma[c]·(x − mean[c])/√(var[c] + eps) + beta[c] with running statistics [C].
void nk_batchnorm_forward_infer(int64_t N, int64_t C, int64_t S, const float *x, const float *gamma,
                                const float *beta, const float *mean, const float *var, float eps,
                                int threads, float *y);
/// Backward of the training forward: dbeta[c] = Σ dy, dgamma[c] = Σ dy·xhat (overwritten, [C]) and,
/// when dx is not NULL, dx = gamma·invstd/m · (m·dy − dbeta − xhat·dgamma) ([N, C, S], overwritten).
void nk_batchnorm_backward(int64_t N, int64_t C, int64_t S, const float *dy, const float *xhat,
                           const float *gamma, const float *invstd, int threads, float *dgamma,
                           float *dbeta, float *dx);
void nk_batchnorm_backward_ref(int64_t N, int64_t C, int64_t S, const float *dy, const float *xhat,
                               const float *gamma, const float *invstd, float *dgamma, float *dbeta,
                               float *dx);

/// Dropout forward over n values, in chunks of 8 192, chunk k drawing from 8 interleaved
/// xoshiro256** streams seeded by SplitMix64 from `state` and k (the kernel table's
/// dropout_streams): each draw r decides a consecutive pair, u0 = r >> 40 and
/// u1 = (r >> 8) & 0xFFFFFF; value v is kept where its u < threshold (keep·2²⁴): bit v % 16 of
/// keep[v / 16] is then set and y[v] = x[v] · scale, else the bit is clear and y[v] = x[v] · 0.
/// `state` (NeuriteTensor's SeededGenerator) then advances by one draw. Chunks run in parallel
/// (OpenMP team): the result does not depend on the thread count or the ISA. x, y: [n] (y may
/// equal x); keep: [(n + 15) / 16] (bits past n are 0).
void nk_dropout_forward(uint64_t state[4], int64_t n, uint32_t threshold, float scale, const float *x,
                        float *y, uint16_t *keep);

/// Dropout backward: dx[v] = dy[v] · (bit v % 16 of keep[v / 16] ? scale : 0), the forward's
/// mask applied to the gradient (in parallel, same bits for every thread count and ISA). dy, dx:
/// [n] (dx may equal dy); keep as nk_dropout_forward wrote it.
void nk_dropout_backward(int64_t n, const uint16_t *keep, float scale, const float *dy, float *dx);
/// nk_dropout_backward, then the backward of a ReLU before the dropout, in one pass: dx[v] = +0
/// where !(h[v] > 0) (h: the ReLU's output, [n]; NULL = no ReLU), else the dropout's product.
void nk_dropout_relu_backward(int64_t n, const uint16_t *keep, float scale, const float *h, const float *dy,
                              float *dx);
/// A ReLU's backward, with an optional scale taken in the same pass (a dropout's keep scale):
/// dx[v] = dy[v] · scale where h[v] > 0, else +0 (h: the ReLU's input or output, [n]; NaN is not
/// > 0). scale 1 gives dy[v] itself. In parallel; the same bits for every thread count and ISA.
/// dy, dx: [n] (dx may equal dy).
void nk_relu_backward(int64_t n, const float *h, float scale, const float *dy, float *dx);

// ---------------------------------------------------------------------------------------------
// Distributed data parallelism (MPI; single-process stand-ins without the MPI trait)
// ---------------------------------------------------------------------------------------------
// Every call returns 0 on success and -1 on an MPI error. Only the thread that called
// nk_dist_init may call the others (MPI_THREAD_FUNNELED).

/// 1 when built with the MPI trait.
int nk_dist_available(void);
/// Initialises MPI (once; later calls do nothing). -1 without the trait or on failure.
int nk_dist_init(void);
/// Finalises MPI if nk_dist_init initialised it.
void nk_dist_finalize(void);
/// This process's rank (0 when MPI is not running).
int nk_dist_rank(void);
/// Number of processes (1 when MPI is not running).
int nk_dist_size(void);
/// buf[i] = Σ over ranks of buf[i], in place, blocking. buf: [n].
int nk_dist_allreduce_sum_f32(float *buf, int64_t n);
/// The same for doubles (metrics). buf: [n], n < 2^30.
int nk_dist_allreduce_sum_f64(double *buf, int64_t n);
/// Starts the same sum without waiting (buf must not be touched until nk_dist_wait_all).
int nk_dist_iallreduce_sum_f32(float *buf, int64_t n);
/// Waits for every sum started since the last call.
int nk_dist_wait_all(void);
/// Copies root's buf to every rank. buf: [n], n < 2^30.
int nk_dist_broadcast_f32(float *buf, int64_t n, int root);
/// Stops every rank (after a failure on this one) with exit code `code`.
void nk_dist_abort(int code);

#ifdef __cplusplus
}
#endif
#endif
