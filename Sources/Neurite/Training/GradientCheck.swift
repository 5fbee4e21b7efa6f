// Finite-difference gradient checks for layers, models and losses: how a user checks a layer of
// their own before training with it.

/// Compares analytic gradients with central differences.
public enum GradientCheck {
    /// Worst relative error between an analytic gradient and central differences, per checked tensor
    /// ("input", "0.weight", …).
    public struct Report: CustomStringConvertible, Sendable {
        /// Worst error of each tensor.
        public var errors: [String: Double] = [:]
        /// The worst of all.
        public var worst: Double { errors.values.max() ?? 0 }
        public var description: String {
            errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        }
    }

    /// Relative error |a − n| / max(|a| + |n|, floor), the usual gradient-check measure.
    public static func relativeError(_ analytic: Double, _ numeric: Double, floor: Double = 1e-3) -> Double {
        abs(analytic - numeric) / max(abs(analytic) + abs(numeric), floor)
    }

    /// Checks `layer` (which must not belong to a model yet: it is placed in a one-layer model) on
    /// `input` [B, …]. See `model(_:input:epsilon:samples:seed:)`.
    public static func layer(_ layer: any Layer, input: Tensor, epsilon: Float = 1e-2, samples: Int = 40,
                             seed: UInt64 = 1) throws -> Report {
        let model = try Sequential(inputShape: Array(input.shape.dropFirst()), layers: [layer], seed: seed)
        return model.gradientCheck(input: input, epsilon: epsilon, samples: samples, seed: seed)
    }

    /// Checks the input and parameter gradients of `model` in training mode on `input` with the
    /// scalar probe E = Σ r ⊙ model(x) for a fixed random r, by central differences (step
    /// `epsilon`, Double accumulation of E). At most `samples` coordinates of each tensor are probed;
    /// every probe reuses the same training step, so dropout masks stay fixed. Keep inputs away from
    /// kinks (ReLU's 0, max-pool ties), where finite differences are meaningless.
    public static func model(_ model: Sequential, input: Tensor, epsilon: Float = 1e-2, samples: Int = 40,
                             seed: UInt64 = 1) -> Report {
        model.gradientCheck(input: input, epsilon: epsilon, samples: samples, seed: seed)
    }

    /// Worst relative error of `loss`'s gradient with respect to the output, by central differences.
    public static func loss(_ loss: any Loss, output: Tensor, target: LossTarget, epsilon: Float = 1e-2) -> Double {
        let (_, grad) = loss.evaluate(output: output, target: target)
        let gs = grad.scalars
        var worst = 0.0
        for i in 0..<output.count {
            var p = output, m = output
            p.withUnsafeMutableBufferPointer { $0[i] += epsilon }
            m.withUnsafeMutableBufferPointer { $0[i] -= epsilon }
            let numeric = (Double(loss.value(output: p, target: target)) - Double(loss.value(output: m, target: target))) / (2 * Double(epsilon))
            worst = max(worst, relativeError(Double(gs[i]), numeric))
        }
        return worst
    }
}

extension Sequential {
    fileprivate func gradientCheck(input: Tensor, epsilon: Float, samples: Int, seed: UInt64) -> GradientCheck.Report {
        var g = SeededGenerator(seed: seed)
        let context = makeTrainingContext()
        context.needsInputGradient = true
        let y0 = forward(input, context: context)
        let r = Tensor(randomNormal: y0.shape, using: &g)
        let dx = backward(r, context: context)
        let analytic = context.gradients
        func probe(_ x: Tensor) -> Double {
            let y = forward(x, context: context)
            var s = 0.0
            for (a, b) in zip(y.scalars, r.scalars) { s += Double(a) * Double(b) }
            return s
        }
        var report = GradientCheck.Report()
        func check(_ name: String, count: Int, analytic: (Int) -> Float, perturb: (Int, Float) -> Void) {
            var worst = 0.0
            let stride = max(1, count / max(samples, 1))
            for i in Swift.stride(from: 0, to: count, by: stride) {
                perturb(i, epsilon)
                let plus = probe(input)
                perturb(i, -2 * epsilon)
                let minus = probe(input)
                perturb(i, epsilon)
                let numeric = (plus - minus) / (2 * Double(epsilon))
                worst = max(worst, GradientCheck.relativeError(Double(analytic(i)), numeric))
            }
            report.errors[name] = worst
        }
        let dxs = dx.scalars
        var worstInput = 0.0
        let stride = max(1, input.count / max(samples, 1))
        for i in Swift.stride(from: 0, to: input.count, by: stride) {
            var xp = input, xm = input
            xp.withUnsafeMutableBufferPointer { $0[i] += epsilon }
            xm.withUnsafeMutableBufferPointer { $0[i] -= epsilon }
            let numeric = (probe(xp) - probe(xm)) / (2 * Double(epsilon))
            worstInput = max(worstInput, GradientCheck.relativeError(Double(dxs[i]), numeric))
        }
        report.errors["input"] = worstInput
        for p in parameters.parameters {
            let a = parameters.slice(p, of: analytic).scalars
            check(p.qualifiedName, count: p.count, analytic: { a[$0] }, perturb: { i, d in
                var v = p.view
                v.withUnsafeMutableBufferPointer { $0[i] += d }
            })
        }
        return report
    }
}
