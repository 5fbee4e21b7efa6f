// Small fused tensor passes the layers need (bias broadcast, bias gradient, masks).

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

    /// self[j] += Σᵢ m[i, j] for a matrix m: [n × count] (the bias gradient Σ_batch δ); with
    /// `overwrite`, self[j] = Σᵢ m[i, j].
    mutating func addRowSums(of m: Tensor, overwrite: Bool = false) {
        let w = count
        precondition(m.rowWidth == w, "addRowSums: \(m.shape) rows into a tensor of shape \(shape)")
        let n = m.rowCount
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

/// The affine map shared by Dense and Maxout: X: [B × in], W: [out × in], b: [out] → X·Wᵀ + b.
func affineForward(_ input: Tensor, weight: Parameter, bias: Parameter) -> Tensor {
    var y = Tensor(uninitializedShape: [input.rowCount, weight.value.rowCount])
    y.fillRows(with: bias.value)
    Tensor.gemm(input, weight.value, transposeB: true, alpha: 1, beta: 1, into: &y)
    return y
}

/// Its backward rules for δ: [B × out]: ∇W += δᵀ·X, ∇b += Σ_batch δ (overwriting stale gradients),
/// and ∇X = δ·W: [B × in] when `needsInputGradient` (an empty tensor otherwise).
func affineBackward(_ delta: Tensor, input x: Tensor, weight: Parameter, bias: Parameter,
                    needsInputGradient: Bool) -> Tensor {
    Tensor.gemm(delta, transposeA: true, x, alpha: 1, beta: weight.beginAccumulation(), into: &weight.storedGradient)
    bias.storedGradient.addRowSums(of: delta, overwrite: bias.beginAccumulation() == 0)
    guard needsInputGradient else { return Tensor(shape: [0]) }
    return Tensor.matmul(delta, weight.value)
}
