// Finite-difference gradient checks for layers and losses.
import Neurite

/// Worst relative error between an analytic gradient and central differences, per checked tensor.
public struct GradientCheckReport: CustomStringConvertible {
    public var errors: [String: Double] = [:]
    public var worst: Double { errors.values.max() ?? 0 }
    public var description: String {
        errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
    }
}

/// Relative error |a − n| / max(|a| + |n|, floor), the usual gradient-check measure.
public func gradientRelativeError(_ analytic: Double, _ numeric: Double, floor: Double = 1e-3) -> Double {
    abs(analytic - numeric) / max(abs(analytic) + abs(numeric), floor)
}

/// Checks `layer`'s input and parameter gradients on `input` with the scalar probe
/// E = Σ r ⊙ layer(x) for a fixed random r, by central differences (step `epsilon`, Double
/// accumulation of E). At most `samples` coordinates of each tensor are probed.
public func checkLayerGradients(_ layer: Layer, input: Tensor, epsilon: Float = 1e-2, samples: Int = 40,
                                seed: UInt64 = 1) -> GradientCheckReport {
    var g = SeededGenerator(seed: seed)
    let y0 = layer.forward(input, training: true)
    let r = Tensor(randomNormal: y0.shape, using: &g)
    func probe(_ x: Tensor) -> Double {
        let y = layer.forward(x, training: true)
        var s = 0.0
        for (a, b) in zip(y.scalars, r.scalars) { s += Double(a) * Double(b) }
        return s
    }
    for p in layer.parameters { p.zeroGradient() }
    _ = layer.forward(input, training: true)
    let saved = layer.needsInputGradient
    layer.needsInputGradient = true
    let dx = layer.backward(r)
    layer.needsInputGradient = saved
    let analyticParams = layer.parameters.map { $0.gradient }
    var report = GradientCheckReport()

    // Parameter probes perturb the layer's own parameter in place and restore it.
    func check(_ name: String, count: Int, analytic: (Int) -> Float, perturb: (Int, Float) -> Void) {
        var worst = 0.0
        let stride = max(1, count / samples)
        var i = 0
        while i < count {
            perturb(i, epsilon)
            let plus = probe(input)
            perturb(i, -2 * epsilon)
            let minus = probe(input)
            perturb(i, epsilon)
            let numeric = (plus - minus) / (2 * Double(epsilon))
            worst = max(worst, gradientRelativeError(Double(analytic(i)), numeric))
            i += stride
        }
        report.errors[name] = worst
    }

    var worstInput = 0.0
    let stride = max(1, input.count / samples)
    let dxs = dx.scalars
    for i in Swift.stride(from: 0, to: input.count, by: stride) {
        var xp = input, xm = input
        xp.withUnsafeMutableBufferPointer { $0[i] += epsilon }
        xm.withUnsafeMutableBufferPointer { $0[i] -= epsilon }
        let numeric = (probe(xp) - probe(xm)) / (2 * Double(epsilon))
        worstInput = max(worstInput, gradientRelativeError(Double(dxs[i]), numeric))
    }
    report.errors["input"] = worstInput

    for (p, analytic) in zip(layer.parameters, analyticParams) {
        let a = analytic.scalars
        check(p.name, count: p.value.count, analytic: { a[$0] }) { i, d in
            p.value.withUnsafeMutableBufferPointer { $0[i] += d }
        }
    }
    return report
}

/// Checks a loss's gradient with respect to the output by central differences.
public func checkLossGradient(_ loss: Loss, output: Tensor, target: LossTarget, epsilon: Float = 1e-2) -> Double {
    let (_, grad) = loss.evaluate(output: output, target: target)
    let gs = grad.scalars
    var worst = 0.0
    for i in 0..<output.count {
        var p = output, m = output
        p.withUnsafeMutableBufferPointer { $0[i] += epsilon }
        m.withUnsafeMutableBufferPointer { $0[i] -= epsilon }
        let numeric = (Double(loss.value(output: p, target: target)) - Double(loss.value(output: m, target: target))) / (2 * Double(epsilon))
        worst = max(worst, gradientRelativeError(Double(gs[i]), numeric))
    }
    return worst
}
