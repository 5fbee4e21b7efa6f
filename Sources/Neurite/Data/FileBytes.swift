// Whole-file reads with transparent gzip (zlib's inflate, never our own), and gzip writes.

import CZlib
import Foundation

/// The largest files the data readers load into memory. A file, or its decompressed contents, over
/// a limit is a `DataError.fileTooLarge` naming the limit, so a tiny gzip "bomb" or a huge file
/// cannot drive an unbounded allocation.
public struct DataLimits: Sendable, Equatable {
    /// Most bytes of a file as stored (default 2^32, 4 GiB).
    public var maxFileBytes: Int
    /// Most bytes of a gzip file's decompressed contents (default 2^32, 4 GiB; Fashion-MNIST's
    /// largest file is 47 MB).
    public var maxDecompressedBytes: Int

    /// Limits with the defaults above, each replaceable.
    public init(maxFileBytes: Int = 1 << 32, maxDecompressedBytes: Int = 1 << 32) {
        self.maxFileBytes = maxFileBytes
        self.maxDecompressedBytes = maxDecompressedBytes
    }
}

/// Reading and writing whole files, gzip-compressed or not.
public enum DataFile {
    /// Whether `bytes` begin with the gzip magic number 1f 8b.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// The raw bytes of the file at `path`, without decompressing.
    /// `hint` goes into the `.fileNotFound` message (e.g. which package provides the file).
    public static func readRaw(_ path: String, hint: String = "", limits: DataLimits = DataLimits()) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError.fileNotFound(path: path, hint: hint)
        }
        if isDirectory.boolValue { throw DataError.unreadable(path: path, reason: "it is a directory") }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DataError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        // A regular file's size is checked before reading, so a huge file is refused unread; the
        // limit is enforced while reading too, for what has no size (a pipe, /dev/zero) or grows.
        var info = stat()
        var expected = 0
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
            guard Int64(info.st_size) <= Int64(limits.maxFileBytes) else {
                throw DataError.fileTooLarge(path: path, what: "the file", bytes: Int(clamping: Int64(info.st_size)),
                                             limit: limits.maxFileBytes, setting: "DataLimits.maxFileBytes")
            }
            expected = Int(info.st_size)
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(expected)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DataError.unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { return bytes }
            guard n <= limits.maxFileBytes - bytes.count else {
                throw DataError.fileTooLarge(path: path, what: "the file", bytes: bytes.count + n, limit: limits.maxFileBytes,
                                             setting: "DataLimits.maxFileBytes")
            }
            bytes += chunk[0..<n]
        }
    }

    /// The contents of the file at `path`, decompressed if it starts with the gzip magic number.
    public static func read(_ path: String, hint: String = "", limits: DataLimits = DataLimits()) throws -> [UInt8] {
        let raw = try readRaw(path, hint: hint, limits: limits)
        return isGzip(raw) ? try gunzip(raw, path: path, limits: limits) : raw
    }

    /// Decompresses one or more concatenated gzip members. `path` names the source in errors.
    /// - Throws: `DataError.corruptCompressedData` for damaged data; `.fileTooLarge` when the input
    ///   is 4 GiB or more (zlib counts input in 32 bits) or the output would pass
    ///   `limits.maxDecompressedBytes`.
    public static func gunzip(_ input: [UInt8], path: String, limits: DataLimits = DataLimits()) throws -> [UInt8] {
        guard input.count < Int(UInt32.max) else {
            throw DataError.fileTooLarge(path: path, what: "the gzip input", bytes: input.count, limit: Int(UInt32.max) - 1,
                                         setting: "zlib's 32-bit input size; decompress the file first")
        }
        var out: [UInt8] = []
        // ISIZE (last 4 bytes, little-endian) is the uncompressed size mod 2^32 of the last member:
        // a good first reservation for single-member files. It is untrusted, so the reservation is
        // also bounded by deflate's largest ratio (1032:1) and the output limit.
        if input.count >= 18 {
            let n = input.count
            let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
            let (ratioBound, overflow) = input.count.multipliedReportingOverflow(by: 1032)
            out.reserveCapacity(max(0, min(isize, overflow ? Int.max : ratioBound, limits.maxDecompressedBytes, 1 << 31)))
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
                guard produced <= limits.maxDecompressedBytes - out.count else {
                    throw DataError.fileTooLarge(path: path, what: "the decompressed data", bytes: out.count + produced,
                                                 limit: limits.maxDecompressedBytes, setting: "DataLimits.maxDecompressedBytes")
                }
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

    /// Throws unless a file can be written at `path`: the path is not empty, its directory exists and
    /// is writable, and the path itself is not a directory. Checked before slow work (loading data,
    /// training) so that an output that cannot be written is reported at once, not after an epoch.
    public static func checkWritableDestination(_ path: String) throws {
        guard !path.isEmpty else { throw DataError.unwritable(path: path, reason: "the path is empty") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw DataError.unwritable(path: path, reason: "it is a directory (give a file name inside it)")
        }
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataError.unwritable(path: path, reason: "the directory \(directory) does not exist")
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw DataError.unwritable(path: path, reason: "the directory \(directory) is not writable")
        }
    }

    /// Writes `bytes` to `path`, gzip-compressed (through zlib's gzwrite) when `gzip` is true.
    public static func write(_ bytes: [UInt8], to path: String, gzip: Bool = false) throws {
        if !gzip {
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                throw DataError.unwritable(path: path, reason: "the file could not be created (missing directory, a directory at that path, or no permission)")
            }
            return
        }
        guard let file = gzopen(path, "wb") else {
            throw DataError.unwritable(path: path, reason: String(cString: strerror(errno)))
        }
        var offset = 0
        var failed = false
        bytes.withUnsafeBytes { buf in
            while offset < buf.count {
                let n = min(buf.count - offset, 1 << 30)
                guard let base = buf.baseAddress else { return }
                let written = gzwrite(file, base + offset, UInt32(n))
                if written <= 0 { failed = true; return }
                offset += Int(written)
            }
        }
        if gzclose(file) != Z_OK || failed {
            throw DataError.unwritable(path: path, reason: "writing gzip data failed")
        }
    }
}
