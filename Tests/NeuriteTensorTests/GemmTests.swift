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

    /// Several Swift threads calling at once (per-thread pack buffers; a claimed product's shared
    /// packed A lives in its calling thread's own buffer, and a caller that finds the team busy
    /// runs every part, and packs every piece of A, itself).
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

    /// The epilogue (bias, ReLU, dropout mask, ReLU gate, column sums) gives the bits of the plain product followed
    /// by the separate passes it replaces, on every ISA and at 1–3 threads, for products that split
    /// along N and along M, one below the parallel threshold, and K = 0 (no product: the epilogue
    /// alone). The bias, the gate and the summed rows hold NaN, ±0, ±∞ and negatives.
    @Test func epilogueMatchesTheSeparatePasses() {
        var rng = SeededGenerator(seed: 21)
        let specials: [Float] = [.nan, 0, -0.0, .infinity, -.infinity, -1, 3]
        func values(_ count: Int, specials: [Float] = []) -> [Float] {
            (0..<count).map { i in
                !specials.isEmpty && i % 11 == 5 ? specials[(i / 11) % specials.count] : rng.nextUnitFloat() * 2 - 1
            }
        }
        for (m, n, k) in [(64, 256, 120), (300, 40, 64), (64, 10, 128), (9, 33, 17), (7, 20, 0)] {
            // Specials in the operands would make every product NaN; K = 0 puts them through the ReLU.
            let a = values(m * k), b = values(k * n), bias = values(n, specials: specials)
            let gate = values(m * n, specials: specials)
            let summed = values(37 * n, specials: specials), sumsStart = values(n, specials: specials)
            for isa in supportedISAs {
                for threads in 1...3 {
                    // Separately: bias rows, product with beta 1, then ReLU / gate; column sums top to bottom.
                    var plain = [Float](repeating: 0, count: m * n)
                    for i in 0..<m { for j in 0..<n { plain[i * n + j] = bias[j] } }
                    nk_sgemm_ex(isa, Int32(threads), 0, 1, Int64(m), Int64(n), Int64(k), 1, a, Int64(max(k, 1)),
                                b, Int64(max(k, 1)), 1, &plain, Int64(n))
                    let relu = plain.map { $0 < 0 ? 0 : $0 }
                    // Dropout's backward (keep bits, 16 a word, some words not on a row's start) then the gate.
                    let keep = (0..<((m * n + 15) / 16)).map { _ in UInt16(truncatingIfNeeded: rng.next()) }
                    let scale: Float = 1.25
                    let dropped = plain.indices.map { v in plain[v] * ((keep[v / 16] >> UInt16(v % 16)) & 1 == 1 ? scale : 0) }
                    let gated = zip(dropped, gate).map { c, g in g > 0 ? c : 0 }
                    var sums = sumsStart
                    for j in 0..<n { var acc = sums[j]; for i in 0..<37 { acc += summed[i * n + j] }; sums[j] = acc }

                    var e = nk_sgemm_epilogue()
                    var fusedRelu = [Float](repeating: .nan, count: m * n)
                    bias.withUnsafeBufferPointer { bp in
                        e.bias = bp.baseAddress
                        e.relu = 1
                        nk_sgemm_fused(isa, Int32(threads), 0, 1, Int64(m), Int64(n), Int64(k), 1, a, Int64(max(k, 1)),
                                       b, Int64(max(k, 1)), 0, &fusedRelu, Int64(n), &e)
                    }
                    #expect(bitwiseEqual(fusedRelu, relu), "bias + ReLU \(m)x\(n)x\(k) \(KernelISAs.name(isa)) \(threads) t")

                    var fusedGate = [Float](repeating: 0, count: m * n)
                    for i in 0..<m { for j in 0..<n { fusedGate[i * n + j] = bias[j] } }
                    var fusedSums = sumsStart
                    e = nk_sgemm_epilogue()
                    gate.withUnsafeBufferPointer { gp in
                        summed.withUnsafeBufferPointer { sp in
                            fusedSums.withUnsafeMutableBufferPointer { out in
                                keep.withUnsafeBufferPointer { kp in
                                e.keep_bits = kp.baseAddress
                                e.keep_scale = scale
                                e.gate = gp.baseAddress
                                e.ldgate = Int64(n)
                                e.sum_of = sp.baseAddress
                                e.sum_rows = 37
                                e.sum_width = Int64(n)
                                e.column_sums = out.baseAddress
                                e.sum_accumulate = 1
                                nk_sgemm_fused(isa, Int32(threads), 0, 1, Int64(m), Int64(n), Int64(k), 1, a, Int64(max(k, 1)),
                                               b, Int64(max(k, 1)), 1, &fusedGate, Int64(n), &e)
                                }
                            }
                        }
                    }
                    #expect(bitwiseEqual(fusedGate, gated), "dropout + gate \(m)x\(n)x\(k) \(KernelISAs.name(isa)) \(threads) t")
                    #expect(bitwiseEqual(fusedSums, sums), "column sums \(m)x\(n)x\(k) \(KernelISAs.name(isa)) \(threads) t")
                }
            }
        }
    }

    /// A short A times a wide transposed B (a dense layer's forward, computed as Cᵀ = B·Aᵀ with B
    /// read in place, gemm.c's swaps_operands) gives the bits of the same product with B stored
    /// untransposed (never swapped), on every ISA at 1–4 threads: with bias and ReLU, with beta 0
    /// over a C of NaN, with beta 1; shapes with edge strips and panels (N, M off MR and NR), K
    /// over several KC blocks, and shapes the rule leaves straight at some thread counts.
    @Test func swappedProductsMatchTheStraightProduct() {
        var rng = SeededGenerator(seed: 41)
        for (m, n, k) in [(64, 256, 784), (64, 300, 50), (40, 200, 300), (5, 64, 9), (33, 1030, 7), (64, 512, 600)] {
            let a = (0..<(m * k)).map { _ in rng.nextUnitFloat() * 2 - 1 }
            let b = (0..<(n * k)).map { _ in rng.nextUnitFloat() * 2 - 1 }
            var bT = [Float](repeating: 0, count: k * n) // B stored [K x N]
            for j in 0..<n { for p in 0..<k { bT[p * n + j] = b[j * k + p] } }
            let bias = (0..<n).map { i in i % 9 == 4 ? -0.0 : rng.nextUnitFloat() * 2 - 1 }
            let start = (0..<(m * n)).map { _ in rng.nextUnitFloat() * 2 - 1 }
            for isa in supportedISAs {
                for threads in 1...4 {
                    for form in ["bias + ReLU", "beta 0", "beta 1"] {
                        let beta: Float = form == "beta 1" ? 1 : 0, alpha: Float = form == "bias + ReLU" ? 1 : 0.75
                        var swapped = form == "beta 1" ? start : [Float](repeating: .nan, count: m * n)
                        var straight = swapped
                        bias.withUnsafeBufferPointer { bp in
                            var e = nk_sgemm_epilogue()
                            e.bias = bp.baseAddress
                            e.relu = 1
                            withUnsafePointer(to: &e) { ep in
                                let epilogue = form == "bias + ReLU" ? ep : nil
                                nk_sgemm_fused(isa, Int32(threads), 0, 1, Int64(m), Int64(n), Int64(k), alpha, a, Int64(k),
                                               b, Int64(k), beta, &swapped, Int64(n), epilogue)
                                nk_sgemm_fused(isa, Int32(threads), 0, 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(k),
                                               bT, Int64(n), beta, &straight, Int64(n), epilogue)
                            }
                        }
                        #expect(bitwiseEqual(swapped, straight), "\(form) \(m)x\(n)x\(k) \(KernelISAs.name(isa)) \(threads) t")
                    }
                }
            }
        }
    }

    /// An affine layer's two backward products as one region (`Tensor.affineGradients`,
    /// nk_sgemm_fused_pair) give the bits of the two separate products at 1–4 threads (each product
    /// whole on its own thread at 2, on half the team at 4, on all of it at 3): products that split,
    /// products too small to split (run side by side, or both inline when together below the
    /// parallel threshold: 64×128→10), accumulating into the gradients or not, with a ReLU gate
    /// holding NaN, ±0 and negatives on the input gradient.
    @Test func affineGradientsMatchTheSeparateProducts() {
        var g = SeededGenerator(seed: 31)
        for (batch, inputs, outputs) in [(64, 256, 128), (64, 256, 12), (64, 128, 10), (5, 7, 3), (70, 33, 300)] {
            let delta = Tensor(randomNormal: [batch, outputs], using: &g)
            let x = Tensor(randomNormal: [batch, inputs], using: &g)
            let w = Tensor(randomNormal: [outputs, inputs], using: &g)
            var gateValues = Tensor(randomNormal: [batch, inputs], using: &g).scalars
            for i in Swift.stride(from: 3, to: gateValues.count, by: 17) { gateValues[i] = [.nan, 0, -0.0, -2][i % 4] }
            let gate = Tensor(shape: [batch, inputs], scalars: gateValues)
            let dwStart = Tensor(randomNormal: [outputs, inputs], using: &g), dbStart = Tensor(randomNormal: [outputs], using: &g)
            for beta: Float in [0, 1] {
                for threads in 1...4 {
                    Runtime.withThreads(threads) {
                        var dw = dwStart, db = dbStart, dx = Tensor(shape: [batch, inputs], repeating: 0)
                        Tensor.gemm(delta, transposeA: true, x, beta: beta, into: &dw, columnSumsOf: delta, into: &db, sumsBeta: beta)
                        Tensor.gemm(delta, w, into: &dx, epilogue: GemmEpilogue(gate: gate))
                        var pw = dwStart, pb = dbStart, px = Tensor(shape: [batch, inputs], repeating: 0)
                        Tensor.affineGradients(delta: delta, input: x, weight: w, gradientBeta: beta, weightGradient: &pw,
                                               biasGradient: &pb, inputGradient: &px, epilogue: GemmEpilogue(gate: gate))
                        let what = "\(batch)x\(inputs)->\(outputs) beta \(beta) \(threads) t"
                        #expect(bitwiseEqual(pw.scalars, dw.scalars), "weight gradient \(what)")
                        #expect(bitwiseEqual(pb.scalars, db.scalars), "bias gradient \(what)")
                        #expect(bitwiseEqual(px.scalars, dx.scalars), "input gradient \(what)")
                    }
                }
            }
        }
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
