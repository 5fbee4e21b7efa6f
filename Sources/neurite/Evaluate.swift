// `neurite evaluate` and `neurite predict`: use a trained checkpoint.

import ArgumentParser
import Foundation
import Neurite

/// Loads a checkpoint for the command line (errors become one-line messages). A safetensors file
/// without Neurite's metadata is most often a PyTorch state_dict: the message says how to import it.
func loadCheckpoint(_ path: String) throws -> Checkpoint.Loaded {
    do { return try Checkpoint.load(path) } catch let e as CheckpointError where e.message.hasPrefix("not a Neurite checkpoint (metadata format is missing") {
        throw CLIError(e.userMessage + "\na PyTorch state_dict? make it a checkpoint with: neurite import \(path) --model SPEC -o OUT")
    } catch { throw CLIError(error.userMessage) }
}

/// Regression figures of `model` on `test` in the targets' own units (predictions and targets
/// mapped back through the description's target standardiser); nil for classification data.
func regressionFigures(_ model: Sequential, _ test: Dataset, _ description: DataDescription) throws -> RegressionMetrics? {
    guard let targets = test.targets, test.count > 0 else { return nil }
    do {
        return try RegressionMetrics(predictions: description.targetsInOriginalUnits(model.predict(test.inputs)),
                                     targets: description.targetsInOriginalUnits(targets))
    } catch { throw CLIError("the regression figures: \(error.userMessage)") }
}

/// The JSON fields of regression figures (in the targets' own units).
func regressionFields(_ r: RegressionMetrics) -> [(key: String, value: JSONRecord.Value)] {
    [("test_mse", .double(r.mse)), ("test_rmse", .double(r.rmse)), ("test_mae", .double(r.mae)), ("test_r2", r.r2.map { .double($0) } ?? .null)]
}

/// Regression figures in words, saying which units the loss and the figures are in.
func regressionText(_ r: RegressionMetrics, description: DataDescription) -> String {
    let units = description.targetStandardizer != nil ? "in the targets' own units; the loss is ½·MSE of standardised targets" : "in the targets' own units"
    return String(format: "test MSE %.4g, RMSE %.4g, MAE %.4g, R² %@ (\(units))", r.mse, r.rmse, r.mae, r.r2.map { String(format: "%.4f", $0) } ?? "undefined")
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on its test data: loss, accuracy, per-class accuracy and confusion matrix (regression: MSE, RMSE, MAE, R² in the targets' units).",
        discussion: "The data source and its preparation come from the checkpoint; --data evaluates on another source of the same kind.")

    @Option(name: .long, help: "Checkpoint written by `neurite train --checkpoint`.") var checkpoint: String
    @OptionGroup var dataOptions: DataOptions
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func run() throws {
        let loaded = try loadCheckpoint(checkpoint)
        // An imported checkpoint may record no data source: then --data names it (and contradicts
        // nothing); the recorded preparation, if any, still applies.
        var stored = loaded.data
        if stored.source == nil { stored.source = dataOptions.data }
        let description = try dataOptions.resolved(with: stored, checkpoint: checkpoint)
        // The split seed: the recorded one (weights-only checkpoints have none: 1, the default).
        var seed: UInt64 = 1
        if let t = loaded.training {
            guard let s = UInt64(t.seed) else { throw CLIError("\(checkpoint): the recorded seed '\(t.seed)' is not an unsigned 64-bit integer") }
            seed = s
        }
        let data: LoadedData
        do { data = try loadData(description, seed: seed, origin: "the split recorded in \(checkpoint)") } catch let e as CLIError { throw e } catch { throw CLIError(error.userMessage) }
        let test = data.test
        let trainer = Trainer(model: loaded.model, loss: loaded.loss, optimizer: SGD(learningRate: 1))
        do { try trainer.validate(test, role: "test") } catch {
            throw CLIError("\(checkpoint) does not fit \(description.source ?? "the data"): \(error.userMessage)")
        }
        let result = loaded.model.evaluate(test, loss: loaded.loss)
        guard let accuracy = result.accuracy else {
            let regression = try regressionFigures(loaded.model, test, data.description)
            if json {
                print(JSONRecord([("test_loss", .float(result.loss))] + (regression.map(regressionFields) ?? []) + [("examples", .int(test.count))]).line)
            } else {
                print(String(format: "test loss %.4f", result.loss) + (regression.map { ", " + regressionText($0, description: data.description) } ?? "")
                      + " on \(test.count) examples")
            }
            return
        }
        let c = max(test.classCount, loaded.task.classCount)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: c), count: c)
        for (p, t) in zip(result.predictions, test.labels) where p < c && t < c { confusion[t][p] += 1 }
        let perClass = (0..<c).map { k -> Double in
            let n = confusion[k].reduce(0, +)
            return n == 0 ? 0 : Double(confusion[k][k]) / Double(n)
        }
        if json {
            print(JSONRecord([("test_accuracy", .float(accuracy)), ("test_loss", .float(result.loss)), ("examples", .int(test.count)),
                              ("per_class_accuracy", .floats(perClass.map(Float.init))),
                              ("confusion", .intRows(confusion))]).line)
            return
        }
        print(String(format: "test accuracy %.4f, test loss %.4f on %d examples", accuracy, result.loss, test.count))
        print("\nper-class accuracy:")
        let names = loaded.data.classNames
        for k in 0..<c {
            let name = k < names.count ? names[k] : "\(k)"
            print(String(format: "  %2d %-14@ %.4f", k, name as NSString, perClass[k]))
        }
        print("\nconfusion matrix (rows: true class, columns: predicted):")
        print("     " + (0..<c).map { String(format: "%5d", $0) }.joined())
        for k in 0..<c { print(String(format: "  %2d ", k) + confusion[k].map { String(format: "%5d", $0) }.joined()) }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict classes (and probabilities), or regression values, for new inputs: an IDX image file or a CSV of features.",
        discussion: "The inputs are prepared as the checkpoint records (pixel scaling, standardisation); regression values are in the targets' own units.")

    @Option(name: .long, help: "Checkpoint written by `neurite train --checkpoint`.") var checkpoint: String
    @Option(name: .long, help: "IDX images (.gz or raw) or a CSV file of feature rows (no label column).") var input: String
    @Option(name: .long, help: "Predict only the first N examples.") var limit: Int?
    @Flag(name: .long, help: "One JSON object per example.") var json = false

    func validate() throws {
        if let l = limit, l < 1 { throw ValidationError("--limit must be positive, got \(l)") }
    }

    func run() throws {
        let loaded = try loadCheckpoint(checkpoint)
        var x: Tensor
        do {
            if input.hasSuffix(".csv") || input.hasSuffix(".csv.gz") || input.hasSuffix(".txt") {
                let table = try CSV.read(input)
                x = try loaded.data.prepare(Tensor(shape: [table.rowCount, table.columnCount], scalars: table.values.map { Float($0) }))
            } else {
                // IDX images arrive divided by 255 already; only the standardiser (if any) remains.
                var preparation = loaded.data
                preparation.pixelsDividedBy255 = false
                x = try preparation.prepare(IDX.images(input, flatten: true, limit: limit))
            }
        } catch { throw CLIError("\(input): \(error.userMessage)") }
        if let l = limit, l < x.rowCount { x = x.rows(0..<l) }
        let need = loaded.model.inputShape.reduce(1, *)
        guard x.rowWidth == need else {
            throw CLIError("\(input) has \(x.rowWidth) values per example but the model in \(checkpoint) expects \(need) (shape \(loaded.model.inputShape))")
        }
        let out = loaded.model.predict(x)
        guard loaded.task.classCount > 0 else {
            // Models trained on standardised targets predict standardised values: print the targets' own units.
            let values: Tensor
            do { values = try loaded.data.targetsInOriginalUnits(out) } catch { throw CLIError("\(checkpoint): \(error.userMessage)") }
            for r in 0..<values.rowCount {
                let row = values.rows(r..<(r + 1)).scalars
                if json {
                    print(JSONRecord([("index", .int(r)), ("values", .floats(row))]).line)
                } else {
                    print(row.map { String($0) }.joined(separator: " "))
                }
            }
            return
        }
        let probs = out.rowWidth == 1 ? out.sigmoid() : out.softmax()
        let classes = Sequential.classDecisions(out)
        let names = loaded.data.classNames
        for r in 0..<out.rowCount {
            let p = probs.rows(r..<(r + 1)).scalars
            let name = classes[r] < names.count ? names[classes[r]] : "\(classes[r])"
            if json {
                print(JSONRecord([("index", .int(r)), ("class", .int(classes[r])), ("name", .string(name)), ("probabilities", .floats(p))]).line)
            } else {
                print("\(r): class \(classes[r]) (\(name))  p = " + p.map { String(format: "%.3f", $0) }.joined(separator: " "))
            }
        }
    }
}

struct Example: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one of the course's first models: linear-regression, logistic-regression or xor.")

    @Argument(help: "linear-regression | logistic-regression | xor") var name: String

    func run() throws {
        do {
            switch name {
            case "linear-regression":
                let r = try CourseExamples.linearRegression(data: try SklearnData.diabetes())
                print("Linear regression on diabetes (442 × 10, standardised features), \(r.epochs) epochs of full-batch gradient descent")
                print("  learned w:     " + r.learned.map { String(format: "%8.2f", $0) }.joined(separator: " "))
                print("  closed form w*:" + r.closedForm.map { String(format: "%8.2f", $0) }.joined(separator: " "))
                print(String(format: "  ‖w − w*‖/‖w*‖ = %.2e, training MSE (½ convention) %.2f", r.relativeError, r.loss))
            case "logistic-regression":
                let r = try CourseExamples.logisticRegression(data: try SklearnData.breastCancer())
                print(String(format: "Logistic regression on breast cancer (80/20 split): train accuracy %.4f, test accuracy %.4f", r.trainAccuracy, r.testAccuracy))
            case "xor":
                let out = try CourseExamples.xor()
                print("XOR with a 2-2-1 sigmoid network:")
                for (i, (a, b)) in [(0, 0), (0, 1), (1, 0), (1, 1)].enumerated() {
                    print(String(format: "  %d xor %d → %.3f", a, b, out[i]))
                }
            default:
                throw ValidationError("unknown example '\(name)' (linear-regression, logistic-regression, xor)")
            }
        } catch let e as ValidationError { throw e } catch { throw CLIError(error.userMessage) }
    }
}
