// Average pooling over NCHW batches.

/// Average pooling of each channel: y = mean over the window; keyword `avgpool:SIZE[:stride=S]`.
/// Backward spreads each output's gradient evenly over its window.
public final class AvgPool2D: Layer {
    public static let keyword = "avgpool"
    public static let syntax = "avgpool:SIZE[:stride=S]"
    /// The window and its stride (no padding).
    public let window: Window2D

    /// A `size` window moved by `stride` (default: `size`) over the unpadded input.
    public init(size: Size2D, stride: Size2D? = nil) {
        window = Window2D(size: size, stride: stride ?? size)
        precondition(size.height > 0 && size.width > 0 && window.stride.height > 0 && window.stride.width > 0,
                     "AvgPool2D: window and stride must be positive")
    }

    public init(arguments a: LayerArguments, inputShape: [Int]) throws {
        window = try Window2D(arguments: a, allowsPadding: false, syntax: Self.syntax)
    }

    public var arguments: [String] { window.arguments }
    public var name: String { "AvgPool2D(\(window.layerDescription))" }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { try window.pooledShape(inputShape, layer: name) }

    // x: [N, C, H, W] → y: [N, C, OH, OW]
    public func forward(_ input: Tensor, step: LayerStep?) -> Tensor {
        if let s = step { s.shape = input.shape }
        return Tensor.avgPool2d(input, window: window)
    }

    // ∇y: [N, C, OH, OW] → ∇x: [N, C, H, W]
    public func backward(_ gradient: Tensor, step: LayerStep) -> Tensor {
        precondition(!step.shape.isEmpty, "\(name).backward called without its training forward")
        return Tensor.avgPool2dBackward(gradient, inputShape: step.shape, window: window)
    }
}
