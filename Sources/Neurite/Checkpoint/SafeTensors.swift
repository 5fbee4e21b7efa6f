// The safetensors file format: an 8-byte little-endian header length, a JSON header, raw data.

import Foundation

/// A checkpoint or tensor file that cannot be read.
public struct CheckpointError: NeuriteError, Equatable {
    /// The file.
    public let path: String
    /// What is wrong with it.
    public let message: String
    /// An error about `path`.
    public init(path: String, _ message: String) { self.path = path; self.message = message }
    public var description: String { "\(path): \(message)" }
}

/// Tensors in the safetensors format (the format of Hugging Face's `safetensors` package):
/// `u64le N`, N bytes of UTF-8 JSON
/// `{"__metadata__": {string: string}, "<name>": {"dtype": "F32", "shape": […], "data_offsets": [b, e]}, …}`,
/// then the data, every tensor little-endian and contiguous at [b, e) relative to the data start.
/// Writes float32; reads F32, F16, BF16, F64 and I64 (what PyTorch's `state_dict` holds), as float32.
public enum SafeTensors {
    /// Largest header accepted (the format's own limit is 100 MB).
    public static let maximumHeaderBytes = 100_000_000

    /// Encodes `tensors` (written in name order) and `metadata` into a file image.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String]) throws -> [UInt8] {
        let names = tensors.keys.sorted()
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]] as [String: Any]
            offset += 4 * t.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (json.count + 8) % 8 != 0 { json.append(0x20) }   // pad with spaces: data starts 8-byte aligned
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out += $0 }
        out += json
        for name in names {
            tensors[name]!.withUnsafeBufferPointer { p in
                for v in p { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
            }
        }
        return out
    }

    /// Writes atomically: a temporary file in the same directory, fsync, rename over `path`, fsync
    /// of the directory. A crash at any moment leaves either the old or the new complete file.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String], to path: String) throws {
        let bytes = try encode(tensors, metadata: metadata)
        try atomicWrite(bytes, to: path)
    }

    /// Writes `bytes` to `path` atomically (see `write`).
    public static func atomicWrite(_ bytes: [UInt8], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = "\(dir)/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw CheckpointError(path: path, "cannot create a temporary file in \(dir): \(String(cString: strerror(errno)))") }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        var written = 0
        let result: Int = bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n <= 0 { return -1 }
                written += n
            }
            return 0
        }
        if result != 0 || fsync(fd) != 0 {
            let msg = String(cString: strerror(errno))
            close(fd)
            throw CheckpointError(path: path, "writing failed: \(msg)")
        }
        close(fd)
        guard rename(tmp, path) == 0 else {
            throw CheckpointError(path: path, "cannot move the new file into place: \(String(cString: strerror(errno)))")
        }
        ok = true
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// Element types `read` accepts. Every one becomes float32 as PyTorch's `.float()` would make
    /// it: F16 and BF16 widen exactly, F64 rounds to nearest (even), and I64 (BatchNorm's
    /// `num_batches_tracked`) must be exactly representable. Files are always written as F32.
    public enum DType: String, Sendable, CaseIterable {
        /// IEEE binary32.
        case f32 = "F32"
        /// IEEE binary16.
        case f16 = "F16"
        /// bfloat16: the upper half of a binary32.
        case bf16 = "BF16"
        /// IEEE binary64.
        case f64 = "F64"
        /// Two's-complement 64-bit integer.
        case i64 = "I64"

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .f16, .bf16: return 2
            case .f32: return 4
            case .f64, .i64: return 8
            }
        }
    }

    /// A parsed file: tensors by name (as float32), the element type each was stored in, and the
    /// metadata.
    public struct File: Sendable {
        /// The tensors, converted to float32.
        public var tensors: [String: Tensor]
        /// The metadata (`__metadata__`).
        public var metadata: [String: String]
        /// The element type each tensor was stored in.
        public var dtypes: [String: DType] = [:]
    }

    /// Reads and validates a file (see `decode`). Errors name the file, the tensor and the field.
    public static func read(_ path: String) throws -> File {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(path: path, "the file does not exist or cannot be read")
        }
        return try decode([UInt8](data), path: path)
    }

    /// One tensor's header entry, validated on its own.
    struct Entry {
        var name: String
        var dtype: DType
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    /// Decodes and validates a file image: the header length lies within the file; the header is a
    /// JSON object; `__metadata__` is an object of strings; every tensor entry has exactly
    /// `dtype` (one of `DType`), `shape` (non-negative integers) and `data_offsets` (two integers,
    /// begin ≤ end) whose span is the shape's element count times the dtype's size; and the
    /// tensors tile the data region exactly — in offset order, each starting where the previous
    /// ended, the first at 0 and the last ending at the end of the file. (Hugging Face's reader
    /// demands the same tiling: a gap, an overlap or bytes after the last tensor mean the file was
    /// truncated, spliced or crafted.)
    public static func decode(_ bytes: [UInt8], path: String) throws -> File {
        guard bytes.count >= 8 else { throw CheckpointError(path: path, "the file is \(bytes.count) bytes, too short for a safetensors header") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(min(maximumHeaderBytes, bytes.count - 8)) else {
            throw CheckpointError(path: path, "the header claims \(n) bytes but the file has only \(bytes.count - 8) after the length (at most \(maximumHeaderBytes))")
        }
        let headerEnd = 8 + Int(n)
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])) } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey].map { "\($0)" } ?? "\(error)"
            throw CheckpointError(path: path, "the \(n)-byte header is not valid JSON: \(reason)")
        }
        guard let header = object as? [String: Any] else {
            throw CheckpointError(path: path, "the header is \(brief(object)), expected a JSON object")
        }
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let dict = m as? [String: Any] else { throw CheckpointError(path: path, "__metadata__ is not an object of strings") }
            for (k, v) in dict {
                guard let s = v as? String else { throw CheckpointError(path: path, "__metadata__ value \(k) is \(brief(v)), expected a string") }
                metadata[k] = s
            }
        }
        let dataSize = bytes.count - headerEnd
        var entries = try header.keys.sorted().filter { $0 != "__metadata__" }.map { name in
            try entry(name, header[name] as Any, dataSize: dataSize, path: path)
        }
        try checkTiling(&entries, dataSize: dataSize, path: path)
        var file = File(tensors: [:], metadata: metadata)
        try bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }   // never nil: the file has ≥ 8 bytes
            for e in entries {
                file.tensors[e.name] = try Tensor(shape: e.shape) { dst in
                    try convert(base + headerEnd + e.begin, e.dtype, into: dst, tensor: e.name, path: path)
                }
                file.dtypes[e.name] = e.dtype
            }
        }
        return file
    }

    /// A header value as text for a message, at most 80 characters of it (a crafted header can
    /// hold megabytes in one field).
    static func brief(_ value: Any) -> String {
        let text = "\(value)"
        return text.count <= 80 ? text : text.prefix(77) + "…"
    }

    /// A JSON integer: not a boolean (Foundation's "c" numbers; `is Bool` also matches 0 and 1),
    /// not a number written with a fraction or an exponent ("d").
    static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber, let i = value as? Int else { return nil }
        return ["c", "d", "f"].contains(String(cString: number.objCType)) ? nil : i
    }

    /// Validates tensor `name`'s header entry on its own (the tiling is checked afterwards).
    static func entry(_ name: String, _ value: Any, dataSize: Int, path: String) throws -> Entry {
        func fail(_ message: String) -> CheckpointError { CheckpointError(path: path, "tensor \(brief(name)): \(message)") }
        guard let fields = value as? [String: Any] else { throw fail("the header entry is \(brief(value)), expected an object") }
        if let unknown = fields.keys.sorted().first(where: { !["dtype", "shape", "data_offsets"].contains($0) }) {
            throw fail("unknown header field \(unknown) (expected dtype, shape and data_offsets)")
        }
        let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
        guard let dtypeValue = fields["dtype"] else { throw fail("no dtype (expected one of \(known))") }
        guard let text = dtypeValue as? String, let dtype = DType(rawValue: text) else {
            throw fail("dtype \(brief(dtypeValue)) is not supported (expected one of \(known))")
        }
        guard let shapeValue = fields["shape"] else { throw fail("no shape") }
        guard let dims = shapeValue as? [Any], dims.count <= 64 else { throw fail("shape \(brief(shapeValue)) is not a list of at most 64 sizes") }
        let shape = try dims.map { d -> Int in
            guard let i = integer(d), i >= 0, i <= Int(Int32.max) else { throw fail("shape \(brief(dims)) holds \(brief(d)), expected non-negative integers below 2^31") }
            return i
        }
        guard let offsetsValue = fields["data_offsets"] else { throw fail("no data_offsets") }
        guard let offs = offsetsValue as? [Any], offs.count == 2 else { throw fail("data_offsets \(brief(offsetsValue)) is not a pair [begin, end]") }
        let bounds = try offs.map { o -> Int in
            guard let i = integer(o), i >= 0 else { throw fail("data_offsets \(brief(offs)) holds \(brief(o)), expected non-negative integers") }
            return i
        }
        guard bounds[0] <= bounds[1] else { throw fail("data_offsets [\(bounds[0]), \(bounds[1])] end before they begin") }
        guard bounds[1] <= dataSize else {
            throw fail("data_offsets [\(bounds[0]), \(bounds[1])] reach past the \(dataSize) data bytes (a truncated file?)")
        }
        var bytes = dtype.size
        for d in shape {
            let (p, overflow) = bytes.multipliedReportingOverflow(by: d)
            guard !overflow, p <= dataSize else { throw fail("shape \(shape) of \(dtype.rawValue) needs more than the file's \(dataSize) data bytes") }
            bytes = p
        }
        guard bounds[1] - bounds[0] == bytes else {
            throw fail("shape \(shape) of \(dtype.rawValue) needs \(bytes) bytes but data_offsets [\(bounds[0]), \(bounds[1])] span \(bounds[1] - bounds[0])")
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: bounds[0], end: bounds[1])
    }

    /// Sorts `entries` by offset and checks they cover `0..<dataSize` exactly once.
    static func checkTiling(_ entries: inout [Entry], dataSize: Int, path: String) throws {
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var cursor = 0, previous: Entry?
        for e in entries {
            let after = previous.map { "tensor \(brief($0.name)) (ending at byte \($0.end))" } ?? "the start of the data"
            guard e.begin >= cursor else {
                throw CheckpointError(path: path, "tensor \(brief(e.name)): data [\(e.begin), \(e.end)) overlaps \(after)")
            }
            guard e.begin == cursor else {
                let n = e.begin - cursor
                throw CheckpointError(path: path, "tensor \(brief(e.name)): \(n) byte\(n == 1 ? "" : "s") between \(after) and its data at \(e.begin) belong to no tensor")
            }
            cursor = e.end
            previous = e
        }
        guard cursor == dataSize else {
            let n = dataSize - cursor
            throw CheckpointError(path: path, "\(n) byte\(n == 1 ? "" : "s") after the last tensor's data (which ends at data byte \(cursor) of \(dataSize)) belong to no tensor: the file was extended or the header is wrong")
        }
    }

    /// Converts `dst.count` little-endian elements of `dtype` at `src` to float32, as PyTorch's
    /// `.float()` does. Throws for an I64 value that float32 cannot hold exactly. The float
    /// conversions work on the bits: hardware conversions would flush subnormals to zero under the
    /// FTZ/DAZ mode that training turns on.
    static func convert(_ src: UnsafeRawPointer, _ dtype: DType, into dst: UnsafeMutableBufferPointer<Float>, tensor: String, path: String) throws {
        func load<T: FixedWidthInteger>(_ i: Int, as: T.Type) -> T {
            T(littleEndian: (src + i * MemoryLayout<T>.size).loadUnaligned(as: T.self))
        }
        switch dtype {
        case .f32: for i in dst.indices { dst[i] = Float(bitPattern: load(i, as: UInt32.self)) }
        case .f16: for i in dst.indices { dst[i] = Float(bitPattern: float32Bits(half: load(i, as: UInt16.self))) }
        case .bf16: for i in dst.indices { dst[i] = Float(bitPattern: UInt32(load(i, as: UInt16.self)) << 16) }
        case .f64: for i in dst.indices { dst[i] = Float(bitPattern: float32Bits(double: load(i, as: UInt64.self))) }
        case .i64:
            for i in dst.indices {
                let v = load(i, as: Int64.self)
                guard let f = Float(exactly: v) else {
                    throw CheckpointError(path: path, "tensor \(brief(tensor)): I64 value \(v) at index \(i) has no exact float32 value (integers up to 2^24 always do)")
                }
                dst[i] = f
            }
        }
    }

    /// The float32 bits of IEEE binary16 `h`: exact (every half is a float), NaNs quieted as x86's
    /// F16C conversion does.
    static func float32Bits(half h: UInt16) -> UInt32 {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int(h >> 10) & 0x1F
        var mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F { return sign | 0x7F80_0000 | (mantissa == 0 ? 0 : 0x40_0000 | mantissa << 13) }
        if exponent == 0 {
            guard mantissa != 0 else { return sign }
            // Subnormal half m·2⁻²⁴: shift the leading 1 into the implicit position.
            var e = -14
            while mantissa & 0x400 == 0 { mantissa <<= 1; e -= 1 }
            return sign | UInt32(e + 127) << 23 | (mantissa & 0x3FF) << 13
        }
        return sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13
    }

    /// The float32 bits nearest binary64 `d` (ties to even; beyond float32's range ±∞; NaNs quieted
    /// with the payload's top bits), as a C cast rounds in the default mode.
    static func float32Bits(double d: UInt64) -> UInt32 {
        let sign = UInt32(d >> 63) << 31
        let exponent = Int(d >> 52) & 0x7FF
        let mantissa = d & 0xF_FFFF_FFFF_FFFF
        if exponent == 0x7FF { return sign | 0x7F80_0000 | (mantissa == 0 ? 0 : 0x40_0000 | UInt32(truncatingIfNeeded: mantissa >> 29)) }
        if exponent == 0 { return sign }                 // |d| < 2⁻¹⁰²²: far below half the least float32
        let e = exponent - 1023 + 127                    // float32's biased exponent
        if e >= 0xFF { return sign | 0x7F80_0000 }
        // Keep 24 significant bits (fewer for a float32 subnormal) and round the rest.
        let shift = e >= 1 ? 29 : 29 + 1 - e
        if shift > 53 { return sign }                    // below half the least subnormal
        let significand = mantissa | 1 << 52
        let kept = significand >> shift, rest = significand & (1 << shift - 1), half = UInt64(1) << (shift - 1)
        let rounded = kept + (rest > half || (rest == half && kept & 1 == 1) ? 1 : 0)
        // A normal's implicit bit adds one to the exponent field; a carry out of the significand
        // moves to the next binade (or to ∞) by itself.
        let bits = e >= 1 ? UInt64(e - 1) << 23 + rounded : rounded
        return sign | UInt32(min(bits, 0x7F80_0000))
    }
}
