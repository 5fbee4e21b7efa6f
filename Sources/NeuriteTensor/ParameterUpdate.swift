// Optimizer update passes, run by the C kernels (the kernels' thread team over fixed ranges: thread-count independent).

import CNeurite

/// In-place parameter updates used by the optimizers, over a range of flat tensors (a model's
/// parameter arena and the arenas of its gradients and optimizer state, all of one layout).
public enum ParameterUpdate {
    /// SGD step on elements `range`: grad = g + l2·w; with momentum (a non-empty `velocity`)
    /// v ← μ·v + grad, w ← w − lr·(nesterov ? grad + μ·v : v); otherwise w ← w − lr·grad.
    /// `w` is written in place even when it is a shared view (an arena).
    public static func sgd(_ w: Tensor, gradient g: Tensor, velocity v: Tensor?, range: Range<Int>, learningRate: Float,
                           momentum: Float, l2: Float, nesterov: Bool) {
        precondition(range.lowerBound >= 0 && range.upperBound <= w.count && g.count == w.count && (v?.count ?? w.count) == w.count,
                     "sgd: range \(range) over operands of \(w.count), \(g.count), \(v?.count ?? w.count) floats")
        let n = Int64(range.count), o = range.lowerBound
        nk_sgd_step(w.storage.base + o, g.storage.base + o, v.map { $0.storage.base + o }, n,
                    learningRate, v == nil ? 0 : momentum, l2, nesterov ? 1 : 0)
    }

    /// Adam step on elements `range` (see `nk_adam_step`): c1, c2 are the bias corrections
    /// 1/(1 − βᵗ); `shrink` is the decoupled weight decay lr·λ (AdamW), `l2` the coupled one 2λ
    /// (Adam + L2). `w`, `m` and `v` are written in place.
    public static func adam(_ w: Tensor, gradient g: Tensor, m: Tensor, v: Tensor, range: Range<Int>,
                            learningRate: Float, beta1: Float, beta2: Float, epsilon: Float,
                            c1: Float, c2: Float, l2: Float, shrink: Float) {
        precondition(range.lowerBound >= 0 && range.upperBound <= w.count && g.count == w.count && m.count == w.count && v.count == w.count,
                     "adam: range \(range) over operands of \(w.count), \(g.count), \(m.count), \(v.count) floats")
        let n = Int64(range.count), o = range.lowerBound
        nk_adam_step(w.storage.base + o, g.storage.base + o, m.storage.base + o, v.storage.base + o, n,
                     learningRate, beta1, beta2, epsilon, c1, c2, l2, shrink)
    }
}
