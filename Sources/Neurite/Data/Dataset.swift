// A data set in memory: inputs plus either class labels or regression targets.

/// Examples in memory: `inputs` has one example per row (shape [N, …]); each example has either a
/// class label (classification) or a row of `targets` (regression).
public struct Dataset: Sendable {
    /// Examples, shape [N, …] (e.g. [N, 784] or [N, 1, 28, 28]). Changing them drops `inputBytes`.
    public var inputs: Tensor { didSet { inputBytes = nil } }
    /// The inputs as the 8-bit rows they were computed from (value / 255), when they were loaded
    /// so (Fashion-MNIST, 8-bit IDX images) and not changed since: training gathers its
    /// mini-batches from these, a quarter of the memory traffic, into the same floats.
    public internal(set) var inputBytes: UnitByteRows?
    /// Class index of each example, in 0..<classCount; empty for regression data.
    public var labels: [Int]
    /// Regression targets, shape [N, outputs]; nil for classification data.
    public var targets: Tensor?
    /// Number of classes (0 for regression data).
    public var classCount: Int

    /// Number of examples.
    public var count: Int { inputs.rowCount }
    /// Whether this is classification data (labels) rather than regression data (targets).
    public var isClassification: Bool { targets == nil }

    /// Classification data. `classCount` defaults to the largest label + 1.
    public init(inputs: Tensor, labels: [Int], classCount: Int? = nil) {
        precondition(inputs.rowCount == labels.count,
                     "Dataset: \(inputs.rowCount) inputs (shape \(inputs.shape)) but \(labels.count) labels")
        self.inputs = inputs
        self.labels = labels
        self.targets = nil
        self.classCount = classCount ?? ((labels.max() ?? -1) + 1)
        precondition(labels.allSatisfy { $0 >= 0 && $0 < self.classCount },
                     "Dataset: labels must lie in 0..<\(self.classCount)")
    }

    /// Regression data: `targets` has one row per input row.
    public init(inputs: Tensor, targets: Tensor) {
        precondition(inputs.rowCount == targets.rowCount,
                     "Dataset: inputs of shape \(inputs.shape) but targets of shape \(targets.shape)")
        self.inputs = inputs
        self.labels = []
        self.targets = targets.rank == 1 ? targets.reshaped([targets.count, 1]) : targets
        self.classCount = 0
    }

    /// Classification data whose inputs are `bytes` (each value / 255, shape [N] + its row shape).
    public init(inputBytes bytes: UnitByteRows, labels: [Int], classCount: Int? = nil) {
        self.init(inputs: bytes.floats, labels: labels, classCount: classCount)
        inputBytes = bytes
    }

    /// The examples at `indices`, in that order.
    public func subset(_ indices: some Collection<Int>) -> Dataset {
        let x = inputs.gatheringRows(indices)
        if let t = targets { return Dataset(inputs: x, targets: t.gatheringRows(indices)) }
        var d = Dataset(inputs: x, labels: indices.map { labels[$0] }, classCount: classCount)
        d.inputBytes = inputBytes?.subset(indices)
        return d
    }

    /// The inputs of examples `indices`, in that order (from `inputBytes` when there are some).
    public func gatheringInputs(_ indices: some Collection<Int>) -> Tensor {
        inputBytes?.gatheringRows(indices) ?? inputs.gatheringRows(indices)
    }

    /// `gatheringInputs(_:)` started on the kernels' thread team in the background (see
    /// `Tensor.postGatheringRows(_:)`).
    public func postGatheringInputs(_ indices: [Int]) -> PostedRows {
        inputBytes?.postGatheringRows(indices) ?? inputs.postGatheringRows(indices)
    }

    /// Asks the CPU to bring the inputs of examples `indices` into cache (the next mini-batch's, a
    /// step before they are gathered). A hint: changes nothing.
    public func prefetchInputs(_ indices: some Collection<Int>) {
        if let inputBytes { inputBytes.prefetchRows(indices) } else { inputs.prefetchRows(indices) }
    }

    /// The examples in `range`, in order.
    public func slice(_ range: Range<Int>) -> Dataset { subset(Array(range)) }
}

extension Dataset {
    /// The loss target of examples `indices`: their labels or their target rows.
    public func target(_ indices: some Collection<Int>) -> LossTarget {
        if let t = targets { return .values(t.gatheringRows(indices)) }
        return .classes(indices.map { labels[$0] })
    }
}
