// Flatten: [B, …] → [B, product of …].

/// Reshapes [B, …] to [B, product of …] (keyword `flatten`), e.g. before the first dense layer of a
/// CNN. Free: the elements are already in that order.
public final class Flatten: Layer {
    public static let keyword = "flatten"
    public static let syntax = "flatten"

    /// A flatten layer.
    public init() {}
    public init(arguments a: LayerArguments, inputShape: [Int]) throws {
        try a.expectOnly(positional: 0, syntax: Self.syntax)
    }

    public var arguments: [String] { [] }
    public var name: String { "Flatten" }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { [inputShape.reduce(1, *)] }

    public func forward(_ input: Tensor, step: LayerStep?) -> Tensor {
        if let s = step { s.shape = input.shape }
        return input.reshaped([input.rowCount, input.rowWidth])
    }

    public func backward(_ gradient: Tensor, step: LayerStep) -> Tensor { gradient.reshaped(step.shape) }
}
