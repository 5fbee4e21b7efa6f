// Activation layers h = g(a), applied element-wise. Each backward is δ = ∇h E ⊙ g′(a), computed in
// one fused pass (from the saved input a, or from the output h where g′ is cheaper that way).

/// Shape-preserving layers share these conformances.
public protocol ElementwiseLayer: Layer {}

extension ElementwiseLayer {
    public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
}

/// Logistic sigmoid h = 1 / (1 + e⁻ᵃ); g′(a) = h (1 − h).
public final class Sigmoid: ElementwiseLayer {
    public var needsInputGradient = true
    private var output: Tensor?
    public init() {}
    public var name: String { "Sigmoid" }
    public var spec: LayerSpec { .sigmoid }
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let h = input.sigmoid()
        if training { output = h }
        return h
    }
    public func backward(_ gradient: Tensor) -> Tensor {
        Tensor.sigmoidBackward(output: output!, gradient: gradient)
    }
}

/// Hyperbolic tangent h = tanh(a); g′(a) = 1 − h².
public final class Tanh: ElementwiseLayer {
    public var needsInputGradient = true
    private var output: Tensor?
    public init() {}
    public var name: String { "Tanh" }
    public var spec: LayerSpec { .tanh }
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let h = input.tanh()
        if training { output = h }
        return h
    }
    public func backward(_ gradient: Tensor) -> Tensor {
        Tensor.tanhBackward(output: output!, gradient: gradient)
    }
}

/// Rectified linear unit h = max(0, a); g′(a) = 1 for a > 0, else 0.
public final class ReLU: ElementwiseLayer {
    public var needsInputGradient = true
    private var input: Tensor?
    public init() {}
    public var name: String { "ReLU" }
    public var spec: LayerSpec { .relu }
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        if training { self.input = input }
        return input.relu()
    }
    public func backward(_ gradient: Tensor) -> Tensor {
        Tensor.reluBackward(input: input!, gradient: gradient)
    }
}

/// Leaky ReLU h = max(slope·a, a) (slope 0.1 by default, as in the course); g′(a) = 1 for a > 0,
/// else slope.
public final class LeakyReLU: ElementwiseLayer {
    public var needsInputGradient = true
    public let slope: Float
    private var input: Tensor?
    public init(slope: Float = 0.1) { self.slope = slope }
    public var name: String { "LeakyReLU(\(slope))" }
    public var spec: LayerSpec { .leakyRelu(slope: slope) }
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        if training { self.input = input }
        return input.leakyRelu(slope: slope)
    }
    public func backward(_ gradient: Tensor) -> Tensor {
        Tensor.leakyReluBackward(input: input!, gradient: gradient, slope: slope)
    }
}

/// Exponential linear unit h = a for a > 0, α(eᵃ − 1) otherwise; g′(a) = 1 for a > 0, h + α otherwise.
public final class ELU: ElementwiseLayer {
    public var needsInputGradient = true
    public let alpha: Float
    private var input: Tensor?
    private var output: Tensor?
    public init(alpha: Float = 1) { self.alpha = alpha }
    public var name: String { "ELU(\(alpha))" }
    public var spec: LayerSpec { .elu(alpha: alpha) }
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let h = input.elu(alpha: alpha)
        if training { self.input = input; output = h }
        return h
    }
    public func backward(_ gradient: Tensor) -> Tensor {
        Tensor.eluBackward(input: input!, output: output!, gradient: gradient, alpha: alpha)
    }
}

/// Row-wise softmax hᵢ = e^{aᵢ} / Σⱼ e^{aⱼ} over the last axis. Its Jacobian-vector product is
/// ∇a E = h ⊙ (∇h E − ⟨∇h E, h⟩). For training a classifier prefer logits with
/// `SoftmaxCrossEntropy`, which fuses the two and is more stable.
public final class Softmax: ElementwiseLayer {
    public var needsInputGradient = true
    private var output: Tensor?
    public init() {}
    public var name: String { "Softmax" }
    public var spec: LayerSpec { .softmax }
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let h = input.softmax()
        if training { output = h }
        return h
    }
    public func backward(_ gradient: Tensor) -> Tensor {
        let h = output!
        let w = h.shape.last ?? 1
        var result = Tensor(uninitializedShape: h.shape)
        h.withUnsafeBufferPointer { hp in
            gradient.withUnsafeBufferPointer { gp in
                result.withUnsafeMutableBufferPointer { rp in
                    for r in 0..<(h.count / max(w, 1)) {
                        let o = r * w
                        var dot: Float = 0
                        for j in 0..<w { dot += gp[o + j] * hp[o + j] }
                        for j in 0..<w { rp[o + j] = hp[o + j] * (gp[o + j] - dot) }
                    }
                }
            }
        }
        return result
    }
}

/// Reshapes [B, …] to [B, product of …] (e.g. before the first dense layer of a CNN).
public final class Flatten: Layer {
    public var needsInputGradient = true
    private var inputShape: [Int] = []
    public init() {}
    public var name: String { "Flatten" }
    public var spec: LayerSpec { .flatten }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { [inputShape.reduce(1, *)] }
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        if training { inputShape = input.shape }
        return input.reshaped([input.rowCount, input.rowWidth])
    }
    public func backward(_ gradient: Tensor) -> Tensor { gradient.reshaped(inputShape) }
}
