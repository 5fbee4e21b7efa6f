// 2-D convolution over NCHW batches through the CNeurite kernels (im2col + SGEMM), and the
// geometry types shared with pooling.

import CNeurite

/// A height and a width (kernel extents, strides). An integer literal means both: `stride: 2`.
public struct Size2D: Hashable, Codable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// Extent along the rows.
    public var height: Int
    /// Extent along the columns.
    public var width: Int
    /// A height × width pair.
    public init(height: Int, width: Int) { self.height = height; self.width = width }
    /// `n` in both directions.
    public init(_ n: Int) { self.init(height: n, width: n) }
    public init(integerLiteral n: Int) { self.init(n) }
    public var description: String { height == width ? "\(height)" : "\(height)×\(width)" }
}

/// Zero padding added on each side of an image. An integer literal pads every side equally.
public struct Padding2D: Hashable, Codable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// Zero rows added above.
    public var top: Int
    /// Zero rows added below.
    public var bottom: Int
    /// Zero columns added on the left.
    public var left: Int
    /// Zero columns added on the right.
    public var right: Int
    /// Padding given per side.
    public init(top: Int, bottom: Int, left: Int, right: Int) {
        self.top = top; self.bottom = bottom; self.left = left; self.right = right
    }
    /// `n` on every side.
    public init(_ n: Int) { self.init(top: n, bottom: n, left: n, right: n) }
    public init(integerLiteral n: Int) { self.init(n) }
    /// No padding.
    public static let zero = Padding2D(0)
    /// Whether every side is padded by the same amount.
    public var isUniform: Bool { top == bottom && top == left && top == right }
    public var description: String { isUniform ? "\(top)" : "(t\(top) b\(bottom) l\(left) r\(right))" }
}

/// A window sliding over an image: a convolution kernel's extent or a pooling window, its stride and
/// the input's zero padding.
public struct Window2D: Hashable, Codable, Sendable {
    /// Window (kernel) size.
    public var size: Size2D
    /// Step between windows.
    public var stride: Size2D
    /// Zero padding around the input.
    public var padding: Padding2D
    /// A window of `size` moved by `stride` over the padded input.
    public init(size: Size2D, stride: Size2D = 1, padding: Padding2D = .zero) {
        self.size = size; self.stride = stride; self.padding = padding
    }

    /// Output extent ⌊(in + pads − size) / stride⌋ + 1 in each direction, or nil when the window is
    /// larger than the padded input or an extent, stride or padding is out of range.
    public func outputSize(height: Int, width: Int) -> Size2D? {
        // The C kernels' formula (nk_window_output_extent), so layers and kernels never disagree.
        let oh = nk_window_output_extent(Int64(height), Int64(padding.top), Int64(padding.bottom),
                                         Int64(size.height), Int64(stride.height))
        let ow = nk_window_output_extent(Int64(width), Int64(padding.left), Int64(padding.right),
                                         Int64(size.width), Int64(stride.width))
        guard oh >= 0, ow >= 0 else { return nil }
        return Size2D(height: Int(oh), width: Int(ow))
    }
}

extension Tensor {
    /// The C description of a convolution of `input` [N, C, H, W] by `weight` [K, C, KH, KW].
    static func _convShape(input: [Int], weight: [Int], stride: Size2D, padding: Padding2D,
                           op: String) -> (nk_conv2d_shape, Size2D) {
        precondition(input.count == 4 && weight.count == 4,
                     "Tensor.\(op): input \(input) must be [N, C, H, W] and weight \(weight) [K, C, KH, KW]")
        precondition(input[1] == weight[1],
                     "Tensor.\(op): input \(input) has \(input[1]) channels but weight \(weight) expects \(weight[1])")
        let w = Window2D(size: Size2D(height: weight[2], width: weight[3]), stride: stride, padding: padding)
        guard let out = w.outputSize(height: input[2], width: input[3]) else {
            preconditionFailure("Tensor.\(op): kernel \(weight[2])×\(weight[3]) stride \(stride) padding \(padding) does not fit input \(input)")
        }
        let s = nk_conv2d_shape(
            batch: Int64(input[0]), in_channels: Int64(input[1]), in_h: Int64(input[2]), in_w: Int64(input[3]),
            out_channels: Int64(weight[0]), kernel_h: Int64(weight[2]), kernel_w: Int64(weight[3]),
            stride_h: Int64(stride.height), stride_w: Int64(stride.width),
            pad_top: Int64(padding.top), pad_bottom: Int64(padding.bottom),
            pad_left: Int64(padding.left), pad_right: Int64(padding.right))
        return (s, out)
    }

    /// Cross-correlation (deep learning's "convolution") of a batch:
    /// input [N, C, H, W], weight [K, C, KH, KW], bias [K] → [N, K, OH, OW].
    /// `threads` ≤ 0 uses `Runtime.threads`; the result does not depend on it. With `relu`, the
    /// result is ReLU(conv) (`relu()`'s bits), applied by each thread to the images it computed.
    public static func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Size2D = 1,
                              padding: Padding2D = .zero, relu: Bool = false, threads: Int = 0) -> Tensor {
        var (s, out) = _convShape(input: input.shape, weight: weight.shape, stride: stride, padding: padding, op: "conv2d")
        if let b = bias { precondition(b.count == weight.shape[0], "Tensor.conv2d: bias \(b.shape) for \(weight.shape[0]) filters") }
        let y = Tensor(uninitializedShape: [input.shape[0], weight.shape[0], out.height, out.width])
        input.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                if let bias {
                    bias.withUnsafeBufferPointer {
                        nk_conv2d_forward_relu(&s, Int32(threads), x.baseAddress, w.baseAddress, $0.baseAddress, relu ? 1 : 0, y.storage.base)
                    }
                } else {
                    nk_conv2d_forward_relu(&s, Int32(threads), x.baseAddress, w.baseAddress, nil, relu ? 1 : 0, y.storage.base)
                }
            }
        }
        return y
    }

    /// ∂E/∂input of `conv2d` from ∂E/∂output: outputGradient [N, K, OH, OW], weight [K, C, KH, KW]
    /// → [N, C, H, W] = `inputShape`.
    public static func conv2dBackwardData(_ outputGradient: Tensor, weight: Tensor, inputShape: [Int],
                                          stride: Size2D = 1, padding: Padding2D = .zero, threads: Int = 0) -> Tensor {
        var (s, out) = _convShape(input: inputShape, weight: weight.shape, stride: stride, padding: padding, op: "conv2dBackwardData")
        precondition(outputGradient.shape == [inputShape[0], weight.shape[0], out.height, out.width],
                     "Tensor.conv2dBackwardData: gradient \(outputGradient.shape) for an output of shape \([inputShape[0], weight.shape[0], out.height, out.width])")
        let dx = Tensor(uninitializedShape: inputShape)
        outputGradient.withUnsafeBufferPointer { dy in
            weight.withUnsafeBufferPointer { w in
                nk_conv2d_backward_data(&s, Int32(threads), dy.baseAddress, w.baseAddress, dx.storage.base)
            }
        }
        return dx
    }

    /// Adds ∂E/∂weight of `conv2d` to `weightGradient` [K, C, KH, KW] and, when given, ∂E/∂bias to
    /// `biasGradient` [K]: input [N, C, H, W], outputGradient [N, K, OH, OW].
    public static func conv2dBackwardFilter(input: Tensor, outputGradient: Tensor, stride: Size2D = 1,
                                            padding: Padding2D = .zero, weightGradient: inout Tensor,
                                            biasGradient: inout Tensor, threads: Int = 0) {
        biasGradient.makeUnique()
        precondition(biasGradient.count == weightGradient.shape.first ?? -1,
                     "Tensor.conv2dBackwardFilter: bias gradient \(biasGradient.shape) for weights \(weightGradient.shape)")
        _conv2dBackwardFilter(input, outputGradient, stride, padding, &weightGradient, biasGradient.storage.base, threads)
    }

    /// Adds ∂E/∂weight of a bias-free `conv2d` to `weightGradient` [K, C, KH, KW].
    public static func conv2dBackwardFilter(input: Tensor, outputGradient: Tensor, stride: Size2D = 1,
                                            padding: Padding2D = .zero, weightGradient: inout Tensor,
                                            threads: Int = 0) {
        _conv2dBackwardFilter(input, outputGradient, stride, padding, &weightGradient, nil, threads)
    }

    /// `conv2dBackwardFilter` for a convolution whose output [N, K, OH, OW] was max-pooled with
    /// `window`: the output gradient is what `maxPool2dBackward(pooledGradient, argmax:, …)` gives,
    /// routed into each image's part where the filter gradient reads it instead of written whole
    /// first (the same bits). pooledGradient: the pooling's output shape; argmax: what `maxPool2d`
    /// returned.
    public static func conv2dBackwardFilterThroughMaxPool(input: Tensor, pooledGradient: Tensor, argmax: [Int32],
                                                          window: Window2D, stride: Size2D = 1,
                                                          padding: Padding2D = .zero, weightGradient dw: inout Tensor,
                                                          biasGradient db: inout Tensor, threads: Int = 0) {
        var (s, out) = _convShape(input: input.shape, weight: dw.shape, stride: stride, padding: padding,
                                  op: "conv2dBackwardFilterThroughMaxPool")
        var (p, pooledShape) = _poolShape([input.shape[0], dw.shape[0], out.height, out.width], window,
                                          op: "conv2dBackwardFilterThroughMaxPool")
        precondition(pooledGradient.shape == pooledShape && argmax.count == pooledGradient.count,
                     "Tensor.conv2dBackwardFilterThroughMaxPool: gradient \(pooledGradient.shape) and \(argmax.count) indices for a pooled output of shape \(pooledShape)")
        precondition(db.count == dw.shape.first ?? -1,
                     "Tensor.conv2dBackwardFilterThroughMaxPool: bias gradient \(db.shape) for weights \(dw.shape)")
        dw.makeUnique()
        db.makeUnique()
        let dwBase = dw.storage.base, dbBase = db.storage.base
        input.withUnsafeBufferPointer { x in
            pooledGradient.withUnsafeBufferPointer { g in
                argmax.withUnsafeBufferPointer { a in
                    nk_conv2d_backward_filter_pooled(&s, Int32(threads), x.baseAddress, &p, g.baseAddress, a.baseAddress,
                                                     dwBase, dbBase)
                }
            }
        }
    }

    static func _conv2dBackwardFilter(_ input: Tensor, _ dy: Tensor, _ stride: Size2D, _ padding: Padding2D,
                                      _ dw: inout Tensor, _ db: UnsafeMutablePointer<Float>?, _ threads: Int) {
        var (s, out) = _convShape(input: input.shape, weight: dw.shape, stride: stride, padding: padding, op: "conv2dBackwardFilter")
        precondition(dy.shape == [input.shape[0], dw.shape[0], out.height, out.width],
                     "Tensor.conv2dBackwardFilter: gradient \(dy.shape) for an output of shape \([input.shape[0], dw.shape[0], out.height, out.width])")
        dw.makeUnique()
        let dwBase = dw.storage.base
        input.withUnsafeBufferPointer { x in
            dy.withUnsafeBufferPointer { g in
                nk_conv2d_backward_filter(&s, Int32(threads), x.baseAddress, g.baseAddress, dwBase, db)
            }
        }
    }
}
