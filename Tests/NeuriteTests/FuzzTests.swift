// Seeded mutation fuzzing of every decoder that reads user files: IDX (raw and gzip), CSV, the
// scikit-learn count-line files, and checkpoints (safetensors header, metadata JSON, data region).
// Each input must either decode or throw one of Neurite's errors; a crash (trap, fatal error) ends
// the test process, and the input that caused it is then in NEURITE_FUZZ_SAVE_DIR when that is set.
//
// `swift test` runs up to 2000 inputs per target (at most 2 s each). `make fuzz` runs the same
// targets for longer through the environment:
//   NEURITE_FUZZ_ITERATIONS  inputs per target (default 2000)
//   NEURITE_FUZZ_SECONDS     time budget per target, whichever ends first (default 2)
//   NEURITE_FUZZ_SEED        the generator's seed, to explore other inputs (default 1)
//   NEURITE_FUZZ_SAVE_DIR    where each input is written before it runs (unset: not written)

import Testing
import Foundation
@testable import Neurite

/// The fuzzing budget, from the environment (validated: a typo is a test failure, not a default).
struct FuzzSettings {
    var iterations = 2000
    var seconds = 2.0
    var seed: UInt64 = 1
    var saveDirectory: String?

    static func fromEnvironment() throws -> FuzzSettings {
        var s = FuzzSettings()
        let env = ProcessInfo.processInfo.environment
        if let v = env["NEURITE_FUZZ_ITERATIONS"] {
            guard let n = Int(v), (1...1_000_000_000).contains(n) else { throw FuzzSettingError(name: "NEURITE_FUZZ_ITERATIONS", value: v) }
            s.iterations = n
        }
        if let v = env["NEURITE_FUZZ_SECONDS"] {
            guard let t = Double(v), t.isFinite, t > 0, t <= 86_400 else { throw FuzzSettingError(name: "NEURITE_FUZZ_SECONDS", value: v) }
            s.seconds = t
        }
        if let v = env["NEURITE_FUZZ_SEED"] {
            guard let seed = UInt64(v) else { throw FuzzSettingError(name: "NEURITE_FUZZ_SEED", value: v) }
            s.seed = seed
        }
        if let d = env["NEURITE_FUZZ_SAVE_DIR"], !d.isEmpty {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            s.saveDirectory = d
        }
        return s
    }
}

struct FuzzSettingError: Error, CustomStringConvertible {
    let name: String, value: String
    var description: String { "\(name)=\(value) is not valid (iterations 1...1e9, seconds in (0, 86400], seed a UInt64)" }
}

/// Byte-level mutations in the style of libFuzzer's: bit flips, interesting bytes, inserted and
/// deleted runs, copied runs, truncation, and text tokens that stress number parsers.
struct Mutator {
    var rng: SeededGenerator

    /// Numbers at and around the limits the decoders enforce, and values no parser should take.
    /// (Not exactly 2^24, the largest layer width: a legal but huge model costs seconds per input.)
    static let tokens = ["0", "-1", "1", "2", "-0", "65536", "65537", "16777217", "2147483647", "2147483648", "4294967296",
                         "9223372036854775807", "-9223372036854775808", "18446744073709551616", "1e400", "-1e400", "NaN",
                         "nan", "inf", "-inf", "1e-50", "0.5", "1.0", "3.4028236e38", "\"", "\\", ",", ":", "[", "]",
                         "{", "}", "null", "true", "\u{0}", "\n", "\r\n", " ", "dense", "conv", "maxpool", "dropout",
                         "maxout", "batchnorm", "pad=", "stride="]

    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    /// `input` with 1 to 4 stacked mutations, each placed within `region` (default: anywhere).
    mutating func mutate(_ input: [UInt8], region: Range<Int>? = nil) -> [UInt8] {
        var b = input
        for _ in 0...below(4) {
            let r = region.map { $0.clamped(to: 0..<b.count) } ?? (0..<b.count)
            let at = r.isEmpty ? Swift.min(r.lowerBound, b.count) : r.lowerBound + below(r.count)
            switch below(9) {
            case 0 where at < b.count: b[at] ^= UInt8(1) << UInt8(below(8))
            case 1 where at < b.count: b[at] = [0, 0xFF, 0x7F, 0x80, 0x01, 0x20, 0x30, 0x39][below(8)]
            case 2: b.insert(contentsOf: (0..<(1 + below(8))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            case 3 where at < b.count: b.removeSubrange(at..<Swift.min(b.count, at + 1 + below(16)))
            case 4 where at < b.count:
                let end = Swift.min(b.count, at + 1 + below(32))
                b.insert(contentsOf: b[at..<end], at: Swift.min(b.count, at + below(64)))
            case 5 where !b.isEmpty && region == nil: b.removeLast(1 + below(Swift.min(b.count, 64)))
            case 6, 7:
                // Replace a digit run (or any byte) with a token: number fields get extreme values.
                var end = at
                while end < b.count, end - at < 24, (b[end] >= 0x30 && b[end] <= 0x39) || b[end] == 0x2E || b[end] == 0x2D { end += 1 }
                let token = Array(Self.tokens[below(Self.tokens.count)].utf8)
                b.replaceSubrange(at..<Swift.max(end, Swift.min(at + (end == at ? 1 : 0), b.count)), with: token)
            default: if at < b.count { b[at] = UInt8(truncatingIfNeeded: rng.next()) }
            }
        }
        return b
    }
}

extension Mutator {
    /// Leaf values a decoder must range-check: integer extremes, fractions where integers belong,
    /// numbers too large for Float, wrong types.
    static var leaves: [Any] { [0, -1, 1, 2, 65537, 16_777_217, 2_147_483_648, Int.max, Int.min, -0.5, 0.999999, 1e30, 1e300,
                                "", "x", "-1", "18446744073709551616", NSNull(), [Any](), [String: Any](), true] }

    /// `value` (parsed JSON) with one leaf replaced by an interesting value, one string leaf
    /// byte-mutated (layer lists, decimal seeds), or one array element removed or duplicated.
    mutating func mutateJSON(_ value: Any) -> Any {
        switch value {
        case let dict as [String: Any] where !dict.isEmpty:
            var d = dict
            let k = dict.keys.sorted()[below(dict.count)]
            if below(8) == 0 { d[k] = nil } else { d[k] = mutateJSON(dict[k]!) }
            return d
        case let array as [Any] where !array.isEmpty:
            var a = array
            let i = below(array.count)
            switch below(6) {
            case 0: a.remove(at: i)
            case 1: a.insert(array[i], at: i)
            default: a[i] = mutateJSON(array[i])
            }
            return a
        case let string as String where below(2) == 0:
            return String(decoding: mutate(Array(string.utf8)), as: UTF8.self)
        default:
            return Self.leaves[below(Self.leaves.count)]
        }
    }
}

/// Runs `body` on mutations of `seeds` within the budget. `body` throws only errors the decoder
/// reports (which must be `NeuriteError`s); anything else is recorded as an issue.
func fuzz(_ name: String, seeds: [[UInt8]], region: (([UInt8]) -> Range<Int>?)? = nil,
          _ body: ([UInt8]) throws -> Void) throws -> (inputs: Int, accepted: Int) {
    let settings = try FuzzSettings.fromEnvironment()
    var mutator = Mutator(seed: settings.seed &+ UInt64(name.utf8.reduce(0) { $0 &* 31 &+ Int($1) }.magnitude))
    let start = Date()
    var accepted = 0, inputs = 0
    for i in 0..<settings.iterations {
        if Date().timeIntervalSince(start) > settings.seconds { break }
        let seed = seeds[i % seeds.count]
        let input = mutator.mutate(seed, region: region?(seed))
        if let dir = settings.saveDirectory {
            // Overwritten each time: after a crash it holds the input that caused it.
            writeInput(input, to: "\(dir)/\(name)-last.bin")
        }
        inputs += 1
        do {
            try body(input)
            accepted += 1
        } catch let e as any NeuriteError {
            #expect(!e.description.isEmpty)
        } catch {
            Issue.record("\(name): input \(i) threw \(type(of: error)), not a NeuriteError: \(error)")
        }
    }
    print(String(format: "fuzz %@: %d inputs (%d decoded, the rest refused with an error) in %.1f s, seed %llu",
                 name, inputs, accepted, Date().timeIntervalSince(start), settings.seed))
    return (inputs, accepted)
}

/// Writes `bytes` to `path` with plain POSIX calls: FileManager's atomic write syncs to disk, which
/// would make file writing, not decoding, the cost of each input.
func writeInput(_ bytes: [UInt8], to path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { return }
    bytes.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count, let base = raw.baseAddress {
            let n = write(fd, base + done, raw.count - done)
            if n <= 0 { break }
            done += n
        }
    }
    close(fd)
}

private func fuzzDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-fuzz-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Everything a reader of an IDX file does with it: parse, then images and labels as the loaders ask.
private func useIDX(_ bytes: [UInt8], path: String) throws {
    let file = try IDXFile.parse(bytes, path: path)
    if file.dimensions.count == 1 {
        _ = try IDX.labels(file, path: path, limit: file.dimensions[0] > 2 ? 2 : nil)
    } else {
        _ = try IDX.images(file, path: path, flatten: true)
        if file.dimensions.count == 3 { _ = try IDX.images(file, path: path, flatten: false, limit: 1) }
    }
}

private let idxSeeds: [[UInt8]] = [
    IDXFile(dimensions: [3, 2, 2], bytes: Array(0..<12)).encoded(),
    IDXFile(dimensions: [4], bytes: [0, 1, 2, 9]).encoded(),
    IDXFile(dimensions: [2, 3], elementType: .float32, bytes: [UInt8](repeating: 0x3F, count: 24)).encoded(),
    IDXFile(dimensions: [2, 1, 2], elementType: .int16, bytes: [0, 1, 0xFF, 0xFE, 0x7F, 0xFF, 0x80, 0]).encoded(),
    IDXFile(dimensions: [1, 1, 1], elementType: .float64, bytes: [0x3F, 0xF0, 0, 0, 0, 0, 0, 0]).encoded(),
]

@Suite struct FuzzTests {
    @Test func idxFilesDecodeOrThrow() throws {
        let r = try fuzz("idx", seeds: idxSeeds) { try useIDX($0, path: "fuzz.idx") }
        #expect(r.inputs > 0)
    }

    @Test func gzipIDXFilesDecodeOrThrow() throws {
        let dir = try fuzzDirectory()
        let seeds = try idxSeeds.enumerated().map { i, s -> [UInt8] in
            try DataFile.write(s, to: "\(dir)/\(i).gz", gzip: true)
            return try DataFile.readRaw("\(dir)/\(i).gz")
        }
        let limits = DataLimits(maxDecompressedBytes: 1 << 20)
        let r = try fuzz("idx-gz", seeds: seeds) { bytes in
            let raw = DataFile.isGzip(bytes) ? try DataFile.gunzip(bytes, path: "fuzz.gz", limits: limits) : bytes
            try useIDX(raw, path: "fuzz.gz")
        }
        #expect(r.inputs > 0)
    }

    @Test func csvFilesDecodeOrThrow() throws {
        let seeds = ["a,b,label\n1,2,0\n3.5,-4e2,1\n\"5\",6,2\n", "1 2 3\n4 5 6\n", "x,y\n0.5,1\n-1,0\n",
                     "\u{FEFF}h1,\"h,2\",h3\r\n1,2,3\r\n4,5,6\r\n"].map { Array($0.utf8) }
        let limits = CSVLimits(maxColumns: 64, maxRows: 1000, maxValues: 10_000, maxNumberLength: 100, maxClassCount: 100)
        let r = try fuzz("csv", seeds: seeds) { bytes in
            let table = try CSV.parse(bytes, path: "fuzz.csv", limits: limits)
            _ = try CSV.classification(table, path: "fuzz.csv", limits: limits)
        }
        #expect(r.inputs > 0)
    }

    /// scikit-learn's count-line files: `rows,features,names…`, then the rows.
    @Test func sklearnCountLineFilesDecodeOrThrow() throws {
        let path = try fuzzDirectory() + "/set.csv"
        let seeds = ["3,2,a,b\n1,2,0\n3,4,1\n5,6,0\n", "2,3,x,y,z\n0.5,1,2,2\n1,1,1,0\n"].map { Array($0.utf8) }
        let r = try fuzz("sklearn", seeds: seeds) { bytes in
            writeInput(bytes, to: path)
            _ = try SklearnData._countLineSet(path: path)
        }
        #expect(r.inputs > 0)
    }

    /// A small checkpoint with everything a file can hold: BatchNorm buffers, dropout, Adam state,
    /// early stopping with best weights, a standardiser and class names.
    static func checkpointSeed(in dir: String) throws -> [UInt8] {
        var g = SeededGenerator(seed: 5)
        let x = Tensor(randomNormal: [24, 4], using: &g)
        let data = Dataset(inputs: x, labels: (0..<24).map { $0 % 3 }, classCount: 3)
        let model = try Sequential("dense:5,batchnorm,relu,dropout:0.25,dense:3", inputShape: [4], seed: 2)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01), seed: 3)
        trainer.earlyStopping = EarlyStopping(metric: .validationLoss, patience: 3)
        var description = DataDescription(source: "csv:x.csv")
        description.classNames = ["a", "b\"", "c"]
        description.standardizer = Standardizer(fitting: x)
        trainer.data = description
        _ = try trainer.fit(data, validation: data, epochs: 1, batchSize: 8)
        let path = dir + "/seed.safetensors"
        try Checkpoint.save(trainer, to: path)
        return try DataFile.readRaw(path)
    }

    /// The byte range of the header JSON, where most of a checkpoint's meaning is.
    static func headerRange(_ b: [UInt8]) -> Range<Int>? {
        guard b.count >= 8 else { return nil }
        let n = (0..<8).reduce(0) { $0 | Int(b[$1]) << (8 * $1) }
        return 8..<Swift.min(b.count, 8 + n)
    }

    /// Everything a command does with a checkpoint: load it, rebuild the trainer, prepare an input
    /// and run the model.
    static func useCheckpoint(_ path: String) throws {
        let loaded = try Checkpoint.load(path)
        if loaded.training != nil { _ = try loaded.makeTrainer() }
        let width = loaded.model.inputShape.reduce(1, *)
        let input = try loaded.data.prepare(Tensor(shape: [1, width], repeating: 0.5))
        _ = loaded.model.predict(input.reshaped([1] + loaded.model.inputShape))
    }

    @Test(arguments: ["anywhere", "header", "data"])
    func checkpointsLoadOrThrow(_ region: String) throws {
        let dir = try fuzzDirectory()
        let seed = try Self.checkpointSeed(in: dir)
        try Self.useCheckpoint(dir + "/seed.safetensors")
        // In the save directory when there is one: after a crash it holds the input that caused it.
        let path = (try FuzzSettings.fromEnvironment().saveDirectory ?? dir) + "/checkpoint-\(region).safetensors"
        let r = try fuzz("checkpoint-\(region)", seeds: [seed], region: { b in
            switch region {
            case "header": return Self.headerRange(b)
            case "data": return Self.headerRange(b).map { $0.upperBound..<b.count }
            default: return nil
            }
        }) { bytes in
            writeInput(bytes, to: path)
            try Self.useCheckpoint(path)
        }
        #expect(r.inputs > 0)
    }

    /// A safetensors file image of `header` with its metadata replaced by `metadata`, then `data`.
    static func checkpoint(header: [String: Any], metadata: [String: String], data: [UInt8]) throws -> [UInt8] {
        var h = header
        h["__metadata__"] = metadata
        var json = [UInt8](try JSONSerialization.data(withJSONObject: h, options: [.sortedKeys]))
        while (json.count + 8) % 8 != 0 { json.append(0x20) }
        return withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json + data
    }

    /// A checkpoint image of `file` (a valid one) with metadata `key` set to `value`.
    static func rewriting(_ file: [UInt8], key: String, value: String) throws -> [UInt8] {
        let range = try #require(headerRange(file))
        let header = try #require(try JSONSerialization.jsonObject(with: Data(file[range])) as? [String: Any])
        var metadata = try #require(header["__metadata__"] as? [String: String])
        metadata[key] = value
        return try checkpoint(header: header, metadata: metadata, data: Array(file[range.upperBound...]))
    }

    /// Metadata values mutated as text and the header re-encoded with a correct length, so the
    /// mutations reach the architecture, task, data and training decoders instead of stopping at the
    /// header's JSON syntax.
    @Test func checkpointMetadataValuesLoadOrThrow() throws {
        let dir = try fuzzDirectory()
        let seed = try Self.checkpointSeed(in: dir)
        let range = try #require(Self.headerRange(seed))
        let header = try #require(try JSONSerialization.jsonObject(with: Data(seed[range])) as? [String: Any])
        let metadata = try #require(header["__metadata__"] as? [String: String])
        let keys = metadata.keys.sorted()
        let data = Array(seed[range.upperBound...])
        let path = (try FuzzSettings.fromEnvironment().saveDirectory ?? dir) + "/checkpoint-metadata.safetensors"
        let settings = try FuzzSettings.fromEnvironment()
        var mutator = Mutator(seed: settings.seed &+ 99)
        // `fuzz` hands the body byte-mutated copies of a metadata value; half the time the body
        // uses them, half the time it mutates one leaf of the value's parsed JSON instead.
        let seeds = keys.map { Array($0.utf8) + [0] + Array(metadata[$0]!.utf8) }
        let r = try fuzz("checkpoint-metadata", seeds: seeds, region: { b in (b.firstIndex(of: 0) ?? 0)..<b.count }) { mutated in
            let split = mutated.firstIndex(of: 0) ?? 0
            let key = String(decoding: mutated[..<split], as: UTF8.self)
            guard let original = metadata[key] else { return }
            var value = String(decoding: mutated[Swift.min(split + 1, mutated.count)...], as: UTF8.self)
            if mutator.below(2) == 0, let parsed = try? JSONSerialization.jsonObject(with: Data(original.utf8), options: [.fragmentsAllowed]),
               let text = try? JSONSerialization.data(withJSONObject: mutator.mutateJSON(parsed), options: [.fragmentsAllowed]) {
                value = String(decoding: text, as: UTF8.self)
            }
            var m = metadata
            m[key] = value
            let file = try Self.checkpoint(header: header, metadata: m, data: data)
            writeInput(file, to: path)
            try Self.useCheckpoint(path)
        }
        #expect(r.inputs > 0)
    }
}

/// Inputs the fuzzers found that crashed, kept so they stay fixed.
@Suite struct FuzzRegressionTests {
    func seedFile() throws -> (dir: String, bytes: [UInt8]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-fuzz-regression-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (dir, try FuzzTests.checkpointSeed(in: dir))
    }

    /// IDX: a zero extent hid an overflowing product of the others, and an image width of 2^96
    /// trapped (found by `idxFilesDecodeOrThrow`'s mutations, fixed in `IDXFile.parse`).
    @Test func idxZeroExtentBesideHugeOnes() {
        var bytes: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 0]
        bytes += [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        #expect(throws: DataError.self) { try IDX.images(IDXFile.parse(bytes, path: "r.idx"), path: "r.idx") }
    }

    /// A checkpoint whose architecture has a negative (or huge) input extent before a dense layer:
    /// `Sequential.layers` builds the layers before `Sequential.init` checks the input shape, so
    /// `Dense` allocates a [units, -1] weight and traps in `Tensor.elementCount` (found by
    /// `checkpointMetadataValuesLoadOrThrow`, seed 7). Fixed: `Sequential.layers` checks the input
    /// shape first, and Dense/Maxout check their weight count, before anything is allocated.
    @Test(arguments: ["[-1]", "[1099511627776]", "[0]", "[16777216]"])
    func checkpointWithAnInvalidInputExtent(_ shape: String) throws {
        let (dir, seed) = try seedFile()
        let file = try FuzzTests.rewriting(seed, key: "architecture",
                                           value: #"{"input_shape":\#(shape),"layers":["dense:5","batchnorm","relu","dropout:0.25","dense:3"]}"#)
        let path = dir + "/bad.safetensors"
        _ = FileManager.default.createFile(atPath: path, contents: Data(file))
        #expect(throws: CheckpointError.self) { try FuzzTests.useCheckpoint(path) }
    }
}
