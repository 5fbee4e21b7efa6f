// The kernel-test op table: every C op case with its inputs, its reference twin and its tolerance.
// KernelOpTests runs each case on every ISA the machine has and at 1, 2 and 3 threads.

import CNeurite
import NeuriteTensor
import TestSupport

/// One case of the op table (ggml test-backend-ops style): the fast kernel on fixed inputs, run
/// with a given ISA active and a given thread count, against its reference.
struct KernelOpCase: CustomStringConvertible, Sendable {
    /// The op ("sgemm", "conv2d", "maxpool2d", "avgpool2d", "lrn") and the case's shape.
    var op: String
    var detail: String
    /// Allowed error of each output relative to max(1, |reference|) (0: exactly equal).
    var tolerances: [Float]
    /// Every output of the fast kernel, with `isa` active (for ops without an ISA argument) and
    /// `threads` threads.
    var run: @Sendable (_ isa: nk_isa, _ threads: Int) -> [[Float]]
    /// The same outputs from the reference twin.
    var reference: @Sendable () -> [[Float]]
    var description: String { "\(op) \(detail)" }
}

/// The kernel families compiled into this library, the ones this machine runs, and the others.
enum KernelISAs {
    static let all: [nk_isa] = [NK_ISA_REF, NK_ISA_AVX2, NK_ISA_AVX512, NK_ISA_NEON]
    static let supported = all.filter { nk_isa_supported($0) != 0 }
    static let skipped = all.filter { nk_isa_supported($0) == 0 }
    static func name(_ isa: nk_isa) -> String { String(cString: nk_isa_name(isa)) }
}

private func blocking(_ isa: nk_isa) -> (mr: Int, nr: Int, mc: Int, kc: Int, nc: Int) {
    var out = [Int32](repeating: 0, count: 5)
    _ = nk_sgemm_blocking(isa, &out)
    return (Int(out[0]), Int(out[1]), Int(out[2]), Int(out[3]), Int(out[4]))
}

// MARK: SGEMM

/// One product with its operands. Padding columns of A and B hold NaN, so a kernel that reads
/// past a row's width poisons its result; C's padding holds a sentinel that must survive.
struct GemmCase: CustomStringConvertible, Sendable {
    var m, n, k: Int
    var transA, transB: Bool
    var alpha, beta: Float
    var lda, ldb, ldc: Int
    var a, b, c: [Float]
    static let sentinel: Float = -12345

    init(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float,
         pad: Int, rng: inout SeededGenerator) {
        (self.m, self.n, self.k, self.transA, self.transB, self.alpha, self.beta) =
            (m, n, k, transA, transB, alpha, beta)
        let (aRows, aCols) = transA ? (k, m) : (m, k)
        let (bRows, bCols) = transB ? (n, k) : (k, n)
        (lda, ldb, ldc) = (aCols + pad, bCols + (pad * 2) % 5, n + (pad + 1) % 3)
        func fill(_ rows: Int, _ cols: Int, _ ld: Int, _ padValue: Float, _ rng: inout SeededGenerator) -> [Float] {
            var x = [Float](repeating: padValue, count: max(1, rows * ld))
            for r in 0..<rows { for q in 0..<cols { x[r * ld + q] = rng.nextUnitFloat() * 2 - 1 } }
            return x
        }
        a = fill(aRows, aCols, lda, .nan, &rng)
        b = fill(bRows, bCols, ldb, .nan, &rng)
        c = fill(m, n, ldc, Self.sentinel, &rng)
        // beta == 0 must not read C: make any read visible.
        if beta == 0 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] = .nan } } }
    }

    var description: String {
        "\(m)x\(n)x\(k) \(transA ? "t" : "n")\(transB ? "t" : "n") alpha=\(alpha) beta=\(beta) ld=\(lda),\(ldb),\(ldc)"
    }

    /// C (with its padding) after the fast kernel.
    func run(isa: nk_isa, threads: Int) -> [Float] {
        var out = c
        out.withUnsafeMutableBufferPointer { cp in
            nk_sgemm_ex(isa, Int32(threads), transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha,
                        a, Int64(lda), b, Int64(ldb), beta, cp.baseAddress, Int64(ldc))
        }
        return out
    }

    /// C (with its padding, which must come back unchanged) after the naive matmul.
    func reference() -> [Float] {
        var out = c
        referenceGemm(transposeA: transA, transposeB: transB, m: m, n: n, k: k, alpha: alpha,
                      a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &out, ldc: ldc)
        return out
    }

    /// Float summation of k products of values in [-1, 1] in blocked order drifts like
    /// eps·sqrt(k)·|terms|; 1e-4·sqrt(k+1) is ~1000x that typical error yet far below any indexing
    /// mistake (O(1)), and the sentinel in C's padding must match exactly (-12345 vs anything).
    var tolerance: Float { 1e-4 * Float(k + 1).squareRoot() }

    var opCase: KernelOpCase {
        let g = self
        return KernelOpCase(op: "sgemm", detail: description, tolerances: [tolerance],
                            run: { isa, t in [g.run(isa: isa, threads: t)] }, reference: { [g.reference()] })
    }
}

/// Shapes straddling every supported ISA's register tile and cache blocks, primes, 0 and 1, the
/// small-product paths (N <= NR, M <= 2·MR), in all transposes, plus products large enough to
/// run on several threads split along N and along M. At most one dimension is large so the Double
/// reference stays fast.
private func gemmCases() -> [GemmCase] {
    var rng = SeededGenerator(seed: 0x5EED)
    var shapes: [(Int, Int, Int)] = [(0, 0, 0), (0, 5, 3), (4, 0, 3), (3, 4, 0), (1, 1, 1), (37, 41, 43),
                                     (97, 300, 130), (300, 97, 130), (40, 50, 140), (64, 10, 128), (10, 128, 64)]
    for isa in KernelISAs.supported {
        let bl = blocking(isa)
        func near(_ x: Int) -> [Int] { [x - 1, x, x + 1] }
        let small = [1, 2, 3, 5, 7, 13] + near(bl.mr) + near(bl.nr) + near(2 * bl.mr)
        let mBig = near(bl.mc) + [2 * bl.mc + 3]
        let nBig = near(bl.nc)
        let kBig = near(bl.kc) + [2 * bl.kc + 1]
        for _ in 0..<10 {
            let s = { small[Int(rng.next() % UInt64(small.count))] }
            switch rng.next() % 4 {
            case 0: shapes.append((mBig[Int(rng.next() % UInt64(mBig.count))], s(), s() + 10))
            case 1: shapes.append((s(), nBig[Int(rng.next() % UInt64(nBig.count))], s()))
            case 2: shapes.append((s() + 8, s() + 8, kBig[Int(rng.next() % UInt64(kBig.count))]))
            default: shapes.append((s(), s(), s()))
            }
        }
    }
    let scalars: [(Float, Float)] = [(1, 0), (1, 1), (-0.75, 0), (1.5, -0.5), (0, 0.5), (0.5, 2)]
    var out: [GemmCase] = []
    for (index, (m, n, k)) in shapes.enumerated() {
        let (alpha, beta) = scalars[index % scalars.count]
        for t in 0..<4 {
            out.append(GemmCase(m: m, n: n, k: k, transA: t & 1 != 0, transB: t & 2 != 0,
                                alpha: alpha, beta: beta, pad: Int(rng.next() % 4), rng: &rng))
        }
    }
    // Above the parallel threshold: the thread-invariance cases split these for real. (460, 470, 20)
    // is cut into claimed column chunks with A taller than AVX-512's MC (several row blocks);
    // (64, 84, 120), LeNet-5's third layer, by rows at 2 threads (too few column panels to share).
    // (128, 128, 512) and (128, 128, 513) straddle the size up to which a row-major A is read in
    // place rather than packed (M·K = 65 536), both cut into claimed column chunks; (64, 784, 256)
    // is short enough but too wide (over 16 panels on every ISA), so its A is packed and shared.
    for (m, n, k) in [(150, 400, 300), (400, 150, 300), (64, 784, 256), (460, 470, 20), (64, 84, 120),
                      (128, 128, 512), (128, 128, 513)] {
        for t in 0..<4 {
            out.append(GemmCase(m: m, n: n, k: k, transA: t & 1 != 0, transB: t & 2 != 0,
                                alpha: 0.5, beta: 0.25, pad: t, rng: &rng))
        }
    }
    return out
}

// MARK: Convolution, pooling, LRN

/// One convolution geometry.
struct ConvCase: CustomStringConvertible, Sendable {
    var n, c, h, w, k, kh, kw: Int
    var stride: Size2D
    var padding: Padding2D
    var description: String { "x[\(n),\(c),\(h),\(w)] w[\(k),\(c),\(kh),\(kw)] s\(stride) p\(padding)" }
    var shape: nk_conv2d_shape {
        nk_conv2d_shape(batch: Int64(n), in_channels: Int64(c), in_h: Int64(h), in_w: Int64(w), out_channels: Int64(k),
                        kernel_h: Int64(kh), kernel_w: Int64(kw), stride_h: Int64(stride.height), stride_w: Int64(stride.width),
                        pad_top: Int64(padding.top), pad_bottom: Int64(padding.bottom),
                        pad_left: Int64(padding.left), pad_right: Int64(padding.right))
    }

    /// Forward, backward-data and backward-filter (dw, db accumulated onto 0.5 / 0.25) as one op.
    /// Float sums of L terms drift by ~L·ε: bound 1e-4 up to 2 000 terms, growing linearly beyond.
    var opCase: KernelOpCase {
        let t = self
        var s = shape
        var oh: Int64 = 0, ow: Int64 = 0
        precondition(nk_conv2d_output_size(&s, &oh, &ow) > 0, "conv case \(t) does not fit")
        let x = seededTensor([n, c, h, w], seed: 1), wt = seededTensor([k, c, kh, kw], seed: 2)
        let b = seededTensor([k], seed: 3), dy = seededTensor([n, k, Int(oh), Int(ow)], seed: 4)
        func bound(_ terms: Int) -> Float { 1e-4 * max(1, Float(terms) / 2000) }
        let wTerms = n * Int(oh * ow)
        return KernelOpCase(
            op: "conv2d", detail: description,
            tolerances: [bound(c * kh * kw), bound(k * kh * kw), bound(wTerms), bound(wTerms)],
            run: { isa, threads in
                withActiveISA(isa) {
                    let y = Tensor.conv2d(x, weight: wt, bias: b, stride: t.stride, padding: t.padding, threads: threads)
                    let dx = Tensor.conv2dBackwardData(dy, weight: wt, inputShape: x.shape, stride: t.stride,
                                                       padding: t.padding, threads: threads)
                    var dw = Tensor(shape: wt.shape, repeating: 0.5), db = Tensor(shape: [t.k], repeating: 0.25)
                    Tensor.conv2dBackwardFilter(input: x, outputGradient: dy, stride: t.stride, padding: t.padding,
                                                weightGradient: &dw, biasGradient: &db, threads: threads)
                    return [y.scalars, dx.scalars, dw.scalars, db.scalars]
                }
            },
            reference: {
                var s = t.shape
                var y = [Float](repeating: 0, count: dy.count), dx = [Float](repeating: 0, count: x.count)
                var dw = [Float](repeating: 0.5, count: wt.count), db = [Float](repeating: 0.25, count: t.k)
                x.withUnsafeBufferPointer { xp in wt.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in
                    dy.withUnsafeBufferPointer { gp in
                        nk_conv2d_forward_ref(&s, xp.baseAddress, wp.baseAddress, bp.baseAddress, &y)
                        nk_conv2d_backward_data_ref(&s, gp.baseAddress, wp.baseAddress, &dx)
                        nk_conv2d_backward_filter_ref(&s, xp.baseAddress, gp.baseAddress, &dw, &db)
                    }
                } } }
                return [y, dx, dw, db]
            })
    }
}

private let convCases: [ConvCase] = [
    ConvCase(n: 2, c: 3, h: 7, w: 9, k: 5, kh: 3, kw: 3, stride: 1, padding: 1),
    ConvCase(n: 3, c: 17, h: 11, w: 10, k: 19, kh: 5, kw: 4, stride: Size2D(height: 2, width: 3),
             padding: Padding2D(top: 1, bottom: 2, left: 0, right: 3)),
    ConvCase(n: 2, c: 5, h: 9, w: 9, k: 7, kh: 1, kw: 1, stride: 1, padding: 0),          // direct 1×1
    ConvCase(n: 1, c: 5, h: 9, w: 7, k: 33, kh: 1, kw: 1, stride: 1, padding: 0),         // direct, batch 1
    ConvCase(n: 4, c: 300, h: 8, w: 8, k: 96, kh: 1, kw: 1, stride: 1, padding: 0),      // direct, images per thread,
                                                                                         // channel chunks
    ConvCase(n: 3, c: 2, h: 6, w: 7, k: 3, kh: 1, kw: 1, stride: 2, padding: 0),          // 1×1 strided
    ConvCase(n: 1, c: 3, h: 23, w: 23, k: 6, kh: 11, kw: 11, stride: 4, padding: 0),      // AlexNet conv1-like
    ConvCase(n: 5, c: 1, h: 8, w: 8, k: 2, kh: 8, kw: 8, stride: 1, padding: 0),          // kernel = image
    ConvCase(n: 2, c: 3, h: 5, w: 5, k: 4, kh: 2, kw: 2, stride: 3, padding: 2),          // stride > kernel
    ConvCase(n: 4, c: 6, h: 14, w: 14, k: 16, kh: 5, kw: 5, stride: 1, padding: 0),       // LeNet conv2
    ConvCase(n: 20, c: 6, h: 14, w: 14, k: 16, kh: 5, kw: 5, stride: 1, padding: 0),      // LeNet conv2: filter gradient
                                                                                         // as its transpose, tiles of
                                                                                         // 16 and 4
    ConvCase(n: 4, c: 1, h: 28, w: 28, k: 6, kh: 5, kw: 5, stride: 1, padding: 2),        // LeNet conv1: filter gradient
                                                                                         // as dot products, 2 tiles
    ConvCase(n: 3, c: 2, h: 30, w: 30, k: 9, kh: 3, kw: 3, stride: 1, padding: 1),        // dot products: 9 filters (two
                                                                                         // row blocks), a partial last
                                                                                         // 16 columns, partial last tile
    ConvCase(n: 9, c: 3, h: 12, w: 12, k: 20, kh: 3, kw: 3, stride: 1, padding: 1),       // transposed, padded, 20
                                                                                         // filters (a partial panel)
    ConvCase(n: 3, c: 64, h: 64, w: 64, k: 3, kh: 3, kw: 3, stride: 1, padding: 1),       // several filter tiles
    ConvCase(n: 7, c: 2, h: 20, w: 20, k: 5, kh: 3, kw: 2, stride: 1,                       // shifted rows: uneven
             padding: Padding2D(top: 1, bottom: 0, left: 2, right: 1)),                  // padding, partial last tile
    ConvCase(n: 1, c: 40, h: 9, w: 9, k: 12, kh: 3, kw: 3, stride: 1, padding: 1),       // shifted rows, 2 channel chunks
    ConvCase(n: 1, c: 8, h: 20, w: 20, k: 16, kh: 3, kw: 3, stride: 1, padding: 1),      // shifted rows (bias added in the
                                                                                         // copy-out) at 1 thread against
                                                                                         // the image in turn at 2 and 3
    ConvCase(n: 4, c: 40, h: 13, w: 13, k: 72, kh: 3, kw: 3, stride: 1, padding: 1),     // AlexNet conv3-like: images
                                                                                         // side by side, channel chunks
    ConvCase(n: 1, c: 40, h: 27, w: 27, k: 70, kh: 5, kw: 5, stride: 1, padding: 2),     // AlexNet conv2-like: filter
                                                                                         // gradient by channel chunks
]

/// A seeded standard-normal tensor.
func seededTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor(randomNormal: shape, using: &g)
}

/// Runs `body` with `isa` as the active kernel family (the convolution, pooling and LRN kernels
/// take no ISA argument), then restores the previous one. KernelOpTests is serialized, so no two
/// cases switch at once; other suites running meanwhile see results that are bitwise the same on
/// every ISA (which KernelOpTests checks).
func withActiveISA<T>(_ isa: nk_isa, _ body: () -> T) -> T {
    let previous = nk_isa_active()
    _ = nk_isa_set_active(isa)
    defer { _ = nk_isa_set_active(previous) }
    return body()
}

func poolShape(_ shape: [Int], _ w: Window2D) -> nk_pool2d_shape {
    nk_pool2d_shape(batch: Int64(shape[0]), channels: Int64(shape[1]), in_h: Int64(shape[2]), in_w: Int64(shape[3]),
                    window_h: Int64(w.size.height), window_w: Int64(w.size.width),
                    stride_h: Int64(w.stride.height), stride_w: Int64(w.stride.width),
                    pad_top: Int64(w.padding.top), pad_bottom: Int64(w.padding.bottom),
                    pad_left: Int64(w.padding.left), pad_right: Int64(w.padding.right))
}

private func poolOpCase(_ shape: [Int], _ window: Window2D) -> KernelOpCase {
    var shapeC = poolShape(shape, window)
    // Integer-valued inputs: many ties, so the arg-max rule (first in scan order) is exercised.
    var xv = seededTensor(shape, seed: 7)
    xv.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = (p[i] * 2).rounded() } }
    let x = xv, s = shapeC
    var oh: Int64 = 0, ow: Int64 = 0
    let outCount = Int(nk_pool2d_output_size(&shapeC, &oh, &ow)) * shape[0] * shape[1]
    let dy = seededTensor([shape[0], shape[1], Int(oh), Int(ow)], seed: 8)
    let detail = "\(shape) window \(window.size) stride \(window.stride) padding \(window.padding)"
    return KernelOpCase(
        op: "pool2d", detail: detail,
        // Max pooling and its backward pass (the same additions in output scan order) are exact.
        tolerances: [0, 0, 0, 1e-5, 1e-5],
        run: { isa, threads in
            withActiveISA(isa) {
                let (y, am) = Tensor.maxPool2d(x, window: window, threads: threads)
                let dx = Tensor.maxPool2dBackward(dy, argmax: am, inputShape: shape, window: window, threads: threads)
                let ay = Tensor.avgPool2d(x, window: window, threads: threads)
                let adx = Tensor.avgPool2dBackward(dy, inputShape: shape, window: window, threads: threads)
                return [y.scalars, am.map(Float.init), dx.scalars, ay.scalars, adx.scalars]
            }
        },
        reference: {
            var s = s
            var y = [Float](repeating: 0, count: outCount), am = [Int32](repeating: 0, count: outCount)
            var dx = [Float](repeating: 0, count: x.count)
            var ay = [Float](repeating: 0, count: outCount), adx = [Float](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { gp in
                nk_maxpool2d_forward_ref(&s, xp.baseAddress, &y, &am)
                nk_maxpool2d_backward_ref(&s, gp.baseAddress, am, &dx)
                nk_avgpool2d_forward_ref(&s, xp.baseAddress, &ay)
                nk_avgpool2d_backward_ref(&s, gp.baseAddress, &adx)
            } }
            return [y, am.map(Float.init), dx, ay, adx]
        })
}

private let poolCases: [([Int], Window2D)] = [
    ([2, 3, 55, 55], Window2D(size: 3, stride: 2)),                                   // AlexNet, overlapping
    ([1, 2, 7, 8], Window2D(size: 2, stride: 2)),                                     // odd extent: last row dropped
    ([2, 3, 9, 11], Window2D(size: 2, stride: 2)),                                    // odd extents: last row and column
    ([8, 6, 28, 28], Window2D(size: 2, stride: 2)),                                   // LeNet, several threads
    ([4, 16, 10, 10], Window2D(size: 2, stride: 2)),                                  // LeNet pool2: short rows, 3 a step
    ([3, 4, 6, 6], Window2D(size: 2, stride: 2)),                                     // 3-wide rows, 5 a step
    ([2, 3, 34, 2], Window2D(size: 2, stride: 2)),                                    // 1-wide rows, 16 a step and 1
    ([2, 2, 16, 17], Window2D(size: 2, stride: 2)),                                   // 8-wide rows, 2 a step; odd width
    ([2, 3, 9, 10], Window2D(size: Size2D(height: 3, width: 2), stride: Size2D(height: 1, width: 2),
                             padding: Padding2D(top: 1, bottom: 2, left: 0, right: 1))),
    ([3, 5, 6, 6], Window2D(size: 3, stride: 3, padding: 1)),
    ([2, 17, 13, 13], Window2D(size: 3, stride: 2, padding: 1)),
    ([1, 1, 4, 4], Window2D(size: 4, stride: 1)),
    ([1, 2, 6, 40], Window2D(size: 2, stride: 1)),                                    // 4-wide groups, stride 1
]

private func lrnOpCase(_ shape: [Int], size: Int, k: Float, alpha: Float, beta: Float) -> KernelOpCase {
    let x = seededTensor(shape, seed: 9), dy = seededTensor(shape, seed: 10)
    let n = shape[0], c = shape[1], hw = shape[2] * shape[3]
    return KernelOpCase(
        op: "lrn", detail: "\(shape) size \(size) k \(k) alpha \(alpha) beta \(beta)", tolerances: [1e-5, 1e-5, 1e-5],
        run: { isa, threads in
            withActiveISA(isa) {
                let (y, s) = Tensor.localResponseNorm(x, size: size, k: k, alpha: alpha, beta: beta, threads: threads)
                let dx = Tensor.localResponseNormBackward(dy, input: x, output: y, scale: s, size: size, alpha: alpha,
                                                          beta: beta, threads: threads)
                return [y.scalars, s.scalars, dx.scalars]
            }
        },
        reference: {
            var y = [Float](repeating: 0, count: x.count), s = y, dx = y
            x.withUnsafeBufferPointer { xp in
                nk_lrn_forward_ref(Int64(n), Int64(c), Int64(hw), Int64(size), k, alpha, beta, xp.baseAddress, &y, &s)
                dy.withUnsafeBufferPointer { gp in
                    nk_lrn_backward_ref(Int64(n), Int64(c), Int64(hw), Int64(size), alpha, beta, xp.baseAddress, y, s,
                                        gp.baseAddress, &dx)
                }
            }
            return [y, s, dx]
        })
}

/// Batch normalisation, training forward and backward (and inference), on [N, C, …] with `shape`;
/// large enough cases run on several threads (the kernels stay serial under 16 384 values).
/// Tensor.dropout against its specification written out in Swift: block k of 8 192 values from 8
/// xoshiro256** streams seeded by SplitMix64 from the starting state and k (word w of stream l the
/// (4l + w)-th output), drawn in rounds, stream l's draw deciding values 2l and 2l + 1 of the
/// round's 16 (bits 63…40, then 31…8); and its backward, the gradient times that mask (the
/// gradient holds NaN, infinities and negative values, whose products with 0 are NaN and −0), alone
/// and with a ReLU's backward after it (+0 where the ReLU output is not > 0: NaN, ±0, negatives).
private func dropoutOpCase(_ n: Int, keep: Float) -> KernelOpCase {
    let x = seededTensor([n], seed: 21), seed: UInt64 = 33, block = 8_192
    var gradient = seededTensor([n], seed: 22)
    gradient.withUnsafeMutableBufferPointer { p in
        for (i, v) in [Float.nan, .infinity, -.infinity, -0.0].enumerated() { for j in Swift.stride(from: i, to: n, by: 97) { p[j] = v } }
    }
    let dy = gradient
    var reluOutput = seededTensor([n], seed: 23)
    reluOutput.withUnsafeMutableBufferPointer { p in
        for (i, v) in [Float.nan, 0, -0.0, -1].enumerated() { for j in Swift.stride(from: i, to: n, by: 89) { p[j] = v } }
    }
    let h = reluOutput
    return KernelOpCase(
        op: "dropout", detail: "n \(n) keep \(keep)", tolerances: [0, 0, 0, 0],
        run: { isa, threads in
            withActiveISA(isa) {
                Runtime.withThreads(threads) {
                    var g = SeededGenerator(seed: seed)
                    let (y, mask) = Tensor.dropout(x, keep: keep, generator: &g)
                    return [y.scalars, mask.tensor(shape: [n]).scalars, mask.backward(dy).scalars,
                            mask.backward(dy, reluOutput: h).scalars]
                }
            }
        },
        reference: {
            let threshold = UInt64((Double(keep) * 16_777_216).rounded(.down)), scale = 1 / keep
            func rotl(_ v: UInt64, _ k: UInt64) -> UInt64 { (v << k) | (v >> (64 - k)) }
            func next(_ s: inout [UInt64]) -> UInt64 {
                let r = rotl(s[1] &* 5, 7) &* 9, t = s[1] << 17
                s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45)
                return r
            }
            var uniforms = [UInt64](repeating: 0, count: n)
            let w = SeededGenerator(seed: seed).stateWords
            let base = w[0] ^ (w[1] &* 0x9E37_79B9_7F4A_7C15) ^ w[2] ^ (w[3] << 1)
            for k in Swift.stride(from: 0, to: (n + block - 1) / block, by: 1) {
                var z = base ^ (UInt64(k) << 32)
                func splitmix() -> UInt64 {
                    z = z &+ 0x9E37_79B9_7F4A_7C15
                    var q = z
                    q = (q ^ (q >> 30)) &* 0xBF58_476D_1CE4_E5B9
                    q = (q ^ (q >> 27)) &* 0x94D0_49BB_1331_11EB
                    return q ^ (q >> 31)
                }
                var streams = (0..<8).map { _ in (0..<4).map { _ in splitmix() } }
                let start = k * block, end = min(n, start + block)
                var v0 = start
                while v0 < end {
                    for l in 0..<8 {
                        let r = next(&streams[l])
                        for (h, u) in [r >> 40, (r >> 8) & 0xFF_FFFF].enumerated() where v0 + 2 * l + h < end {
                            uniforms[v0 + 2 * l + h] = u
                        }
                    }
                    v0 += 16
                }
            }
            let mask = uniforms.map { $0 < threshold ? scale : 0 }
            let dropped = zip(dy.scalars, mask).map { $0 * $1 }
            return [zip(x.scalars, mask).map { $0 * $1 }, mask, dropped, zip(dropped, h.scalars).map { $1 > 0 ? $0 : 0 }]
        })
}

/// Tensor.reluBackward (nk_relu_backward: the dropout backward's kernel with every value kept), with
/// a keep scale and without: g·scale (g itself at scale 1) where the ReLU's value is > 0, else +0 —
/// the gradient holding NaN, infinities and −0, the ReLU's values NaN, ±0 and negatives.
private func reluBackwardOpCase(_ n: Int, scale: Float) -> KernelOpCase {
    var gradient = seededTensor([n], seed: 24), values = seededTensor([n], seed: 25)
    gradient.withUnsafeMutableBufferPointer { p in
        for (i, v) in [Float.nan, .infinity, -.infinity, -0.0].enumerated() { for j in Swift.stride(from: i, to: n, by: 53) { p[j] = v } }
    }
    values.withUnsafeMutableBufferPointer { p in
        for (i, v) in [Float.nan, 0, -0.0, -1].enumerated() { for j in Swift.stride(from: i + 1, to: n, by: 59) { p[j] = v } }
    }
    let dy = gradient, h = values
    return KernelOpCase(
        op: "relu-backward", detail: "n \(n) scale \(scale)", tolerances: [0, 0],
        run: { isa, threads in
            withActiveISA(isa) {
                Runtime.withThreads(threads) {
                    [Tensor.reluBackward(input: h, gradient: dy, scale: scale).scalars,
                     Tensor.reluBackward(input: h, gradient: dy).scalars]
                }
            }
        },
        reference: {
            [zip(h.scalars, dy.scalars).map { $0 > 0 ? $1 * scale : 0 }, zip(h.scalars, dy.scalars).map { $0 > 0 ? $1 : 0 }]
        })
}

private func batchNormOpCase(_ shape: [Int]) -> KernelOpCase {
    let x = seededTensor(shape, seed: 11), dy = seededTensor(shape, seed: 12)
    let c = shape[1], n = shape[0], s = shape.dropFirst(2).reduce(1, *)
    let gamma = Tensor((0..<c).map { 0.5 + Float($0 % 7) * 0.25 }), beta = Tensor((0..<c).map { Float($0 % 5) * 0.1 - 0.2 })
    let runningVar = Tensor((0..<c).map { 0.5 + Float($0 % 3) }), runningMean = Tensor((0..<c).map { Float($0 % 4) * 0.1 })
    return KernelOpCase(
        op: "batchnorm", detail: "\(shape)", tolerances: [1e-5, 1e-5, 1e-5, 1e-5, 1e-4, 1e-4, 1e-5],
        run: { isa, threads in
            withActiveISA(isa) {
                let f = Tensor.batchNormTraining(x, gamma: gamma, beta: beta, epsilon: 1e-5, threads: threads)
                let b = Tensor.batchNormBackward(dy, normalized: f.normalized, gamma: gamma, inverseStd: f.inverseStd,
                                                 inputGradient: true, threads: threads)
                let y = Tensor.batchNormInference(x, gamma: gamma, beta: beta, mean: runningMean, variance: runningVar,
                                                  epsilon: 1e-5, threads: threads)
                return [f.output.scalars, f.mean.scalars, f.inverseStd.scalars, f.unbiasedVariance.scalars,
                        b.gamma.scalars, b.input!.scalars, y.scalars]
            }
        },
        reference: {
            var y = [Float](repeating: 0, count: x.count), xhat = y, dx = y, infer = y
            var mean = [Float](repeating: 0, count: c), inv = mean, unbiased = mean, dgamma = mean, dbeta = mean
            x.withUnsafeBufferPointer { xp in
                gamma.withUnsafeBufferPointer { g in
                    beta.withUnsafeBufferPointer { bt in
                        nk_batchnorm_forward_train_ref(Int64(n), Int64(c), Int64(s), xp.baseAddress, g.baseAddress, bt.baseAddress,
                                                       1e-5, &xhat, &y, &mean, &inv, &unbiased)
                        dy.withUnsafeBufferPointer { d in
                            nk_batchnorm_backward_ref(Int64(n), Int64(c), Int64(s), d.baseAddress, xhat, g.baseAddress, inv,
                                                      &dgamma, &dbeta, &dx)
                        }
                    }
                }
            }
            // Inference is one multiply-add per value: the formula itself is its reference.
            let sv = runningVar.scalars, sm = runningMean.scalars, g = gamma.scalars, bt = beta.scalars, xs = x.scalars
            for i in 0..<x.count {
                let ch = (i / s) % c
                infer[i] = Float(Double(g[ch]) * (Double(xs[i]) - Double(sm[ch])) / (Double(sv[ch]) + 1e-5).squareRoot() + Double(bt[ch]))
            }
            return [y, mean, inv, unbiased, dgamma, dx, infer]
        })
}

/// One SGD step over `n` elements (several threads' worth at 200 000): plain, with momentum, or
/// Nesterov's, with coupled L2, against the formula written out in Float (no operation fused, so
/// the AVX2 and baseline builds of the pass must both equal it exactly).
private func sgdOpCase(_ n: Int, momentum: Float?, nesterov: Bool, l2: Float) -> KernelOpCase {
    let w0 = seededTensor([n], seed: 31), g = seededTensor([n], seed: 32), v0 = seededTensor([n], seed: 33)
    let lr: Float = 0.05
    return KernelOpCase(
        op: "sgd", detail: "n \(n) momentum \(momentum.map { "\($0)" } ?? "none") nesterov \(nesterov) l2 \(l2)",
        tolerances: [0, 0],
        run: { isa, threads in
            withActiveISA(isa) {
                Runtime.withThreads(threads) {
                    let w = w0.copied(), v = momentum == nil ? nil : v0.copied()
                    ParameterUpdate.sgd(w, gradient: g, velocity: v, range: 0..<n, learningRate: lr,
                                        momentum: momentum ?? 0, l2: l2, nesterov: nesterov)
                    return [w.scalars, v?.scalars ?? []]
                }
            }
        },
        reference: {
            var w = w0.scalars, v = v0.scalars
            let gs = g.scalars
            for i in 0..<n {
                let grad = gs[i] + l2 * w[i]
                guard let mu = momentum else { w[i] = w[i] - lr * grad; continue }
                let vel = mu * v[i] + grad
                v[i] = vel
                w[i] = w[i] - lr * (nesterov ? grad + mu * vel : vel)
            }
            return [w, momentum == nil ? [] : v]
        })
}

/// One Adam/AdamW step over `n` elements (several threads' worth at 200 000), against the formula
/// written out in Float: every operation is correctly rounded and none may be fused, so the wide
/// (AVX-512) and baseline builds of the pass must both equal it exactly.
private func adamOpCase(_ n: Int, l2: Float, shrink: Float) -> KernelOpCase {
    let w0 = seededTensor([n], seed: 21), g = seededTensor([n], seed: 22), m0 = seededTensor([n], seed: 23)
    let v0 = Tensor(seededTensor([n], seed: 24).scalars.map { $0 * $0 })
    let (lr, b1, b2, eps, c1, c2): (Float, Float, Float, Float, Float, Float) = (0.001, 0.9, 0.999, 1e-8, 1 / (1 - 0.9 * 0.9), 1 / (1 - 0.999 * 0.999))
    return KernelOpCase(
        op: "adam", detail: "n \(n) l2 \(l2) shrink \(shrink)", tolerances: [0, 0, 0],
        run: { isa, threads in
            withActiveISA(isa) {
                Runtime.withThreads(threads) {
                    let w = w0.copied(), m = m0.copied(), v = v0.copied()
                    ParameterUpdate.adam(w, gradient: g, m: m, v: v, range: 0..<n, learningRate: lr, beta1: b1, beta2: b2,
                                         epsilon: eps, c1: c1, c2: c2, l2: l2, shrink: shrink)
                    return [w.scalars, m.scalars, v.scalars]
                }
            }
        },
        reference: {
            var w = w0.scalars, m = m0.scalars, v = v0.scalars
            let gs = g.scalars
            for i in 0..<n {
                let grad = gs[i] + l2 * w[i]
                let mi = b1 * m[i] + (1 - b1) * grad
                let vi = b2 * v[i] + (1 - b2) * grad * grad
                m[i] = mi
                v[i] = vi
                w[i] = w[i] - shrink * w[i] - lr * (mi * c1) / ((vi * c2).squareRoot() + eps)
            }
            return [w, m, v]
        })
}

/// The whole table.
let kernelOpCases: [KernelOpCase] =
    gemmCases().map(\.opCase)
    + convCases.map(\.opCase)
    + poolCases.map { poolOpCase($0.0, $0.1) }
    + [lrnOpCase([2, 7, 5, 3], size: 5, k: 2, alpha: 1e-4, beta: 0.75),
       lrnOpCase([1, 96, 27, 27], size: 5, k: 2, alpha: 1e-4, beta: 0.75),   // AlexNet's first norm, one image
       lrnOpCase([2, 3, 4, 4], size: 5, k: 1, alpha: 0.5, beta: 0.75),       // window wider than the channels
       lrnOpCase([3, 9, 7, 11], size: 4, k: 1.5, alpha: 0.3, beta: 0.6)]     // even size, powf path
    + [batchNormOpCase([3, 5, 4, 7]),        // small: one thread, planes shorter than 16 lanes + tail
       batchNormOpCase([8, 32, 14, 14]),     // a convolution's output: several threads
       batchNormOpCase([96, 200]),           // after a dense layer (one value per channel), 4 channel blocks
       batchNormOpCase([5, 3])]              // tiny dense batch
    + [dropoutOpCase(3 * 8_192 + 1001, keep: 0.8),        // dropout: four blocks (the last partial);
       dropoutOpCase(1000, keep: 0.5)]                       // one partial block
    + [reluBackwardOpCase(9 * 8_192 + 75, scale: 1.25),   // ReLU backward: ten blocks, a partial vector;
       reluBackwardOpCase(37, scale: 1 / 0.9)]             // two vectors and a tail
    + [adamOpCase(1003, l2: 0, shrink: 0),                 // Adam, one thread, a partial vector
       adamOpCase(200_003, l2: 0.01, shrink: 0),           // coupled L2, several threads
       adamOpCase(200_003, l2: 0, shrink: 1e-4)]           // AdamW's decoupled decay
    + [sgdOpCase(1003, momentum: nil, nesterov: false, l2: 0),          // plain SGD, one thread
       sgdOpCase(200_003, momentum: 0.9, nesterov: false, l2: 0.01),    // momentum and L2, several threads
       sgdOpCase(200_003, momentum: 0.9, nesterov: true, l2: 0)]        // Nesterov
