// Mini-batch gradient descent: the training loop, evaluation and prediction.

import Foundation

/// Metrics of one epoch.
public struct EpochMetrics: Codable, Sendable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Mean training loss over the epoch's batches.
    public var trainLoss: Float
    /// Fraction of training examples classified correctly during the epoch (nil for regression).
    public var trainAccuracy: Float?
    public var validationLoss: Float?
    public var validationAccuracy: Float?
    /// Learning rate used in this epoch.
    public var learningRate: Float
    /// Wall time of the epoch's training part (seconds).
    public var seconds: Double
    /// Training examples per second.
    public var samplesPerSecond: Double
}

/// What `fit` returns: one entry per completed epoch.
public struct History: Codable, Sendable {
    public var epochs: [EpochMetrics] = []
    /// Whether a callback stopped training before the requested number of epochs.
    public var stoppedEarly = false
    /// Whether training was interrupted (`Trainer.requestStop()`, e.g. on SIGINT).
    public var interrupted = false
    public init() {}
}

/// What a callback asks the trainer to do after an epoch.
public enum TrainingAction: Sendable { case `continue`, stop }

/// Hooks into `fit`: called after every batch and every epoch.
public protocol TrainingCallback: AnyObject {
    func trainerDidFinishBatch(_ trainer: Trainer, epoch: Int, batch: Int, batches: Int, loss: Float)
    func trainerDidFinishEpoch(_ trainer: Trainer, metrics: EpochMetrics) -> TrainingAction
    func trainerDidFinishTraining(_ trainer: Trainer, history: History)
}

extension TrainingCallback {
    public func trainerDidFinishBatch(_ trainer: Trainer, epoch: Int, batch: Int, batches: Int, loss: Float) {}
    public func trainerDidFinishEpoch(_ trainer: Trainer, metrics: EpochMetrics) -> TrainingAction { .continue }
    public func trainerDidFinishTraining(_ trainer: Trainer, history: History) {}
}

/// Training that cannot go on.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// The loss became NaN or infinite at this (1-based) epoch and batch.
    case nonFiniteLoss(epoch: Int, batch: Int, value: Float)
    /// The data does not fit the model or the loss.
    case dataMismatch(String)
    /// A hyper-parameter outside its valid range.
    case invalidHyperparameter(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(e, b, v):
            return "the training loss became \(v) at epoch \(e), batch \(b); lower the learning rate or check the data"
        case let .dataMismatch(m): return m
        case let .invalidHyperparameter(m): return m
        }
    }
}

/// Result of evaluating a model on a data set.
public struct Evaluation: Sendable {
    public var loss: Float
    /// Fraction correct (classification only).
    public var accuracy: Float?
    /// Predicted class per example (classification only).
    public var predictions: [Int]
}

/// Mini-batch gradient descent on a `Sequential` model.
///
/// Each epoch shuffles the training set with the trainer's seeded generator, then for every batch
/// runs forward, the loss, backpropagation and one optimizer step. The same seed gives bitwise the
/// same weights whatever the thread count (every kernel is deterministic).
public final class Trainer {
    public let model: Sequential
    public var loss: Loss
    public let optimizer: Optimizer
    /// Learning-rate schedule over epochs, relative to `baseLearningRate`.
    public var schedule: LearningRateSchedule
    /// The optimizer's learning rate at epoch 0.
    public let baseLearningRate: Float
    /// Shuffling order comes from here (saved in checkpoints).
    public var generator: SeededGenerator
    /// Epochs completed so far (a resumed trainer continues from here).
    public var completedEpochs = 0
    /// Where an interrupted epoch stopped: the shuffling generator's state at the epoch's start and
    /// the number of batches already done. The next epoch resumes exactly there (saved in checkpoints).
    public var epochPosition: (generatorAtStart: SeededGenerator, batchesDone: Int)?
    private let stopFlag = StopFlag()

    public init(model: Sequential, loss: Loss, optimizer: Optimizer, schedule: LearningRateSchedule = .constant,
                seed: UInt64 = 0) {
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.schedule = schedule
        self.baseLearningRate = optimizer.learningRate
        self.generator = SeededGenerator(seed: seed)
    }

    /// Asks a running `fit` to stop after the current batch (safe from a signal handler's thread).
    public func requestStop() { stopFlag.set() }

    /// The target of examples `indices` of `data` for the loss.
    func target(_ data: Dataset, _ indices: some Collection<Int>) -> LossTarget {
        if let t = data.targets { return .values(t.gatheringRows(indices)) }
        return .classes(indices.map { data.labels[$0] })
    }

    /// Checks that `data` fits the model and the loss; throws a message naming both shapes otherwise.
    public func validate(_ data: Dataset, role: String) throws {
        let example = Array(data.inputs.shape.dropFirst())
        guard example == model.inputShape || example.reduce(1, *) == model.inputShape.reduce(1, *) else {
            throw TrainingError.dataMismatch("the \(role) examples have shape \(example) but the model's input is \(model.inputShape)")
        }
        let out = model.outputShape.reduce(1, *)
        if data.isClassification {
            if loss is SoftmaxCrossEntropy, data.classCount > out {
                throw TrainingError.dataMismatch("the \(role) data has \(data.classCount) classes but the model has \(out) outputs")
            }
            if loss is MeanSquaredError {
                throw TrainingError.dataMismatch("mean squared error needs regression targets, the \(role) data has class labels")
            }
        } else if let t = data.targets, t.rowWidth != out {
            throw TrainingError.dataMismatch("the \(role) targets have \(t.rowWidth) values per example but the model has \(out) outputs")
        }
    }

    /// Trains for `epochs` more epochs and returns their metrics.
    public func fit(_ train: Dataset, validation: Dataset? = nil, epochs: Int, batchSize: Int,
                    callbacks: [TrainingCallback] = []) throws -> History {
        guard epochs >= 0 else { throw TrainingError.invalidHyperparameter("epochs must be ≥ 0, got \(epochs)") }
        guard batchSize > 0 else { throw TrainingError.invalidHyperparameter("batch size must be > 0, got \(batchSize)") }
        try validate(train, role: "training")
        if let v = validation { try validate(v, role: "validation") }
        var history = History()
        stopFlag.clear()
        for _ in 0..<epochs {
            let metrics = try trainEpoch(train, validation: validation, batchSize: batchSize, callbacks: callbacks)
            history.epochs.append(metrics)
            if stopFlag.isSet { history.interrupted = true; break }
            var stop = false
            for c in callbacks where c.trainerDidFinishEpoch(self, metrics: metrics) == .stop { stop = true }
            if stop { history.stoppedEarly = true; break }
        }
        for c in callbacks { c.trainerDidFinishTraining(self, history: history) }
        return history
    }

    /// One epoch over `train` (shuffled), then validation metrics.
    public func trainEpoch(_ train: Dataset, validation: Dataset? = nil, batchSize: Int,
                           callbacks: [TrainingCallback] = []) throws -> EpochMetrics {
        let epoch = completedEpochs + 1
        optimizer.learningRate = schedule.rate(base: baseLearningRate, epoch: completedEpochs)
        var firstBatch = 0
        if let position = epochPosition {
            generator = position.generatorAtStart
            firstBatch = position.batchesDone
            epochPosition = nil
        }
        let generatorAtStart = generator
        let order = generator.permutation(train.count)
        let batches = (train.count + batchSize - 1) / batchSize
        let params = model.parameters
        var lossSum: Double = 0, correct = 0, seen = 0
        let start = Date()
        var interrupted = false
        for b in firstBatch..<max(firstBatch, batches) {
            let idx = order[(b * batchSize)..<min((b + 1) * batchSize, train.count)]
            let x = train.inputs.gatheringRows(idx)
            let t = target(train, idx)
            model.zeroGradients()
            let y = model.forward(x, training: true)
            let (value, grad) = loss.evaluate(output: y, target: t)
            guard value.isFinite else { throw TrainingError.nonFiniteLoss(epoch: epoch, batch: b + 1, value: value) }
            model.backward(grad)
            optimizer.step(params)
            lossSum += Double(value) * Double(idx.count)
            seen += idx.count
            if train.isClassification { correct += Trainer.countCorrect(y, t) }
            for c in callbacks { c.trainerDidFinishBatch(self, epoch: epoch, batch: b + 1, batches: batches, loss: value) }
            if stopFlag.isSet && b + 1 < batches {
                epochPosition = (generatorAtStart, b + 1)
                interrupted = true
                break
            }
        }
        let seconds = Date().timeIntervalSince(start)
        if !interrupted { completedEpochs += 1 }
        var m = EpochMetrics(epoch: epoch, trainLoss: Float(lossSum / Double(max(seen, 1))),
                             trainAccuracy: train.isClassification ? Float(correct) / Float(max(seen, 1)) : nil,
                             learningRate: optimizer.learningRate, seconds: seconds,
                             samplesPerSecond: Double(seen) / max(seconds, 1e-9))
        if let v = validation {
            let e = evaluate(v)
            m.validationLoss = e.loss
            m.validationAccuracy = e.accuracy
        }
        return m
    }

    /// Loss and (for classification) accuracy of the model on `data`, in batches, without training.
    public func evaluate(_ data: Dataset, batchSize: Int = 500) -> Evaluation {
        var lossSum: Double = 0
        var predictions: [Int] = []
        predictions.reserveCapacity(data.count)
        var start = 0
        while start < data.count {
            let end = min(start + batchSize, data.count)
            let x = data.inputs.rows(start..<end)
            let y = model.forward(x, training: false)
            let t = target(data, start..<end)
            lossSum += Double(loss.value(output: y, target: t)) * Double(end - start)
            if data.isClassification { predictions += Trainer.decide(y) }
            start = end
        }
        var acc: Float?
        if data.isClassification {
            let right = zip(predictions, data.labels).filter { $0 == $1 }.count
            acc = Float(right) / Float(max(data.count, 1))
        }
        return Evaluation(loss: Float(lossSum / Double(max(data.count, 1))), accuracy: acc, predictions: predictions)
    }

    /// Class decisions for a batch of outputs: argmax for several outputs, logit > 0 for one.
    public static func decide(_ output: Tensor) -> [Int] {
        if output.rowWidth == 1 { return output.scalars.map { $0 > 0 ? 1 : 0 } }
        return output.reshaped([output.rowCount, output.rowWidth]).argmax()
    }

    static func countCorrect(_ y: Tensor, _ t: LossTarget) -> Int {
        guard case let .classes(labels) = t else { return 0 }
        return zip(decide(y), labels).filter { $0 == $1 }.count
    }
}

/// A flag set from another thread (a signal handler) and read by the training loop.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    func clear() { lock.lock(); value = false; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
