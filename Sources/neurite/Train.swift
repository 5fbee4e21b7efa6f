// `neurite train`: mini-batch training with validation, early stopping, checkpoints, logs and plots.

import ArgumentParser
import Dispatch
import Foundation
import Neurite

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model and report its test accuracy.",
        discussion: """
        Example: neurite train --model mlp --data fashion-mnist --epochs 10 --optimizer momentum --lr 0.05 \\
                   --val-split 0.1 --early-stopping 3 --checkpoint mlp.safetensors --log metrics.jsonl --plot curves.svg
        Ctrl-C finishes the current batch, writes the checkpoint (with --checkpoint) and exits;
        `neurite train --resume mlp.safetensors` continues from the checkpoint alone (other flags are
        optional; one that contradicts the checkpoint is an error).
        """
    )

    @Option(name: .long, help: "Model: \(Models.help). Default mlp.") var model: String?
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var recipe: RecipeOptions
    @Option(name: .long, help: "Number of epochs in total (default 10).") var epochs: Int?
    @Option(name: .long, help: "Mini-batch size (default 64).") var batchSize: Int?
    @Option(name: .long, help: "Learning rate (default 0.05).") var lr: Float?
    @Option(name: .long, help: "sgd (default), momentum (SGD with momentum 0.9), nesterov, adam or adamw.") var optimizer: String?
    @Option(name: .long, help: "Momentum for --optimizer momentum/nesterov (default 0.9).") var momentum: Float?
    @Option(name: .long, help: "L2 regularisation λ (J + λ‖θ‖², biases excluded); decoupled for adamw (default 0).") var weightDecay: Float?
    @Option(name: .long, help: "Dropout probability after each hidden activation, in [0, 1), for models without dropout of their own.") var dropout: Float?
    @Option(name: .long, help: "Learning-rate schedule: constant (default), step (×0.5 every 5 epochs) or cosine.") var schedule: String?
    @Option(name: .long, help: "Cut each batch into N micro-shards trained in parallel on separate threads (results identical for every thread count; default 1).") var shards: Int?
    @Option(name: .long, help: "Augment image training batches: comma-separated crop[=PAD], flip, erase[=P] (e.g. crop,flip).") var augment: String?
    @Option(name: .long, help: "Fraction of the training data held out for validation (default 0).") var valSplit: Double?
    @Option(name: .long, help: "Split percentages: TRAIN/VAL/TEST of all examples for data without a test set of its own (csv:, sklearn:; default 80/0/20), e.g. 80/10/10; TRAIN/VAL of the training set for fashion-mnist and idx:, e.g. 90/10. Stratified for classes, seeded by --seed.") var split: String?
    @Option(name: .long, help: "Regression targets: standard (default: trained standardised, reported and predicted in their own units) or none (trained raw).") var targetScaling: String?
    @Option(name: .long, help: "Stop after this many epochs without validation-loss improvement and restore the best weights.") var earlyStopping: Int?
    @Option(name: .long, help: "Threads for the kernels (default: NEURITE_NUM_THREADS, OMP_NUM_THREADS or the physical cores).") var threads: Int?
    @Option(name: .long, help: "Seed for initialisation, shuffling, splits and dropout (default 1).") var seed: UInt64?
    @Option(name: .long, help: "Write a checkpoint (safetensors) here after every epoch.") var checkpoint: String?
    @Option(name: .long, help: "Resume from this checkpoint: model, data, optimizer, schedule and position come from it.") var resume: String?
    @Option(name: .long, help: "Write per-epoch metrics as JSON lines here.") var log: String?
    @Option(name: .long, help: "With --log: also log the loss and learning rate every N batches.") var logEvery: Int?
    @Option(name: .long, help: "Write training curves (SVG) here.") var plot: String?
    @Option(name: .long, help: "k-fold cross-validation on the training data instead of one training run.") var kfold: Int?
    @Flag(name: .long, help: "Print one JSON object per epoch and a final summary object.") var json = false
    @Flag(name: .long, help: "Data-parallel runs (mpirun): verify after every epoch that all ranks hold bitwise the same parameters.") var checkReplicas = false
    @Option(name: .long, help: "Weight initialisation: default (He before ReLU, Glorot otherwise, zero biases) or pytorch (U(±1/√fan-in) for weights and biases, PyTorch's defaults).")
    var initialization: String = "default"

    func validate() throws {
        if let e = epochs, e < 0 || e > 1_000_000 { throw ValidationError("--epochs must be in 0...1000000, got \(e)") }
        if let b = batchSize, b < 1 || b > 1_000_000 { throw ValidationError("--batch-size must be in 1...1000000, got \(b)") }
        if let l = lr { guard l > 0, l.isFinite, l <= 1000 else { throw ValidationError("--lr must be a number in (0, 1000], got \(l)") } }
        if let d = dropout { guard d >= 0, d < 1 else { throw ValidationError("--dropout must be in [0, 1), got \(d)") } }
        if let w = weightDecay { guard w >= 0, w <= 1000 else { throw ValidationError("--weight-decay must be in [0, 1000], got \(w)") } }
        if let m = momentum { guard m >= 0, m < 1 else { throw ValidationError("--momentum must be in [0, 1), got \(m)") } }
        if let v = valSplit { guard v >= 0, v < 1 else { throw ValidationError("--val-split must be in [0, 1), got \(v)") } }
        let splitParts = try split.map { try SplitPercentages($0) }
        if let s = split, valSplit != nil {
            throw ValidationError("--split \(s) and --val-split both set the validation part: give one (--split \(s) alone, or --val-split alone)")
        }
        if let t = targetScaling, !["standard", "none"].contains(t.lowercased()) {
            throw ValidationError("--target-scaling must be standard or none, got \(t)")
        }
        let validationAsked = (valSplit ?? 0) > 0 || (splitParts?.validationFraction ?? 0) > 0
        if let p = earlyStopping, p < 1 || p > 1_000_000 { throw ValidationError("--early-stopping must be in 1...1000000, got \(p)") }
        if (earlyStopping != nil || recipe.reduceOnPlateau != nil) && recipe.metric != .trainLoss && !validationAsked && resume == nil {
            throw ValidationError("--early-stopping and --reduce-on-plateau watch validation data: add --val-split 0.1 or a --split with a validation part such as 80/10/10 (or --monitor train_loss)")
        }
        if let n = logEvery {
            guard log != nil else { throw ValidationError("--log-every \(n) writes batch lines into the metrics log: add --log FILE") }
            guard n >= 1, n <= 1_000_000_000 else { throw ValidationError("--log-every must be in 1...1000000000, got \(n)") }
        }
        if let n = shards, n < 1 || n > 64 { throw ValidationError("--shards must be in 1...64, got \(n)") }
        if let t = threads, t < 1 || t > 4096 { throw ValidationError("--threads must be in 1...4096, got \(t)") }
        if let k = kfold {
            guard k >= 2, k <= 1000 else { throw ValidationError("--kfold must be in 2...1000, got \(k)") }
            if checkpoint != nil || resume != nil || earlyStopping != nil || valSplit != nil || log != nil || plot != nil {
                throw ValidationError("--kfold trains k models on its own folds: it cannot be combined with --checkpoint, --resume, --early-stopping, --val-split, --log or --plot")
            }
            // The folds are the validation data; a --split may only size the test set.
            if let s = splitParts, s.validationFraction > 0 {
                throw ValidationError("--kfold makes its own validation folds: --split \(s.text) may not hold out validation data (use e.g. --split 80/0/20)")
            }
        }
        let outputs = [("--checkpoint", checkpoint), ("--log", log), ("--plot", plot)].compactMap { f in f.1.map { (flag: f.0, path: $0) } }
        for (i, o) in outputs.enumerated() {
            if o.path.isEmpty { throw ValidationError("\(o.flag) needs a file name, got an empty path") }
            if let other = outputs[..<i].first(where: { $0.path == o.path }) {
                throw ValidationError("\(other.flag) and \(o.flag) name the same file \(o.path): each output needs its own")
            }
        }
        if let r = resume, r.isEmpty { throw ValidationError("--resume needs a checkpoint file, got an empty path") }
        if resume != nil, initialization.lowercased() != "default" {
            throw ValidationError("--initialization \(initialization) has no effect with --resume: the weights come from the checkpoint")
        }
        if let o = optimizer, !["sgd", "momentum", "nesterov", "adam", "adamw"].contains(o.lowercased()) {
            throw ValidationError("--optimizer must be sgd, momentum, nesterov, adam or adamw, got \(o)")
        }
        guard ["default", "pytorch"].contains(initialization.lowercased()) else {
            throw ValidationError("--initialization must be default or pytorch, got \(initialization)")
        }
        if let s = schedule, !["constant", "step", "cosine"].contains(s.lowercased()) {
            throw ValidationError("--schedule must be constant, step or cosine, got \(s)")
        }
    }

    /// The optimizer configuration the flags ask for.
    var optimizerConfiguration: OptimizerConfiguration {
        let kind = (optimizer ?? "sgd").lowercased()
        var c = OptimizerConfiguration(kind: ["adam", "adamw"].contains(kind) ? kind : "sgd", learningRate: lr ?? 0.05)
        c.weightDecay = weightDecay ?? 0
        if kind == "momentum" || kind == "nesterov" { c.momentum = momentum ?? 0.9 }
        c.nesterov = kind == "nesterov"
        recipe.adjust(&c)
        return c
    }

    func lrSchedule(epochs: Int, lr: Float) -> LearningRateSchedule {
        switch (schedule ?? "constant").lowercased() {
        case "step": return recipe.stepSchedule
        case "cosine": return .cosine(epochs: epochs, minimum: lr * 0.01)
        default: return .constant
        }
    }

    /// A new trainer for `data` as the flags describe it.
    func makeTrainer(for data: Dataset, imageShape: [Int]?, description: DataDescription) throws -> Trainer {
        let outputs = data.isClassification ? data.classCount : (data.targets?.rowWidth ?? 1)
        let shape = Array(data.inputs.shape.dropFirst())
        let s = seed ?? 1
        let m = try makeModel(model ?? "mlp", inputShape: shape, imageShape: imageShape, outputs: outputs, dropout: dropout ?? 0, seed: s)
        // --dropout adds dropout only to models without any; a model with its own would ignore it.
        if let d = dropout, d > 0 {
            let plain = try Models.make(model ?? "mlp", inputShape: shape, imageShape: imageShape, outputs: outputs, dropout: 0, seed: s)
            if Models.hasOwnDropout(plain.layers) {
                throw CLIError("--dropout \(d) has no effect: the model \(model ?? "mlp") has dropout layers of its own (\(plain.spec)); set their rates in the layer list instead")
            }
        }
        if initialization.lowercased() == "pytorch" { m.initialize(.pytorchDefault, seed: s) }
        let loss = Sequential.defaultLoss(for: data, outputs: outputs)
        let config = optimizerConfiguration
        let trainer = Trainer(model: m, loss: loss, optimizer: try config.makeOptimizer(),
                              schedule: lrSchedule(epochs: epochs ?? 10, lr: config.learningRate), seed: s)
        trainer.data = description
        try recipe.apply(to: trainer, earlyStoppingPatience: earlyStopping)
        if let a = augment { trainer.augmentation = try Augmentation(a, imageShape: m.inputShape) }
        return trainer
    }

    /// Checks that flags given with --resume agree with what the checkpoint recorded.
    func checkAgainst(_ loaded: Checkpoint.Loaded, _ trainer: Trainer, path: String) throws {
        func conflict(_ flag: String, _ given: String, _ recorded: String) -> CLIError {
            CLIError("\(flag) \(given) contradicts \(path), which was trained with \(recorded)")
        }
        let recorded = trainer.optimizer.configuration
        var base = recorded
        base.learningRate = trainer.baseLearningRate
        if optimizer != nil || lr != nil || momentum != nil || weightDecay != nil {
            var flags = optimizerConfiguration
            if optimizer == nil { flags.kind = base.kind; flags.momentum = base.momentum; flags.nesterov = base.nesterov }
            if lr == nil { flags.learningRate = base.learningRate }
            if momentum == nil && flags.kind == base.kind { flags.momentum = base.momentum }
            if weightDecay == nil { flags.weightDecay = base.weightDecay }
            flags.beta1 = base.beta1; flags.beta2 = base.beta2; flags.epsilon = base.epsilon; flags.decayBiases = base.decayBiases
            if flags != base {
                throw conflict("the optimizer flags", "(\(flags.kind), lr \(flags.learningRate), momentum \(flags.momentum), weight decay \(flags.weightDecay))",
                               "\(base.kind), lr \(base.learningRate), momentum \(base.momentum), weight decay \(base.weightDecay)")
            }
        }
        if recipe.anyGiven {
            throw CLIError("the recipe flags (betas, step schedule, warm-up, clipping, plateau, monitor) come from \(path) when resuming; remove them")
        }
        if let s = seed, s != trainer.seed { throw conflict("--seed", "\(s)", "seed \(trainer.seed)") }
        if let b = batchSize, b != trainer.batchSize { throw conflict("--batch-size", "\(b)", "batch size \(trainer.batchSize)") }
        if let d = dropout, d > 0 { throw conflict("--dropout", "\(d)", "the architecture \(loaded.model.spec)") }
        if let a = augment, a != trainer.augmentation?.text { throw conflict("--augment", a, trainer.augmentation.map { "augmentation \($0.text)" } ?? "no augmentation") }
        if let v = valSplit, v != loaded.data.validationFraction || loaded.data.testFraction != nil { throw conflict("--val-split", "\(v)", splitWords(loaded.data)) }
        if let p = earlyStopping, p != trainer.earlyStopping?.patience { throw conflict("--early-stopping", "\(p)", trainer.earlyStopping.map { "patience \($0.patience)" } ?? "no early stopping") }
        if let s = schedule, lrSchedule(epochs: trainer.targetEpochs, lr: trainer.baseLearningRate) != trainer.schedule {
            throw conflict("--schedule", s, "\(trainer.schedule)")
        }
    }

    func run() throws {
        // Under `mpirun` every rank runs this command; rank 0 alone writes to standard output.
        if Distributed.wasLaunchedByMPI {
            do { try Distributed.start() } catch { throw CLIError("launched by mpirun, but \(error)") }
            if Distributed.rank != 0 {
                let devNull = open("/dev/null", O_WRONLY)
                if devNull >= 0 { dup2(devNull, STDOUT_FILENO); close(devNull) }
            }
        }
        defer { Distributed.stop() }
        do { try runOrThrow() } catch {
            let message: String
            switch error {
            case let e as CLIError: message = e.message
            case let e as ValidationError: message = e.message
            default: message = error.userMessage
            }
            if Distributed.size > 1 {
                // A failure on one rank would leave the others waiting in the next collective: stop
                // them all. Collective failures (a non-finite loss) reach every rank; rank 0 reports.
                let collective = error is TrainingError || message.hasPrefix("training stopped")
                if Distributed.rank == 0 || !collective { warn("Error (rank \(Distributed.rank) of \(Distributed.size)): \(message)") }
                fflush(nil)
                Distributed.abort(code: 1)
            }
            if error is ValidationError { throw error }
            throw CLIError(message)
        }
    }

    func runOrThrow() throws {
        // Ctrl-C before anything slow: until the trainer exists it simply ends the process.
        // SIGUSR1 too: mpirun forwards it to every rank (it kills ranks on Ctrl-C within a second).
        let stopRequests = StopRequests()
        let sources = [SIGINT, SIGUSR1].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { stopRequests.request() }
            source.resume()
            return source
        }
        defer { for (sig, source) in zip([SIGINT, SIGUSR1], sources) { source.cancel(); signal(sig, SIG_DFL) } }

        if let t = threads { Runtime.threads = t }
        // Outputs that cannot be written are reported now, not after the first epoch.
        for (flag, path) in [("--checkpoint", checkpoint), ("--log", log), ("--plot", plot)] {
            guard let p = path else { continue }
            do { try DataFile.checkWritableDestination(p) } catch { throw CLIError("\(flag): \(error.userMessage)") }
        }
        let loaded = try resume.map { try Checkpoint.load($0) }
        var description = try dataOptions.resolved(with: loaded?.data, checkpoint: resume)
        let trainingSeed: UInt64
        if let l = loaded, let path = resume {
            // The split seed of a resumed run is the recorded one; a malformed one is an error, not a default.
            guard let t = l.training else { throw CLIError("\(path) holds weights only, no training state to resume") }
            guard let recorded = UInt64(t.seed) else { throw CLIError("\(path): the recorded seed '\(t.seed)' is not an unsigned 64-bit integer") }
            trainingSeed = recorded
        } else {
            trainingSeed = seed ?? 1
        }
        let splitOrigin: String
        let scaleTargets = (targetScaling ?? "standard").lowercased() == "standard"
        if let path = resume {
            // The split and the target scaling are the recorded ones: a flag may only repeat them.
            if let text = split {
                var flagged = description
                try applySplitFlags(split: try SplitPercentages(text), valSplit: nil, to: &flagged)
                // The default 80/20 split (no test fraction recorded, no validation) is --split 80/0/20.
                func cut(_ d: DataDescription) -> [Double?] {
                    d.testFraction == nil && d.validationFraction == 0 && !hasOwnTestSet(d.source)
                        ? [0, DataDescription.defaultTestFraction] : [d.validationFraction, d.testFraction]
                }
                if cut(flagged) != cut(description) {
                    throw CLIError("--split \(text) contradicts \(path), which was trained with \(splitWords(description))")
                }
            }
            if let t = targetScaling, scaleTargets != (description.targetStandardizer != nil) {
                throw CLIError("--target-scaling \(t) contradicts \(path), which was trained with " + (description.targetStandardizer != nil ? "standardised targets" : "raw targets"))
            }
            splitOrigin = "the split recorded in \(path) (\(splitWords(description)))"
        } else {
            try applySplitFlags(split: try split.map { try SplitPercentages($0) }, valSplit: valSplit, to: &description)
            splitOrigin = split.map { "--split \($0)" } ?? valSplit.map { "--val-split \($0)" } ?? "the default 80/20 split"
        }
        let data = try loadData(description, seed: trainingSeed, fitTargetScaling: loaded == nil && scaleTargets, origin: splitOrigin)
        if stopRequests.isRequested { throw CLIError("interrupted while loading the data") }
        if let t = targetScaling, data.train.isClassification {
            throw CLIError("--target-scaling \(t) applies to regression data (csv:FILE with --regression, sklearn:diabetes); \(description.source ?? "fashion-mnist") has class labels")
        }
        if let k = kfold { return try crossValidate(data.train, imageShape: data.imageShape, description: data.description, k: k) }
        let train = data.train
        let validation = data.validation
        let trainer: Trainer
        if let l = loaded, let path = resume {
            trainer = try l.makeTrainer()
            try checkAgainst(l, trainer, path: path)
            try trainer.validate(train, role: "training")
            if let m = model {
                let flagged = try Models.make(m, inputShape: Array(train.inputs.shape.dropFirst()), imageShape: data.imageShape,
                                              outputs: trainer.model.outputShape.reduce(1, *), dropout: 0, seed: 0)
                if flagged.architecture != trainer.model.architecture {
                    throw CLIError("--model \(m) (\(flagged.spec)) contradicts \(path), which holds \(trainer.model.spec)")
                }
            }
            trainer.data = data.description
            if !json { print("Resumed from \(path) after epoch \(trainer.completedEpochs)") }
        } else {
            trainer = try makeTrainer(for: train, imageShape: data.imageShape, description: data.description)
            if let warning = Dataset.ruleOfThumbWarning(examples: train.count, parameters: trainer.model.parameterCount), !json,
               Distributed.rank == 0,
               train.count < 10_000 {
                warn("note: \(warning)")
            }
        }
        stopRequests.attach(trainer)
        if let n = shards { trainer.microShards = n }
        trainer.checksReplicasEveryEpoch = checkReplicas
        if let e = epochs, let path = resume, e < trainer.completedEpochs {
            throw CLIError("--epochs \(e) is fewer than the \(trainer.completedEpochs) epochs \(path) has already done (--epochs counts all epochs, including those)")
        }
        let effectiveBatch = batchSize ?? trainer.batchSize
        if effectiveBatch > train.count, !json, Distributed.rank == 0 {
            warn("note: --batch-size \(effectiveBatch) is larger than the \(train.count) training examples: each epoch is one full batch of \(train.count)")
        }
        let totalEpochs = epochs ?? (loaded != nil ? trainer.targetEpochs : 10)
        let remaining = max(0, totalEpochs - trainer.completedEpochs)
        var callbacks: [any TrainingCallback] = []
        let progress = ProgressReporter(json: json, total: remaining, trainCount: train.count, batchSize: trainer.batchSize)
        callbacks.append(progress)
        if let l = log, Distributed.rank == 0 { callbacks.append(try MetricsLogger(path: l, batchEvery: logEvery)) }
        // After the log (which records the diverged epoch), before the checkpoint (which keeps the last good one).
        if validation != nil { callbacks.append(FiniteValidationLoss()) }
        let writer = checkpoint.map { CheckpointWriter(path: $0) }
        if let w = writer { callbacks.append(w) }

        if !json {
            let name = model ?? (loaded == nil ? "mlp" : "the checkpoint's model")
            print("Training \(name) (\(trainer.model.parameterCount) parameters) on \(description.source ?? "?"): \(train.count) examples"
                  + (validation.map { ", \($0.count) for validation" } ?? "") + ", \(data.test.count) test; "
                  + (Distributed.size > 1 ? "\(Distributed.size) ranks × " : "") + "\(Runtime.threads) thread(s), \(Runtime.isa)")
        }

        let start = Date()
        let history: History
        do {
            history = try trainer.fit(train, validation: validation, epochs: remaining, batchSize: batchSize ?? trainer.batchSize,
                                      callbacks: callbacks)
        } catch where error is TrainingError || error is FiniteValidationLoss.Diverged {
            progress.finishLine()
            var msg = "training stopped: \(error)"
            // Only a file this run wrote: one left by an earlier run is not this run's last good state.
            if let w = writer, w.writes > 0 || loaded != nil && resume == w.path {
                msg += "; the last good checkpoint is \(w.path)"
            } else if checkpoint != nil {
                msg += "; no checkpoint was written"
            }
            throw CLIError(msg)
        }
        let seconds = Date().timeIntervalSince(start)
        if history.interrupted {
            if let c = checkpoint { try Checkpoint.save(trainer, to: c) }
            progress.finishLine()
            let position = trainer.epochPosition.map { " and \($0.batchesDone) batches of epoch \(trainer.completedEpochs + 1)" } ?? ""
            print("Interrupted after \(trainer.completedEpochs) epochs\(position)"
                  + (checkpoint.map { "; checkpoint written to \($0) (continue with --resume \($0))" } ?? ""))
            return
        }
        if let s = trainer.earlyStopping, s.bestEpoch > 0, s.restoreBest, !json, let best = s.best {
            print("Early stopping: best validation loss \(best) at epoch \(s.bestEpoch); its weights are restored")
        }
        if let c = checkpoint, trainer.earlyStopping != nil { try Checkpoint.save(trainer, to: c) }
        if let p = plot, Distributed.rank == 0 { try TrainingCurves.write(history, to: p, title: "\(model ?? "model") on \(description.source ?? "data")") }
        let result = trainer.evaluate(data.test)
        let regression = try regressionFigures(trainer.model, data.test, data.description)
        if trainer.isDistributed, trainer.communication.steps > 0, !json {
            let c = trainer.communication
            let exposed = c.exposedSeconds / Double(c.steps)
            print(String(format: "Gradient all-reduce: %.3f ms for the whole arena at once; %.3f ms per step left waiting after backward (the rest of the sums overlapped backward; the wait includes any slower rank)",
                         c.fullSumSeconds * 1000, exposed * 1000))
        }
        if json {
            var fields: [(key: String, value: JSONRecord.Value)] = [("event", .string("done"))]
            if let a = result.accuracy { fields.append(("test_accuracy", .float(a))) }
            fields.append(("test_loss", .float(result.loss)))
            if let r = regression { fields += regressionFields(r) }
            fields += [("epochs", .int(trainer.completedEpochs)),
                       ("seconds", .double((seconds * 1000).rounded() / 1000))]
            print(JSONRecord(fields).line)
        } else {
            let acc = result.accuracy.map { String(format: "test accuracy %.4f, ", $0) } ?? ""
            let epochWord = trainer.completedEpochs == 1 ? "epoch" : "epochs"
            let figures = regression.map { ", " + regressionText($0, description: data.description) } ?? ""
            print(String(format: "Done: \(acc)test loss %.4f\(figures) after %d \(epochWord) in %.1f s", result.loss, trainer.completedEpochs, seconds))
        }
        // The figures are printed (NaN as null with --json), but a model whose test loss is not a
        // number has not trained: that is a failure, not a result.
        if !result.loss.isFinite { throw CLIError("the test loss is \(result.loss): the model's outputs are not finite") }
    }

    func crossValidate(_ data: Dataset, imageShape: [Int]?, description: DataDescription, k: Int) throws {
        let folds = try data.kFoldIndices(k: k, seed: seed ?? 1, stratified: data.isClassification)
        var scores: [Double] = []
        var lastMetric = "accuracy"
        for (i, fold) in folds.enumerated() {
            let train = data.subset(fold.train), val = data.subset(fold.validation)
            let trainer = try makeTrainer(for: train, imageShape: imageShape, description: description)
            _ = try trainer.fit(train, epochs: epochs ?? 10, batchSize: batchSize ?? 64)
            // Classification: the fold's accuracy; regression: its RMSE in the targets' own units
            // (the loss is on the standardised scale, which a reader cannot compare with anything).
            let e = trainer.evaluate(val)
            let score: Double, metric: String
            if let a = e.accuracy {
                (score, metric) = (Double(a), "accuracy")
            } else if let r = try regressionFigures(trainer.model, val, description) {
                (score, metric) = (r.rmse, "rmse")
            } else {
                (score, metric) = (Double(e.loss), "loss")
            }
            scores.append(score)
            lastMetric = metric
            if json {
                print(JSONRecord([("event", .string("fold")), ("fold", .int(i + 1)), (metric, .double(score))]).line)
            } else {
                print(String(format: "fold %2d/%d: %@ %.4f", i + 1, k, metric, score))
            }
        }
        let mean = scores.reduce(0, +) / Double(scores.count)
        let std = (scores.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(scores.count - 1, 1))).squareRoot()
        if json {
            print(JSONRecord([("event", .string("done")), ("folds", .int(k)), ("metric", .string(lastMetric)), ("mean", .double(mean)),
                              ("std", .double(std))]).line)
        } else {
            let units = lastMetric == "rmse" ? " (RMSE in the targets' units)" : ""
            print(String(format: "%d-fold cross-validation: %@ %.4f ± %.4f%@", k, lastMetric, mean, std, units))
        }
    }
}

/// Ends training when the validation loss is NaN or infinite: such weights give no usable outputs,
/// and stopping before the checkpoint writer keeps the last good checkpoint.
final class FiniteValidationLoss: TrainingCallback {
    struct Diverged: Error, CustomStringConvertible {
        let epoch: Int, value: Float
        var description: String { "the validation loss became \(value) at epoch \(epoch); lower the learning rate or check the data" }
    }
    func trainerDidFinishEpoch(_ trainer: Trainer, metrics m: EpochMetrics) throws -> TrainingAction {
        if let v = m.validationLoss, !v.isFinite { throw Diverged(epoch: m.epoch, value: v) }
        return .continue
    }
}

/// Ctrl-C requests: remembered until a trainer exists, then forwarded to it.
final class StopRequests: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    private var trainer: Trainer?
    func request() {
        lock.lock(); defer { lock.unlock() }
        requested = true
        trainer?.requestStop()
    }
    func attach(_ t: Trainer) {
        lock.lock(); defer { lock.unlock() }
        trainer = t
        if requested { t.requestStop() }
    }
    var isRequested: Bool { lock.lock(); defer { lock.unlock() }; return requested }
}
