// Feature scaling fitted on training data and applied unchanged to validation and test data.

/// Per-column statistics of `x` viewed as a matrix [rowCount, rowWidth], accumulated in Double.
func _columnStatistics(_ x: Tensor) -> (mean: [Double], std: [Double], min: [Float], max: [Float]) {
    let n = x.rowCount, w = x.rowWidth
    var mean = [Double](repeating: 0, count: w), m2 = [Double](repeating: 0, count: w)
    var lo = [Float](repeating: .infinity, count: w), hi = [Float](repeating: -.infinity, count: w)
    x.withUnsafeBufferPointer { p in
        for r in 0..<n {
            for c in 0..<w {
                let v = p[r * w + c]
                mean[c] += Double(v)
                lo[c] = Swift.min(lo[c], v); hi[c] = Swift.max(hi[c], v)
            }
        }
        for c in 0..<w { mean[c] /= Double(Swift.max(n, 1)) }
        // Second pass about the mean: no cancellation for columns with a large offset.
        for r in 0..<n {
            for c in 0..<w { let d = Double(p[r * w + c]) - mean[c]; m2[c] += d * d }
        }
    }
    let std = m2.map { ($0 / Double(Swift.max(n, 1))).squareRoot() }
    return (mean, std, lo, hi)
}

/// Throws unless rows of `x` have `width` values: a scaler fitted on one width applied to data of
/// another is a data error (naming `source`), not a trap.
func _checkWidth(_ x: Tensor, _ width: Int, source: String, scaler: String) throws {
    guard x.rank >= 1, x.rowWidth == width else {
        throw DataError.badDimensions(path: source, expected: "rows of \(width) values (the width the \(scaler) was fitted on)", found: x.shape)
    }
}

/// Applies `(x - shift[c]) * factor[c]` to every column `c` of `x` (as a matrix [rowCount, rowWidth]).
func _affineColumns(_ x: Tensor, shift: [Float], factor: [Float]) -> Tensor {
    let w = x.rowWidth
    precondition(shift.count == w, "scaler fitted on \(shift.count) columns applied to rows of \(w) values (shape \(x.shape))")
    var y = x
    y.withUnsafeMutableBufferPointer { p in
        for r in 0..<x.rowCount {
            for c in 0..<w { p[r * w + c] = (p[r * w + c] - shift[c]) * factor[c] }
        }
    }
    return y
}

/// Standardisation: each column shifted to mean 0 and divided by its standard deviation.
///
/// Fit on the training inputs only, then transform training, validation and test inputs with the
/// same statistics. Columns are the values of one row (`rowWidth`): features for [N, F], pixels
/// for images. A constant column keeps std 1 so it maps to 0 instead of dividing by zero.
public struct Standardizer: Codable, Sendable, Equatable {
    /// Per-column mean of the fitted data.
    public var mean: [Float]
    /// Per-column (population) standard deviation of the fitted data; 1 for constant columns.
    public var std: [Float]

    /// Given statistics (e.g. restored from a checkpoint).
    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count, "Standardizer: \(mean.count) means but \(std.count) deviations")
        self.mean = mean
        self.std = std
    }

    /// Statistics of each column of `data` ([N, …]; columns are the rowWidth values of a row).
    public init(fitting data: Tensor) {
        let s = _columnStatistics(data)
        mean = s.mean.map { Float($0) }
        // A column is constant when its spread is below float resolution at its magnitude.
        std = zip(s.std, s.mean).map { sd, m in
            sd <= Double(Float.ulpOfOne) * Swift.max(abs(m), Double(Float.leastNormalMagnitude)) || !sd.isFinite ? 1 : Float(sd)
        }
    }

    /// `(x - mean) / std`, per column. The rows of `x` must have `mean.count` values (a precondition;
    /// use `transform(_:of:)` for data read from a file).
    public func transform(_ x: Tensor) -> Tensor {
        _affineColumns(x, shift: mean, factor: std.map { 1 / $0 })
    }

    /// `(x - mean) / std`, per column, for data from `source` (a file or flag, named in the error).
    /// - Throws: `DataError.badDimensions` when the rows of `x` do not have `mean.count` values.
    public func transform(_ x: Tensor, of source: String) throws -> Tensor {
        try _checkWidth(x, mean.count, source: source, scaler: "standardiser")
        return transform(x)
    }

    /// Decodes and validates (the statistics come from files): as many deviations as means, all
    /// finite, deviations positive.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let mean = try c.decode([Float].self, forKey: .mean), std = try c.decode([Float].self, forKey: .std)
        guard mean.count == std.count, mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw DecodingError.dataCorruptedError(forKey: .std, in: c, debugDescription:
                "a standardiser needs as many deviations as means (\(std.count) vs \(mean.count)), all finite, deviations > 0")
        }
        self.mean = mean
        self.std = std
    }

    enum CodingKeys: String, CodingKey { case mean, std }

    /// `x * std + mean`, per column: undoes `transform` (e.g. for regression predictions).
    public func inverseTransform(_ x: Tensor) -> Tensor {
        _affineColumns(x.applyingColumnScale(std), shift: mean.map { -$0 },
                       factor: [Float](repeating: 1, count: mean.count))
    }
}

/// Min-max scaling: each column mapped linearly so that the fitted data spans [0, 1].
///
/// Data outside the fitted range maps outside [0, 1] (no clipping). A constant column maps to 0.
public struct MinMaxScaler: Codable, Sendable, Equatable {
    /// Per-column minimum of the fitted data.
    public var min: [Float]
    /// Per-column maximum of the fitted data.
    public var max: [Float]

    /// Given bounds.
    public init(min: [Float], max: [Float]) {
        precondition(min.count == max.count, "MinMaxScaler: \(min.count) minima but \(max.count) maxima")
        self.min = min
        self.max = max
    }

    /// Bounds of each column of `data`.
    public init(fitting data: Tensor) {
        let s = _columnStatistics(data)
        min = s.min
        max = s.max
    }

    var _range: [Float] { zip(min, max).map { $1 > $0 ? $1 - $0 : 1 } }

    /// `(x - min) / (max - min)`, per column. The rows of `x` must have `min.count` values (a
    /// precondition; use `transform(_:of:)` for data read from a file).
    public func transform(_ x: Tensor) -> Tensor {
        _affineColumns(x, shift: min, factor: _range.map { 1 / $0 })
    }

    /// `(x - min) / (max - min)`, per column, for data from `source` (named in the error).
    /// - Throws: `DataError.badDimensions` when the rows of `x` do not have `min.count` values.
    public func transform(_ x: Tensor, of source: String) throws -> Tensor {
        try _checkWidth(x, min.count, source: source, scaler: "min-max scaler")
        return transform(x)
    }

    /// Decodes and validates: as many maxima as minima, all finite.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let min = try c.decode([Float].self, forKey: .min), max = try c.decode([Float].self, forKey: .max)
        guard min.count == max.count, (min + max).allSatisfy(\.isFinite) else {
            throw DecodingError.dataCorruptedError(forKey: .max, in: c, debugDescription:
                "a min-max scaler needs as many maxima as minima (\(max.count) vs \(min.count)), all finite")
        }
        self.min = min
        self.max = max
    }

    enum CodingKeys: String, CodingKey { case min, max }

    /// `x * (max - min) + min`, per column.
    public func inverseTransform(_ x: Tensor) -> Tensor {
        _affineColumns(x.applyingColumnScale(_range), shift: min.map { -$0 },
                       factor: [Float](repeating: 1, count: min.count))
    }
}

extension Tensor {
    /// Each column `c` multiplied by `scale[c]`.
    func applyingColumnScale(_ scale: [Float]) -> Tensor {
        _affineColumns(self, shift: [Float](repeating: 0, count: scale.count), factor: scale)
    }
}

extension Dataset {
    /// The same examples with `transform` applied to the inputs (labels and targets unchanged).
    public func mappingInputs(_ transform: (Tensor) throws -> Tensor) rethrows -> Dataset {
        var d = self
        d.inputs = try transform(inputs)
        precondition(d.inputs.rowCount == count, "mappingInputs changed the number of examples")
        return d
    }

    /// Inputs multiplied by `factor` (e.g. 1/255 for byte pixels).
    public func scaled(by factor: Float) -> Dataset {
        mappingInputs { x in
            var y = x
            y.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= factor } }
            return y
        }
    }

    /// Inputs standardised with `standardizer` (fit it on the training inputs).
    public func standardized(with standardizer: Standardizer) -> Dataset { mappingInputs(standardizer.transform) }

    /// Inputs standardised with `standardizer`, checking the width; `source` names the data in errors.
    public func standardized(with standardizer: Standardizer, source: String) throws -> Dataset {
        try mappingInputs { try standardizer.transform($0, of: source) }
    }

    /// Inputs min-max scaled with `scaler` (fit it on the training inputs).
    public func scaled(with scaler: MinMaxScaler) -> Dataset { mappingInputs(scaler.transform) }

    /// Inputs min-max scaled to [0, 1] using this data set's own column bounds, and the scaler
    /// (to apply to validation and test data).
    public func minMaxScaled() -> (dataset: Dataset, scaler: MinMaxScaler) {
        let s = MinMaxScaler(fitting: inputs)
        return (scaled(with: s), s)
    }
}
