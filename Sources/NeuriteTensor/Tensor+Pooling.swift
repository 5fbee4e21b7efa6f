// Max and average pooling and local response normalisation over NCHW batches (CNeurite kernels).

import CNeurite

extension Tensor {
    static func _poolShape(_ input: [Int], _ window: Window2D, op: String) -> (nk_pool2d_shape, [Int]) {
        precondition(input.count == 4, "Tensor.\(op): input \(input) must be [N, C, H, W]")
        guard let out = window.outputSize(height: input[2], width: input[3]) else {
            preconditionFailure("Tensor.\(op): window \(window.size) stride \(window.stride) padding \(window.padding) does not fit input \(input)")
        }
        let p = window.padding
        precondition(p.top < window.size.height && p.bottom < window.size.height && p.left < window.size.width && p.right < window.size.width,
                     "Tensor.\(op): padding \(p) must be smaller than the window \(window.size)")
        let s = nk_pool2d_shape(
            batch: Int64(input[0]), channels: Int64(input[1]), in_h: Int64(input[2]), in_w: Int64(input[3]),
            window_h: Int64(window.size.height), window_w: Int64(window.size.width),
            stride_h: Int64(window.stride.height), stride_w: Int64(window.stride.width),
            pad_top: Int64(p.top), pad_bottom: Int64(p.bottom), pad_left: Int64(p.left), pad_right: Int64(p.right))
        return (s, [input[0], input[1], out.height, out.width])
    }

    /// Max pooling of each channel: input [N, C, H, W] → output [N, C, OH, OW] and, for each output,
    /// the index h·W + w of its maximum within its input plane (first in scan order on ties).
    public static func maxPool2d(_ input: Tensor, window: Window2D, threads: Int = 0) -> (output: Tensor, argmax: [Int32]) {
        var (s, outShape) = _poolShape(input.shape, window, op: "maxPool2d")
        let y = Tensor(uninitializedShape: outShape)
        let argmax = [Int32](unsafeUninitializedCapacity: y.count) { buf, n in
            input.withUnsafeBufferPointer { nk_maxpool2d_forward(&s, Int32(threads), $0.baseAddress, y.storage.base, buf.baseAddress) }
            n = y.count
        }
        return (y, argmax)
    }

    /// ∂E/∂input of `maxPool2d`: each output's gradient goes to its arg-max (overlapping windows add).
    /// `argmax` is what `maxPool2d` returned: indices within each plane, each inside its window. An
    /// index outside its plane never writes outside the result (it is skipped); one outside its
    /// window but inside the plane is skipped by 2×2 stride-2 pooling and added where it points
    /// otherwise.
    public static func maxPool2dBackward(_ outputGradient: Tensor, argmax: [Int32], inputShape: [Int],
                                         window: Window2D, threads: Int = 0) -> Tensor {
        var (s, outShape) = _poolShape(inputShape, window, op: "maxPool2dBackward")
        precondition(outputGradient.shape == outShape && argmax.count == outputGradient.count,
                     "Tensor.maxPool2dBackward: gradient \(outputGradient.shape) and \(argmax.count) indices for an output of shape \(outShape)")
        let dx = Tensor(uninitializedShape: inputShape)
        outputGradient.withUnsafeBufferPointer { g in
            argmax.withUnsafeBufferPointer { a in
                nk_maxpool2d_backward(&s, Int32(threads), g.baseAddress, a.baseAddress, dx.storage.base)
            }
        }
        return dx
    }

    /// Average pooling (padding counts as zeros): input [N, C, H, W] → [N, C, OH, OW].
    public static func avgPool2d(_ input: Tensor, window: Window2D, threads: Int = 0) -> Tensor {
        var (s, outShape) = _poolShape(input.shape, window, op: "avgPool2d")
        let y = Tensor(uninitializedShape: outShape)
        input.withUnsafeBufferPointer { nk_avgpool2d_forward(&s, Int32(threads), $0.baseAddress, y.storage.base) }
        return y
    }

    /// ∂E/∂input of `avgPool2d`: each output's gradient spread evenly over its window.
    public static func avgPool2dBackward(_ outputGradient: Tensor, inputShape: [Int], window: Window2D,
                                         threads: Int = 0) -> Tensor {
        var (s, outShape) = _poolShape(inputShape, window, op: "avgPool2dBackward")
        precondition(outputGradient.shape == outShape,
                     "Tensor.avgPool2dBackward: gradient \(outputGradient.shape) for an output of shape \(outShape)")
        let dx = Tensor(uninitializedShape: inputShape)
        outputGradient.withUnsafeBufferPointer { nk_avgpool2d_backward(&s, Int32(threads), $0.baseAddress, dx.storage.base) }
        return dx
    }

    /// Local response normalisation across channels of input [N, C, …]:
    /// y_c = x_c / (k + alpha/size · Σ_{c' in the size channels around c} x_{c'}²)^beta.
    /// Returns y and the denominators' base (the "scale", kept for the backward pass).
    /// `alpha` is divided by `size`, as in PyTorch and Caffe (both use alpha = 1e-4 for AlexNet); the
    /// AlexNet paper writes k + α·Σ, so its exact constant α = 1e-4 is alpha = size · 1e-4 here.
    public static func localResponseNorm(_ input: Tensor, size: Int, k: Float, alpha: Float, beta: Float,
                                         threads: Int = 0) -> (output: Tensor, scale: Tensor) {
        precondition(input.rank >= 2 && size >= 1, "Tensor.localResponseNorm: input \(input.shape) must be [N, C, …], size \(size) ≥ 1")
        let n = input.shape[0], c = input.shape[1], hw = input.count / Swift.max(n * c, 1)
        let y = Tensor(uninitializedShape: input.shape), scale = Tensor(uninitializedShape: input.shape)
        input.withUnsafeBufferPointer {
            nk_lrn_forward(Int64(n), Int64(c), Int64(hw), Int64(size), k, alpha, beta, Int32(threads),
                           $0.baseAddress, y.storage.base, scale.storage.base)
        }
        return (y, scale)
    }

    /// ∂E/∂input of `localResponseNorm` from ∂E/∂output, given the forward pass's input, output and scale.
    public static func localResponseNormBackward(_ outputGradient: Tensor, input: Tensor, output: Tensor, scale: Tensor,
                                                 size: Int, alpha: Float, beta: Float, threads: Int = 0) -> Tensor {
        precondition(outputGradient.shape == input.shape && output.shape == input.shape && scale.shape == input.shape,
                     "Tensor.localResponseNormBackward: shapes \(outputGradient.shape), \(input.shape), \(output.shape), \(scale.shape) differ")
        let n = input.shape[0], c = input.shape[1], hw = input.count / Swift.max(n * c, 1)
        let dx = Tensor(uninitializedShape: input.shape)
        outputGradient.withUnsafeBufferPointer { g in
            input.withUnsafeBufferPointer { x in
                output.withUnsafeBufferPointer { y in
                    scale.withUnsafeBufferPointer { s in
                        nk_lrn_backward(Int64(n), Int64(c), Int64(hw), Int64(size), alpha, beta, Int32(threads),
                                        x.baseAddress, y.baseAddress, s.baseAddress, g.baseAddress, dx.storage.base)
                    }
                }
            }
        }
        return dx
    }
}
