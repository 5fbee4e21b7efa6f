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
    /// Fraction of the training data held out for validation.
    public var validationFraction: Double = 0
    /// Only the first this many training examples were used.
    public var limit: Int?

    /// A description of `source`.
    public init(source: String? = nil) { self.source = source }

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
    }
}
