// 2-D convolution layer over NCHW batches.

/// A 2-D convolution (cross-correlation, as in every deep-learning library) with weights
/// W: [out, in, kh, kw] and bias b: [out] (keyword `conv:FILTERS:KERNEL[:stride=S][:pad=P]`, the
/// input channels from the previous layer):
///
///     y[n, k, oh, ow] = b[k] + Σ_{c, i, j} W[k, c, i, j] · x[n, c, oh·sh − pt + i, ow·sw − pl + j]
///
/// (x is zero outside the image). Given δ = ∂E/∂y the backward pass is
///
///     ∇b E = Σ_{n, oh, ow} δ[n, k, oh, ow]
///     ∇W E = Σ_n δ_n · col(x_n)ᵀ          (col: the im2col matrix [in·kh·kw, OH·OW])
///     ∇x E = col⁻¹(Wᵀ · δ_n)             (col2im: each column entry added back to its pixel)
///
/// computed by the CNeurite kernels, bitwise independent of the thread count.
public final class Conv2D: Layer, FusesFollowingReLU {
    public static let keyword = "conv"
    public static let syntax = "conv:FILTERS:KERNEL[:stride=S][:pad=P]"
    /// Input channels.
    public let inChannels: Int
    /// Output channels (filters).
    public let outChannels: Int
    /// Kernel extent.
    public let kernelSize: Size2D
    /// Step between windows.
    public let stride: Size2D
    /// Zero padding of the input.
    public let padding: Padding2D
    /// W: [outChannels, inChannels, kernelHeight, kernelWidth].
    public let weight: Parameter
    /// b: [outChannels].
    public let bias: Parameter

    /// A convolution with weights from `initializer` (fan-in = inChannels·kh·kw, fan-out =
    /// outChannels·kh·kw; He suits a following ReLU) drawn from `generator`, and zero biases.
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
        weight = Parameter(name: "weight", shape: [outChannels, inChannels, kernelSize.height, kernelSize.width], decays: true)
        bias = Parameter(name: "bias", shape: [outChannels], decays: false)
        initialize(initializer, using: &generator)
    }

    public init(arguments a: LayerArguments, inputShape: [Int]) throws {
        guard inputShape.count == 3 else {
            throw ShapeError(layer: a.text, expected: "[channels, height, width]", found: inputShape)
        }
        let w = ModelLimits.maxWindow
        outChannels = try a.int(0, name: "filters", field: "filters", in: 1...ModelLimits.maxWidth, syntax: Self.syntax)
        kernelSize = try a.size(1, name: "kernel", field: "kernel size", in: 1...w, syntax: Self.syntax)
        stride = try a.size(name: "stride", field: "stride", default: 1, in: 1...w, syntax: Self.syntax)
        padding = try a.padding(in: 0...w, syntax: Self.syntax)
        try a.expectOnly(positional: 2, named: ["filters", "kernel", "stride", "pad"], syntax: Self.syntax)
        inChannels = inputShape[0]
        let (fanIn, o1) = (inChannels * kernelSize.height).multipliedReportingOverflow(by: kernelSize.width)
        let (count, o2) = fanIn.multipliedReportingOverflow(by: outChannels)
        guard !o1, !o2, count <= ModelLimits.maxParameters else {
            throw ModelError("layer '\(a.text)': \(outChannels) filters of \(inChannels)×\(kernelSize.text) exceed \(ModelLimits.maxParameters) weights")
        }
        weight = Parameter(name: "weight", shape: [outChannels, inChannels, kernelSize.height, kernelSize.width], decays: true)
        bias = Parameter(name: "bias", shape: [outChannels], decays: false)
    }

    public var arguments: [String] {
        var a = ["\(outChannels)", kernelSize.text]
        if stride != 1 { a.append("stride=\(stride.text)") }
        if padding != .zero { a.append("pad=\(padding.text)") }
        return a
    }

    public var name: String {
        var s = "Conv2D(\(inChannels)→\(outChannels), \(kernelSize.height)×\(kernelSize.width)"
        if stride != 1 { s += "/\(stride)" }
        if padding != .zero { s += " pad \(padding)" }
        return s + ")"
    }
    public var parameters: [Parameter] { [weight, bias] }

    public func initialize(_ initializer: Initializer?, using g: inout SeededGenerator) {
        let area = kernelSize.height * kernelSize.width
        initializeAffine(weight: weight, bias: bias, fanIn: inChannels * area, fanOut: outChannels * area,
                         initializer ?? .heUniform, &g)
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
    public func forward(_ input: Tensor, step: LayerStep?) -> Tensor { convolve(input, step: step, relu: false) }

    // x: [N, in, H, W] → h = ReLU(conv): [N, out, OH, OW], the ReLU per image in the kernel
    func forwardThroughReLU(_ input: Tensor, step: LayerStep?, reluStep: LayerStep?) -> Tensor {
        let h = convolve(input, step: step, relu: true)
        reluStep?.saved = [h]
        return h
    }

    private func convolve(_ input: Tensor, step: LayerStep?, relu: Bool) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == inChannels,
                     "layer \(name) expects inputs of shape [batch, \(inChannels), H, W] but got \(input.shape)")
        step?.saved = [input]
        return Tensor.conv2d(input, weight: weight.view, bias: bias.view, stride: stride, padding: padding, relu: relu)
    }

    // δ: [N, out, OH, OW] → ∇W, ∇b; returns ∇x: [N, in, H, W]
    public func backward(_ delta: Tensor, step: LayerStep) -> Tensor {
        let x = step.savedTensor(0, name)
        var (dw, db) = zeroedGradients(step)
        Tensor.conv2dBackwardFilter(input: x, outputGradient: delta, stride: stride, padding: padding,
                                    weightGradient: &dw, biasGradient: &db)
        guard step.needsInputGradient else { return Tensor(shape: [0]) }
        return Tensor.conv2dBackwardData(delta, weight: weight.view, inputShape: x.shape, stride: stride, padding: padding)
    }

    /// The step's weight and bias gradients, zeroed when the step overwrites them (the kernels
    /// accumulate).
    private func zeroedGradients(_ step: LayerStep) -> (Tensor, Tensor) {
        var dw = step.gradient(weight), db = step.gradient(bias)
        if step.gradientBeta == 0 {
            dw.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            db.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
        return (dw, db)
    }

    // ∇y pooled: [N, K, POH, POW] (a max pooling's, after its ReLU gate) → ∇W, ∇b, for a step that
    // needs no input gradient: the pooling's scatter runs inside the filter gradient (see
    // `Sequential.backward`), never writing ∇y: [N, K, OH, OW] whole.
    func backwardFilterThroughMaxPool(_ pooledGradient: Tensor, argmax: [Int32], window: Window2D, step: LayerStep) {
        var (dw, db) = zeroedGradients(step)
        Tensor.conv2dBackwardFilterThroughMaxPool(input: step.savedTensor(0, name), pooledGradient: pooledGradient,
                                                  argmax: argmax, window: window, stride: stride, padding: padding,
                                                  weightGradient: &dw, biasGradient: &db)
    }
}
