// Training callbacks: early stopping, JSON-lines metrics log, periodic checkpoints.

import Foundation

/// Stops training when a metric stops improving, and restores the best epoch's weights.
///
/// Improvement means better than the best so far by more than `minDelta` (lower for `.min`, higher
/// for `.max`). After `patience` epochs without improvement training stops; with `restoreBest`
/// the weights (and state buffers) of the best epoch are copied back at the end of training either
/// way. Its whole state, best weights included, is saved in checkpoints (`Trainer.earlyStopping`),
/// so a resumed run stops and restores exactly as an uninterrupted one.
public final class EarlyStopping: TrainingCallback {
    /// The metric watched.
    public enum Metric: String, Codable, Sendable { case validationLoss = "val_loss", validationAccuracy = "val_accuracy", trainLoss = "train_loss" }
    /// Whether lower or higher is better.
    public enum Mode: String, Codable, Sendable { case min, max }

    /// Configuration and progress, as saved in checkpoints.
    public struct State: Codable, Equatable, Sendable {
        public var metric: Metric
        public var mode: Mode
        public var patience: Int
        public var minDelta: Float
        public var restoreBest: Bool
        public var best: Float?
        public var bestEpoch: Int
        public var waited: Int
        enum CodingKeys: String, CodingKey {
            case metric, mode, patience, minDelta = "min_delta", restoreBest = "restore_best", best, bestEpoch = "best_epoch", waited
        }
    }

    /// The metric watched.
    public var metric: Metric { state.metric }
    /// Epochs without improvement before stopping.
    public var patience: Int { state.patience }
    /// Whether the best weights are restored at the end.
    public var restoreBest: Bool { state.restoreBest }
    /// Best value seen.
    public var best: Float? { state.best }
    /// Its (1-based) epoch, 0 before the first.
    public var bestEpoch: Int { state.bestEpoch }
    /// Configuration and progress.
    public private(set) var state: State
    /// The parameter arena and state buffers of the best epoch (kept when `restoreBest`).
    public private(set) var bestWeights: (parameters: Tensor, buffers: [String: Tensor])?

    /// Early stopping on `metric` (mode: `.max` for accuracy, `.min` otherwise).
    public init(metric: Metric = .validationLoss, mode: Mode? = nil, patience: Int = 5, minDelta: Float = 0,
                restoreBest: Bool = true) {
        precondition(patience >= 0, "EarlyStopping patience must be ≥ 0")
        state = State(metric: metric, mode: mode ?? (metric == .validationAccuracy ? .max : .min), patience: patience,
                      minDelta: minDelta, restoreBest: restoreBest, best: nil, bestEpoch: 0, waited: 0)
    }

    /// Early stopping restored from `state` and the best weights (from a checkpoint); throws when a
    /// field is out of range.
    public init(restoring state: State, bestWeights: (parameters: Tensor, buffers: [String: Tensor])?) throws {
        guard state.patience >= 0, state.patience <= 1_000_000, state.minDelta >= 0, state.minDelta.isFinite,
              state.bestEpoch >= 0, state.waited >= 0, state.waited <= state.patience, state.best?.isFinite ?? true else {
            throw ModelError("early-stopping state out of range: \(state)")
        }
        self.state = state
        self.bestWeights = bestWeights
    }

    func value(_ m: EpochMetrics) -> Float? {
        switch state.metric {
        case .validationLoss: return m.validationLoss
        case .validationAccuracy: return m.validationAccuracy
        case .trainLoss: return m.trainLoss
        }
    }

    public func trainerDidFinishEpoch(_ trainer: Trainer, metrics: EpochMetrics) -> TrainingAction {
        guard let v = value(metrics), v.isFinite else { return .continue }
        let improved: Bool
        if let b = state.best { improved = state.mode == .min ? v < b - state.minDelta : v > b + state.minDelta } else { improved = true }
        if improved {
            state.best = v
            state.bestEpoch = metrics.epoch
            state.waited = 0
            if state.restoreBest {
                bestWeights = (trainer.model.parameters.values,
                               Dictionary(uniqueKeysWithValues: trainer.model.buffers.map { ($0.name, $0.buffer.value) }))
            }
            return .continue
        }
        state.waited += 1
        return state.waited >= state.patience ? .stop : .continue
    }

    public func trainerDidFinishTraining(_ trainer: Trainer, history: History) {
        guard state.restoreBest, let best = bestWeights else { return }
        var arena = trainer.model.parameters.mutableView
        best.parameters.withUnsafeBufferPointer { src in arena.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: src) } }
        for (name, buffer) in trainer.model.buffers { if let v = best.buffers[name] { buffer.value = v } }
    }
}

/// One JSON object of machine-readable output (a line of `--json` or of the metrics log), written by
/// `JSONEncoder` so that it is always valid JSON: strings are escaped by the encoder, and NaN and
/// infinities — which JSON cannot express — are written as `null`.
public struct JSONRecord: Sendable {
    /// A field's value.
    public enum Value: Encodable, Sendable {
        case string(String), int(Int), float(Float), double(Double), floats([Float]), ints([Int]), intRows([[Int]]), null

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case let .string(s): try c.encode(s)
            case let .int(i): try c.encode(i)
            case let .float(x): if x.isFinite { try c.encode(x) } else { try c.encodeNil() }
            case let .double(x): if x.isFinite { try c.encode(x) } else { try c.encodeNil() }
            case let .floats(xs): try c.encode(xs.map { $0.isFinite ? $0 : nil })
            case let .ints(xs): try c.encode(xs)
            case let .intRows(rows): try c.encode(rows)
            case .null: try c.encodeNil()
            }
        }
    }

    /// The fields, in output order.
    public var fields: [(key: String, value: Value)]

    /// A record of `fields`, written in this order.
    public init(_ fields: [(key: String, value: Value)]) { self.fields = fields }

    /// The record as one line of compact JSON (no line break inside), keys in the given order.
    ///
    /// Every key and value is written by `JSONEncoder` (which escapes strings); only the braces,
    /// colons and commas between them are joined here, because a keyed encoding container orders
    /// keys by hash, differently in each process, and the output should read the same every run.
    public var line: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        func encoded<T: Encodable>(_ value: T) -> String {
            // Strings, integers, finite numbers and null always encode; non-finite numbers were
            // turned into null by `Value`.
            guard let data = try? encoder.encode(value) else { return "null" }
            return String(decoding: data, as: UTF8.self)
        }
        return "{" + fields.map { encoded($0.key) + ":" + encoded($0.value) }.joined(separator: ",") + "}"
    }
}

/// Appends one JSON object per epoch to a file (JSON lines).
///
/// Each line is `{"event":"epoch","epoch":…,"train_loss":…,["train_accuracy",] ["val_loss",]
/// ["val_accuracy",] "learning_rate":…,"seconds":…,"samples_per_s":…}`, encoded by `JSONEncoder`;
/// a loss that is NaN or infinite is written as `null`. With `batchEvery` N, every Nth batch of an
/// epoch also gets `{"event":"batch","epoch":…,"batch":…,"loss":…,"learning_rate":…}` (the batch's
/// loss and the rate its optimizer step used).
public final class MetricsLogger: TrainingCallback {
    /// The log file.
    public let path: String
    /// Log every this many batches (nil: epochs only).
    public let batchEvery: Int?
    private let handle: FileHandle
    /// A failed batch-line write: the batch hook cannot throw, so the epoch hook reports it.
    private var batchWriteError: (any Error)?

    /// Creates (truncates) `path`; `batchEvery` (≥ 1) adds a line every that many batches.
    public init(path: String, batchEvery: Int? = nil) throws {
        if let n = batchEvery, n < 1 { throw CheckpointError(path: path, "the batch interval of the metrics log must be ≥ 1, got \(n)") }
        self.path = path
        self.batchEvery = batchEvery
        guard !path.isEmpty, FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw CheckpointError(path: path, "cannot create the metrics log (missing directory, a directory at that path, or no permission)")
        }
        handle = h
    }

    deinit { try? handle.close() }

    /// Writes a batch line every `batchEvery` batches (a failed write is thrown at the epoch's end).
    public func trainerDidFinishBatch(_ trainer: Trainer, epoch: Int, batch: Int, batches: Int, loss: Float) {
        guard let n = batchEvery, batch % n == 0, batchWriteError == nil else { return }
        let record = JSONRecord([("event", .string("batch")), ("epoch", .int(epoch)), ("batch", .int(batch)), ("loss", .float(loss)),
                                 ("learning_rate", .float(trainer.optimizer.learningRate))])
        do { try handle.write(contentsOf: Data((record.line + "\n").utf8)) } catch { batchWriteError = error }
    }

    public func trainerDidFinishEpoch(_ trainer: Trainer, metrics: EpochMetrics) throws -> TrainingAction {
        if let e = batchWriteError { throw CheckpointError(path: path, "writing the metrics log failed: \(e.localizedDescription)") }
        // The throwing write: a full disk is an error that ends training, not a crash.
        do { try handle.write(contentsOf: Data((MetricsLogger.jsonLine(metrics) + "\n").utf8)) } catch {
            throw CheckpointError(path: path, "writing the metrics log failed: \(error.localizedDescription)")
        }
        return .continue
    }

    /// The record of one epoch (see the type's documentation for its fields).
    public static func record(_ m: EpochMetrics) -> JSONRecord {
        var fields: [(key: String, value: JSONRecord.Value)] = [("event", .string("epoch")), ("epoch", .int(m.epoch)), ("train_loss", .float(m.trainLoss))]
        if let a = m.trainAccuracy { fields.append(("train_accuracy", .float(a))) }
        if let v = m.validationLoss { fields.append(("val_loss", .float(v))) }
        if let v = m.validationAccuracy { fields.append(("val_accuracy", .float(v))) }
        fields += [("learning_rate", .float(m.learningRate)), ("seconds", .double((m.seconds * 1000).rounded() / 1000)),
                   ("samples_per_s", .double((m.samplesPerSecond * 10).rounded() / 10))]
        return JSONRecord(fields)
    }

    /// `{"event":"epoch","epoch":…,"train_loss":…,…}` (one line).
    public static func jsonLine(_ m: EpochMetrics) -> String { record(m).line }

    /// A JSON number, or null for NaN and infinities (which JSON cannot express).
    public static func num(_ x: Float) -> String { x.isFinite ? "\(x)" : "null" }
}

/// Writes a checkpoint after every epoch (atomically), so an interrupted run can resume. A failed
/// write ends training with the error (the previous checkpoint stays intact).
public final class CheckpointWriter: TrainingCallback {
    /// Where the checkpoint goes.
    public let path: String
    /// Checkpoints written so far (so a caller can tell a file this run wrote from an older one).
    public private(set) var writes = 0
    /// A writer to `path`.
    public init(path: String) { self.path = path }
    public func trainerDidFinishEpoch(_ trainer: Trainer, metrics: EpochMetrics) throws -> TrainingAction {
        try Checkpoint.save(trainer, to: path)
        writes += 1
        return .continue
    }
}
