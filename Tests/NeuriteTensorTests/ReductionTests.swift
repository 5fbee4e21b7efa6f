import Testing
import TestSupport
import NeuriteTensor

@Suite struct ReductionTests {
    func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor(randomNormal: shape, using: &g)
    }

    @Test(arguments: [1, 15, 16, 17, 33, 64, 100, 5000, 10_000])
    func wholeTensorReductionsMatchLoops(n: Int) {
        let a = random([n], seed: UInt64(n)), b = random([n], seed: UInt64(n) + 1)
        let x = a.scalars.map(Double.init), y = b.scalars.map(Double.init)
        let sum = x.reduce(0, +)
        let tol = 1e-6 * Double(n).squareRoot() * 4
        #expect(abs(Double(a.sum()) - sum) <= tol)
        #expect(abs(Double(a.mean()) - sum / Double(n)) <= tol / Double(n))
        #expect(abs(Double(a.squaredNorm()) - x.map { $0 * $0 }.reduce(0, +)) <= tol * 10)
        #expect(abs(Double(a.dot(b)) - zip(x, y).map { $0 * $1 }.reduce(0, +)) <= tol * 10)
        #expect(a.max() == a.scalars.max()!)
        #expect(a.min() == a.scalars.min()!)
        // Deterministic.
        #expect(a.sum().bitPattern == a.sum().bitPattern)
    }

    @Test func sumOfManyOnesIsExact() {
        let a = Tensor(shape: [3_000_001], repeating: 1)
        #expect(a.sum() == 3_000_001)
        #expect(a.mean() == 1)
    }

    @Test(arguments: [1, 15, 16, 17, 33, 64, 65, 130])
    func sumAlongAxis0IsTheBiasGradient(d: Int) {
        let a = random([37, d], seed: 9)
        let s = a.sum(alongAxis: 0)
        #expect(s.shape == [d])
        var expected = [Float](repeating: 0, count: d)
        for r in 0..<37 { for j in 0..<d { expected[j] += a.scalars[r * d + j] } }
        #expect(maxRelativeError(s.scalars, expected) < 1e-5)
        #expect(maxRelativeError(a.mean(alongAxis: 0).scalars, expected.map { $0 / 37 }) < 1e-6)
    }

    @Test func sumAlongEveryAxisOfARank3Tensor() {
        let shape = [3, 5, 17]
        let a = random(shape, seed: 10)
        let x = a.scalars
        for axis in 0..<3 {
            let s = a.sum(alongAxis: axis)
            var outShape = shape; outShape.remove(at: axis)
            #expect(s.shape == outShape)
            var expected = [Float](repeating: 0, count: s.count)
            for i in 0..<3 { for j in 0..<5 { for k in 0..<17 {
                let v = x[(i * 5 + j) * 17 + k]
                let o: Int
                switch axis {
                case 0: o = j * 17 + k
                case 1: o = i * 17 + k
                default: o = i * 5 + j
                }
                expected[o] += v
            } } }
            #expect(maxRelativeError(s.scalars, expected) < 1e-5)
        }
        #expect(a.sum(alongAxis: -1) == a.sum(alongAxis: 2))
    }

    @Test func argmaxPerRowWithTiesToTheFirst() {
        let a = Tensor(shape: [3, 4], scalars: [1, 5, 5, 0, -1, -2, -3, -1, 0, 0, 0, 0])
        #expect(a.argmax() == [1, 0, 0])
        #expect(Tensor([3, 9, 2]).argmax() == [1])
        for width in [1, 15, 16, 17, 33] {
            let r = random([6, width], seed: UInt64(width))
            let x = r.scalars
            let expected = (0..<6).map { row -> Int in
                let slice = Array(x[(row * width)..<(row * width + width)])
                return slice.firstIndex(of: slice.max()!)!
            }
            #expect(r.argmax() == expected)
        }
    }

    @Test func extremaIgnoreNaNAndHandleInfinity() {
        #expect(Tensor([1, .nan, 3]).max() == 3)
        #expect(Tensor([1, .nan, 3]).min() == 1)
        #expect(Tensor([-.infinity, -.infinity]).max() == -.infinity)
        #expect(Tensor([.nan]).max().isNaN)
    }
}
