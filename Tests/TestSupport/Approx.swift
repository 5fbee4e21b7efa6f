// Helpers shared by the test targets: reference kernels, gradient checks, approximate equality.
import NeuriteTensor

/// Largest |a - b| / max(1, |b|) over two equally long sequences.
public func maxRelativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "maxRelativeError of \(a.count) vs \(b.count) values")
    var worst: Float = 0
    for (x, y) in zip(a, b) { worst = max(worst, abs(x - y) / max(1, abs(y))) }
    return worst
}
