// Kernel tests as one op table (KernelOpCases.swift): every case against its reference on every
// ISA this machine has (the others are named as skipped), bitwise the same on every ISA, and —
// in an OpenMP build — bitwise the same at 1, 2 and 3 threads (3 > the cores of a small machine:
// oversubscribed, and work that splits unevenly). A build without OpenMP reports the
// thread-count cases as skipped instead of re-running one thread three times.

import CNeurite
import NeuriteTensor
import Testing
import TestSupport

/// Serialized: cases switch the process-wide active ISA (see withActiveISA).
@Suite(.serialized) struct KernelOpTests {
    /// Names the ISAs the table skips, once per run.
    @Test func reportsSkippedISAs() {
        let skipped = KernelISAs.skipped.map(KernelISAs.name)
        print("KernelOpTests: testing \(KernelISAs.supported.map(KernelISAs.name).joined(separator: ", "))"
              + (skipped.isEmpty ? "" : "; skipping \(skipped.joined(separator: ", ")) (not supported by this machine or build)"))
        #expect(KernelISAs.supported.contains(NK_ISA_REF))
    }

    @Test(arguments: kernelOpCases)
    func matchesReferenceOnEveryISA(_ c: KernelOpCase) {
        let want = c.reference()
        var first: (isa: nk_isa, outputs: [[Float]])?
        for isa in KernelISAs.supported {
            let got = c.run(isa, 1)
            #expect(got.count == want.count)
            for (i, (g, w)) in zip(got, want).enumerated() {
                let err = kernelRelativeError(g, w)
                #expect(err <= c.tolerances[i], "\(c) output \(i) on \(KernelISAs.name(isa)): relative error \(err), tolerance \(c.tolerances[i])")
            }
            if let first {
                for (i, (g, f)) in zip(got, first.outputs).enumerated() {
                    #expect(bitwiseEqual(g, f), "\(c) output \(i): \(KernelISAs.name(isa)) and \(KernelISAs.name(first.isa)) differ")
                }
            } else {
                first = (isa, got)
            }
        }
    }

    @Test(.enabled(if: nk_openmp_enabled() != 0, "a build without OpenMP runs every kernel on one thread"),
          arguments: kernelOpCases)
    func threadCountDoesNotChangeBits(_ c: KernelOpCase) {
        for isa in KernelISAs.supported {
            let one = c.run(isa, 1)
            for threads in [2, 3] {
                let got = c.run(isa, threads)
                for (i, (g, o)) in zip(got, one).enumerated() {
                    #expect(bitwiseEqual(g, o), "\(c) output \(i) on \(KernelISAs.name(isa)): \(threads) threads differ from 1")
                }
            }
        }
    }

    /// The byte-row gather's conversion (value / 255 without the divider on AVX2 and AVX-512, see
    /// memory.c) gives the correctly rounded quotient, the float copy's bits, for each of the 256
    /// byte values on every ISA, in rows whose lengths leave vector tails.
    @Test func byteRowsConvertToTheQuotientOnEveryISA() {
        let width = 37, n = 256 * 3 / width + 1
        let bytes = (0..<(n * width)).map { UInt8(truncatingIfNeeded: $0 * 7) } // every value, shuffled
        let source = UnitByteRows(bytes: bytes, rowCount: n, rowShape: [width])
        let want = bytes.map { (Float($0) / 255).bitPattern }
        #expect(Set(bytes).count == 256)
        for isa in KernelISAs.supported {
            let got = withActiveISA(isa) { source.gatheringRows(Array(0..<n)) }
            #expect(got.scalars.map(\.bitPattern) == want, "\(KernelISAs.name(isa))")
        }
    }

    /// A convolution's filter gradient through the max pooling after it (the pooling's scatter
    /// done image by image inside the filter gradient) gives the bits of the pooling's backward
    /// followed by the filter gradient, into gradients that already hold values: on the shifted
    /// partials path with 6 filters (dot products) and 16 (transposed SGEMM), odd sizes whose last
    /// row and column no window covers, overlapping windows (their gradients added at a shared
    /// arg-max), and the paths that take dy whole (stride 2; one image); NaN and ±∞ among one
    /// filter's pooled gradients, ±0 among all; every ISA, 1–3 threads.
    @Test func filterGradientThroughMaxPoolEqualsTheTwoSteps() {
        struct Case { var input: [Int]; var filters: Int; var kernel: Int; var stride: Int; var pad: Int; var pool: Window2D }
        let cases = [
            Case(input: [9, 1, 12, 12], filters: 6, kernel: 5, stride: 1, pad: 2, pool: Window2D(size: 2, stride: 2)),
            Case(input: [9, 3, 11, 11], filters: 16, kernel: 3, stride: 1, pad: 1, pool: Window2D(size: 2, stride: 2)),
            Case(input: [17, 2, 13, 13], filters: 5, kernel: 3, stride: 1, pad: 0, pool: Window2D(size: 3, stride: 2)),
            Case(input: [6, 2, 14, 14], filters: 4, kernel: 3, stride: 2, pad: 1, pool: Window2D(size: 2, stride: 2)),
            Case(input: [1, 1, 12, 12], filters: 6, kernel: 5, stride: 1, pad: 2, pool: Window2D(size: 2, stride: 2)),
        ]
        var g = SeededGenerator(seed: 53)
        for c in cases {
            let x = Tensor(randomNormal: c.input, using: &g)
            let w = Tensor(randomNormal: [c.filters, c.input[1], c.kernel, c.kernel], using: &g)
            let y = Tensor.conv2d(x, weight: w, stride: Size2D(c.stride), padding: Padding2D(c.pad))
            let (pooled, argmax) = Tensor.maxPool2d(y, window: c.pool)
            // ±0 anywhere; NaN and ±∞ only in filter 0's planes (a sum they enter is theirs whatever
            // else it holds), so the other filters' sums are compared as numbers.
            var gradientValues = Tensor(randomNormal: pooled.shape, using: &g).scalars
            let plane = pooled.shape[2] * pooled.shape[3]
            for i in Swift.stride(from: 2, to: gradientValues.count, by: 11) {
                gradientValues[i] = (i / plane) % c.filters == 0 ? [.nan, .infinity, -.infinity, -0.0, 0][i % 5] : [-0.0, 0][i % 2]
            }
            let pooledGradient = Tensor(shape: pooled.shape, scalars: gradientValues)
            let dwStart = Tensor(randomNormal: w.shape, using: &g), dbStart = Tensor(randomNormal: [c.filters], using: &g)
            for isa in KernelISAs.supported {
                for threads in 1...3 {
                    let what = "\(c.input) \(c.filters) filters \(c.kernel)x\(c.kernel)/\(c.stride) pool \(c.pool.size)/\(c.pool.stride) on \(KernelISAs.name(isa)), \(threads) threads"
                    withActiveISA(isa) {
                        var dw = dwStart, db = dbStart
                        let dy = Tensor.maxPool2dBackward(pooledGradient, argmax: argmax, inputShape: y.shape, window: c.pool, threads: threads)
                        Tensor.conv2dBackwardFilter(input: x, outputGradient: dy, stride: Size2D(c.stride), padding: Padding2D(c.pad),
                                                    weightGradient: &dw, biasGradient: &db, threads: threads)
                        var fw = dwStart, fb = dbStart
                        Tensor.conv2dBackwardFilterThroughMaxPool(input: x, pooledGradient: pooledGradient, argmax: argmax, window: c.pool,
                                                                  stride: Size2D(c.stride), padding: Padding2D(c.pad),
                                                                  weightGradient: &fw, biasGradient: &fb, threads: threads)
                        #expect(bitwiseEqual(fw.scalars, dw.scalars), "weight gradient, \(what)")
                        #expect(bitwiseEqual(fb.scalars, db.scalars), "bias gradient, \(what)")
                    }
                }
            }
        }
    }
}
