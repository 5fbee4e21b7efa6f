import Foundation
import Testing
@testable import Neurite

/// A fresh directory under the system temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-test-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { "\(path)/\(name)" }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Bytes of an IDX header followed by `data` (uncompressed), built by hand, not by the writer.
func idxBytes(type: UInt8 = 0x08, dims: [UInt32], data: [UInt8]) -> [UInt8] {
    var b: [UInt8] = [0, 0, type, UInt8(dims.count)]
    for d in dims { b += [UInt8(d >> 24), UInt8((d >> 16) & 0xFF), UInt8((d >> 8) & 0xFF), UInt8(d & 0xFF)] }
    return b + data
}

/// Expects `body` to throw exactly `expected`, and the message to name the file.
func expectDataError(_ expected: DataError, naming path: String, sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(expected), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as DataError {
        #expect(error == expected, sourceLocation: sourceLocation)
        #expect(error.description.contains(path), "message does not name the file: \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct IDXTests {
    @Test(arguments: [false, true])
    func roundTripsRawAndGzip(gzip: Bool) throws {
        let dir = TemporaryDirectory()
        let pixels = (0..<(3 * 2 * 4)).map { UInt8(($0 * 37) % 256) }
        let path = dir.file(gzip ? "img.gz" : "img")
        try IDXFile(dimensions: [3, 2, 4], bytes: pixels).write(to: path, gzip: gzip)
        #expect(DataFile.isGzip(try DataFile.readRaw(path)) == gzip)

        let file = try IDXFile.read(path)
        #expect(file.dimensions == [3, 2, 4])
        #expect(file.elementType == .uint8)
        #expect(file.bytes == pixels)

        let flat = try IDX.images(path)
        #expect(flat.shape == [3, 8])
        #expect(flat.scalars == pixels.map { Float($0) / 255 })
        let image = try IDX.images(path, flatten: false)
        #expect(image.shape == [3, 1, 2, 4])
        #expect(image.scalars == flat.scalars)
        #expect(try IDX.images(path, limit: 2).shape == [2, 8])

        let labelPath = dir.file(gzip ? "lab.gz" : "lab")
        try IDX.writeLabels([3, 0, 9], to: labelPath, gzip: gzip)
        #expect(try IDX.labels(labelPath) == [3, 0, 9])
    }

    @Test func writerMatchesHandBuiltBytesAndImagesRoundTrip() throws {
        let dir = TemporaryDirectory()
        let data: [UInt8] = [0, 128, 255, 7, 8, 9]
        #expect(IDXFile(dimensions: [2, 3], bytes: data).encoded() == idxBytes(dims: [2, 3], data: data))
        let images = Tensor(shape: [2, 1, 1, 3], scalars: data.map { Float($0) / 255 })
        try IDX.writeImages(images, rows: 1, columns: 3, to: dir.file("x.gz"), gzip: true)
        #expect(try IDX.images(dir.file("x.gz"), flatten: false) == images)
    }

    @Test func readsFloat32Elements() throws {
        let dir = TemporaryDirectory()
        let values: [Float] = [1.5, -2.25, 0, 1e-3]
        let data = values.flatMap { v -> [UInt8] in
            let u = v.bitPattern
            return [UInt8(u >> 24), UInt8((u >> 16) & 0xFF), UInt8((u >> 8) & 0xFF), UInt8(u & 0xFF)]
        }
        try DataFile.write(idxBytes(type: 0x0D, dims: [2, 2], data: data), to: dir.file("f"))
        let t = try IDX.images(dir.file("f"))
        #expect(t.shape == [2, 2])
        #expect(t.scalars == values)
    }

    @Test(arguments: [false, true])
    func wrongMagicIsReported(gzip: Bool) throws {
        let dir = TemporaryDirectory()
        let path = dir.file("bad")
        try DataFile.write([0x01, 0x00, 0x08, 0x01, 0, 0, 0, 1, 42], to: path, gzip: gzip)
        expectDataError(.badMagic(path: path, expected: "00 00 <type> <rank ≥ 1>", found: "01 00 08 01"), naming: path) {
            _ = try IDXFile.read(path)
        }
    }

    @Test func wrongTypeByteIsReported() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("bad")
        try DataFile.write(idxBytes(type: 0x07, dims: [1], data: [1]), to: path)
        expectDataError(.unsupportedType(path: path, typeByte: 0x07), naming: path) { _ = try IDXFile.read(path) }
    }

    @Test(arguments: [false, true])
    func truncatedDataIsReported(gzip: Bool) throws {
        let dir = TemporaryDirectory()
        let path = dir.file("short")
        try DataFile.write(idxBytes(dims: [2, 3], data: [1, 2, 3, 4, 5]), to: path, gzip: gzip)
        expectDataError(.truncated(path: path, expectedBytes: 6, foundBytes: 5), naming: path) { _ = try IDXFile.read(path) }
        // A header cut inside the extents.
        try DataFile.write([0, 0, 8, 3, 0, 0], to: path, gzip: gzip)
        expectDataError(.truncated(path: path, expectedBytes: 16, foundBytes: 6), naming: path) { _ = try IDXFile.read(path) }
    }

    @Test func extraBytesAreReported() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("long.gz")
        try DataFile.write(idxBytes(dims: [2, 3], data: [1, 2, 3, 4, 5, 6, 7]), to: path, gzip: true)
        expectDataError(.extraData(path: path, expectedBytes: 6, foundBytes: 7), naming: path) { _ = try IDXFile.read(path) }
    }

    @Test func damagedGzipIsReported() throws {
        let dir = TemporaryDirectory()
        let good = dir.file("good.gz"), bad = dir.file("bad.gz")
        try DataFile.write(idxBytes(dims: [1000], data: (0..<1000).map { UInt8($0 % 251) }), to: good, gzip: true)
        let raw = try DataFile.readRaw(good)
        try DataFile.write(Array(raw.prefix(raw.count / 2)), to: bad)
        do {
            _ = try IDXFile.read(bad)
            Issue.record("a gzip file cut in half was accepted")
        } catch let DataError.corruptCompressedData(path, _) {
            #expect(path == bad)
        }
    }

    @Test func missingFileIsReported() {
        let path = "/nonexistent/neurite/x.idx"
        expectDataError(.fileNotFound(path: path, hint: ""), naming: path) { _ = try IDXFile.read(path) }
    }

    @Test func labelsNeedRankOne() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("l")
        try IDXFile(dimensions: [2, 1], bytes: [1, 2]).write(to: path)
        expectDataError(.badDimensions(path: path, expected: "[count] (one label per example)", found: [2, 1]), naming: path) {
            _ = try IDX.labels(path)
        }
    }
}

@Suite struct FashionMNISTTests {
    /// Writes a tiny Fashion-MNIST-shaped directory: `images` examples, `labels` labels.
    func writeFake(_ dir: TemporaryDirectory, split: String, images: Int, labels: Int) throws {
        let pixels = (0..<(images * 784)).map { UInt8($0 % 256) }
        try IDXFile(dimensions: [images, 28, 28], bytes: pixels).write(to: dir.file("\(split)-images-idx3-ubyte.gz"), gzip: true)
        try IDX.writeLabels((0..<labels).map { $0 % 10 }, to: dir.file("\(split)-labels-idx1-ubyte.gz"), gzip: true)
    }

    @Test func loadsAFakeDirectory() throws {
        let dir = TemporaryDirectory()
        try writeFake(dir, split: "train", images: 12, labels: 12)
        try writeFake(dir, split: "t10k", images: 5, labels: 5)
        #expect(FashionMNIST.isAvailable(directory: dir.path))
        let train = try FashionMNIST.load(directory: dir.path, split: .train)
        #expect(train.inputs.shape == [12, 784])
        #expect(train.labels == (0..<12).map { $0 % 10 })
        #expect(train.classCount == 10)
        let test = try FashionMNIST.load(directory: dir.path, split: .test, limit: 3, shape: .image)
        #expect(test.inputs.shape == [3, 1, 28, 28])
        #expect(test.inputs[0, 0, 0, 1] == Float(1) / 255)
    }

    @Test func imageLabelCountMismatchNamesBothFiles() throws {
        let dir = TemporaryDirectory()
        try writeFake(dir, split: "train", images: 3, labels: 2)
        let images = dir.file("train-images-idx3-ubyte.gz"), labels = dir.file("train-labels-idx1-ubyte.gz")
        do {
            _ = try FashionMNIST.load(directory: dir.path)
            Issue.record("mismatched counts were accepted")
        } catch let error as DataError {
            #expect(error == .dimensionMismatch(firstPath: images, firstCount: 3, secondPath: labels, secondCount: 2))
            #expect(error.description.contains(images) && error.description.contains(labels))
        }
    }

    @Test func labelOutsideTheTenClassesIsReported() throws {
        let dir = TemporaryDirectory()
        try writeFake(dir, split: "train", images: 2, labels: 2)
        let labels = dir.file("train-labels-idx1-ubyte.gz")
        try IDX.writeLabels([3, 12], to: labels, gzip: true)
        expectDataError(.labelOutOfRange(path: labels, index: 1, label: 12, classCount: 10), naming: labels) {
            _ = try FashionMNIST.load(directory: dir.path)
        }
    }

    @Test func missingDirectoryTellsHowToInstall() {
        #expect(!FashionMNIST.isAvailable(directory: "/nonexistent/fashion"))
        do {
            _ = try FashionMNIST.load(directory: "/nonexistent/fashion")
            Issue.record("a missing directory was accepted")
        } catch let error as DataError {
            guard case .datasetMissing(_, let package) = error else { Issue.record("got \(error)"); return }
            #expect(package == "dataset-fashion-mnist")
            #expect(error.description.contains("install it with: apt-get install dataset-fashion-mnist"))
        } catch { Issue.record("got \(error)") }
    }

    @Test(.enabled(if: FashionMNIST.isAvailable, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"))
    func realTrainingSet() throws {
        let train = try FashionMNIST.load(split: .train)
        #expect(train.count == 60_000)
        #expect(train.inputs.shape == [60_000, 784])
        let (lo, hi) = train.inputs.withUnsafeBufferPointer { ($0.min()!, $0.max()!) }
        #expect(lo == 0 && hi == 1)
        var histogram = [Int](repeating: 0, count: 10)
        for y in train.labels { histogram[y] += 1 }
        #expect(histogram == [Int](repeating: 6000, count: 10))
        #expect(FashionMNIST.classNames.count == 10)
    }

    @Test(.enabled(if: FashionMNIST.isAvailable, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"))
    func realTestSetAsImages() throws {
        let test = try FashionMNIST.load(split: .test, shape: .image)
        #expect(test.inputs.shape == [10_000, 1, 28, 28])
        #expect(Set(test.labels) == Set(0..<10))
        let few = try FashionMNIST.load(split: .test, limit: 100)
        #expect(few.inputs == test.inputs.rows(0..<100).reshaped([100, 784]))
        #expect(few.labels == Array(test.labels.prefix(100)))
    }
}
