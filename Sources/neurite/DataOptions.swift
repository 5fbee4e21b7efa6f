// Where training data comes from, for every subcommand.

import ArgumentParser
import Foundation
import Neurite

struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Data set: fashion-mnist, idx:DIR, csv:FILE, sklearn:NAME.")
    var data: String = "fashion-mnist"

    @Option(name: .long, help: "Use only the first N training examples.")
    var limit: Int?

    @Option(name: .long, help: "CSV label column (negative counts from the end).")
    var labelColumn: Int = -1

    @Option(name: .long, help: "Treat CSV data as regression (targets) instead of classes.")
    var regression: Bool = false

    func validate() throws {
        if let l = limit, l <= 0 { throw ValidationError("--limit must be positive, got \(l)") }
    }
}

/// Training and test data plus what is needed to prepare new inputs the same way.
struct LoadedData {
    var train: Dataset
    var test: Dataset
    var standardizer: Standardizer?
    var classNames: [String]
    var imageShape: [Int]?
}

/// Loads `options.data`. Sets without their own test split are split 80/20 (stratified, `seed`), and
/// their features standardised with training statistics.
func loadData(_ options: DataOptions, seed: UInt64) throws -> LoadedData {
    let spec = options.data
    func finish(_ all: Dataset, names: [String]) throws -> LoadedData {
        let parts = try all.split(trainFraction: 0.8, validationFraction: 0, seed: seed, stratified: all.isClassification)
        var train = parts.train
        if let l = options.limit { train = train.slice(0..<min(l, train.count)) }
        let st = Standardizer(fitting: train.inputs)
        return LoadedData(train: train.standardized(with: st), test: parts.test.standardized(with: st),
                          standardizer: st, classNames: names, imageShape: nil)
    }
    if spec == "fashion-mnist" || spec.hasPrefix("idx:") {
        let dir = spec.hasPrefix("idx:") ? String(spec.dropFirst(4)) : FashionMNIST.defaultDirectory
        let train = try FashionMNIST.load(directory: dir, split: .train, limit: options.limit)
        let test = try FashionMNIST.load(directory: dir, split: .test)
        return LoadedData(train: train, test: test, standardizer: nil,
                          classNames: spec == "fashion-mnist" ? FashionMNIST.classNames : (0..<train.classCount).map(String.init),
                          imageShape: [1, 28, 28])
    }
    if spec.hasPrefix("csv:") {
        let path = String(spec.dropFirst(4))
        let all = options.regression
            ? try CSV.loadRegression(path, targetColumns: [options.labelColumn])
            : try CSV.loadClassification(path, labelColumn: options.labelColumn)
        return try finish(all, names: (0..<all.classCount).map(String.init))
    }
    if spec.hasPrefix("sklearn:") {
        switch spec.dropFirst(8) {
        case "iris": return try finish(try SklearnData.iris(), names: SklearnData.irisClassNames)
        case "wine": return try finish(try SklearnData.wine(), names: SklearnData.wineClassNames)
        case "breast-cancer", "breast_cancer": return try finish(try SklearnData.breastCancer(), names: SklearnData.breastCancerClassNames)
        case "digits": return try finish(try SklearnData.digits(), names: (0..<10).map(String.init))
        case "diabetes": return try finish(try SklearnData.diabetes(), names: [])
        default: throw CLIError("unknown scikit-learn data set '\(spec.dropFirst(8))' (known: iris, wine, breast-cancer, digits, diabetes)")
        }
    }
    throw CLIError("unknown data source '\(spec)' (use fashion-mnist, idx:DIR, csv:FILE or sklearn:NAME)")
}
