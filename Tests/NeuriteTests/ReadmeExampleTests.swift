import Foundation
import Testing
import Neurite

/// README's library example, as written there (on a 6 000-image subset and two epochs), so the
/// documented API keeps compiling and running.
@Test(.enabled(if: FashionMNIST.isAvailable, "Fashion-MNIST is not installed"))
func readmeLibraryExample() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString).safetensors").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let train = try FashionMNIST.load(split: .train, limit: 6_000)
    let test = try FashionMNIST.load(split: .test)
    let model = try Sequential("dense:256,relu,dense:128,relu,dense:10", inputShape: [784], seed: 1)
    let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(),
                          optimizer: SGD(learningRate: 0.05, momentum: 0.9))
    let history = try trainer.fit(train, epochs: 2, batchSize: 64)
    #expect(history.epochs.last!.trainLoss.isFinite && model.evaluate(test).accuracy! > 0.7, "accuracy \(model.evaluate(test).accuracy!)")
    let logits = model(test.inputs.rows(0..<8))
    #expect(logits.shape == [8, 10])
    try Checkpoint.save(trainer, to: path)
    let again = try Checkpoint.load(path)
    #expect(again.model(test.inputs.rows(0..<8)) == logits)
    #expect(try again.makeTrainer().completedEpochs == 2)
}
