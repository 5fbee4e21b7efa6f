// Inverted dropout.

/// Inverted dropout with drop probability p: during training each element is kept with
/// probability 1 − p and scaled by 1/(1 − p), so inference is the identity and needs no rescaling.
///
/// A fresh mask is drawn for every training batch from the layer's own seeded generator (its state
/// is saved in checkpoints, so a resumed run draws the same masks). Backward multiplies by the
/// same mask: ∇x E = ∇h E ⊙ mask.
public final class Dropout: ElementwiseLayer {
    /// Probability of dropping an element, in [0, 1).
    public let rate: Float
    public var needsInputGradient = true
    /// The generator masks are drawn from.
    public var generator: SeededGenerator
    /// When true, training batches reuse the last mask instead of drawing a new one (for
    /// gradient checks).
    public var freezesMask = false
    /// The last mask (elements 0 or 1/(1 − p)).
    public private(set) var mask: Tensor?

    public init(rate: Float, seed: UInt64 = 0x5EED) {
        precondition(rate >= 0 && rate < 1, "Dropout rate must be in [0, 1), got \(rate)")
        self.rate = rate
        generator = SeededGenerator(seed: seed)
    }

    public var name: String { "Dropout(\(rate))" }
    public var spec: LayerSpec { .dropout(rate: rate) }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        guard training, rate > 0 else { return input }
        if !(freezesMask && mask?.shape == input.shape) {
            let keep = 1 - rate, scale = 1 / keep
            mask = Tensor(shape: input.shape) { m in
                for i in 0..<m.count { m[i] = generator.nextUnitFloat() < keep ? scale : 0 }
            }
        }
        return input * mask!
    }

    public func backward(_ gradient: Tensor) -> Tensor {
        guard rate > 0, let m = mask else { return gradient }
        return gradient * m
    }
}
