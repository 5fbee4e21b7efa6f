// The naive matmul and the relative-error measure every kernel test uses.
import NeuriteTensor

/// op(A)·op(B) of two matrices by `referenceGemm` (the one naive matmul: Double sums, rounded
/// once): A is [m, k] or, transposed, [k, m]; B is [k, n] or [n, k].
public func referenceMatmul(_ a: Tensor, transposeA: Bool = false, _ b: Tensor, transposeB: Bool = false) -> [Float] {
    precondition(a.rank == 2 && b.rank == 2, "referenceMatmul: \(a.shape) · \(b.shape) are not matrices")
    let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let n = transposeB ? b.shape[0] : b.shape[1]
    var c = [Float](repeating: 0, count: m * n)
    referenceGemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                  a: a.scalars, lda: a.shape[1], b: b.scalars, ldb: b.shape[1], beta: 0, c: &c, ldc: n)
    return c
}

/// The largest |got − want| / max(1, |want|) over two equally long arrays, where a NaN in `got`
/// that `want` does not have (or the reverse) counts as infinitely wrong — unlike
/// `maxRelativeError`, whose running `max` lets a NaN slip through. Equal NaNs count as 0.
public func kernelRelativeError(_ got: [Float], _ want: [Float]) -> Float {
    precondition(got.count == want.count, "kernelRelativeError of \(got.count) vs \(want.count) values")
    var worst: Float = 0
    for (g, w) in zip(got, want) {
        if g.isNaN || w.isNaN {
            if g.isNaN != w.isNaN { return .infinity }
            continue
        }
        let e = abs(g - w) / max(1, abs(w))
        if !(e <= worst) { worst = e }
    }
    return worst
}

/// Whether two arrays hold the same bit patterns (NaNs included).
public func bitwiseEqual(_ x: [Float], _ y: [Float]) -> Bool {
    x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }
}
