// Result verification shared by the benchmarks: a kernel's output is compared with a reference
// before anything is timed, and a mismatch is reported with enough detail to act on.

import Neurite

/// Why a benchmark result was rejected: which case, which element, by how much, against what bound.
struct VerificationFailure: Error, CustomStringConvertible, Equatable {
    var label: String
    /// Row and column of the worst element in the checked matrix (row-major, `columns` wide).
    var row, column: Int
    var got, expected: Float
    var relativeError: Float
    var tolerance: Float

    var description: String {
        let value = got.isNaN ? "NaN" : "\(got)"
        return "verification failed: \(label): worst element [\(row), \(column)] is \(value), "
            + "expected \(expected) (relative error \(relativeError), tolerance \(tolerance))"
    }
}

/// Hooks for the tests only. The benchmarks never set them; a test sets one to show that a wrong
/// kernel result is caught by verification rather than timed and reported as a figure.
enum BenchHooks {
    /// Applied to each kernel result just before it is verified (after the real kernel ran).
    nonisolated(unsafe) static var resultCorruptor: ((inout [Float]) -> Void)?
}

/// Compares `got` with `expected` element by element with a relative error `|g - e| / max(1, |e|)`
/// (absolute near zero). Returns nil when every element is within `tolerance`, otherwise the worst
/// element; a NaN anywhere counts as a failure.
func verifyResult(_ got: [Float], against expected: [Float], columns: Int, tolerance: Float, label: String)
    -> VerificationFailure? {
    precondition(got.count == expected.count && columns > 0, "verify: mismatched sizes")
    var worst: Float = 0, at = 0
    for i in got.indices {
        let err = abs(got[i] - expected[i]) / max(1, abs(expected[i]))
        if !(err <= worst) { worst = err; at = i }   // NaN compares false: it wins and stays
        if worst.isNaN { break }
    }
    if worst <= tolerance { return nil }
    return VerificationFailure(label: label, row: at / columns, column: at % columns, got: got[at],
                               expected: expected[at], relativeError: worst, tolerance: tolerance)
}

/// The tolerance for a float sum of `k` products of values in [-1, 1], blocked vs sequential
/// order: rounding error grows like sqrt(k).
func gemmTolerance(k: Int) -> Float { 1e-4 * Float(k).squareRoot() }
