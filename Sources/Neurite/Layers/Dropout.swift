// Inverted dropout.

/// Inverted dropout with drop probability p (keyword `dropout:P`): during training each element is
/// kept with probability 1 − p and scaled by 1/(1 − p), so inference is the identity and needs no
/// rescaling. Backward multiplies by the same mask: ∇x E = ∇h E ⊙ mask.
///
/// Masks are drawn from the training step's random stream for this layer (`LayerStep.randomSeed`,
/// a function of the model's seed, the layer's index and the step number), so a layer holds no
/// generator state: a resumed run draws the same masks, and concurrent steps never share one.
public final class Dropout: Layer {
    public static let keyword = "dropout"
    public static let syntax = "dropout:RATE"
    /// Probability of dropping an element, in [0, 1).
    public let rate: Float

    /// Dropout with drop probability `rate` in [0, 1).
    public init(rate: Float) {
        precondition(rate >= 0 && rate < 1, "Dropout rate must be in [0, 1), got \(rate)")
        self.rate = rate
    }

    public init(arguments a: LayerArguments, inputShape: [Int]) throws {
        rate = try a.float(0, name: "rate", field: "rate", expected: "a probability in [0, 1)", syntax: Self.syntax) { $0 >= 0 && $0 < 1 }
        try a.expectOnly(positional: 1, named: ["rate"], syntax: Self.syntax)
    }

    public var arguments: [String] { [floatText(rate)] }
    public var name: String { "Dropout(\(rate))" }
    public var initializationHint: InitializationHint { .transparent }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }

    // x → x ⊙ mask (training), x (inference)
    public func forward(_ input: Tensor, step: LayerStep?) -> Tensor {
        guard let s = step, rate > 0 else { return input }
        var g = SeededGenerator(seed: s.randomSeed)
        // Each 64-bit draw gives two 24-bit uniforms u (upper and lower halves): keep when
        // u < keep·2²⁴. Output and keep bits in one pass (Tensor.dropout).
        let (output, mask) = Tensor.dropout(input, keep: 1 - rate, generator: &g)
        s.dropoutMask = mask
        return output
    }

    // ∇h → ∇h ⊙ mask
    public func backward(_ gradient: Tensor, step: LayerStep) -> Tensor {
        guard rate > 0 else { return gradient }
        guard let mask = step.dropoutMask else { preconditionFailure("\(name).backward called without its training forward") }
        return mask.backward(gradient)
    }
}
