import Testing
import NeuriteTensor
import CNeurite

@Suite struct TensorCoreTests {
    @Test func copyOnWriteKeepsValueSemantics() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        var b = a
        b[1, 2] = 60
        #expect(a[1, 2] == 6)
        #expect(b[1, 2] == 60)
        #expect(b.shape == [2, 3])
    }

    @Test func reshapeInfersOneExtent() {
        let a = Tensor(shape: [2, 3, 4], repeating: 1)
        #expect(a.reshaped([-1, 4]).shape == [6, 4])
        #expect(a.reshaped([24]).count == 24)
    }

    @Test func rowsAndGatheredRows() {
        let a = Tensor(shape: [4, 2], scalars: [0, 1, 10, 11, 20, 21, 30, 31])
        #expect(a.rows(1..<3).scalars == [10, 11, 20, 21])
        #expect(a.gatheringRows([3, 0]).scalars == [30, 31, 0, 1])
        #expect(a.gatheringRows([Int]()).shape == [0, 2])
        var g = SeededGenerator(seed: 3)
        let big = Tensor(randomNormal: [300, 97], using: &g)
        let order = g.permutation(300)
        let gathered = Runtime.withThreads(2) { big.gatheringRows(order) }
        for (i, r) in order.enumerated() where i % 17 == 0 {
            #expect(gathered.rows(i..<(i + 1)).scalars == big.rows(r..<(r + 1)).scalars)
        }
    }

    /// A thread limit set inside another is undone to the outer one, not to none (the trainer's
    /// shard workers run under a limit, and the kernels they call may set their own).
    @Test func nestedThreadLimitsRestoreTheOuterOne() {
        Runtime.withThreadLimit(5) {
            Runtime.withThreadLimit(1) { #expect(Runtime.threads == 1) }
            #expect(nk_get_thread_limit() == 5 && Runtime.threads == 5)
        }
        #expect(nk_get_thread_limit() == 0)
    }

    @Test func storageIs64ByteAligned() {
        for n in [1, 3, 17, 1000] {
            let t = Tensor(shape: [n], repeating: 0)
            t.withUnsafeBufferPointer { #expect(UInt(bitPattern: $0.baseAddress!) % 64 == 0) }
        }
    }

    @Test func seededGeneratorIsReproducibleAndRestorable() {
        var g1 = SeededGenerator(seed: 42)
        var g2 = SeededGenerator(seed: 42)
        let a = Tensor(randomNormal: [100], using: &g1)
        let b = Tensor(randomNormal: [100], using: &g2)
        #expect(a == b)
        let saved = g1.stateWords
        let x = g1.next()
        var g3 = SeededGenerator(stateWords: saved)
        #expect(g3.next() == x)
        var g4 = SeededGenerator(seed: 43)
        #expect(Tensor(randomNormal: [100], using: &g4) != a)
    }

    @Test func normalSamplesHaveTheRightMoments() {
        var g = SeededGenerator(seed: 7)
        let t = Tensor(randomNormal: [100_000], mean: 2, standardDeviation: 3, using: &g)
        let s = t.scalars.map(Double.init)
        let mean = s.reduce(0, +) / Double(s.count)
        let variance = s.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(s.count)
        #expect(abs(mean - 2) < 0.05)
        #expect(abs(variance.squareRoot() - 3) < 0.05)
        var u = SeededGenerator(seed: 8)
        let uni = Tensor(randomUniform: [10_000], in: -2...5, using: &u).scalars
        #expect(uni.allSatisfy { $0 >= -2 && $0 < 5 })
    }
}
