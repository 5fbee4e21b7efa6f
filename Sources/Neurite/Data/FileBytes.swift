// Whole-file reads with transparent gzip (zlib's inflate, never our own), and gzip writes.

import CZlib
import Foundation

/// Reading and writing whole files, gzip-compressed or not.
public enum DataFile {
    /// Whether `bytes` begin with the gzip magic number 1f 8b.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// The raw bytes of the file at `path`, without decompressing.
    /// `hint` goes into the `.fileNotFound` message (e.g. which package provides the file).
    public static func readRaw(_ path: String, hint: String = "") throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError.fileNotFound(path: path, hint: hint)
        }
        if isDirectory.boolValue { throw DataError.unreadable(path: path, reason: "it is a directory") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError.unreadable(path: path, reason: "permission denied or I/O error")
        }
        return [UInt8](data)
    }

    /// The contents of the file at `path`, decompressed if it starts with the gzip magic number.
    public static func read(_ path: String, hint: String = "") throws -> [UInt8] {
        let raw = try readRaw(path, hint: hint)
        return isGzip(raw) ? try gunzip(raw, path: path) : raw
    }

    /// Decompresses one or more concatenated gzip members. `path` names the source in errors.
    public static func gunzip(_ input: [UInt8], path: String) throws -> [UInt8] {
        precondition(input.count < Int(UInt32.max), "gzip input over 4 GiB is not supported")
        var out: [UInt8] = []
        // ISIZE (last 4 bytes, little-endian) is the uncompressed size mod 2^32 of the last member:
        // a good first reservation for single-member files.
        if input.count >= 18 {
            let n = input.count
            let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
            out.reserveCapacity(min(isize, 1 << 31))
        }
        var stream = z_stream()
        // 15 + 16: maximum window, gzip wrapper only.
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataError.corruptCompressedData(path: path, detail: "inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        try input.withUnsafeBufferPointer { inp in
            stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress)
            stream.avail_in = UInt32(inp.count)
            while true {
                let ret = chunk.withUnsafeMutableBufferPointer { c -> Int32 in
                    stream.next_out = c.baseAddress
                    stream.avail_out = UInt32(c.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                out.append(contentsOf: chunk[0..<produced])
                if ret == Z_STREAM_END {
                    // Another gzip member may follow (gzip allows concatenation).
                    let consumed = inp.count - Int(stream.avail_in)
                    if stream.avail_in >= 2 && inp[consumed] == 0x1F && inp[consumed + 1] == 0x8B {
                        inflateReset(&stream)
                        continue
                    }
                    if stream.avail_in > 0 {
                        throw DataError.corruptCompressedData(
                            path: path, detail: "\(stream.avail_in) bytes of garbage after the gzip stream")
                    }
                    return
                }
                if ret != Z_OK && ret != Z_BUF_ERROR {
                    let msg = stream.msg.map { String(cString: $0) } ?? "error \(ret)"
                    throw DataError.corruptCompressedData(path: path, detail: msg)
                }
                if stream.avail_in == 0 && stream.avail_out > 0 {
                    throw DataError.corruptCompressedData(path: path, detail: "unexpected end of compressed data")
                }
            }
        }
        return out
    }

    /// Writes `bytes` to `path`, gzip-compressed (through zlib's gzwrite) when `gzip` is true.
    public static func write(_ bytes: [UInt8], to path: String, gzip: Bool = false) throws {
        if !gzip {
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                throw DataError.unreadable(path: path, reason: "could not create the file for writing")
            }
            return
        }
        guard let file = gzopen(path, "wb") else {
            throw DataError.unreadable(path: path, reason: "could not create the file for writing")
        }
        var offset = 0
        var failed = false
        bytes.withUnsafeBytes { buf in
            while offset < buf.count {
                let n = min(buf.count - offset, 1 << 30)
                let written = gzwrite(file, buf.baseAddress! + offset, UInt32(n))
                if written <= 0 { failed = true; return }
                offset += Int(written)
            }
        }
        if gzclose(file) != Z_OK || failed {
            throw DataError.unreadable(path: path, reason: "writing gzip data failed")
        }
    }
}
