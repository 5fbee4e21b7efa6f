// Small fused tensor passes the layers need (bias broadcast, bias gradient), and the affine map
// shared by Dense and Maxout.

extension Tensor {
    /// Writes `row` (shape [w] with w == rowWidth) into every row: the bias before a GEMM with β = 1.
    mutating func fillRows(with row: Tensor) {
        let w = rowWidth
        precondition(row.count == w, "fillRows: row of shape \(row.shape) for a tensor of shape \(shape)")
        let n = rowCount
        row.withUnsafeBufferPointer { r in
            withUnsafeMutableBufferPointer { d in
                for i in 0..<n { (d.baseAddress! + i * w).update(from: r.baseAddress!, count: w) }
            }
        }
    }

    /// self[j] = β·self[j] + Σᵢ m[i, j] for a matrix m: [n × count] (the bias gradient Σ_batch δ),
    /// β ∈ {0, 1}.
    mutating func addRowSums(of m: Tensor, beta: Float) {
        let w = count
        precondition(m.rowWidth == w, "addRowSums: \(m.shape) rows into a tensor of shape \(shape)")
        let n = m.rowCount, overwrite = beta == 0
        m.withUnsafeBufferPointer { src in
            withUnsafeMutableBufferPointer { dst in
                let d = dst.baseAddress!, s = src.baseAddress!
                var j = 0
                while j + 16 <= w {
                    var acc = overwrite ? SIMD16<Float>() : UnsafeRawPointer(d + j).loadUnaligned(as: SIMD16<Float>.self)
                    for i in 0..<n { acc += UnsafeRawPointer(s + i * w + j).loadUnaligned(as: SIMD16<Float>.self) }
                    UnsafeMutableRawPointer(d + j).storeBytes(of: acc, as: SIMD16<Float>.self)
                    j += 16
                }
                while j < w {
                    var acc: Float = overwrite ? 0 : d[j]
                    for i in 0..<n { acc += s[i * w + j] }
                    d[j] = acc
                    j += 1
                }
            }
        }
    }
}

/// Draws an affine layer's weight with `initializer` (fan-in and fan-out of one unit); biases become
/// zero, except with `.pytorchDefault`, which draws them from the same U(±1/√fanIn) as PyTorch does.
func initializeAffine(weight: Parameter, bias: Parameter?, fanIn: Int, fanOut: Int, _ initializer: Initializer,
                      _ g: inout SeededGenerator) {
    weight.value = initializer.make(weight.shape, fanIn: fanIn, fanOut: fanOut, using: &g)
    guard let b = bias else { return }
    b.value = initializer == .pytorchDefault
        ? initializer.make(b.shape, fanIn: fanIn, fanOut: fanOut, using: &g)
        : Tensor(shape: b.shape, repeating: 0)
}

/// The affine map shared by Dense and Maxout: X: [B × in], W: [out × in], b: [out] → X·Wᵀ + b.
func affineForward(_ input: Tensor, weight: Parameter, bias: Parameter) -> Tensor {
    var y = Tensor(uninitializedShape: [input.rowCount, weight.shape[0]])
    y.fillRows(with: bias.view)
    Tensor.gemm(input, weight.view, transposeB: true, alpha: 1, beta: 1, into: &y)
    return y
}

/// Its backward rules for δ: [B × out]: ∇W = δᵀ·X, ∇b = Σ_batch δ (written into the step's gradient
/// arena), and ∇X = δ·W: [B × in] when the step needs it (an empty tensor otherwise).
func affineBackward(_ delta: Tensor, input x: Tensor, weight: Parameter, bias: Parameter, step: LayerStep) -> Tensor {
    var dw = step.gradient(weight), db = step.gradient(bias)
    Tensor.gemm(delta, transposeA: true, x, alpha: 1, beta: step.gradientBeta, into: &dw)
    db.addRowSums(of: delta, beta: step.gradientBeta)
    guard step.needsInputGradient else { return Tensor(shape: [0]) }
    return Tensor.matmul(delta, weight.view)
}
