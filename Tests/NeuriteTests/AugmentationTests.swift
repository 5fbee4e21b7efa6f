import Foundation
import Testing
import Neurite

/// Seeded augmentation: deterministic per example, independent of the thread count, each transform
/// doing what it says, and part of the resumable training state.
@Suite struct AugmentationTests {
    func images(_ n: Int, seed: UInt64 = 1) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor(randomUniform: [n, 2 * 6 * 5], in: 0.1...1, using: &g)   // no zeros: erased/padded pixels show
    }

    @Test func theSameSeedGivesTheSameBatchAtEveryThreadCount() throws {
        let a = try Augmentation("crop=2,flip,erase=0.5", imageShape: [2, 6, 5])
        var one = images(100), two = images(100)
        Runtime.withThreads(1) { a.apply(to: &one, seed: 7) }
        Runtime.withThreads(2) { a.apply(to: &two, seed: 7) }
        #expect(one.scalars.map(\.bitPattern) == two.scalars.map(\.bitPattern))
        var other = images(100)
        a.apply(to: &other, seed: 8)
        #expect(other != one)
        // Each example depends on its own index only: the first 10 of a batch of 10 are those of 100.
        var ten = images(10)
        a.apply(to: &ten, seed: 7)
        #expect(ten.scalars == Array(one.scalars.prefix(ten.count)))
    }

    @Test func eachTransformDoesWhatItSays() throws {
        let x = images(64)
        // Flip alone: every example is itself or its mirror image.
        var flipped = x
        try Augmentation("flip", imageShape: [2, 6, 5]).apply(to: &flipped, seed: 3)
        var mirrored = 0
        for i in 0..<64 {
            let a = x.rows(i..<(i + 1)).scalars, b = flipped.rows(i..<(i + 1)).scalars
            let mirror = (0..<12).flatMap { row in (0..<5).map { a[row * 5 + 4 - $0] } }
            #expect(b == a || b == mirror)
            if b != a { mirrored += 1 }
        }
        #expect(mirrored > 16 && mirrored < 48)
        // Crop: the image shifted by at most the padding, zeros entering from the border.
        var cropped = x
        try Augmentation("crop=1", imageShape: [2, 6, 5]).apply(to: &cropped, seed: 4)
        for i in 0..<64 {
            let a = x.rows(i..<(i + 1)).scalars, b = cropped.rows(i..<(i + 1)).scalars
            let found = (-1...1).contains { dy in (-1...1).contains { dx in
                (0..<2).allSatisfy { c in (0..<6).allSatisfy { r in (0..<5).allSatisfy { q in
                    let sr = r + dy, sq = q + dx
                    let want: Float = (0..<6).contains(sr) && (0..<5).contains(sq) ? a[(c * 6 + sr) * 5 + sq] : 0
                    return b[(c * 6 + r) * 5 + q] == want
                } } }
            } }
            #expect(found, "example \(i) is not a crop of the padded image")
        }
        // Erase with probability 1: every example has a zero rectangle, the same in both channels.
        var erased = x
        try Augmentation("erase=1", imageShape: [2, 6, 5]).apply(to: &erased, seed: 5)
        for i in 0..<64 {
            let b = erased.rows(i..<(i + 1)).scalars
            #expect(b.contains(0))
            #expect(Array(b[0..<30]).map { $0 == 0 } == Array(b[30..<60]).map { $0 == 0 })
        }
    }

    @Test func badDescriptionsAreRefused() {
        for (text, needle) in [("rotate", "unknown augmentation"), ("crop=0", "crop padding"), ("erase=2", "erase probability"),
                               ("flip=1", "takes no value"), ("", "names no transform")] {
            do {
                _ = try Augmentation(text, imageShape: [1, 28, 28])
                Issue.record("'\(text)' was accepted")
            } catch { #expect("\(error)".contains(needle), "\(text): \(error)") }
        }
        #expect(throws: ModelError.self) { try Augmentation("flip", imageShape: [784]) }
    }

    @Test func augmentedTrainingResumesExactly() throws {
        var g = SeededGenerator(seed: 2)
        let data = Dataset(inputs: Tensor(randomUniform: [48, 1, 6, 6], in: 0...1, using: &g), labels: (0..<48).map { $0 % 3 }, classCount: 3)
        func trainer() throws -> Trainer {
            let t = Trainer(model: try Sequential("conv:4:3:pad=1,batchnorm,relu,flatten,dense:3", inputShape: [1, 6, 6], seed: 1),
                            loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01))
            t.augmentation = try Augmentation("crop=1,flip,erase=0.3", imageShape: [1, 6, 6])
            return t
        }
        let straight = try trainer()
        _ = try straight.fit(data, epochs: 3, batchSize: 16)
        let first = try trainer()
        _ = try first.fit(data, epochs: 1, batchSize: 16)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("aug-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint.save(first, to: path)
        let resumed = try Checkpoint.load(path).makeTrainer()
        #expect(resumed.augmentation == first.augmentation)
        _ = try resumed.fit(data, epochs: 2, batchSize: 16)
        #expect(resumed.model.parameters.values.scalars.map(\.bitPattern) == straight.model.parameters.values.scalars.map(\.bitPattern))
    }
}
