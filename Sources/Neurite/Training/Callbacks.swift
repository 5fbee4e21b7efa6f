// Training callbacks: early stopping, JSON-lines metrics log, periodic checkpoints.

import Foundation

/// Stops training when a validation metric stops improving, and restores the best epoch's weights.
///
/// Improvement means better than the best so far by more than `minDelta` (lower for `.min`, higher
/// for `.max`). After `patience` epochs without improvement training stops; with `restoreBest`
/// the weights of the best epoch are copied back at the end of training either way.
public final class EarlyStopping: TrainingCallback {
    public enum Metric: String, Sendable { case validationLoss, validationAccuracy, trainLoss }
    public enum Mode: Sendable { case min, max }

    public let metric: Metric
    public let mode: Mode
    public let patience: Int
    public let minDelta: Float
    public let restoreBest: Bool
    /// Best value seen and its (1-based) epoch.
    public private(set) var best: Float?
    public private(set) var bestEpoch = 0
    private var bestWeights: [Tensor] = []
    private var waited = 0

    public init(metric: Metric = .validationLoss, mode: Mode? = nil, patience: Int = 5, minDelta: Float = 0,
                restoreBest: Bool = true) {
        precondition(patience >= 0, "EarlyStopping patience must be ≥ 0")
        self.metric = metric
        self.mode = mode ?? (metric == .validationAccuracy ? .max : .min)
        self.patience = patience
        self.minDelta = minDelta
        self.restoreBest = restoreBest
    }

    func value(_ m: EpochMetrics) -> Float? {
        switch metric {
        case .validationLoss: return m.validationLoss
        case .validationAccuracy: return m.validationAccuracy
        case .trainLoss: return m.trainLoss
        }
    }

    public func trainerDidFinishEpoch(_ trainer: Trainer, metrics: EpochMetrics) -> TrainingAction {
        guard let v = value(metrics) else { return .continue }
        let improved: Bool
        if let b = best { improved = mode == .min ? v < b - minDelta : v > b + minDelta } else { improved = true }
        if improved {
            best = v
            bestEpoch = metrics.epoch
            waited = 0
            if restoreBest { bestWeights = trainer.model.parameters.map(\.value) }
            return .continue
        }
        waited += 1
        return waited >= patience ? .stop : .continue
    }

    public func trainerDidFinishTraining(_ trainer: Trainer, history: History) {
        guard restoreBest, !bestWeights.isEmpty else { return }
        for (p, w) in zip(trainer.model.parameters, bestWeights) { p.value = w }
    }
}

/// Appends one JSON object per epoch to a file (JSON lines).
public final class MetricsLogger: TrainingCallback {
    public let path: String
    private let handle: FileHandle

    /// Creates (truncates) `path`.
    public init(path: String) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw CheckpointError(path: path, "cannot create the metrics log")
        }
        handle = h
    }

    deinit { try? handle.close() }

    public func trainerDidFinishEpoch(_ trainer: Trainer, metrics: EpochMetrics) -> TrainingAction {
        handle.write(Data((MetricsLogger.jsonLine(metrics) + "\n").utf8))
        return .continue
    }

    /// `{"event":"epoch","epoch":…,"train_loss":…,…}`.
    public static func jsonLine(_ m: EpochMetrics) -> String {
        var fields: [(String, String)] = [("event", "\"epoch\""), ("epoch", "\(m.epoch)"), ("train_loss", num(m.trainLoss))]
        if let a = m.trainAccuracy { fields.append(("train_accuracy", num(a))) }
        if let v = m.validationLoss { fields.append(("val_loss", num(v))) }
        if let v = m.validationAccuracy { fields.append(("val_accuracy", num(v))) }
        fields += [("learning_rate", num(m.learningRate)), ("seconds", String(format: "%.3f", m.seconds)),
                   ("samples_per_s", String(format: "%.1f", m.samplesPerSecond))]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    static func num(_ x: Float) -> String { x.isFinite ? "\(x)" : "null" }
}

/// Writes a checkpoint after every epoch (atomically), so an interrupted run can resume.
public final class CheckpointWriter: TrainingCallback {
    public let path: String
    public let classCount: Int
    public let seed: UInt64
    /// Extra metadata stored with every checkpoint (data source, preprocessing).
    public let extraMetadata: [String: String]
    public init(path: String, classCount: Int, seed: UInt64, extraMetadata: [String: String] = [:]) {
        self.path = path
        self.classCount = classCount
        self.seed = seed
        self.extraMetadata = extraMetadata
    }
    /// The last error, if a write failed (training goes on; the previous checkpoint stays intact).
    public private(set) var lastError: Error?
    public func trainerDidFinishEpoch(_ trainer: Trainer, metrics: EpochMetrics) -> TrainingAction {
        do { try Checkpoint.save(trainer, classCount: classCount, seed: seed, to: path, extraMetadata: extraMetadata) } catch { lastError = error }
        return .continue
    }
}
