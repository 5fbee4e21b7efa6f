// Matrix products through nk_sgemm (row-major, leading dimensions, transposes handled by the kernel,
// never by copying) and a cache-blocked transpose. Operands of rank > 2 are read as
// [rowCount, rowWidth] matrices (batch first); rank 1 [n] is a [1, n] row.

import CNeurite

extension Tensor {
    /// (rows, cols) of self viewed as a matrix.
    @usableFromInline var _matrixDims: (Int, Int) {
        switch rank {
        case 0: return (1, 1)
        case 1: return (1, shape[0])
        default: return (rowCount, rowWidth)
        }
    }

    /// The transpose of a matrix: [m, n] → [n, m] (rank > 2 as [rowCount, rowWidth], rank 1 as [1, n]).
    /// Copies in 32×32 tiles so both the reads and the writes stay within a few cache lines per tile.
    public func transposed() -> Tensor {
        let (m, n) = _matrixDims
        let out = Tensor(uninitializedShape: [n, m])
        let src = storage.base, dst = out.storage.base
        let tile = 32
        var i0 = 0
        while i0 < m {
            let i1 = Swift.min(i0 + tile, m)
            var j0 = 0
            while j0 < n {
                let j1 = Swift.min(j0 + tile, n)
                for i in i0..<i1 {
                    let s = src + i * n
                    for j in j0..<j1 { dst[j * m + i] = s[j] }
                }
                j0 = j1
            }
            i0 = i1
        }
        return out
    }

    /// op(a) · op(b), op = transpose when its flag is set: [M, K] · [K, N] → [M, N].
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false,
                              transposeB: Bool = false) -> Tensor {
        let (m, n, _) = _gemmDims(a, transposeA, b, transposeB, op: "matmul")
        var c = Tensor(uninitializedShape: [m, n])
        gemm(a, transposeA: transposeA, b, transposeB: transposeB, alpha: 1, beta: 0, into: &c)
        return c
    }

    /// op(self) · op(other) (see `Tensor.matmul(_:_:transposeA:transposeB:)`).
    public func matmul(_ b: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false) -> Tensor {
        Tensor.matmul(self, b, transposeA: transposeSelf, transposeB: transposeOther)
    }

    /// c = alpha · op(a) · op(b) + beta · c, into an existing c of shape [M, N] (or any shape whose
    /// [rowCount, rowWidth] is [M, N]). beta = 0 overwrites c without reading it; beta = 1 accumulates.
    public static func gemm(_ a: Tensor, transposeA: Bool = false, _ b: Tensor, transposeB: Bool = false,
                            alpha: Float = 1, beta: Float = 0, into c: inout Tensor) {
        let (m, n, k) = _gemmDims(a, transposeA, b, transposeB, op: "gemm")
        let (cm, cn) = c._matrixDims
        precondition(cm == m && cn == n,
                     "Tensor.gemm: result shape \(c.shape) is not [\(m), \(n)] for \(_describe(a, transposeA)) · \(_describe(b, transposeB))")
        c.makeUnique()
        let (_, aCols) = a._matrixDims, (_, bCols) = b._matrixDims
        let cBase = c.storage.base
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                nk_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha,
                         ap.baseAddress!, Int64(Swift.max(aCols, 1)), bp.baseAddress!, Int64(Swift.max(bCols, 1)),
                         beta, cBase, Int64(Swift.max(n, 1)))
            }
        }
    }

    /// (M, N, K) of op(a)·op(b), stopping with both shapes and transposes if the inner extents differ.
    static func _gemmDims(_ a: Tensor, _ ta: Bool, _ b: Tensor, _ tb: Bool, op: String) -> (Int, Int, Int) {
        let (ar, ac) = a._matrixDims, (br, bc) = b._matrixDims
        let (m, k) = ta ? (ac, ar) : (ar, ac)
        let (k2, n) = tb ? (bc, br) : (br, bc)
        precondition(k == k2,
                     "Tensor.\(op): shapes \(_describe(a, ta)) and \(_describe(b, tb)) do not match (inner extents \(k) and \(k2))")
        return (m, n, k)
    }

    static func _describe(_ t: Tensor, _ transposed: Bool) -> String {
        "\(t.shape)\(transposed ? "ᵀ" : "")"
    }
}
