// SGEMM: C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C, row-major.
//
// BLIS-style algorithm, portable across ISAs; the ISA only supplies the microkernel and block
// sizes (nk_kernels, chosen once in dispatch.c):
//
//   for jc in N step NC:                     B block  kc x nc  packed into NR-column micro-panels
//     for pc in K step KC:                   (beta applies on the first pc only, then 1)
//       pack B[pc:pc+kc, jc:jc+nc]
//       for ic in M step MC:                 A block  mc x kc  packed into MR-row micro-panels
//         pack A[ic:ic+mc, pc:pc+kc]
//         for jr in nc step NR:              B micro-panel stays in L1 across the ir loop
//           for ir in mc step MR:
//             ukernel(kc, A micro-panel, B micro-panel, C tile)
//
// Threads: C is cut into one slice per thread along N (or along M when M is the longer side),
// on micro-tile boundaries, and each thread runs the loops above on its slice with its own pack
// buffers (the operand shared by the slices is packed once per thread: a few per cent of the work
// at most, and no barriers or shared scratch). Products cut along N with a short A (a batch of rows
// times a layer's weights) are cut finer, into column chunks that each thread claims: its own share
// first, in order, then what another thread has not reached yet, from the far end (see
// gemm_claiming); their A is packed once, in pieces the threads share out (shared_a). On a shared
// machine one core can run at half speed for seconds at a time; with fixed slices the whole
// product then waits for it, with claimed chunks the other core takes over part of its share. K is never split and KC does not depend on the thread count or on who
// computes a chunk, so every element of C sees the same operations in the same order: results are
// bitwise identical for every thread count.
#include "neurite.h"
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// Flop count (2*M*N*K) below which a product runs on one thread. Measured on the 2-core Zen 4
// (AVX-512, best of many calls, OpenMP pool warm): 32x32x64 (131 kflop) 2 µs on 1 or 2 threads
// (break-even); 32x64x64 (262 kflop) 87 -> 123 GFLOP/s; 64x64x64 (524 kflop) 93 -> 142;
// 64x128x128 (2.1 Mflop) 101 -> 182. The threshold sits at 4x the break-even so a cold pool's
// wake-up or a busy sibling core costs little.
#define NK_SGEMM_PARALLEL_THRESHOLD ((int64_t)1 << 19)

int64_t nk_sgemm_parallel_threshold(void) { return NK_SGEMM_PARALLEL_THRESHOLD; }

// Packs op(A)[0:mc, 0:kc] (A already offset to the block's first element) into MR-row
// micro-panels: Ap[(ir/MR)*MR*kc + p*MR + i] = op(A)[ir+i][p], rows past mc zero-filled.
// arows, when not NULL, replaces A: row i of A at arows[i][col0:col0+kc], already offset to the
// block's first row (nk__sgemm_arows).
static void pack_a(const nk_kernels *kt, int transA, const float *A, int64_t lda,
                   const float *const *arows, int64_t col0, int64_t mc, int64_t kc, float *restrict Ap) {
    const int MR = kt->mr;
    for (int64_t ir = 0; ir < mc; ir += MR) {
        const int mr = (int)NK_MIN((int64_t)MR, mc - ir);
        if (arows) kt->pack_transpose(NULL, 0, arows + ir, col0, mr, kc, MR, Ap + ir * kc);
        else if (transA) kt->pack_copy(A + ir, lda, NULL, 0, mr, kc, MR, Ap + ir * kc); // A stored [K x M]
        else kt->pack_transpose(A + ir * lda, lda, NULL, 0, mr, kc, MR, Ap + ir * kc);
    }
}

// M rounded up to whole MR-row micro-panels: the rows a packed A holds.
static int64_t padded_m(const nk_kernels *cfg, int64_t M) { return (M + cfg->mr - 1) / cfg->mr * cfg->mr; }

// N rounded up to whole NR-column micro-panels: the columns a packed B holds.
static int64_t padded_n(const nk_kernels *cfg, int64_t N) { return (N + cfg->nr - 1) / cfg->nr * cfg->nr; }

// Packs MR-row panels [p0, p1) of K block b (columns [b*KC, b*KC + kc) of op(A)) of a whole packed
// A, laid out as gemm_slice reads a pre-packed one: block b at Apk + Mpad*b*KC, in it panel p at
// p*MR*kc.
static void pack_a_panels(const nk_kernels *cfg, int transA, int64_t M, int64_t K, const float *A, int64_t lda,
                          int64_t b, int64_t p0, int64_t p1, float *Apk) {
    const int64_t pc = b * cfg->kc, kc = NK_MIN((int64_t)cfg->kc, K - pc), r0 = p0 * cfg->mr;
    pack_a(cfg, transA, transA ? A + pc * lda + r0 : A + r0 * lda + pc, lda, NULL, 0, NK_MIN(M, p1 * cfg->mr) - r0,
           kc, Apk + padded_m(cfg, M) * pc + r0 * kc);
}

// Packs K block b (all M rows) of a whole packed A (see pack_a_panels).
static void pack_a_block(const nk_kernels *cfg, int transA, int64_t M, int64_t K, const float *A, int64_t lda,
                         int64_t b, float *Apk) {
    pack_a_panels(cfg, transA, M, K, A, lda, b, 0, (M + cfg->mr - 1) / cfg->mr, Apk);
}

// Packs op(B)[0:kc, 0:nc] into NR-column micro-panels:
// Bp[(jr/NR)*NR*kc + p*NR + j] = op(B)[p][jr+j], columns past nc zero-filled.
// rows, when not NULL, replaces B: row p of op(B) at rows[p][col0:col0+nc] (transB = 0) or row j
// of B, column j of op(B), at rows[j][col0:col0+kc] (transB = 1), already offset to the block — a B
// whose rows are not a constant stride apart (convolution's shifted input rows, nk__sgemm_brows).
static void pack_b(const nk_kernels *kt, int transB, const float *B, int64_t ldb,
                   const float *const *rows, int64_t col0, int64_t kc, int64_t nc, float *restrict Bp) {
    const int NR = kt->nr;
    for (int64_t jr = 0; jr < nc; jr += NR) {
        const int nr = (int)NK_MIN((int64_t)NR, nc - jr);
        float *restrict dst = Bp + jr * kc;
        if (transB) // B stored [N x K]: column j of op(B) is row j of B, contiguous along p.
            kt->pack_transpose(rows ? NULL : B + jr * ldb, ldb, rows ? rows + jr : NULL, col0, nr, kc, NR, dst);
        else
            kt->pack_copy(rows ? NULL : B + jr, ldb, rows, col0 + jr, nr, kc, NR, dst);
    }
}

// C = beta * C for the degenerate cases (K == 0 or alpha == 0); beta == 0 writes zeros.
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0) memset(c, 0, (size_t)N * sizeof(float));
        else if (beta != 1)
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
}

// Pack buffers are per thread and kept for the thread's lifetime (freed by a pthread key
// destructor when it exits): allocating them per call cost up to 2x on sub-millisecond products
// at 2 threads (fresh pages fault in on every call once glibc trims a worker thread's arena).
// Each thread only ever touches its own buffers, so concurrent callers are safe. Buffer 0 holds a
// thread's own packed blocks; buffer 1 a packed A that the threads of a region it starts share
// (shared_a below), which only that thread allocates and which lives until its region ends.
enum { NK_SCRATCH_OWN = 0, NK_SCRATCH_SHARED = 1 };
typedef struct pack_scratch { float *buf[2]; size_t floats[2]; } pack_scratch;
static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    pack_scratch *s = (pack_scratch *)p;
    if (s) { free(s->buf[0]); free(s->buf[1]); free(s); }
}
static void scratch_key_init(void) { pthread_key_create(&g_scratch_key, scratch_free); }

// Buffer `which` (NK_SCRATCH_OWN or NK_SCRATCH_SHARED) of the calling thread, 64-byte aligned, of
// at least `floats` floats, or NULL.
static float *scratch(int which, size_t floats) {
    pthread_once(&g_scratch_once, scratch_key_init);
    pack_scratch *s = (pack_scratch *)pthread_getspecific(g_scratch_key);
    if (!s) {
        s = (pack_scratch *)calloc(1, sizeof *s);
        if (!s) return NULL;
        pthread_setspecific(g_scratch_key, s);
    }
    if (s->floats[which] < floats) {
        free(s->buf[which]);
        size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
        s->buf[which] = (float *)aligned_alloc(64, bytes);
        s->floats[which] = s->buf[which] ? floats : 0;
    }
    return s->buf[which];
}

// The calling thread's own pack buffer of at least `floats` floats, or NULL.
static float *thread_scratch(size_t floats) { return scratch(NK_SCRATCH_OWN, floats); }

// Small products read an operand in place instead of packing it when the packed copy would be
// used by too few micro-tiles to repay the copy (the microkernel's unpacked variant, same bits):
// A when the slice is at most NK_SGEMM_INPLACE_A_PANELS micro-panels of B wide (each A panel then
// meets that many B panels: a 10-class layer's N = 10), B (not transposed) when the slice is at
// most NK_SGEMM_INPLACE_B_PANELS micro-panels of A tall (M = 10: the 10-class layer's weight
// gradient). Measured: see the commit that introduced them.
#define NK_SGEMM_INPLACE_A_PANELS 1
#define NK_SGEMM_INPLACE_B_PANELS 2
// A (not transposed) is also read in place while the slice is short and narrow: its M x K of A at
// most NK_SGEMM_INPLACE_A_FLOATS (256 KiB: within every L2 we run on) and its width at most
// NK_SGEMM_INPLACE_A_WIDE_PANELS micro-panels of B. Packing a row-major A is a transposition,
// repaid only when the packed copy serves many B panels; a short A stays in L2 for each panel
// either way. This covers the batch-by-features inputs of the dense layers (the MLP's 64 x 784,
// 64 x 256, its 64 x 128 output gradient, N 128-256) and, on more than one thread, spares those
// products the shared packing of A and the wait for the other thread's pieces (gemm_claiming,
// which applies the rule to the whole product's width, the columns its packing would serve).
// Transposed A (a weight gradient's input) keeps its packing, a plain copy. 1 thread, interleaved
// runs, medians of 15-21, packed -> in place: Zen 4 (AVX-512): 64x256x784 nt 276-282 -> 262 us,
// 64x128x256 nt 45-47 -> 41, 64x256x128 nn 43-44 -> 41; 256x256x784 nt 960-1037 -> 956-973; wide
// products lose: 96x3025x363 nn (AlexNet's conv1 forward, 95 panels) 2.54-3.41 -> 2.86-3.65 ms,
// 256x3025x256 nn 4.24-5.07 -> 4.47-5.30 ms; 128x4096x9216 nt (A 4.5 MiB) 120-129 -> 134 ms.
// Zen 3 (AVX2): 64x128x256 nt 57-64 -> 51-53, 64x256x128 nn 63 -> 53, 64x256x784 nt equal.
#define NK_SGEMM_INPLACE_A_FLOATS ((int64_t)1 << 16)
#define NK_SGEMM_INPLACE_A_WIDE_PANELS 16
// Row-pointer B (convolution's shifted rows) is read in place by up to this many A panels: packing
// it would copy every row once to save only the loads of the panels after the first (AVX2, MR 6,
// Zen 3, 1 thread, 3 runs each: LeNet-5's conv2, 16 filters in 3 panels, forward 1.30-1.37 ->
// 0.56 ms against packing; its conv1, 6 filters in 1 panel, was in place at 2 already).
#define NK_SGEMM_INPLACE_BROWS_PANELS 3

// Whether the M x K op(A) of an N-column slice is read in place rather than packed (A as a
// matrix; with row-pointer B only for its narrowness): one B panel wide
// (NK_SGEMM_INPLACE_A_PANELS), or not transposed, short and narrow (NK_SGEMM_INPLACE_A_FLOATS,
// NK_SGEMM_INPLACE_A_WIDE_PANELS).
static int a_in_place(const nk_kernels *cfg, int transA, int brows, int64_t M, int64_t N, int64_t K) {
    if (N <= (int64_t)cfg->nr * NK_SGEMM_INPLACE_A_PANELS) return 1;
    return !brows && !transA && M * K <= NK_SGEMM_INPLACE_A_FLOATS &&
           N <= (int64_t)cfg->nr * NK_SGEMM_INPLACE_A_WIDE_PANELS;
}

// The five loops on one slice of C, single-threaded. A, B, C point at the slice's first
// row / column; Ap, Bp are this thread's pack buffers (sized by gemm_thread).
// brows, when not NULL, replaces B (see pack_b; B's column offset is then 0).
static void gemm_slice(const nk_kernels *cfg, int transA, int transB, int64_t M, int64_t N,
                       int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                       int64_t ldb, const float *const *brows, const float *const *arows, float beta,
                       float *C, int64_t ldc, float *Ap, float *Bp, const float *Apre, int64_t Mpad,
                       int64_t m0) {
    const int MR = cfg->mr, NR = cfg->nr;
    const int64_t MC = cfg->mc, KC = cfg->kc, NC = cfg->nc;
    const nk_sgemm_ukernel_fn ukernel = cfg->ukernel;
    // Row-pointer A (convolution's shifted rows in the filter gradient) is read in place where the
    // table row has the kernel for it: each of its panels meets one B panel there.
    const int inArows = arows && cfg->ukernel_arows;
    const int inA = !Apre && !arows && a_in_place(cfg, transA, brows != NULL, M, N, K);
    const int inB = !brows && !arows && !transB && M <= (int64_t)MR * NK_SGEMM_INPLACE_B_PANELS;
    // Row-pointer B (convolution's shifted rows, few filters) read in place by up to
    // NK_SGEMM_INPLACE_BROWS_PANELS A panels, where the table row has the kernel for it.
    const int inBrows = brows && !transB && !inA && cfg->ukernel_brows &&
                        M <= (int64_t)MR * NK_SGEMM_INPLACE_BROWS_PANELS;
    // Element (i, p) of op(A) at A[i*rsa + p*csa]; of the packed panel, Ap[p*MR + i].
    const int64_t rsa = inA ? (transA ? 1 : lda) : 1, csa = inA ? (transA ? lda : 1) : MR;
    for (int64_t jc = 0; jc < N; jc += NC) {
        const int64_t nc = NK_MIN(NC, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = NK_MIN(KC, K - pc);
            const float beta_k = pc == 0 ? beta : 1.0f;
            if (inBrows) {} // read in place below
            else if (brows) pack_b(cfg, transB, NULL, 0, transB ? brows + jc : brows + pc, transB ? pc : jc, kc, nc, Bp);
            else if (!inB) pack_b(cfg, transB, transB ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, NULL, 0, kc, nc, Bp);
            for (int64_t ic = 0; ic < M; ic += MC) {
                const int64_t mc = NK_MIN(MC, M - ic);
                const float *ap = Ap;
                if (Apre) ap = Apre + Mpad * pc + (m0 + ic) * kc; // packed once by nk__sgemm_pack_a
                else if (inArows) ap = NULL;
                else if (arows) pack_a(cfg, 0, NULL, 0, arows + ic, pc, mc, kc, Ap);
                else if (inA) ap = transA ? A + pc * lda + ic : A + ic * lda + pc;
                else pack_a(cfg, transA, transA ? A + pc * lda + ic : A + ic * lda + pc, lda, NULL, 0, mc, kc, Ap);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int nr = (int)NK_MIN((int64_t)NR, nc - jr);
                    const float *bp = inB ? B + pc * ldb + jc + jr : Bp + jr * kc;
                    float *cc = C + ic * ldc + jc + jr;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int mr = (int)NK_MIN((int64_t)MR, mc - ir);
                        if (inArows)
                            cfg->ukernel_arows(kc, arows + ic + ir, pc, bp, alpha, beta_k, cc + ir * ldc, ldc, mr, nr);
                        else if (inBrows)
                            cfg->ukernel_brows(kc, ap + ir * kc, brows + pc, jc + jr, alpha, beta_k, cc + ir * ldc, ldc, mr, nr);
                        else if (inA || inB)
                            cfg->ukernel_strided(kc, ap + (inA ? ir * rsa : ir * kc), rsa, csa, bp,
                                                 inB ? ldb : NR, alpha, beta_k, cc + ir * ldc, ldc, mr, nr);
                        else ukernel(kc, ap + ir * kc, bp, alpha, beta_k, cc + ir * ldc, ldc, mr, nr);
                    }
                }
            }
        }
    }
}

// This thread's pack buffers for an m x n x K slice: one allocation, the A block first, then the B
// block (*Bp) at a 64-byte boundary. NULL when out of memory.
static float *slice_scratch(const nk_kernels *cfg, int64_t m, int64_t n, int64_t K, float **Bp) {
    const int64_t kcap = NK_MIN((int64_t)cfg->kc, K);
    const int64_t mcap = NK_MIN((int64_t)cfg->mc, padded_m(cfg, m));
    const int64_t ncap = NK_MIN((int64_t)cfg->nc, (n + cfg->nr - 1) / cfg->nr * cfg->nr);
    const int64_t aFloats = (mcap * kcap + 15) / 16 * 16;
    float *Ap = thread_scratch((size_t)(aFloats + kcap * ncap));
    *Bp = Ap ? Ap + aFloats : NULL;
    return Ap;
}

// The epilogue's steps on one m x n block of C (C at the block's first element, which is element
// (m0, n0) of the whole C). Each is the loop of the separate pass it replaces, element by element,
// so the bits are that pass's.
static void epilogue_before(const nk_sgemm_epilogue *ep, int64_t m, int64_t n, int64_t n0, float *C, int64_t ldc) {
    if (!ep || !ep->bias) return;
    for (int64_t i = 0; i < m; i++) memcpy(C + i * ldc, ep->bias + n0, (size_t)n * sizeof(float));
}

static void epilogue_after(const nk_kernels *cfg, const nk_sgemm_epilogue *ep, int64_t m, int64_t n,
                           int64_t m0, int64_t n0, int64_t N, float *C, int64_t ldc) {
    if (!ep) return;
    if (ep->relu)
        for (int64_t i = 0; i < m; i++) nk__relu_copy(C + i * ldc, C + i * ldc, n);
    if (ep->keep_bits)
        for (int64_t i = 0; i < m; i++) {
            float *c = C + i * ldc;
            const int64_t first = (m0 + i) * N + n0; // the mask's index of c[0]
            // Up to the mask's next word boundary one value at a time, then whole words through the
            // kernel table's dropout backward (in place), as DropoutMask.backward applies them.
            const int64_t head = NK_MIN(n, (16 - first % 16) % 16);
            for (int64_t j = 0; j < head; j++) {
                const int64_t v = first + j;
                c[j] = c[j] * nk__keep_or_zero(ep->keep_scale, (ep->keep_bits[v / 16] >> (v % 16)) & 1);
            }
            if (n > head) cfg->dropout_apply(n - head, ep->keep_bits + (first + head) / 16, ep->keep_scale, c + head, NULL, c + head);
        }
    if (ep->gate)
        for (int64_t i = 0; i < m; i++) {
            float *restrict c = C + i * ldc;
            const float *restrict g = ep->gate + (m0 + i) * ep->ldgate + n0;
            for (int64_t j = 0; j < n; j++) c[j] = nk__keep_or_zero(c[j], g[j] > 0.0f);
        }
}

// Thread `tid` of `nt`'s share of the epilogue's column sums: whole 16-column blocks (the last may
// be narrower), each summed top to bottom in 16 accumulators — per column the order of a plain loop.
static void epilogue_column_sums(const nk_sgemm_epilogue *ep, int tid, int nt) {
    if (!ep || !ep->column_sums || ep->sum_width <= 0) return;
    const int64_t w = ep->sum_width, blocks = (w + 15) / 16;
    const int64_t j0 = NK_MIN(w, blocks * tid / nt * 16), j1 = NK_MIN(w, blocks * (tid + 1) / nt * 16);
    for (int64_t jb = j0; jb < j1; jb += 16) {
        const int64_t width = NK_MIN((int64_t)16, j1 - jb);
        float acc[16];
        for (int64_t l = 0; l < width; l++) acc[l] = ep->sum_accumulate ? ep->column_sums[jb + l] : 0.0f;
        for (int64_t i = 0; i < ep->sum_rows; i++) {
            const float *restrict row = ep->sum_of + i * w + jb;
            if (width == 16)
                for (int l = 0; l < 16; l++) acc[l] += row[l];
            else
                for (int64_t l = 0; l < width; l++) acc[l] += row[l];
        }
        for (int64_t l = 0; l < width; l++) ep->column_sums[jb + l] = acc[l];
    }
}

// Claimed column chunks (the finer N split of the header; nk_claims in internal.h). Chunks are
// whole micro-panels of B, as even as whole panels allow (sizes differ by at most one panel): a
// product is cut into up to NK_SGEMM_CHUNKS_PER_THREAD per thread (finer only costs a claim per
// chunk: each chunk packs its own B columns either way, and the A panels stream from L2 once per B
// panel as in a slice). Equal chunk counts then give every thread an equal share: cutting 49 panels
// (N = 784) into chunks of 7 gave 7 chunks, 4 + 3 at 2 threads (a 1.75x ceiling), where even
// chunks split 24 + 25. Small chunks also shorten the region's end: the thread that runs out of
// chunks waits for the chunk the other is in. Caller's wait at the end of the MLP's three large
// products (2 threads, Zen 3, instrumented team, 3 interleaved epochs): 4 chunks a thread 4.9-26
// us a region, 16 a thread (the 256-column layer's 16 panels one chunk each) 2.8-4.0 us.
// The path needs A packed whole (Mpad x K floats, at most NK_SGEMM_CLAIM_A_FLOATS: 1 MiB) so that
// every chunk reuses one packing.
#define NK_SGEMM_CHUNKS_PER_THREAD 16
#define NK_SGEMM_CLAIM_A_FLOATS ((int64_t)1 << 18)

// The chunking of an N-split product over nt threads: the number of chunks, or 0 where the fixed
// slices serve: one thread, a pre-packed A already shared (nk__sgemm_pa), a long A, or too few
// panels for every thread to own two (a slice of one panel reads A in place, see gemm_slice).
static int claims_plan(const nk_kernels *cfg, int nt, int splitN, int64_t M, int64_t N, int64_t K,
                       const float *Apre) {
    const int64_t panels = (N + cfg->nr - 1) / cfg->nr, Mpad = padded_m(cfg, M);
    if (nt < 2 || !splitN || Apre || Mpad * K > NK_SGEMM_CLAIM_A_FLOATS || panels < 2 * nt) return 0;
    return (int)NK_MIN(panels, NK_MIN((int64_t)nt * NK_SGEMM_CHUNKS_PER_THREAD, (int64_t)NK_CLAIMS_MAX));
}

// Chunk c of `chunks`: its first micro-panel of `panels` (chunk c ends where chunk c + 1 begins).
static int64_t chunk_first_panel(int64_t panels, int chunks, int c) { return panels * c / chunks; }

// Short-by-wide products with B transposed — a dense layer's forward, a batch of M <= 64 input
// rows times the N x K weight matrix, C = X·Wᵀ — are computed the other way round: Cᵀ = W·Xᵀ, W
// read in place as the microkernel's A (its rows are the K-contiguous runs the strided microkernel
// walks), Xᵀ packed as B panels, each column chunk of C computed as a block of Cᵀ in a small
// scratch and written back transposed. The straight way packs B = Wᵀ, a transposition of all
// N x K weights on every call (the MLP's first layer: 800 KB a step); this way each thread packs
// the M x K inputs whole, so it pays where that copy is at most half of a thread's share of the
// weights' (N >= 2M·max(2, threads)). Each element is the same fma chain over the same KC blocks
// (fma(w, x, acc) = fma(x, w, acc)), started from the same value (the bias, beta·C or nothing),
// so the bits are the straight way's. 64x256x784 with bias and ReLU (the MLP's first forward),
// Zen 4, interleaved builds, 3 x 800 calls: 1 thread best 265-272 -> 255-260 us, medians
// 274-281 -> 262-266; 2 threads best 135-150 -> 132-140 (a shared packing of Xᵀ, with the wait
// for the other thread's pieces, was slower there: 148-167).
#define NK_SGEMM_SWAP_MAX_M 64

static int swaps_operands(int transA, int transB, int64_t M, int64_t N, const float *Apre, int nt) {
    return !transA && transB && !Apre && M <= NK_SGEMM_SWAP_MAX_M && N >= 2 * M * NK_MAX(2, nt);
}

// Packs op(B) (K x N; transB: B stored [N x K]) whole: K block b at Bpk + Npad·b·KC, each laid out
// as pack_b lays out one block (a swapped product's Aᵀ, nk__sgemm_pack_b).
static void pack_b_whole(const nk_kernels *cfg, int transB, const float *B, int64_t ldb, int64_t K, int64_t N,
                         float *Bpk) {
    for (int64_t pc = 0; pc < K; pc += cfg->kc)
        pack_b(cfg, transB, transB ? B + pc : B + pc * ldb, ldb, NULL, 0, NK_MIN((int64_t)cfg->kc, K - pc), N,
               Bpk + padded_n(cfg, N) * pc);
}

// C[i][j] = T[j][i] for i < m, j < n (T: n x m, dense), in 8 x 8 blocks.
__attribute__((target_clones("avx512f", "avx2", "default")))
static void transpose_into(const float *restrict T, int64_t n, int64_t m, float *restrict C, int64_t ldc) {
    for (int64_t i0 = 0; i0 < m; i0 += 8)
        for (int64_t j0 = 0; j0 < n; j0 += 8) {
            const int64_t i1 = NK_MIN(m, i0 + 8), j1 = NK_MIN(n, j0 + 8);
            for (int64_t i = i0; i < i1; i++)
                for (int64_t j = j0; j < j1; j++) C[i * ldc + j] = T[j * m + i];
        }
}

// Columns [n0, n0 + n) of a swapped product's C: T[n x M] = B[n0 : n0 + n, :]·Aᵀ with T starting
// from the bias, from beta·Cᵀ or (beta 0) from nothing, as C would; then C = Tᵀ and the epilogue's
// steps after the product.
static void swapped_columns(const nk_kernels *cfg, int64_t M, int64_t N, int64_t K, float alpha, const float *B,
                            int64_t ldb, float beta, float *C, int64_t ldc, const nk_sgemm_epilogue *ep,
                            const float *Xt, int64_t n0, int64_t n, float *T) {
    const int64_t MR = cfg->mr, NR = cfg->nr, KC = cfg->kc, Mnr = padded_n(cfg, M);
    float *Cs = C + n0;
    if (ep && ep->bias) {
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < M; i++) T[j * M + i] = ep->bias[n0 + j];
        beta = 1.0f;
    } else if (beta != 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < n; j++) T[j * M + i] = Cs[i * ldc + j];
    }
    for (int64_t pc = 0; pc < K; pc += KC) {
        const int64_t kc = NK_MIN(KC, K - pc);
        const float beta_k = pc == 0 ? beta : 1.0f;
        const float *block = Xt + Mnr * pc;
        // Each MR-row strip of B meets every panel of Aᵀ while it is in L1.
        for (int64_t ir = 0; ir < n; ir += MR) {
            const int mr = (int)NK_MIN(MR, n - ir);
            const float *ap = B + (n0 + ir) * ldb + pc;
            for (int64_t jr = 0; jr < M; jr += NR)
                cfg->ukernel_strided(kc, ap, ldb, 1, block + jr * kc, NR, alpha, beta_k, T + ir * M + jr, M, mr,
                                     (int)NK_MIN(NR, M - jr));
        }
    }
    transpose_into(T, n, M, Cs, ldc);
    epilogue_after(cfg, ep, M, n, 0, n0, N, Cs, ldc);
}

// The packed A of a claimed product, shared by the threads that compute its chunks: A is cut into
// pieces (runs of MR-row panels of KC blocks) that each thread, at its first chunk, claims and
// packs where no other thread has, then waits for the pieces the others took. Each thread packed
// the whole A for itself before: the MLP's first layer packs its 64 x 784 input, a tenth of the
// product at 1 thread, on both cores. A thread that wins no chunk packs nothing; one that runs
// late finds every piece packed.
#define NK_SGEMM_A_PIECES 16
typedef struct shared_a {
    float *Ap;                                // Mpad x K, laid out as nk__sgemm_pack_a's
    int pieces;                               // at most NK_SGEMM_A_PIECES
    atomic_uchar taken[NK_SGEMM_A_PIECES];    // 1 once a thread packs the piece
    atomic_uchar packed[NK_SGEMM_A_PIECES];   // 1 once it is packed
} shared_a;

static inline void spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Piece i of sa: units [units·i/pieces, units·(i+1)/pieces) of the KC blocks × MR-row panels,
// block-major (unit u is panel u % panels of block u / panels), packed where nk__sgemm_pack_a puts
// them: each block's run of the piece's panels at once.
static void shared_a_piece(const nk_kernels *cfg, const shared_a *sa, int i, int transA, int64_t M, int64_t K,
                           const float *A, int64_t lda) {
    const int64_t panels = (M + cfg->mr - 1) / cfg->mr, units = panels * ((K + cfg->kc - 1) / cfg->kc);
    const int64_t u1 = units * (i + 1) / sa->pieces;
    for (int64_t u = units * i / sa->pieces; u < u1;) {
        const int64_t b = u / panels, p0 = u % panels, p1 = NK_MIN(panels, p0 + (u1 - u));
        pack_a_panels(cfg, transA, M, K, A, lda, b, p0, p1, sa->Ap);
        u += p1 - p0;
    }
}

// Thread tid of nt's share of packing sa: the pieces nobody has taken, starting at its own place
// in the order (so two threads start apart), then a wait for the rest.
static void shared_a_pack(const nk_kernels *cfg, shared_a *sa, int tid, int nt, int transA, int64_t M, int64_t K,
                          const float *A, int64_t lda) {
    const int first = sa->pieces * tid / nt;
    for (int k = 0; k < sa->pieces; k++) {
        const int i = (first + k) % sa->pieces;
        if (atomic_exchange_explicit(&sa->taken[i], 1, memory_order_relaxed)) continue;
        shared_a_piece(cfg, sa, i, transA, M, K, A, lda);
        atomic_store_explicit(&sa->packed[i], 1, memory_order_release);
    }
    for (int i = 0; i < sa->pieces; i++)
        while (!atomic_load_explicit(&sa->packed[i], memory_order_acquire)) spin_pause();
}

// Thread `tid` of `nt`'s part of an N-split product cut into the claimed column chunks of
// claims_plan, on the shared packed A (packed at the first chunk this thread wins) or, with sa
// NULL, on A read in place (a_in_place). Each chunk is one gemm_slice with its epilogue, as a
// slice is.
static void gemm_claiming(const nk_kernels *cfg, nk_claims *cl, shared_a *sa, int tid, int nt, int transA,
                          int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                          const nk_sgemm_epilogue *ep) {
    epilogue_column_sums(ep, tid, nt);
    const int64_t Mpad = padded_m(cfg, M), KC = cfg->kc, NR = cfg->nr, panels = (N + NR - 1) / NR;
    const int64_t widestCols = (panels + cl->n - 1) / cl->n * NR;
    if (ep && ep->bias) beta = 1.0f;
    float *Bp = NULL;
    int step = 0;
    for (int c; (c = nk__claims_next(cl, &step, tid, nt)) >= 0;) {
        if (!Bp) {
            Bp = thread_scratch((size_t)(KC * widestCols));
            if (!Bp) abort(); // kernels have no error path (as nk__alloc_floats)
            if (sa) shared_a_pack(cfg, sa, tid, nt, transA, M, K, A, lda);
        }
        const int64_t n0 = chunk_first_panel(panels, cl->n, c) * NR;
        const int64_t n = NK_MIN(chunk_first_panel(panels, cl->n, c + 1) * NR, N) - n0;
        float *Cs = C + n0;
        epilogue_before(ep, M, n, n0, Cs, ldc);
        gemm_slice(cfg, transA, transB, M, n, K, alpha, sa ? NULL : A, lda, transB ? B + n0 * ldb : B + n0, ldb,
                   NULL, NULL, beta, Cs, ldc, NULL, Bp, sa ? sa->Ap : NULL, Mpad, 0);
        epilogue_after(cfg, ep, M, n, 0, n0, N, Cs, ldc);
    }
}

// Runs gemm_slice on thread `tid` of `nt`'s share of C: a range of whole micro-tiles along the
// split dimension.
static void gemm_thread(const nk_kernels *cfg, int tid, int nt, int splitN, int transA,
                        int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                        int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                        int64_t ldc, const float *Apre, const nk_sgemm_epilogue *ep) {
    epilogue_column_sums(ep, tid, nt);
    int64_t m0 = 0, m1 = M, n0 = 0, n1 = N;
    if (splitN) {
        const int64_t tiles = (N + cfg->nr - 1) / cfg->nr;
        n0 = NK_MIN(N, tiles * tid / nt * cfg->nr);
        n1 = NK_MIN(N, tiles * (tid + 1) / nt * cfg->nr);
    } else {
        const int64_t tiles = (M + cfg->mr - 1) / cfg->mr;
        m0 = NK_MIN(M, tiles * tid / nt * cfg->mr);
        m1 = NK_MIN(M, tiles * (tid + 1) / nt * cfg->mr);
    }
    const int64_t m = m1 - m0, n = n1 - n0;
    if (m <= 0 || n <= 0) return;
    float *Cs = C + m0 * ldc + n0;
    epilogue_before(ep, m, n, n0, Cs, ldc);
    if (ep && ep->bias) beta = 1.0f;
    float *Bp;
    float *Ap = slice_scratch(cfg, m, n, K, &Bp);
    if (Ap) {
        gemm_slice(cfg, transA, transB, m, n, K, alpha, transA ? A + m0 : A + m0 * lda, lda,
                   transB ? B + n0 * ldb : B + n0, ldb, NULL, NULL, beta, C + m0 * ldc + n0, ldc, Ap, Bp,
                   Apre, padded_m(cfg, M), m0);
    } else if (!Apre) {
        // Out of memory for the pack buffers: still produce the right answer.
        nk_sgemm_naive(transA, transB, m, n, K, alpha, transA ? A + m0 : A + m0 * lda, lda,
                       transB ? B + n0 * ldb : B + n0, ldb, beta, C + m0 * ldc + n0, ldc);
    } else {
        abort(); // kernels have no error path (as nk__alloc_floats)
    }
    epilogue_after(cfg, ep, m, n, m0, n0, N, Cs, ldc);
}

// One product's arguments, for the items of its parallel region.
typedef struct gemm_region {
    const nk_kernels *cfg;
    nk_claims *claims;
    shared_a *sharedA; // with claims: the packed A its threads share (NULL: A read in place)
    int splitN, transA, transB;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B, *Apre;
    float *C;
    const nk_sgemm_epilogue *ep;
    int swapped; // computed as Cᵀ = op(B)ᵀ·op(A)ᵀ (swaps_operands), chunk by chunk or panel by panel
} gemm_region;

// Thread `tid` of `nt`'s part of a swapped product: its claimed column chunks, or with one thread
// and no claims every NR-column panel, on its own packing of Aᵀ.
static void gemm_swapped(const gemm_region *g, int tid, int nt) {
    const nk_kernels *cfg = g->cfg;
    epilogue_column_sums(g->ep, tid, nt);
    const int64_t NR = cfg->nr, panels = (g->N + NR - 1) / NR, XtFloats = (padded_n(cfg, g->M) * g->K + 15) / 16 * 16;
    const int chunks = g->claims ? g->claims->n : (int)panels;
    const int64_t widestCols = (panels + chunks - 1) / chunks * NR;
    float *Xt = NULL;
    int step = 0;
    for (int c = 0;; c++) {
        if (g->claims) c = nk__claims_next(g->claims, &step, tid, nt);
        if (c < 0 || c >= chunks) break;
        if (!Xt) { // at the first chunk: a thread that wins none packs nothing
            Xt = thread_scratch((size_t)(XtFloats + widestCols * g->M));
            if (!Xt) abort(); // kernels have no error path (as nk__alloc_floats)
            pack_b_whole(cfg, 1, g->A, g->lda, g->K, g->M, Xt); // Aᵀ as B panels
        }
        const int64_t n0 = chunk_first_panel(panels, chunks, c) * NR;
        const int64_t n = NK_MIN(chunk_first_panel(panels, chunks, c + 1) * NR, g->N) - n0;
        swapped_columns(cfg, g->M, g->N, g->K, g->alpha, g->B, g->ldb, g->beta, g->C, g->ldc, g->ep, Xt, n0, n,
                        Xt + XtFloats);
    }
}

// Item `part` of `parts`: the part a static split gives thread `part` (or, with claims, that
// thread's place in the claiming order), whichever thread runs it.
static void gemm_part(void *context, int part, int parts) {
    const gemm_region *g = context;
    if (g->swapped) gemm_swapped(g, part, parts);
    else if (g->claims)
        gemm_claiming(g->cfg, g->claims, g->sharedA, part, parts, g->transA, g->transB, g->M, g->N, g->K,
                      g->alpha, g->A, g->lda, g->B, g->ldb, g->beta, g->C, g->ldc, g->ep);
    else
        gemm_thread(g->cfg, part, parts, g->splitN, g->transA, g->transB, g->M, g->N, g->K, g->alpha, g->A,
                    g->lda, g->B, g->ldb, g->beta, g->C, g->ldc, g->Apre, g->ep);
}

// Sets up g (and claims) for one product and returns how many parts (parallel items) it has, or
// 0 when there is no product to share out (K = 0, alpha = 0, an empty C): then the epilogue alone
// has been done here, on one thread.
static int gemm_prepare(gemm_region *g, nk_claims *claims, shared_a *sa, nk_isa isa, int threads, int transA, int transB,
                        int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                        int64_t ldb, float beta, float *C, int64_t ldc, const float *Apre,
                        const nk_sgemm_epilogue *ep) {
    if (K <= 0 || alpha == 0 || M <= 0 || N <= 0) {
        epilogue_column_sums(ep, 0, 1);
        if (M <= 0 || N <= 0) return 0;
        if (ep && ep->bias) epilogue_before(ep, M, N, 0, C, ldc);
        else scale_c(M, N, beta, C, ldc);
        epilogue_after(nk_kernels_for(isa), ep, M, N, 0, 0, N, C, ldc);
        return 0;
    }
    const nk_kernels *cfg = nk_kernels_for(isa);
    int nt = threads > 0 ? threads : nk_get_num_threads();
    if (2 * M * N * K < NK_SGEMM_PARALLEL_THRESHOLD) nt = 1;
    // Split the longer side (in micro-tiles); never give a thread less than one tile. With too few
    // column panels for claimed chunks (fewer than two a thread) rows instead, where they divide
    // more evenly: LeNet-5's 64 × 84 layer has three 32-column panels (split 1 + 2) but eight
    // 8-row panels (4 + 4). (The largest share relative to an even split, ⌈tiles/nt⌉·nt/tiles,
    // compared cross-multiplied.)
    const int64_t mt = (M + cfg->mr - 1) / cfg->mr, ntl = (N + cfg->nr - 1) / cfg->nr;
    int splitN = N >= M;
    if (splitN && nt > 1 && ntl < 2 * nt && (ntl + nt - 1) / nt * mt > (mt + nt - 1) / nt * ntl) splitN = 0;
    const int64_t tiles = splitN ? ntl : mt;
    if (nt > tiles) nt = (int)tiles;
    nt = nk__team_threads(nt); // 1 in a serial build: the plan of a one-thread product
    nk__claims_init(claims, claims_plan(cfg, nt, splitN, M, N, K, Apre));
    // A claimed product has at least two panels a thread, so only the short-A rule can apply.
    // A swapped product runs on its claimed chunks or on one thread, never on fixed slices.
    const int swapped = swaps_operands(transA, transB, M, N, Apre, nt) && (nt == 1 || claims->n > 0);
    const int packsA = claims->n > 0 && !swapped && !a_in_place(cfg, transA, 0, M, N, K);
    *g = (gemm_region){cfg, claims->n > 0 ? claims : NULL, packsA ? sa : NULL, splitN, transA, transB, M, N, K,
                       lda, ldb, ldc, alpha, beta, A, B, Apre, C, ep, swapped};
    if (packsA) {
        const int64_t units = (M + cfg->mr - 1) / cfg->mr * ((K + cfg->kc - 1) / cfg->kc);
        sa->Ap = NULL; // placed by shared_a_place
        sa->pieces = (int)NK_MIN(units, (int64_t)NK_SGEMM_A_PIECES);
        for (int i = 0; i < sa->pieces; i++) { atomic_init(&sa->taken[i], 0); atomic_init(&sa->packed[i], 0); }
    }
    return nt;
}

// Places the shared packed A of each of the n prepared products that has one in this thread's
// shared buffer; without memory for them, those products fall back to fixed slices.
static void shared_a_place(gemm_region *const *gs, int n) {
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (gs[i]->sharedA) total += (padded_m(gs[i]->cfg, gs[i]->M) * gs[i]->K + 15) / 16 * 16;
    if (total == 0) return;
    float *buf = scratch(NK_SCRATCH_SHARED, (size_t)total);
    for (int i = 0; i < n; i++) {
        gemm_region *g = gs[i];
        if (!g->sharedA) continue;
        if (!buf) { g->claims = NULL; g->sharedA = NULL; continue; }
        g->sharedA->Ap = buf;
        buf += (padded_m(g->cfg, g->M) * g->K + 15) / 16 * 16;
    }
}

static void sgemm_run(nk_isa isa, int threads, int transA, int transB, int64_t M, int64_t N,
                      int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float beta, float *C, int64_t ldc, const float *Apre, const nk_sgemm_epilogue *ep) {
    nk_fp_prepare(1);
    gemm_region g;
    nk_claims claims;
    shared_a sa;
    const int parts = gemm_prepare(&g, &claims, &sa, isa, threads, transA, transB, M, N, K, alpha, A, lda, B, ldb,
                                   beta, C, ldc, Apre, ep);
    gemm_region *gs[1] = {&g};
    if (parts > 1) shared_a_place(gs, 1);
    if (parts == 1) gemm_part(&g, 0, 1);
    else if (parts > 1) nk__team_run(parts, parts, gemm_part, &g);
}

// Two products as the items of one region: the first's parts, then the second's.
typedef struct gemm_pair {
    gemm_region *products[2];
    int parts[2];
} gemm_pair;

static void gemm_pair_part(void *context, int item, int items) {
    (void)items;
    const gemm_pair *p = context;
    if (item < p->parts[0]) gemm_part(p->products[0], item, p->parts[0]);
    else gemm_part(p->products[1], item - p->parts[0], p->parts[1]);
}

void nk_sgemm_fused_pair(nk_isa isa, int threads, const nk_sgemm_product *first, const nk_sgemm_product *second) {
    nk_fp_prepare(1);
    gemm_region g[2];
    nk_claims claims[2];
    shared_a sa[2];
    gemm_pair pair = {{&g[0], &g[1]}, {0, 0}};
    const nk_sgemm_product *products[2] = {first, second};
    // With an even team each product gets half of it: a layer's two gradients have the same flops
    // (out·in·batch each), so the halves finish together, and each product is split half as finely
    // (fewer packings shared, fewer chunks). At 2 threads each runs whole on one thread. Batch 64,
    // 2 threads, Zen 4, best / median of 1 000 calls, 3 interleaved runs: the MLP's 128 x 256 layer
    // 47-48 / 49-51 -> 41-44 / 45-47 us (1 thread 81), LeNet-5's 120 x 400 64-66 / 69-72 -> 60-64 /
    // 64-67 (118), its 84 x 120 19-20 / 21 -> 15 / 16-18 (30). (An odd team keeps both on all of it.)
    const int team = threads > 0 ? threads : nk_get_num_threads();
    const int each = team >= 2 && team % 2 == 0 ? team / 2 : team;
    for (int i = 0; i < 2; i++) {
        const nk_sgemm_product *p = products[i];
        pair.parts[i] = gemm_prepare(&g[i], &claims[i], &sa[i], isa, each, p->transA, p->transB, p->M, p->N, p->K,
                                     p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, p->C, p->ldc, NULL, p->epilogue);
    }
    const int items = pair.parts[0] + pair.parts[1];
    // Two products that are each one part and together below the parallel threshold (the MLP's
    // 10-class layer: 2 x 164 kflop) run here, one after the other: a region for them would
    // also join the next batch's gather (posted just before, see nk__team_post_ranges) while it
    // is under way, where running inline leaves it on the other core a few microseconds longer.
    const int64_t flops = 2 * (first->M * first->N * first->K + second->M * second->N * second->K);
    if (pair.parts[0] == 1 && pair.parts[1] == 1 && flops < NK_SGEMM_PARALLEL_THRESHOLD) {
        gemm_pair_part(&pair, 0, 2);
        gemm_pair_part(&pair, 1, 2);
        return;
    }
    shared_a_place(pair.products, 2);
    nk__team_run(team, items, gemm_pair_part, &pair);
}

void nk_sgemm_ex(nk_isa isa, int threads, int transA, int transB, int64_t M, int64_t N,
                 int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                 float beta, float *C, int64_t ldc) {
    sgemm_run(isa, threads, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, NULL);
}

void nk_sgemm_fused(nk_isa isa, int threads, int transA, int transB, int64_t M, int64_t N,
                    int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                    float beta, float *C, int64_t ldc, const nk_sgemm_epilogue *epilogue) {
    sgemm_run(isa, threads, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, epilogue);
}

nk_sgemm_geometry nk__sgemm_geometry(nk_isa isa) {
    const nk_kernels *cfg = nk_kernels_for(isa);
    nk_sgemm_geometry g = {cfg->mr, cfg->nr, cfg->mc, cfg->kc};
    return g;
}

int64_t nk__sgemm_packed_a_floats(nk_isa isa, int64_t M, int64_t K) {
    const nk_kernels *cfg = nk_kernels_for(isa);
    return padded_m(cfg, M) * K;
}

typedef struct pack_a_job {
    const nk_kernels *cfg;
    int transA;
    int64_t M, K, lda;
    const float *A;
    float *Apk;
} pack_a_job;

static void pack_a_blocks(void *context, int64_t begin, int64_t end) {
    const pack_a_job *j = context;
    for (int64_t b = begin; b < end; b++) pack_a_block(j->cfg, j->transA, j->M, j->K, j->A, j->lda, b, j->Apk);
}

void nk__sgemm_pack_a(nk_isa isa, int threads, int transA, int64_t M, int64_t K, const float *A, int64_t lda,
                      float *Apk) {
    const nk_kernels *cfg = nk_kernels_for(isa);
    const int64_t KC = cfg->kc, blocks = (K + KC - 1) / KC;
    const int nt = threads > 1 && blocks > 1 ? threads : 1;
    pack_a_job j = {cfg, transA, M, K, lda, A, Apk};
    nk__team_ranges(nt, blocks, 1, &j, pack_a_blocks);
}

void nk__sgemm_pa(nk_isa isa, int threads, int64_t M, int64_t N, int64_t K, const float *Apk, int transB,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (K <= 0) { if (M > 0 && N > 0) scale_c(M, N, beta, C, ldc); return; }
    sgemm_run(isa, threads, 0, transB, M, N, K, 1.0f, NULL, 0, B, ldb, beta, C, ldc, Apk, NULL);
}

void nk_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
              float *C, int64_t ldc) {
    nk_sgemm_ex(NK_ISA_AUTO, 0, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// The single-threaded product with a row-pointer operand (brows or arows, see gemm_slice).
static void sgemm_rows(nk_isa isa, int transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                       const float *B, int64_t ldb, const float *const *brows, const float *const *arows,
                       float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { scale_c(M, N, beta, C, ldc); return; }
    const nk_kernels *cfg = nk_kernels_for(isa);
    float *Bp;
    float *Ap = slice_scratch(cfg, M, N, K, &Bp);
    if (!Ap) abort(); // kernels have no error path (as nk__alloc_floats)
    gemm_slice(cfg, 0, transB, M, N, K, 1.0f, A, lda, B, ldb, brows, arows, beta, C, ldc, Ap, Bp, NULL, 0, 0);
}

void nk__sgemm_brows(nk_isa isa, int transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                     const float *const *brows, float beta, float *C, int64_t ldc) {
    sgemm_rows(isa, transB, M, N, K, A, lda, NULL, 0, brows, NULL, beta, C, ldc);
}

void nk__sgemm_arows(nk_isa isa, int64_t M, int64_t N, int64_t K, const float *const *arows, int transB,
                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    sgemm_rows(isa, transB, M, N, K, NULL, 0, B, ldb, NULL, arows, beta, C, ldc);
}

int nk__sgemm_has_aoffsets(nk_isa isa) { return nk_kernels_for(isa)->ukernel_aoffsets != NULL; }

int64_t nk__sgemm_packed_b_floats(nk_isa isa, int64_t K, int64_t N) { return K * padded_n(nk_kernels_for(isa), N); }

void nk__sgemm_pack_b(nk_isa isa, int transB, const float *B, int64_t ldb, int64_t K, int64_t N, float *Bpk) {
    pack_b_whole(nk_kernels_for(isa), transB, B, ldb, K, N, Bpk);
}

void nk__sgemm_aoffsets(nk_isa isa, int64_t M, int64_t N, int64_t K, const float *const *apos, const int64_t *off,
                        const float *Bpk, float *C, int64_t ldc) {
    const nk_kernels *cfg = nk_kernels_for(isa);
    const int MR = cfg->mr, NR = cfg->nr;
    const int64_t KC = cfg->kc, Npad = padded_n(cfg, N);
    for (int64_t ir = 0; ir < M; ir += MR)
        for (int64_t pc = 0; pc < K; pc += KC)
            for (int64_t jr = 0; jr < N; jr += NR)
                cfg->ukernel_aoffsets(NK_MIN(KC, K - pc), apos + ir, off + pc, Bpk + Npad * pc + jr * NK_MIN(KC, K - pc),
                                      1.0f, pc == 0 ? 0.0f : 1.0f, C + ir * ldc + jr, ldc, (int)NK_MIN((int64_t)MR, M - ir),
                                      (int)NK_MIN((int64_t)NR, N - jr));
}

// The loops of gemm_slice for row-pointer A read in place (one NC block: N is a few filters),
// with the microkernel that skips the columns outside the runs.
void nk__sgemm_arows_runs(nk_isa isa, int64_t M, int64_t N, int64_t K, const float *const *arows, int64_t period,
                          int64_t keep, int transB, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    const nk_kernels *cfg = nk_kernels_for(isa);
    if (!cfg->ukernel_arows_runs || !cfg->ukernel_arows || N > cfg->nc || period <= 0 || keep >= period || M <= 0 ||
        N <= 0 || K <= 0) {
        nk__sgemm_arows(isa, M, N, K, arows, transB, B, ldb, beta, C, ldc);
        return;
    }
    const int MR = cfg->mr, NR = cfg->nr;
    const int64_t KC = cfg->kc;
    float *Bp;
    if (!slice_scratch(cfg, M, N, K, &Bp)) abort(); // kernels have no error path (as nk__alloc_floats)
    for (int64_t pc = 0; pc < K; pc += KC) {
        const int64_t kc = NK_MIN(KC, K - pc);
        const float beta_k = pc == 0 ? beta : 1.0f;
        pack_b(cfg, transB, transB ? B + pc : B + pc * ldb, ldb, NULL, 0, kc, N, Bp);
        for (int64_t jr = 0; jr < N; jr += NR)
            for (int64_t ir = 0; ir < M; ir += MR)
                cfg->ukernel_arows_runs(kc, arows + ir, pc, period, keep, Bp + jr * kc, 1.0f, beta_k, C + ir * ldc + jr,
                                        ldc, (int)NK_MIN((int64_t)MR, M - ir), (int)NK_MIN((int64_t)NR, N - jr));
    }
}
