// Maxout: k affine pieces per unit, output = the largest piece.

/// Maxout(inputs → outputs, k pieces): zᵤₚ = Wᵤₚ·x + bᵤₚ for p = 1…k, hᵤ = maxₚ zᵤₚ
/// (keyword `maxout:UNITS[:PIECES]`, 2 pieces by default).
///
/// The weights W: [(outputs·k) × inputs] hold unit u's pieces in rows u·k …  u·k + k − 1.
/// Backward routes ∇hᵤ E to the winning piece only (ties: the first piece wins, deterministically),
/// then applies the Dense rules to the pieces: ∇W = δᵀ·X, ∇b = Σ δ, ∇X = δ·W.
public final class Maxout: Layer {
    public static let keyword = "maxout"
    public static let syntax = "maxout:UNITS[:PIECES]"
    /// Input features.
    public let inputs: Int
    /// Output units.
    public let outputs: Int
    /// Affine pieces per unit.
    public let pieces: Int
    /// W: [(outputs·pieces) × inputs].
    public let weight: Parameter
    /// b: [outputs·pieces].
    public let bias: Parameter

    /// A maxout layer with weights from `initializer` drawn from `generator`, zero biases.
    public init(inputs: Int, outputs: Int, pieces: Int = 2, initializer: Initializer = .glorotUniform,
                generator: inout SeededGenerator) {
        precondition(inputs > 0 && outputs > 0 && pieces > 0, "Maxout sizes must be positive")
        self.inputs = inputs
        self.outputs = outputs
        self.pieces = pieces
        weight = Parameter(name: "weight", shape: [outputs * pieces, inputs], decays: true)
        bias = Parameter(name: "bias", shape: [outputs * pieces], decays: false)
        initialize(initializer, using: &generator)
    }

    public init(arguments a: LayerArguments, inputShape: [Int]) throws {
        guard inputShape.count == 1 else {
            throw ShapeError(layer: a.text, expected: "[features] (put flatten before it)", found: inputShape)
        }
        outputs = try a.int(0, name: "units", field: "units", in: 1...ModelLimits.maxWidth, syntax: Self.syntax)
        pieces = try a.int(1, name: "pieces", field: "pieces", default: 2, in: 1...256, syntax: Self.syntax)
        try a.expectOnly(positional: 2, named: ["units", "pieces"], syntax: Self.syntax)
        guard outputs * pieces <= ModelLimits.maxWidth else {
            throw ModelError("layer '\(a.text)': units × pieces = \(outputs * pieces) exceeds \(ModelLimits.maxWidth)")
        }
        try checkWeightCount(outputs * pieces, inputShape[0], a.text)
        inputs = inputShape[0]
        weight = Parameter(name: "weight", shape: [outputs * pieces, inputs], decays: true)
        bias = Parameter(name: "bias", shape: [outputs * pieces], decays: false)
    }

    public var arguments: [String] { ["\(outputs)", "\(pieces)"] }
    public var name: String { "Maxout(\(inputs)→\(outputs)×\(pieces))" }
    public var parameters: [Parameter] { [weight, bias] }

    public func initialize(_ initializer: Initializer?, using g: inout SeededGenerator) {
        initializeAffine(weight: weight, bias: bias, fanIn: inputs, fanOut: outputs, initializer ?? .glorotUniform, &g)
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape == [inputs] else { throw ShapeError(layer: name, expected: "[\(inputs)]", found: inputShape) }
        return [outputs]
    }

    // X: [B × in] → Z = X·Wᵀ + b: [B × out·k] → H: [B × out]
    public func forward(_ input: Tensor, step: LayerStep?) -> Tensor {
        checkInput(input, [inputs], name)
        let b = input.rowCount, k = pieces, u = outputs
        let z = affineForward(input, weight: weight, bias: bias)
        var win = [Int32](repeating: 0, count: step == nil ? 0 : b * u)
        let h = Tensor(shape: [b, u]) { hp in
            z.withUnsafeBufferPointer { zp in
                for i in 0..<(b * u) {
                    var best = zp[i * k], arg = 0
                    for p in 1..<max(k, 1) where zp[i * k + p] > best { best = zp[i * k + p]; arg = p }
                    hp[i] = best
                    if !win.isEmpty { win[i] = Int32(arg) }
                }
            }
        }
        if let s = step { s.saved = [input]; s.indices = win }
        return h
    }

    // ∇H: [B × out] → δ: [B × out·k] (non-zero at the winners) → Dense rules
    public func backward(_ gradient: Tensor, step: LayerStep) -> Tensor {
        let x = step.savedTensor(0, name)
        let b = x.rowCount, k = pieces, u = outputs, winners = step.indices
        let delta = Tensor(shape: [b, u * k]) { dp in
            dp.update(repeating: 0)
            gradient.withUnsafeBufferPointer { gp in
                for i in 0..<(b * u) { dp[i * k + Int(winners[i])] = gp[i] }
            }
        }
        return affineBackward(delta, input: x, weight: weight, bias: bias, step: step)
    }
}
