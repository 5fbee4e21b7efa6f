import Testing
import TestSupport
import NeuriteTensor

@Suite struct ElementwiseTests {
    static let sizes = [1, 15, 16, 17, 33]

    func random(_ shape: [Int], seed: UInt64, in range: ClosedRange<Float> = -3...3) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor(randomUniform: shape, in: range, using: &g)
    }

    @Test(arguments: sizes)
    func tensorTensorOperatorsMatchScalarLoops(n: Int) {
        let a = random([n], seed: 1), b = random([n], seed: 2, in: 0.5...3)
        let x = a.scalars, y = b.scalars
        #expect((a + b).scalars == zip(x, y).map { $0 + $1 })
        #expect((a - b).scalars == zip(x, y).map { $0 - $1 })
        #expect((a * b).scalars == zip(x, y).map { $0 * $1 })
        #expect((a / b).scalars == zip(x, y).map { $0 / $1 })
        #expect((-a).scalars == x.map { -$0 })
        #expect(a.squared().scalars == x.map { $0 * $0 })
        #expect(b.sqrt().scalars == y.map { $0.squareRoot() })
        #expect(a.clipped(to: -1...1).scalars == x.map { Swift.min(Swift.max($0, -1), 1) })
        #expect(Tensor.addingScaled(a, b, scale: 0.5).scalars == zip(x, y).map { $0 + 0.5 * $1 })
    }

    @Test(arguments: sizes)
    func scalarOperators(n: Int) {
        let a = random([n], seed: 3, in: 0.5...3)
        let x = a.scalars
        #expect((a + 2).scalars == x.map { $0 + 2 })
        #expect((a - 2).scalars == x.map { $0 - 2 })
        #expect((a * 2).scalars == x.map { $0 * 2 })
        #expect((a / 2).scalars == x.map { $0 / 2 })
        #expect((2 + a).scalars == x.map { 2 + $0 })
        #expect((2 - a).scalars == x.map { 2 - $0 })
        #expect((2 * a).scalars == x.map { 2 * $0 })
        #expect((2 / a).scalars == x.map { 2 / $0 })
    }

    @Test func compoundAssignmentWorksInPlaceAndKeepsCopiesIntact() {
        let original = random([3, 17], seed: 4)
        let other = random([3, 17], seed: 5, in: 1...2)
        var c = original
        c += other
        #expect(c.scalars == zip(original.scalars, other.scalars).map { $0 + $1 })
        #expect(original == random([3, 17], seed: 4))   // the copy did not change the original
        var d = original; d -= other
        #expect(d == original - other)
        var e = original; e *= other
        #expect(e == original * other)
        var f = original; f /= other
        #expect(f == original / other)
        var s = original; s += 1; s -= 0.5; s *= 2; s /= 4
        #expect(s.scalars == original.scalars.map { (($0 + 1) - 0.5) * 2 / 4 })
        #expect(original == random([3, 17], seed: 4))
        var a = original; a.addScaled(other, scale: -2)
        #expect(a == Tensor.addingScaled(original, other, scale: -2))
        var self2 = original; self2 += self2
        #expect(self2 == original * 2)
    }

    @Test(arguments: [1, 15, 16, 17, 33])
    func biasBroadcastOverRows(d: Int) {
        let x = random([5, d], seed: 6), bias = random([d], seed: 7)
        var expected = x.scalars
        for r in 0..<5 { for j in 0..<d { expected[r * d + j] += bias.scalars[j] } }
        #expect((x + bias).scalars == expected)
        #expect((x + bias.reshaped([1, d])).scalars == expected)
        #expect((bias + x).scalars == expected)
        var y = x
        y += bias
        #expect(y.scalars == expected)
        #expect(y.shape == [5, d])
        // Other operators broadcast the same way, and over every leading axis.
        let x3 = random([2, 3, d], seed: 8)
        let m = x3 * bias
        for i in 0..<(6 * d) { #expect(m.scalars[i] == x3.scalars[i] * bias.scalars[i % d]) }
        let q = bias - x3
        for i in 0..<(6 * d) { #expect(q.scalars[i] == bias.scalars[i % d] - x3.scalars[i]) }
        // A rank-0 tensor acts as a scalar.
        #expect(x * Tensor(scalar: 3) == x * 3)
    }

    @Test func emptyTensors() {
        let e = Tensor(shape: [0, 4])
        #expect((e + e).shape == [0, 4])
        #expect((e + Tensor([1, 2, 3, 4])).shape == [0, 4])
        #expect(e.relu().count == 0)
    }
}

/// Tensor.dropout's blocks and generator (its bits against the specification: KernelOpCases).
@Suite struct DropoutKernelTests {
    /// Short and odd lengths: y = x ⊙ mask, every mask value 0 or 1/keep, and the generator moves
    /// on by exactly one draw, so the next call draws a different mask.
    @Test(arguments: [1, 2, 7, 1000, 4097])
    func masksAndAdvancesTheGenerator(_ n: Int) {
        var source = SeededGenerator(seed: 77)
        let x = Tensor(randomNormal: [n], using: &source)
        let keep: Float = 0.7
        var g = SeededGenerator(seed: 99), reference = g
        let (y, bits) = Tensor.dropout(x, keep: keep, generator: &g)
        let mask = bits.tensor(shape: [n])
        #expect(mask.scalars.allSatisfy { $0 == 0 || $0 == 1 / keep })
        #expect(y.scalars == zip(x.scalars, mask.scalars).map { $0 * $1 })
        #expect(bits.bits.count == (n + 15) / 16 && (n % 16 == 0 || bits.bits.last! >> UInt16(n % 16) == 0))
        _ = reference.next()
        #expect(g == reference)
        if n >= 1000 {
            let kept = Double(mask.scalars.filter { $0 != 0 }.count) / Double(n)
            #expect(abs(kept - Double(keep)) < 0.05, "kept \(kept)")
            #expect(Tensor.dropout(x, keep: keep, generator: &g).mask != bits)
        }
    }

    /// Every block of 8 192 values has its own streams: the mask is the same at 1, 2 and 3 threads,
    /// every block keeps about `keep` of its values, and no two blocks repeat a mask.
    @Test func everyBlockHasItsOwnStreams() {
        let block = 8_192, n = 3 * block + 1001
        let x = Tensor(shape: [n], repeating: 1)
        let keep: Float = 0.7
        var masks: [[Float]] = []
        for threads in [1, 2, 3] {
            Runtime.withThreads(threads) {
                var g = SeededGenerator(seed: 5)
                masks.append(Tensor.dropout(x, keep: keep, generator: &g).mask.tensor(shape: [n]).scalars)
            }
        }
        #expect(masks[1] == masks[0] && masks[2] == masks[0])
        let blocks = stride(from: 0, to: n, by: block).map { Array(masks[0][$0..<min($0 + block, n)]) }
        for b in blocks {
            let kept = Double(b.filter { $0 != 0 }.count) / Double(b.count)
            #expect(abs(kept - Double(keep)) < 0.03, "kept \(kept)")
        }
        for i in 0..<3 { for j in (i + 1)..<3 { #expect(blocks[i] != blocks[j]) } }
    }

    /// Backward through the keep bits is bit for bit the gradient times the float mask, at 1 and
    /// 2 threads: NaN stays NaN, a dropped negative or −0 value gives −0, a dropped infinity NaN.
    @Test(arguments: [1, 17, 1000, 2 * 8_192 + 5])
    func backwardIsTheProductWithTheMask(_ n: Int) {
        var source = SeededGenerator(seed: 3)
        let x = Tensor(randomNormal: [n], using: &source)
        var dy = Tensor(randomNormal: [n], using: &source)
        dy.withUnsafeMutableBufferPointer { p in
            for (i, v) in [Float.nan, .infinity, -.infinity, -0.0, -2.5].enumerated() where i < n { p[i] = v }
        }
        var g = SeededGenerator(seed: 4)
        let mask = Tensor.dropout(x, keep: 0.6, generator: &g).mask
        let want = zip(dy.scalars, mask.tensor(shape: [n]).scalars).map { $0 * $1 }
        for threads in [1, 2] {
            Runtime.withThreads(threads) {
                #expect(bitwiseEqual(mask.backward(dy).scalars, want))
            }
        }
    }
}
