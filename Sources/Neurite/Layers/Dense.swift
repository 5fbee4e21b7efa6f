// Dense (fully connected) layer: y = W·x + b, batched as one GEMM.

/// A fully connected layer with weights W: [outputs × inputs] and bias b: [outputs].
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
    /// Input features.
    public let inputs: Int
    /// Output units.
    public let outputs: Int
    /// W: [outputs × inputs].
    public let weight: Parameter
    /// b: [outputs].
    public let bias: Parameter
    public var needsInputGradient = true
    private var lastInput: Tensor?

    /// A dense layer with weights from `initializer` and zero biases.
    public init(inputs: Int, outputs: Int, initializer: Initializer = .glorotUniform,
                generator: inout SeededGenerator) {
        precondition(inputs > 0 && outputs > 0, "Dense(\(inputs)→\(outputs)): sizes must be positive")
        self.inputs = inputs
        self.outputs = outputs
        weight = Parameter(name: "weight",
                           value: initializer.make([outputs, inputs], fanIn: inputs, fanOut: outputs, using: &generator))
        bias = Parameter(name: "bias", value: Tensor(shape: [outputs], repeating: 0), isBias: true)
    }

    public var name: String { "Dense(\(inputs)→\(outputs))" }
    public var parameters: [Parameter] { [weight, bias] }
    public var spec: LayerSpec { .dense(inputs: inputs, outputs: outputs) }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape == [inputs] else { throw ShapeError(layer: name, expected: "[\(inputs)]", found: inputShape) }
        return [outputs]
    }

    // X: [B × in] → Y = X·Wᵀ + b: [B × out]
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        checkInput(input, [inputs], name)
        let y = affineForward(input, weight: weight, bias: bias)
        if training { lastInput = input }
        return y
    }

    // δ: [B × out] → accumulates ∇W += δᵀ·X, ∇b += Σ δ; returns ∇X = δ·W: [B × in]
    public func backward(_ delta: Tensor) -> Tensor {
        guard let x = lastInput else { preconditionFailure("\(name).backward called before a training forward") }
        return affineBackward(delta, input: x, weight: weight, bias: bias, needsInputGradient: needsInputGradient)
    }
}
