import Foundation
import Testing
import Neurite
import TestSupport

/// Convolutional layers (finite-difference gradients, shape validation, specs) and the CNN models.
@Suite struct CNNTests {
    static let bound = 2e-2

    func normal(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor(randomNormal: shape, using: &g)
    }

    // MARK: shapes and specs

    @Test func outputShapesAndShapeErrors() throws {
        var g = SeededGenerator(seed: 1)
        let conv = Conv2D(inChannels: 3, outChannels: 8, kernelSize: 5, stride: 2, padding: 1, generator: &g)
        #expect(try conv.outputShape(for: [3, 32, 32]) == [8, 15, 15])
        #expect(try MaxPool2D(size: 3, stride: 2).outputShape(for: [8, 15, 15]) == [8, 7, 7])
        #expect(try AvgPool2D(size: 2).outputShape(for: [8, 7, 7]) == [8, 3, 3])
        #expect(try LocalResponseNorm().outputShape(for: [8, 7, 7]) == [8, 7, 7])
        // Wrong channel count, a kernel larger than the padded input, a non-image input.
        #expect(throws: ShapeError.self) { try conv.outputShape(for: [4, 32, 32]) }
        #expect(throws: ShapeError.self) { try conv.outputShape(for: [3, 2, 32]) }
        #expect(throws: ShapeError.self) { try conv.outputShape(for: [3 * 32 * 32]) }
        #expect(throws: ShapeError.self) { try MaxPool2D(size: 3).outputShape(for: [8, 2, 2]) }
        // A model names the failing layer and its index.
        do {
            _ = try Sequential(inputShape: [1, 28, 28], layers: [
                Conv2D(inChannels: 1, outChannels: 4, kernelSize: 5, generator: &g), MaxPool2D(size: 2),
                Conv2D(inChannels: 6, outChannels: 8, kernelSize: 3, generator: &g),
            ])
            Issue.record("a channel mismatch was accepted")
        } catch let e as ShapeError {
            #expect(e.layer.hasPrefix("#3 Conv2D(6→8"), "\(e)")
            #expect(e.found == [4, 12, 12])
            #expect(e.description.contains("[6, H, W]"), "\(e)")
        }
    }

    @Test func layerListsRoundTripAndNamedModelsAreLayerLists() throws {
        let spec = "conv:4:3x5:stride=2:pad=1x2x0x1,relu,maxpool:3:stride=2:pad=1,lrn,avgpool:2,flatten"
        let model = try Sequential(spec, inputShape: [1, 28, 28], seed: 3)
        #expect(model.spec == spec)
        // conv: H (28 + 3 − 3)/2 + 1 = 15, W (28 + 1 − 5)/2 + 1 = 13; pool 3/2 pad 1: 8×7; avg 2: 4×3.
        #expect(model.outputShape == [4 * 4 * 3])
        // LeNet-5 written out trains to the same weights as the named model.
        let named = try Models.lenet5(seed: 4)
        let written = try Sequential("conv:6:5:pad=2,relu,maxpool:2,conv:16:5,relu,maxpool:2,flatten,dense:120,relu,dense:84,relu,dense:10",
                                     inputShape: [1, 28, 28], seed: 4)
        #expect(written.spec == named.spec)
        var g = SeededGenerator(seed: 5)
        let data = Dataset(inputs: Tensor(randomUniform: [32, 1, 28, 28], in: 0...1, using: &g), labels: (0..<32).map { $0 % 10 }, classCount: 10)
        for m in [named, written] {
            _ = try Trainer(model: m, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 0.05, momentum: 0.9)).fit(data, epochs: 2, batchSize: 8)
        }
        #expect(named.parameters.values.scalars.map(\.bitPattern) == written.parameters.values.scalars.map(\.bitPattern))
        // Bad layer lists name the layer, the field, the value and what was expected.
        for (bad, needle) in [("conv:0:3", "filters"), ("conv:4:3:stride=0", "stride"), ("maxpool:2:pad=2", "smaller than the window"),
                              ("conv:4", "kernel size"), ("conv:4:3:wobble=1", "unknown argument"), ("conv:1e9:3", "filters"),
                              ("dropout:1", "rate"), ("lrn:k=-1", "k")] {
            do {
                _ = try Sequential(bad, inputShape: [3, 8, 8], seed: 1)
                Issue.record("\(bad) was accepted")
            } catch { #expect("\(error)".contains(needle), "\(bad): \(error)") }
        }
    }

    // MARK: models

    @Test func alexNetShapesAndParameterCount() throws {
        let model = try Models.alexNet(seed: 1)
        let convShapes = zip(model.layers, model.outputShapes).filter { !($0.0 is ReLU) }.map(\.1)
        #expect(convShapes == [
            [96, 55, 55], [96, 27, 27], [96, 27, 27],          // conv1, pool1, norm1
            [256, 27, 27], [256, 13, 13], [256, 13, 13],       // conv2, pool2, norm2
            [384, 13, 13], [384, 13, 13], [256, 13, 13],       // conv3, conv4, conv5
            [256, 6, 6], [9216],                                // pool5, flatten
            [4096], [4096], [4096], [4096], [1000],             // fc6, drop, fc7, drop, fc8
        ])
        // Weights + biases per layer: conv1 96·3·11·11 + 96, conv2 256·96·5·5 + 256, conv3 384·256·9
        // + 384, conv4 384·384·9 + 384, conv5 256·384·9 + 256, fc6 9216·4096 + 4096, fc7 4096² + 4096,
        // fc8 4096·1000 + 1000.
        let expected = (96 * 3 * 121 + 96) + (256 * 96 * 25 + 256) + (384 * 256 * 9 + 384) + (384 * 384 * 9 + 384)
            + (256 * 384 * 9 + 256) + (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
        #expect(expected == 62_378_344)
        #expect(model.parameterCount == expected)
        let summary = model.summary()
        for s in ["[96, 55, 55]", "[256, 13, 13]", "[256, 6, 6]", "[9216]", "[1000]", "Total parameters: 62378344",
                  "Conv2D(3→96, 11×11/4)", "MaxPool2D(3×3/2)", "LocalResponseNorm(5)"] {
            #expect(summary.contains(s), "summary lacks \(s):\n\(summary)")
        }
        #expect(try Models.alexNet(seed: 1, classes: 10).outputShape == [10])
    }

    @Test func alexNetForwardAndBackwardOnABatchOfTwo() throws {
        let model = try Models.alexNet(seed: 2)
        var g = SeededGenerator(seed: 3)
        let x = Tensor(randomUniform: [2, 3, 227, 227], in: 0...1, using: &g)
        let context = model.makeTrainingContext()
        let y = model.forward(x, context: context)
        #expect(y.shape == [2, 1000])
        #expect(y.scalars.allSatisfy { $0.isFinite })
        let (loss, grad) = SoftmaxCrossEntropy().evaluate(output: y, target: .classes([3, 997]))
        #expect(loss.isFinite && loss > 0)
        model.backward(grad, context: context)
        #expect(context.gradients.scalars.allSatisfy { $0.isFinite })
        // Every weight layer received some gradient (ReLUs and dropout leave most paths open).
        for case let conv as Conv2D in model.layers {
            #expect(context.gradient(of: conv.weight).scalars.contains { $0 != 0 }, "\(conv.name) got no gradient")
        }
    }

    @Test func alexNetSmallAndLeNetShapes() throws {
        let small = try Models.alexNetSmall(seed: 1)
        #expect(small.outputShape == [10])
        #expect(small.outputShapes.contains([64, 2, 2]) && small.outputShapes.contains([16, 13, 13]))
        let lenet = try Models.lenet5(seed: 1)
        #expect(lenet.parameterCount == 61_706)
        #expect(lenet.outputShapes.filter { $0.count == 3 } == [[6, 28, 28], [6, 28, 28], [6, 14, 14],
                                                                  [16, 10, 10], [16, 10, 10], [16, 5, 5]])
        #expect(try Models.mlp(seed: 1).parameterCount == 784 * 256 + 256 + 256 * 128 + 128 + 1290)
        // One training step of the small AlexNet runs and changes the weights.
        var g = SeededGenerator(seed: 4)
        let x = Tensor(randomUniform: [4, 1, 28, 28], in: 0...1, using: &g)
        let data = Dataset(inputs: x, labels: [0, 1, 2, 3], classCount: 10)
        let before = small.parameters.parameters[0].value
        let trainer = Trainer(model: small, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 0.01), seed: 1)
        let h = try trainer.fit(data, epochs: 1, batchSize: 4)
        #expect(h.epochs[0].trainLoss.isFinite)
        #expect(small.parameters.parameters[0].value != before)
    }

    /// LeNet-5, 10 000 training images, SGD lr 0.05 momentum 0.9, batch 64, 2 epochs, seeded.
    /// Measured: test accuracy 0.808 on the 10 000 test images with the current kernels (0.822 and
    /// 0.827 with earlier summation orders: rounding differs), bound 0.75; ≈ 2 s of a test run.
    @Test(.enabled(if: FashionMNIST.isAvailable))
    func lenet5LearnsFashionMNIST() throws {
        let train = try FashionMNIST.load(split: .train, limit: 10_000, shape: .image)
        let test = try FashionMNIST.load(split: .test, shape: .image)
        let model = try Models.lenet5(seed: 42)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(),
                              optimizer: SGD(learningRate: 0.05, momentum: 0.9), seed: 7)
        let history = try trainer.fit(train, epochs: 2, batchSize: 64)
        let accuracy = trainer.evaluate(test).accuracy ?? 0
        print("LeNet-5 Fashion-MNIST: \(history.epochs.map { "loss \($0.trainLoss) \(Int($0.samplesPerSecond)) samples/s" }), test accuracy \(accuracy)")
        #expect(accuracy >= 0.75, "test accuracy \(accuracy)")
    }
}
