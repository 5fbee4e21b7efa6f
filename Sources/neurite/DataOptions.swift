// Where data comes from, for every subcommand: flags, or what a checkpoint recorded.

import ArgumentParser
import Foundation
import Neurite

struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Data set: fashion-mnist, idx:DIR, csv:FILE, sklearn:NAME (default: fashion-mnist, or the checkpoint's).")
    var data: String?

    @Option(name: .long, help: "Use only the first N training examples.")
    var limit: Int?

    @Option(name: .long, help: "CSV label column (negative counts from the end; default -1).")
    var labelColumn: Int?

    @Flag(name: .long, help: "Treat CSV data as regression (targets) instead of classes.")
    var regression = false

    func validate() throws {
        if let l = limit, l <= 0 { throw ValidationError("--limit must be positive, got \(l)") }
        if let c = labelColumn, c < -1_000_000 || c > 1_000_000 { throw ValidationError("--label-column must be within ±1000000, got \(c)") }
        // These shape how a CSV file is read; any other source would silently ignore them.
        if let d = data, !d.hasPrefix("csv:") {
            if labelColumn != nil { throw ValidationError("--label-column applies to csv:FILE data only, not to --data \(d)") }
            if regression { throw ValidationError("--regression applies to csv:FILE data only, not to --data \(d)") }
        }
        if let d = data, d.hasPrefix("csv:") || d.hasPrefix("idx:"), d.count == 4 {
            throw ValidationError("--data \(d) needs a path after the colon")
        }
    }

    /// The data description these flags give, on top of `stored` (a checkpoint's); a flag that
    /// contradicts the stored value is an error naming both.
    func resolved(with stored: DataDescription?, checkpoint: String? = nil) throws -> DataDescription {
        guard let s = stored else {
            var d = DataDescription(source: data ?? "fashion-mnist")
            d.limit = limit
            d.labelColumn = labelColumn
            d.regression = regression
            return d
        }
        let d = s
        func conflict(_ flag: String, _ given: String, _ recorded: String) -> CLIError {
            CLIError("\(flag) \(given) contradicts \(checkpoint ?? "the checkpoint"), which was trained with \(recorded)")
        }
        if let given = data, given != s.source { throw conflict("--data", given, s.source ?? "no data source") }
        if let given = labelColumn, given != (s.labelColumn ?? -1) { throw conflict("--label-column", "\(given)", "\(s.labelColumn ?? -1)") }
        if regression && !s.regression { throw conflict("--regression", "", "class labels") }
        // A different limit would train on other examples than the checkpoint's run did.
        if let given = limit, given != s.limit {
            throw conflict("--limit", "\(given)", s.limit.map { "--limit \($0)" } ?? "all training examples")
        }
        if s.source?.hasPrefix("csv:") != true && data == nil && (labelColumn != nil || regression) {
            throw CLIError("--label-column and --regression apply to csv:FILE data only; \(checkpoint ?? "the checkpoint") was trained on \(s.source ?? "no recorded source")")
        }
        return d
    }
}

/// `--split A/B/C` (training / validation / test percentages of all examples, for sources without
/// a test set of their own) or `--split A/B` (training / validation percentages of the training
/// set, for sources with one): numbers summing to 100.
struct SplitPercentages: Equatable, CustomStringConvertible {
    /// The percentages, in the order given (two or three of them).
    let parts: [Double]
    /// The text as given, for messages.
    let text: String

    /// Parses `text`; the error names the flag, the value and what is expected.
    init(_ text: String) throws {
        self.text = text
        let fields = text.split(separator: "/", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let expected = "TRAIN/VAL/TEST percentages summing to 100 such as 80/10/10 (or TRAIN/VAL, e.g. 90/10, for data with a test set of its own)"
        guard fields.count == 2 || fields.count == 3 else {
            throw ValidationError("--split \(text) has \(fields.count) part(s); expected \(expected)")
        }
        var parts: [Double] = []
        for f in fields {
            // Double("nan"), Double("inf") and hexadecimal forms parse: only plain decimals are percentages.
            guard !f.isEmpty, f.allSatisfy({ $0.isNumber || $0 == "." }), let v = Double(f), v.isFinite else {
                throw ValidationError("--split \(text): '\(f)' is not a percentage (a plain decimal number from 0 to 100); expected \(expected)")
            }
            parts.append(v)
        }
        let sum = parts.reduce(0, +)
        guard abs(sum - 100) < 1e-6 else { throw ValidationError("--split \(text) sums to \(sum); the parts must sum to 100 (\(expected))") }
        guard parts[0] > 0 else { throw ValidationError("--split \(text) leaves no training data; the first part must be above 0") }
        if parts.count == 3, parts[2] <= 0 {
            throw ValidationError("--split \(text) leaves no test data; the last part must be above 0 (for data with a test set of its own give TRAIN/VAL, e.g. --split 90/10)")
        }
        self.parts = parts
    }

    /// The validation part as a fraction.
    var validationFraction: Double { parts[1] / 100 }
    /// The test part as a fraction, when there are three parts.
    var testFraction: Double? { parts.count == 3 ? parts[2] / 100 : nil }
    var description: String { text }
}

/// Whether `source` comes with a test set of its own (then only validation is split off).
func hasOwnTestSet(_ source: String?) -> Bool {
    let s = source ?? "fashion-mnist"
    return s == "fashion-mnist" || s.hasPrefix("idx:")
}

/// The validation and test fractions `--split` or `--val-split` ask for on `source`'s data, set in
/// `description` (a new run; they are exclusive, which `Train.validate` checks).
func applySplitFlags(split: SplitPercentages?, valSplit: Double?, to description: inout DataDescription) throws {
    let source = description.source ?? "fashion-mnist"
    if let s = split {
        if hasOwnTestSet(source), s.parts.count == 3 {
            let trainVal = s.parts[0] + s.parts[1]
            throw CLIError("--split \(s): \(source) has a test set of its own, so only the training set is split: give TRAIN/VAL percentages "
                           + "of it, e.g. --split \(fmtPercent(100 * s.parts[0] / trainVal))/\(fmtPercent(100 * s.parts[1] / trainVal)) (or --val-split \(fmtPercent(s.parts[1] / trainVal)))")
        }
        if !hasOwnTestSet(source), s.parts.count == 2 {
            throw CLIError("--split \(s): \(source) has no test set of its own: give TRAIN/VAL/TEST percentages of all examples, e.g. --split 80/10/10 (or 80/0/20 without validation)")
        }
        description.validationFraction = s.validationFraction
        description.testFraction = s.testFraction
    } else if let v = valSplit {
        description.validationFraction = v
    }
}

/// A percentage or fraction without trailing zeros (90, 12.5, 0.1).
func fmtPercent(_ x: Double) -> String {
    let r = (x * 1e6).rounded() / 1e6
    return r == r.rounded() ? String(Int(r)) : String(r)
}

/// How `description` cuts its data, in words (for messages): "80/10/10 % training/validation/test".
func splitWords(_ d: DataDescription) -> String {
    if let t = d.testFraction {
        let v = d.validationFraction
        return "--split \(fmtPercent(100 * (1 - v - t)))/\(fmtPercent(100 * v))/\(fmtPercent(100 * t))"
    }
    let validation = d.validationFraction > 0 ? "validation fraction \(d.validationFraction) of the training data" : "no validation data"
    return hasOwnTestSet(d.source) ? validation : "the default 80/20 training/test split and \(validation)"
}

/// Training, validation and test data, prepared as `description` says.
struct LoadedData {
    var train: Dataset
    /// Held-out examples for validation, when the description asks for them.
    var validation: Dataset?
    var test: Dataset
    /// The description completed with class names, the standardisers and pixel scaling.
    var description: DataDescription
    /// The examples' image shape when the data are images stored as flat rows.
    var imageShape: [Int]?
}

/// Loads `description`'s source and cuts it as the description says (seeded by `seed`):
/// - sets with their own test split (Fashion-MNIST, IDX) keep it; `validationFraction` of the
///   training set is held out for validation;
/// - other sets are split in one stratified split into `1 − v − t` / `v` / `t` when `testFraction`
///   `t` is recorded (`--split A/B/C`), else 80/20 into training and test data, with the validation
///   fraction then taken from the training part.
/// Features are standardised with training statistics (or the recorded standardiser). Regression
/// targets are standardised with the recorded target standardiser, or, with `fitTargetScaling`
/// (a new run that asks for it), one fitted on the training targets. `origin` says where the
/// fractions came from ("--split 80/10/10", "the split recorded in m.safetensors") in errors.
func loadData(_ description: DataDescription, seed: UInt64, fitTargetScaling: Bool = false,
              origin: String = "the recorded split") throws -> LoadedData {
    let spec = description.source ?? "fashion-mnist"
    var d = description
    // A description may come from a checkpoint: its numbers are checked like flags.
    if let l = d.limit, l < 1 { throw CLIError("the recorded training-example limit is \(l); it must be at least 1") }
    do { try d.validateSplit() } catch { throw CLIError("\(origin): \(error.userMessage)") }
    /// The validation part carved out of `train` (sets with their own test set, and the 80/20 default).
    func carveValidation(_ train: Dataset) throws -> (train: Dataset, validation: Dataset?) {
        guard d.validationFraction > 0 else { return (train, nil) }
        do {
            let parts = try train.splittingValidation(fraction: d.validationFraction, seed: seed, stratified: train.isClassification)
            return (parts.train, parts.validation)
        } catch {
            throw CLIError("\(origin) cannot split the \(train.count) training examples: \(error.userMessage)")
        }
    }
    func finish(_ all: Dataset, names: [String]) throws -> LoadedData {
        var train: Dataset, validation: Dataset?, test: Dataset
        if let t = d.testFraction {
            let v = d.validationFraction
            let parts = try all.split(trainFraction: 1 - v - t, validationFraction: v, seed: seed, stratified: all.isClassification)
            guard parts.train.count > 0, parts.test.count > 0, v == 0 || parts.validation.count > 0 else {
                throw CLIError("\(origin) cannot split the \(all.count) examples of \(spec): it leaves \(parts.train.count) for training, "
                               + "\(parts.validation.count) for validation and \(parts.test.count) for testing (each part needs at least one)")
            }
            (train, validation, test) = (parts.train, v > 0 ? parts.validation : nil, parts.test)
        } else {
            // The literal 0.8 (not 1 − defaultTestFraction) keeps the split of every earlier run bitwise.
            let parts = try all.split(trainFraction: 0.8, validationFraction: 0, seed: seed, stratified: all.isClassification)
            guard parts.train.count > 0, parts.test.count > 0 else {
                throw CLIError("\(spec) has \(all.count) examples: too few to split 80/20 into training and test data")
            }
            (train, validation, test) = (parts.train, nil, parts.test)
        }
        if let l = d.limit { train = train.slice(0..<min(l, train.count)) }
        let st = d.standardizer ?? Standardizer(fitting: train.inputs)
        guard st.mean.count == train.inputs.rowWidth else {
            throw CLIError("\(spec) has \(train.inputs.rowWidth) features but the recorded standardiser has \(st.mean.count)")
        }
        d.standardizer = st
        if let targets = train.targets, d.targetStandardizer == nil, fitTargetScaling {
            d.targetStandardizer = Standardizer(fitting: targets)
        }
        if d.classNames.isEmpty { d.classNames = names }
        func prepare(_ part: Dataset) throws -> Dataset {
            var p = try part.standardized(with: st, source: spec)
            if let ts = d.targetStandardizer {
                guard p.targets?.rowWidth == ts.mean.count else {
                    throw CLIError("\(spec) has \(p.targets.map { "\($0.rowWidth) target values per example" } ?? "class labels") but the recorded target standardiser has \(ts.mean.count) values")
                }
                p = try p.standardizedTargets(with: ts, source: spec)
            }
            return p
        }
        train = try prepare(train)
        test = try prepare(test)
        validation = try validation.map(prepare)
        if d.testFraction == nil { (train, validation) = try carveValidation(train) }
        return LoadedData(train: train, validation: validation, test: test, description: d, imageShape: nil)
    }
    if spec == "fashion-mnist" || spec.hasPrefix("idx:") {
        if let t = d.testFraction { throw CLIError("\(origin): \(spec) has a test set of its own, but a test fraction \(t) is recorded") }
        if d.targetStandardizer != nil { throw CLIError("\(origin): \(spec) holds class labels, but a target standardiser is recorded") }
        let dir = spec.hasPrefix("idx:") ? String(spec.dropFirst(4)) : FashionMNIST.defaultDirectory
        let all = try FashionMNIST.load(directory: dir, split: .train, limit: d.limit)
        let test = try FashionMNIST.load(directory: dir, split: .test)
        d.pixelsDividedBy255 = true
        if d.classNames.isEmpty {
            d.classNames = spec == "fashion-mnist" ? FashionMNIST.classNames : (0..<all.classCount).map(String.init)
        }
        let (train, validation) = try carveValidation(all)
        return LoadedData(train: train, validation: validation, test: test, description: d, imageShape: [1, 28, 28])
    }
    if spec.hasPrefix("csv:") {
        let path = String(spec.dropFirst(4))
        let column = d.labelColumn ?? -1
        let all = d.regression
            ? try CSV.loadRegression(path, targetColumns: [column])
            : try CSV.loadClassification(path, labelColumn: column)
        return try finish(all, names: (0..<all.classCount).map(String.init))
    }
    if spec.hasPrefix("sklearn:") {
        switch spec.dropFirst(8) {
        case "iris": return try finish(try SklearnData.iris(), names: SklearnData.irisClassNames)
        case "wine": return try finish(try SklearnData.wine(), names: SklearnData.wineClassNames)
        case "breast-cancer", "breast_cancer": return try finish(try SklearnData.breastCancer(), names: SklearnData.breastCancerClassNames)
        case "digits": return try finish(try SklearnData.digits(), names: (0..<10).map(String.init))
        case "diabetes":
            d.regression = true
            return try finish(try SklearnData.diabetes(), names: [])
        default: throw CLIError("unknown scikit-learn data set '\(spec.dropFirst(8))' (known: iris, wine, breast-cancer, digits, diabetes)")
        }
    }
    throw CLIError("unknown data source '\(spec)' (use fashion-mnist, idx:DIR, csv:FILE or sklearn:NAME)")
}
