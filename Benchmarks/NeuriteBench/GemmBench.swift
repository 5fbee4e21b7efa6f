// `neurite-bench gemm`: SGEMM GFLOP/s on square sizes and the MLP's products, per thread count,
// each case verified against the naive kernel before it is timed.

import ArgumentParser
import Neurite

/// One product: C[m x n] = op(A)[m x k] · op(B)[k x n].
struct GemmShape {
    var label: String
    var m, n, k: Int
    var transA = false, transB = false
}

/// The MLP 784-256-128-10's products at one batch size: forward Y = X·Wᵀ, weight gradient
/// dW = dYᵀ·X, input gradient dX = dY·W.
func mlpShapes(batch b: Int) -> [GemmShape] {
    var out: [GemmShape] = []
    for (fanIn, fanOut) in [(784, 256), (256, 128), (128, 10)] {
        let tag = "mlp\(fanIn)-\(fanOut)/b\(b)"
        out.append(GemmShape(label: "\(tag) fwd", m: b, n: fanOut, k: fanIn, transB: true))
        out.append(GemmShape(label: "\(tag) dW", m: fanOut, n: fanIn, k: b, transA: true))
        out.append(GemmShape(label: "\(tag) dX", m: b, n: fanIn, k: fanOut))
    }
    return out
}

struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "SGEMM GFLOP/s: square sizes and the MLP shapes, per thread count.")

    @OptionGroup var common: BenchOptions

    @Option(help: "Comma-separated square sizes (default 64,128,256,512,1024,2048).")
    var sizes: String?

    @Option(name: .customLong("shape"), parsing: .singleValue,
            help: "A product MxNxK, optionally with transposes: MxNxK:tn (t = transposed). Repeatable.")
    var shapes: [String] = []

    @Flag(inversion: .prefixedNo, help: "Include the MLP 784-256-128-10 shapes at batch 64 and 256.")
    var mlp = true

    func cases() throws -> [GemmShape] {
        var out: [GemmShape] = []
        let explicit = sizes != nil || !shapes.isEmpty
        let squares = try (sizes ?? (explicit ? "" : "64,128,256,512,1024,2048")).split(separator: ",").map { s -> Int in
            guard let v = Int(s), v >= 1 else { throw ValidationError("bad size '\(s)'") }
            return v
        }
        out += squares.map { GemmShape(label: "square \($0)", m: $0, n: $0, k: $0) }
        for s in shapes {
            let parts = s.split(separator: ":")
            let dims = parts[0].split(separator: "x").compactMap { Int($0) }
            guard dims.count == 3, dims.allSatisfy({ $0 >= 1 }) else { throw ValidationError("bad --shape '\(s)' (want MxNxK[:tn])") }
            let flags = parts.count > 1 ? Array(parts[1]) : ["n", "n"]
            guard flags.count == 2 else { throw ValidationError("bad transposes in '\(s)' (want e.g. :nt)") }
            out.append(GemmShape(label: String(s), m: dims[0], n: dims[1], k: dims[2],
                                 transA: flags[0] == "t", transB: flags[1] == "t"))
        }
        if mlp && !explicit { out += mlpShapes(batch: 64) + mlpShapes(batch: 256) }
        return out
    }

    func run() throws {
        common.printHeader("gemm")
        let isa = common.resolvedISA
        let blocking = "blocking: " + Kernels.gemmBlockingDescription(isa)
        if common.json { printError(blocking) } else { print(blocking) }
        let threadCounts = try common.threadCounts()
        // The ceiling per thread count, measured with the same ISA (short run).
        var peaks: [Int: Double] = [:]
        for t in threadCounts {
            peaks[t] = peak(isa: isa, threads: t, iterations: 1_000_000, common: common).median
        }
        if !common.json {
            print("peak GFLOP/s: " + threadCounts.map { "\($0)T \(fixed(peaks[$0]!))" }.joined(separator: ", "))
            print(pad("case", 26) + pad("M", 6) + pad("N", 6) + pad("K", 6) + pad("op", 4) + pad("thr", 5)
                  + pad("ms", 10) + pad("min", 9) + pad("max", 9) + pad("GFLOP/s", 9) + pad("speedup", 9)
                  + pad("eff", 6) + pad("%peak", 7))
        }
        var failures = 0
        for shape in try cases() {
            failures += try runCase(shape, isa: isa, threadCounts: threadCounts, peaks: peaks) ? 0 : 1
        }
        if failures > 0 { throw ValidationError("\(failures) case(s) failed verification") }
    }

    /// Times one shape at every thread count; false when a result disagrees with the naive kernel.
    /// Each result line goes to `emit` (standard output by default); `corruptor` is the test hook.
    func runCase(_ s: GemmShape, isa: Kernels.ISA, threadCounts: [Int], peaks: [Int: Double],
                 corruptor: ((inout [Float]) -> Void)? = BenchHooks.resultCorruptor,
                 emit: (String) -> Void = { print($0) }) throws -> Bool {
        let problem = GemmProblem(s)
        let flops = 2.0 * Double(s.m) * Double(s.n) * Double(s.k)
        var oneThread: Double?
        var ok = true
        for t in threadCounts {
            var c = [Float](repeating: 0, count: s.m * s.n)
            if let failure = problem.runAndVerify(isa: isa, threads: t, into: &c, corruptor: corruptor) {
                printError("neurite-bench gemm: \(failure)")
                ok = false
                continue
            }
            let time = measure(warmup: common.warmup, samples: common.repetitions) { problem.run(isa: isa, threads: t, into: &c) }
            let gflops = flops / time.median * 1e-9
            if t == 1 { oneThread = gflops }
            let speedup = oneThread.map { gflops / $0 }
            let efficiency = speedup.map { $0 / Double(t) }
            let peakFraction = peaks[t].map { gflops / $0 }
            if common.json {
                emit(Records.gemm(shape: s, threads: t, isa: isa.rawValue, time: time, gflops: gflops,
                                  speedup: speedup, efficiency: efficiency, peakFraction: peakFraction))
            } else {
                let op = (s.transA ? "t" : "n") + (s.transB ? "t" : "n")
                emit(pad(s.label, 26) + pad("\(s.m)", 6) + pad("\(s.n)", 6) + pad("\(s.k)", 6) + pad(op, 4)
                     + pad("\(t)", 5) + pad(fixed(time.ms, 3), 10) + pad(fixed(time.min * 1e3, 3), 9)
                     + pad(fixed(time.max * 1e3, 3), 9) + pad(fixed(gflops), 9)
                     + pad(speedup.map { fixed($0, 2) } ?? "-", 9) + pad(efficiency.map { fixed($0, 2) } ?? "-", 6)
                     + pad(peakFraction.map { fixed($0 * 100) } ?? "-", 7))
            }
        }
        return ok
    }
}

/// One product's seeded inputs and its reference rows: the naive kernel on a few rows of C
/// (on all of a 2048³ product it takes seconds).
struct GemmProblem {
    let shape: GemmShape
    let a, b: [Float]
    let lda, ldb: Int
    /// Rows of C checked, and their expected values (row-major, `shape.n` wide).
    let rows: [Int]
    let expected: [Float]

    init(_ s: GemmShape) {
        shape = s
        let (aRows, aCols) = s.transA ? (s.k, s.m) : (s.m, s.k)
        let (bRows, bCols) = s.transB ? (s.n, s.k) : (s.k, s.n)
        lda = aCols
        ldb = bCols
        var rng = SeededGenerator(seed: UInt64(s.m * 1_000_003 + s.n * 1009 + s.k))
        let a = (0..<(aRows * aCols)).map { _ in rng.nextUnitFloat() * 2 - 1 }
        let b = (0..<(bRows * bCols)).map { _ in rng.nextUnitFloat() * 2 - 1 }
        let rows = Array(Set([0, 1, s.m / 2, s.m - 2, s.m - 1].filter { $0 >= 0 && $0 < s.m })).sorted()
        var expected: [Float] = []
        for i in rows {
            var row = [Float](repeating: 0, count: s.n)
            a.withUnsafeBufferPointer { ap in
                let aRow = s.transA ? ap.baseAddress! + i : ap.baseAddress! + i * aCols
                Kernels.sgemmNaive(transposeA: s.transA, transposeB: s.transB, m: 1, n: s.n, k: s.k,
                                   a: aRow, lda: aCols, b: b, ldb: bCols, c: &row, ldc: s.n)
            }
            expected += row
        }
        (self.a, self.b, self.rows, self.expected) = (a, b, rows, expected)
    }

    /// C = op(A)·op(B) with the optimised kernel.
    func run(isa: Kernels.ISA, threads: Int, into c: inout [Float]) {
        let s = shape
        Kernels.sgemm(isa: isa, threads: threads, transposeA: s.transA, transposeB: s.transB,
                      m: s.m, n: s.n, k: s.k, a: a, lda: lda, b: b, ldb: ldb, c: &c, ldc: s.n)
    }

    /// Runs the kernel once, lets `corruptor` (default: the test hook) alter the result, and checks
    /// the reference rows. Nil when they agree within `gemmTolerance`.
    func runAndVerify(isa: Kernels.ISA, threads: Int, into c: inout [Float],
                      corruptor: ((inout [Float]) -> Void)? = BenchHooks.resultCorruptor) -> VerificationFailure? {
        run(isa: isa, threads: threads, into: &c)
        corruptor?(&c)
        return verify(c, threads: threads, isa: isa)
    }

    /// Checks the reference rows of `c` (an m×n result).
    func verify(_ c: [Float], threads: Int, isa: Kernels.ISA) -> VerificationFailure? {
        let s = shape
        let got = rows.flatMap { c[($0 * s.n)..<($0 * s.n + s.n)] }
        let op = (s.transA ? "t" : "n") + (s.transB ? "t" : "n")
        guard var failure = verifyResult(got, against: expected, columns: s.n, tolerance: gemmTolerance(k: s.k),
                                            label: "gemm \(s.label) (\(s.m)x\(s.n)x\(s.k) \(op)), \(threads) thread(s), isa \(isa.rawValue)")
        else { return nil }
        failure.row = rows[failure.row]   // report the row of C, not of the checked subset
        return failure
    }
}
