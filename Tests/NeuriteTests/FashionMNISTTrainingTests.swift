import Testing
import Neurite

/// Real-data training: the course's MLP (784-256-128-10, ReLU, softmax cross-entropy) on the first
/// 10 000 Fashion-MNIST training images, evaluated on all 10 000 test images.
@Suite(.enabled(if: FashionMNIST.isAvailable, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"))
struct FashionMNISTTrainingTests {
    /// The cnn-bn recipe of README (24 epochs on 60 000 images: mean 0.937 over 3 seeds), shortened:
    /// 4 000 training images, 2 epochs, AdamW lr 0.002, weight decay 0.05, cosine schedule, crop,
    /// flip and erasing augmentation.
    @Test func cnnWithBatchNormAndAugmentationOnASubset() throws {
        let train = try FashionMNIST.load(split: .train, limit: 4_000, shape: .image)
        let test = try FashionMNIST.load(split: .test, shape: .image)
        // The loader keeps the 8-bit pixels that training gathers from: the same floats.
        let bytes = try #require(train.inputBytes)
        #expect(bytes.rowCount == 4_000 && bytes.rowShape == [1, 28, 28])
        #expect(bytes.floats.scalars.map(\.bitPattern) == train.inputs.scalars.map(\.bitPattern))
        let model = try Models.make("cnn-bn", inputShape: [1, 28, 28], outputs: 10, seed: 1)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(),
                              optimizer: Adam(learningRate: 0.002, weightDecay: 0.05, decoupled: true),
                              schedule: .cosine(epochs: 2, minimum: 2e-5))
        trainer.augmentation = try Augmentation("crop,flip,erase=0.3", imageShape: [1, 28, 28])
        _ = try trainer.fit(train, epochs: 2, batchSize: 64)
        let accuracy = trainer.evaluate(test).accuracy!
        print("Fashion-MNIST cnn-bn, 4k subset, 2 epochs: test accuracy \(accuracy)")
        #expect(accuracy >= 0.78, "test accuracy \(accuracy)")
    }

    /// Recipe: SGD lr 0.05, momentum 0.9, batch 64, 3 epochs. Measured: 0.826 test accuracy.
    @Test func mlpOnATenThousandImageSubset() throws {
        let train = try FashionMNIST.load(split: .train, limit: 10_000)
        let test = try FashionMNIST.load(split: .test)
        let model = try Sequential("dense:256,relu,dense:128,relu,dense:10", inputShape: [784], seed: 1)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(),
                              optimizer: SGD(learningRate: 0.05, momentum: 0.9), seed: 1)
        _ = try trainer.fit(train, epochs: 3, batchSize: 64)
        let accuracy = trainer.evaluate(test).accuracy!
        #expect(accuracy >= 0.75, "test accuracy \(accuracy)")
        print("Fashion-MNIST MLP, 10k subset, 3 epochs: test accuracy \(accuracy)")
    }
}
