// Regression targets standardised for training and reported in their own units.
//
// Raw targets (diabetes: 25…346) make the first MSE gradients hundreds of times larger than those of
// standardised ones, so a learning rate that suits classification diverges; training on
// (y − mean)/std and mapping predictions back keeps one default learning rate for both.

extension Dataset {
    /// The same examples with the regression targets standardised by `standardizer` (fit it on the
    /// training targets); classification data is returned unchanged.
    /// - Throws: `DataError.badDimensions` when the targets' rows do not have `standardizer.mean.count`
    ///   values; `source` names the data in the error.
    public func standardizedTargets(with standardizer: Standardizer, source: String) throws -> Dataset {
        guard let t = targets else { return self }
        var d = self
        d.targets = try standardizer.transform(t, of: source)
        return d
    }
}

/// Regression figures of predictions against targets, in the units of the values given (pass both
/// in the targets' original units to report those).
///
/// `mse` is the plain mean of squared errors over examples and outputs (no ½, unlike the training
/// loss `MeanSquaredError`); `r2` is the coefficient of determination 1 − SS_res/SS_tot of each
/// output, averaged over outputs (scikit-learn's `r2_score` default), and nil when an output's
/// targets are all equal (SS_tot = 0).
public struct RegressionMetrics: Equatable, Sendable {
    /// Mean squared error.
    public var mse: Double
    /// Root mean squared error, √mse: in the targets' units.
    public var rmse: Double { mse.squareRoot() }
    /// Mean absolute error.
    public var mae: Double
    /// Coefficient of determination (1 is perfect, 0 is predicting the mean), nil when undefined.
    public var r2: Double?
    /// Number of examples.
    public var count: Int

    /// The figures of `predictions` against `targets`, both [N, outputs] (or [N]).
    /// - Throws: `ModelError` when the shapes differ or there are no examples.
    public init(predictions: Tensor, targets: Tensor) throws {
        guard predictions.count == targets.count, predictions.rank >= 1, targets.rank >= 1,
              predictions.rowCount == targets.rowCount, predictions.rowCount > 0 else {
            throw ModelError("regression metrics need predictions and targets of one shape with at least one example, got \(predictions.shape) and \(targets.shape)")
        }
        let n = targets.rowCount, w = targets.count / n
        let y = predictions.scalars, d = targets.scalars
        var squared = 0.0, absolute = 0.0
        var mean = [Double](repeating: 0, count: w)
        for i in 0..<(n * w) {
            let e = Double(y[i]) - Double(d[i])
            squared += e * e
            absolute += abs(e)
            mean[i % w] += Double(d[i])
        }
        for c in 0..<w { mean[c] /= Double(n) }
        // R² per output: residual and total sums of squares, the total about that output's mean.
        var residual = [Double](repeating: 0, count: w), total = [Double](repeating: 0, count: w)
        for i in 0..<(n * w) {
            let e = Double(y[i]) - Double(d[i]), t = Double(d[i]) - mean[i % w]
            residual[i % w] += e * e
            total[i % w] += t * t
        }
        mse = squared / Double(n * w)
        mae = absolute / Double(n * w)
        r2 = total.contains(0) ? nil : zip(residual, total).map { 1 - $0 / $1 }.reduce(0, +) / Double(w)
        count = n
    }
}
