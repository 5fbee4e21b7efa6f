// Maxout: k affine pieces per unit, output = the largest piece.

/// Maxout(inputs → outputs, k pieces): zᵤₚ = Wᵤₚ·x + bᵤₚ for p = 1…k, hᵤ = maxₚ zᵤₚ.
///
/// The weights W: [(outputs·k) × inputs] hold unit u's pieces in rows u·k …  u·k + k − 1.
/// Backward routes ∇hᵤ E to the winning piece only (ties: the first piece wins, deterministically),
/// then applies the Dense rules to the pieces: ∇W = δᵀ·X, ∇b = Σ δ, ∇X = δ·W.
public final class Maxout: Layer {
    public let inputs: Int
    public let outputs: Int
    public let pieces: Int
    public let weight: Parameter
    public let bias: Parameter
    public var needsInputGradient = true
    private var lastInput: Tensor?
    private var winners: [Int32] = []

    public init(inputs: Int, outputs: Int, pieces: Int = 2, initializer: Initializer = .glorotUniform,
                generator: inout SeededGenerator) {
        precondition(inputs > 0 && outputs > 0 && pieces > 0, "Maxout sizes must be positive")
        self.inputs = inputs
        self.outputs = outputs
        self.pieces = pieces
        weight = Parameter(name: "weight", value: initializer.make([outputs * pieces, inputs], fanIn: inputs,
                                                                   fanOut: outputs, using: &generator))
        bias = Parameter(name: "bias", value: Tensor(shape: [outputs * pieces], repeating: 0), isBias: true)
    }

    public var name: String { "Maxout(\(inputs)→\(outputs)×\(pieces))" }
    public var parameters: [Parameter] { [weight, bias] }
    public var spec: LayerSpec { .maxout(inputs: inputs, outputs: outputs, pieces: pieces) }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape == [inputs] else { throw ShapeError(layer: name, expected: "[\(inputs)]", found: inputShape) }
        return [outputs]
    }

    // X: [B × in] → Z = X·Wᵀ + b: [B × out·k] → H: [B × out]
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        checkInput(input, [inputs], name)
        let b = input.rowCount, k = pieces, u = outputs
        let z = affineForward(input, weight: weight, bias: bias)
        var win = [Int32](repeating: 0, count: b * u)
        let h = Tensor(shape: [b, u]) { hp in
            z.withUnsafeBufferPointer { zp in
                for i in 0..<(b * u) {
                    var best = zp[i * k], arg = 0
                    for p in 1..<max(k, 1) where zp[i * k + p] > best { best = zp[i * k + p]; arg = p }
                    hp[i] = best
                    win[i] = Int32(arg)
                }
            }
        }
        if training { lastInput = input; winners = win }
        return h
    }

    // ∇H: [B × out] → δ: [B × out·k] (non-zero at the winners) → Dense rules
    public func backward(_ gradient: Tensor) -> Tensor {
        guard let x = lastInput else { preconditionFailure("\(name).backward called before a training forward") }
        let b = x.rowCount, k = pieces, u = outputs
        let delta = Tensor(shape: [b, u * k]) { dp in
            dp.update(repeating: 0)
            gradient.withUnsafeBufferPointer { gp in
                for i in 0..<(b * u) { dp[i * k + Int(winners[i])] = gp[i] }
            }
        }
        return affineBackward(delta, input: x, weight: weight, bias: bias, needsInputGradient: needsInputGradient)
    }
}
