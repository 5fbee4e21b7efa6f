import Foundation
import Testing
import TestSupport
import NeuriteTensor

/// Largest |a − b| / max(|b|, floor): relative error, with `floor` keeping results near 0 absolute.
/// Results below this may be flushed to zero (four times the smallest normal float).
let subnormalBand = 4 * Double(Float.leastNormalMagnitude)

func relativeError(_ a: [Float], _ b: [Double], floor: Double = 1e-30) -> Double {
    var worst = 0.0
    for (x, y) in zip(a, b) {
        if x.isNaN && y.isNaN { continue }
        if x.isInfinite || y.isInfinite {
            if Double(x) != y { return .infinity }
            continue
        }
        // Neurite flushes subnormals by default (Runtime.flushesDenormals), so results near the
        // bottom of the normal range may become 0: hold them to an absolute bound instead.
        if abs(y) < subnormalBand {
            if abs(Double(x) - y) > subnormalBand { return .infinity }
            continue
        }
        worst = Swift.max(worst, abs(Double(x) - y) / Swift.max(abs(y), floor))
    }
    return worst
}

/// The inputs every activation is checked on: special points, a dense sweep of [-20, 20] and random
/// values in [-20, 20].
let activationInputs: [Float] = {
    var v: [Float] = [0, -0.0, 1e-8, -1e-8, 1e-3, -1e-3, 1e-20, -1e-20, 0.5, -0.5, 0.625, -0.625, 1, -1,
                      2, -2, 9, -9, 20, -20, 30, -30, 50, -50, 80, -80, 87, -87, 88, -88, 88.5, -88.5]
    for i in -4000...4000 { v.append(Float(i) * 0.005) }
    var g = SeededGenerator(seed: 7)
    for _ in 0..<5000 { v.append(g.nextUnitFloat() * 40 - 20) }
    return v
}()

func apply(_ xs: [Float], _ f: (Tensor) -> Tensor) -> [Float] { f(Tensor(xs)).scalars }

/// Central difference of a Double function.
func centralDifference(_ f: (Double) -> Double, at x: Double) -> Double {
    let h = Swift.max(abs(x), 1) * 1e-6
    return (f(x + h) - f(x - h)) / (2 * h)
}

func sigmoidD(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }
func eluD(_ x: Double, _ a: Double) -> Double { x > 0 ? x : a * Foundation.expm1(x) }

@Suite struct ActivationTests {
    @Test func expMatchesFoundation() {
        var xs = activationInputs
        for i in -8730...8870 { xs.append(Float(i) * 0.01) }
        let err = relativeError(apply(xs) { $0.exp() }, xs.map { Foundation.exp(Double($0)) })
        print("exp: max relative error \(err)")
        #expect(err < 2.5e-7)
    }

    @Test func expSpecialValuesAndDenormals() {
        let xs: [Float] = [.infinity, -.infinity, .nan, 88.72, 88.73, 89, 1000, -87.4, -100, -103, -104, -1000]
        let y = apply(xs) { $0.exp() }
        #expect(y[0] == .infinity)
        #expect(y[1] == 0)
        #expect(y[2].isNaN)
        #expect(y[3].isFinite && abs(Double(y[3]) - Foundation.exp(Double(xs[3]))) / Foundation.exp(Double(xs[3])) < 3e-7)
        #expect(y[4] == .infinity && y[5] == .infinity && y[6] == .infinity)
        // Denormal results: within one denormal step of the truth, or 0 where subnormals are flushed
        // (the default; FloatingPointModeTests checks the IEEE mode).
        for i in 7...10 {
            let truth = Foundation.exp(Double(xs[i]))
            let exact = abs(Double(y[i]) - truth) <= Double(Float.leastNonzeroMagnitude)
            #expect(exact || (y[i] == 0 && truth < subnormalBand), "exp(\(xs[i]))")
        }
        #expect(y[11] == 0)
    }

    @Test func logMatchesFoundation() {
        var xs: [Float] = [1, 2, 0.5, 1e-30, 1e30, Float.leastNormalMagnitude, Float.leastNonzeroMagnitude,
                           1e-40, Float.greatestFiniteMagnitude, 1.0000001, 0.9999999, 1.5, 0.7, 1.41421]
        var g = SeededGenerator(seed: 3)
        for _ in 0..<20000 { xs.append(Foundation.exp(g.nextUnitFloat() * 180 - 90)) }
        for i in 1...4000 { xs.append(Float(i) * 0.001) }
        let err = relativeError(apply(xs) { $0.log() }, xs.map { Foundation.log(Double($0)) })
        print("log: max relative error \(err)")
        #expect(err < 2.5e-7)
        let s = apply([0, -1, .infinity, .nan, -.infinity]) { $0.log() }
        #expect(s[0] == -.infinity && s[1].isNaN && s[2] == .infinity && s[3].isNaN && s[4].isNaN)
    }

    @Test func tanhMatchesFoundation() {
        let xs = activationInputs
        let err = relativeError(apply(xs) { $0.tanh() }, xs.map { Foundation.tanh(Double($0)) })
        print("tanh: max relative error \(err)")
        #expect(err < 3e-7)
        let tiny = Tensor([1e-8, -1e-8, 1e-30]).tanh().scalars
        #expect(abs(tiny[0] - 1e-8) / 1e-8 < 1e-7)
        #expect(abs(tiny[1] + 1e-8) / 1e-8 < 1e-7)
        #expect(tiny[2] == 1e-30)
        let s = apply([.infinity, -.infinity, .nan, 1000]) { $0.tanh() }
        #expect(s[0] == 1 && s[1] == -1 && s[2].isNaN && s[3] == 1)
    }

    @Test func sigmoidMatchesFoundation() {
        var xs = activationInputs
        xs += [-100, -103, 100, 1000, -1000]
        let err = relativeError(apply(xs) { $0.sigmoid() }, xs.map { sigmoidD(Double($0)) },
                                floor: Double(Float.leastNormalMagnitude))
        print("sigmoid: max relative error \(err)")
        #expect(err < 3e-7)
        #expect(Tensor([0]).sigmoid().scalar == 0.5)
    }

    @Test func derivativesMatchClosedFormsAndFiniteDifferences() {
        // Keep away from the kinks at 0 for the finite differences of ReLU-like functions.
        let xs = activationInputs.filter { abs($0) > 1e-4 }
        let sd = xs.map { x -> Double in let e = Foundation.exp(-abs(Double(x))); return e / ((1 + e) * (1 + e)) }
        let errS = relativeError(apply(xs) { $0.sigmoidDerivative() }, sd, floor: 1e-30)
        let td = xs.map { x -> Double in let c = Foundation.cosh(Double(x)); return 1 / (c * c) }
        let errT = relativeError(apply(xs) { $0.tanhDerivative() }, td, floor: 1e-30)
        print("sigmoid' rel error \(errS), tanh' rel error \(errT)")
        #expect(errS < 5e-7)
        #expect(errT < 5e-7)

        // Central differences in Double, h = 1e-6·max(1, |x|): rounding error ~ 1e-16·|f| / h ≈ 1e-10
        // absolute, so derivatives below 1e-3 are compared with an absolute tolerance of 1e-8.
        let fdXs = xs.filter { abs($0) < 15 }
        func fdCheck(_ name: String, _ ours: [Float], _ f: (Double) -> Double) {
            var worst = 0.0
            for (x, d) in zip(fdXs, ours) {
                let fd = centralDifference(f, at: Double(x))
                worst = Swift.max(worst, abs(Double(d) - fd) / Swift.max(abs(fd), 1e-3))
            }
            #expect(worst < 1e-5, "\(name)' vs finite difference: \(worst)")
        }
        fdCheck("sigmoid", apply(fdXs) { $0.sigmoidDerivative() }, sigmoidD)
        fdCheck("tanh", apply(fdXs) { $0.tanhDerivative() }) { Foundation.tanh($0) }
        fdCheck("relu", apply(fdXs) { $0.reluDerivative() }) { Swift.max(0, $0) }
        fdCheck("leakyRelu", apply(fdXs) { $0.leakyReluDerivative(slope: 0.2) }) { $0 > 0 ? $0 : 0.2 * $0 }
        fdCheck("elu", apply(fdXs) { $0.eluDerivative(alpha: 1.5) }) { eluD($0, 1.5) }
    }

    @Test func reluFamily() {
        let xs: [Float] = [-2, -0.5, 0, 0.5, 3, -1e-8, 1e-8]
        #expect(Tensor(xs).relu().scalars == [0, 0, 0, 0.5, 3, 0, 1e-8])
        #expect(Tensor(xs).reluDerivative().scalars == [0, 0, 0, 1, 1, 0, 1])
        #expect(Tensor(xs).leakyRelu(slope: 0.1).scalars == xs.map { Swift.max(0.1 * $0, $0) })
        #expect(Tensor(xs).leakyReluDerivative(slope: 0.1).scalars == [0.1, 0.1, 0.1, 1, 1, 0.1, 1])
        #expect(Tensor(xs).leakyRelu().scalars == xs.map { $0 > 0 ? $0 : 0.1 * $0 })
        #expect(Tensor([Float.nan]).relu().scalar.isNaN)
    }

    @Test func eluMatchesFoundation() {
        let xs = activationInputs
        for alpha: Float in [1, 0.5] {
            let err = relativeError(apply(xs) { $0.elu(alpha: alpha) },
                                    xs.map { eluD(Double($0), Double(alpha)) })
            print("elu(alpha: \(alpha)): max relative error \(err)")
            #expect(err < 3e-7)
            let d = relativeError(apply(xs) { $0.eluDerivative(alpha: alpha) },
                                  xs.map { $0 > 0 ? 1 : Double(alpha) * Foundation.exp(Double($0)) })
            #expect(d < 3e-7)
        }
        #expect(abs(Tensor([-1e-8]).elu().scalar + 1e-8) / 1e-8 < 1e-7)
    }

    @Test func fusedBackwardRules() {
        var g = SeededGenerator(seed: 11)
        let x = Tensor(randomUniform: [7, 13], in: -4...4, using: &g)
        let grad = Tensor(randomNormal: [7, 13], using: &g)
        func close(_ a: Tensor, _ b: Tensor, _ tol: Float = 1e-6) -> Bool {
            a.shape == b.shape && maxRelativeError(a.scalars, b.scalars) < tol
        }
        #expect(close(Tensor.sigmoidBackward(output: x.sigmoid(), gradient: grad), grad * x.sigmoidDerivative()))
        #expect(close(Tensor.tanhBackward(output: x.tanh(), gradient: grad), grad * x.tanhDerivative()))
        #expect(Tensor.reluBackward(input: x, gradient: grad) == grad * x.reluDerivative())
        #expect(Tensor.leakyReluBackward(input: x, gradient: grad, slope: 0.3)
                == grad * x.leakyReluDerivative(slope: 0.3))
        #expect(close(Tensor.eluBackward(input: x, output: x.elu(alpha: 0.7), gradient: grad, alpha: 0.7),
                      grad * x.eluDerivative(alpha: 0.7)))
        // At exactly 0 ReLU passes nothing, ELU passes g·(0 + α).
        let z = Tensor([0, 0]), gz = Tensor([2, 3])
        #expect(Tensor.reluBackward(input: z, gradient: gz).scalars == [0, 0])
        #expect(Tensor.eluBackward(input: z, output: z, gradient: gz, alpha: 0.5).scalars == [1, 1.5])
    }

    @Test(arguments: [1, 15, 16, 17, 33])
    func resultsDoNotDependOnPositionOrTail(n: Int) {
        var g = SeededGenerator(seed: UInt64(n))
        let x = Tensor(randomUniform: [n], in: -10...10, using: &g)
        let ops: [(Tensor) -> Tensor] = [
            { $0.exp() }, { $0.tanh() }, { $0.sigmoid() }, { $0.elu() }, { $0.relu() },
            { ($0 * $0 + 1).log() }, { $0.sigmoidDerivative() }, { $0.tanhDerivative() },
        ]
        for op in ops {
            let whole = op(x).scalars
            let single = x.scalars.map { op(Tensor([$0])).scalar }
            #expect(whole.map(\.bitPattern) == single.map(\.bitPattern))
        }
    }

    @Test func softmaxIsStableAndNormalised() {
        let rows: [[Float]] = [
            [1000, 0, -1000], [-1000, -1000, -1000], [1000, 1000], [1, 2, 3, 4],
            (0..<17).map { Float($0) * 0.5 }, (0..<33).map { -Float($0) * 40 }, [7],
        ]
        for row in rows {
            let s = Tensor(row).softmax().scalars
            #expect(s.allSatisfy { $0.isFinite && $0 >= 0 }, "softmax(\(row)) = \(s)")
            #expect(abs(s.reduce(0, +) - 1) < 1e-6)
            // Against Double.
            let m = Double(row.max()!)
            let e = row.map { Foundation.exp(Double($0) - m) }
            let total = e.reduce(0, +)
            #expect(relativeError(s, e.map { $0 / total }, floor: 1e-30) < 1e-6)
            let ls = Tensor(row).logSoftmax().scalars
            #expect(ls.allSatisfy { $0.isFinite })
            let exact = row.map { Double($0) - m - Foundation.log(total) }
            #expect(zip(ls, exact).allSatisfy { abs(Double($0) - $1) <= 1e-6 * Swift.max(1, abs($1)) })
            // log(softmax) where softmax is representable.
            for (l, p) in zip(ls, s) where p > 1e-30 {
                #expect(abs(l - Foundation.log(p)) <= 1e-5 * Swift.max(1, abs(l)))
            }
        }
    }

    @Test func softmaxWorksRowWiseOverTheLastAxis() {
        var g = SeededGenerator(seed: 5)
        let x = Tensor(randomNormal: [3, 4, 10], standardDeviation: 5, using: &g)
        let s = x.softmax()
        #expect(s.shape == [3, 4, 10])
        for r in 0..<12 {
            let row = Array(s.scalars[(r * 10)..<(r * 10 + 10)])
            #expect(abs(row.reduce(0, +) - 1) < 1e-6)
            #expect(Tensor(Array(x.scalars[(r * 10)..<(r * 10 + 10)])).softmax().scalars == row)
        }
        #expect(x.logSoftmax().shape == [3, 4, 10])
    }

    /// Rows of up to 16 values run 16 at a time, one per lane: every row's softmax, log-softmax and
    /// argmax must be bit for bit what the same row gives alone (one row takes the row-wise path),
    /// for widths 1…17 and rows holding NaN, ±inf, ±0, ties, ±1000 and nothing but −inf. (A NaN's
    /// sign and payload are not part of the result: the compiler may commute an addition.)
    @Test func sixteenRowsAtOnceMatchOneRowAtATime() {
        func same(_ a: [Float], _ b: [Float]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
        }
        var g = SeededGenerator(seed: 8)
        let specials: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, 1000, -1000, 3, 3]
        for width in [1, 2, 3, 10, 15, 16, 17] {
            let rows = 16 * 3 + 5
            var x = Tensor(randomNormal: [rows, width], standardDeviation: 4, using: &g)
            x.withUnsafeMutableBufferPointer { p in
                for (k, v) in specials.enumerated() { p[(k * 7 + 3) % p.count] = v }
                for j in 0..<width { p[5 * width + j] = -.infinity }          // a row of −inf
                for j in 0..<width { p[6 * width + j] = j % 2 == 0 ? 2 : -0.0 } // ties and −0
            }
            let (soft, logSoft, decisions) = (x.softmax(), x.logSoftmax(), x.argmax())
            for r in 0..<rows {
                let row = Tensor(shape: [1, width], scalars: Array(x.scalars[(r * width)..<((r + 1) * width)]))
                let range = (r * width)..<((r + 1) * width)
                #expect(same(Array(soft.scalars[range]), row.softmax().scalars), "softmax, width \(width), row \(r)")
                #expect(same(Array(logSoft.scalars[range]), row.logSoftmax().scalars), "logSoftmax, width \(width), row \(r)")
                #expect(decisions[r] == row.argmax()[0], "argmax, width \(width), row \(r)")
            }
        }
    }
}

/// Long buffers are split over the kernel threads (SIMDMath.inRanges): every element-wise pass
/// must give the same bits at 1, 2 and 3 threads, and the same as on a short buffer (below the split
/// threshold) holding the same values, so no element's result depends on where a range starts.
@Suite struct ParallelElementwiseTests {
    @Test func threadCountAndPositionDoNotChangeBits() {
        let n = 3 * SIMDMath.parallelThreshold + 37   // splits into ranges with a partial last vector
        var g = SeededGenerator(seed: 5)
        let x = Tensor(randomNormal: [n], using: &g) * Tensor(scalar: 4)
        let d = Tensor(randomNormal: [n], using: &g)
        func passes() -> [[Float]] {
            let s = x.sigmoid(), t = x.tanh(), e = x.elu()
            return [x.relu().scalars, Tensor.reluBackward(input: x, gradient: d).scalars, s.scalars,
                    Tensor.sigmoidBackward(output: s, gradient: d).scalars, t.scalars,
                    Tensor.tanhBackward(output: t, gradient: d).scalars, e.scalars,
                    Tensor.eluBackward(input: x, output: e, gradient: d).scalars, (x + d).scalars, (x * d).scalars,
                    x.leakyRelu().scalars]
        }
        let one = Runtime.withThreads(1) { passes() }
        for threads in [2, 3] {
            let many = Runtime.withThreads(threads) { passes() }
            for (i, (a, b)) in zip(one, many).enumerated() {
                #expect(a.elementsEqualBitwise(b), "pass \(i): \(threads) threads differ from 1")
            }
        }
        // The last 1000 values again, alone in a short buffer (one unsplit pass).
        let tail = Tensor(Array(x.scalars.suffix(1000)))
        #expect(tail.sigmoid().scalars.elementsEqualBitwise(Array(one[2].suffix(1000))))
        #expect(tail.tanh().scalars.elementsEqualBitwise(Array(one[4].suffix(1000))))
    }
}

private extension Array where Element == Float {
    func elementsEqualBitwise(_ other: [Float]) -> Bool {
        count == other.count && zip(self, other).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}
