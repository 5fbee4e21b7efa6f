import Testing
import TestSupport
import NeuriteTensor
import CNeurite

/// One convolution geometry of the kernel tests.
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
}

/// Every fast kernel against its naive reference (float vs double accumulation: error relative to
/// max(1, |ref|) bounded by 1e-4, more for convolution sums of over 2 000 terms), and bitwise equality across thread counts 1, 2 and 3 (3 > the
/// cores here: oversubscribed, and a batch that splits unevenly).
@Suite struct ConvKernelTests {
    static let convCases: [ConvCase] = [
        ConvCase(n: 2, c: 3, h: 7, w: 9, k: 5, kh: 3, kw: 3, stride: 1, padding: 1),
        ConvCase(n: 3, c: 17, h: 11, w: 10, k: 19, kh: 5, kw: 4, stride: Size2D(height: 2, width: 3),
                 padding: Padding2D(top: 1, bottom: 2, left: 0, right: 3)),
        ConvCase(n: 2, c: 5, h: 9, w: 9, k: 7, kh: 1, kw: 1, stride: 1, padding: 0),          // direct 1×1
        ConvCase(n: 1, c: 5, h: 9, w: 7, k: 33, kh: 1, kw: 1, stride: 1, padding: 0),         // direct, batch 1
        ConvCase(n: 3, c: 2, h: 6, w: 7, k: 3, kh: 1, kw: 1, stride: 2, padding: 0),          // 1×1 strided
        ConvCase(n: 1, c: 3, h: 23, w: 23, k: 6, kh: 11, kw: 11, stride: 4, padding: 0),      // AlexNet conv1-like
        ConvCase(n: 5, c: 1, h: 8, w: 8, k: 2, kh: 8, kw: 8, stride: 1, padding: 0),          // kernel = image
        ConvCase(n: 2, c: 3, h: 5, w: 5, k: 4, kh: 2, kw: 2, stride: 3, padding: 2),          // stride > kernel
        ConvCase(n: 4, c: 6, h: 14, w: 14, k: 16, kh: 5, kw: 5, stride: 1, padding: 0),       // LeNet conv2
        ConvCase(n: 3, c: 64, h: 64, w: 64, k: 3, kh: 3, kw: 3, stride: 1, padding: 1),       // several filter tiles
        ConvCase(n: 7, c: 2, h: 20, w: 20, k: 5, kh: 3, kw: 2, stride: 1,                       // shifted rows: uneven
                 padding: Padding2D(top: 1, bottom: 0, left: 2, right: 1)),                  // padding, partial last tile
        ConvCase(n: 4, c: 40, h: 13, w: 13, k: 72, kh: 3, kw: 3, stride: 1, padding: 1),     // AlexNet conv3-like: images
                                                                                             // side by side (3 + 1), channel chunks
        ConvCase(n: 1, c: 40, h: 27, w: 27, k: 70, kh: 5, kw: 5, stride: 1, padding: 2),     // AlexNet conv2-like: filter
                                                                                             // gradient by channel chunks
    ]

    func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor(randomNormal: shape, using: &g)
    }

    @Test(arguments: convCases)
    func convolutionMatchesReferenceAndIsThreadInvariant(_ t: ConvCase) {
        var s = t.shape
        var oh: Int64 = 0, ow: Int64 = 0
        #expect(nk_conv2d_output_size(&s, &oh, &ow) > 0)
        let x = random([t.n, t.c, t.h, t.w], seed: 1)
        let w = random([t.k, t.c, t.kh, t.kw], seed: 2)
        let b = random([t.k], seed: 3)
        let dy = random([t.n, t.k, Int(oh), Int(ow)], seed: 4)

        // References.
        var yRef = [Float](repeating: 0, count: dy.count)
        var dxRef = [Float](repeating: 0, count: x.count)
        var dwRef = [Float](repeating: 0.5, count: w.count), dbRef = [Float](repeating: 0.25, count: t.k)
        x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in
            dy.withUnsafeBufferPointer { gp in
                nk_conv2d_forward_ref(&s, xp.baseAddress, wp.baseAddress, bp.baseAddress, &yRef)
                nk_conv2d_backward_data_ref(&s, gp.baseAddress, wp.baseAddress, &dxRef)
                nk_conv2d_backward_filter_ref(&s, xp.baseAddress, gp.baseAddress, &dwRef, &dbRef)
            }
        } } }

        // Float sums of L terms drift by ~L·ε: bound 1e-4 up to 2 000 terms, growing linearly beyond.
        func bound(_ terms: Int) -> Float { 1e-4 * max(1, Float(terms) / 2000) }
        let fTerms = t.c * t.kh * t.kw, dTerms = t.k * t.kh * t.kw, wTerms = t.n * Int(oh * ow)
        var results: [[[Float]]] = []
        for threads in [1, 2, 3] {
            let y = Tensor.conv2d(x, weight: w, bias: b, stride: t.stride, padding: t.padding, threads: threads)
            let dx = Tensor.conv2dBackwardData(dy, weight: w, inputShape: x.shape, stride: t.stride, padding: t.padding, threads: threads)
            var dw = Tensor(shape: w.shape, repeating: 0.5), db = Tensor(shape: [t.k], repeating: 0.25)
            Tensor.conv2dBackwardFilter(input: x, outputGradient: dy, stride: t.stride, padding: t.padding,
                                        weightGradient: &dw, biasGradient: &db, threads: threads)
            #expect(y.shape == [t.n, t.k, Int(oh), Int(ow)])
            #expect(maxRelativeError(y.scalars, yRef) < bound(fTerms), "forward \(t) threads \(threads)")
            #expect(maxRelativeError(dx.scalars, dxRef) < bound(dTerms), "backward-data \(t) threads \(threads)")
            #expect(maxRelativeError(dw.scalars, dwRef) < bound(wTerms), "backward-filter dw \(t) threads \(threads)")
            #expect(maxRelativeError(db.scalars, dbRef) < bound(wTerms), "backward-filter db \(t) threads \(threads)")
            results.append([y.scalars, dx.scalars, dw.scalars, db.scalars])
        }
        for r in results.dropFirst() {
            for (i, name) in ["y", "dx", "dw", "db"].enumerated() {
                #expect(r[i] == results[0][i], "\(name) differs between thread counts for \(t)")
            }
        }
    }

    @Test func convolutionWithoutBiasAndOutputSizes() {
        let x = random([2, 3, 6, 6], seed: 5), w = random([4, 3, 3, 3], seed: 6)
        let y = Tensor.conv2d(x, weight: w, stride: 2, padding: 1)
        #expect(y.shape == [2, 4, 3, 3])
        var dw = Tensor(shape: w.shape, repeating: 0)
        Tensor.conv2dBackwardFilter(input: x, outputGradient: y, stride: 2, padding: 1, weightGradient: &dw)
        #expect(dw.scalars.allSatisfy { $0.isFinite })
        #expect(Window2D(size: 11, stride: 4).outputSize(height: 227, width: 227) == Size2D(55))
        #expect(Window2D(size: 3, stride: 2).outputSize(height: 55, width: 55) == Size2D(27))
        #expect(Window2D(size: 5, stride: 1, padding: 2).outputSize(height: 27, width: 27) == Size2D(27))
        #expect(Window2D(size: 5).outputSize(height: 4, width: 9) == nil)
        #expect(Window2D(size: 5, padding: 1).outputSize(height: 3, width: 3) == Size2D(1))
    }

    // MARK: pooling

    static let poolCases: [(shape: [Int], window: Window2D)] = [
        ([2, 3, 55, 55], Window2D(size: 3, stride: 2)),                                   // AlexNet, overlapping
        ([1, 2, 7, 8], Window2D(size: 2, stride: 2)),                                     // odd extent: last row dropped
        ([2, 3, 9, 10], Window2D(size: Size2D(height: 3, width: 2), stride: Size2D(height: 1, width: 2),
                                 padding: Padding2D(top: 1, bottom: 2, left: 0, right: 1))),
        ([3, 5, 6, 6], Window2D(size: 3, stride: 3, padding: 1)),
        ([2, 17, 13, 13], Window2D(size: 3, stride: 2, padding: 1)),
        ([1, 1, 4, 4], Window2D(size: 4, stride: 1)),
    ]

    func poolShape(_ shape: [Int], _ w: Window2D) -> nk_pool2d_shape {
        nk_pool2d_shape(batch: Int64(shape[0]), channels: Int64(shape[1]), in_h: Int64(shape[2]), in_w: Int64(shape[3]),
                        window_h: Int64(w.size.height), window_w: Int64(w.size.width),
                        stride_h: Int64(w.stride.height), stride_w: Int64(w.stride.width),
                        pad_top: Int64(w.padding.top), pad_bottom: Int64(w.padding.bottom),
                        pad_left: Int64(w.padding.left), pad_right: Int64(w.padding.right))
    }

    @Test(arguments: 0..<poolCases.count)
    func poolingMatchesReferenceAndIsThreadInvariant(_ index: Int) {
        let (shape, window) = Self.poolCases[index]
        var s = poolShape(shape, window)
        // Integer-valued inputs: many ties, so the arg-max rule (first in scan order) is exercised.
        var x = random(shape, seed: 7)
        x.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = (p[i] * 2).rounded() } }
        var oh: Int64 = 0, ow: Int64 = 0
        let outCount = Int(nk_pool2d_output_size(&s, &oh, &ow)) * shape[0] * shape[1]
        let dy = random([shape[0], shape[1], Int(oh), Int(ow)], seed: 8)

        var yRef = [Float](repeating: 0, count: outCount), amRef = [Int32](repeating: 0, count: outCount)
        var dxRef = [Float](repeating: 0, count: x.count)
        var ayRef = [Float](repeating: 0, count: outCount), adxRef = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { gp in
            nk_maxpool2d_forward_ref(&s, xp.baseAddress, &yRef, &amRef)
            nk_maxpool2d_backward_ref(&s, gp.baseAddress, amRef, &dxRef)
            nk_avgpool2d_forward_ref(&s, xp.baseAddress, &ayRef)
            nk_avgpool2d_backward_ref(&s, gp.baseAddress, &adxRef)
        } }

        var previous: [[Float]]? = nil
        for threads in [1, 2, 3] {
            let (y, am) = Tensor.maxPool2d(x, window: window, threads: threads)
            #expect(y.scalars == yRef, "max forward \(shape) \(window) threads \(threads)")
            #expect(am == amRef, "arg-max \(shape) \(window) threads \(threads)")
            let dx = Tensor.maxPool2dBackward(dy, argmax: am, inputShape: shape, window: window, threads: threads)
            // Same additions in the same (output scan) order as the reference: exactly equal.
            #expect(dx.scalars == dxRef, "max backward \(shape) \(window) threads \(threads)")
            let ay = Tensor.avgPool2d(x, window: window, threads: threads)
            let adx = Tensor.avgPool2dBackward(dy, inputShape: shape, window: window, threads: threads)
            #expect(maxRelativeError(ay.scalars, ayRef) < 1e-5, "avg forward \(shape) \(window)")
            #expect(maxRelativeError(adx.scalars, adxRef) < 1e-5, "avg backward \(shape) \(window)")
            let all = [y.scalars, dx.scalars, ay.scalars, adx.scalars, am.map(Float.init)]
            if let previous { #expect(all == previous, "pooling differs between thread counts") }
            previous = all
        }
    }

    @Test func maxPoolTiesGoToTheFirstInScanOrderAndNaNPropagates() {
        // One 3×3 plane of equal values, 2×2 windows stride 1: every window's first element wins.
        let x = Tensor(shape: [1, 1, 3, 3], repeating: 1)
        let (y, am) = Tensor.maxPool2d(x, window: Window2D(size: 2, stride: 1))
        #expect(y.scalars == [1, 1, 1, 1])
        #expect(am == [0, 1, 3, 4])
        // Overlapping windows route both gradients to the shared arg-max.
        let dx = Tensor.maxPool2dBackward(Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4]), argmax: [4, 4, 4, 4],
                                          inputShape: [1, 1, 3, 3], window: Window2D(size: 2, stride: 1))
        #expect(dx.scalars == [0, 0, 0, 0, 10, 0, 0, 0, 0])
        let z = Tensor(shape: [1, 1, 2, 2], scalars: [1, .nan, 5, .nan])
        let (yz, az) = Tensor.maxPool2d(z, window: Window2D(size: 2, stride: 2))
        #expect(yz.scalars[0].isNaN && az == [1])
    }

    // MARK: local response normalisation

    static let lrnCases: [(shape: [Int], size: Int, k: Float, alpha: Float, beta: Float)] = [
        ([2, 7, 5, 3], 5, 2, 1e-4, 0.75),
        ([1, 96, 27, 27], 5, 2, 1e-4, 0.75),   // AlexNet's first norm, one image
        ([2, 3, 4, 4], 5, 1, 0.5, 0.75),        // window wider than the channels, strong normalisation
        ([3, 9, 7, 11], 4, 1.5, 0.3, 0.6),      // even size (asymmetric window), powf path
    ]

    @Test(arguments: 0..<lrnCases.count)
    func localResponseNormMatchesReferenceAndIsThreadInvariant(_ index: Int) {
        let (shape, size, k, alpha, beta) = Self.lrnCases[index]
        let x = random(shape, seed: 9), dy = random(shape, seed: 10)
        let n = shape[0], c = shape[1], hw = shape[2] * shape[3]
        var yRef = [Float](repeating: 0, count: x.count), sRef = yRef, dxRef = yRef
        x.withUnsafeBufferPointer { xp in
            nk_lrn_forward_ref(Int64(n), Int64(c), Int64(hw), Int64(size), k, alpha, beta, xp.baseAddress, &yRef, &sRef)
            dy.withUnsafeBufferPointer { gp in
                nk_lrn_backward_ref(Int64(n), Int64(c), Int64(hw), Int64(size), alpha, beta, xp.baseAddress, yRef, sRef,
                                    gp.baseAddress, &dxRef)
            }
        }
        var previous: [[Float]]? = nil
        for threads in [1, 2, 3] {
            let (y, s) = Tensor.localResponseNorm(x, size: size, k: k, alpha: alpha, beta: beta, threads: threads)
            let dx = Tensor.localResponseNormBackward(dy, input: x, output: y, scale: s, size: size, alpha: alpha,
                                                      beta: beta, threads: threads)
            #expect(maxRelativeError(y.scalars, yRef) < 1e-5, "LRN forward \(shape) threads \(threads)")
            #expect(maxRelativeError(s.scalars, sRef) < 1e-5, "LRN scale \(shape)")
            #expect(maxRelativeError(dx.scalars, dxRef) < 1e-5, "LRN backward \(shape) threads \(threads)")
            let all = [y.scalars, s.scalars, dx.scalars]
            if let previous { #expect(all == previous, "LRN differs between thread counts") }
            previous = all
        }
    }
}
