// The SGEMM oracle for kernel tests: a naive triple loop accumulating in Double.

/// C[m x n] = alpha · op(A)[m x k] · op(B)[k x n] + beta · C (row-major, leading dimensions;
/// A stored [k x m] when `transposeA`, B [n x k] when `transposeB`), every product summed in
/// Double and rounded once. `beta == 0` ignores C's old contents (NaNs included).
public func referenceGemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: [Float], lda: Int, b: [Float], ldb: Int, beta: Float, c: inout [Float], ldc: Int
) {
    for i in 0..<m {
        for j in 0..<n {
            var acc = 0.0
            for p in 0..<k {
                let x = transposeA ? a[p * lda + i] : a[i * lda + p]
                let y = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                acc += Double(x) * Double(y)
            }
            let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
            c[i * ldc + j] = Float(Double(alpha) * acc + old)
        }
    }
}
