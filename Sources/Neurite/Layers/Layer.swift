// The Layer protocol: a forward/backward pair and the parameters it owns.

/// A trainable tensor and the gradient of the loss with respect to it.
///
/// Layers own their parameters; optimizers update `value` from `gradient` in one pass per parameter.
public final class Parameter: @unchecked Sendable {
    /// A name unique within its layer ("weight", "bias").
    public let name: String
    /// Current value.
    public var value: Tensor
    /// ∂E/∂value, accumulated by `backward` since the last `zeroGradient()`.
    ///
    /// Zeroing is lazy: `zeroGradient()` only marks the gradient stale, and it reads as zeros (the
    /// storage is cleared on first access). Layers whose backward pass can overwrite instead of
    /// accumulate call `beginAccumulation()` and skip the clearing pass.
    public var gradient: Tensor {
        get { materializeZero(); return storedGradient }
        set { isStale = false; storedGradient = newValue }
        _modify { materializeZero(); yield &storedGradient }
    }
    /// Biases are excluded from L2 regularisation / weight decay by default.
    public let isBias: Bool
    var storedGradient: Tensor
    private var isStale = false

    /// A parameter holding `value`, with a zero gradient of the same shape.
    public init(name: String, value: Tensor, isBias: Bool = false) {
        self.name = name
        self.value = value
        self.storedGradient = Tensor(shape: value.shape, repeating: 0)
        self.isBias = isBias
    }

    /// Sets the gradient to zero (before each mini-batch).
    public func zeroGradient() { isStale = true }

    private func materializeZero() {
        guard isStale else { return }
        isStale = false
        storedGradient.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// For a layer about to add its contribution: returns the β to use (0 when the gradient is
    /// stale, so the layer overwrites it; 1 to accumulate) and marks the gradient current.
    func beginAccumulation() -> Float {
        if storedGradient.shape != value.shape { storedGradient = Tensor(shape: value.shape, repeating: 0) }
        defer { isStale = false }
        return isStale ? 0 : 1
    }
}

/// A shape that does not fit a layer, found while building or running a model.
public struct ShapeError: Error, CustomStringConvertible, Equatable {
    /// The layer (name and index in its model when known).
    public let layer: String
    /// What the layer expected.
    public let expected: String
    /// The shape it was given (without the batch dimension).
    public let found: [Int]

    public init(layer: String, expected: String, found: [Int]) {
        self.layer = layer
        self.expected = expected
        self.found = found
    }

    public var description: String {
        "layer \(layer) expects an input of shape \(expected) but its input has shape \(found)"
    }
}

/// One step of a network: `forward` maps a batch of inputs to outputs; `backward` maps ∂E/∂output
/// to ∂E/∂input and accumulates ∂E/∂parameter.
///
/// Shapes exclude nothing: every tensor passed has the batch as its first dimension.
/// `backward` must follow the `forward` call of the same batch (layers keep what they need).
public protocol Layer: AnyObject {
    /// Kind and configuration, e.g. "Dense(784→256)".
    var name: String { get }
    /// Output shape for an input shape, both without the batch dimension; throws `ShapeError`
    /// when the input does not fit.
    func outputShape(for inputShape: [Int]) throws -> [Int]
    /// The layer applied to a batch. `training` enables dropout and the bookkeeping for `backward`.
    func forward(_ input: Tensor, training: Bool) -> Tensor
    /// ∂E/∂input from ∂E/∂output for the batch of the last training forward; accumulates
    /// parameter gradients. Returns an empty tensor when `needsInputGradient` is false.
    func backward(_ outputGradient: Tensor) -> Tensor
    /// Trainable parameters (empty for parameter-free layers).
    var parameters: [Parameter] { get }
    /// Whether `backward` must compute ∂E/∂input (false for a model's first layer saves work).
    var needsInputGradient: Bool { get set }
    /// A description that rebuilds this layer (architecture of checkpoints, CLI layer specs).
    var spec: LayerSpec { get }
}

extension Layer {
    public var parameters: [Parameter] { [] }
    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}

/// Checks that a batch tensor's per-example shape is `expected`; stops with a message naming the
/// layer and both shapes otherwise (models check shapes when built, so this guards direct use).
@inline(__always)
func checkInput(_ input: Tensor, _ expected: [Int], _ layer: String) {
    precondition(Array(input.shape.dropFirst()) == expected,
                 "layer \(layer) expects inputs of shape [batch] + \(expected) but got \(input.shape)")
}
