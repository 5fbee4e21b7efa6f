// Stochastic gradient descent with momentum, Nesterov momentum and L2 regularisation.

/// Mini-batch gradient descent: θ ← θ − η·∇θ J.
///
/// - L2 regularisation (`weightDecay` λ) minimises J(θ) + λ‖θ‖², i.e. adds 2λθ to the gradient of
///   every parameter that decays (weights; biases only with `decayBiases`).
/// - Momentum μ keeps a velocity v ← μ·v + g and steps θ ← θ − η·v; with Nesterov the step is
///   θ ← θ − η·(g + μ·v) (the look-ahead form). μ = 0 is plain SGD.
///
/// A step is one C pass over the parameter arena (one per run of equal decay when λ > 0).
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
    private let slots = StateSlots(kinds: ["velocity"])

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
    public var configuration: OptimizerConfiguration {
        var c = OptimizerConfiguration(kind: "sgd", learningRate: learningRate)
        c.momentum = momentum
        c.nesterov = nesterov
        c.weightDecay = weightDecay
        c.decayBiases = decayBiases
        return c
    }

    public func step(_ parameters: ParameterArena, gradients: Tensor) {
        stepCount += 1
        let w = parameters.mutableView
        let velocity = momentum > 0 ? slots.prepare(parameters)[0] : nil
        for run in decayRuns(parameters, weightDecay: weightDecay, decayBiases: decayBiases) {
            ParameterUpdate.sgd(w, gradient: gradients, velocity: velocity, range: run.range, learningRate: learningRate,
                                momentum: momentum, l2: run.decays ? 2 * weightDecay : 0, nesterov: nesterov)
        }
    }

    public func state(_ parameters: ParameterArena) -> [String: Tensor] { momentum > 0 ? slots.named(parameters) : [:] }
    public func restoreState(_ state: [String: Tensor], stepCount: Int, parameters: ParameterArena) throws {
        if momentum > 0 { try slots.restore(state, parameters: parameters) }
        self.stepCount = stepCount
    }
}

/// The runs of the arena one optimizer pass each: the whole arena when nothing decays differently.
func decayRuns(_ parameters: ParameterArena, weightDecay: Float, decayBiases: Bool) -> [(range: Range<Int>, decays: Bool)] {
    if weightDecay == 0 || decayBiases { return [(0..<parameters.count, weightDecay > 0)] }
    return parameters.decayRuns
}
