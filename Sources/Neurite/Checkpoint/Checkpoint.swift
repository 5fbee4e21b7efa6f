// Checkpoints: model weights, optimizer state and RNG state in one safetensors file.

import Foundation

/// What a checkpoint says about the model it holds.
public struct ModelArchitecture: Codable, Equatable, Sendable {
    /// Shape of one example.
    public var inputShape: [Int]
    /// The layers.
    public var layers: [LayerSpec]
    /// Name of the loss ("softmax-cross-entropy", "mse", "binary-cross-entropy").
    public var loss: String
    /// Number of classes (0 for regression).
    public var classCount: Int

    public init(inputShape: [Int], layers: [LayerSpec], loss: String, classCount: Int) {
        self.inputShape = inputShape
        self.layers = layers
        self.loss = loss
        self.classCount = classCount
    }

    /// A fresh model of this architecture (weights from `seed`).
    public func makeModel(seed: UInt64 = 0) throws -> Sequential {
        try Sequential(inputShape: inputShape, specs: layers, seed: seed)
    }

    /// The loss named by `loss`.
    public func makeLoss() throws -> Loss {
        switch loss {
        case "softmax-cross-entropy": return SoftmaxCrossEntropy()
        case "mse": return MeanSquaredError()
        case "binary-cross-entropy": return BinaryCrossEntropy()
        default: throw CheckpointError(path: "", "unknown loss \(loss)")
        }
    }
}

/// Saving and restoring training state in the safetensors format.
///
/// Tensors: `model.<layer>.<parameter>` (weights), `optimizer.<slot>.<parameter>` (momentum or Adam
/// moments). Metadata (strings): `format`, `architecture` (JSON), `epoch`, `seed`, `optimizer`,
/// `hyperparameters` (JSON), `step_count`, `rng` (the trainer's shuffling generator), `dropout_rng`
/// (each dropout layer's generator), plus anything the caller adds. Resuming from a checkpoint
/// continues bitwise exactly as the uninterrupted run would have.
public enum Checkpoint {
    /// The `format` metadata value of Neurite checkpoints.
    public static let format = "neurite-checkpoint/1"

    static func parameterName(_ layer: Int, _ p: Parameter) -> String { "model.\(layer).\(p.name)" }

    /// Compact, key-sorted JSON of `value` (for metadata strings).
    public static func json<T: Encodable>(_ value: T) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try! enc.encode(value), as: UTF8.self)
    }

    /// The architecture of `trainer`'s model, with its loss and the data's class count.
    public static func architecture(of trainer: Trainer, classCount: Int) -> ModelArchitecture {
        ModelArchitecture(inputShape: trainer.model.inputShape, layers: trainer.model.specs,
                          loss: trainer.loss.name, classCount: classCount)
    }

    /// Writes the complete training state atomically to `path`.
    public static func save(_ trainer: Trainer, classCount: Int, seed: UInt64, to path: String,
                            extraMetadata: [String: String] = [:]) throws {
        var tensors: [String: Tensor] = [:]
        for (i, layer) in trainer.model.layers.enumerated() {
            for p in layer.parameters { tensors[parameterName(i, p)] = p.value }
        }
        for (name, t) in trainer.optimizer.state { tensors["optimizer.\(name)"] = t }
        var meta = extraMetadata
        meta["format"] = format
        meta["architecture"] = json(architecture(of: trainer, classCount: classCount))
        meta["epoch"] = String(trainer.completedEpochs)
        meta["seed"] = String(seed)
        meta["optimizer"] = trainer.optimizer.name
        meta["hyperparameters"] = json(trainer.optimizer.hyperparameters)
        meta["base_learning_rate"] = String(trainer.baseLearningRate.bitPattern)
        meta["schedule"] = json(trainer.schedule)
        meta["step_count"] = String(trainer.optimizer.stepCount)
        // Mid-epoch (after an interrupt): the generator as it was when the epoch began, and the
        // batches already done, so the resumed epoch reuses the same shuffle and skips them.
        let generator = trainer.epochPosition?.generatorAtStart ?? trainer.generator
        meta["rng"] = generator.stateWords.map(String.init).joined(separator: ",")
        meta["batches_done"] = String(trainer.epochPosition?.batchesDone ?? 0)
        meta["dropout_rng"] = json(trainer.model.layers.compactMap { ($0 as? Dropout)?.generator.stateWords })
        try SafeTensors.write(tensors, metadata: meta, to: path)
    }

    /// A loaded checkpoint.
    public struct Loaded {
        public var file: SafeTensors.File
        public var architecture: ModelArchitecture
        public var epoch: Int
        public var metadata: [String: String] { file.metadata }
    }

    /// Reads and validates a checkpoint's container and architecture.
    public static func read(_ path: String) throws -> Loaded {
        let file = try SafeTensors.read(path)
        guard file.metadata["format"] == format else {
            throw CheckpointError(path: path, "not a Neurite checkpoint (metadata format is \(file.metadata["format"] ?? "missing"), expected \(format))")
        }
        guard let a = file.metadata["architecture"],
              let arch = try? JSONDecoder().decode(ModelArchitecture.self, from: Data(a.utf8)) else {
            throw CheckpointError(path: path, "the architecture metadata is missing or malformed")
        }
        return Loaded(file: file, architecture: arch, epoch: Int(file.metadata["epoch"] ?? "") ?? 0)
    }

    /// Copies the checkpoint's weights into `model`, checking every tensor's presence and shape.
    public static func loadWeights(_ loaded: Loaded, into model: Sequential, path: String) throws {
        guard loaded.architecture.layers == model.specs, loaded.architecture.inputShape == model.inputShape else {
            throw CheckpointError(path: path, "the checkpoint holds a different architecture (\(loaded.architecture.layers.count) layers, input \(loaded.architecture.inputShape)) than the model (\(model.layers.count) layers, input \(model.inputShape))")
        }
        for (i, layer) in model.layers.enumerated() {
            for p in layer.parameters {
                let name = parameterName(i, p)
                guard let t = loaded.file.tensors[name] else { throw CheckpointError(path: path, "tensor \(name) is missing") }
                guard t.shape == p.value.shape else {
                    throw CheckpointError(path: path, "tensor \(name) has shape \(t.shape) but the model expects \(p.value.shape)")
                }
                p.value = t
            }
        }
    }

    /// A model rebuilt from a checkpoint, with its weights.
    public static func loadModel(_ path: String) throws -> (model: Sequential, loaded: Loaded) {
        let loaded = try read(path)
        let model = try loaded.architecture.makeModel()
        try loadWeights(loaded, into: model, path: path)
        return (model, loaded)
    }

    /// Restores weights, optimizer state, step count, epoch and RNG states into `trainer` (whose
    /// model must have the checkpoint's architecture and whose optimizer the same kind).
    public static func restore(_ trainer: Trainer, from path: String) throws {
        let loaded = try read(path)
        try loadWeights(loaded, into: trainer.model, path: path)
        let m = loaded.metadata
        guard m["optimizer"] == trainer.optimizer.name else {
            throw CheckpointError(path: path, "the checkpoint was trained with optimizer \(m["optimizer"] ?? "?"), not \(trainer.optimizer.name)")
        }
        var state: [String: Tensor] = [:]
        for (k, v) in loaded.file.tensors where k.hasPrefix("optimizer.") { state[String(k.dropFirst(10))] = v }
        do {
            try trainer.optimizer.restoreState(state, stepCount: Int(m["step_count"] ?? "") ?? 0,
                                               parameters: trainer.model.parameters)
        } catch let e as OptimizerStateError {
            throw CheckpointError(path: path, e.message)
        }
        guard let rng = m["rng"]?.split(separator: ",").compactMap({ UInt64($0) }), rng.count == 4 else {
            throw CheckpointError(path: path, "the rng metadata is missing or malformed")
        }
        trainer.generator = SeededGenerator(stateWords: rng)
        let done = Int(m["batches_done"] ?? "0") ?? 0
        trainer.epochPosition = done > 0 ? (trainer.generator, done) : nil
        if let d = m["dropout_rng"], let words = try? JSONDecoder().decode([[UInt64]].self, from: Data(d.utf8)) {
            let dropouts = trainer.model.layers.compactMap { $0 as? Dropout }
            guard words.count == dropouts.count, words.allSatisfy({ $0.count == 4 }) else {
                throw CheckpointError(path: path, "dropout_rng holds \(words.count) generators for \(dropouts.count) dropout layers")
            }
            for (layer, w) in zip(dropouts, words) { layer.generator = SeededGenerator(stateWords: w) }
        }
        trainer.completedEpochs = loaded.epoch
    }
}
