// What a trained model needs to know about its data to be used again: stored in checkpoints.

/// Where a model's data came from and how its inputs were prepared, so `evaluate`, `predict` and a
/// resumed run can prepare new inputs the same way without being told again.
public struct DataDescription: Codable, Equatable, Sendable {
    /// The data source as the command line names it ("fashion-mnist", "csv:FILE", "sklearn:iris").
    public var source: String?
    /// Class names, index = class (empty for regression).
    public var classNames: [String] = []
    /// Whether inputs are 8-bit pixels divided by 255 (the IDX reader does so; `prepare` does it
    /// for raw values from elsewhere, such as a CSV of pixels).
    public var pixelsDividedBy255 = false
    /// Per-feature standardisation fitted on the training data, if any.
    public var standardizer: Standardizer?
    /// CSV: the label column (negative counts from the end).
    public var labelColumn: Int?
    /// Whether the targets are values (regression) rather than classes.
    public var regression = false
    /// Fraction held out for validation: of all examples when `testFraction` is set (one
    /// train/validation/test split, `--split A/B/C`), else of the training data (`--val-split`, a
    /// two-part `--split`, and every checkpoint written before `--split` existed).
    public var validationFraction: Double = 0
    /// For sources without a test set of their own (CSV, scikit-learn): the fraction of all
    /// examples held out for testing, when the run cut train/validation/test in one split
    /// (`--split A/B/C`). nil: the test set is `DataDescription.defaultTestFraction` of a
    /// stratified split of all examples, and validation comes out of the rest afterwards (the
    /// default, and how checkpoints without the field were made).
    public var testFraction: Double?
    /// Regression: the per-output standardisation of the targets the model was trained on (fitted
    /// on the training targets), so predictions are mapped back to the targets' own units.
    /// nil: the model predicts targets in their own units (trained on raw targets).
    public var targetStandardizer: Standardizer?
    /// Only the first this many training examples were used.
    public var limit: Int?

    /// The test fraction of sources without a test set of their own when `testFraction` is nil.
    public static let defaultTestFraction = 0.2

    /// A description of `source`.
    public init(source: String? = nil) { self.source = source }

    /// Checks the split fractions, which may come from a file: `validationFraction` in [0, 1);
    /// `testFraction` in (0, 1) with `validationFraction + testFraction < 1`, so that every part
    /// can hold examples. Throws a `ModelError` naming the field, its value and the allowed range.
    public func validateSplit() throws {
        let v = validationFraction
        guard v.isFinite, v >= 0, v < 1 else {
            throw ModelError("validation_fraction is \(v); it must be in [0, 1)")
        }
        if let t = testFraction {
            guard t.isFinite, t > 0, t < 1 else { throw ModelError("test_fraction is \(t); it must be in (0, 1)") }
            guard v + t < 1 else {
                throw ModelError("validation_fraction \(v) + test_fraction \(t) = \(v + t); together they must stay below 1 to leave training data")
            }
        }
    }

    /// Model outputs [N, outputs] mapped back to the targets' own units (the inverse of the target
    /// standardiser); unchanged without one. Throws when the widths differ.
    public func targetsInOriginalUnits(_ y: Tensor) throws -> Tensor {
        guard let st = targetStandardizer else { return y }
        guard y.rank >= 1, y.rowWidth == st.mean.count else {
            throw ModelError("the outputs have \(y.rank >= 1 ? y.rowWidth : 0) values per example but the target standardiser was fitted on \(st.mean.count)")
        }
        return st.inverseTransform(y)
    }

    /// Applies the stored preparation to inputs [N, features] read from a source other than IDX
    /// images (which arrive divided by 255 already); throws when the width does not match the
    /// standardiser's.
    public func prepare(_ raw: Tensor) throws -> Tensor {
        var x = raw
        if pixelsDividedBy255 { x = x * (1 / Float(255)) }
        if let st = standardizer {
            guard x.rowWidth == st.mean.count else {
                throw ModelError("the inputs have \(x.rowWidth) features but the standardiser was fitted on \(st.mean.count)")
            }
            x = st.transform(x)
        }
        return x
    }

    enum CodingKeys: String, CodingKey {
        case source, classNames = "class_names", pixelsDividedBy255 = "pixels_divided_by_255", standardizer, labelColumn = "label_column"
        case regression, validationFraction = "validation_fraction", limit
        case testFraction = "test_fraction", targetStandardizer = "target_standardizer"
    }
}
