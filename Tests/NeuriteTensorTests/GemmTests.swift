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

    /// The cache model (Low et al. 2016) on the two profiles of issue 10, for every ISA here.
    @Test func cacheModelOnIntelAndZen4Profiles() {
        func model(_ isa: nk_isa, _ profile: String) -> [Int]? {
            var out = [Int32](repeating: 0, count: 6)
            let used = profile.withCString { nk_sgemm_blocking_for_caches(isa, $0, &out) }
            return used < 0 ? nil : out.map(Int.init)
        }
        for isa in supportedISAs {
            guard let intel = model(isa, "l1d:48K/12,l2:2M/16"), let zen4 = model(isa, "l1d:32K/8,l2:1M/8"),
                  let big = model(isa, "l2:4M/16")
            else { Issue.record("profile did not parse"); continue }
            let (mr, nr) = (intel[0], intel[1])
            for b in [intel, zen4, big] {
                #expect(b[2] % mr == 0 && b[4] % nr == 0 && b[2] >= mr && b[4] >= nr, "\(b)")
                #expect(b[3] == blocking(NK_ISA_REF).kc, "KC is the same for every cache profile: \(b)")
            }
            // A larger L2 never gives a smaller A block; a 32 KiB 8-way L1 asks for a shallower KC.
            #expect(intel[2] >= zen4[2] && big[2] >= intel[2])
            #expect(zen4[5] <= intel[5])
            if isa == NK_ISA_AVX512 {
                // 8x32 tile: L1 48K/12 -> floor(11 / 5) = 2 ways of 4 KiB for A -> KC 256; 32K/8 -> 1 way
                // -> 128. L2 2M/16 (128 KiB ways): B takes 1, C 1, A half of the other 14 -> 7 ways
                // -> MC 896; Zen 4's 1M/8 -> 3 ways -> 384.
                #expect(intel[5] == 256 && zen4[5] == 128)
                #expect(intel[2] == 896 && zen4[2] == 384)
            }
        }
        var out = [Int32](repeating: 0, count: 6)
        #expect(nk_sgemm_blocking_for_caches(NK_ISA_AUTO, "nonsense", &out) == -1)
    }
}
