import Testing
import TestSupport
import NeuriteTensor

@Suite struct MatmulTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmulMatchesNaiveLoopForAllTransposes(ta: Bool, tb: Bool) {
        var g = SeededGenerator(seed: 21)
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 16, 33), (64, 10, 100), (5, 1, 0)] {
            let a = Tensor(randomNormal: ta ? [k, m] : [m, k], using: &g)
            let b = Tensor(randomNormal: tb ? [n, k] : [k, n], using: &g)
            let c = Tensor.matmul(a, b, transposeA: ta, transposeB: tb)
            #expect(c.shape == [m, n])
            #expect(maxRelativeError(c.scalars, referenceMatmul(a, transposeA: ta, b, transposeB: tb)) < 1e-5)
            #expect(a.matmul(b, transposeSelf: ta, transposeOther: tb) == c)
        }
    }

    @Test func gemmAccumulatesWithBeta() {
        var g = SeededGenerator(seed: 22)
        let a = Tensor(randomNormal: [6, 4], using: &g), b = Tensor(randomNormal: [6, 5], using: &g)
        let c0 = Tensor(randomNormal: [4, 5], using: &g)
        var c = c0
        Tensor.gemm(a, transposeA: true, b, alpha: 2, beta: 1, into: &c)
        let expected = zip(c0.scalars, referenceMatmul(a, transposeA: true, b)).map { $0 + 2 * $1 }
        #expect(maxRelativeError(c.scalars, expected) < 1e-5)
        #expect(c0 != c)   // the copy kept its values (copy-on-write)
        var d = Tensor(shape: [4, 5], repeating: .nan)
        Tensor.gemm(a, transposeA: true, b, into: &d)   // beta = 0 ignores what was there
        #expect(maxRelativeError(d.scalars, referenceMatmul(a, transposeA: true, b)) < 1e-5)
    }

    @Test func higherRankOperandsAreReadAsRowMatrices() {
        var g = SeededGenerator(seed: 23)
        let x = Tensor(randomNormal: [4, 2, 3], using: &g)   // 4 rows of 6
        let w = Tensor(randomNormal: [6, 5], using: &g)
        #expect(Tensor.matmul(x, w) == Tensor.matmul(x.reshaped([4, 6]), w))
    }

    @Test(arguments: [(1, 1), (1, 17), (17, 1), (31, 33), (64, 64), (70, 45)])
    func transposeMatchesIndexSwap(m: Int, n: Int) {
        var g = SeededGenerator(seed: 24)
        let a = Tensor(randomNormal: [m, n], using: &g)
        let t = a.transposed()
        #expect(t.shape == [n, m])
        for i in 0..<m { for j in 0..<n { #expect(t[j, i] == a[i, j]) } }
        #expect(t.transposed() == a)
    }
}
