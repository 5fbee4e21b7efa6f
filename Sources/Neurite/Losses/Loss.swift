// Losses: the value E of a batch and its gradient ∇y E with respect to the network's output y.

import Foundation

/// What a batch's outputs are compared with.
public enum LossTarget: Sendable {
    /// Integer class labels, one per row.
    case classes([Int])
    /// Target values with the output's shape (regression targets, one-hot or soft labels, or 0/1
    /// for binary problems).
    case values(Tensor)
}

/// A loss averaged over the batch, with its gradient.
public protocol Loss: Sendable {
    /// Name for logs and checkpoints.
    var name: String { get }
    /// E (mean over the batch) and ∇y E (same shape as `output`) for one batch.
    func evaluate(output: Tensor, target: LossTarget) -> (value: Float, gradient: Tensor)
    /// E alone (no gradient).
    func value(output: Tensor, target: LossTarget) -> Float
    /// Throws when `model`'s output does not suit this loss (e.g. a softmax before a loss that
    /// applies softmax itself).
    func check(_ model: Sequential) throws
}

extension Loss {
    public func value(output: Tensor, target: LossTarget) -> Float { evaluate(output: output, target: target).value }
    public func check(_ model: Sequential) throws {}
}

/// The loss named `name` in checkpoints ("softmax-cross-entropy", "mse", "binary-cross-entropy").
public func makeLoss(named name: String) throws -> any Loss {
    switch name {
    case "softmax-cross-entropy": return SoftmaxCrossEntropy()
    case "mse": return MeanSquaredError()
    case "binary-cross-entropy": return BinaryCrossEntropy()
    default: throw ModelError("unknown loss '\(name)' (softmax-cross-entropy, mse or binary-cross-entropy)")
    }
}

/// Refuses a model whose last layer already applies `rule`'s non-linearity.
private func refuseDoubleActivation<Rule: ActivationRule>(_ model: Sequential, _ rule: Rule.Type, loss: String) throws {
    guard model.layers.last is Activation<Rule> else { return }
    throw ModelError("the model ends with \(Rule.keyword), but \(loss) applies \(Rule.keyword) itself: end the model on logits (remove the final '\(Rule.keyword)'); predictions still report probabilities")
}

/// Mean squared error with the ½ convention: E = (1/B) Σ_b ½‖y_b − d_b‖², so ∇y E = (y − d)/B.
/// The loss of linear regression (linear output + MSE).
public struct MeanSquaredError: Loss {
    public init() {}
    public var name: String { "mse" }
    public func evaluate(output y: Tensor, target: LossTarget) -> (value: Float, gradient: Tensor) {
        guard case let .values(d) = target else { preconditionFailure("MeanSquaredError needs target values, not class labels") }
        precondition(d.count == y.count, "MeanSquaredError: outputs of shape \(y.shape) but targets of shape \(d.shape)")
        let b = Float(max(y.rowCount, 1))
        let diff = y - d.reshaped(y.shape)
        let value = 0.5 * diff.squaredNorm() / b
        return (value, diff * (1 / b))
    }
}

/// Softmax followed by cross-entropy, fused: for logits z and target distribution d,
/// E = (1/B) Σ_b −Σᵢ dᵢ log softmax(z)ᵢ and ∇z E = (softmax(z) − d)/B.
/// Stable for large logits (log-softmax subtracts the row maximum). Accepts integer labels or
/// one-hot / soft targets.
public struct SoftmaxCrossEntropy: Loss {
    public init() {}
    public var name: String { "softmax-cross-entropy" }
    public func check(_ model: Sequential) throws { try refuseDoubleActivation(model, SoftmaxRule.self, loss: "softmax cross-entropy") }
    public func evaluate(output z: Tensor, target: LossTarget) -> (value: Float, gradient: Tensor) {
        precondition(z.rank == 2, "SoftmaxCrossEntropy expects logits of shape [batch, classes], got \(z.shape)")
        let n = z.rowCount, c = z.rowWidth
        let logP = z.logSoftmax()
        var total: Double = 0
        var grad = Tensor(uninitializedShape: z.shape)
        let invB = 1 / Float(max(n, 1))
        logP.withUnsafeBufferPointer { lp in
            grad.withUnsafeMutableBufferPointer { gp in
                for i in 0..<(n * c) { gp[i] = Foundation.exp(lp[i]) * invB }
                switch target {
                case let .classes(labels):
                    precondition(labels.count == n, "SoftmaxCrossEntropy: \(n) rows of logits but \(labels.count) labels")
                    for (r, l) in labels.enumerated() {
                        precondition(l >= 0 && l < c, "SoftmaxCrossEntropy: label \(l) outside 0..<\(c)")
                        total -= Double(lp[r * c + l])
                        gp[r * c + l] -= invB
                    }
                case let .values(d):
                    precondition(d.count == z.count, "SoftmaxCrossEntropy: logits of shape \(z.shape) but targets of shape \(d.shape)")
                    // ∇z of −Σᵢ dᵢ log softmax(z)ᵢ is softmax(z)·Σᵢdᵢ − d (= p − d for distributions).
                    d.withUnsafeBufferPointer { dp in
                        for r in 0..<n {
                            var mass: Float = 0
                            for j in 0..<c { mass += dp[r * c + j] }
                            for j in 0..<c {
                                let i = r * c + j
                                if dp[i] != 0 { total -= Double(dp[i]) * Double(lp[i]) }
                                gp[i] = gp[i] * mass - dp[i] * invB
                            }
                        }
                    }
                }
            }
        }
        return (Float(total / Double(max(n, 1))), grad)
    }
}

/// Sigmoid followed by binary cross-entropy, fused (logistic regression): for a logit z and a
/// target d ∈ [0, 1], E = −d log σ(z) − (1 − d) log(1 − σ(z)), computed stably as
/// max(z, 0) − z·d + log(1 + e^{−|z|}); ∇z E = (σ(z) − d)/B. Averaged over the batch (and summed
/// over outputs).
public struct BinaryCrossEntropy: Loss {
    public init() {}
    public var name: String { "binary-cross-entropy" }
    public func check(_ model: Sequential) throws { try refuseDoubleActivation(model, SigmoidRule.self, loss: "binary cross-entropy") }
    public func evaluate(output z: Tensor, target: LossTarget) -> (value: Float, gradient: Tensor) {
        let d: Tensor
        switch target {
        case let .classes(labels):
            precondition(labels.count == z.count, "BinaryCrossEntropy: \(z.count) outputs but \(labels.count) labels")
            d = Tensor(shape: z.shape, scalars: labels.map { Float($0) })
        case let .values(v):
            precondition(v.count == z.count, "BinaryCrossEntropy: outputs of shape \(z.shape) but targets of shape \(v.shape)")
            d = v.reshaped(z.shape)
        }
        let n = max(z.rowCount, 1)
        let invB = 1 / Float(n)
        var total: Double = 0
        let s = z.sigmoid()
        var grad = Tensor(uninitializedShape: z.shape)
        z.withUnsafeBufferPointer { zp in
            d.withUnsafeBufferPointer { dp in
                s.withUnsafeBufferPointer { sp in
                    grad.withUnsafeMutableBufferPointer { gp in
                        for i in 0..<z.count {
                            let x = Double(zp[i]), t = Double(dp[i])
                            total += max(x, 0) - x * t + Foundation.log1p(Foundation.exp(-abs(x)))
                            gp[i] = (sp[i] - dp[i]) * invB
                        }
                    }
                }
            }
        }
        return (Float(total / Double(n)), grad)
    }
}
