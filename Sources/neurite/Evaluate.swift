// `neurite evaluate` and `neurite predict`: use a trained checkpoint.

import ArgumentParser
import Foundation
import Neurite

/// A checkpoint's model with the preprocessing it was trained with.
struct TrainedModel {
    let model: Sequential
    let loaded: Checkpoint.Loaded
    let standardizer: Standardizer?

    init(path: String) throws {
        do {
            (model, loaded) = try Checkpoint.loadModel(path)
        } catch {
            throw CLIError(error.userMessage)
        }
        standardizer = loaded.metadata["standardizer"].flatMap { try? JSONDecoder().decode(Standardizer.self, from: Data($0.utf8)) }
    }

    var seed: UInt64 { UInt64(loaded.metadata["seed"] ?? "") ?? 1 }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on the test data: loss, accuracy, per-class accuracy and confusion matrix.")

    @Option(name: .long, help: "Checkpoint written by `neurite train --checkpoint`.") var checkpoint: String
    @OptionGroup var dataOptions: DataOptions
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func run() throws {
        let trained = try TrainedModel(path: checkpoint)
        let data: LoadedData
        do { data = try loadData(dataOptions, seed: trained.seed) } catch { throw CLIError(error.userMessage) }
        let test = data.test
        let arch = trained.loaded.architecture
        let trainer = Trainer(model: trained.model, loss: try arch.makeLoss(), optimizer: SGD(learningRate: 1))
        do { try trainer.validate(test, role: "test") } catch { throw CLIError("\(checkpoint) does not fit \(dataOptions.data): \(error.userMessage)") }
        let result = trainer.evaluate(test)
        guard let accuracy = result.accuracy else {
            if json { print("{\"test_loss\":\(result.loss),\"examples\":\(test.count)}") } else { print(String(format: "test loss %.4f on %d examples", result.loss, test.count)) }
            return
        }
        let c = max(test.classCount, arch.classCount)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: c), count: c)
        for (p, t) in zip(result.predictions, test.labels) { confusion[t][p] += 1 }
        let perClass = (0..<c).map { k -> Double in
            let n = confusion[k].reduce(0, +)
            return n == 0 ? 0 : Double(confusion[k][k]) / Double(n)
        }
        if json {
            print("{\"test_accuracy\":\(accuracy),\"test_loss\":\(result.loss),\"examples\":\(test.count),\"per_class_accuracy\":\(perClass),\"confusion\":\(confusion)}")
            return
        }
        print(String(format: "test accuracy %.4f, test loss %.4f on %d examples", accuracy, result.loss, test.count))
        print("\nper-class accuracy:")
        for k in 0..<c {
            let name = k < data.classNames.count ? data.classNames[k] : "\(k)"
            print(String(format: "  %2d %-14@ %.4f", k, name as NSString, perClass[k]))
        }
        print("\nconfusion matrix (rows: true class, columns: predicted):")
        print("     " + (0..<c).map { String(format: "%5d", $0) }.joined())
        for k in 0..<c { print(String(format: "  %2d ", k) + confusion[k].map { String(format: "%5d", $0) }.joined()) }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict classes (and probabilities) for new inputs: an IDX image file or a CSV of features.")

    @Option(name: .long, help: "Checkpoint written by `neurite train --checkpoint`.") var checkpoint: String
    @Option(name: .long, help: "IDX images (.gz or raw) or a CSV file of feature rows (no label column).") var input: String
    @Option(name: .long, help: "Predict only the first N examples.") var limit: Int?
    @Flag(name: .long, help: "One JSON object per example.") var json = false

    func run() throws {
        let trained = try TrainedModel(path: checkpoint)
        var x: Tensor
        do {
            if input.hasSuffix(".csv") || input.hasSuffix(".csv.gz") || input.hasSuffix(".txt") {
                let table = try CSV.read(input)
                x = Tensor(shape: [table.rowCount, table.columnCount], scalars: table.values.map { Float($0) })
            } else {
                x = try IDX.images(input, flatten: true, limit: limit)
            }
        } catch { throw CLIError(error.userMessage) }
        if let l = limit, l < x.rowCount { x = x.rows(0..<l) }
        let need = trained.model.inputShape.reduce(1, *)
        guard x.rowWidth == need else {
            throw CLIError("\(input) has \(x.rowWidth) values per example but the model in \(checkpoint) expects \(need) (shape \(trained.model.inputShape))")
        }
        if let st = trained.standardizer { x = st.transform(x) }
        let out = trained.model.predict(x)
        let arch = trained.loaded.architecture
        guard arch.classCount > 0 else {
            for r in 0..<out.rowCount { print(out.rows(r..<(r + 1)).scalars.map { String($0) }.joined(separator: " ")) }
            return
        }
        let probs = out.rowWidth == 1 ? out.sigmoid() : out.softmax()
        let classes = Trainer.decide(out)
        let names = trained.loaded.metadata["data"] == "fashion-mnist" ? FashionMNIST.classNames : []
        for r in 0..<out.rowCount {
            let p = probs.rows(r..<(r + 1)).scalars
            let name = classes[r] < names.count ? names[classes[r]] : "\(classes[r])"
            if json {
                print("{\"index\":\(r),\"class\":\(classes[r]),\"name\":\"\(name)\",\"probabilities\":[\(p.map { String(format: "%.5f", $0) }.joined(separator: ","))]}")
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
