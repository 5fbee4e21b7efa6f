import Foundation
import Testing
import TestSupport
@testable import Neurite

@Suite struct NormalizationTests {
    /// [N, 3] columns: large offset and spread, small values, constant.
    func sample(_ n: Int, seed: UInt64) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        return Tensor(shape: [n, 3], scalars: (0..<n).flatMap { _ in
            [1000 + 50 * rng.nextNormal(), 0.01 * rng.nextNormal(), 7]
        })
    }

    func columnMoments(_ x: Tensor) -> (mean: [Double], std: [Double]) {
        let w = x.rowWidth, n = x.rowCount, v = x.scalars
        let mean = (0..<w).map { c in (0..<n).reduce(0.0) { $0 + Double(v[$1 * w + c]) } / Double(n) }
        let std = (0..<w).map { c in
            ((0..<n).reduce(0.0) { let d = Double(v[$1 * w + c]) - mean[c]; return $0 + d * d } / Double(n)).squareRoot()
        }
        return (mean, std)
    }

    @Test func standardizerGivesZeroMeanUnitStdOnTrainColumns() {
        let train = sample(500, seed: 1)
        let s = Standardizer(fitting: train)
        #expect(s.std[2] == 1)   // constant column is left unscaled
        let m = columnMoments(s.transform(train))
        for c in 0..<2 {
            #expect(abs(m.mean[c]) < 1e-4)
            #expect(abs(m.std[c] - 1) < 1e-4)
        }
        #expect(m.mean[2] == 0 && m.std[2] == 0)
    }

    @Test func standardizerInverseAndCodable() throws {
        let train = sample(50, seed: 2), other = sample(10, seed: 3)
        let s = Standardizer(fitting: train)
        #expect(maxRelativeError(s.inverseTransform(s.transform(other)).scalars, other.scalars) < 1e-5)
        let decoded = try JSONDecoder().decode(Standardizer.self, from: JSONEncoder().encode(s))
        #expect(decoded == s)
        #expect(decoded.transform(other) == s.transform(other))
    }

    @Test func standardizerWorksPerPixelOnImages() {
        var rng = SeededGenerator(seed: 4)
        let images = Tensor(randomUniform: [20, 1, 2, 2], using: &rng)
        let s = Standardizer(fitting: images)
        #expect(s.mean.count == 4)
        let y = s.transform(images)
        #expect(y.shape == images.shape)
        for c in 0..<4 { #expect(abs(columnMoments(y.reshaped([20, 4])).mean[c]) < 1e-5) }
    }

    @Test func minMaxScalesTrainToUnitInterval() {
        let train = sample(100, seed: 5)
        let d = Dataset(inputs: train, labels: [Int](repeating: 0, count: 100), classCount: 1)
        let (scaled, scaler) = d.minMaxScaled()
        let v = scaled.inputs.scalars
        for c in 0..<2 {
            let col = stride(from: c, to: v.count, by: 3).map { v[$0] }
            #expect(abs(col.min()!) < 1e-6 && abs(col.max()! - 1) < 1e-6)
        }
        #expect(stride(from: 2, to: v.count, by: 3).allSatisfy { v[$0] == 0 })
        #expect(maxRelativeError(scaler.inverseTransform(scaled.inputs).scalars, train.scalars) < 1e-5)
        #expect(d.standardized(with: Standardizer(fitting: train)).labels == d.labels)
    }

    @Test func scaledByFactor() {
        let d = Dataset(inputs: Tensor(shape: [2, 2], scalars: [0, 255, 51, 102]), labels: [0, 1])
        #expect(maxRelativeError(d.scaled(by: 1.0 / 255).inputs.scalars, [0, 1, 0.2, 0.4]) < 1e-6)
    }
}
