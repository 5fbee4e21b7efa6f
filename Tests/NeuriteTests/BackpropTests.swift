import Testing
import Neurite
import TestSupport

/// Backpropagation of a 3-layer MLP against a naive implementation written here in Double, straight
/// from the classic algorithm: δ_L = ∇y E; for k = L…1: ∇b_k = Σ δ_k, ∇W_k = δ_k h_{k−1}ᵀ,
/// ∇h_{k−1} = W_kᵀ δ_k, δ_{k−1} = ∇h_{k−1} ⊙ g′(a_{k−1}).
@Suite struct BackpropTests {
    @Test func threeLayerMLPMatchesNaiveBackprop() throws {
        try checkAgainstNaiveBackprop(Tanh(), Sigmoid(),
                                      acts: [{ _tanh($0) }, { 1 / (1 + _exp(-$0)) }, { $0 }],
                                      derivs: [{ 1 - _tanh($0) * _tanh($0) }, { let s = 1 / (1 + _exp(-$0)); return s * (1 - s) }, { _ in 1 }])
    }

    /// Dense followed by ReLU runs as one fused step each way (`Sequential`'s ReLU fusion: the ReLU
    /// in the forward product's epilogue, its gate in the next layer's input-gradient product).
    @Test func reluMLPMatchesNaiveBackpropThroughTheFusedSteps() throws {
        try checkAgainstNaiveBackprop(ReLU(), ReLU(),
                                      acts: [{ max($0, 0) }, { max($0, 0) }, { $0 }],
                                      derivs: [{ $0 > 0 ? 1 : 0 }, { $0 > 0 ? 1 : 0 }, { _ in 1 }])
    }

    /// The fused inference pass gives the bits of the layers run one by one.
    @Test func fusedInferenceEqualsLayerByLayer() throws {
        let model = try Sequential("dense:40,relu,dense:30,relu,dense:7,relu", inputShape: [33], seed: 3)
        var g = SeededGenerator(seed: 4)
        let x = Tensor(randomNormal: [70, 33], using: &g)
        var h = x
        for layer in model.layers { h = layer.forward(h, step: nil) }
        #expect(bitwiseEqual(model(x).scalars, h.scalars))
    }

    private func checkAgainstNaiveBackprop(_ first: any Layer, _ second: any Layer, acts: [(Double) -> Double],
                                           derivs: [(Double) -> Double]) throws {
        var g = SeededGenerator(seed: 21)
        let sizes = [5, 8, 6, 3]
        let dense = [Dense(inputs: 5, outputs: 8, generator: &g), Dense(inputs: 8, outputs: 6, generator: &g),
                     Dense(inputs: 6, outputs: 3, generator: &g)]
        let model = try Sequential(inputShape: [5], layers: [dense[0], first, dense[1], second, dense[2]])
        for d in dense { d.bias.value = Tensor(randomNormal: d.bias.value.shape, standardDeviation: 0.3, using: &g) }
        let batch = 4
        let x = Tensor(randomNormal: [batch, 5], using: &g)
        let labels = [2, 0, 1, 2]

        let context = model.makeTrainingContext()
        let y = model.forward(x, context: context)
        let (_, grad) = SoftmaxCrossEntropy().evaluate(output: y, target: .classes(labels))
        model.backward(grad, context: context)

        // Naive reference, one example at a time, in Double.
        let W = dense.map { d in d.weight.value.scalars.map(Double.init) }
        let B = dense.map { d in d.bias.value.scalars.map(Double.init) }
        var gW = W.map { [Double](repeating: 0, count: $0.count) }
        var gB = B.map { [Double](repeating: 0, count: $0.count) }
        let xs = x.scalars.map(Double.init)
        for n in 0..<batch {
            var h: [[Double]] = [Array(xs[(n * 5)..<(n * 5 + 5)])]
            var a: [[Double]] = []
            for k in 0..<3 {
                let (ni, no) = (sizes[k], sizes[k + 1])
                var ak = [Double](repeating: 0, count: no)
                for o in 0..<no {
                    ak[o] = B[k][o]
                    for i in 0..<ni { ak[o] += W[k][o * ni + i] * h[k][i] }
                }
                a.append(ak)
                h.append(ak.map(acts[k]))
            }
            // ∇y E of the mean softmax cross-entropy for this example.
            let out = h[3]
            let m = out.max()!
            let e = out.map { _exp($0 - m) }
            let s = e.reduce(0, +)
            var gradH = e.map { $0 / s / Double(batch) }
            gradH[labels[n]] -= 1 / Double(batch)
            for k in stride(from: 2, through: 0, by: -1) {
                let (ni, no) = (sizes[k], sizes[k + 1])
                let delta = (0..<no).map { gradH[$0] * derivs[k](a[k][$0]) }
                for o in 0..<no {
                    gB[k][o] += delta[o]
                    for i in 0..<ni { gW[k][o * ni + i] += delta[o] * h[k][i] }
                }
                gradH = (0..<ni).map { i in (0..<no).reduce(0.0) { $0 + W[k][$1 * ni + i] * delta[$1] } }
            }
        }
        for k in 0..<3 {
            let errW = maxRelativeError(context.gradient(of: dense[k].weight).scalars, gW[k].map(Float.init))
            let errB = maxRelativeError(context.gradient(of: dense[k].bias).scalars, gB[k].map(Float.init))
            #expect(errW < 1e-5, "layer \(k + 1) ∇W")
            #expect(errB < 1e-5, "layer \(k + 1) ∇b")
        }
    }
}

import Foundation
private func _tanh(_ x: Double) -> Double { Foundation.tanh(x) }
private func _exp(_ x: Double) -> Double { Foundation.exp(x) }
