// neurite-bench conv: the LeNet-5 and AlexNet layer shapes of design.md §5, plus pooling and LRN.

import ArgumentParser
import Neurite

/// One convolution layer of the benchmark set.
struct ConvCase {
    var name: String
    var batch: Int
    var input: [Int]          // C, H, W
    var filters: Int
    var kernel: Int
    var stride: Int
    var padding: Int

    var outputSize: Int { (input[1] + 2 * padding - kernel) / stride + 1 }
    /// Multiply-adds ×2 of the forward pass; backward (data + filter) is twice that.
    var forwardFlops: Double {
        2 * Double(batch * filters * outputSize * outputSize) * Double(input[0] * kernel * kernel)
    }

    static let all: [ConvCase] = [
        ConvCase(name: "lenet.conv1", batch: 64, input: [1, 28, 28], filters: 6, kernel: 5, stride: 1, padding: 2),
        ConvCase(name: "lenet.conv2", batch: 64, input: [6, 14, 14], filters: 16, kernel: 5, stride: 1, padding: 0),
        ConvCase(name: "alexnet.conv1", batch: 16, input: [3, 227, 227], filters: 96, kernel: 11, stride: 4, padding: 0),
        ConvCase(name: "alexnet.conv2", batch: 16, input: [96, 27, 27], filters: 256, kernel: 5, stride: 1, padding: 2),
        ConvCase(name: "alexnet.conv3", batch: 16, input: [256, 13, 13], filters: 384, kernel: 3, stride: 1, padding: 1),
        ConvCase(name: "alexnet.conv4", batch: 16, input: [384, 13, 13], filters: 384, kernel: 3, stride: 1, padding: 1),
        ConvCase(name: "alexnet.conv5", batch: 16, input: [384, 13, 13], filters: 256, kernel: 3, stride: 1, padding: 1),
    ]
}

struct ConvBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Convolution forward / backward, max pooling and LRN on the LeNet-5 and AlexNet layer shapes.",
        discussion: "Each convolution is first checked against the serial reference kernel on one image; timings are medians."
    )

    @OptionGroup var common: BenchOptions
    @Option(help: "Comma-separated layer names (default: all), e.g. lenet.conv2,alexnet.conv3.") var layers: String?

    func run() throws {
        common.printHeader("conv")
        let counts = try common.threadCounts()
        let wanted = layers.map { Set($0.split(separator: ",").map(String.init)) }
        if let w = wanted {
            let known = Set(ConvCase.all.map(\.name) + ["maxpool3x3s2", "maxpool2x2s2", "lrn"])
            if let bad = w.subtracting(known).first { throw ValidationError("unknown layer '\(bad)' (known: \(known.sorted().joined(separator: ", ")))") }
        }
        if !common.json {
            print(pad("layer", 16) + pad("pass", 18) + pad("batch", 7) + pad("threads", 9) + pad("ms", 10) + pad("GFLOP/s", 10) + pad("speed-up", 10))
        }
        var g = SeededGenerator(seed: 7)
        for c in ConvCase.all where wanted?.contains(c.name) ?? true {
            let x = Tensor(randomNormal: [c.batch] + c.input, using: &g)
            let w = Tensor(randomNormal: [c.filters, c.input[0], c.kernel, c.kernel], standardDeviation: 0.1, using: &g)
            let b = Tensor(randomNormal: [c.filters], using: &g)
            let stride = Size2D(c.stride), padding = Padding2D(c.padding)
            // Verify on the first image against the reference loops.
            let one = x.rows(0..<1)
            let fast = Tensor.conv2d(one, weight: w, bias: b, stride: stride, padding: padding)
            let slow = Kernels.conv2dReference(one, weight: w, bias: b, stride: stride, padding: padding)
            let err = zip(fast.scalars, slow.scalars).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
            guard err < 1e-3 else { throw ValidationError("verification failed: \(c.name) forward differs from the reference by \(err)") }
            let dy = Tensor(randomNormal: fast.shape.enumerated().map { $0.offset == 0 ? c.batch : $0.element }, using: &g)
            var base: [String: Double] = [:]
            for t in counts {
                let forward = measure(warmup: common.warmup, samples: common.repetitions) {
                    _ = Tensor.conv2d(x, weight: w, bias: b, stride: stride, padding: padding, threads: t)
                }
                let backward = measure(warmup: common.warmup, samples: common.repetitions) {
                    _ = Tensor.conv2dBackwardData(dy, weight: w, inputShape: x.shape, stride: stride, padding: padding, threads: t)
                    var dw = Tensor(shape: w.shape, repeating: 0), db = Tensor(shape: [c.filters], repeating: 0)
                    Tensor.conv2dBackwardFilter(input: x, outputGradient: dy, stride: stride, padding: padding,
                                                weightGradient: &dw, biasGradient: &db, threads: t)
                }
                let both = Timing(median: forward.median + backward.median, min: forward.min + backward.min, max: forward.max + backward.max)
                for (pass, time, flops) in [("forward", forward, c.forwardFlops), ("backward", backward, 2 * c.forwardFlops),
                                            ("forward+backward", both, 3 * c.forwardFlops)] {
                    let gflops = flops / time.median / 1e9
                    if base[pass] == nil { base[pass] = time.median }
                    report(c.name, pass, c.batch, t, time, gflops, base[pass]! / time.median)
                }
            }
        }
        try poolingAndLRN(counts, wanted, &g)
    }

    func report(_ layer: String, _ pass: String, _ batch: Int, _ t: Int, _ time: Timing, _ gflops: Double?, _ speedup: Double) {
        if common.json {
            print(Records.conv(layer: layer, pass: pass, batch: batch, threads: t, time: time, gflops: gflops, speedup: speedup))
        } else {
            print(pad(layer, 16) + pad(pass, 18) + pad("\(batch)", 7) + pad("\(t)", 9) + pad(fixed(time.ms, 3), 10)
                  + pad(gflops.map { fixed($0, 1) } ?? "-", 10) + pad(fixed(speedup, 2) + "×", 10))
        }
    }

    func poolingAndLRN(_ counts: [Int], _ wanted: Set<String>?, _ g: inout SeededGenerator) throws {
        let cases: [(String, [Int], Window2D)] = [
            ("maxpool3x3s2", [16, 96, 55, 55], Window2D(size: 3, stride: 2)),
            ("maxpool2x2s2", [64, 6, 28, 28], Window2D(size: 2, stride: 2)),
        ]
        for (name, shape, window) in cases where wanted?.contains(name) ?? true {
            let x = Tensor(randomNormal: shape, using: &g)
            let one = x.rows(0..<1)
            guard Tensor.maxPool2d(one, window: window).output == Kernels.maxPool2dReference(one, window: window) else {
                throw ValidationError("verification failed: \(name) differs from the reference")
            }
            var base: Double?
            for t in counts {
                let time = measure(warmup: common.warmup, samples: common.repetitions) { _ = Tensor.maxPool2d(x, window: window, threads: t) }
                if base == nil { base = time.median }
                report(name, "forward", shape[0], t, time, nil, base! / time.median)
            }
            let (y, argmax) = Tensor.maxPool2d(x, window: window)
            let dy = Tensor(randomNormal: y.shape, using: &g)
            guard Tensor.maxPool2dBackward(dy, argmax: argmax, inputShape: shape, window: window)
                    == Kernels.maxPool2dBackwardReference(dy, argmax: argmax, inputShape: shape, window: window) else {
                throw ValidationError("verification failed: \(name) backward differs from the reference")
            }
            base = nil
            for t in counts {
                let time = measure(warmup: common.warmup, samples: common.repetitions) {
                    _ = Tensor.maxPool2dBackward(dy, argmax: argmax, inputShape: shape, window: window, threads: t)
                }
                if base == nil { base = time.median }
                report(name, "backward", shape[0], t, time, nil, base! / time.median)
            }
        }
        if wanted?.contains("lrn") ?? true {
            let x = Tensor(randomNormal: [16, 96, 27, 27], using: &g)
            var base: Double?
            for t in counts {
                let time = measure(warmup: common.warmup, samples: common.repetitions) {
                    _ = Tensor.localResponseNorm(x, size: 5, k: 2, alpha: 1e-4, beta: 0.75, threads: t)
                }
                if base == nil { base = time.median }
                report("lrn", "forward", 16, t, time, nil, base! / time.median)
            }
        }
    }
}
