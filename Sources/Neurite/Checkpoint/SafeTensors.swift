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

/// Reading and writing float32 tensors in the safetensors format (the format of Hugging Face's
/// `safetensors` package): `u64le N`, N bytes of UTF-8 JSON
/// `{"__metadata__": {string: string}, "<name>": {"dtype": "F32", "shape": […], "data_offsets": [b, e]}, …}`,
/// then the data, every tensor little-endian and contiguous at [b, e) relative to the data start.
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

    /// A parsed file: tensors by name and the metadata.
    public struct File: Sendable {
        public var tensors: [String: Tensor]
        public var metadata: [String: String]
    }

    /// Reads and validates a file: header length within the file, JSON well formed, every entry
    /// F32 with a shape whose byte size equals its offsets, offsets in bounds, ordered and
    /// non-overlapping, and no bytes left over. Errors name the file and the tensor.
    public static func read(_ path: String) throws -> File {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(path: path, "the file does not exist or cannot be read")
        }
        return try decode([UInt8](data), path: path)
    }

    /// Decodes a file image (see `read`).
    public static func decode(_ bytes: [UInt8], path: String) throws -> File {
        guard bytes.count >= 8 else { throw CheckpointError(path: path, "the file is \(bytes.count) bytes, too short for a safetensors header") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(min(maximumHeaderBytes, bytes.count - 8)) else {
            throw CheckpointError(path: path, "the header claims \(n) bytes but the file has only \(bytes.count - 8) after the length")
        }
        let headerEnd = 8 + Int(n)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])),
              let header = object as? [String: Any] else {
            throw CheckpointError(path: path, "the header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let dict = m as? [String: Any] else { throw CheckpointError(path: path, "__metadata__ is not an object of strings") }
            for (k, v) in dict {
                guard let s = v as? String else { throw CheckpointError(path: path, "__metadata__ value \(k) is not a string") }
                metadata[k] = s
            }
        }
        let dataSize = bytes.count - headerEnd
        var entries: [(name: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any] else { throw CheckpointError(path: path, "tensor \(name): entry is not an object") }
            guard let dtype = entry["dtype"] as? String else { throw CheckpointError(path: path, "tensor \(name): no dtype") }
            guard dtype == "F32" else { throw CheckpointError(path: path, "tensor \(name): dtype \(dtype) is not supported (expected F32)") }
            guard let shapeAny = entry["shape"] as? [Any], let offAny = entry["data_offsets"] as? [Any], offAny.count == 2 else {
                throw CheckpointError(path: path, "tensor \(name): missing shape or data_offsets")
            }
            let shape = try shapeAny.map { v -> Int in
                guard let d = (v as? NSNumber)?.intValue, d >= 0, d < Int(Int32.max) else {
                    throw CheckpointError(path: path, "tensor \(name): bad shape \(shapeAny)")
                }
                return d
            }
            let offs = try offAny.map { v -> Int in
                guard let d = (v as? NSNumber)?.int64Value, d >= 0, d <= Int64(dataSize) else {
                    throw CheckpointError(path: path, "tensor \(name): data offsets \(offAny) outside the \(dataSize) data bytes")
                }
                return Int(d)
            }
            var count = 1
            for d in shape {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, p <= dataSize else { throw CheckpointError(path: path, "tensor \(name): shape \(shape) is larger than the file") }
                count = p
            }
            guard offs[1] >= offs[0], offs[1] - offs[0] == 4 * count else {
                throw CheckpointError(path: path, "tensor \(name): shape \(shape) needs \(4 * count) bytes but data_offsets \(offs) span \(offs[1] - offs[0])")
            }
            entries.append((name, shape, offs[0], offs[1]))
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for e in entries where e.end > e.begin {
            guard e.begin >= cursor else { throw CheckpointError(path: path, "tensor \(e.name): data [\(e.begin), \(e.end)) overlaps another tensor") }
            cursor = e.end
        }
        var tensors: [String: Tensor] = [:]
        for e in entries {
            tensors[e.name] = Tensor(shape: e.shape) { dst in
                bytes.withUnsafeBytes { raw in
                    let base = raw.baseAddress! + headerEnd + e.begin
                    for i in 0..<dst.count {
                        dst[i] = Float(bitPattern: UInt32(littleEndian: (base + 4 * i).loadUnaligned(as: UInt32.self)))
                    }
                }
            }
        }
        return File(tensors: tensors, metadata: metadata)
    }
}
