// Optimizer update passes, run by the C kernels (OpenMP over fixed chunks: thread-count independent).

import CNeurite

/// In-place parameter updates used by the optimizers. Shapes of all operands must be equal.
public enum ParameterUpdate {
    /// SGD step: grad = g + l2·w; with momentum (a non-empty `velocity`) v ← μ·v + grad,
    /// w ← w − lr·(nesterov ? grad + μ·v : v); otherwise w ← w − lr·grad.
    public static func sgd(_ w: inout Tensor, gradient g: Tensor, velocity v: inout Tensor, learningRate: Float,
                           momentum: Float, l2: Float, nesterov: Bool) {
        precondition(g.count == w.count, "sgd: gradient of shape \(g.shape) for a parameter of shape \(w.shape)")
        precondition(v.count == 0 || v.count == w.count, "sgd: velocity of shape \(v.shape) for a parameter of shape \(w.shape)")
        let n = Int64(w.count)
        g.withUnsafeBufferPointer { gp in
            w.withUnsafeMutableBufferPointer { wp in
                v.withUnsafeMutableBufferPointer { vp in
                    nk_sgd_step(wp.baseAddress!, gp.baseAddress!, vp.count == 0 ? nil : vp.baseAddress!, n,
                                learningRate, vp.count == 0 ? 0 : momentum, l2, nesterov ? 1 : 0)
                }
            }
        }
    }

    /// Adam step (see `nk_adam_step`): c1, c2 are the bias corrections 1/(1 − βᵗ); `shrink` is the
    /// decoupled weight decay lr·λ (AdamW), `l2` the coupled one 2λ (Adam + L2).
    public static func adam(_ w: inout Tensor, gradient g: Tensor, m: inout Tensor, v: inout Tensor,
                            learningRate: Float, beta1: Float, beta2: Float, epsilon: Float,
                            c1: Float, c2: Float, l2: Float, shrink: Float) {
        precondition(g.count == w.count && m.count == w.count && v.count == w.count,
                     "adam: operands of shapes \(w.shape), \(g.shape), \(m.shape), \(v.shape)")
        let n = Int64(w.count)
        g.withUnsafeBufferPointer { gp in
            w.withUnsafeMutableBufferPointer { wp in
                m.withUnsafeMutableBufferPointer { mp in
                    v.withUnsafeMutableBufferPointer { vp in
                        nk_adam_step(wp.baseAddress!, gp.baseAddress!, mp.baseAddress!, vp.baseAddress!, n,
                                     learningRate, beta1, beta2, epsilon, c1, c2, l2, shrink)
                    }
                }
            }
        }
    }
}
