// SGEMM kernel tests: every ISA the machine supports against a Double-accumulating reference, on
// shapes that straddle every block size, all transposes, odd leading dimensions, alpha/beta.

import CNeurite
import Dispatch
import NeuriteTensor
import Testing
import TestSupport

/// The kernel families this machine can run (the others are skipped, not failed).
private let supportedISAs: [nk_isa] = [NK_ISA_REF, NK_ISA_AVX2, NK_ISA_AVX512, NK_ISA_NEON]
    .filter { nk_isa_supported($0) != 0 }

private func blocking(_ isa: nk_isa) -> (mr: Int, nr: Int, mc: Int, kc: Int, nc: Int) {
    var out = [Int32](repeating: 0, count: 5)
    _ = nk_sgemm_blocking(isa, &out)
    return (Int(out[0]), Int(out[1]), Int(out[2]), Int(out[3]), Int(out[4]))
}

/// One product with its operands. Padding columns of A and B hold NaN, so a kernel that reads
/// past a row's width poisons its result; C's padding holds a sentinel that must survive.
private struct GemmCase: CustomStringConvertible {
    var m, n, k: Int
    var transA, transB: Bool
    var alpha, beta: Float
    var lda, ldb, ldc: Int
    var a, b, c: [Float]
    static let sentinel: Float = -12345

    init(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float,
         pad: Int, rng: inout SeededGenerator) {
        (self.m, self.n, self.k, self.transA, self.transB, self.alpha, self.beta) =
            (m, n, k, transA, transB, alpha, beta)
        let (aRows, aCols) = transA ? (k, m) : (m, k)
        let (bRows, bCols) = transB ? (n, k) : (k, n)
        (lda, ldb, ldc) = (aCols + pad, bCols + (pad * 2) % 5, n + (pad + 1) % 3)
        func fill(_ rows: Int, _ cols: Int, _ ld: Int, _ padValue: Float, _ rng: inout SeededGenerator) -> [Float] {
            var x = [Float](repeating: padValue, count: max(1, rows * ld))
            for r in 0..<rows { for q in 0..<cols { x[r * ld + q] = rng.nextUnitFloat() * 2 - 1 } }
            return x
        }
        a = fill(aRows, aCols, lda, .nan, &rng)
        b = fill(bRows, bCols, ldb, .nan, &rng)
        c = fill(m, n, ldc, Self.sentinel, &rng)
        // beta == 0 must not read C: make any read visible.
        if beta == 0 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] = .nan } } }
    }

    var description: String {
        "\(m)x\(n)x\(k) tA=\(transA) tB=\(transB) alpha=\(alpha) beta=\(beta) ld=\(lda),\(ldb),\(ldc)"
    }

    func run(isa: nk_isa, threads: Int32) -> [Float] {
        var out = c
        out.withUnsafeMutableBufferPointer { cp in
            nk_sgemm_ex(isa, threads, transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha,
                        a, Int64(lda), b, Int64(ldb), beta, cp.baseAddress, Int64(ldc))
        }
        return out
    }

    func reference() -> [Float] {
        var out = c
        referenceGemm(transposeA: transA, transposeB: transB, m: m, n: n, k: k, alpha: alpha,
                      a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &out, ldc: ldc)
        return out
    }

    /// Checks `got` against the reference. Tolerance: float summation of k products of values in
    /// [-1, 1] in blocked order drifts like eps·sqrt(k)·|terms|; 1e-4·sqrt(k+1) relative to
    /// max(1, |expected|) is ~1000x that typical error yet far below any indexing mistake (O(1)).
    func check(_ got: [Float], _ label: String) {
        let want = reference()
        let tol = 1e-4 * Float(k + 1).squareRoot()
        var worst: Float = 0
        var bad = 0
        for i in 0..<m {
            for j in 0..<n {
                let g = got[i * ldc + j], w = want[i * ldc + j]
                let err = abs(g - w) / max(1, abs(w))
                if !(err <= tol) { bad += 1 }
                if !(err <= worst) { worst = err }
            }
        }
        #expect(bad == 0, "\(label) \(self): \(bad) elements off, worst relative error \(worst), tolerance \(tol)")
        // Padding of C untouched.
        var padOK = true
        for i in 0..<m { for j in n..<ldc where got[i * ldc + j] != Self.sentinel { padOK = false } }
        #expect(padOK, "\(label) \(self): wrote outside the [m x n] window of C")
    }
}

/// Shapes straddling the ISA's register tile and cache blocks, primes, 0 and 1, in all transposes.
/// At most one dimension is large so the Double reference stays fast.
private func cases(for isa: nk_isa, seed: UInt64) -> [GemmCase] {
    let bl = blocking(isa)
    var rng = SeededGenerator(seed: seed)
    func near(_ x: Int) -> [Int] { [x - 1, x, x + 1] }
    let small = [1, 2, 3, 5, 7, 13] + near(bl.mr) + near(bl.nr)
    let mBig = near(bl.mc) + [2 * bl.mc + 3]
    let nBig = near(bl.nc)
    let kBig = near(bl.kc) + [2 * bl.kc + 1]
    var shapes: [(Int, Int, Int)] = [(0, 0, 0), (0, 5, 3), (4, 0, 3), (3, 4, 0), (1, 1, 1), (37, 41, 43), (97, 300, 130), (300, 97, 130), (40, 50, 140)]
    for _ in 0..<14 {
        let s = { small[Int(rng.next() % UInt64(small.count))] }
        switch rng.next() % 4 {
        case 0: shapes.append((mBig[Int(rng.next() % UInt64(mBig.count))], s(), s() + 10))
        case 1: shapes.append((s(), nBig[Int(rng.next() % UInt64(nBig.count))], s()))
        case 2: shapes.append((s() + 8, s() + 8, kBig[Int(rng.next() % UInt64(kBig.count))]))
        default: shapes.append((s(), s(), s()))
        }
    }
    let scalars: [(Float, Float)] = [(1, 0), (1, 1), (-0.75, 0), (1.5, -0.5), (0, 0.5), (0.5, 2)]
    var out: [GemmCase] = []
    for (index, (m, n, k)) in shapes.enumerated() {
        let (alpha, beta) = scalars[index % scalars.count]
        for t in 0..<4 {
            out.append(GemmCase(m: m, n: n, k: k, transA: t & 1 != 0, transB: t & 2 != 0,
                                alpha: alpha, beta: beta, pad: Int(rng.next() % 4), rng: &rng))
        }
    }
    return out
}

private func bitsEqual(_ x: [Float], _ y: [Float]) -> Bool {
    x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }
}

@Suite struct GemmTests {
    @Test(arguments: supportedISAs.map { Int($0.rawValue) })
    func matchesReferenceOnEveryISA(isaRaw: Int) {
        let isa = nk_isa(rawValue: Int32(isaRaw))
        let name = String(cString: nk_isa_name(isa))
        for c in cases(for: isa, seed: 0x5EED_0000 + UInt64(isaRaw)) {
            let one = c.run(isa: isa, threads: 1)
            c.check(one, name)
            let two = c.run(isa: isa, threads: 2)
            #expect(bitsEqual(one, two), "\(name) \(c): 1 and 2 threads differ")
        }
    }

    /// Products large enough to run on both threads, split along N and along M.
    @Test(arguments: supportedISAs.map { Int($0.rawValue) })
    func threadCountDoesNotChangeBits(isaRaw: Int) {
        let isa = nk_isa(rawValue: Int32(isaRaw))
        var rng = SeededGenerator(seed: 99)
        for (m, n, k) in [(150, 400, 300), (400, 150, 300), (64, 784, 256)] {
            let threshold = Int(nk_sgemm_parallel_threshold())
            #expect(2 * m * n * k >= threshold, "case too small to exercise threads")
            for t in 0..<4 {
                let c = GemmCase(m: m, n: n, k: k, transA: t & 1 != 0, transB: t & 2 != 0,
                                 alpha: 0.5, beta: 0.25, pad: t, rng: &rng)
                let one = c.run(isa: isa, threads: 1)
                #expect(bitsEqual(one, c.run(isa: isa, threads: 2)), "\(c)")
                #expect(bitsEqual(one, c.run(isa: isa, threads: 3)), "\(c)")
            }
        }
    }

    @Test func betaZeroIgnoresNaNAndAlphaZeroOnlyScales() {
        var rng = SeededGenerator(seed: 7)
        for isa in supportedISAs {
            let c = GemmCase(m: 9, n: 33, k: 17, transA: false, transB: true, alpha: 0, beta: 0, pad: 1, rng: &rng)
            let got = c.run(isa: isa, threads: 1)
            for i in 0..<c.m { for j in 0..<c.n { #expect(got[i * c.ldc + j] == 0) } }
            let d = GemmCase(m: 9, n: 33, k: 0, transA: false, transB: false, alpha: 1, beta: 2, pad: 0, rng: &rng)
            let scaled = d.run(isa: isa, threads: 1)
            for i in 0..<d.m { for j in 0..<d.n { #expect(scaled[i * d.ldc + j] == 2 * d.c[i * d.ldc + j]) } }
        }
    }

    /// Several Swift threads calling at once (per-thread pack buffers, no shared scratch).
    @Test func concurrentCallersAgree() {
        var rng = SeededGenerator(seed: 11)
        let c = GemmCase(m: 70, n: 90, k: 300, transA: false, transB: true, alpha: 1, beta: 0, pad: 2, rng: &rng)
        let expected = c.run(isa: NK_ISA_AUTO, threads: 1)
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 8)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            results[i] = bitsEqual(expected, c.run(isa: NK_ISA_AUTO, threads: Int32(1 + i % 2)))
        }
        #expect(results.allSatisfy { $0 })
    }

    @Test func blockingIsConsistent() {
        for isa in supportedISAs {
            let b = blocking(isa)
            #expect(b.mr > 0 && b.nr > 0 && b.kc > 0)
            #expect(b.mc % b.mr == 0 && b.nc % b.nr == 0)
        }
    }
}
