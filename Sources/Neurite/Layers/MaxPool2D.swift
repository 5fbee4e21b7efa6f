// Max pooling over NCHW batches.

/// Max pooling of each channel: y = max over the window (padding never wins); keyword
/// `maxpool:SIZE[:stride=S][:pad=P]` (stride = size by default). Backward routes each output's
/// gradient to its window's arg-max (the first in row-major order on ties); where windows overlap
/// (AlexNet's 3×3 stride 2) an input collects the gradients of every window it won.
public final class MaxPool2D: Layer {
    public static let keyword = "maxpool"
    public static let syntax = "maxpool:SIZE[:stride=S][:pad=P]"
    /// The window, its stride and padding.
    public let window: Window2D

    /// A `size` window moved by `stride` (default: `size`, no overlap) over the input padded by
    /// `padding` on each side (each side smaller than the window).
    public init(size: Size2D, stride: Size2D? = nil, padding: Padding2D = .zero) {
        let w = Window2D(size: size, stride: stride ?? size, padding: padding)
        precondition(size.height > 0 && size.width > 0 && w.stride.height > 0 && w.stride.width > 0,
                     "MaxPool2D: window and stride must be positive")
        precondition(padding.top >= 0 && padding.bottom >= 0 && padding.left >= 0 && padding.right >= 0 &&
                     padding.top < size.height && padding.bottom < size.height &&
                     padding.left < size.width && padding.right < size.width,
                     "MaxPool2D: padding \(padding) must be non-negative and smaller than the window \(size)")
        window = w
    }

    public init(arguments a: LayerArguments, inputShape: [Int]) throws {
        window = try Window2D(arguments: a, allowsPadding: true, syntax: Self.syntax)
    }

    public var arguments: [String] { window.arguments }
    public var name: String { "MaxPool2D(\(window.layerDescription))" }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { try window.pooledShape(inputShape, layer: name) }

    // x: [N, C, H, W] → y: [N, C, OH, OW] (and the arg-max of each output, for backward)
    public func forward(_ input: Tensor, step: LayerStep?) -> Tensor {
        let (y, am) = Tensor.maxPool2d(input, window: window)
        // y too: a ReLU's backward before this layer reads it (the next layer keeps it alive anyway).
        if let s = step { s.shape = input.shape; s.indices = am; s.saved = [y] }
        return y
    }

    // ∇y: [N, C, OH, OW] → ∇x: [N, C, H, W], each gradient added at its window's arg-max
    public func backward(_ gradient: Tensor, step: LayerStep) -> Tensor {
        precondition(!step.shape.isEmpty, "\(name).backward called without its training forward")
        return Tensor.maxPool2dBackward(gradient, argmax: step.indices, inputShape: step.shape, window: window)
    }
}

extension MaxPool2D: FusesPrecedingReLUBackward {
    // ∇y: [N, C, OH, OW] → ∇a ⊙ [h > 0]: [N, C, H, W] for the ReLU output h pooled here. Each window's
    // gradient lands only on its arg-max, where h equals the window's output y: so gating ∇y by
    // y > 0 before the scatter (a pass over the pooled size, a quarter of h's for 2×2) puts the same
    // values in the same places as gating the scattered gradient by h > 0 (overlapping windows
    // meeting at one place are all kept or all dropped, since they share that place's h).
    // With a dropout between (conv, ReLU, dropout, max-pool), y is the window's maximum of
    // h·scale·keep, so y > 0 exactly where the arg-max was kept and h > 0 there: the gradient it
    // receives is ∇y·scale where y > 0 and 0 elsewhere, again a pass over the pooled size before
    // the scatter, with no pass over the mask at all. That holds for windows that do not overlap;
    // overlapping ones (AlexNet's 3×3/2) scale each place's sum of gradients once, as the dropout
    // layer does, so they keep the scatter, then the dropout's and the ReLU's backward in one pass
    // over the input (DropoutMask.backward(_:reluOutput:)).
    var fusesDropoutBetween: Bool { true }

    func backwardThroughReLU(_ gradient: Tensor, step: LayerStep, dropout: DropoutMask?, reluOutput h: Tensor) -> Tensor {
        // Overlapping windows behind a dropout: the scatter first, then both masks over the input.
        if let mask = dropout, !windowsApart { return mask.backward(backward(gradient, step: step), reluOutput: h) }
        return backward(gatedGradient(gradient, step: step, dropout: dropout), step: step)
    }

    /// ∇y: [N, C, OH, OW] gated (and scaled) on the pooled size for the ReLU (and the dropout)
    /// before this layer, as above: what the scatter then routes to the arg-maxes. With a dropout,
    /// only for windows apart (overlapping ones take the dropout's scale after the scatter).
    func gatedGradient(_ gradient: Tensor, step: LayerStep, dropout: DropoutMask?) -> Tensor {
        Tensor.reluBackward(input: step.savedTensor(0, name), gradient: gradient, scale: dropout?.scale ?? 1)
    }

    /// Whether no two windows overlap (the stride at least the window each way).
    var windowsApart: Bool { window.stride.height >= window.size.height && window.stride.width >= window.size.width }
}
