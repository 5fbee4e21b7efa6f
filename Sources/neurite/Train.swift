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
        Ctrl-C finishes the current batch, writes the checkpoint (with --checkpoint) and exits.
        """
    )

    @Option(name: .long, help: "Model: \(ModelCatalog.help)") var model: String = "mlp"
    @OptionGroup var dataOptions: DataOptions
    @Option(name: .long, help: "Number of epochs.") var epochs: Int = 10
    @Option(name: .long, help: "Mini-batch size.") var batchSize: Int = 64
    @Option(name: .long, help: "Learning rate.") var lr: Float = 0.05
    @Option(name: .long, help: "sgd, momentum (SGD with momentum 0.9), nesterov, adam or adamw.") var optimizer: String = "sgd"
    @Option(name: .long, help: "Momentum for --optimizer momentum/nesterov.") var momentum: Float = 0.9
    @Option(name: .long, help: "L2 regularisation λ (J + λ‖θ‖², biases excluded); decoupled for adamw.") var weightDecay: Float = 0
    @Option(name: .long, help: "Dropout probability after each hidden activation, in [0, 1).") var dropout: Float = 0
    @Option(name: .long, help: "Learning-rate schedule: constant, step (×0.5 every 5 epochs) or cosine.") var schedule: String = "constant"
    @Option(name: .long, help: "Fraction of the training data held out for validation.") var valSplit: Double = 0
    @Option(name: .long, help: "Stop after this many epochs without validation-loss improvement and restore the best weights.") var earlyStopping: Int?
    @Option(name: .long, help: "Threads for the kernels (default: NEURITE_NUM_THREADS, OMP_NUM_THREADS or the physical cores).") var threads: Int?
    @Option(name: .long, help: "Seed for initialisation, shuffling, splits and dropout.") var seed: UInt64 = 1
    @Option(name: .long, help: "Write a checkpoint (safetensors) here after every epoch.") var checkpoint: String?
    @Option(name: .long, help: "Resume from this checkpoint (same model and optimizer).") var resume: String?
    @Option(name: .long, help: "Write per-epoch metrics as JSON lines here.") var log: String?
    @Option(name: .long, help: "Write training curves (SVG) here.") var plot: String?
    @Option(name: .long, help: "k-fold cross-validation on the training data instead of one training run.") var kfold: Int?
    @Flag(name: .long, help: "Print one JSON object per epoch and a final summary object.") var json = false
    @Option(name: .long, help: "Weight initialisation: default (He before ReLU, Glorot otherwise, zero biases) or pytorch (U(±1/√fan-in) for weights and biases, PyTorch's defaults).")
    var initialization: String = "default"

    func validate() throws {
        guard epochs >= 0 else { throw ValidationError("--epochs must be ≥ 0, got \(epochs)") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be > 0, got \(batchSize)") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number, got \(lr)") }
        guard dropout >= 0, dropout < 1 else { throw ValidationError("--dropout must be in [0, 1), got \(dropout)") }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must be ≥ 0, got \(weightDecay)") }
        guard momentum >= 0, momentum < 1 else { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
        guard valSplit >= 0, valSplit < 1 else { throw ValidationError("--val-split must be in [0, 1), got \(valSplit)") }
        if let p = earlyStopping, p < 1 { throw ValidationError("--early-stopping must be ≥ 1, got \(p)") }
        if earlyStopping != nil && valSplit == 0 { throw ValidationError("--early-stopping needs validation data: add --val-split 0.1") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be ≥ 1, got \(t)") }
        if let k = kfold, k < 2 { throw ValidationError("--kfold must be ≥ 2, got \(k)") }
        guard ["sgd", "momentum", "nesterov", "adam", "adamw"].contains(optimizer) else {
            throw ValidationError("--optimizer must be sgd, momentum, nesterov, adam or adamw, got \(optimizer)")
        }
        guard ["default", "pytorch"].contains(initialization) else {
            throw ValidationError("--initialization must be default or pytorch, got \(initialization)")
        }
        guard ["constant", "step", "cosine"].contains(schedule) else {
            throw ValidationError("--schedule must be constant, step or cosine, got \(schedule)")
        }
    }

    func makeOptimizer() -> Optimizer {
        switch optimizer {
        case "momentum": return SGD(learningRate: lr, momentum: momentum, weightDecay: weightDecay)
        case "nesterov": return SGD(learningRate: lr, momentum: momentum, nesterov: true, weightDecay: weightDecay)
        case "adam": return Adam(learningRate: lr, weightDecay: weightDecay)
        case "adamw": return Adam(learningRate: lr, weightDecay: weightDecay, decoupled: true)
        default: return SGD(learningRate: lr, weightDecay: weightDecay)
        }
    }

    var lrSchedule: LearningRateSchedule {
        switch schedule {
        case "step": return .step(every: 5, factor: 0.5)
        case "cosine": return .cosine(epochs: epochs, minimum: lr * 0.01)
        default: return .constant
        }
    }

    func makeTrainer(for data: Dataset) throws -> Trainer {
        let outputs = data.isClassification ? data.classCount : (data.targets?.rowWidth ?? 1)
        let shape = Array(data.inputs.shape.dropFirst())
        let m = try ModelCatalog.make(model, inputShape: shape, outputs: outputs, dropout: dropout, seed: seed)
        if initialization == "pytorch" { m.reinitialize(.pytorchDefault, seed: seed) }
        let loss: Loss = data.isClassification ? SoftmaxCrossEntropy() : MeanSquaredError()
        return Trainer(model: m, loss: loss, optimizer: makeOptimizer(), schedule: lrSchedule, seed: seed)
    }

    func run() throws {
        do { try runOrThrow() } catch let e as CLIError {
            throw e
        } catch let e as ValidationError {
            throw e
        } catch {
            throw CLIError(error.userMessage)
        }
    }

    func runOrThrow() throws {
        if let t = threads { Runtime.threads = t }
        let loaded = try loadData(dataOptions, seed: seed)
        if let k = kfold { return try crossValidate(loaded.train, k: k) }
        var train = loaded.train
        var validation: Dataset?
        if valSplit > 0 {
            let parts = try train.splittingValidation(fraction: valSplit, seed: seed, stratified: train.isClassification)
            train = parts.train
            validation = parts.validation
        }
        let trainer = try makeTrainer(for: train)
        if let warning = Dataset.ruleOfThumbWarning(examples: train.count, parameters: trainer.model.parameterCount), !json {
            warn("note: \(warning)")
        }
        if let r = resume {
            try Checkpoint.restore(trainer, from: r)
            if !json { print("Resumed from \(r) after epoch \(trainer.completedEpochs)") }
        }
        let remaining = max(0, epochs - trainer.completedEpochs)
        var callbacks: [TrainingCallback] = []
        let progress = ProgressReporter(json: json, total: remaining, trainCount: train.count, batchSize: batchSize)
        callbacks.append(progress)
        var stopper: EarlyStopping?
        if let p = earlyStopping {
            let s = EarlyStopping(metric: .validationLoss, patience: p)
            stopper = s
            callbacks.append(s)
        }
        if let l = log { callbacks.append(try MetricsLogger(path: l)) }
        var extra = ["data": dataOptions.data, "model": model]
        if let st = loaded.standardizer { extra["standardizer"] = Checkpoint.json(st) }
        let writer = checkpoint.map { CheckpointWriter(path: $0, classCount: train.classCount, seed: seed, extraMetadata: extra) }
        if let w = writer { callbacks.append(w) }

        if !json {
            print("Training \(model) (\(trainer.model.parameterCount) parameters) on \(dataOptions.data): \(train.count) examples"
                  + (validation.map { ", \($0.count) for validation" } ?? "") + ", \(loaded.test.count) test; "
                  + "\(Runtime.threads) thread(s), \(Runtime.isa)")
        }
        // Ctrl-C: finish the batch, checkpoint, exit cleanly.
        signal(SIGINT, SIG_IGN)
        let sigint = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        sigint.setEventHandler { trainer.requestStop() }
        sigint.resume()
        defer { sigint.cancel(); signal(SIGINT, SIG_DFL) }

        let start = Date()
        let history: History
        do {
            history = try trainer.fit(train, validation: validation, epochs: remaining, batchSize: batchSize, callbacks: callbacks)
        } catch let e as TrainingError {
            progress.finishLine()
            var msg = "training stopped: \(e)"
            if let c = checkpoint, FileManager.default.fileExists(atPath: c) { msg += "; the last good checkpoint is \(c)" }
            throw CLIError(msg)
        }
        let seconds = Date().timeIntervalSince(start)
        if history.interrupted {
            if let c = checkpoint { try Checkpoint.save(trainer, classCount: train.classCount, seed: seed, to: c, extraMetadata: extra) }
            progress.finishLine()
            let position = trainer.epochPosition.map { " and \($0.batchesDone) batches of epoch \(trainer.completedEpochs + 1)" } ?? ""
            print("Interrupted after \(trainer.completedEpochs) epochs\(position)"
                  + (checkpoint.map { "; checkpoint written to \($0) (continue with --resume \($0))" } ?? ""))
            return
        }
        if let s = stopper, history.stoppedEarly || s.restoreBest, s.bestEpoch > 0, !json {
            print("Early stopping: best validation loss \(s.best!) at epoch \(s.bestEpoch); its weights are restored")
        }
        if let c = checkpoint, stopper != nil {
            try Checkpoint.save(trainer, classCount: train.classCount, seed: seed, to: c, extraMetadata: extra)
        }
        if let p = plot { try TrainingCurves.write(history, to: p, title: "\(model) on \(dataOptions.data)") }
        let result = trainer.evaluate(loaded.test)
        if json {
            var fields = ["\"event\":\"done\"", "\"test_loss\":\(result.loss)", "\"epochs\":\(trainer.completedEpochs)",
                          String(format: "\"seconds\":%.3f", seconds)]
            if let a = result.accuracy { fields.insert("\"test_accuracy\":\(a)", at: 1) }
            print("{" + fields.joined(separator: ",") + "}")
        } else {
            let acc = result.accuracy.map { String(format: "test accuracy %.4f, ", $0) } ?? ""
            print(String(format: "Done: \(acc)test loss %.4f after %d epochs in %.1f s", result.loss, trainer.completedEpochs, seconds))
        }
    }

    func crossValidate(_ data: Dataset, k: Int) throws {
        let folds = try data.kFoldIndices(k: k, seed: seed, stratified: data.isClassification)
        var scores: [Double] = []
        for (i, fold) in folds.enumerated() {
            let train = data.subset(fold.train), val = data.subset(fold.validation)
            let trainer = try makeTrainer(for: train)
            _ = try trainer.fit(train, epochs: epochs, batchSize: batchSize)
            let e = trainer.evaluate(val)
            let score = Double(e.accuracy ?? e.loss)
            scores.append(score)
            if json {
                print("{\"event\":\"fold\",\"fold\":\(i + 1),\"\(e.accuracy != nil ? "accuracy" : "loss")\":\(score)}")
            } else {
                print(String(format: "fold %2d/%d: %@ %.4f", i + 1, k, e.accuracy != nil ? "accuracy" : "loss", score))
            }
        }
        let mean = scores.reduce(0, +) / Double(scores.count)
        let std = (scores.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(scores.count - 1, 1))).squareRoot()
        if json {
            print("{\"event\":\"done\",\"folds\":\(k),\"mean\":\(mean),\"std\":\(std)}")
        } else {
            print(String(format: "%d-fold cross-validation: %.4f ± %.4f", k, mean, std))
        }
    }
}

/// Progress: a live bar on a terminal, one line per epoch otherwise, JSON lines with --json.
final class ProgressReporter: TrainingCallback {
    let json: Bool
    let total: Int
    let isTTY = isatty(STDOUT_FILENO) != 0
    var epochStart = Date()
    var lastDraw = Date.distantPast
    let trainCount: Int
    let batchSize: Int

    init(json: Bool, total: Int, trainCount: Int, batchSize: Int) {
        self.json = json
        self.total = total
        self.trainCount = trainCount
        self.batchSize = batchSize
    }

    func trainerDidFinishBatch(_ trainer: Trainer, epoch: Int, batch: Int, batches: Int, loss: Float) {
        if batch == 1 { epochStart = Date() }
        guard isTTY, !json, Date().timeIntervalSince(lastDraw) > 0.1 || batch == batches else { return }
        lastDraw = Date()
        let frac = Double(batch) / Double(batches)
        let elapsed = Date().timeIntervalSince(epochStart)
        let rate = Double(min(batch * batchSize, trainCount)) / max(elapsed, 1e-6)
        let eta = elapsed / frac - elapsed
        let width = 30, filled = Int(frac * Double(width))
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
        let line = String(format: "\repoch %d [%@] %3.0f%% %8.0f samples/s  loss %.4f  ETA %4.0fs", epoch, bar, frac * 100, rate, loss, eta)
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    func trainerDidFinishEpoch(_ trainer: Trainer, metrics m: EpochMetrics) -> TrainingAction {
        if json {
            print(MetricsLogger.jsonLine(m))
        } else {
            if isTTY { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
            var s = String(format: "epoch %d/%d  loss %.4f", m.epoch, trainer.completedEpochs - m.epoch + total, m.trainLoss)
            if let a = m.trainAccuracy { s += String(format: "  acc %.4f", a) }
            if let v = m.validationLoss { s += String(format: "  val_loss %.4f", v) }
            if let v = m.validationAccuracy { s += String(format: "  val_acc %.4f", v) }
            s += String(format: "  %.1f s  %.0f samples/s", m.seconds, m.samplesPerSecond)
            print(s)
        }
        fflush(nil)
        return .continue
    }

    func finishLine() { if isTTY && !json { print("") } }
}
