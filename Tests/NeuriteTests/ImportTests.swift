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
            ("header not an object", header("[1]", data: 0), "not a JSON object"),
        ]
        for (name, bytes, expected) in cases {
            let m = message { _ = try SafeTensors.decode(bytes, path: "bad.safetensors") }
            #expect(m.hasPrefix("bad.safetensors: ") && m.contains(expected), "\(name): \(m)")
        }
    }
}
