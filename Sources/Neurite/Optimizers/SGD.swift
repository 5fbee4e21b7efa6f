// Stochastic gradient descent with momentum, Nesterov momentum and L2 regularisation.

/// Mini-batch gradient descent: θ ← θ − η·∇θ J.
///
/// - L2 regularisation (`weightDecay` λ) minimises J(θ) + λ‖θ‖², i.e. adds 2λθ to the gradient of
///   every weight; biases are excluded unless `decayBiases` is true.
/// - Momentum μ keeps a velocity v ← μ·v + g and steps θ ← θ − η·v; with Nesterov the step is
///   θ ← θ − η·(g + μ·v) (the look-ahead form). μ = 0 is plain SGD.
public final class SGD: Optimizer {
    /// η, changed between epochs by a schedule.
    public var learningRate: Float
    /// μ (0 = plain SGD).
    public let momentum: Float
    /// Whether the step uses Nesterov's look-ahead form.
    public let nesterov: Bool
    /// L2 coefficient λ in J + λ‖θ‖².
    public let weightDecay: Float
    /// Whether biases are regularised too (default false).
    public let decayBiases: Bool
    /// Updates done so far.
    public var stepCount = 0
    private let slots = SlotStore(kinds: ["velocity"])

    /// SGD with the given hyper-parameters (momentum in [0, 1), λ ≥ 0).
    public init(learningRate: Float, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0,
                decayBiases: Bool = false) {
        precondition(learningRate > 0 && learningRate.isFinite, "SGD learning rate must be positive, got \(learningRate)")
        precondition(momentum >= 0 && momentum < 1, "SGD momentum must be in [0, 1), got \(momentum)")
        precondition(weightDecay >= 0, "SGD weight decay must be ≥ 0, got \(weightDecay)")
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.decayBiases = decayBiases
    }

    public var name: String { "sgd" }
    public var hyperparameters: [String: Float] {
        ["learning_rate": learningRate, "momentum": momentum, "nesterov": nesterov ? 1 : 0, "weight_decay": weightDecay]
    }

    public func step(_ parameters: [Parameter]) {
        stepCount += 1
        if momentum > 0 { slots.prepare(parameters) }
        for (i, p) in parameters.enumerated() {
            let l2 = (p.isBias && !decayBiases) ? 0 : 2 * weightDecay
            var v = momentum > 0 ? slots.take(0, i) : Tensor(shape: [0])
            ParameterUpdate.sgd(&p.value, gradient: p.gradient, velocity: &v, learningRate: learningRate,
                                momentum: momentum, l2: l2, nesterov: nesterov)
            if momentum > 0 { slots.put(v, 0, i) }
        }
    }

    public var state: [String: Tensor] { slots.named }
    public func restoreState(_ state: [String: Tensor], stepCount: Int, parameters: [Parameter]) throws {
        if momentum > 0 { try slots.restore(state, parameters: parameters) }
        self.stepCount = stepCount
    }
}
