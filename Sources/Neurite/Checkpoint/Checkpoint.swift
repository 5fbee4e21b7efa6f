// Checkpoints: self-describing safetensors files holding a model, how its data was prepared, and
// (when saved from a trainer) everything needed to resume training bitwise exactly.

import Foundation

/// Saving and restoring models and training state in the safetensors format.
///
/// Tensors (PyTorch's `state_dict` names, so `nn.Sequential.load_state_dict` takes them as they are):
/// `model.<layer>.<parameter>` (`weight` [out, in] or [out, in, kh, kw], `bias`) and
/// `model.<layer>.<buffer>` (`running_mean`, `running_var`, `num_batches_tracked`); with training
/// state also `optimizer.<slot>.<layer>.<parameter>` (momentum, Adam moments) and
/// `early_stopping.<layer>.<name>` (the best epoch's weights).
///
/// Metadata (JSON strings): `format`; `architecture` (input shape and the layer list — decoded
/// through the layers' own validated parsers); `task` (loss, class count); `data` (source, class
/// names, input scaling, standardiser, CSV settings, validation and test fractions, target
/// standardiser); `training` (optimizer
/// and every hyper-parameter as JSON numbers, schedule, seed, epochs done and asked for, batch size,
/// step count, batches done in an interrupted epoch, the shuffling generator, early-stopping state).
public enum Checkpoint {
    /// The `format` metadata value of Neurite checkpoints.
    public static let format = "neurite-checkpoint/2"

    /// What the model is trained for.
    public struct Task: Codable, Equatable, Sendable {
        /// The loss's name ("softmax-cross-entropy", "mse", "binary-cross-entropy").
        public var loss: String
        /// Number of classes (0 for regression).
        public var classCount: Int
        /// A task with `loss` and `classCount` classes.
        public init(loss: String, classCount: Int) { self.loss = loss; self.classCount = classCount }
        enum CodingKeys: String, CodingKey { case loss, classCount = "class_count" }
    }

    /// Everything a trainer needs to continue exactly where it stopped.
    public struct TrainingState: Codable, Equatable, Sendable {
        /// The optimizer, with the base (epoch-0) learning rate.
        public var optimizer: OptimizerConfiguration
        /// The learning-rate schedule.
        public var schedule: LearningRateSchedule
        /// The trainer's seed (decimal: JSON numbers cannot hold every UInt64).
        public var seed: String
        /// The model's seed, which fixes its dropout masks (decimal).
        public var modelSeed: String
        /// Epochs completed.
        public var epoch: Int
        /// Epochs the run was asked for in total.
        public var epochs: Int
        /// Mini-batch size.
        public var batchSize: Int
        /// Optimizer steps done.
        public var stepCount: Int
        /// Batches done of an interrupted epoch (0 at epoch boundaries).
        public var batchesDone: Int
        /// The shuffling generator's four state words (decimal), as at the start of an interrupted
        /// epoch or after the last completed one.
        public var generator: [String]
        /// Early stopping's configuration and progress, if used.
        public var earlyStopping: EarlyStopping.State?
        /// The training batches' augmentation, if used.
        public var augmentation: Augmentation?
        /// Data-parallel ranks the run used (1 without MPI); a resumed run must use as many.
        public var ranks: Int?
        /// Micro-shards per batch, gradient clipping, warm-up steps and plateau reduction.
        public var microShards: Int?
        public var gradientClipNorm: Float?
        public var warmupSteps: Int?
        public var reduceOnPlateau: ReduceOnPlateau?
        enum CodingKeys: String, CodingKey {
            case optimizer, schedule, seed, modelSeed = "model_seed", epoch, epochs, batchSize = "batch_size", stepCount = "step_count"
            case batchesDone = "batches_done", generator, earlyStopping = "early_stopping", augmentation, ranks
            case microShards = "micro_shards", gradientClipNorm = "gradient_clip_norm", warmupSteps = "warmup_steps"
            case reduceOnPlateau = "reduce_on_plateau"
        }
    }

    /// A checkpoint read and validated, with its model built and its weights loaded.
    public struct Loaded {
        /// The file.
        public let path: String
        /// The model, weights and state buffers loaded.
        public let model: Sequential
        /// The loss it was trained with.
        public let loss: any Loss
        /// Its task.
        public let task: Task
        /// How its data was prepared.
        public let data: DataDescription
        /// Training state, when saved from a trainer.
        public let training: TrainingState?
        /// All tensors of the file.
        public let tensors: [String: Tensor]

        /// A trainer that continues the saved run exactly: optimizer with its state, schedule, seed,
        /// shuffling position, early stopping, batch size and epoch count. Throws when the file holds
        /// no training state or a field is invalid.
        public func makeTrainer() throws -> Trainer {
            guard let t = training else { throw CheckpointError(path: path, "the checkpoint holds weights only, no training state to resume") }
            do {
                try t.schedule.validate()
                guard let seed = UInt64(t.seed), let modelSeed = UInt64(t.modelSeed) else {
                    throw ModelError("seeds '\(t.seed)', '\(t.modelSeed)' are not unsigned 64-bit integers")
                }
                model.seed = modelSeed
                let words = t.generator.compactMap { UInt64($0) }
                guard words.count == 4, t.generator.count == 4, words.contains(where: { $0 != 0 }) else {
                    throw ModelError("the generator state must be 4 unsigned 64-bit words, not all zero")
                }
                guard t.epoch >= 0, t.epoch <= t.epochs, t.epochs <= 1_000_000, t.stepCount >= 0, t.stepCount <= Int(Int32.max),
                      (1...1_000_000).contains(t.batchSize), t.batchesDone >= 0, t.batchesDone <= Int(Int32.max) else {
                    throw ModelError("epoch \(t.epoch) of \(t.epochs), batch size \(t.batchSize), step \(t.stepCount), \(t.batchesDone) batches done: out of range")
                }
                let ranks = Distributed.size
                guard (t.ranks ?? 1) == ranks else {
                    throw ModelError("the run used \(t.ranks ?? 1) data-parallel ranks and this one has \(ranks): resume with as many (the shards and batches depend on it)")
                }
                let trainer = Trainer(model: model, loss: loss, optimizer: try t.optimizer.makeOptimizer(), schedule: t.schedule, seed: seed)
                var state: [String: Tensor] = [:]
                for (k, v) in tensors where k.hasPrefix("optimizer.") { state[String(k.dropFirst(10))] = v }
                try trainer.optimizer.restoreState(state, stepCount: t.stepCount, parameters: model.parameters)
                let generator = SeededGenerator(stateWords: words)
                trainer.generator = generator
                trainer.epochPosition = t.batchesDone > 0 ? (generator, t.batchesDone) : nil
                trainer.completedEpochs = t.epoch
                trainer.batchSize = t.batchSize
                trainer.targetEpochs = t.epochs
                trainer.data = data
                if let n = t.microShards {
                    guard (1...64).contains(n) else { throw ModelError("micro-shards \(n) outside 1...64") }
                    trainer.microShards = n
                }
                if let c = t.gradientClipNorm {
                    guard c > 0, c.isFinite else { throw ModelError("gradient clip norm \(c) must be a positive number") }
                    trainer.gradientClipNorm = c
                }
                if let w = t.warmupSteps {
                    guard (0...100_000_000).contains(w) else { throw ModelError("warm-up steps \(w) outside 0...100000000") }
                    trainer.warmupSteps = w
                }
                trainer.reduceOnPlateau = try t.reduceOnPlateau?.validated()
                if let a = t.augmentation {
                    guard a.imageShape.reduce(1, *) == model.inputShape.reduce(1, *) else {
                        throw ModelError("the augmentation is for images \(a.imageShape) but the model takes \(model.inputShape)")
                    }
                    trainer.augmentation = try Augmentation(a.text, imageShape: a.imageShape)   // re-validated
                }
                if let es = t.earlyStopping {
                    var best: (parameters: Tensor, buffers: [String: Tensor])?
                    if es.restoreBest && es.bestEpoch > 0 {
                        let arena = model.parameters.makeGradientArena()
                        for p in model.parameters.parameters {
                            model.parameters.write(try tensor("early_stopping.\(p.qualifiedName)", shape: p.shape), to: p, in: arena)
                        }
                        var buffers: [String: Tensor] = [:]
                        for (name, b) in model.buffers { buffers[name] = try tensor("early_stopping.\(name)", shape: b.value.shape) }
                        best = (arena, buffers)
                    }
                    trainer.earlyStopping = try EarlyStopping(restoring: es, bestWeights: best)
                }
                return trainer
            } catch let e as CheckpointError {
                throw e
            } catch {
                throw CheckpointError(path: path, "training state: \(error)")
            }
        }

        /// Tensor `name`, checked for presence, shape and finiteness.
        func tensor(_ name: String, shape: [Int]) throws -> Tensor {
            guard let t = tensors[name] else { throw CheckpointError(path: path, "tensor \(name) is missing") }
            guard t.shape == shape else { throw CheckpointError(path: path, "tensor \(name) has shape \(t.shape) but the model expects \(shape)") }
            guard t.scalars.allSatisfy({ $0.isFinite }) else { throw CheckpointError(path: path, "tensor \(name) holds NaN or infinite values") }
            return t
        }
    }

    /// Compact, key-sorted JSON of `value` (non-finite floats are refused).
    static func json<T: Encodable>(_ value: T, path: String) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        do { return String(decoding: try enc.encode(value), as: UTF8.self) } catch {
            throw CheckpointError(path: path, "cannot encode \(T.self): \(error)")
        }
    }

    /// The model's weights and state buffers under their PyTorch names.
    static func modelTensors(_ model: Sequential, prefix: String = "model.") -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for p in model.parameters.parameters { tensors[prefix + p.qualifiedName] = p.value }
        for (name, b) in model.buffers { tensors[prefix + name] = b.value }
        return tensors
    }

    /// Writes a model (weights and buffers), its task and data description atomically to `path`,
    /// without training state (for inference and export).
    public static func save(model: Sequential, loss: any Loss, classCount: Int, data: DataDescription = DataDescription(),
                            to path: String) throws {
        try write(tensors: modelTensors(model), model: model, task: Task(loss: loss.name, classCount: classCount),
                  data: data, training: nil, to: path)
    }

    /// Writes the complete training state of `trainer` atomically to `path`. In data-parallel
    /// training only rank 0 writes (every rank holds the same state).
    public static func save(_ trainer: Trainer, to path: String) throws {
        guard !trainer.isDistributed || Distributed.rank == 0 else { return }
        let model = trainer.model
        var tensors = modelTensors(model)
        for (name, t) in trainer.optimizer.state(model.parameters) { tensors["optimizer.\(name)"] = t }
        if let es = trainer.earlyStopping, let best = es.bestWeights {
            for p in model.parameters.parameters { tensors["early_stopping.\(p.qualifiedName)"] = model.parameters.slice(p, of: best.parameters) }
            for (name, t) in best.buffers { tensors["early_stopping.\(name)"] = t }
        }
        var optimizer = trainer.optimizer.configuration
        optimizer.learningRate = trainer.baseLearningRate
        // Mid-epoch (after an interrupt): the generator as it was when the epoch began, and the
        // batches already done, so the resumed epoch reuses the same shuffle and skips them.
        let generator = trainer.epochPosition?.generatorAtStart ?? trainer.generator
        let training = TrainingState(
            optimizer: optimizer, schedule: trainer.schedule, seed: String(trainer.seed), modelSeed: String(model.seed), epoch: trainer.completedEpochs,
            epochs: max(trainer.targetEpochs, trainer.completedEpochs), batchSize: trainer.batchSize,
            stepCount: trainer.optimizer.stepCount, batchesDone: trainer.epochPosition?.batchesDone ?? 0,
            generator: generator.stateWords.map(String.init), earlyStopping: trainer.earlyStopping?.state,
            augmentation: trainer.augmentation, ranks: trainer.isDistributed ? Distributed.size : 1,
            microShards: trainer.microShards, gradientClipNorm: trainer.gradientClipNorm, warmupSteps: trainer.warmupSteps,
            reduceOnPlateau: trainer.reduceOnPlateau)
        let outputs = model.outputShape.reduce(1, *)
        let classCount = trainer.loss is MeanSquaredError ? 0 : max(trainer.data.classNames.count, outputs == 1 ? 2 : outputs)
        try write(tensors: tensors, model: model, task: Task(loss: trainer.loss.name, classCount: classCount),
                  data: trainer.data, training: training, to: path)
    }

    static func write(tensors: [String: Tensor], model: Sequential, task: Task, data: DataDescription,
                      training: TrainingState?, to path: String) throws {
        var meta = ["format": format]
        meta["architecture"] = try json(model.architecture, path: path)
        meta["task"] = try json(task, path: path)
        meta["data"] = try json(data, path: path)
        if let t = training { meta["training"] = try json(t, path: path) }
        guard !path.isEmpty else { throw CheckpointError(path: path, "the checkpoint path is empty") }
        try SafeTensors.write(tensors, metadata: meta, to: path)
        removeStaleTemporaryFiles(of: path)
    }

    /// Removes the temporary files (`.NAME.tmp-PID-RANDOM` beside `path`) that writers of this
    /// checkpoint killed mid-write left behind — those whose process no longer exists, those bearing
    /// this process's id (a killed predecessor's id reused; this process's own write has finished),
    /// and any older than a day (an id reused by another process) — so repeated crashes do not fill
    /// the disk. Called after a successful write; a file that cannot be removed is left alone.
    static func removeStaleTemporaryFiles(of path: String) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let prefix = ".\(url.lastPathComponent).tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), pid > 0,
                  UInt32(rest[rest.index(after: dash)...]) != nil else { continue }
            let file = "\(directory)/\(name)"
            let writerGone = pid == getpid() || (kill(pid, 0) != 0 && errno == ESRCH)
            var info = stat()
            let dayOld = stat(file, &info) == 0 && time(nil) - info.st_mtim.tv_sec > 86_400
            if writerGone || dayOld { unlink(file) }
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ key: String, _ file: SafeTensors.File, path: String) throws -> T? {
        guard let text = file.metadata[key] else { return nil }
        do { return try JSONDecoder().decode(T.self, from: Data(text.utf8)) } catch {
            throw CheckpointError(path: path, "the \(key) metadata is malformed: \(error)")
        }
    }

    /// Reads `path`, validates the architecture (every layer through its own parser, within
    /// `ModelLimits`), builds the model and loads every weight and buffer, checking that the file's
    /// `model.` tensors are exactly the model's, with the right shapes and finite values.
    public static func load(_ path: String) throws -> Loaded {
        let file = try SafeTensors.read(path)
        guard file.metadata["format"] == format else {
            throw CheckpointError(path: path, "not a Neurite checkpoint (metadata format is \(file.metadata["format"] ?? "missing"), expected \(format))")
        }
        guard let architecture = try decode(Architecture.self, "architecture", file, path: path) else {
            throw CheckpointError(path: path, "the architecture metadata is missing")
        }
        guard let task = try decode(Task.self, "task", file, path: path) else { throw CheckpointError(path: path, "the task metadata is missing") }
        let data = try decode(DataDescription.self, "data", file, path: path) ?? DataDescription()
        let training = try decode(TrainingState.self, "training", file, path: path)
        guard (0...ModelLimits.maxClasses).contains(task.classCount), data.classNames.count <= ModelLimits.maxClasses else {
            throw CheckpointError(path: path, "class count \(task.classCount) is outside 0...\(ModelLimits.maxClasses)")
        }
        let model: Sequential, loss: any Loss
        do {
            model = try architecture.makeModel()
            loss = try makeLoss(named: task.loss)
        } catch {
            throw CheckpointError(path: path, "architecture: \(error)")
        }
        let loaded = Loaded(path: path, model: model, loss: loss, task: task, data: data, training: training, tensors: file.tensors)
        let arena = model.parameters.mutableView
        for p in model.parameters.parameters {
            model.parameters.write(try loaded.tensor("model.\(p.qualifiedName)", shape: p.shape), to: p, in: arena)
        }
        for (name, b) in model.buffers { b.value = try loaded.tensor("model.\(name)", shape: b.value.shape) }
        let expected = Set(model.parameters.parameters.map { "model.\($0.qualifiedName)" } + model.buffers.map { "model.\($0.name)" })
        if let extra = file.tensors.keys.sorted().first(where: { $0.hasPrefix("model.") && !expected.contains($0) }) {
            throw CheckpointError(path: path, "tensor \(extra) belongs to no layer of the architecture (\(architecture.layers.count) layers)")
        }
        if let st = data.standardizer {
            guard st.mean.count == model.inputShape.reduce(1, *), st.std.count == st.mean.count,
                  (st.mean + st.std).allSatisfy({ $0.isFinite }), st.std.allSatisfy({ $0 > 0 }) else {
                throw CheckpointError(path: path, "the standardiser has \(st.mean.count) means and \(st.std.count) deviations (finite, deviations > 0) for \(model.inputShape.reduce(1, *)) inputs")
            }
        }
        do { try data.validateSplit() } catch { throw CheckpointError(path: path, "the data metadata: \(error)") }
        if let ts = data.targetStandardizer {
            // Predictions are mapped back through it: it must fit the outputs one to one.
            let outputs = model.outputShape.reduce(1, *)
            guard task.classCount == 0 else {
                throw CheckpointError(path: path, "the data metadata holds a target standardiser, which only regression models have, but the task has \(task.classCount) classes")
            }
            guard ts.mean.count == outputs, ts.std.count == outputs, (ts.mean + ts.std).allSatisfy({ $0.isFinite }), ts.std.allSatisfy({ $0 > 0 }) else {
                throw CheckpointError(path: path, "the target standardiser has \(ts.mean.count) means and \(ts.std.count) deviations but must have one finite mean and one finite deviation > 0 for each of the model's \(outputs) outputs")
            }
        }
        return loaded
    }
}
