// Learning-rate reduction when a metric stops improving.

/// Multiplies the learning rate by `factor` after `patience` epochs without improvement of a
/// metric (by more than `minDelta`), down to `minimumScale` of the schedule's rate; as PyTorch's
/// `ReduceLROnPlateau` in "min" mode for losses and "max" mode for accuracy. Lives in a trainer
/// (`Trainer.reduceOnPlateau`) and is saved in its checkpoints.
public struct ReduceOnPlateau: Codable, Equatable, Sendable {
    /// The metric watched.
    public var metric: EarlyStopping.Metric
    /// Factor applied to the rate at each reduction, in (0, 1).
    public var factor: Float
    /// Epochs without improvement before a reduction.
    public var patience: Int
    /// Smallest improvement that counts.
    public var minDelta: Float
    /// The scale never goes below this.
    public var minimumScale: Float
    /// The current multiplier of the scheduled rate (1 until the first reduction).
    public private(set) var scale: Float = 1
    /// Best value seen and epochs since.
    public private(set) var best: Float?
    public private(set) var waited = 0

    /// A reduction by `factor` after `patience` epochs without improvement of `metric`.
    public init(metric: EarlyStopping.Metric = .validationLoss, factor: Float = 0.5, patience: Int = 3,
                minDelta: Float = 0, minimumScale: Float = 1e-3) throws {
        guard factor > 0, factor < 1, patience >= 0, patience <= 1_000_000, minDelta >= 0, minDelta.isFinite,
              minimumScale > 0, minimumScale <= 1 else {
            throw ModelError("reduce-on-plateau: factor must be in (0, 1), patience ≥ 0, min-delta ≥ 0 and the minimum scale in (0, 1]; got \(factor), \(patience), \(minDelta), \(minimumScale)")
        }
        self.metric = metric
        self.factor = factor
        self.patience = patience
        self.minDelta = minDelta
        self.minimumScale = minimumScale
    }

    /// Checks a state read from a checkpoint.
    func validated() throws -> ReduceOnPlateau {
        var r = try ReduceOnPlateau(metric: metric, factor: factor, patience: patience, minDelta: minDelta, minimumScale: minimumScale)
        guard scale >= minimumScale, scale <= 1, waited >= 0, best?.isFinite ?? true else {
            throw ModelError("reduce-on-plateau state out of range: scale \(scale), waited \(waited)")
        }
        r.scale = scale
        r.best = best
        r.waited = waited
        return r
    }

    /// Updates with an epoch's metrics.
    public mutating func observe(_ m: EpochMetrics) {
        let v: Float?
        switch metric {
        case .validationLoss: v = m.validationLoss
        case .validationAccuracy: v = m.validationAccuracy
        case .trainLoss: v = m.trainLoss
        }
        guard let value = v, value.isFinite else { return }
        let higherIsBetter = metric == .validationAccuracy
        if let b = best, higherIsBetter ? value <= b + minDelta : value >= b - minDelta {
            waited += 1
            if waited > patience {
                scale = max(minimumScale, scale * factor)
                waited = 0
            }
        } else {
            best = value
            waited = 0
        }
    }

    enum CodingKeys: String, CodingKey {
        case metric, factor, patience, minDelta = "min_delta", minimumScale = "minimum_scale", scale, best, waited
    }
}
