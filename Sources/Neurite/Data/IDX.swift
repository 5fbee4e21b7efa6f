// IDX files (the MNIST / Fashion-MNIST container): magic 00 00 <type> <rank>, then `rank` big-endian
// UInt32 extents, then the elements in row-major order, big-endian. Often gzip-compressed.

import Foundation

/// Element type of an IDX file (the third magic byte).
public enum IDXElementType: UInt8, Sendable, CaseIterable {
    case uint8 = 0x08, int8 = 0x09, int16 = 0x0B, int32 = 0x0C, float32 = 0x0D, float64 = 0x0E

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .uint8, .int8: 1
        case .int16: 2
        case .int32, .float32: 4
        case .float64: 8
        }
    }
}

/// One IDX array as stored: its extents, element type and raw (big-endian) element bytes.
public struct IDXFile: Sendable, Equatable {
    /// Extent of each dimension, outermost first (e.g. [60000, 28, 28]).
    public let dimensions: [Int]
    /// Element type.
    public let elementType: IDXElementType
    /// The element bytes after the header, exactly `elementCount * elementType.size` of them.
    public let bytes: [UInt8]

    /// Number of elements (product of `dimensions`).
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// An array to write; `bytes.count` must equal the product of `dimensions` times the element size.
    public init(dimensions: [Int], elementType: IDXElementType = .uint8, bytes: [UInt8]) {
        precondition(!dimensions.isEmpty && dimensions.count <= 255, "IDX rank must be 1...255, got \(dimensions.count)")
        precondition(dimensions.allSatisfy { $0 >= 0 && $0 <= Int(UInt32.max) }, "IDX extents must fit UInt32: \(dimensions)")
        precondition(bytes.count == dimensions.reduce(1, *) * elementType.size,
                     "IDX \(dimensions) of \(elementType) needs \(dimensions.reduce(1, *) * elementType.size) bytes, got \(bytes.count)")
        self.dimensions = dimensions
        self.elementType = elementType
        self.bytes = bytes
    }

    /// Reads and validates the IDX file at `path` (gzip-compressed or raw, detected by content).
    public static func read(_ path: String, hint: String = "") throws -> IDXFile {
        try parse(DataFile.read(path, hint: hint), path: path)
    }

    /// Validates and splits the bytes of an (uncompressed) IDX file; `path` names it in errors.
    public static func parse(_ file: [UInt8], path: String) throws -> IDXFile {
        guard file.count >= 4 else { throw DataError.truncated(path: path, expectedBytes: 4, foundBytes: file.count) }
        guard file[0] == 0, file[1] == 0, file[3] >= 1 else {
            let found = file.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw DataError.badMagic(path: path, expected: "00 00 <type> <rank ≥ 1>", found: found)
        }
        guard let type = IDXElementType(rawValue: file[2]) else {
            throw DataError.unsupportedType(path: path, typeByte: file[2])
        }
        let rank = Int(file[3])
        let headerSize = 4 + 4 * rank
        guard file.count >= headerSize else {
            throw DataError.truncated(path: path, expectedBytes: headerSize, foundBytes: file.count)
        }
        var dims: [Int] = []
        var expected = type.size
        var overflow = false
        for d in 0..<rank {
            let o = 4 + 4 * d
            let extent = Int(file[o]) << 24 | Int(file[o + 1]) << 16 | Int(file[o + 2]) << 8 | Int(file[o + 3])
            dims.append(extent)
            let (p, o1) = expected.multipliedReportingOverflow(by: extent)
            expected = p
            overflow = overflow || o1
        }
        let found = file.count - headerSize
        if overflow || expected > found {
            throw DataError.truncated(path: path, expectedBytes: overflow ? Int.max : expected, foundBytes: found)
        }
        if expected < found { throw DataError.extraData(path: path, expectedBytes: expected, foundBytes: found) }
        return IDXFile(dimensions: dims, elementType: type, bytes: Array(file[headerSize...]))
    }

    /// The complete file contents (header and elements), uncompressed.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [0, 0, elementType.rawValue, UInt8(dimensions.count)]
        out.reserveCapacity(4 + 4 * dimensions.count + bytes.count)
        for d in dimensions {
            let u = UInt32(d)
            out += [UInt8(u >> 24), UInt8(truncatingIfNeeded: u >> 16), UInt8(truncatingIfNeeded: u >> 8), UInt8(truncatingIfNeeded: u)]
        }
        out += bytes
        return out
    }

    /// Writes this array to `path`, gzip-compressed when `gzip` is true.
    public func write(to path: String, gzip: Bool = false) throws {
        try DataFile.write(encoded(), to: path, gzip: gzip)
    }

    /// Element `i` (row-major) converted to Double.
    @inline(__always)
    func _element(_ i: Int) -> Double {
        switch elementType {
        case .uint8: return Double(bytes[i])
        case .int8: return Double(Int8(bitPattern: bytes[i]))
        case .int16: return Double(Int16(bitPattern: UInt16(bytes[2 * i]) << 8 | UInt16(bytes[2 * i + 1])))
        case .int32: return Double(Int32(bitPattern: _be32(4 * i)))
        case .float32: return Double(Float(bitPattern: _be32(4 * i)))
        case .float64:
            let hi = UInt64(_be32(8 * i)), lo = UInt64(_be32(8 * i + 4))
            return Double(bitPattern: hi << 32 | lo)
        }
    }

    @inline(__always)
    func _be32(_ o: Int) -> UInt32 {
        UInt32(bytes[o]) << 24 | UInt32(bytes[o + 1]) << 16 | UInt32(bytes[o + 2]) << 8 | UInt32(bytes[o + 3])
    }

    /// All elements as Float, row-major; unsigned bytes are multiplied by `byteScale`.
    public func floats(byteScale: Float = 1) -> [Float] {
        if elementType == .uint8 {
            return bytes.map { Float($0) * byteScale }
        }
        return (0..<elementCount).map { Float(_element($0)) }
    }
}

/// Convenience readers for the usual IDX layouts: image stacks and label vectors.
public enum IDX {
    /// Images from an IDX file of shape [N, rows, cols] (or [N, …] when flattened).
    ///
    /// Unsigned bytes are scaled to [0, 1] (divided by 255); float files are returned as stored.
    /// - Returns: `[N, rows*cols]` when `flatten` is true, else `[N, 1, rows, cols]`.
    public static func images(_ path: String, flatten: Bool = true, limit: Int? = nil, hint: String = "") throws -> Tensor {
        try images(IDXFile.read(path, hint: hint), path: path, flatten: flatten, limit: limit)
    }

    /// Images from an already read IDX array (see `images(_:flatten:limit:hint:)`).
    public static func images(_ file: IDXFile, path: String, flatten: Bool = true, limit: Int? = nil) throws -> Tensor {
        let dims = file.dimensions
        guard dims.count == 3 || (flatten && dims.count >= 2) else {
            throw DataError.badDimensions(path: path, expected: flatten ? "[count, rows, columns] or [count, features]" : "[count, rows, columns]", found: dims)
        }
        let n = min(dims[0], limit ?? dims[0])
        let width = dims.dropFirst().reduce(1, *)
        let shape = flatten ? [n, width] : [n, 1, dims[1], dims[2]]
        if file.elementType == .uint8 {
            return Tensor(shape: shape) { dst in
                file.bytes.withUnsafeBufferPointer { src in
                    // Divide (not multiply by 1/255) so that 255 maps to exactly 1 and each value is x/255 exactly.
                    for i in 0..<(n * width) { dst[i] = Float(src[i]) / 255 }
                }
            }
        }
        return Tensor(shape: shape) { dst in
            for i in 0..<(n * width) { dst[i] = Float(file._element(i)) }
        }
    }

    /// Integer labels from a rank-1 IDX file of integer type.
    public static func labels(_ path: String, limit: Int? = nil, hint: String = "") throws -> [Int] {
        try labels(IDXFile.read(path, hint: hint), path: path, limit: limit)
    }

    /// Labels from an already read IDX array (see `labels(_:limit:hint:)`).
    public static func labels(_ file: IDXFile, path: String, limit: Int? = nil) throws -> [Int] {
        guard file.dimensions.count == 1 else {
            throw DataError.badDimensions(path: path, expected: "[count] (one label per example)", found: file.dimensions)
        }
        switch file.elementType {
        case .uint8, .int8, .int16, .int32: break
        default: throw DataError.unsupportedType(path: path, typeByte: file.elementType.rawValue)
        }
        let n = min(file.dimensions[0], limit ?? file.dimensions[0])
        return (0..<n).map { Int(file._element($0)) }
    }

    /// Writes `images` (shape [N, rows, cols] or [N, 1, rows, cols], values in [0, 1]) as an IDX
    /// file of unsigned bytes (value × 255, rounded): the inverse of `images(_:)`.
    public static func writeImages(_ images: Tensor, rows: Int, columns: Int, to path: String, gzip: Bool = false) throws {
        precondition(images.rowWidth == rows * columns, "writeImages: rows of \(images.rowWidth) values, not \(rows)x\(columns)")
        let bytes = images.scalars.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }
        try IDXFile(dimensions: [images.rowCount, rows, columns], bytes: bytes).write(to: path, gzip: gzip)
    }

    /// Writes `labels` (each 0...255) as a rank-1 IDX file of unsigned bytes.
    public static func writeLabels(_ labels: [Int], to path: String, gzip: Bool = false) throws {
        precondition(labels.allSatisfy { (0...255).contains($0) }, "writeLabels: labels must be 0...255")
        try IDXFile(dimensions: [labels.count], bytes: labels.map { UInt8($0) }).write(to: path, gzip: gzip)
    }
}
