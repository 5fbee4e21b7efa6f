// SGEMM tests outside the op table (KernelOpTests runs the products against the reference on every
// ISA and thread count): beta/alpha special cases, concurrent callers, the blocking's invariants.

import CNeurite
import Dispatch
import NeuriteTensor
import Testing
import TestSupport

private let supportedISAs = KernelISAs.supported

private func blocking(_ isa: nk_isa) -> (mr: Int, nr: Int, mc: Int, kc: Int, nc: Int) {
    var out = [Int32](repeating: 0, count: 5)
    _ = nk_sgemm_blocking(isa, &out)
    return (Int(out[0]), Int(out[1]), Int(out[2]), Int(out[3]), Int(out[4]))
}

@Suite struct GemmTests {
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
            results[i] = bitwiseEqual(expected, c.run(isa: NK_ISA_AUTO, threads: 1 + i % 2))
        }
        #expect(results.allSatisfy { $0 })
    }

    @Test func blockingIsConsistent() {
        for isa in supportedISAs {
            let b = blocking(isa)
            #expect(b.mr > 0 && b.nr > 0 && b.kc > 0)
            #expect(b.mc % b.mr == 0 && b.nc % b.nr == 0)
            // KC fixes the summation order: the same for every ISA (bitwise identity across them).
            #expect(b.kc == blocking(NK_ISA_REF).kc)
            #expect(String(cString: nk_sgemm_blocking_text(isa)).contains("MC \(b.mc) KC \(b.kc) NC \(b.nc)"))
        }
    }
}
