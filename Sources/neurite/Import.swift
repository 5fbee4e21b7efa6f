// `neurite import` and `neurite export`: PyTorch state_dicts in, weights-only checkpoints out.

import ArgumentParser
import Foundation
import Neurite

/// Parses an example shape such as "784" or "1,28,28" given to `flag`.
func parseShape(_ text: String, flag: String) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
    let shape = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard shape.count == parts.count, (1...ModelLimits.maxRank).contains(shape.count),
          shape.allSatisfy({ (1...ModelLimits.maxExtent).contains($0) }) else {
        throw ValidationError("\(flag) must be sizes like 784 or 1,28,28 (1 to \(ModelLimits.maxRank) sizes, each in 1...\(ModelLimits.maxExtent)), got '\(text)'")
    }
    return shape
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Turn a PyTorch state_dict (safetensors) and its architecture into a Neurite checkpoint.",
        discussion: """
        Save the weights in Python with
          from safetensors.torch import save_file
          save_file(net.state_dict(), "net.safetensors")
        where net is an nn.Sequential (or a module holding one as self.model)
        whose module i is layer i of --model, one module per layer: Linear =
        dense, Conv2d = conv, MaxPool2d = maxpool, AvgPool2d = avgpool,
        BatchNorm1d/2d = batchnorm, LocalResponseNorm = lrn, and Flatten,
        Dropout and the activations by their names.
        Tensors may be F32, F16, BF16 or F64 (made float32 as PyTorch's .float()
        does), their names with or without a model. or module. prefix. Every
        tensor must fit the model: missing, unexpected and wrongly shaped
        tensors are all listed, and nothing is written.
        Example:
          neurite import net.safetensors --model lenet --data fashion-mnist -o lenet.st
          neurite evaluate --checkpoint lenet.st
        """)

    @Argument(help: "The state_dict file (safetensors).") var file: String
    @Option(name: .long, help: "The architecture: \(Models.help)") var model: String
    @Option(name: [.short, .customLong("output")], help: "The checkpoint to write.") var output: String
    @Option(name: .long, help: "Shape of one example, e.g. 784 or 1,28,28 (default: the named model's, else 784, or 1,28,28 when the first layer needs images).")
    var inputShape: String?
    @Option(name: .long, help: "Number of classes (default: the model's outputs; a single output with --classes 2 is logistic).") var classes: Int?
    @Flag(name: .long, help: "The model predicts values (mean squared error), not classes.") var regression = false
    @Option(name: .long, help: "Data source to record, so evaluate and predict need no --data: fashion-mnist, idx:DIR, csv:FILE, sklearn:NAME.")
    var data: String?

    func validate() throws {
        if let c = classes {
            guard !regression else { throw ValidationError("--classes and --regression exclude each other") }
            guard (2...ModelLimits.maxClasses).contains(c) else { throw ValidationError("--classes must be in 2...\(ModelLimits.maxClasses), got \(c)") }
        }
        if let d = data, !(d == "fashion-mnist" || ["idx:", "csv:", "sklearn:"].contains(where: { d.hasPrefix($0) && d.count > $0.count })) {
            throw ValidationError("--data must be fashion-mnist, idx:DIR, csv:FILE or sklearn:NAME, got '\(d)'")
        }
    }

    func run() throws {
        let net = try buildModel()
        let outputs = net.outputShape.reduce(1, *)
        let loss: any Loss, classCount: Int
        if regression {
            loss = MeanSquaredError()
            classCount = 0
        } else if outputs == 1 {
            guard classes == 2 else {
                throw CLIError("the model has 1 output: pass --classes 2 for a logistic (binary) classifier or --regression for a value")
            }
            loss = BinaryCrossEntropy()
            classCount = 2
        } else {
            guard classes == nil || classes == outputs else {
                throw CLIError("--classes \(classes ?? 0) does not match the model, which has \(outputs) outputs")
            }
            loss = SoftmaxCrossEntropy()
            classCount = outputs
        }
        var description = DataDescription(source: data)
        description.regression = regression
        if let d = data, d == "fashion-mnist" || d.hasPrefix("idx:") {
            description.pixelsDividedBy255 = true   // as the IDX reader delivers pixels (see `loadData`)
            if d == "fashion-mnist" { description.classNames = FashionMNIST.classNames }
        }
        let result: Checkpoint.StateDictImport
        do {
            result = try Checkpoint.importStateDict(file, into: net)
            try Checkpoint.save(model: net, loss: loss, classCount: classCount, data: description, to: output)
        } catch { throw CLIError(error.userMessage) }
        let from = result.dtypes.map(\.rawValue).joined(separator: "/")
        let prefix = result.prefix.isEmpty ? "" : ", names prefixed \(result.prefix)"
        let left = result.trainingStateTensors == 0 ? "" : ", \(result.trainingStateTensors) training-state tensors left behind"
        print("Imported \(result.tensorCount) tensors (\(net.parameterCount) parameters, \(from.isEmpty ? "none" : from) → float32\(prefix)\(left)) from \(file)")
        print("Wrote \(output): \(net.spec) on \(net.inputShape), \(regression ? "regression" : "\(classCount) classes")")
        if data == nil { print("Evaluate it with: neurite evaluate --checkpoint \(output) --data SOURCE") }
    }

    /// The model `--model` describes, for `--input-shape` (or the Fashion-MNIST shapes: flat rows,
    /// or images when the first layer needs them, as `train` does).
    func buildModel() throws -> Sequential {
        let named = Models.named(model)
        let given = try inputShape.map { try parseShape($0, flag: "--input-shape") }
        let shapes = given.map { [$0] } ?? named?.inputShape.map { [$0] } ?? [[784], [1, 28, 28]]
        do {
            if let named {
                let outputs = regression ? 1 : classes ?? named.defaultOutputs ?? 10
                return try Models.make(model, inputShape: shapes[0], imageShape: shapes.dropFirst().first, outputs: outputs, seed: 0)
            }
            if !model.isEmpty, model.allSatisfy({ $0.isNumber || $0 == "-" }) {
                // Sizes like 784-256-10 end with their own output count.
                let outputs = Int(model.split(separator: "-").last ?? "") ?? 0
                return try Models.make(model, inputShape: shapes[0], outputs: outputs, seed: 0)
            }
            // A layer list ends with its own outputs; try the images when flat rows do not fit.
            for (i, s) in shapes.enumerated() {
                do { return try Sequential(model, inputShape: s) } catch is ShapeError where i + 1 < shapes.count { continue }
            }
            throw CLIError("model \(model): no input shape given")
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("model \(model): \(error.userMessage)\(namedModelHint(model))")
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's model alone: weights, buffers, task and data description, no training state.",
        discussion: """
        The result holds what inference, `neurite import` and PyTorch's
        load_state_dict need (tensors model.<i>.<name>), without optimizer
        moments or early stopping's copy of the best weights; it cannot resume
        training.
        """)

    @Option(name: .long, help: "Checkpoint written by `neurite train --checkpoint`.") var checkpoint: String
    @Option(name: [.short, .customLong("output")], help: "The weights-only checkpoint to write.") var output: String

    func run() throws {
        let loaded = try loadCheckpoint(checkpoint)
        do {
            try Checkpoint.save(model: loaded.model, loss: loaded.loss, classCount: loaded.task.classCount, data: loaded.data, to: output)
        } catch { throw CLIError(error.userMessage) }
        let left = loaded.tensors.count - loaded.model.parameters.parameters.count - loaded.model.buffers.count
        print("Wrote \(output): \(loaded.model.parameterCount) parameters of \(loaded.model.spec)\(left > 0 ? ", \(left) training-state tensors left out" : "")")
    }
}
