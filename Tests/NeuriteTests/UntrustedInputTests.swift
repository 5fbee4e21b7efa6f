// Issue 12: numbers from files and arguments are checked where they enter, and every violation is a
// thrown error naming the file, the field, the value and the allowed range — never a trap.

import Testing
import Foundation
@testable import Neurite

private func scratchDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-untrusted-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// An IDX header (magic, type byte, extents) followed by `data`.
private func idx(type: UInt8 = 0x08, _ dims: [UInt32], data: [UInt8] = []) -> [UInt8] {
    var out: [UInt8] = [0, 0, type, UInt8(dims.count)]
    for d in dims { out += [UInt8(d >> 24), UInt8(truncatingIfNeeded: d >> 16), UInt8(truncatingIfNeeded: d >> 8), UInt8(truncatingIfNeeded: d)] }
    return out + data
}

@Suite struct UntrustedIDXTests {
    /// A zero extent must not hide an overflowing product of the others (an image width of 2^96).
    @Test func aZeroExtentDoesNotHideAnOverflowingProduct() {
        expectDataError(.badHeader(path: "z.idx", field: "dimensions", value: "[0, 4294967295, 4294967295, 4294967295]",
                                   requirement: "extents whose product times 1 byte(s) per element fits in 63 bits"), naming: "z.idx") {
            _ = try IDXFile.parse(idx([0, .max, .max, .max]), path: "z.idx")
        }
    }

    @Test func imageExtentsOutsideTheModelLimitsAreRefused() throws {
        let file = try IDXFile.parse(idx([0, 1 << 31, 1 << 31]), path: "wide.idx")
        #expect(throws: DataError.self) { _ = try IDX.images(file, path: "wide.idx") }
        let flat = try IDXFile.parse(idx([3, 0], data: []), path: "empty-rows.idx")
        #expect(throws: DataError.self) { _ = try IDX.images(flat, path: "empty-rows.idx") }
    }

    @Test func aNegativeLimitIsAnErrorNotATrap() throws {
        let file = try IDXFile.parse(idx([2, 2, 2], data: [1, 2, 3, 4, 5, 6, 7, 8]), path: "i.idx")
        expectDataError(.invalidArgument(name: "limit", value: "-1", requirement: "0 or more"), naming: "limit") {
            _ = try IDX.images(file, path: "i.idx", limit: -1)
        }
        let labels = try IDXFile.parse(idx([2], data: [1, 2]), path: "l.idx")
        #expect(throws: DataError.self) { _ = try IDX.labels(labels, path: "l.idx", limit: -5) }
        #expect(try IDX.images(file, path: "i.idx", limit: 1).shape == [1, 4])
    }

    @Test func aNaNPixelInAFloatFileIsNamed() throws {
        let nan = Float.nan.bitPattern
        let bytes = [UInt8(nan >> 24), UInt8(truncatingIfNeeded: nan >> 16), UInt8(truncatingIfNeeded: nan >> 8), UInt8(truncatingIfNeeded: nan)]
        let file = try IDXFile.parse(idx(type: 0x0D, [1, 1, 2], data: [0, 0, 0, 0] + bytes), path: "f.idx")
        do {
            _ = try IDX.images(file, path: "f.idx")
            Issue.record("a NaN pixel was accepted")
        } catch let e as DataError {
            guard case let .badElement(path, index, _, _) = e else { Issue.record("got \(e)"); return }
            #expect(path == "f.idx" && index == 1)
            #expect(e.description.contains("Element 1") && e.description.contains("nan"), "\(e)")
        }
    }

    @Test func writersThrowInsteadOfTrapping() throws {
        let dir = try scratchDirectory()
        #expect(throws: DataError.self) { try IDX.writeLabels([1, 256], to: dir + "/l.idx") }
        #expect(throws: DataError.self) { try IDX.writeImages(Tensor(shape: [2, 5]), rows: 2, columns: 2, to: dir + "/i.idx") }
        #expect(throws: DataError.self) { try IDX.writeLabels([1], to: dir + "/missing/l.idx") }
    }
}

@Suite struct UntrustedFileTests {
    /// A gzip "bomb" (a few KB inflating to far more) stops at the output limit with a named error.
    @Test func decompressionStopsAtTheConfiguredLimit() throws {
        let dir = try scratchDirectory()
        let path = dir + "/bomb.gz"
        try DataFile.write([UInt8](repeating: 0, count: 3_000_000), to: path, gzip: true)
        let raw = try DataFile.readRaw(path)
        #expect(raw.count < 20_000)
        let small = DataLimits(maxDecompressedBytes: 1_000_000)
        do {
            _ = try DataFile.gunzip(raw, path: path, limits: small)
            Issue.record("the limit was not enforced")
        } catch let e as DataError {
            guard case let .fileTooLarge(p, _, _, limit, setting) = e else { Issue.record("got \(e)"); return }
            #expect(p == path && limit == 1_000_000 && setting == "DataLimits.maxDecompressedBytes")
        }
        #expect(try DataFile.read(path).count == 3_000_000)
    }

    @Test func aFileOverTheSizeLimitIsRefusedBeforeReading() throws {
        let dir = try scratchDirectory()
        let path = dir + "/big.idx"
        try DataFile.write(idx([100], data: [UInt8](repeating: 1, count: 100)), to: path)
        expectDataError(.fileTooLarge(path: path, what: "the file", bytes: 108, limit: 50, setting: "DataLimits.maxFileBytes"), naming: path) {
            _ = try IDXFile.read(path, limits: DataLimits(maxFileBytes: 50))
        }
    }

    /// A source without a size (a device, a pipe) is read up to the limit, not without end.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/zero")))
    func anEndlessSourceStopsAtTheLimit() {
        expectDataError(.fileTooLarge(path: "/dev/zero", what: "the file", bytes: 1 << 20, limit: 1000, setting: "DataLimits.maxFileBytes"),
                        naming: "/dev/zero") {
            _ = try DataFile.read("/dev/zero", limits: DataLimits(maxFileBytes: 1000))
        }
    }

    @Test func destinationsThatCannotBeWrittenAreNamed() throws {
        let dir = try scratchDirectory()
        #expect(throws: DataError.unwritable(path: "", reason: "the path is empty")) { try DataFile.checkWritableDestination("") }
        #expect(throws: DataError.self) { try DataFile.checkWritableDestination(dir) }
        #expect(throws: DataError.self) { try DataFile.checkWritableDestination(dir + "/no/such/dir/m.safetensors") }
        try DataFile.checkWritableDestination(dir + "/m.safetensors")
    }
}

@Suite struct UntrustedSklearnTests {
    /// The count line `rows,features,names…` is checked before `features + 1` is formed.
    @Test(arguments: ["150,9223372036854775807,a,b,c", "-3,4,a,b", "150,0,a,b", "abc,4,a,b", "9223372036854775807,4,a,b"])
    func absurdCountsAreHeaderErrors(_ countLine: String) throws {
        let dir = try scratchDirectory()
        let path = dir + "/set.csv"
        try (countLine + "\n1,2,3,4,0\n").write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try SklearnData._countLineSet(path: path)
            Issue.record("accepted \(countLine)")
        } catch let e as DataError {
            guard case .badHeader = e else { Issue.record("got \(e)"); return }
            #expect(e.description.contains(path), "\(e)")
        }
    }
}

@Suite struct UntrustedSplitAndScalingTests {
    @Test func aValidationSplitThatLeavesAnEmptyPartIsAnError() throws {
        let data = Dataset(inputs: Tensor(shape: [100, 3]), labels: (0..<100).map { $0 % 2 })
        #expect(throws: DataError.self) { try data.splittingValidation(fraction: 0.999, seed: 1) }
        #expect(throws: DataError.self) { try data.splittingValidation(fraction: 0.001, seed: 1) }
        #expect(throws: DataError.self) { try data.splittingValidation(fraction: 1, seed: 1) }
        #expect(throws: DataError.self) { try data.splittingValidation(fraction: .nan, seed: 1) }
        let (train, validation) = try data.splittingValidation(fraction: 0.5, seed: 1)
        #expect(train.count == 50 && validation.count == 50)
        #expect(try data.splittingValidation(fraction: 0, seed: 1).train.count == 100)
    }

    @Test func aScalerAppliedToTheWrongWidthIsAnError() throws {
        let s = Standardizer(fitting: Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]))
        #expect(throws: DataError.self) { _ = try s.transform(Tensor(shape: [4, 5]), of: "new.csv") }
        #expect(try s.transform(Tensor(shape: [4, 3]), of: "new.csv").shape == [4, 3])
        let m = MinMaxScaler(fitting: Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]))
        #expect(throws: DataError.self) { _ = try m.transform(Tensor(shape: [1, 3]), of: "x") }
        let d = Dataset(inputs: Tensor(shape: [4, 5]), labels: [0, 1, 0, 1])
        #expect(throws: DataError.self) { _ = try d.standardized(with: s, source: "d.csv") }
    }

    /// Statistics read from a file are validated as they are decoded.
    @Test(arguments: [#"{"mean":[1,2],"std":[1]}"#, #"{"mean":[1],"std":[0]}"#, #"{"mean":[1],"std":[-2]}"#,
                      #"{"mean":[1e39],"std":[1]}"#])
    func malformedStandardisersDoNotDecode(_ json: String) {
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(Standardizer.self, from: Data(json.utf8)) }
    }
}

@Suite struct JSONOutputTests {
    @Test func recordsAreValidJSONWithNullForNonFiniteNumbers() throws {
        let r = JSONRecord([("event", .string("done")), ("loss", .float(.nan)), ("inf", .double(-.infinity)), ("n", .int(3)),
                            ("name", .string("a \"quoted\"\n\\ name\u{0}")), ("p", .floats([0.5, .infinity]))])
        let line = r.line
        #expect(!line.contains("\n"))
        #expect(line.hasPrefix("{\"event\":\"done\""), "\(line)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["loss"] is NSNull && object["inf"] is NSNull)
        #expect(object["name"] as? String == "a \"quoted\"\n\\ name\u{0}")
        #expect((object["p"] as? [Any])?.last is NSNull)
    }

    @Test func metricsLinesOfADivergedEpochAreValidJSON() throws {
        let m = EpochMetrics(epoch: 2, trainLoss: .nan, trainAccuracy: 0.5, validationLoss: .infinity, validationAccuracy: nil,
                             learningRate: 0.1, seconds: 1.23456, samplesPerSecond: 1000.04)
        let line = MetricsLogger.jsonLine(m)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["train_loss"] is NSNull && object["val_loss"] is NSNull)
        #expect(object["epoch"] as? Int == 2 && object["seconds"] as? Double == 1.235)
        #expect(line.hasPrefix("{\"event\":\"epoch\",\"epoch\":2,"), "\(line)")
    }

    @Test func theSVGTitleIsEscaped() {
        let svg = TrainingCurves.svg(History(), title: "dense:10 <script>&\u{1}")
        #expect(svg.contains("<title>dense:10 &lt;script&gt;&amp;\u{FFFD}</title>"))
    }
}

@Suite struct CheckpointWriteTests {
    func model() throws -> Sequential { try Sequential("dense:3", inputShape: [2], seed: 1) }

    @Test func failedWritesThrowNamingThePath() throws {
        let dir = try scratchDirectory()
        for path in ["", dir, dir + "/missing/m.safetensors"] {
            #expect(throws: (any Error).self, "\(path)") {
                try Checkpoint.save(model: try model(), loss: SoftmaxCrossEntropy(), classCount: 3, to: path)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/missing"))
    }

    /// Temporary files of writers killed mid-write are removed by the next successful write; those
    /// of a live writer, and other files, stay.
    @Test func staleTemporaryFilesAreRemovedAtTheNextWrite() throws {
        let dir = try scratchDirectory()
        let path = dir + "/m.safetensors"
        // A process id that cannot belong to a live process (above the kernel's pid_max).
        let dead = "\(dir)/.m.safetensors.tmp-2147483000-12345"
        let live = "\(dir)/.m.safetensors.tmp-1-777"            // pid 1 always runs
        let other = "\(dir)/.n.safetensors.tmp-2147483000-12345"
        for f in [dead, live, other] { FileManager.default.createFile(atPath: f, contents: Data([1, 2, 3])) }
        try Checkpoint.save(model: try model(), loss: SoftmaxCrossEntropy(), classCount: 3, to: path)
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: live) && FileManager.default.fileExists(atPath: other))
        #expect(try Checkpoint.load(path).model.spec == "dense:3")
    }
}
