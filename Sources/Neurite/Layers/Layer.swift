// The Layer protocol: everything about one kind of layer lives in the type that conforms to it —
// its forward/backward pair, its parameters and state buffers, its text keyword and arguments
// (which are also its checkpoint encoding), and its initialisation. `LayerRegistry` maps keywords to
// types; nothing else in the library names a concrete layer.

/// A trainable tensor of a layer. Inside a model its value is a slice of the model's parameter arena
/// and its gradient a slice of each training context's gradient arena (see `ParameterArena`).
public final class Parameter: @unchecked Sendable {
    /// The name within its layer ("weight", "bias"), as PyTorch names it.
    public let name: String
    /// Shape of the value.
    public let shape: [Int]
    /// Whether L2 regularisation / weight decay applies (weights yes, biases and norm scales no).
    public let decays: Bool
    /// Where the value lives: a tensor of its own until a model adopts the layer, then the arena.
    var backing: Tensor
    /// Offset of the value in `backing` (0 until adopted).
    var offset = 0
    /// "<layer index>.<name>" once a model owns it (the checkpoint and optimizer-state key).
    public internal(set) var qualifiedName: String

    /// A parameter holding `value`.
    public init(name: String, value: Tensor, decays: Bool) {
        self.name = name
        shape = value.shape
        self.decays = decays
        backing = value
        backing.makeUnique()   // the caller's tensor must not see writes to the parameter
        qualifiedName = name
    }

    /// A zero parameter of `shape`.
    public convenience init(name: String, shape: [Int], decays: Bool) {
        self.init(name: name, value: Tensor(shape: shape, repeating: 0), decays: decays)
    }

    /// Number of scalars.
    public var count: Int { Tensor.elementCount(shape) }

    /// A copy of the current value (changes to the model do not reach it).
    public var value: Tensor {
        get { view.copied() }
        set {
            precondition(newValue.shape == shape, "parameter \(qualifiedName) has shape \(shape), not \(newValue.shape)")
            var v = view
            newValue.withUnsafeBufferPointer { src in v.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: src) } }
        }
    }

    /// The value in place (no copy): what a layer's forward pass reads.
    public var view: Tensor { backing.sharedView(offset: offset, shape: shape) }
}

/// A non-trainable state tensor of a layer (BatchNorm's running statistics): saved in checkpoints
/// under the layer's index like a parameter, but never touched by an optimizer.
public final class Buffer: @unchecked Sendable {
    /// The name within its layer ("running_mean").
    public let name: String
    /// The current value.
    public var value: Tensor
    /// A buffer holding `value`.
    public init(name: String, value: Tensor) { self.name = name; self.value = value }
}

/// What a layer's type says about initialising the layer before it (`Sequential` picks He
/// initialisation for weights followed by a ReLU-family activation, Glorot otherwise).
public enum InitializationHint: Sendable, Equatable {
    /// Says nothing; look at the next layer (dropout, batch normalisation).
    case transparent
    /// The preceding weights should use this initialiser.
    case prefers(Initializer)
    /// Ends the search: the default (Glorot) applies.
    case none
}

/// One layer's working memory for one training step: what its forward pass keeps for its backward
/// pass, where its gradients go, and its random stream. Owned by a `TrainingContext`, so layers hold
/// no per-batch state and one model can run several steps (or inferences) at once.
public final class LayerStep {
    /// Index of the layer in its model.
    public let index: Int
    /// Whether `backward` must return ∂E/∂input (false for a model's first layer).
    public internal(set) var needsInputGradient: Bool
    /// Tensors kept by forward for backward (inputs, outputs, masks, statistics).
    public var saved: [Tensor] = []
    /// Integer indices kept by forward (arg-max positions, winning pieces).
    public var indices: [Int32] = []
    /// A shape kept by forward (the input shape, for layers that need nothing else).
    public var shape: [Int] = []
    /// Dropout's keep bits kept by forward.
    public var dropoutMask: DropoutMask?
    /// Seed of this layer's random stream for this step (dropout masks): a function of the model's
    /// seed, the layer index and the step number, so no generator state needs saving.
    public internal(set) var randomSeed: UInt64 = 0
    unowned let context: TrainingContext

    init(index: Int, needsInputGradient: Bool, context: TrainingContext) {
        self.index = index
        self.needsInputGradient = needsInputGradient
        self.context = context
    }

    /// ∂E/∂p for parameter `p` of this layer, in place in the context's gradient arena: a layer's
    /// backward writes it with `Tensor.gemm(…, beta: gradientBeta, into: &g)` or similar.
    public func gradient(_ p: Parameter) -> Tensor { context.gradients.sharedView(offset: p.offset, shape: p.shape) }

    /// β for writing gradients: 0 (overwrite) normally, 1 when the context accumulates over steps.
    public var gradientBeta: Float { context.accumulatesGradients ? 1 : 0 }

    /// The tensor saved at `i` (a programming error if forward did not save it).
    public func savedTensor(_ i: Int, _ layer: String) -> Tensor {
        precondition(i < saved.count, "\(layer).backward called without its training forward")
        return saved[i]
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

    /// A shape error of `layer`.
    public init(layer: String, expected: String, found: [Int]) {
        self.layer = layer
        self.expected = expected
        self.found = found
    }

    /// "layer L expects an input of shape E but its input has shape F".
    public var description: String {
        "layer \(layer) expects an input of shape \(expected) but its input has shape \(found)"
    }
}

/// One step of a network.
///
/// - `forward(_:step:)` maps a batch [B, …] to outputs; with a `step` (training) it keeps in it what
///   `backward` needs, without one (inference) it keeps nothing and changes nothing, so inference is
///   safe from several threads at once.
/// - `backward(_:step:)` maps ∂E/∂output to ∂E/∂input and writes ∂E/∂parameter into the step's
///   gradient arena (every parameter's gradient, each step).
/// - `init(arguments:inputShape:)` builds the layer from its text form `keyword:arg:name=value`
///   (the layer-list syntax and the checkpoint encoding) and must validate every argument: a crafted
///   checkpoint reaches it.
public protocol Layer: AnyObject {
    /// The keyword of the layer-list syntax ("dense", "conv").
    static var keyword: String { get }
    /// The syntax for help texts ("dense:UNITS").
    static var syntax: String { get }
    /// The layer described by `arguments` for inputs of `inputShape` (without the batch dimension).
    init(arguments: LayerArguments, inputShape: [Int]) throws
    /// The arguments after the keyword that rebuild this layer (its text form, e.g. ["256"]).
    var arguments: [String] { get }
    /// Kind and configuration for summaries, e.g. "Dense(784→256)".
    var name: String { get }
    /// Output shape for an input shape (both without the batch dimension); throws `ShapeError`.
    func outputShape(for inputShape: [Int]) throws -> [Int]
    /// Trainable parameters, in a fixed order (empty for parameter-free layers).
    var parameters: [Parameter] { get }
    /// Non-trainable state saved in checkpoints.
    var buffers: [Buffer] { get }
    /// What this layer says about the initialisation of the weights before it.
    var initializationHint: InitializationHint { get }
    /// Draws the parameters from `generator` with `initializer` (nil: the layer's default).
    func initialize(_ initializer: Initializer?, using generator: inout SeededGenerator)
    /// The layer applied to a batch; training when `step` is given.
    func forward(_ input: Tensor, step: LayerStep?) -> Tensor
    /// ∂E/∂input from ∂E/∂output after `forward(_:step:)` with the same step.
    func backward(_ outputGradient: Tensor, step: LayerStep) -> Tensor
    /// Applies what a finished training step changes in the layer's state (running statistics).
    func commit(_ step: LayerStep)
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var buffers: [Buffer] { [] }
    public var initializationHint: InitializationHint { .none }
    public func initialize(_ initializer: Initializer?, using generator: inout SeededGenerator) {}
    public func commit(_ step: LayerStep) {}
    /// The text form that rebuilds this layer: keyword and arguments joined by ':'.
    public var spec: String { ([Self.keyword] + arguments).joined(separator: ":") }
    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}

/// Checks that a batch's per-example shape is `expected` (models check shapes when built, so this
/// guards direct use of a layer: a programming error).
@inline(__always)
func checkInput(_ input: Tensor, _ expected: [Int], _ layer: String) {
    precondition(Array(input.shape.dropFirst()) == expected,
                 "layer \(layer) expects inputs of shape [batch] + \(expected) but got \(input.shape)")
}
