// Batch normalisation over [N, C, …] batches (CNeurite kernels; formulas in neurite.h).

import CNeurite

extension Tensor {
    /// (batch, channels, positions per channel) of an input [N, C, …].
    private static func _batchNormExtents(_ x: Tensor, channels: Int, op: String) -> (n: Int, c: Int, s: Int) {
        precondition(x.rank >= 2 && x.shape[1] == channels, "Tensor.\(op): input \(x.shape) must be [N, \(channels), …]")
        return (x.shape[0], channels, x.shape.dropFirst(2).reduce(1, *))
    }

    /// Batch normalisation with the batch's own statistics, per channel of x: [N, C, …] over its
    /// N·(H·W) values: x̂ = (x − μ)/√(σ² + ε), y = γ x̂ + β, with γ, β: [C].
    /// Returns y, x̂ (kept for the backward pass), μ, 1/√(σ² + ε) and the unbiased variance (all [C]).
    /// Each channel is summed by one thread in a fixed order: the same result for every thread count.
    public static func batchNormTraining(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float, threads: Int = 0)
        -> (output: Tensor, normalized: Tensor, mean: Tensor, inverseStd: Tensor, unbiasedVariance: Tensor) {
        let (n, c, s) = _batchNormExtents(x, channels: gamma.count, op: "batchNormTraining")
        precondition(beta.count == c, "Tensor.batchNormTraining: \(gamma.count) scales but \(beta.count) shifts")
        let y = Tensor(uninitializedShape: x.shape), xhat = Tensor(uninitializedShape: x.shape)
        let mean = Tensor(uninitializedShape: [c]), invStd = Tensor(uninitializedShape: [c]), unbiased = Tensor(uninitializedShape: [c])
        x.withUnsafeBufferPointer { xp in
            gamma.withUnsafeBufferPointer { g in
                beta.withUnsafeBufferPointer { b in
                    nk_batchnorm_forward_train(Int64(n), Int64(c), Int64(s), xp.baseAddress, g.baseAddress, b.baseAddress, epsilon,
                                               Int32(threads), xhat.storage.base, y.storage.base, mean.storage.base,
                                               invStd.storage.base, unbiased.storage.base)
                }
            }
        }
        return (y, xhat, mean, invStd, unbiased)
    }

    /// Batch normalisation with running statistics (inference): y = γ (x − mean)/√(variance + ε) + β
    /// per channel of x: [N, C, …]; γ, β, mean, variance: [C].
    public static func batchNormInference(_ x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
                                          epsilon: Float, threads: Int = 0) -> Tensor {
        let (n, c, s) = _batchNormExtents(x, channels: gamma.count, op: "batchNormInference")
        precondition(beta.count == c && mean.count == c && variance.count == c,
                     "Tensor.batchNormInference: \(c) scales but \(beta.count) shifts, \(mean.count) means, \(variance.count) variances")
        let y = Tensor(uninitializedShape: x.shape)
        x.withUnsafeBufferPointer { xp in
            gamma.withUnsafeBufferPointer { g in
                beta.withUnsafeBufferPointer { b in
                    mean.withUnsafeBufferPointer { m in
                        variance.withUnsafeBufferPointer { v in
                            nk_batchnorm_forward_infer(Int64(n), Int64(c), Int64(s), xp.baseAddress, g.baseAddress, b.baseAddress,
                                                       m.baseAddress, v.baseAddress, epsilon, Int32(threads), y.storage.base)
                        }
                    }
                }
            }
        }
        return y
    }

    /// The backward pass of `batchNormTraining` from δ = ∂E/∂y: ∇β = Σ δ, ∇γ = Σ δ·x̂ (per channel,
    /// [C]) and, when `inputGradient`, ∇x = γ/(m·√(σ² + ε)) · (m·δ − ∇β − x̂·∇γ) with m = N·(H·W).
    public static func batchNormBackward(_ outputGradient: Tensor, normalized: Tensor, gamma: Tensor, inverseStd: Tensor,
                                         inputGradient: Bool, threads: Int = 0) -> (input: Tensor?, gamma: Tensor, beta: Tensor) {
        let (n, c, s) = _batchNormExtents(outputGradient, channels: gamma.count, op: "batchNormBackward")
        precondition(normalized.shape == outputGradient.shape && inverseStd.count == c,
                     "Tensor.batchNormBackward: gradient \(outputGradient.shape), x̂ \(normalized.shape), \(inverseStd.count) deviations for \(c) channels")
        let dgamma = Tensor(uninitializedShape: [c]), dbeta = Tensor(uninitializedShape: [c])
        let dx = inputGradient ? Tensor(uninitializedShape: outputGradient.shape) : nil
        outputGradient.withUnsafeBufferPointer { dy in
            normalized.withUnsafeBufferPointer { h in
                gamma.withUnsafeBufferPointer { g in
                    inverseStd.withUnsafeBufferPointer { inv in
                        nk_batchnorm_backward(Int64(n), Int64(c), Int64(s), dy.baseAddress, h.baseAddress, g.baseAddress, inv.baseAddress,
                                              Int32(threads), dgamma.storage.base, dbeta.storage.base, dx?.storage.base)
                    }
                }
            }
        }
        return (dx, dgamma, dbeta)
    }
}
