// Spatial pooling and local response normalisation layers over NCHW batches.

/// Checks a [C, H, W] input against a pooling window; the output shape or a `ShapeError`.
private func poolOutputShape(_ inputShape: [Int], _ window: Window2D, layer: String) throws -> [Int] {
    let expected = "[C, H, W] with H + \(window.padding.top + window.padding.bottom) ≥ \(window.size.height) and W + \(window.padding.left + window.padding.right) ≥ \(window.size.width)"
    guard inputShape.count == 3, inputShape[0] > 0,
          let out = window.outputSize(height: inputShape[1], width: inputShape[2])
    else { throw ShapeError(layer: layer, expected: expected, found: inputShape) }
    return [inputShape[0], out.height, out.width]
}

private func windowDescription(_ w: Window2D) -> String {
    var s = "\(w.size.height)×\(w.size.width)"
    if w.stride != w.size { s += "/\(w.stride)" }
    if w.padding != .zero { s += " pad \(w.padding)" }
    return s
}

/// Max pooling of each channel: y = max over the window (padding never wins). Backward routes each
/// output's gradient to its window's arg-max (the first in row-major order on ties); where windows
/// overlap (AlexNet's 3×3 stride 2) an input collects the gradients of every window it won.
public final class MaxPool2D: Layer {
    public let window: Window2D
    public var needsInputGradient = true
    private var lastInputShape: [Int] = []
    private var argmax: [Int32] = []

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

    public var name: String { "MaxPool2D(\(windowDescription(window)))" }
    public var spec: LayerSpec { .maxPool2d(size: window.size, stride: window.stride, padding: window.padding) }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { try poolOutputShape(inputShape, window, layer: name) }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let (y, am) = Tensor.maxPool2d(input, window: window)
        if training { lastInputShape = input.shape; argmax = am }
        return y
    }

    public func backward(_ gradient: Tensor) -> Tensor {
        precondition(!lastInputShape.isEmpty, "\(name).backward called before a training forward")
        return Tensor.maxPool2dBackward(gradient, argmax: argmax, inputShape: lastInputShape, window: window)
    }
}

/// Average pooling of each channel: y = mean over the window. Backward spreads each output's
/// gradient evenly over its window.
public final class AvgPool2D: Layer {
    public let window: Window2D
    public var needsInputGradient = true
    private var lastInputShape: [Int] = []

    /// A `size` window moved by `stride` (default: `size`) over the unpadded input.
    public init(size: Size2D, stride: Size2D? = nil) {
        window = Window2D(size: size, stride: stride ?? size)
        precondition(size.height > 0 && size.width > 0 && window.stride.height > 0 && window.stride.width > 0,
                     "AvgPool2D: window and stride must be positive")
    }

    public var name: String { "AvgPool2D(\(windowDescription(window)))" }
    public var spec: LayerSpec { .avgPool2d(size: window.size, stride: window.stride) }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { try poolOutputShape(inputShape, window, layer: name) }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        if training { lastInputShape = input.shape }
        return Tensor.avgPool2d(input, window: window)
    }

    public func backward(_ gradient: Tensor) -> Tensor {
        precondition(!lastInputShape.isEmpty, "\(name).backward called before a training forward")
        return Tensor.avgPool2dBackward(gradient, inputShape: lastInputShape, window: window)
    }
}

/// Local response normalisation across channels (AlexNet §3.3):
///
///     y_c = x_c / (k + alpha/size · Σ_{c' = c − size/2}^{c + (size−1)/2} x_{c'}²)^beta
///
/// alpha is divided by `size`, as in PyTorch and Caffe (whose AlexNet uses alpha = 1e-4); the paper
/// writes k + α·Σ, so its exact constant is alpha = size · 1e-4 here.
public final class LocalResponseNorm: ElementwiseLayer {
    public let size: Int
    public let k: Float
    public let alpha: Float
    public let beta: Float
    public var needsInputGradient = true
    private var saved: (input: Tensor, output: Tensor, scale: Tensor)?

    /// Defaults are AlexNet's: size 5, k 2, alpha 1e-4, beta 0.75.
    public init(size: Int = 5, k: Float = 2, alpha: Float = 1e-4, beta: Float = 0.75) {
        precondition(size >= 1, "LocalResponseNorm: size must be at least 1, got \(size)")
        precondition(k > 0 && alpha >= 0, "LocalResponseNorm: k must be positive and alpha non-negative")
        self.size = size
        self.k = k
        self.alpha = alpha
        self.beta = beta
    }

    public var name: String { "LocalResponseNorm(\(size))" }
    public var spec: LayerSpec { .localResponseNorm(size: size, k: k, alpha: alpha, beta: beta) }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count >= 1, inputShape.allSatisfy({ $0 > 0 }) else {
            throw ShapeError(layer: name, expected: "[C, …] (channels first)", found: inputShape)
        }
        return inputShape
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let (y, scale) = Tensor.localResponseNorm(input, size: size, k: k, alpha: alpha, beta: beta)
        if training { saved = (input, y, scale) }
        return y
    }

    public func backward(_ gradient: Tensor) -> Tensor {
        guard let s = saved else { preconditionFailure("\(name).backward called before a training forward") }
        return Tensor.localResponseNormBackward(gradient, input: s.input, output: s.output, scale: s.scale,
                                                size: size, alpha: alpha, beta: beta)
    }
}
