// Activation layers h = g(a), applied element-wise: one generic layer over a small rule type that
// states g and its backward rule side by side. Each backward is δ = ∇h E ⊙ g′(a), computed in one
// fused pass from the saved input a or output h, whichever g′ is cheaper from.

/// An element-wise non-linearity g with its backward rule.
public protocol ActivationRule: Sendable {
    /// The keyword of the layer-list syntax ("relu").
    static var keyword: String { get }
    /// The syntax for help texts ("leakyrelu[:SLOPE]").
    static var syntax: String { get }
    /// The rule read from its text arguments (validated).
    init(arguments: LayerArguments) throws
    /// The arguments after the keyword that rebuild this rule.
    var arguments: [String] { get }
    /// "ReLU", "LeakyReLU(0.1)".
    var name: String { get }
    /// He initialisation suits weights followed by the ReLU family; Glorot the rest.
    var initializationHint: InitializationHint { get }
    /// What backward needs from forward.
    var keeps: ActivationKeeps { get }
    /// h = g(a).
    func apply(_ a: Tensor) -> Tensor
    /// ∇a E from ∇h E and what forward kept (`input` a and/or `output` h).
    func backward(input: Tensor?, output: Tensor?, gradient: Tensor) -> Tensor
}

/// Which tensors an activation's backward rule reads.
public enum ActivationKeeps: Sendable { case input, output, both }

extension ActivationRule {
    public var initializationHint: InitializationHint { .prefers(.glorotUniform) }
    public var arguments: [String] { [] }
}

/// The layer applying rule g element-wise; `ReLU()`, `Sigmoid()`, `LeakyReLU(slope:)` … name its
/// instances.
public final class Activation<Rule: ActivationRule>: Layer {
    public static var keyword: String { Rule.keyword }
    public static var syntax: String { Rule.syntax }
    /// The non-linearity.
    public let rule: Rule

    /// The layer applying `rule`.
    public init(_ rule: Rule) { self.rule = rule }
    public init(arguments a: LayerArguments, inputShape: [Int]) throws { rule = try Rule(arguments: a) }

    public var arguments: [String] { rule.arguments }
    public var name: String { rule.name }
    public var initializationHint: InitializationHint { rule.initializationHint }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }

    // a → h = g(a), same shape
    public func forward(_ input: Tensor, step: LayerStep?) -> Tensor {
        let h = rule.apply(input)
        if let s = step {
            switch rule.keeps {
            case .input: s.saved = [input]
            case .output: s.saved = [h]
            case .both: s.saved = [input, h]
            }
        }
        return h
    }

    // ∇h E → δ = ∇h E ⊙ g′(a)
    public func backward(_ gradient: Tensor, step: LayerStep) -> Tensor {
        let first = step.savedTensor(0, name)
        switch rule.keeps {
        case .input: return rule.backward(input: first, output: nil, gradient: gradient)
        case .output: return rule.backward(input: nil, output: first, gradient: gradient)
        case .both: return rule.backward(input: first, output: step.savedTensor(1, name), gradient: gradient)
        }
    }
}

/// Rules without arguments read none.
public protocol PlainActivationRule: ActivationRule { init() }
extension PlainActivationRule {
    public init(arguments a: LayerArguments) throws {
        try a.expectOnly(positional: 0, syntax: Self.syntax)
        self.init()
    }
    public static var syntax: String { keyword }
}

extension Activation where Rule: PlainActivationRule {
    /// The activation layer (e.g. `ReLU()`).
    public convenience init() { self.init(Rule()) }
}

/// Logistic sigmoid h = 1 / (1 + e⁻ᵃ); g′(a) = h (1 − h).
public struct SigmoidRule: PlainActivationRule {
    public static let keyword = "sigmoid"
    public init() {}
    public var name: String { "Sigmoid" }
    public var keeps: ActivationKeeps { .output }
    public func apply(_ a: Tensor) -> Tensor { a.sigmoid() }
    public func backward(input: Tensor?, output: Tensor?, gradient: Tensor) -> Tensor {
        Tensor.sigmoidBackward(output: output!, gradient: gradient)
    }
}

/// Hyperbolic tangent h = tanh(a); g′(a) = 1 − h².
public struct TanhRule: PlainActivationRule {
    public static let keyword = "tanh"
    public init() {}
    public var name: String { "Tanh" }
    public var keeps: ActivationKeeps { .output }
    public func apply(_ a: Tensor) -> Tensor { a.tanh() }
    public func backward(input: Tensor?, output: Tensor?, gradient: Tensor) -> Tensor {
        Tensor.tanhBackward(output: output!, gradient: gradient)
    }
}

/// Rectified linear unit h = max(0, a); g′(a) = 1 for a > 0, else 0.
public struct ReLURule: PlainActivationRule {
    public static let keyword = "relu"
    public init() {}
    public var name: String { "ReLU" }
    public var initializationHint: InitializationHint { .prefers(.heUniform) }
    /// The output: h > 0 exactly where a > 0 (NaN and −0 included), and a product before the layer
    /// that applies the ReLU itself (`Sequential`'s fusion) leaves only h.
    public var keeps: ActivationKeeps { .output }
    public func apply(_ a: Tensor) -> Tensor { a.relu() }
    public func backward(input: Tensor?, output: Tensor?, gradient: Tensor) -> Tensor {
        Tensor.reluBackward(input: output!, gradient: gradient)
    }
}

/// Leaky ReLU h = max(slope·a, a) (slope 0.1 by default, as in the course); g′(a) = 1 for a > 0,
/// else slope. Keyword `leakyrelu[:SLOPE]`.
public struct LeakyReLURule: ActivationRule {
    public static let keyword = "leakyrelu"
    public static let syntax = "leakyrelu[:SLOPE]"
    /// The slope for a ≤ 0, in [0, 1).
    public let slope: Float
    /// The rule with `slope`.
    public init(slope: Float = 0.1) { self.slope = slope }
    public init(arguments a: LayerArguments) throws {
        slope = try a.float(0, name: "slope", field: "slope", default: 0.1, expected: "a number in [0, 1)", syntax: Self.syntax) { $0 >= 0 && $0 < 1 }
        try a.expectOnly(positional: 1, named: ["slope"], syntax: Self.syntax)
    }
    public var arguments: [String] { slope == 0.1 ? [] : [floatText(slope)] }
    public var name: String { "LeakyReLU(\(slope))" }
    public var initializationHint: InitializationHint { .prefers(.heUniform) }
    public var keeps: ActivationKeeps { .input }
    public func apply(_ a: Tensor) -> Tensor { a.leakyRelu(slope: slope) }
    public func backward(input: Tensor?, output: Tensor?, gradient: Tensor) -> Tensor {
        Tensor.leakyReluBackward(input: input!, gradient: gradient, slope: slope)
    }
}

/// Exponential linear unit h = a for a > 0, α(eᵃ − 1) otherwise; g′(a) = 1 for a > 0, h + α
/// otherwise. Keyword `elu[:ALPHA]`.
public struct ELURule: ActivationRule {
    public static let keyword = "elu"
    public static let syntax = "elu[:ALPHA]"
    /// α > 0.
    public let alpha: Float
    /// The rule with `alpha`.
    public init(alpha: Float = 1) { self.alpha = alpha }
    public init(arguments a: LayerArguments) throws {
        alpha = try a.float(0, name: "alpha", field: "alpha", default: 1, expected: "a number in (0, 100]", syntax: Self.syntax) { $0 > 0 && $0 <= 100 }
        try a.expectOnly(positional: 1, named: ["alpha"], syntax: Self.syntax)
    }
    public var arguments: [String] { alpha == 1 ? [] : [floatText(alpha)] }
    public var name: String { "ELU(\(alpha))" }
    public var initializationHint: InitializationHint { .prefers(.heUniform) }
    public var keeps: ActivationKeeps { .both }
    public func apply(_ a: Tensor) -> Tensor { a.elu(alpha: alpha) }
    public func backward(input: Tensor?, output: Tensor?, gradient: Tensor) -> Tensor {
        Tensor.eluBackward(input: input!, output: output!, gradient: gradient, alpha: alpha)
    }
}

/// Row-wise softmax hᵢ = e^{aᵢ} / Σⱼ e^{aⱼ} over the last axis. Its Jacobian-vector product is
/// ∇a E = h ⊙ (∇h E − ⟨∇h E, h⟩). To train a classifier end on logits and use
/// `SoftmaxCrossEntropy`, which fuses the two (and refuses a model that ends in softmax).
public struct SoftmaxRule: PlainActivationRule {
    public static let keyword = "softmax"
    public init() {}
    public var name: String { "Softmax" }
    public var keeps: ActivationKeeps { .output }
    public func apply(_ a: Tensor) -> Tensor { a.softmax() }
    public func backward(input: Tensor?, output: Tensor?, gradient: Tensor) -> Tensor {
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

/// h = 1/(1 + e⁻ᵃ).
public typealias Sigmoid = Activation<SigmoidRule>
/// h = tanh(a).
public typealias Tanh = Activation<TanhRule>
/// h = max(0, a).
public typealias ReLU = Activation<ReLURule>
/// h = max(slope·a, a).
public typealias LeakyReLU = Activation<LeakyReLURule>
/// h = a or α(eᵃ − 1).
public typealias ELU = Activation<ELURule>
/// Row-wise softmax.
public typealias Softmax = Activation<SoftmaxRule>

extension Activation where Rule == LeakyReLURule {
    /// Leaky ReLU with `slope` (default 0.1).
    public convenience init(slope: Float = 0.1) { self.init(LeakyReLURule(slope: slope)) }
}

extension Activation where Rule == ELURule {
    /// ELU with `alpha` (default 1).
    public convenience init(alpha: Float = 1) { self.init(ELURule(alpha: alpha)) }
}
