import Testing
import Neurite
import TestSupport

/// Finite-difference checks of every layer and loss. Inputs are drawn away from kinks (ReLU's and
/// Leaky ReLU's 0, ELU's 0, Maxout ties). Bound: relative error ≤ 2e-2 with step 1e-2 in float32
/// (observed values are printed in the failure message; typical worst cases are 1e-4 … 5e-3).
@Suite struct GradientCheckTests {
    static let bound = 2e-2

    func input(_ shape: [Int], seed: UInt64, awayFromZero: Bool = false) -> Tensor {
        var g = SeededGenerator(seed: seed)
        var t = Tensor(randomNormal: shape, using: &g)
        if awayFromZero {
            t.withUnsafeMutableBufferPointer { p in
                for i in p.indices { p[i] = p[i] < 0 ? min(p[i], -0.1) : max(p[i], 0.1) }
            }
        }
        return t
    }

    @Test func dense() {
        var g = SeededGenerator(seed: 3)
        let layer = Dense(inputs: 7, outputs: 5, generator: &g)
        layer.bias.value = Tensor(randomNormal: [5], using: &g)
        let r = checkLayerGradients(layer, input: input([4, 7], seed: 1))
        #expect(r.worst < Self.bound, "Dense: \(r)")
    }

    @Test(arguments: ["sigmoid", "tanh", "relu", "leakyRelu", "elu", "softmax"])
    func activation(_ kind: String) {
        let layer: Layer = switch kind {
        case "sigmoid": Sigmoid()
        case "tanh": Tanh()
        case "relu": ReLU()
        case "leakyRelu": LeakyReLU()
        case "elu": ELU(alpha: 1.3)
        default: Softmax()
        }
        let r = checkLayerGradients(layer, input: input([3, 9], seed: 2, awayFromZero: true), epsilon: 1e-2)
        #expect(r.worst < Self.bound, "\(kind): \(r)")
    }

    @Test func maxout() {
        var g = SeededGenerator(seed: 5)
        let layer = Maxout(inputs: 6, outputs: 4, pieces: 3, generator: &g)
        // A small step keeps every probe on the same winning piece (pieces differ by ≫ 1e-3 here).
        let r = checkLayerGradients(layer, input: input([3, 6], seed: 4), epsilon: 1e-3)
        #expect(r.worst < Self.bound, "Maxout: \(r)")
    }

    @Test func dropoutWithAFixedMask() {
        let layer = Dropout(rate: 0.4, seed: 9)
        layer.freezesMask = true
        let x = input([5, 8], seed: 6)
        _ = layer.forward(x, training: true)
        let r = checkLayerGradients(layer, input: x)
        #expect(r.worst < Self.bound, "Dropout: \(r)")
        // Inverted dropout: kept elements scaled by 1/(1−p), identity at inference.
        let kept = layer.mask!.scalars.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 1 / 0.6) < 1e-6 })
        #expect(layer.forward(x, training: false) == x)
    }

    @Test func losses() {
        var g = SeededGenerator(seed: 11)
        let z = Tensor(randomNormal: [4, 5], standardDeviation: 2, using: &g)
        let labels = [0, 3, 4, 1]
        #expect(checkLossGradient(SoftmaxCrossEntropy(), output: z, target: .classes(labels)) < Self.bound)
        let soft = Tensor(randomUniform: [4, 5], in: 0...1, using: &g)
        #expect(checkLossGradient(SoftmaxCrossEntropy(), output: z, target: .values(soft)) < Self.bound)
        let d = Tensor(randomNormal: [4, 5], using: &g)
        #expect(checkLossGradient(MeanSquaredError(), output: z, target: .values(d)) < Self.bound)
        let logits = Tensor(randomNormal: [6, 1], standardDeviation: 3, using: &g)
        #expect(checkLossGradient(BinaryCrossEntropy(), output: logits, target: .classes([0, 1, 1, 0, 1, 0])) < Self.bound)
    }

    @Test func softmaxCrossEntropyIsStableForHugeLogits() {
        let z = Tensor(shape: [2, 3], scalars: [1000, -1000, 0, -1000, -1000, 1000])
        let (v, grad) = SoftmaxCrossEntropy().evaluate(output: z, target: .classes([0, 2]))
        #expect(v.isFinite && v < 1e-6)
        #expect(grad.scalars.allSatisfy { $0.isFinite })
        let (v2, _) = SoftmaxCrossEntropy().evaluate(output: z, target: .classes([1, 0]))
        #expect(abs(v2 - 2000) < 1)   // −log softmax = 2000 for both rows, mean 2000
    }

    @Test func oneHotAndLabelsAgree() {
        var g = SeededGenerator(seed: 12)
        let z = Tensor(randomNormal: [3, 4], using: &g)
        let oneHot = Tensor(shape: [3, 4], scalars: [0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1])
        let a = SoftmaxCrossEntropy().evaluate(output: z, target: .classes([1, 0, 3]))
        let b = SoftmaxCrossEntropy().evaluate(output: z, target: .values(oneHot))
        #expect(abs(a.value - b.value) < 1e-6)
        #expect(maxRelativeError(a.gradient.scalars, b.gradient.scalars) < 1e-6)
    }
}
