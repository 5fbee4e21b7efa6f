// Optimizers update parameters from their gradients; their state is inspectable and restorable.

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
            for _ in 0..<(epoch / max(every, 1)) { r *= factor }
            return r
        case let .cosine(epochs, minimum):
            let t = min(Float(epoch) / Float(max(epochs, 1)), 1)
            return minimum + (base - minimum) * 0.5 * (1 + Foundation.cos(Float.pi * t))
        }
    }
}

/// Updates parameters from their gradients.
public protocol Optimizer: AnyObject {
    /// Name for logs and checkpoints ("sgd", "adam", "adamw").
    var name: String { get }
    /// Current learning rate (a schedule changes it between epochs).
    var learningRate: Float { get set }
    /// Number of `step` calls so far.
    var stepCount: Int { get set }
    /// Hyper-parameters, for checkpoint metadata.
    var hyperparameters: [String: Float] { get }
    /// One update of every parameter from its gradient.
    func step(_ parameters: [Parameter])
    /// Per-parameter state tensors by name ("velocity.3", "m.0", …), for checkpoints.
    var state: [String: Tensor] { get }
    /// Restores state saved from `state`; throws when names or shapes do not match `parameters`.
    func restoreState(_ state: [String: Tensor], stepCount: Int, parameters: [Parameter]) throws
}

/// A saved optimizer state that does not match the model.
public struct OptimizerStateError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Optimizer state: one tensor slot per parameter and kind, created on first use.
final class SlotStore {
    let kinds: [String]
    var slots: [[Tensor]] = []   // [kind][parameter index]

    init(kinds: [String]) { self.kinds = kinds; slots = kinds.map { _ in [] } }

    func prepare(_ parameters: [Parameter]) {
        for k in kinds.indices where slots[k].count != parameters.count {
            slots[k] = parameters.map { Tensor(shape: $0.value.shape, repeating: 0) }
        }
    }

    /// Moves slot (kind, i) out (leaving an empty tensor) so it can be mutated without a copy.
    func take(_ kind: Int, _ i: Int) -> Tensor {
        let t = slots[kind][i]
        slots[kind][i] = Tensor(shape: [0])
        return t
    }

    func put(_ t: Tensor, _ kind: Int, _ i: Int) { slots[kind][i] = t }

    var named: [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (k, kind) in kinds.enumerated() { for (i, t) in slots[k].enumerated() { d["\(kind).\(i)"] = t } }
        return d
    }

    func restore(_ state: [String: Tensor], parameters: [Parameter]) throws {
        var new: [[Tensor]] = kinds.map { _ in [] }
        for (k, kind) in kinds.enumerated() {
            for (i, p) in parameters.enumerated() {
                guard let t = state["\(kind).\(i)"] else {
                    throw OptimizerStateError(message: "optimizer state lacks \(kind).\(i)")
                }
                guard t.shape == p.value.shape else {
                    throw OptimizerStateError(message: "optimizer state \(kind).\(i) has shape \(t.shape), parameter has \(p.value.shape)")
                }
                new[k].append(t)
            }
        }
        slots = new
    }
}

