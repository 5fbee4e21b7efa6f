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

    // x: [N, C, …] → y: [N, C, …]
    public func forward(_ input: Tensor, step: LayerStep?) -> Tensor {
        guard let step else {
            return Tensor.batchNormInference(input, gamma: weight.view, beta: bias.view, mean: runningMean.value,
                                             variance: runningVariance.value, epsilon: epsilon)
        }
        let r = Tensor.batchNormTraining(input, gamma: weight.view, beta: bias.view, epsilon: epsilon)
        step.saved = [r.normalized, r.inverseStd, r.mean, r.unbiasedVariance]
        return r.output
    }

    // δ: [N, C, …] → ∇γ, ∇β; returns ∇x: [N, C, …]
    public func backward(_ delta: Tensor, step: LayerStep) -> Tensor {
        let xhat = step.savedTensor(0, name), invStd = step.savedTensor(1, name)
        let r = Tensor.batchNormBackward(delta, normalized: xhat, gamma: weight.view, inverseStd: invStd,
                                         inputGradient: step.needsInputGradient)
        // Into the gradient arena (shared views): overwritten, or added to when the context accumulates.
        let beta = step.gradientBeta
        func store(_ sums: Tensor, into parameter: Parameter) {
            var g = step.gradient(parameter)
            sums.withUnsafeBufferPointer { src in
                g.withUnsafeMutableBufferPointer { dst in for c in 0..<channels { dst[c] = beta * dst[c] + src[c] } }
            }
        }
        store(r.gamma, into: weight)
        store(r.beta, into: bias)
        return r.input ?? Tensor(shape: [0])
    }

    public func commit(_ step: LayerStep) {
        guard step.saved.count == 4 else { return }
        let mean = step.saved[2].scalars, variance = step.saved[3].scalars, k = momentum
        runningMean.value = Tensor(zip(runningMean.value.scalars, mean).map { (1 - k) * $0 + k * $1 })
        runningVariance.value = Tensor(zip(runningVariance.value.scalars, variance).map { (1 - k) * $0 + k * $1 })
        batchesTracked.value = Tensor(scalar: batchesTracked.value.scalar + 1)
    }
}
