// Adam and AdamW.

import Foundation

/// Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − η·m̂/(√v̂ + ε) with bias-corrected
/// m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).
///
/// `weightDecay` λ: with `decoupled` false (Adam) it is L2 regularisation, 2λθ added to the
/// gradient; with `decoupled` true (AdamW) the weights shrink directly, θ ← θ − η·λ·θ. Biases are
/// excluded unless `decayBiases` is true.
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    public let decoupled: Bool
    public let decayBiases: Bool
    public var stepCount = 0
    private let slots = SlotStore(kinds: ["m", "v"])

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
    public var hyperparameters: [String: Float] {
        ["learning_rate": learningRate, "beta1": beta1, "beta2": beta2, "epsilon": epsilon, "weight_decay": weightDecay]
    }

    public func step(_ parameters: [Parameter]) {
        stepCount += 1
        slots.prepare(parameters)
        let t = Double(stepCount)
        let c1 = Float(1 / (1 - pow(Double(beta1), t))), c2 = Float(1 / (1 - pow(Double(beta2), t)))
        let b1 = SIMD16<Float>(repeating: beta1), b2 = SIMD16<Float>(repeating: beta2)
        let lr = SIMD16<Float>(repeating: learningRate), eps = SIMD16<Float>(repeating: epsilon)
        let vc1 = SIMD16<Float>(repeating: c1), vc2 = SIMD16<Float>(repeating: c2)
        let one = SIMD16<Float>(repeating: 1)
        for (i, p) in parameters.enumerated() {
            let lambda = (p.isBias && !decayBiases) ? 0 : weightDecay
            let l2 = SIMD16<Float>(repeating: decoupled ? 0 : 2 * lambda)
            let shrink = SIMD16<Float>(repeating: decoupled ? learningRate * lambda : 0)
            var mt = slots.take(0, i), vt = slots.take(1, i)
            defer { slots.put(mt, 0, i); slots.put(vt, 1, i) }
            updateElementwise(&p.value, p.gradient, &mt, &vt) { v, g, m, s in
                let grad = g + l2 * v
                m = b1 * m + (one - b1) * grad
                s = b2 * s + (one - b2) * grad * grad
                let mh = m * vc1, sh = s * vc2
                v = v - shrink * v - lr * mh / (sh.squareRoot() + eps)
            }
        }
    }

    public var state: [String: Tensor] { slots.named }
    public func restoreState(_ state: [String: Tensor], stepCount: Int, parameters: [Parameter]) throws {
        try slots.restore(state, parameters: parameters)
        self.stepCount = stepCount
    }
}

