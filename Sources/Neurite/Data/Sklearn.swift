// The small real data sets that ship inside Debian's python3-sklearn, read from their files.

import Foundation

/// Loaders for the data files of scikit-learn (Debian package `python3-sklearn`).
///
/// Features are returned raw (unscaled); use `Standardizer` or `MinMaxScaler` before training.
public enum SklearnData {
    /// Where Debian installs scikit-learn's data files.
    public static let directory = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
    /// The Debian package that provides them.
    public static let debianPackage = "python3-sklearn"

    /// Class names of `breastCancer()`, indexed by label.
    public static let breastCancerClassNames = ["malignant", "benign"]
    /// Class names of `iris()`, indexed by label.
    public static let irisClassNames = ["setosa", "versicolor", "virginica"]
    /// Class names of `wine()`, indexed by label.
    public static let wineClassNames = ["class_0", "class_1", "class_2"]

    /// Whether the data directory and its files used here are present.
    public static var isAvailable: Bool { isAvailable(directory: directory) }

    /// Whether the files used here are present in `directory`.
    public static func isAvailable(directory: String) -> Bool {
        ["diabetes_data_raw.csv.gz", "diabetes_target.csv.gz", "breast_cancer.csv", "iris.csv",
         "wine_data.csv", "digits.csv.gz"].allSatisfy { FileManager.default.fileExists(atPath: "\(directory)/\($0)") }
    }

    static func _path(_ file: String, _ name: String, _ directory: String) throws -> String {
        let path = "\(directory)/\(file)"
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError.datasetMissing(name: "scikit-learn \(name) (looked for \(path))", debianPackage: debianPackage)
        }
        return path
    }

    /// Diabetes (regression): 442 patients × 10 raw features (age, sex, BMI, blood pressure, six
    /// serum measurements); target [442, 1] is disease progression one year later.
    public static func diabetes(directory: String = directory) throws -> Dataset {
        let xPath = try _path("diabetes_data_raw.csv.gz", "diabetes", directory)
        let yPath = try _path("diabetes_target.csv.gz", "diabetes", directory)
        let x = try CSV.read(xPath, delimiter: .whitespace, hasHeader: false)
        let y = try CSV.read(yPath, delimiter: .whitespace, hasHeader: false)
        guard x.rowCount == y.rowCount else {
            throw DataError.dimensionMismatch(firstPath: xPath, firstCount: x.rowCount, secondPath: yPath, secondCount: y.rowCount)
        }
        guard y.columnCount == 1 else {
            throw DataError.inconsistentColumns(path: yPath, line: y.lineNumbers[0], expected: 1, found: y.columnCount)
        }
        return Dataset(inputs: Tensor(shape: [x.rowCount, x.columnCount], scalars: x.values.map { Float($0) }),
                       targets: Tensor(shape: [y.rowCount, 1], scalars: y.values.map { Float($0) }))
    }

    /// Breast cancer Wisconsin (diagnostic): 569 × 30 features, 2 classes (0 malignant, 1 benign).
    public static func breastCancer(directory: String = directory) throws -> Dataset {
        try _countLineSet("breast_cancer.csv", "breast cancer", directory)
    }

    /// Iris: 150 × 4 features, 3 classes.
    public static func iris(directory: String = directory) throws -> Dataset {
        try _countLineSet("iris.csv", "iris", directory)
    }

    /// Wine: 178 × 13 features, 3 classes.
    public static func wine(directory: String = directory) throws -> Dataset {
        try _countLineSet("wine_data.csv", "wine", directory)
    }

    /// Optical digits: 1797 8×8 images, pixel values 0…16 (unscaled), 10 classes.
    /// - Parameter image: `[N, 1, 8, 8]` when true, else `[N, 64]`.
    public static func digits(directory: String = directory, image: Bool = false) throws -> Dataset {
        let path = try _path("digits.csv.gz", "digits", directory)
        let table = try CSV.read(path, hasHeader: false)
        guard table.columnCount == 65 else {
            throw DataError.inconsistentColumns(path: path, line: table.lineNumbers[0], expected: 65, found: table.columnCount)
        }
        var d = try CSV.classification(table, path: path, labelColumn: 64, classCount: 10)
        if image { d.inputs = d.inputs.reshaped([d.count, 1, 8, 8]) }
        return d
    }

    /// Files whose first line is `rows,features,className0,className1,…`, then numeric rows with the
    /// class label last.
    static func _countLineSet(_ file: String, _ name: String, _ directory: String) throws -> Dataset {
        try _countLineSet(path: _path(file, name, directory))
    }

    /// The data set in the count-line file at `path` (see `_countLineSet(_:_:_:)`).
    static func _countLineSet(path: String) throws -> Dataset {
        let text = try DataFile.read(path)
        let firstLineEnd = text.firstIndex(of: UInt8(ascii: "\n")) ?? text.count
        let first = CSV._split(text, 0, firstLineEnd, .comma).map { String(decoding: $0, as: UTF8.self) }
        guard first.count >= 3 else {
            throw DataError.badField(path: path, line: 1, column: 1, text: first.joined(separator: ","))
        }
        // The counts are checked before any use: `features + 1` cannot overflow and neither count
        // can ask for more than the CSV reader would accept anyway.
        let limits = CSVLimits()
        let classCount = first.count - 2
        guard let rows = Int(first[0].trimmingCharacters(in: .whitespaces)), (1...limits.maxRows).contains(rows) else {
            throw DataError.badHeader(path: path, field: "the row count (line 1, column 1)", value: first[0],
                                      requirement: "a whole number in 1...\(limits.maxRows)")
        }
        guard let features = Int(first[1].trimmingCharacters(in: .whitespaces)), (1...(limits.maxColumns - 1)).contains(features) else {
            throw DataError.badHeader(path: path, field: "the feature count (line 1, column 2)", value: first[1],
                                      requirement: "a whole number in 1...\(limits.maxColumns - 1)")
        }
        guard classCount <= limits.maxClassCount else {
            throw DataError.badHeader(path: path, field: "the number of class names", value: "\(classCount)",
                                      requirement: "at most \(limits.maxClassCount)")
        }
        let table = try CSV.parse(text, path: path, hasHeader: false, skipLines: 1, limits: limits)
        guard table.columnCount == features + 1 else {
            throw DataError.inconsistentColumns(path: path, line: table.lineNumbers[0], expected: features + 1,
                                                found: table.columnCount)
        }
        guard table.rowCount == rows else {
            throw DataError.dimensionMismatch(firstPath: path, firstCount: rows, secondPath: path, secondCount: table.rowCount)
        }
        return try CSV.classification(table, path: path, labelColumn: -1, classCount: classCount, limits: limits)
    }
}
