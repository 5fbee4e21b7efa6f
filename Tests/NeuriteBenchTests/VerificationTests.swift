// Benchmarks verify a kernel's result before timing it: a wrong result must be caught and named.

import ArgumentParser
import Neurite
import Testing
@testable import NeuriteBench

@Suite(.serialized) struct VerificationTests {
    let shapes = [GemmShape(label: "square 48", m: 48, n: 48, k: 48),
                  GemmShape(label: "mlp dW", m: 33, n: 20, k: 17, transA: true),
                  GemmShape(label: "mlp fwd", m: 9, n: 31, k: 40, transB: true)]

    @Test func correctKernelPasses() {
        for s in shapes {
            let p = GemmProblem(s)
            var c = [Float](repeating: 0, count: s.m * s.n)
            for t in [1, 2] {
                #expect(p.runAndVerify(isa: .auto, threads: t, into: &c, corruptor: nil) == nil)
            }
        }
    }

    @Test func injectedWrongElementIsCaught() throws {
        let s = shapes[0]
        let p = GemmProblem(s)
        var c = [Float](repeating: 0, count: s.m * s.n)
        // One element of the last row off by 0.5 (row 47 is among the checked rows).
        let failure = try #require(p.runAndVerify(isa: .auto, threads: 1, into: &c) { $0[47 * s.n + 5] += 0.5 })
        #expect(failure.row == 47 && failure.column == 5)
        #expect(failure.relativeError > failure.tolerance)
        let text = failure.description
        #expect(text.contains("verification failed") && text.contains("square 48") && text.contains("[47, 5]"))
        #expect(text.contains("tolerance"))
    }

    @Test func nanIsCaught() throws {
        let s = shapes[2]
        let p = GemmProblem(s)
        var c = [Float](repeating: 0, count: s.m * s.n)
        let failure = try #require(p.runAndVerify(isa: .auto, threads: 2, into: &c) { $0[0] = .nan })
        #expect(failure.row == 0 && failure.column == 0 && failure.got.isNaN)
        #expect(failure.description.contains("NaN"))
    }

    @Test func roundingNoiseIsNotAFailure() {
        let expected: [Float] = [1, -2, 1000, 0]
        let got = expected.map { $0 * (1 + 1e-6) }
        #expect(verifyResult(got, against: expected, columns: 2, tolerance: gemmTolerance(k: 100), label: "x") == nil)
        let bad = verifyResult([1, -2, 1010, 0], against: expected, columns: 2, tolerance: 1e-3, label: "x")
        #expect(bad?.row == 1 && bad?.column == 0)
    }

    /// The benchmark command itself, with the test hook set: the case is reported as failed (no
    /// figure printed) and the command's run ends in an error naming the failure count.
    @Test func gemmCommandRefusesACorruptedResult() throws {
        let bench = try GemmBench.parse(["--threads", "1,2", "--repeat", "1", "--warmup", "0", "--json",
                                         "--allow-debug", "--shape", "40x24x16:nt"])
        var lines: [String] = []
        BenchHooks.resultCorruptor = { $0[$0.count - 1] = -1e6 }
        defer { BenchHooks.resultCorruptor = nil }
        let ok = try bench.runCase(try bench.cases()[0], isa: .auto, threadCounts: [1, 2], peaks: [:], emit: { lines.append($0) })
        #expect(!ok)
        #expect(lines.isEmpty, "a result that failed verification must not be timed: \(lines)")

        BenchHooks.resultCorruptor = nil
        let fine = try bench.runCase(try bench.cases()[0], isa: .auto, threadCounts: [1, 2], peaks: [:], emit: { lines.append($0) })
        #expect(fine && lines.count == 2)
    }
}
