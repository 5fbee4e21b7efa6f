// Dense (fully connected) layer: y = W·x + b, batched as one GEMM.

/// A fully connected layer with weights W: [outputs × inputs] and bias b: [outputs]
/// (keyword `dense:UNITS`; the input width comes from the previous layer).
///
/// For a batch X: [B × inputs] the forward pass is Y = X·Wᵀ + b (one GEMM, b added to every row).
/// A Dense layer is the affine part a = W·h₋₁ + b of a neuron; the non-linearity g is a separate
/// activation layer, whose backward pass turns ∇h E into δ = ∇h E ⊙ g′(a). Given δ: [B × outputs]
/// (the gradient with respect to this layer's output a), the classic backpropagation step is
///
///     ∇b E = Σ_batch δ            (bias gradient: δ summed over the batch)
///     ∇W E = δᵀ · H₋₁             ([outputs × inputs], the batched form of δ h₋₁ᵀ)
///     ∇h₋₁ E = δ · W              ([B × inputs], the batched form of Wᵀ δ)
public final class Dense: Layer {
    public static let keyword = "dense"
    public static let syntax = "dense:UNITS"
    /// Input features.
    public let inputs: Int
    /// Output units.
    public let outputs: Int
    /// W: [outputs × inputs].
    public let weight: Parameter
    /// b: [outputs].
    public let bias: Parameter

    /// A dense layer from `inputs` to `outputs` units, weights drawn with `initializer` from a
    /// generator seeded with `seed`, zero biases: `Dense(784, 256)`.
    public convenience init(_ inputs: Int, _ outputs: Int, initializer: Initializer = .glorotUniform, seed: UInt64 = 0) {
        var g = SeededGenerator(seed: seed)
        self.init(inputs: inputs, outputs: outputs, initializer: initializer, generator: &g)
    }

    /// A dense layer with weights from `initializer` drawn from `generator`, zero biases.
    public init(inputs: Int, outputs: Int, initializer: Initializer = .glorotUniform, generator: inout SeededGenerator) {
        precondition(inputs > 0 && outputs > 0, "Dense(\(inputs)→\(outputs)): sizes must be positive")
        self.inputs = inputs
        self.outputs = outputs
        weight = Parameter(name: "weight", shape: [outputs, inputs], decays: true)
        bias = Parameter(name: "bias", shape: [outputs], decays: false)
        initialize(initializer, using: &generator)
    }

    public init(arguments a: LayerArguments, inputShape: [Int]) throws {
        guard inputShape.count == 1 else {
            throw ShapeError(layer: a.text, expected: "[features] (put flatten before it)", found: inputShape)
        }
        outputs = try a.int(0, name: "units", field: "units", in: 1...ModelLimits.maxWidth, syntax: Self.syntax)
        try a.expectOnly(positional: 1, named: ["units"], syntax: Self.syntax)
        try checkWeightCount(outputs, inputShape[0], a.text)
        inputs = inputShape[0]
        weight = Parameter(name: "weight", shape: [outputs, inputs], decays: true)
        bias = Parameter(name: "bias", shape: [outputs], decays: false)
    }

    public var arguments: [String] { ["\(outputs)"] }
    public var name: String { "Dense(\(inputs)→\(outputs))" }
    public var parameters: [Parameter] { [weight, bias] }

    public func initialize(_ initializer: Initializer?, using g: inout SeededGenerator) {
        initializeAffine(weight: weight, bias: bias, fanIn: inputs, fanOut: outputs, initializer ?? .glorotUniform, &g)
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape == [inputs] else { throw ShapeError(layer: name, expected: "[\(inputs)]", found: inputShape) }
        return [outputs]
    }

    // X: [B × in] → Y = X·Wᵀ + b: [B × out]
    public func forward(_ input: Tensor, step: LayerStep?) -> Tensor { affine(input, step: step, relu: false) }

    private func affine(_ input: Tensor, step: LayerStep?, relu: Bool) -> Tensor {
        checkInput(input, [inputs], name)
        step?.saved = [input]
        return affineForward(input, weight: weight, bias: bias, relu: relu)
    }

    // δ: [B × out] → ∇W = δᵀ·X, ∇b = Σ δ; returns ∇X = δ·W: [B × in]
    public func backward(_ delta: Tensor, step: LayerStep) -> Tensor {
        affineBackward(delta, input: step.savedTensor(0, name), weight: weight, bias: bias, step: step)
    }
}

extension Dense: FusesFollowingReLU, FusesPrecedingReLUBackward {
    // X: [B × in] → h = ReLU(X·Wᵀ + b): [B × out], the ReLU in the GEMM's epilogue
    func forwardThroughReLU(_ input: Tensor, step: LayerStep?, reluStep: LayerStep?) -> Tensor {
        let h = affine(input, step: step, relu: true)
        reluStep?.saved = [h]
        return h
    }

    var fusesDropoutBetween: Bool { true }

    // δ: [B × out] → ∇W, ∇b as backward; returns ∇X ⊙ mask ⊙ [h > 0]: [B × in] for a dropout mask
    // (if any) and the ReLU output h before it, both in the GEMM's epilogue
    func backwardThroughReLU(_ delta: Tensor, step: LayerStep, dropout: DropoutMask?, reluOutput h: Tensor) -> Tensor {
        affineBackward(delta, input: step.savedTensor(0, name), weight: weight, bias: bias, step: step, dropout: dropout, gate: h)
    }
}
