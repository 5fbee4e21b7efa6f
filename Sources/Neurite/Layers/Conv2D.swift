// 2-D convolution layer over NCHW batches.

/// A 2-D convolution (cross-correlation, as in every deep-learning library) with weights
/// W: [out, in, kh, kw] and bias b: [out]:
///
///     y[n, k, oh, ow] = b[k] + Σ_{c, i, j} W[k, c, i, j] · x[n, c, oh·sh − pt + i, ow·sw − pl + j]
///
/// (x is zero outside the image). Given δ = ∂E/∂y the backward pass is
///
///     ∇b E = Σ_{n, oh, ow} δ[n, k, oh, ow]
///     ∇W E = Σ_n δ_n · col(x_n)ᵀ          (col: the im2col matrix [in·kh·kw, OH·OW])
///     ∇x E = col⁻¹(Wᵀ · δ_n)             (col2im: each column entry added back to its pixel)
///
/// computed by the CNeurite kernels (im2col + SGEMM), bitwise independent of the thread count.
public final class Conv2D: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Size2D
    public let stride: Size2D
    public let padding: Padding2D
    /// W: [outChannels, inChannels, kernelHeight, kernelWidth].
    public let weight: Parameter
    /// b: [outChannels].
    public let bias: Parameter
    public var needsInputGradient = true
    private var lastInput: Tensor?

    /// A convolution with weights from `initializer` (fan-in = inChannels·kh·kw, fan-out =
    /// outChannels·kh·kw; He suits a following ReLU) and zero biases.
    public init(inChannels: Int, outChannels: Int, kernelSize: Size2D, stride: Size2D = 1,
                padding: Padding2D = .zero, initializer: Initializer = .heUniform,
                generator: inout SeededGenerator) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize.height > 0 && kernelSize.width > 0,
                     "Conv2D: channel counts and kernel size must be positive")
        precondition(stride.height > 0 && stride.width > 0, "Conv2D: stride must be positive, got \(stride)")
        precondition(padding.top >= 0 && padding.bottom >= 0 && padding.left >= 0 && padding.right >= 0,
                     "Conv2D: padding must not be negative, got \(padding)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        let area = kernelSize.height * kernelSize.width
        weight = Parameter(name: "weight",
                           value: initializer.make([outChannels, inChannels, kernelSize.height, kernelSize.width],
                                                   fanIn: inChannels * area, fanOut: outChannels * area, using: &generator))
        bias = Parameter(name: "bias", value: Tensor(shape: [outChannels], repeating: 0), isBias: true)
    }

    public var name: String {
        var s = "Conv2D(\(inChannels)→\(outChannels), \(kernelSize.height)×\(kernelSize.width)"
        if stride != 1 { s += "/\(stride)" }
        if padding != .zero { s += " pad \(padding)" }
        return s + ")"
    }
    public var parameters: [Parameter] { [weight, bias] }
    public var spec: LayerSpec {
        .conv2d(inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, stride: stride, padding: padding)
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        let expected = "[\(inChannels), H, W] with H + \(padding.top + padding.bottom) ≥ \(kernelSize.height) and W + \(padding.left + padding.right) ≥ \(kernelSize.width)"
        guard inputShape.count == 3, inputShape[0] == inChannels,
              let out = Window2D(size: kernelSize, stride: stride, padding: padding)
                .outputSize(height: inputShape[1], width: inputShape[2])
        else { throw ShapeError(layer: name, expected: expected, found: inputShape) }
        return [outChannels, out.height, out.width]
    }

    // x: [N, in, H, W] → y: [N, out, OH, OW]
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == inChannels,
                     "layer \(name) expects inputs of shape [batch, \(inChannels), H, W] but got \(input.shape)")
        if training { lastInput = input }
        return Tensor.conv2d(input, weight: weight.value, bias: bias.value, stride: stride, padding: padding)
    }

    // δ: [N, out, OH, OW] → accumulates ∇W, ∇b; returns ∇x: [N, in, H, W]
    public func backward(_ delta: Tensor) -> Tensor {
        guard let x = lastInput else { preconditionFailure("\(name).backward called before a training forward") }
        Tensor.conv2dBackwardFilter(input: x, outputGradient: delta, stride: stride, padding: padding,
                                    weightGradient: &weight.gradient, biasGradient: &bias.gradient)
        guard needsInputGradient else { return Tensor(shape: [0]) }
        return Tensor.conv2dBackwardData(delta, weight: weight.value, inputShape: x.shape, stride: stride, padding: padding)
    }
}
