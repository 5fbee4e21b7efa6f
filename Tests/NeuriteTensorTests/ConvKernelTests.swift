import Testing
import TestSupport
import NeuriteTensor
import CNeurite

/// Convolution, pooling and LRN tests outside the op table (KernelOpTests runs every case against
/// its reference on every ISA and thread count): output sizes, arg-max ties and NaN.
@Suite struct ConvKernelTests {
    func random(_ shape: [Int], seed: UInt64) -> Tensor { seededTensor(shape, seed: seed) }

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

    /// LeNet-5's conv2 shape (16 filters) runs by output positions where the kernel table has the
    /// kernel for it (AVX-512, AVX2) and by shifted rows elsewhere (the reference table): the same
    /// bits on every ISA, with and without bias and ReLU, NaN, infinities and −0 in the input, at 1
    /// and 2 threads (5 images: a short last tile).
    @Test func outputPositionsAndShiftedRowsAgreeBitwise() {
        var x = random([5, 6, 14, 14], seed: 71)
        x.withUnsafeMutableBufferPointer { p in p[11] = .nan; p[p.count / 3] = .infinity; p[p.count - 5] = -.infinity; p[40] = -0.0 }
        let w = random([16, 6, 5, 5], seed: 72), b = random([16], seed: 73)
        for bias in [b, nil] {
            for relu in [false, true] {
                for threads in [1, 2] {
                    let results = KernelISAs.supported.map { isa in
                        withActiveISA(isa) { Tensor.conv2d(x, weight: w, bias: bias, relu: relu, threads: threads).scalars }
                    }
                    for (isa, r) in zip(KernelISAs.supported, results).dropFirst() {
                        #expect(bitwiseEqual(r, results[0]),
                                "\(KernelISAs.name(isa)) bias \(bias != nil) relu \(relu) \(threads) thread(s)")
                    }
                }
            }
        }
    }

    /// conv2d(relu: true), the ReLU applied per image inside the kernel, gives relu(conv2d)'s bits
    /// on each forward path (shifted rows, images side by side, per image, in turn) at 1 and 2
    /// threads, with NaN and infinities in the input.
    @Test func convolutionWithReLUEqualsReLUAfterwards() {
        let cases: [(x: [Int], w: [Int], stride: Int, pad: Int)] = [
            ([4, 2, 10, 10], [5, 2, 3, 3], 1, 1),     // shifted rows (stride 1, few filters)
            ([3, 4, 13, 13], [70, 4, 3, 3], 1, 1),    // side by side (too many filters to shift)
            ([4, 3, 15, 15], [6, 3, 3, 3], 2, 0),     // per image (2 threads) / in turn (1)
            ([1, 3, 15, 15], [6, 3, 3, 3], 2, 1),     // one image: in turn
        ]
        for (i, c) in cases.enumerated() {
            var x = random(c.x, seed: UInt64(40 + i))
            x.withUnsafeMutableBufferPointer { p in p[7] = .nan; p[p.count / 2] = .infinity; p[p.count - 3] = -.infinity }
            let w = random(c.w, seed: UInt64(50 + i)), b = random([c.w[0]], seed: UInt64(60 + i))
            for threads in [1, 2] {
                let fused = Tensor.conv2d(x, weight: w, bias: b, stride: Size2D(c.stride), padding: Padding2D(c.pad),
                                          relu: true, threads: threads)
                let separate = Tensor.conv2d(x, weight: w, bias: b, stride: Size2D(c.stride), padding: Padding2D(c.pad),
                                             threads: threads).relu()
                #expect(bitwiseEqual(fused.scalars, separate.scalars), "case \(i), \(threads) thread(s)")
            }
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
        // Indices outside the plane (corrupt or foreign arg-maxes) write nothing, in either path.
        let skipped = Tensor.maxPool2dBackward(Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4]), argmax: [-7, 9, 4, 1 << 30],
                                               inputShape: [1, 1, 3, 3], window: Window2D(size: 2, stride: 1))
        #expect(skipped.scalars == [0, 0, 0, 0, 3, 0, 0, 0, 0])
        let skipped2x2 = Tensor.maxPool2dBackward(Tensor(shape: [1, 1, 1, 2], scalars: [5, 6]), argmax: [Int32.min, 1 << 30],
                                                  inputShape: [1, 1, 2, 4], window: Window2D(size: 2, stride: 2))
        #expect(skipped2x2.scalars == [0, 0, 0, 0, 0, 0, 0, 0])
        let z = Tensor(shape: [1, 1, 2, 2], scalars: [1, .nan, 5, .nan])
        let (yz, az) = Tensor.maxPool2d(z, window: Window2D(size: 2, stride: 2))
        #expect(yz.scalars[0].isNaN && az == [1])
    }

    /// 2×2 stride-2 pooling's backward writes whole input rows from the arg-maxes (no zeroing pass,
    /// no scattered adds): bit for bit the reference's zero-then-add on every ISA and at 1 and 2
    /// threads, with −0, NaN and infinities among the gradients and odd extents left uncovered.
    @Test func maxPool2x2BackwardIsTheReferenceBitForBit() {
        let shape = [3, 4, 9, 11], window = Window2D(size: 2, stride: 2)
        let x = random(shape, seed: 31)
        var dy = random([3, 4, 4, 5], seed: 32)
        dy.withUnsafeMutableBufferPointer { p in
            for (i, v) in [Float(-0.0), .nan, .infinity, -.infinity].enumerated() { for j in stride(from: i, to: p.count, by: 11) { p[j] = v } }
        }
        let (_, am) = Tensor.maxPool2d(x, window: window)
        var s = poolShape(shape, window)
        var want = [Float](repeating: 1, count: x.count)
        dy.withUnsafeBufferPointer { nk_maxpool2d_backward_ref(&s, $0.baseAddress, am, &want) }
        for isa in KernelISAs.supported {
            for threads in [1, 2] {
                let dx = withActiveISA(isa) {
                    Tensor.maxPool2dBackward(dy, argmax: am, inputShape: shape, window: window, threads: threads)
                }
                #expect(bitwiseEqual(dx.scalars, want), "\(KernelISAs.name(isa)), \(threads) threads")
            }
        }
    }
}
