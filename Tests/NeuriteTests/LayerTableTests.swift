import Foundation
import Testing
import Neurite
import TestSupport

/// One table of layer cases (test-backend-ops style): every case is built from its text form through
/// the registry and run in four modes — shape inference, forward against a naive Double reference,
/// finite-difference gradients (input and every parameter), and a checkpoint round trip (text form
/// and weights saved, reloaded, and giving bitwise the same outputs).
struct LayerCase: CustomTestStringConvertible, Sendable {
    /// The layer's text form.
    let spec: String
    /// Input shape without the batch dimension.
    let input: [Int]
    /// Expected output shape.
    let output: [Int]
    /// Inputs are drawn with |x| ≥ 0.1 (away from ReLU-like kinks) or as distinct values 0.01
    /// apart (no max-pool ties) — see `LayerTableTests.input`.
    var kinkFree = false
    var distinct = false
    /// Finite-difference step.
    var epsilon: Float = 1e-2
    /// Seed of the input (Maxout's is chosen so no two pieces come within 0.02 of each other).
    var seed: UInt64 = 7
    /// y = reference(x, parameters by name) for the whole batch, in Double.
    let reference: @Sendable (Tensor, [String: [Double]]) -> [Double]
    var testDescription: String { spec }
}

/// Naive references, indexed NCHW.
enum Naive {
    static func dense(_ x: Tensor, _ p: [String: [Double]], units: Int) -> [Double] {
        let n = x.rowCount, d = x.rowWidth, xs = x.scalars.map(Double.init), w = p["weight"]!, b = p["bias"]!
        var y = [Double](repeating: 0, count: n * units)
        for r in 0..<n { for o in 0..<units { y[r * units + o] = b[o] + (0..<d).reduce(0) { $0 + w[o * d + $1] * xs[r * d + $1] } } }
        return y
    }

    static func conv(_ x: Tensor, _ p: [String: [Double]], k: Int, kh: Int, kw: Int, stride: (Int, Int), pad: (Int, Int, Int, Int)) -> [Double] {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), xs = x.scalars.map(Double.init)
        let oh = (h + pad.0 + pad.1 - kh) / stride.0 + 1, ow = (w + pad.2 + pad.3 - kw) / stride.1 + 1
        let wt = p["weight"]!, b = p["bias"]!
        var y = [Double](repeating: 0, count: n * k * oh * ow)
        for b0 in 0..<n { for f in 0..<k { for i in 0..<oh { for j in 0..<ow {
            var s = b[f]
            for ch in 0..<c { for u in 0..<kh { for v in 0..<kw {
                let r = i * stride.0 - pad.0 + u, q = j * stride.1 - pad.2 + v
                if r >= 0 && r < h && q >= 0 && q < w { s += wt[((f * c + ch) * kh + u) * kw + v] * xs[((b0 * c + ch) * h + r) * w + q] }
            } } }
            y[((b0 * k + f) * oh + i) * ow + j] = s
        } } } }
        return y
    }

    static func pool(_ x: Tensor, size: Int, stride: Int, pad: Int, max: Bool) -> [Double] {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), xs = x.scalars.map(Double.init)
        let oh = (h + 2 * pad - size) / stride + 1, ow = (w + 2 * pad - size) / stride + 1
        var y: [Double] = []
        for plane in 0..<(n * c) { for i in 0..<oh { for j in 0..<ow {
            var best = -Double.infinity, sum = 0.0
            for u in 0..<size { for v in 0..<size {
                let r = i * stride - pad + u, q = j * stride - pad + v
                if r >= 0 && r < h && q >= 0 && q < w { let e = xs[(plane * h + r) * w + q]; best = Swift.max(best, e); sum += e }
            } }
            y.append(max ? best : sum / Double(size * size))
        } } }
        return y
    }

    static func elementwise(_ x: Tensor, _ f: (Double) -> Double) -> [Double] { x.scalars.map { f(Double($0)) } }

    static func softmax(_ x: Tensor) -> [Double] {
        let w = x.rowWidth, xs = x.scalars.map(Double.init)
        var y: [Double] = []
        for r in 0..<x.rowCount {
            let row = xs[(r * w)..<((r + 1) * w)], m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }, s = e.reduce(0, +)
            y += e.map { $0 / s }
        }
        return y
    }

    static func lrn(_ x: Tensor, size: Int, k: Double, alpha: Double, beta: Double) -> [Double] {
        let (n, c) = (x.shape[0], x.shape[1]), hw = x.count / (n * c), xs = x.scalars.map(Double.init)
        var y = [Double](repeating: 0, count: x.count)
        for b in 0..<n { for ch in 0..<c { for i in 0..<hw {
            var s = 0.0
            for cc in Swift.max(0, ch - size / 2)...Swift.min(c - 1, ch + (size - 1) / 2) { let v = xs[(b * c + cc) * hw + i]; s += v * v }
            y[(b * c + ch) * hw + i] = xs[(b * c + ch) * hw + i] / Foundation.pow(k + alpha / Double(size) * s, beta)
        } } }
        return y
    }

    /// Training-mode batch normalisation over [N, C, S].
    static func batchNorm(_ x: Tensor, _ p: [String: [Double]], eps: Double) -> [Double] {
        let (n, c) = (x.shape[0], x.shape[1]), s = x.count / (n * c), xs = x.scalars.map(Double.init)
        var y = [Double](repeating: 0, count: x.count)
        for ch in 0..<c {
            let idx = (0..<n).flatMap { b in (0..<s).map { (b * c + ch) * s + $0 } }
            let mean = idx.reduce(0) { $0 + xs[$1] } / Double(idx.count)
            let variance = idx.reduce(0) { $0 + (xs[$1] - mean) * (xs[$1] - mean) } / Double(idx.count)
            for i in idx { y[i] = p["weight"]![ch] * (xs[i] - mean) / (variance + eps).squareRoot() + p["bias"]![ch] }
        }
        return y
    }
}

let layerCases: [LayerCase] = [
    LayerCase(spec: "dense:5", input: [7], output: [5]) { Naive.dense($0, $1, units: 5) },
    LayerCase(spec: "maxout:4:3", input: [6], output: [4], epsilon: 1e-3, seed: 8) { x, p in
        let z = Naive.dense(x, p, units: 12)
        return (0..<(x.rowCount * 4)).map { i in (0..<3).map { z[i * 3 + $0] }.max()! }
    },
    LayerCase(spec: "conv:4:3x2:stride=2x1:pad=1x0x2x1", input: [3, 7, 6], output: [4, 3, 8]) {
        Naive.conv($0, $1, k: 4, kh: 3, kw: 2, stride: (2, 1), pad: (1, 0, 2, 1))
    },
    LayerCase(spec: "conv:3:1", input: [5, 4, 3], output: [3, 4, 3]) { Naive.conv($0, $1, k: 3, kh: 1, kw: 1, stride: (1, 1), pad: (0, 0, 0, 0)) },
    LayerCase(spec: "maxpool:3:stride=2", input: [3, 7, 7], output: [3, 3, 3], distinct: true, epsilon: 1e-3) { x, _ in
        Naive.pool(x, size: 3, stride: 2, pad: 0, max: true)
    },
    LayerCase(spec: "maxpool:3:stride=2:pad=1", input: [3, 7, 7], output: [3, 4, 4], distinct: true, epsilon: 1e-3) { x, _ in
        Naive.pool(x, size: 3, stride: 2, pad: 1, max: true)
    },
    LayerCase(spec: "avgpool:2", input: [3, 7, 8], output: [3, 3, 4]) { x, _ in Naive.pool(x, size: 2, stride: 2, pad: 0, max: false) },
    LayerCase(spec: "lrn:size=3:k=1:alpha=1.5", input: [6, 3, 4], output: [6, 3, 4]) { x, _ in Naive.lrn(x, size: 3, k: 1, alpha: 1.5, beta: 0.75) },
    LayerCase(spec: "lrn", input: [6, 3, 4], output: [6, 3, 4]) { x, _ in Naive.lrn(x, size: 5, k: 2, alpha: 1e-4, beta: 0.75) },
    LayerCase(spec: "batchnorm", input: [5], output: [5]) { Naive.batchNorm($0, $1, eps: 1e-5) },
    LayerCase(spec: "batchnorm:momentum=0.2:eps=0.001", input: [3, 4, 5], output: [3, 4, 5]) { Naive.batchNorm($0, $1, eps: 1e-3) },
    LayerCase(spec: "flatten", input: [2, 3, 4], output: [24]) { x, _ in x.scalars.map(Double.init) },
    LayerCase(spec: "sigmoid", input: [9], output: [9]) { x, _ in Naive.elementwise(x) { 1 / (1 + Foundation.exp(-$0)) } },
    LayerCase(spec: "tanh", input: [9], output: [9]) { x, _ in Naive.elementwise(x) { Foundation.tanh($0) } },
    LayerCase(spec: "relu", input: [9], output: [9], kinkFree: true) { x, _ in Naive.elementwise(x) { max(0, $0) } },
    LayerCase(spec: "leakyrelu", input: [9], output: [9], kinkFree: true) { x, _ in Naive.elementwise(x) { max(0.1 * $0, $0) } },
    LayerCase(spec: "elu:1.3", input: [9], output: [9], kinkFree: true) { x, _ in Naive.elementwise(x) { $0 > 0 ? $0 : 1.3 * Foundation.expm1($0) } },
    LayerCase(spec: "softmax", input: [9], output: [9]) { x, _ in Naive.softmax(x) },
    LayerCase(spec: "dropout:0.4", input: [8], output: [8]) { x, _ in x.scalars.map(Double.init) },   // inference: identity
]

@Suite struct LayerTableTests {
    static let gradientBound = 2e-2

    static func input(_ c: LayerCase, batch: Int = 3) -> Tensor {
        var g = SeededGenerator(seed: c.seed)
        let shape = [batch] + c.input
        if c.distinct {
            var values = (0..<Tensor.elementCount(shape)).map { Float($0) / 100 - 1 }
            values.shuffle(using: &g)
            return Tensor(shape: shape, scalars: values)
        }
        var t = Tensor(randomNormal: shape, using: &g)
        if c.kinkFree { t.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = p[i] < 0 ? min(p[i], -0.1) : max(p[i], 0.1) } } }
        return t
    }

    /// The case's model with non-trivial parameters (biases and BatchNorm's γ, β drawn too).
    static func model(_ c: LayerCase) throws -> Sequential {
        let m = try Sequential(c.spec, inputShape: c.input, seed: 3)
        var g = SeededGenerator(seed: 5)
        for p in m.parameters.parameters { p.value = Tensor(randomNormal: p.shape, standardDeviation: 0.5, using: &g) + (p.name == "weight" && c.spec.hasPrefix("batchnorm") ? 1 : 0) }
        return m
    }

    static func named(_ m: Sequential) -> [String: [Double]] {
        Dictionary(uniqueKeysWithValues: m.parameters.parameters.map { ($0.name, $0.value.scalars.map(Double.init)) })
    }

    @Test(arguments: layerCases)
    func shapeInference(_ c: LayerCase) throws {
        let m = try Self.model(c)
        #expect(m.outputShape == c.output)
        #expect(m(Self.input(c)).shape == [3] + c.output)
        #expect(m.layers.count == 1 && m.spec == c.spec, "the text form rebuilds the layer: \(m.spec)")
    }

    @Test(arguments: layerCases)
    func forwardMatchesNaiveReference(_ c: LayerCase) throws {
        let m = try Self.model(c)
        let x = Self.input(c)
        // BatchNorm's reference is its training mode; every other layer is checked in inference.
        let y = c.spec.hasPrefix("batchnorm") ? m.forward(x, context: m.makeTrainingContext()) : m(x)
        let err = maxRelativeError(y.scalars, c.reference(x, Self.named(m)).map(Float.init))
        #expect(err < 2e-5, "\(c.spec): max relative error \(err)")
    }

    @Test(arguments: layerCases)
    func gradientsMatchFiniteDifferences(_ c: LayerCase) throws {
        let m = try Self.model(c)
        let r = GradientCheck.model(m, input: Self.input(c), epsilon: c.epsilon, samples: 60)
        #expect(Set(r.errors.keys) == Set(["input"] + m.parameters.parameters.map(\.qualifiedName)))
        #expect(r.worst < Self.gradientBound, "\(c.spec): \(r.description)")
    }

    @Test(arguments: layerCases)
    func checkpointRoundTrip(_ c: LayerCase) throws {
        let m = try Self.model(c)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("layer-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint.save(model: m, loss: MeanSquaredError(), classCount: 0, to: path)
        let loaded = try Checkpoint.load(path)
        #expect(loaded.model.spec == c.spec)
        #expect(loaded.model.parameters.values.scalars.map(\.bitPattern) == m.parameters.values.scalars.map(\.bitPattern))
        let x = Self.input(c)
        #expect(loaded.model(x).scalars.map(\.bitPattern) == m(x).scalars.map(\.bitPattern))
    }

    @Test func everyRegisteredLayerHasACase() {
        let covered = Set(layerCases.map { $0.spec.split(separator: ":")[0] })
        for keyword in LayerRegistry.syntaxSummary.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).split(separator: ":")[0].split(separator: "[")[0] }) {
            #expect(covered.contains(keyword), "no layer case for \(keyword)")
        }
    }
}
