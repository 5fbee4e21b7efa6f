// Kernel tests as one op table (KernelOpCases.swift): every case against its reference on every
// ISA this machine has (the others are named as skipped), bitwise the same on every ISA, and —
// in an OpenMP build — bitwise the same at 1, 2 and 3 threads (3 > the cores of a small machine:
// oversubscribed, and work that splits unevenly). A build without OpenMP reports the
// thread-count cases as skipped instead of re-running one thread three times.

import CNeurite
import NeuriteTensor
import Testing
import TestSupport

/// Serialized: cases switch the process-wide active ISA (see withActiveISA).
@Suite(.serialized) struct KernelOpTests {
    /// Names the ISAs the table skips, once per run.
    @Test func reportsSkippedISAs() {
        let skipped = KernelISAs.skipped.map(KernelISAs.name)
        print("KernelOpTests: testing \(KernelISAs.supported.map(KernelISAs.name).joined(separator: ", "))"
              + (skipped.isEmpty ? "" : "; skipping \(skipped.joined(separator: ", ")) (not supported by this machine or build)"))
        #expect(KernelISAs.supported.contains(NK_ISA_REF))
    }

    @Test(arguments: kernelOpCases)
    func matchesReferenceOnEveryISA(_ c: KernelOpCase) {
        let want = c.reference()
        var first: (isa: nk_isa, outputs: [[Float]])?
        for isa in KernelISAs.supported {
            let got = c.run(isa, 1)
            #expect(got.count == want.count)
            for (i, (g, w)) in zip(got, want).enumerated() {
                let err = kernelRelativeError(g, w)
                #expect(err <= c.tolerances[i], "\(c) output \(i) on \(KernelISAs.name(isa)): relative error \(err), tolerance \(c.tolerances[i])")
            }
            if let first {
                for (i, (g, f)) in zip(got, first.outputs).enumerated() {
                    #expect(bitwiseEqual(g, f), "\(c) output \(i): \(KernelISAs.name(isa)) and \(KernelISAs.name(first.isa)) differ")
                }
            } else {
                first = (isa, got)
            }
        }
    }

    @Test(.enabled(if: nk_openmp_enabled() != 0, "a build without OpenMP runs every kernel on one thread"),
          arguments: kernelOpCases)
    func threadCountDoesNotChangeBits(_ c: KernelOpCase) {
        for isa in KernelISAs.supported {
            let one = c.run(isa, 1)
            for threads in [2, 3] {
                let got = c.run(isa, threads)
                for (i, (g, o)) in zip(got, one).enumerated() {
                    #expect(bitwiseEqual(g, o), "\(c) output \(i) on \(KernelISAs.name(isa)): \(threads) threads differ from 1")
                }
            }
        }
    }

    /// The byte-row gather's conversion (value / 255 without the divider on AVX2 and AVX-512, see
    /// memory.c) gives the correctly rounded quotient, the float copy's bits, for each of the 256
    /// byte values on every ISA, in rows whose lengths leave vector tails.
    @Test func byteRowsConvertToTheQuotientOnEveryISA() {
        let width = 37, n = 256 * 3 / width + 1
        let bytes = (0..<(n * width)).map { UInt8(truncatingIfNeeded: $0 * 7) } // every value, shuffled
        let source = UnitByteRows(bytes: bytes, rowCount: n, rowShape: [width])
        let want = bytes.map { (Float($0) / 255).bitPattern }
        #expect(Set(bytes).count == 256)
        for isa in KernelISAs.supported {
            let got = withActiveISA(isa) { source.gatheringRows(Array(0..<n)) }
            #expect(got.scalars.map(\.bitPattern) == want, "\(KernelISAs.name(isa))")
        }
    }
}
