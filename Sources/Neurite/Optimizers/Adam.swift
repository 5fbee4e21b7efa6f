// Adam and AdamW.

import Foundation

/// Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − η·m̂/(√v̂ + ε) with bias-corrected
/// m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).
///
/// `weightDecay` λ: with `decoupled` false (Adam) it is L2 regularisation, 2λθ added to the
/// gradient; with `decoupled` true (AdamW) the weights shrink directly, θ ← θ − η·λ·θ. Biases are
/// excluded unless `decayBiases` is true. A step is one C pass over the parameter arena (one per run
/// of equal decay when λ > 0).
public final class Adam: Optimizer {
    /// η, changed between epochs by a schedule.
    public var learningRate: Float
    /// Decay of the first-moment average.
    public let beta1: Float
    /// Decay of the second-moment average.
    public let beta2: Float
    /// Added to √v̂ to avoid division by zero.
    public let epsilon: Float
    /// λ: L2 (Adam) or decoupled decay (AdamW).
    public let weightDecay: Float
    /// AdamW when true.
    public let decoupled: Bool
    /// Whether biases are decayed too (default false).
    public let decayBiases: Bool
    /// Updates done so far (t in the bias corrections).
    public var stepCount = 0
    private let slots = StateSlots(kinds: ["m", "v"])

    /// Adam (or AdamW with `decoupled`) with the given hyper-parameters.
    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupled: Bool = false, decayBiases: Bool = false) {
        precondition(learningRate > 0 && learningRate.isFinite, "Adam learning rate must be positive, got \(learningRate)")
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam betas must be in [0, 1)")
        precondition(weightDecay >= 0, "Adam weight decay must be ≥ 0, got \(weightDecay)")
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        self.decayBiases = decayBiases
    }

    /// AdamW: Adam with decoupled weight decay.
    public static func adamW(learningRate: Float = 1e-3, weightDecay: Float = 0.01) -> Adam {
        Adam(learningRate: learningRate, weightDecay: weightDecay, decoupled: true)
    }

    public var name: String { decoupled ? "adamw" : "adam" }
    public var configuration: OptimizerConfiguration {
        var c = OptimizerConfiguration(kind: name, learningRate: learningRate)
        c.beta1 = beta1
        c.beta2 = beta2
        c.epsilon = epsilon
        c.weightDecay = weightDecay
        c.decayBiases = decayBiases
        return c
    }

    public func step(_ parameters: ParameterArena, gradients: Tensor) {
        stepCount += 1
        let state = slots.prepare(parameters)
        let w = parameters.mutableView
        let t = Double(stepCount)
        let c1 = Float(1 / (1 - Foundation.pow(Double(beta1), t))), c2 = Float(1 / (1 - Foundation.pow(Double(beta2), t)))
        for run in decayRuns(parameters, weightDecay: weightDecay, decayBiases: decayBiases) {
            let lambda = run.decays ? weightDecay : 0
            ParameterUpdate.adam(w, gradient: gradients, m: state[0], v: state[1], range: run.range, learningRate: learningRate,
                                 beta1: beta1, beta2: beta2, epsilon: epsilon, c1: c1, c2: c2,
                                 l2: decoupled ? 0 : 2 * lambda, shrink: decoupled ? learningRate * lambda : 0)
        }
    }

    public func state(_ parameters: ParameterArena) -> [String: Tensor] { slots.named(parameters) }
    public func restoreState(_ state: [String: Tensor], stepCount: Int, parameters: ParameterArena) throws {
        try slots.restore(state, parameters: parameters)
        self.stepCount = stepCount
    }
}
