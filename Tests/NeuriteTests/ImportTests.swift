import Testing
import Foundation
import Neurite

private func tempDir() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-import-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Little-endian bytes of `values`.
private func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

/// One tensor of a hand-built file: its header fields and raw data.
private struct Raw {
    var name: String
    var dtype: String
    var shape: [Int]
    var data: [UInt8]
}

/// A safetensors file image written out by hand (not by `SafeTensors.encode`), tensors in the
/// given order, so the reader is checked against the format rather than against our writer.
private func image(_ tensors: [Raw], metadata: String? = nil) -> [UInt8] {
    var fields: [String] = metadata.map { [#""__metadata__":\#($0)"#] } ?? []
    var offset = 0
    for t in tensors {
        fields.append(#""\#(t.name)":{"dtype":"\#(t.dtype)","shape":\#(t.shape),"data_offsets":[\#(offset),\#(offset + t.data.count)]}"#)
        offset += t.data.count
    }
    let json = Array(("{" + fields.joined(separator: ",") + "}").utf8)
    return le([UInt64(json.count)]) + json + tensors.flatMap(\.data)
}

private func write(_ bytes: [UInt8], _ path: String) throws -> String {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

private func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }

/// The message of the `CheckpointError` that `body` throws ("" when it throws none).
private func message(_ body: () throws -> Void) -> String {
    do { try body() } catch let e as CheckpointError { return e.description } catch { return "not a CheckpointError: \(error)" }
    return ""
}

@Suite struct SafeTensorsDTypeTests {
    /// F16 widens exactly: each of the 65 536 bit patterns becomes the float32 of the same value,
    /// computed here from its fields (NaNs stay NaN), whatever the FTZ/DAZ mode of the thread.
    @Test func everyF16ValueWidensExactly() throws {
        let patterns = (0...UInt16.max).map { $0 }
        let f = try SafeTensors.decode(image([Raw(name: "h", dtype: "F16", shape: [patterns.count], data: le(patterns))]), path: "h.safetensors")
        let values = f.tensors["h"]!.scalars
        #expect(f.dtypes["h"] == .f16)
        let wrong = zip(patterns, values).filter { p, v in
            let sign: FloatingPointSign = p & 0x8000 != 0 ? .minus : .plus
            let e = Int(p >> 10) & 0x1F, m = Double(p & 0x3FF)
            switch e {
            case 0x1F: return m == 0 ? v != (sign == .minus ? -Float.infinity : .infinity) : !v.isNaN
            case 0: return v.bitPattern != Float(Double(sign: sign, exponent: -24, significand: m)).bitPattern
            default: return v.bitPattern != Float(Double(sign: sign, exponent: e - 25, significand: 1024 + m)).bitPattern
            }
        }
        #expect(wrong.isEmpty, "\(wrong.prefix(5))")
        // Landmarks: 1, −2, the largest finite, the smallest subnormal, infinity, −0.
        #expect(values[0x3C00] == 1 && values[0xC000] == -2 && values[0x7BFF] == 65504)
        #expect(values[0x0001] == 0x1p-24 && values[0x7C00] == .infinity && values[0x8000].bitPattern == 0x8000_0000)
    }

    /// BF16 is the upper half of a float32: widening is a 16-bit shift, NaN payloads included.
    @Test func everyBF16ValueIsTheUpperHalfOfAFloat() throws {
        let patterns = (0...UInt16.max).map { $0 }
        let f = try SafeTensors.decode(image([Raw(name: "b", dtype: "BF16", shape: [256, 256], data: le(patterns))]), path: "b.safetensors")
        #expect(f.tensors["b"]!.shape == [256, 256])
        #expect(bits(f.tensors["b"]!) == patterns.map { UInt32($0) << 16 })
    }

    /// F64 rounds to the nearest float32, ties to even (C's and PyTorch's cast), overflowing to ±∞.
    @Test func f64RoundsToNearestEven() throws {
        let cases: [(Double, UInt32)] = [
            (0.1, 0x3DCC_CCCD), (-1.5, 0xBFC0_0000),
            (1 + 0x1p-24, 0x3F80_0000),              // halfway: to the even neighbour, 1
            (1 + 3 * 0x1p-24, 0x3F80_0002),          // halfway between 1+2⁻²³ and 1+2⁻²²: to the even one
            (1 + 0x1p-24 + 0x1p-52, 0x3F80_0001),    // just above halfway: up
            (0x1p-149, 0x0000_0001), (0x1p-150, 0), (0x1.8p-150, 0x0000_0001), (0x1p-151, 0),   // subnormals, FTZ or not
            (0x1.fffffep-127, 0x0080_0000),          // rounds up into the least normal
            (Double(Float.greatestFiniteMagnitude), 0x7F7F_FFFF), (0x1.ffffffp127, 0x7F80_0000),   // the largest; half an ulp above: ∞
            (1e300, 0x7F80_0000), (-1e300, 0xFF80_0000), (-0.0, 0x8000_0000), (.infinity, 0x7F80_0000), (0x1p-1074, 0),
        ]
        let f = try SafeTensors.decode(image([Raw(name: "d", dtype: "F64", shape: [cases.count], data: le(cases.map { $0.0.bitPattern }))]), path: "d.safetensors")
        #expect(bits(f.tensors["d"]!) == cases.map(\.1))
        // Any double: the same as the hardware's rounding (normal float32 results, which FTZ leaves alone).
        var g = SeededGenerator(seed: 4)
        let doubles = (0..<4096).map { _ in Double(bitPattern: g.next() & 0xBFFF_FFFF_FFFF_FFFF | 0x3800_0000_0000_0000) }
            .filter { abs($0) >= 0x1p-126 && abs($0) <= Double(Float.greatestFiniteMagnitude) }
        let r = try SafeTensors.decode(image([Raw(name: "r", dtype: "F64", shape: [doubles.count], data: le(doubles.map(\.bitPattern)))]), path: "r.safetensors")
        #expect(doubles.count > 1000 && bits(r.tensors["r"]!) == doubles.map { Float($0).bitPattern })
    }

    /// I64 (BatchNorm's `num_batches_tracked`) converts when float32 holds it exactly, else is refused.
    @Test func i64MustBeExactlyRepresentable() throws {
        let exact: [Int64] = [0, 7, -5, 1 << 24, 1 << 40, -(1 << 62)]
        let f = try SafeTensors.decode(image([Raw(name: "n", dtype: "I64", shape: [exact.count], data: le(exact))]), path: "n.safetensors")
        #expect(f.tensors["n"]!.scalars == exact.map { Float($0) })
        let scalar = try SafeTensors.decode(image([Raw(name: "s", dtype: "I64", shape: [], data: le([Int64(12)]))]), path: "s.safetensors")
        #expect(scalar.tensors["s"]!.shape == [] && scalar.tensors["s"]!.scalar == 12)
        let m = message { _ = try SafeTensors.decode(image([Raw(name: "n", dtype: "I64", shape: [2], data: le([Int64(3), (1 << 24) + 1]))]), path: "n.safetensors") }
        #expect(m.contains("n.safetensors") && m.contains("tensor n") && m.contains("16777217") && m.contains("index 1"), "\(m)")
    }

    /// F32 files from elsewhere, several dtypes in one file, and our own writer's output all read.
    @Test func mixedDtypesInOneFile() throws {
        let f = try SafeTensors.decode(image([
            Raw(name: "a", dtype: "F32", shape: [2], data: le([Float(1.25).bitPattern, Float(-3).bitPattern])),
            Raw(name: "b", dtype: "F16", shape: [1, 1], data: le([Float16(0.5).bitPattern])),
            Raw(name: "c", dtype: "BF16", shape: [0], data: []),
            Raw(name: "d", dtype: "F64", shape: [1], data: le([Double(2.5).bitPattern])),
        ], metadata: #"{"k":"v"}"#), path: "m.safetensors")
        #expect(f.tensors["a"]!.scalars == [1.25, -3] && f.tensors["b"]!.scalars == [0.5] && f.tensors["c"]!.shape == [0])
        #expect(f.tensors["d"]!.scalars == [2.5] && f.metadata == ["k": "v"])
        #expect(f.dtypes == ["a": .f32, "b": .f16, "c": .bf16, "d": .f64])
    }

    /// Every header field is checked, and the tensors must tile the data region exactly: bytes left
    /// over at the end or inserted between tensors are refused, naming the file.
    @Test func malformedHeadersAndStrayBytesAreRefused() throws {
        let w = Raw(name: "w", dtype: "F16", shape: [2], data: le([UInt16(0x3C00), 0x4000]))
        let v = Raw(name: "v", dtype: "F32", shape: [1], data: le([Float(1).bitPattern]))
        func header(_ json: String, data: Int) -> [UInt8] { le([UInt64(json.utf8.count)]) + Array(json.utf8) + [UInt8](repeating: 0, count: data) }
        let good = image([w, v])
        #expect(throws: Never.self) { try SafeTensors.decode(good, path: "good.safetensors") }
        let cases: [(String, [UInt8], String)] = [
            ("trailing byte", good + [0], "1 byte after the last tensor"),
            ("trailing tensor's worth", good + le([Float(2).bitPattern]), "4 bytes after the last tensor"),
            ("inserted bytes", header(#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"v":{"dtype":"F32","shape":[1],"data_offsets":[6,10]}}"#, data: 10),
             "2 bytes between tensor w"),
            ("gap at the start", header(#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}"#, data: 8), "the start of the data"),
            ("overlap", header(#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"v":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#, data: 6),
             "overlaps tensor w"),
            ("unsupported dtype", header(#"{"w":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}"#, data: 4), "dtype I32 is not supported"),
            ("dtype not a string", header(#"{"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}"#, data: 4), "dtype 4 is not supported"),
            ("no dtype", header(#"{"w":{"shape":[1],"data_offsets":[0,4]}}"#, data: 4), "no dtype"),
            ("size for another dtype", header(#"{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,4]}}"#, data: 8), "needs 8 bytes"),
            ("fractional size", header(#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: 4), "expected non-negative integers"),
            ("boolean size", header(#"{"w":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, data: 4), "expected non-negative integers"),
            ("exponent offset", header(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4e0]}}"#, data: 4), "expected non-negative integers"),
            ("reversed offsets", header(#"{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#, data: 4), "end before they begin"),
            ("three offsets", header(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}"#, data: 4), "not a pair"),
            ("offsets past the end", header(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: 4), "past the 4 data bytes"),
            ("unknown field", header(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"order":"big"}}"#, data: 4), "unknown header field order"),
            ("entry not an object", header(#"{"w":[1]}"#, data: 0), "expected an object"),
            ("metadata not strings", header(#"{"__metadata__":{"k":1}}"#, data: 0), "__metadata__ value k"),
            ("header not an object", header("[1]", data: 0), "expected a JSON object"),
            ("header not JSON", header("{nope", data: 0), "is not valid JSON"),
            ("huge field", header(#"{"w":{"dtype":""# + String(repeating: "X", count: 10_000) + #"","shape":[1],"data_offsets":[0,4]}}"#, data: 4), "XXX…"),
        ]
        for (name, bytes, expected) in cases {
            let m = message { _ = try SafeTensors.decode(bytes, path: "bad.safetensors") }
            #expect(m.hasPrefix("bad.safetensors: ") && m.contains(expected) && m.count < 300, "\(name): \(m.prefix(300))")
        }
    }
}

@Suite struct SafeTensorsFuzzTests {
    /// Seeded random damage to a valid file — flipped, inserted and deleted bytes, truncation,
    /// digits changed in the header — always ends in a decoded file or a `CheckpointError`, never a
    /// trap; a decoded file's tensors still tile its data exactly.
    @Test func damagedFilesDecodeOrThrowNeverTrap() throws {
        let good = image([
            Raw(name: "a", dtype: "F16", shape: [2, 3], data: le((0..<6).map { UInt16($0) << 10 })),
            Raw(name: "b", dtype: "I64", shape: [], data: le([Int64(5)])),
            Raw(name: "c", dtype: "F64", shape: [1], data: le([Double(0.5).bitPattern])),
            Raw(name: "d", dtype: "BF16", shape: [0, 4], data: []),
        ], metadata: #"{"format":"x"}"#)
        let headerEnd = 8 + Int(good[0]) + Int(good[1]) << 8
        var g = SeededGenerator(seed: 2026)
        var decoded = 0
        for _ in 0..<3000 {
            var b = good
            for _ in 0...Int(g.next() % 3) {
                let i = Int(g.next() % UInt64(max(b.count, 1)))
                switch g.next() % 6 {
                case 0 where !b.isEmpty: b[i] ^= UInt8(truncatingIfNeeded: 1 << (g.next() % 8))
                case 1: b.insert(UInt8(truncatingIfNeeded: g.next()), at: min(i, b.count))
                case 2 where !b.isEmpty: b.remove(at: i)
                case 3: b = Array(b.prefix(i))
                case 4 where i < min(headerEnd, b.count) && (b[i] >= 0x30 && b[i] <= 0x39):
                    b[i] = 0x30 + UInt8(g.next() % 10)             // another digit in a shape or an offset
                case _ where !b.isEmpty: b[Int(g.next() % 8) % b.count] = UInt8(truncatingIfNeeded: g.next())   // the length
                default: break
                }
            }
            do {
                let f = try SafeTensors.decode(b, path: "fuzz.safetensors")
                decoded += 1
                #expect(f.tensors.count == f.dtypes.count)
            } catch is CheckpointError {
            } catch {
                Issue.record("not a CheckpointError: \(error)")
            }
        }
        #expect(decoded > 0 && decoded < 3000, "\(decoded) of 3000 damaged files decoded")
    }
}

/// A small model with every kind of named tensor: dense weights and biases, and BatchNorm's
/// parameters and buffers.
private func smallModel(seed: UInt64 = 1) throws -> Sequential {
    try Sequential("dense:4,batchnorm,relu,dense:3", inputShape: [5], seed: seed)
}

/// A state_dict for `smallModel` as PyTorch writes it: weights F16, biases BF16, BatchNorm F64 and
/// `num_batches_tracked` I64, under `prefix`; values exactly representable in each dtype.
private func stateDict(prefix: String, skip: String? = nil, extra: [Raw] = []) -> [UInt8] {
    func f16(_ n: Int, _ shape: [Int], _ name: String) -> Raw {
        Raw(name: prefix + name, dtype: "F16", shape: shape, data: le((0..<n).map { Float16(Float($0) / 8 - 1).bitPattern }))
    }
    func bf16(_ n: Int, _ name: String) -> Raw {
        Raw(name: prefix + name, dtype: "BF16", shape: [n], data: le((0..<n).map { UInt16(truncatingIfNeeded: Float(Float($0) * 0.25 + 0.5).bitPattern >> 16) }))
    }
    func f64(_ n: Int, _ name: String, _ base: Double) -> Raw {
        Raw(name: prefix + name, dtype: "F64", shape: [n], data: le((0..<n).map { (base + Double($0) / 4).bitPattern }))
    }
    let all = [
        f16(20, [4, 5], "0.weight"), bf16(4, "0.bias"),
        f64(4, "1.weight", 1), f64(4, "1.bias", -1), f64(4, "1.running_mean", 0.5), f64(4, "1.running_var", 2),
        Raw(name: prefix + "1.num_batches_tracked", dtype: "I64", shape: [], data: le([Int64(300)])),
        f16(12, [3, 4], "3.weight"), bf16(3, "3.bias"),
    ]
    return image(all.filter { $0.name != prefix + (skip ?? "-") } + extra)
}

@Suite struct ImportTests {
    @Test(arguments: ["", "model.", "module."])
    func aStateDictImportsWithOrWithoutAPrefix(_ prefix: String) throws {
        let path = try write(stateDict(prefix: prefix), tempDir() + "/sd.safetensors")
        let model = try smallModel()
        let result = try Checkpoint.importStateDict(path, into: model)
        #expect(result.tensorCount == 9 && result.prefix == prefix && result.dtypes == [.f16, .bf16, .f64, .i64] && result.trainingStateTensors == 0)
        func value(_ name: String) -> [Float] { model.parameters.parameter(named: name)!.value.scalars }
        #expect(value("0.weight") == (0..<20).map { Float($0) / 8 - 1 })
        #expect(model.parameters.parameter(named: "0.weight")!.value.shape == [4, 5])
        #expect(value("0.bias") == [0.5, 0.75, 1, 1.25] && value("1.weight") == [1, 1.25, 1.5, 1.75] && value("3.bias") == [0.5, 0.75, 1])
        let buffers = Dictionary(uniqueKeysWithValues: model.buffers.map { ($0.name, $0.buffer.value) })
        #expect(buffers["1.running_var"]!.scalars == [2, 2.25, 2.5, 2.75] && buffers["1.num_batches_tracked"]! == Tensor(scalar: 300))
    }

    /// Each kind of mismatch is reported with names and shapes, all of them at once, and the model
    /// keeps its weights.
    @Test func everyMismatchIsReportedAndTheModelIsLeftAlone() throws {
        let dir = tempDir()
        let model = try smallModel()
        let before = model.parameters.values
        let cases: [(String, [UInt8], [String])] = [
            ("missing", stateDict(prefix: "", skip: "3.bias"), ["missing tensor 3.bias [3] for layer 3 (dense:3)"]),
            ("unexpected", stateDict(prefix: "model.", extra: [Raw(name: "model.5.weight", dtype: "F32", shape: [1], data: le([UInt32(0)]))]),
             ["unexpected tensor model.5.weight [1]"]),
            ("shape", stateDict(prefix: "", skip: "0.weight", extra: [Raw(name: "0.weight", dtype: "F32", shape: [4, 6], data: [UInt8](repeating: 0, count: 96))]),
             ["tensor 0.weight has shape [4, 6] but layer 0 (dense:4) expects [4, 5] (the model's input shape is [5])"]),
            ("not finite", stateDict(prefix: "", skip: "3.bias", extra: [Raw(name: "3.bias", dtype: "F64", shape: [3], data: le([0, 1e300, 0].map { Double($0).bitPattern }))]),
             ["tensor 3.bias holds NaN or infinite values as float32 (stored as F64)"]),
        ]
        for (name, bytes, expected) in cases {
            let path = try write(bytes, "\(dir)/\(name).safetensors")
            let m = message { try Checkpoint.importStateDict(path, into: model) }
            #expect(m.hasPrefix("\(path): the state dict does not fit the model (1 problem)"), "\(name): \(m)")
            for e in expected { #expect(m.contains(e), "\(name): \(m)") }
        }
        // Never silently ignored: against a model with 2 outputs, a file with an extra tensor, a
        // missing one and the 3-output head gives all four problems.
        let three = stateDict(prefix: "", skip: "1.running_mean", extra: [Raw(name: "3.weight_g", dtype: "F32", shape: [1], data: le([UInt32(0)]))])
        let path = try write(three, "\(dir)/three.safetensors")
        let model2 = try Sequential("dense:4,batchnorm,relu,dense:2", inputShape: [5], seed: 1)
        let before2 = model2.parameters.values
        let m = message { try Checkpoint.importStateDict(path, into: model2) }
        #expect(m.contains("(4 problems)") && m.contains("missing tensor 1.running_mean [4] for layer 1 (batchnorm)"), "\(m)")
        #expect(m.contains("tensor 3.weight has shape [3, 4] but layer 3 (dense:2) expects [2, 4]") && m.contains("tensor 3.bias has shape [3]"), "\(m)")
        #expect(m.contains("unexpected tensor 3.weight_g [1]"), "\(m)")
        // A wrong architecture for a large file: the first 40 problems, then a count.
        var many: [String: Tensor] = [:]
        for i in 0..<100 { many["\(i).weight"] = Tensor([1]) }
        try SafeTensors.write(many, metadata: [:], to: dir + "/many.safetensors")
        let long = message { try Checkpoint.importStateDict(dir + "/many.safetensors", into: model2) }
        #expect(long.contains("(106 problems)") && long.contains("… and 66 more") && long.split(separator: "\n").count == 43, "\(long)")
        #expect(model.parameters.values == before && model2.parameters.values == before2)
    }

    /// LeNet-5 and the MLP written by Neurite import back bit for bit; a training checkpoint's
    /// optimizer state is left behind and counted.
    @Test(arguments: ["lenet", "mlp"])
    func neuriteExportsImportBackBitwise(_ name: String) throws {
        let dir = tempDir()
        let a = name == "lenet" ? try Models.lenet5(seed: 3) : try Models.mlp(seed: 3)
        let b = name == "lenet" ? try Models.lenet5(seed: 4) : try Models.mlp(seed: 4)
        #expect(a.parameters.values != b.parameters.values)
        try Checkpoint.save(model: a, loss: SoftmaxCrossEntropy(), classCount: 10, to: dir + "/a.safetensors")
        let result = try Checkpoint.importStateDict(dir + "/a.safetensors", into: b)
        #expect(bits(a.parameters.values) == bits(b.parameters.values))
        #expect(result.prefix == "model." && result.dtypes == [.f32] && result.trainingStateTensors == 0)

        // With the optimizer's state in the file (momentum: one velocity per parameter).
        let trainer = Trainer(model: a, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 0.01, momentum: 0.9))
        var g = SeededGenerator(seed: 1)
        let x = Tensor(randomNormal: [32, 784], using: &g)
        _ = try trainer.fit(Dataset(inputs: x, labels: (0..<32).map { $0 % 10 }), epochs: 1, batchSize: 16)
        try Checkpoint.save(trainer, to: dir + "/t.safetensors")
        let c = name == "lenet" ? try Models.lenet5(seed: 5) : try Models.mlp(seed: 5)
        let withState = try Checkpoint.importStateDict(dir + "/t.safetensors", into: c)
        #expect(bits(a.parameters.values) == bits(c.parameters.values))
        #expect(withState.trainingStateTensors == a.parameters.parameters.count && withState.tensorCount == a.parameters.parameters.count)
    }

    /// Python's `safetensors` (numpy flavour) writes F16, F64 and I64 the way `torch` does; numpy's
    /// own float32 casts of the same values are the expected result.
    @Test(.enabled(if: CheckpointTests.pythonHasSafetensors, "Python's safetensors package is not installed (pip install safetensors numpy)"))
    func aStateDictWrittenByPythonImports() throws {
        let dir = tempDir()
        let script = """
        import sys, numpy as np
        from safetensors.numpy import save_file
        rng = np.random.default_rng(0)
        sd = {"model.0.weight": rng.standard_normal((4, 5)).astype(np.float16),
              "model.0.bias": rng.standard_normal(4),                      # float64, rounded on import
              "model.1.weight": rng.uniform(0.5, 2, 4).astype(np.float16), "model.1.bias": rng.standard_normal(4),
              "model.1.running_mean": rng.standard_normal(4), "model.1.running_var": rng.uniform(0.5, 2, 4),
              "model.1.num_batches_tracked": np.array(1234, dtype=np.int64),
              "model.3.weight": rng.standard_normal((3, 4)), "model.3.bias": rng.standard_normal(3).astype(np.float16)}
        save_file(sd, sys.argv[1] + "/sd.safetensors")
        save_file({k: v.astype(np.float32) for k, v in sd.items()}, sys.argv[1] + "/expected.safetensors")
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0)
        let model = try smallModel()
        let result = try Checkpoint.importStateDict(dir + "/sd.safetensors", into: model)
        #expect(result.dtypes == [.f16, .f64, .i64] && result.prefix == "model.", "\(result)")
        let expected = try SafeTensors.read(dir + "/expected.safetensors").tensors
        for p in model.parameters.parameters { #expect(bits(p.value) == bits(expected["model." + p.qualifiedName]!), "\(p.qualifiedName)") }
        for (name, b) in model.buffers { #expect(bits(b.value) == bits(expected["model." + name]!), "\(name)") }
    }
}

/// Runs `python3 -c script args…` (the first `python3` on PATH) and returns its exit status and
/// standard error.
private func python(_ script: String, _ args: [String]) throws -> (status: Int32, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", script] + args
    let err = Pipe()
    p.standardError = err
    try p.run()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: e, as: UTF8.self))
}

@Suite struct TorchInteropTests {
    static let pythonHasTorch: Bool = (try? python("import torch, safetensors.torch", []).status == 0) ?? false

    /// Benchmarks/peers, whose torch_interop.py builds the nn.Sequential of a layer list.
    static let peers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Benchmarks/peers").path

    /// Both directions with PyTorch itself, on a model with every kind of tensor (convolutions,
    /// 2-d and 1-d batch normalisation with non-trivial running statistics, LRN, pooling, dense):
    /// our checkpoint loads into `nn.Sequential` with `strict=True` and computes our outputs; a
    /// torch state_dict saved in F32, F16, BF16 and F64 imports and computes torch's outputs for
    /// the weights as saved.
    @Test(.enabled(if: pythonHasTorch, "PyTorch is not installed (pip install torch safetensors numpy)"))
    func torchLoadsOurCheckpointsAndWeImportItsStateDicts() throws {
        let dir = tempDir()
        let spec = "conv:4:3:pad=1,batchnorm,relu,maxpool:2,lrn:size=3,conv:6:2:stride=2,leakyrelu,flatten,dense:8,batchnorm,elu,dense:3"
        let model = try Sequential(spec, inputShape: [1, 8, 8], seed: 3)
        var g = SeededGenerator(seed: 11)
        for (name, b) in model.buffers where !name.hasSuffix("num_batches_tracked") {
            let u = Tensor(randomUniform: b.value.shape, in: 0.5...1.5, using: &g)
            b.value = name.hasSuffix("running_var") ? u : u - 1
        }
        try Checkpoint.save(model: model, loss: SoftmaxCrossEntropy(), classCount: 3, to: dir + "/neurite.safetensors")
        let x = Tensor(randomNormal: [5, 64], using: &g)
        try SafeTensors.write(["x": x, "y": model.predict(x)], metadata: [:], to: dir + "/io.safetensors")
        let script = """
        import json, sys, torch
        sys.path.insert(0, sys.argv[1])
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file
        from torch_interop import torch_sequential
        d = sys.argv[2]
        with safe_open(d + "/neurite.safetensors", "pt") as f: arch = json.loads(f.metadata()["architecture"])
        net = torch_sequential(torch, ",".join(arch["layers"]), arch["input_shape"])
        sd = load_file(d + "/neurite.safetensors")
        net.load_state_dict({k[len("model."):]: v for k, v in sd.items()}, strict=True)
        net.eval()
        io = load_file(d + "/io.safetensors")
        x = io["x"].reshape(5, 1, 8, 8)
        with torch.no_grad(): err = float((net(x) - io["y"]).abs().max())
        assert err < 1e-5, f"torch computes our checkpoint's outputs to within {err}"
        torch.manual_seed(0)
        theirs = torch_sequential(torch, sys.argv[3], [1, 8, 8])
        with torch.no_grad():
            for m in theirs.modules():
                if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                    m.running_mean.uniform_(-1, 1); m.running_var.uniform_(0.5, 2); m.num_batches_tracked.fill_(9)
                    m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.5, 0.5)
        theirs.eval()
        trained = {k: v.clone() for k, v in theirs.state_dict().items()}
        outputs = {}
        for name, dtype in [("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)]:
            state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in trained.items()}
            save_file(state, f"{d}/torch-{name}.safetensors")
            theirs.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
            with torch.no_grad(): outputs[name] = theirs(x).contiguous()
        save_file(outputs, d + "/torch-out.safetensors")
        """
        let r = try python(script, [Self.peers, dir, spec])
        try #require(r.status == 0, "\(r.err)")
        let expected = try SafeTensors.read(dir + "/torch-out.safetensors").tensors
        for name in ["f32", "f16", "bf16", "f64"] {
            let imported = try Sequential(spec, inputShape: [1, 8, 8], seed: 99)
            let result = try Checkpoint.importStateDict(dir + "/torch-\(name).safetensors", into: imported)
            #expect(result.tensorCount == 18 && result.prefix == "" && result.dtypes.contains(.i64), "\(result)")
            let y = imported.predict(x), want = try #require(expected[name])
            let err = zip(y.scalars, want.scalars).map { abs($0 - $1) }.max() ?? .infinity
            #expect(y.shape == want.shape && err < 1e-5, "\(name): outputs differ from torch's by \(err)")
        }
    }
}

/// `neurite import`, `export`, `--version` and `summary`'s model hints, end to end.
@Suite struct ImportCommandTests {
    let cli = CommandLineTests()

    @Test func versionAndModelNameHints() throws {
        let v = try cli.run(["--version"])
        #expect(v.status == 0 && !v.out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(v)")
        let s = try cli.run(["summary", "--model", "lenett"])
        #expect(s.status != 0 && s.err.contains("did you mean 'lenet'?") && s.err.contains("named models: mlp, linear, lenet"), "\(s.err)")
        let list = try cli.run(["summary", "--model", "dense:3,warp"])
        #expect(list.status != 0 && !list.err.contains("named models"), "\(list.err)")
    }

    /// A state_dict as PyTorch names it imports, and the checkpoint evaluates to exactly the accuracy
    /// of the same weights evaluated here; without `--data`, `evaluate --data` supplies the source.
    @Test(.enabled(if: FashionMNIST.isAvailable, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"))
    func importedLeNetEvaluatesToTheSameAccuracy() throws {
        let dir = tempDir()
        let model = try Models.lenet5(seed: 7)
        var tensors: [String: Tensor] = [:]
        for p in model.parameters.parameters { tensors[p.qualifiedName] = p.value }
        try SafeTensors.write(tensors, metadata: [:], to: dir + "/sd.safetensors")
        let test = try FashionMNIST.load(split: .test)
        let expected = try #require(model.evaluate(test).accuracy)

        for (importFlags, evaluateFlags) in [(["--data", "fashion-mnist"], [String]()), ([], ["--data", "fashion-mnist"])] {
            let out = dir + "/n\(importFlags.count).safetensors"
            let i = try cli.run(["import", dir + "/sd.safetensors", "--model", "lenet", "-o", out] + importFlags)
            #expect(i.status == 0 && i.out.contains("Imported 10 tensors (61706 parameters"), "\(i.out) \(i.err)")
            let e = try cli.run(["evaluate", "--checkpoint", out, "--json"] + evaluateFlags)
            #expect(e.status == 0, "\(e.err)")
            let field = e.out.range(of: #""test_accuracy":([0-9.]+)"#, options: .regularExpression).map { String(e.out[$0].dropFirst(16)) }
            #expect(field.flatMap(Float.init) == expected, "evaluate said \(field ?? e.out), in process \(expected)")
        }
    }

    @Test func importRefusesWhatDoesNotFitAndWritesNothing() throws {
        let dir = tempDir()
        try SafeTensors.write(["0.weight": Tensor(shape: [3, 5], repeating: 0), "0.bias": Tensor(shape: [3], repeating: 0), "9.bias": Tensor([1])],
                              metadata: [:], to: dir + "/sd.safetensors")
        let out = dir + "/out.safetensors"
        let cases: [([String], String)] = [
            (["--model", "dense:3", "--input-shape", "4"], "tensor 0.weight has shape [3, 5] but layer 0 (dense:3) expects [3, 4]"),
            (["--model", "dense:3", "--input-shape", "5"], "unexpected tensor 9.bias [1]"),
            (["--model", "dense:1", "--input-shape", "5"], "pass --classes 2"),
            (["--model", "dense:3", "--input-shape", "5", "--classes", "4"], "--classes 4 does not match"),
            (["--model", "lenett"], "did you mean 'lenet'?"),
            (["--model", "dense:3", "--input-shape", "5x"], "--input-shape"),
            (["--model", "dense:3", "--regression", "--classes", "3"], "exclude each other"),
        ]
        for (flags, needle) in cases {
            let r = try cli.run(["import", dir + "/sd.safetensors", "-o", out] + flags)
            #expect(r.status != 0 && r.err.contains(needle), "\(flags): \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        // A state_dict given where a checkpoint belongs: the message says how to import it.
        let e = try cli.run(["evaluate", "--checkpoint", dir + "/sd.safetensors"])
        #expect(e.status != 0 && e.err.contains("neurite import \(dir)/sd.safetensors --model SPEC -o OUT"), "\(e.err)")
    }

    /// The task recorded follows the flags: --regression is mean squared error, one output with
    /// --classes 2 is logistic, several outputs are softmax over that many classes.
    @Test func importRecordsTheTaskTheFlagsName() throws {
        let dir = tempDir()
        try SafeTensors.write(["0.weight": Tensor(shape: [1, 5], repeating: 0.5), "0.bias": Tensor([0.25])], metadata: [:], to: dir + "/one.safetensors")
        try SafeTensors.write(["module.0.weight": Tensor(shape: [4, 5], repeating: 0.5), "module.0.bias": Tensor(shape: [4], repeating: 0)],
                              metadata: [:], to: dir + "/four.safetensors")
        let cases: [(String, [String], Checkpoint.Task)] = [
            ("one", ["--model", "dense:1", "--regression"], Checkpoint.Task(loss: "mse", classCount: 0)),
            ("one", ["--model", "dense:1", "--classes", "2"], Checkpoint.Task(loss: "binary-cross-entropy", classCount: 2)),
            ("four", ["--model", "dense:4"], Checkpoint.Task(loss: "softmax-cross-entropy", classCount: 4)),
        ]
        for (i, (file, flags, task)) in cases.enumerated() {
            let out = "\(dir)/out\(i).safetensors"
            let r = try cli.run(["import", "\(dir)/\(file).safetensors", "-o", out, "--input-shape", "5"] + flags)
            #expect(r.status == 0, "\(flags): \(r.err)")
            let loaded = try Checkpoint.load(out)
            #expect(loaded.task == task && loaded.training == nil && loaded.model.inputShape == [5], "\(flags): \(loaded.task)")
        }
    }

    /// `export` keeps the model, its task and data description, and drops the training state.
    @Test func exportWritesWeightsOnly() throws {
        let dir = tempDir()
        let model = try Sequential("dense:8,relu,dense:3", inputShape: [4], seed: 2)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01))
        trainer.data = DataDescription(source: "sklearn:iris")
        var g = SeededGenerator(seed: 1)
        _ = try trainer.fit(Dataset(inputs: Tensor(randomNormal: [30, 4], using: &g), labels: (0..<30).map { $0 % 3 }), epochs: 1, batchSize: 10)
        try Checkpoint.save(trainer, to: dir + "/t.safetensors")
        let r = try cli.run(["export", "--checkpoint", dir + "/t.safetensors", "-o", dir + "/w.safetensors"])
        #expect(r.status == 0 && r.out.contains("8 training-state tensors left out"), "\(r.out) \(r.err)")
        let file = try SafeTensors.read(dir + "/w.safetensors")
        #expect(Set(file.tensors.keys) == ["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"])
        let loaded = try Checkpoint.load(dir + "/w.safetensors")
        #expect(loaded.training == nil && loaded.data == trainer.data && loaded.task.classCount == 3)
        #expect(bits(loaded.model.parameters.values) == bits(model.parameters.values))
        #expect(throws: CheckpointError.self) { try loaded.makeTrainer() }
    }
}
