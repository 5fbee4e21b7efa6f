import Testing
import Neurite
import TestSupport

/// Finite-difference checks of every layer and loss. Inputs are drawn away from kinks (ReLU's and
/// Leaky ReLU's 0, ELU's 0, Maxout ties). Bound: relative error ≤ 2e-2 with step 1e-2 in float32
/// (observed values are printed in the failure message; typical worst cases are 1e-4 … 5e-3).
@Suite struct GradientCheckTests {
    static let bound = 2e-2

    @Test func dropoutMasksAreFixedPerStepAndInverted() throws {
        let model = try Sequential("dropout:0.4", inputShape: [8], seed: 9)
        var g = SeededGenerator(seed: 6)
        let x = Tensor(randomNormal: [5, 8], using: &g) + 3   // no zeros: a dropped element is exactly 0
        let context = model.makeTrainingContext()
        context.step = 4
        let a = model.forward(x, context: context), b = model.forward(x, context: context)
        #expect(a == b, "the same step draws the same mask")
        context.step = 5
        #expect(model.forward(x, context: context) != a, "another step draws another mask")
        // Inverted dropout: kept elements scaled by 1/(1−p), identity at inference.
        for (y, v) in zip(a.scalars, x.scalars) where y != 0 { #expect(abs(y - v / 0.6) < 1e-5) }
        #expect(a.scalars.contains(0))
        #expect(model(x) == x)
    }

    @Test func aTrailingSoftmaxIsRefusedBeforeCrossEntropy() throws {
        let model = try Sequential("dense:3,softmax", inputShape: [4], seed: 1)
        let data = Dataset(inputs: Tensor(shape: [2, 4], repeating: 1), labels: [0, 2], classCount: 3)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 0.1))
        #expect { try trainer.fit(data, epochs: 1, batchSize: 2) } throws: { "\($0)".contains("ends with softmax") }
    }

    @Test func losses() {
        var g = SeededGenerator(seed: 11)
        let z = Tensor(randomNormal: [4, 5], standardDeviation: 2, using: &g)
        let labels = [0, 3, 4, 1]
        #expect(GradientCheck.loss(SoftmaxCrossEntropy(), output: z, target: .classes(labels)) < Self.bound)
        let soft = Tensor(randomUniform: [4, 5], in: 0...1, using: &g)
        #expect(GradientCheck.loss(SoftmaxCrossEntropy(), output: z, target: .values(soft)) < Self.bound)
        let d = Tensor(randomNormal: [4, 5], using: &g)
        #expect(GradientCheck.loss(MeanSquaredError(), output: z, target: .values(d)) < Self.bound)
        let logits = Tensor(randomNormal: [6, 1], standardDeviation: 3, using: &g)
        #expect(GradientCheck.loss(BinaryCrossEntropy(), output: logits, target: .classes([0, 1, 1, 0, 1, 0])) < Self.bound)
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
