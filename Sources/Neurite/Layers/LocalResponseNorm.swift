// Local response normalisation across channels.

/// Local response normalisation across channels (AlexNet §3.3); keyword
/// `lrn[:size=N][:k=K][:alpha=A][:beta=B]` (defaults 5, 2, 1e-4, 0.75):
///
///     y_c = x_c / (k + alpha/size · Σ_{c' = c − size/2}^{c + (size−1)/2} x_{c'}²)^beta
///
/// alpha is divided by `size`, as in PyTorch and Caffe (whose AlexNet uses alpha = 1e-4); the paper
/// writes k + α·Σ, so its exact constant is alpha = size · 1e-4 here.
public final class LocalResponseNorm: Layer {
    public static let keyword = "lrn"
    public static let syntax = "lrn[:size=N][:k=K][:alpha=A][:beta=B]"
    /// Channels in each sum.
    public let size: Int
    /// Additive constant.
    public let k: Float
    /// Scale of the sum of squares (divided by `size`).
    public let alpha: Float
    /// Exponent.
    public let beta: Float

    /// Defaults are AlexNet's: size 5, k 2, alpha 1e-4, beta 0.75.
    public init(size: Int = 5, k: Float = 2, alpha: Float = 1e-4, beta: Float = 0.75) {
        precondition(size >= 1, "LocalResponseNorm: size must be at least 1, got \(size)")
        precondition(k > 0 && alpha >= 0, "LocalResponseNorm: k must be positive and alpha non-negative")
        self.size = size
        self.k = k
        self.alpha = alpha
        self.beta = beta
    }

    public init(arguments a: LayerArguments, inputShape: [Int]) throws {
        size = try a.int(0, name: "size", field: "size", default: 5, in: 1...4096, syntax: Self.syntax)
        k = try a.float(name: "k", field: "k", default: 2, expected: "a positive number", syntax: Self.syntax) { $0 > 0 }
        alpha = try a.float(name: "alpha", field: "alpha", default: 1e-4, expected: "a number ≥ 0", syntax: Self.syntax) { $0 >= 0 }
        beta = try a.float(name: "beta", field: "beta", default: 0.75, expected: "a number in [0, 16]", syntax: Self.syntax) { (0...16).contains($0) }
        try a.expectOnly(positional: 1, named: ["size", "k", "alpha", "beta"], syntax: Self.syntax)
    }

    public var arguments: [String] {
        var a: [String] = []
        if size != 5 { a.append("size=\(size)") }
        if k != 2 { a.append("k=\(floatText(k))") }
        if alpha != 1e-4 { a.append("alpha=\(floatText(alpha))") }
        if beta != 0.75 { a.append("beta=\(floatText(beta))") }
        return a
    }

    public var name: String { "LocalResponseNorm(\(size))" }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count >= 1, inputShape.allSatisfy({ $0 > 0 }) else {
            throw ShapeError(layer: name, expected: "[C, …] (channels first)", found: inputShape)
        }
        return inputShape
    }

    // x: [N, C, …] → y: [N, C, …] (and the scale k + α/n·Σx², for backward)
    public func forward(_ input: Tensor, step: LayerStep?) -> Tensor {
        let (y, scale) = Tensor.localResponseNorm(input, size: size, k: k, alpha: alpha, beta: beta)
        if let s = step { s.saved = [input, y, scale] }
        return y
    }

    // ∇y → ∇x (the same shape)
    public func backward(_ gradient: Tensor, step: LayerStep) -> Tensor {
        let x = step.savedTensor(0, name), y = step.savedTensor(1, name), scale = step.savedTensor(2, name)
        return Tensor.localResponseNormBackward(gradient, input: x, output: y, scale: scale, size: size, alpha: alpha, beta: beta)
    }
}
