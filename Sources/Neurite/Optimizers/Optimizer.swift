// Optimizers update a model's parameter arena from a gradient arena; their state is keyed by
// parameter name and restorable.

import Foundation

/// Learning rate as a function of the epoch (0-based).
public enum LearningRateSchedule: Codable, Equatable, Sendable {
    /// The base rate throughout.
    case constant
    /// Multiplies the rate by `factor` every `every` epochs.
    case step(every: Int, factor: Float)
    /// Cosine annealing from the base rate down to `minimum` over `epochs` epochs.
    case cosine(epochs: Int, minimum: Float)

    /// The rate for `epoch` given the base rate.
    public func rate(base: Float, epoch: Int) -> Float {
        switch self {
        case .constant: return base
        case let .step(every, factor):
            var r = base
            for _ in 0..<min(epoch / max(every, 1), 10_000) { r *= factor }
            return r
        case let .cosine(epochs, minimum):
            let t = min(Float(epoch) / Float(max(epochs, 1)), 1)
            return minimum + (base - minimum) * 0.5 * (1 + Foundation.cos(Float.pi * t))
        }
    }

    /// Throws unless every number is in range (a schedule read from a checkpoint).
    public func validate() throws {
        switch self {
        case .constant: return
        case let .step(every, factor):
            guard every >= 1, factor > 0, factor <= 1 else { throw ModelError("schedule step: every must be ≥ 1 and factor in (0, 1], got \(every), \(factor)") }
        case let .cosine(epochs, minimum):
            guard epochs >= 0, minimum >= 0, minimum.isFinite else { throw ModelError("schedule cosine: epochs must be ≥ 0 and minimum ≥ 0, got \(epochs), \(minimum)") }
        }
    }
}

/// Everything that defines an optimizer, as JSON numbers in checkpoints.
public struct OptimizerConfiguration: Codable, Equatable, Sendable {
    /// "sgd", "adam" or "adamw".
    public var kind: String
    /// η at epoch 0.
    public var learningRate: Float
    /// SGD momentum μ (0 = plain SGD).
    public var momentum: Float = 0
    /// SGD: Nesterov's look-ahead form.
    public var nesterov = false
    /// Adam's moment decays and ε.
    public var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    /// λ: L2 (SGD, Adam) or decoupled decay (AdamW).
    public var weightDecay: Float = 0
    /// Whether parameters that normally do not decay (biases, norm scales) decay too.
    public var decayBiases = false

    /// A configuration of `kind` with `learningRate`; other fields at their defaults.
    public init(kind: String, learningRate: Float) { self.kind = kind; self.learningRate = learningRate }

    /// The optimizer, after checking every field's range (a configuration read from a file).
    public func makeOptimizer() throws -> any Optimizer {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw ModelError("optimizer \(kind): \(what)") } }
        try check(learningRate > 0 && learningRate.isFinite && learningRate <= 1e3, "learning rate must be in (0, 1000], got \(learningRate)")
        try check(weightDecay >= 0 && weightDecay.isFinite && weightDecay <= 1e3, "weight decay must be in [0, 1000], got \(weightDecay)")
        switch kind {
        case "sgd":
            try check(momentum >= 0 && momentum < 1, "momentum must be in [0, 1), got \(momentum)")
            return SGD(learningRate: learningRate, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay, decayBiases: decayBiases)
        case "adam", "adamw":
            try check((0..<1).contains(beta1) && (0..<1).contains(beta2), "betas must be in [0, 1), got \(beta1), \(beta2)")
            try check(epsilon > 0 && epsilon.isFinite && epsilon <= 1, "epsilon must be in (0, 1], got \(epsilon)")
            return Adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay,
                        decoupled: kind == "adamw", decayBiases: decayBiases)
        default:
            throw ModelError("unknown optimizer '\(kind)' (sgd, adam or adamw)")
        }
    }

    enum CodingKeys: String, CodingKey {
        case kind, learningRate = "learning_rate", momentum, nesterov, beta1, beta2, epsilon
        case weightDecay = "weight_decay", decayBiases = "decay_biases"
    }
}

/// Updates a model's parameters from a gradient arena.
public protocol Optimizer: AnyObject {
    /// Name for logs and checkpoints ("sgd", "adam", "adamw").
    var name: String { get }
    /// Current learning rate (a schedule changes it between epochs).
    var learningRate: Float { get set }
    /// Number of `step` calls so far.
    var stepCount: Int { get set }
    /// The hyper-parameters (with the current learning rate).
    var configuration: OptimizerConfiguration { get }
    /// One update of every parameter of `parameters` from `gradients` (an arena of its layout).
    func step(_ parameters: ParameterArena, gradients: Tensor)
    /// State tensors by slot and parameter name ("m.3.weight"), for checkpoints.
    func state(_ parameters: ParameterArena) -> [String: Tensor]
    /// Restores state saved by `state(_:)`; throws naming the first missing or misshapen tensor.
    func restoreState(_ state: [String: Tensor], stepCount: Int, parameters: ParameterArena) throws
}

/// Optimizer state: one arena-shaped tensor per slot kind ("velocity", "m", "v"), created on first
/// use, saved and restored per parameter name so a changed model fails loudly.
final class StateSlots {
    let kinds: [String]
    private(set) var arenas: [Tensor] = []

    init(kinds: [String]) { self.kinds = kinds }

    /// The slot arenas for `parameters`, created as zeros when missing or of another size.
    func prepare(_ parameters: ParameterArena) -> [Tensor] {
        if arenas.count != kinds.count || arenas.first?.count != parameters.count {
            arenas = kinds.map { _ in parameters.makeGradientArena() }
        }
        return arenas
    }

    func named(_ parameters: ParameterArena) -> [String: Tensor] {
        guard arenas.count == kinds.count, arenas.first?.count == parameters.count else { return [:] }
        var d: [String: Tensor] = [:]
        for (kind, arena) in zip(kinds, arenas) {
            for p in parameters.parameters { d["\(kind).\(p.qualifiedName)"] = parameters.slice(p, of: arena) }
        }
        return d
    }

    func restore(_ state: [String: Tensor], parameters: ParameterArena) throws {
        let fresh = kinds.map { _ in parameters.makeGradientArena() }
        for (kind, arena) in zip(kinds, fresh) {
            for p in parameters.parameters {
                let key = "\(kind).\(p.qualifiedName)"
                guard let t = state[key] else { throw ModelError("optimizer state lacks \(key)") }
                guard t.shape == p.shape else {
                    throw ModelError("optimizer state \(key) has shape \(t.shape), the parameter has \(p.shape)")
                }
                guard t.scalars.allSatisfy({ $0.isFinite }) else { throw ModelError("optimizer state \(key) holds a non-finite value") }
                parameters.write(t, to: p, in: arena)
            }
        }
        let expected = Set(kinds.flatMap { k in parameters.parameters.map { "\(k).\($0.qualifiedName)" } })
        if let extra = state.keys.sorted().first(where: { !expected.contains($0) }) {
            throw ModelError("optimizer state \(extra) matches no parameter of the model")
        }
        arenas = fresh
    }
}
