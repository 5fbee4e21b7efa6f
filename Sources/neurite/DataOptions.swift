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
        var d = s
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

/// Training and test data, prepared as `description` says.
struct LoadedData {
    var train: Dataset
    var test: Dataset
    /// The description completed with class names, the standardiser and pixel scaling.
    var description: DataDescription
    /// The examples' image shape when the data are images stored as flat rows.
    var imageShape: [Int]?
}

/// Loads `description`'s source. Sets without their own test split are split 80/20 (stratified,
/// `seed`), and their features standardised with training statistics (or the recorded standardiser).
func loadData(_ description: DataDescription, seed: UInt64) throws -> LoadedData {
    let spec = description.source ?? "fashion-mnist"
    var d = description
    // A description may come from a checkpoint: its numbers are checked like flags.
    if let l = d.limit, l < 1 { throw CLIError("the recorded training-example limit is \(l); it must be at least 1") }
    func finish(_ all: Dataset, names: [String]) throws -> LoadedData {
        let parts = try all.split(trainFraction: 0.8, validationFraction: 0, seed: seed, stratified: all.isClassification)
        var train = parts.train
        if let l = d.limit { train = train.slice(0..<min(l, train.count)) }
        guard train.count > 0, parts.test.count > 0 else {
            throw CLIError("\(spec) has \(all.count) examples: too few to split 80/20 into training and test data")
        }
        let st = d.standardizer ?? Standardizer(fitting: train.inputs)
        guard st.mean.count == train.inputs.rowWidth else {
            throw CLIError("\(spec) has \(train.inputs.rowWidth) features but the recorded standardiser has \(st.mean.count)")
        }
        d.standardizer = st
        if d.classNames.isEmpty { d.classNames = names }
        return LoadedData(train: try train.standardized(with: st, source: spec), test: try parts.test.standardized(with: st, source: spec),
                          description: d, imageShape: nil)
    }
    if spec == "fashion-mnist" || spec.hasPrefix("idx:") {
        let dir = spec.hasPrefix("idx:") ? String(spec.dropFirst(4)) : FashionMNIST.defaultDirectory
        let train = try FashionMNIST.load(directory: dir, split: .train, limit: d.limit)
        let test = try FashionMNIST.load(directory: dir, split: .test)
        d.pixelsDividedBy255 = true
        if d.classNames.isEmpty {
            d.classNames = spec == "fashion-mnist" ? FashionMNIST.classNames : (0..<train.classCount).map(String.init)
        }
        return LoadedData(train: train, test: test, description: d, imageShape: [1, 28, 28])
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
