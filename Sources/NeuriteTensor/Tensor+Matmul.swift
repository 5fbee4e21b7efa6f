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
    ///
    /// Works in 16×16 tiles staged through a 1 KB buffer: every source line is read whole and every
    /// destination line written whole within one tile, so the power-of-two strides of typical layer
    /// shapes (whose lines all land in one L1 set) cannot evict a line before it is finished.
    public func transposed() -> Tensor {
        let (m, n) = _matrixDims
        let out = Tensor(uninitializedShape: [n, m])
        let src = UnsafePointer(storage.base), dst = out.storage.base
        let mFull = m & ~15, nFull = n & ~15
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { tmp in
            let buf = tmp.baseAddress!
            var i0 = 0
            while i0 < mFull {
                var j0 = 0
                while j0 < nFull {
                    for r in 0..<16 { SIMDMath.store(SIMDMath.load(src + (i0 + r) * n + j0), buf + r * 16) }
                    for c in 0..<16 {
                        var v = SIMD16<Float>()
                        for r in 0..<16 { v[r] = buf[r * 16 + c] }
                        SIMDMath.store(v, dst + (j0 + c) * m + i0)
                    }
                    j0 += 16
                }
                i0 += 16
            }
        }
        // Edges: the last n % 16 columns of every row, then the last m % 16 rows.
        if nFull < n {
            for i in 0..<mFull { for j in nFull..<n { dst[j * m + i] = src[i * n + j] } }
        }
        for i in mFull..<m { for j in 0..<n { dst[j * m + i] = src[i * n + j] } }
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
        _gemm(a, transposeA, b, transposeB, alpha, beta, &c, GemmEpilogue(), nil)
    }

    /// `gemm` with `epilogue` done by each thread on the part of c it computed, while that part is in
    /// its cache (instead of a pass over c afterwards): c = act(alpha · op(a) · op(b) + bias), or
    /// beta · c in place of the bias when there is none. Same bits as the product and the separate
    /// passes.
    public static func gemm(_ a: Tensor, transposeA: Bool = false, _ b: Tensor, transposeB: Bool = false,
                            alpha: Float = 1, beta: Float = 0, into c: inout Tensor, epilogue: GemmEpilogue) {
        _gemm(a, transposeA, b, transposeB, alpha, beta, &c, epilogue, nil)
    }

    /// `gemm`, and alongside it (the columns shared out among the product's threads) sums[j] =
    /// sumsBeta · sums[j] + Σᵢ summed[i, j], top to bottom, for a matrix `summed` of sums.count
    /// columns, sumsBeta ∈ {0, 1}: a layer's bias gradient Σ_batch δ beside its weight gradient δᵀ·X.
    public static func gemm(_ a: Tensor, transposeA: Bool = false, _ b: Tensor, transposeB: Bool = false,
                            alpha: Float = 1, beta: Float = 0, into c: inout Tensor,
                            columnSumsOf summed: Tensor, into sums: inout Tensor, sumsBeta: Float) {
        precondition(summed.rowWidth == sums.count,
                     "Tensor.gemm: column sums of \(summed.shape) into a tensor of shape \(sums.shape)")
        sums.makeUnique()
        _gemm(a, transposeA, b, transposeB, alpha, beta, &c, GemmEpilogue(), (summed, sums.storage.base, sumsBeta != 0))
    }

    /// The two products of an affine layer's backward (y = x·Wᵀ + b, δ = ∇y: [B × out], x: [B × in],
    /// W: [out × in]) as one parallel region: ∇W = gradientBeta·∇W + δᵀ·x with the bias gradient
    /// ∇b = gradientBeta·∇b + Σ_batch δ beside it, and ∇x = δ·W with `epilogue` applied to it (a
    /// dropout mask, a ReLU gate). One join serves both, and products too small to split run side by
    /// side on two threads. Same bits as the two `gemm` calls.
    public static func affineGradients(delta: Tensor, input x: Tensor, weight w: Tensor, gradientBeta: Float,
                                       weightGradient dw: inout Tensor, biasGradient db: inout Tensor,
                                       inputGradient dx: inout Tensor, epilogue: GemmEpilogue) {
        precondition(delta.rowWidth == db.count,
                     "Tensor.affineGradients: bias gradient of shape \(db.shape) for δ of shape \(delta.shape)")
        db.makeUnique()
        let sums = (of: delta, into: db.storage.base, accumulate: gradientBeta != 0)
        _withProduct(delta, true, x, false, 1, gradientBeta, &dw, GemmEpilogue(), sums) { weightProduct in
            _withProduct(delta, false, w, false, 1, 0, &dx, epilogue, nil) { inputProduct in
                nk_sgemm_fused_pair(NK_ISA_AUTO, 0, &weightProduct, &inputProduct)
            }
        }
    }

    static func _gemm(_ a: Tensor, _ transposeA: Bool, _ b: Tensor, _ transposeB: Bool, _ alpha: Float, _ beta: Float,
                      _ c: inout Tensor, _ epilogue: GemmEpilogue,
                      _ columnSums: (of: Tensor, into: UnsafeMutablePointer<Float>, accumulate: Bool)?) {
        _withProduct(a, transposeA, b, transposeB, alpha, beta, &c, epilogue, columnSums) { p in
            nk_sgemm_fused(NK_ISA_AUTO, 0, p.transA, p.transB, p.M, p.N, p.K, p.alpha, p.A, p.lda, p.B, p.ldb,
                           p.beta, p.C, p.ldc, p.epilogue)
        }
    }

    /// Checks c = alpha · op(a) · op(b) + beta · c with `epilogue` and the column sums, makes c
    /// unique, and hands `body` the product's C arguments, valid while it runs.
    static func _withProduct(_ a: Tensor, _ transposeA: Bool, _ b: Tensor, _ transposeB: Bool, _ alpha: Float,
                             _ beta: Float, _ c: inout Tensor, _ epilogue: GemmEpilogue,
                             _ columnSums: (of: Tensor, into: UnsafeMutablePointer<Float>, accumulate: Bool)?,
                             _ body: (inout nk_sgemm_product) -> Void) {
        let (m, n, k) = _gemmDims(a, transposeA, b, transposeB, op: "gemm")
        let (cm, cn) = c._matrixDims
        precondition(cm == m && cn == n,
                     "Tensor.gemm: result shape \(c.shape) is not [\(m), \(n)] for \(_describe(a, transposeA)) · \(_describe(b, transposeB))")
        if let bias = epilogue.bias {
            precondition(bias.count == n, "Tensor.gemm: bias of shape \(bias.shape) for a result of shape \(c.shape)")
        }
        if let gate = epilogue.gate {
            precondition(gate._matrixDims == (m, n), "Tensor.gemm: gate of shape \(gate.shape) for a result of shape \(c.shape)")
        }
        c.makeUnique()
        let (_, aCols) = a._matrixDims, (_, bCols) = b._matrixDims
        // The operands' storage outlives the call (the tensors are held here), so their base
        // pointers stay valid for the C side.
        var e = nk_sgemm_epilogue()
        e.bias = epilogue.bias.map { UnsafePointer($0.storage.base) }
        e.relu = epilogue.relu ? 1 : 0
        e.gate = epilogue.gate.map { UnsafePointer($0.storage.base) }
        e.ldgate = Int64(Swift.max(n, 1))
        if let (summed, sums, accumulate) = columnSums {
            e.sum_of = UnsafePointer(summed.storage.base)
            e.sum_rows = Int64(summed.count / Swift.max(summed.rowWidth, 1))
            e.sum_width = Int64(summed.rowWidth)
            e.column_sums = sums
            e.sum_accumulate = accumulate ? 1 : 0
        }
        if let mask = epilogue.dropout {
            precondition(mask.count == m * n, "Tensor.gemm: dropout mask of \(mask.count) values for a result of shape \(c.shape)")
        }
        let cBase = c.storage.base
        withExtendedLifetime((a, b, epilogue, columnSums?.of)) {
            (epilogue.dropout?.bits ?? []).withUnsafeBufferPointer { keep in
                e.keep_bits = epilogue.dropout == nil ? nil : keep.baseAddress
                e.keep_scale = epilogue.dropout?.scale ?? 1
                withUnsafePointer(to: &e) { ep in
                    var product = nk_sgemm_product(
                        transA: transposeA ? 1 : 0, transB: transposeB ? 1 : 0, M: Int64(m), N: Int64(n), K: Int64(k),
                        alpha: alpha, A: a.storage.base, lda: Int64(Swift.max(aCols, 1)), B: b.storage.base,
                        ldb: Int64(Swift.max(bCols, 1)), beta: beta, C: cBase, ldc: Int64(Swift.max(n, 1)), epilogue: ep)
                    body(&product)
                }
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

/// What a product does to its result besides the product (`Tensor.gemm(…, epilogue:)`): each step
/// is the element-wise pass it replaces, done by every thread on its own part of the result.
public struct GemmEpilogue: Sendable {
    /// Rows of the result start as this [N] vector (a layer's bias) instead of beta · c.
    public var bias: Tensor?
    /// Then ReLU: 0 where the result is < 0 (NaN and −0 unchanged), as `Tensor.relu()`.
    public var relu: Bool
    /// Then dropout's backward, the result times (kept ? scale : 0) for a mask over the result's
    /// values, as `DropoutMask.backward`.
    public var dropout: DropoutMask?
    /// Then 0 where !(gate > 0), gate of the result's shape: ReLU's backward read from its output h
    /// (h > 0 exactly where its input was), as `Tensor.reluBackward(input:gradient:)`.
    public var gate: Tensor?

    /// The epilogue with these steps (none by default).
    public init(bias: Tensor? = nil, relu: Bool = false, dropout: DropoutMask? = nil, gate: Tensor? = nil) {
        self.bias = bias
        self.relu = relu
        self.dropout = dropout
        self.gate = gate
    }
}
