// Batch normalisation, per feature after a dense layer and per channel after a convolution.

/// Batch normalisation (Ioffe & Szegedy 2015) with PyTorch's conventions; keyword
/// `batchnorm[:momentum=M][:eps=E]` (defaults 0.1 and 1e-5). For inputs [C] (after a dense layer)
/// each feature is normalised over the batch; for [C, H, W] (after a convolution) each channel over
/// the batch and all positions. With m values per channel:
///
///     training:  μ = (1/m) Σ x,  σ² = (1/m) Σ (x − μ)²,  x̂ = (x − μ)/√(σ² + ε),  y = γ x̂ + β
///                running_mean ← (1 − momentum)·running_mean + momentum·μ
///                running_var  ← (1 − momentum)·running_var  + momentum·σ²·m/(m − 1)
///     inference: y = γ (x − running_mean)/√(running_var + ε) + β
///
/// Backward (training statistics): ∇β = Σ δ, ∇γ = Σ δ·x̂, ∇x = γ/(m·√(σ² + ε)) · (m·δ − ∇β − x̂·∇γ).
/// γ and β are the parameters `weight` and `bias`; the buffers `running_mean`, `running_var` and
/// `num_batches_tracked` are saved in checkpoints under PyTorch's names, so a checkpoint loads into
/// `nn.BatchNorm1d` / `nn.BatchNorm2d` as it is. Running statistics change when a training step is
/// committed (`Sequential.commit`), not during forward, so concurrent steps never race on them.
public final class BatchNorm: Layer {
    public static let keyword = "batchnorm"
    public static let syntax = "batchnorm[:momentum=M][:eps=E]"
    /// Features (dense inputs) or channels (convolution inputs).
    public let channels: Int
    /// Weight of the newest batch in the running statistics, in (0, 1].
    public let momentum: Float
    /// ε added to the variance.
    public let epsilon: Float
    /// γ: [channels], initially 1.
    public let weight: Parameter
    /// β: [channels], initially 0.
    public let bias: Parameter
    /// Running mean: [channels].
    public let runningMean: Buffer
    /// Running (unbiased) variance: [channels].
    public let runningVariance: Buffer
    /// Training steps committed so far (a scalar, as PyTorch stores it).
    public let batchesTracked: Buffer

    /// Batch normalisation over `channels` features or channels.
    public init(channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        precondition(channels > 0 && momentum > 0 && momentum <= 1 && epsilon > 0, "BatchNorm: invalid configuration")
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
        weight = Parameter(name: "weight", value: Tensor(shape: [channels], repeating: 1), decays: false)
        bias = Parameter(name: "bias", shape: [channels], decays: false)
        runningMean = Buffer(name: "running_mean", value: Tensor(shape: [channels], repeating: 0))
        runningVariance = Buffer(name: "running_var", value: Tensor(shape: [channels], repeating: 1))
        batchesTracked = Buffer(name: "num_batches_tracked", value: Tensor(scalar: 0))
    }

    public convenience init(arguments a: LayerArguments, inputShape: [Int]) throws {
        guard inputShape.count == 1 || inputShape.count == 3 else {
            throw ShapeError(layer: a.text, expected: "[features] or [channels, height, width]", found: inputShape)
        }
        let momentum = try a.float(name: "momentum", field: "momentum", default: 0.1, expected: "a number in (0, 1]",
                                   syntax: Self.syntax) { $0 > 0 && $0 <= 1 }
        let epsilon = try a.float(name: "eps", field: "eps", default: 1e-5, expected: "a number in (0, 1]",
                                  syntax: Self.syntax) { $0 > 0 && $0 <= 1 }
        try a.expectOnly(positional: 0, named: ["momentum", "eps"], syntax: Self.syntax)
        self.init(channels: inputShape[0], momentum: momentum, epsilon: epsilon)
    }

    public var arguments: [String] {
        var a: [String] = []
        if momentum != 0.1 { a.append("momentum=\(floatText(momentum))") }
        if epsilon != 1e-5 { a.append("eps=\(floatText(epsilon))") }
        return a
    }

    public var name: String { "BatchNorm(\(channels))" }
    public var parameters: [Parameter] { [weight, bias] }
    public var buffers: [Buffer] { [runningMean, runningVariance, batchesTracked] }
    public var initializationHint: InitializationHint { .transparent }

    public func initialize(_ initializer: Initializer?, using generator: inout SeededGenerator) {
        weight.value = Tensor(shape: [channels], repeating: 1)
        bias.value = Tensor(shape: [channels], repeating: 0)
        runningMean.value = Tensor(shape: [channels], repeating: 0)
        runningVariance.value = Tensor(shape: [channels], repeating: 1)
        batchesTracked.value = Tensor(scalar: 0)
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard (inputShape.count == 1 || inputShape.count == 3), inputShape[0] == channels else {
            throw ShapeError(layer: name, expected: "[\(channels)] or [\(channels), H, W]", found: inputShape)
        }
        return inputShape
    }

    /// (batch, positions per channel) of an input [N, C] or [N, C, H, W].
    private func extents(_ x: Tensor) -> (n: Int, s: Int) {
        precondition(x.rank >= 2 && x.shape[1] == channels, "layer \(name) expects [batch, \(channels), …] but got \(x.shape)")
        return (x.shape[0], x.shape.dropFirst(2).reduce(1, *))
    }

    /// Calls `body(c, plane)` for every plane of channel c, in batch order.
    private func forEachPlane(_ p: UnsafePointer<Float>, n: Int, s: Int, _ c: Int, _ body: (UnsafePointer<Float>) -> Void) {
        for b in 0..<n { body(p + (b * channels + c) * s) }
    }

    // x: [N, C, …] → y: [N, C, …]
    public func forward(_ input: Tensor, step: LayerStep?) -> Tensor {
        let (n, s) = extents(input)
        let gamma = weight.view, beta = bias.view
        var y = Tensor(uninitializedShape: input.shape)
        guard let step else {
            let mean = runningMean.value.scalars, variance = runningVariance.value.scalars
            let gs = gamma.scalars, bs = beta.scalars
            input.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    for c in 0..<channels {
                        let inv = 1 / (variance[c] + epsilon).squareRoot()
                        let scale = gs[c] * inv, shift = bs[c] - mean[c] * scale
                        for b in 0..<n {
                            let o = (b * channels + c) * s
                            for i in 0..<s { yp[o + i] = xp[o + i] * scale + shift }
                        }
                    }
                }
            }
            return y
        }
        let m = Double(n * s)
        var means = [Float](repeating: 0, count: channels), invStd = means, unbiased = means
        var xhat = Tensor(uninitializedShape: input.shape)
        let g = gamma.scalars, bt = beta.scalars
        input.withUnsafeBufferPointer { xp in
            xhat.withUnsafeMutableBufferPointer { hp in
                y.withUnsafeMutableBufferPointer { yp in
                    for c in 0..<channels {
                        var sum = 0.0
                        forEachPlane(xp.baseAddress!, n: n, s: s, c) { sum += planeSum($0, s) { $0 } }
                        let mu = Float(sum / m)
                        var sq = 0.0
                        forEachPlane(xp.baseAddress!, n: n, s: s, c) { sq += planeSum($0, s) { ($0 - mu) * ($0 - mu) } }
                        let variance = sq / m
                        let inv = Float(1 / (variance + Double(epsilon)).squareRoot())
                        means[c] = mu
                        invStd[c] = inv
                        unbiased[c] = Float(m > 1 ? sq / (m - 1) : variance)
                        for b in 0..<n {
                            let o = (b * channels + c) * s
                            for i in 0..<s {
                                let h = (xp[o + i] - mu) * inv
                                hp[o + i] = h
                                yp[o + i] = g[c] * h + bt[c]
                            }
                        }
                    }
                }
            }
        }
        step.saved = [xhat, Tensor(invStd), Tensor(means), Tensor(unbiased)]
        return y
    }

    // δ: [N, C, …] → ∇γ, ∇β; returns ∇x: [N, C, …]
    public func backward(_ delta: Tensor, step: LayerStep) -> Tensor {
        let xhat = step.savedTensor(0, name), invStd = step.savedTensor(1, name).scalars
        let (n, s) = extents(delta)
        let m = Float(n * s), g = weight.view.scalars, beta = step.gradientBeta
        var dgamma = step.gradient(weight), dbeta = step.gradient(bias)
        var dx = Tensor(uninitializedShape: delta.shape)
        delta.withUnsafeBufferPointer { dp in
            xhat.withUnsafeBufferPointer { hp in
                dx.withUnsafeMutableBufferPointer { xp in
                    dgamma.withUnsafeMutableBufferPointer { dg in
                        dbeta.withUnsafeMutableBufferPointer { db in
                            for c in 0..<channels {
                                var sumD = 0.0, sumDH = 0.0
                                for b in 0..<n {
                                    let o = (b * channels + c) * s
                                    sumD += planeSum(dp.baseAddress! + o, s) { $0 }
                                    sumDH += planeDot(dp.baseAddress! + o, hp.baseAddress! + o, s)
                                }
                                let sd = Float(sumD), sdh = Float(sumDH)
                                db[c] = beta * db[c] + sd
                                dg[c] = beta * dg[c] + sdh
                                let k = g[c] * invStd[c] / m
                                for b in 0..<n {
                                    let o = (b * channels + c) * s
                                    for i in 0..<s { xp[o + i] = k * (m * dp[o + i] - sd - hp[o + i] * sdh) }
                                }
                            }
                        }
                    }
                }
            }
        }
        return step.needsInputGradient ? dx : Tensor(shape: [0])
    }

    public func commit(_ step: LayerStep) {
        guard step.saved.count == 4 else { return }
        let mean = step.saved[2].scalars, variance = step.saved[3].scalars, k = momentum
        runningMean.value = Tensor(zip(runningMean.value.scalars, mean).map { (1 - k) * $0 + k * $1 })
        runningVariance.value = Tensor(zip(runningVariance.value.scalars, variance).map { (1 - k) * $0 + k * $1 })
        batchesTracked.value = Tensor(scalar: batchesTracked.value.scalar + 1)
    }
}

/// Σ f(p[i]) over a plane of `count` floats: 16 float lanes, then a Double total (accurate and
/// independent of threads).
@inline(__always)
private func planeSum(_ p: UnsafePointer<Float>, _ count: Int, _ f: (Float) -> Float) -> Double {
    var lanes = SIMD16<Float>()
    var i = 0
    while i + 16 <= count {
        var v = SIMD16<Float>()
        for j in 0..<16 { v[j] = f(p[i + j]) }
        lanes += v
        i += 16
    }
    var total = Double(lanes.sum())
    while i < count { total += Double(f(p[i])); i += 1 }
    return total
}

/// Σ a[i]·b[i] over `count` floats, as `planeSum`.
@inline(__always)
private func planeDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Double {
    var lanes = SIMD16<Float>()
    var i = 0
    while i + 16 <= count {
        lanes += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
        i += 16
    }
    var total = Double(lanes.sum())
    while i < count { total += Double(a[i] * b[i]); i += 1 }
    return total
}
