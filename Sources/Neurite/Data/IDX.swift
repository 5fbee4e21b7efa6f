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

    /// Reads and validates the IDX file at `path` (gzip-compressed or raw, detected by content),
    /// within `limits`.
    public static func read(_ path: String, hint: String = "", limits: DataLimits = DataLimits()) throws -> IDXFile {
        try parse(DataFile.read(path, hint: hint, limits: limits), path: path)
    }

    /// Validates and splits the bytes of an (uncompressed) IDX file; `path` names it in errors.
    ///
    /// The header's extents must multiply (times the element size) to exactly the number of bytes
    /// after the header, without overflow, even where an extent is 0 — so every product of extents
    /// that later code forms (an image's width, say) fits in an `Int`.
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
        let dims = (0..<rank).map { d in
            let o = 4 + 4 * d
            return Int(file[o]) << 24 | Int(file[o + 1]) << 16 | Int(file[o + 2]) << 8 | Int(file[o + 3])
        }
        // The product of the non-zero extents must not overflow either: a zero extent would otherwise
        // hide an overflowing product of the others (e.g. [0, 2^32-1, 2^32-1, 2^32-1]), which a
        // reader forms when it computes an image's width.
        var nonZeroProduct = type.size
        for extent in dims where extent > 0 {
            let (p, overflow) = nonZeroProduct.multipliedReportingOverflow(by: extent)
            guard !overflow else {
                throw DataError.badHeader(path: path, field: "dimensions", value: "\(dims)",
                                          requirement: "extents whose product times \(type.size) byte(s) per element fits in 63 bits")
            }
            nonZeroProduct = p
        }
        let expected = dims.contains(0) ? 0 : nonZeroProduct
        let found = file.count - headerSize
        if expected > found {
            throw DataError.truncated(path: path, expectedBytes: expected, foundBytes: found)
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
    /// - Parameter limit: keep only the first `limit` (≥ 0) images; the whole file is still validated.
    /// - Returns: `[N, rows*cols]` when `flatten` is true, else `[N, 1, rows, cols]`.
    /// - Throws: the errors of `IDXFile.read`; `.badDimensions` when the file is not a stack of
    ///   images or an image extent is outside 1...`ModelLimits.maxExtent`; `.badElement` for
    ///   a NaN or infinite float pixel; `.invalidArgument` for a negative `limit`.
    public static func images(_ path: String, flatten: Bool = true, limit: Int? = nil, hint: String = "",
                              limits: DataLimits = DataLimits()) throws -> Tensor {
        try images(IDXFile.read(path, hint: hint, limits: limits), path: path, flatten: flatten, limit: limit)
    }

    /// Images from an already read IDX array (see `images(_:flatten:limit:hint:limits:)`).
    public static func images(_ file: IDXFile, path: String, flatten: Bool = true, limit: Int? = nil) throws -> Tensor {
        let dims = file.dimensions
        let expected = flatten ? "[count, rows, columns] or [count, features]" : "[count, rows, columns]"
        guard dims.count == 3 || (flatten && dims.count >= 2) else {
            throw DataError.badDimensions(path: path, expected: expected, found: dims)
        }
        // Each image must be something a model can take: every extent and the flat width in
        // 1...maxExtent (the parser has already ruled out overflow of the product).
        let width = dims.dropFirst().reduce(1, *)
        guard dims.dropFirst().allSatisfy({ $0 >= 1 }), width <= ModelLimits.maxExtent else {
            throw DataError.badDimensions(path: path, expected: expected + " with each image of 1...\(ModelLimits.maxExtent) values", found: dims)
        }
        let n = try _count(dims[0], limit: limit)
        let shape = flatten ? [n, width] : [n, 1, dims[1], dims[2]]
        if file.elementType == .uint8 {
            return Tensor(shape: shape) { dst in
                file.bytes.withUnsafeBufferPointer { src in
                    // Divide (not multiply by 1/255) so that 255 maps to exactly 1 and each value is x/255 exactly.
                    for i in 0..<(n * width) { dst[i] = Float(src[i]) / 255 }
                }
            }
        }
        // Float and wide integer files can hold values that are not finite as Float; reject them
        // here, naming the element, instead of letting NaN reach the model.
        var bad: (index: Int, value: Double)?
        let x = Tensor(shape: shape) { dst in
            for i in 0..<(n * width) {
                let v = file._element(i)
                let f = Float(v)
                if bad == nil && !f.isFinite { bad = (i, v) }
                dst[i] = f
            }
        }
        if let b = bad {
            throw DataError.badElement(path: path, index: b.index, value: "\(b.value) (in image \(b.index / width))",
                                       requirement: "finite with magnitude at most 3.4028235e+38 (pixels are used as 32-bit floats)")
        }
        return x
    }

    /// The number of examples to take from a file of `count`: all of them, or the first `limit`.
    static func _count(_ count: Int, limit: Int?) throws -> Int {
        guard let l = limit else { return count }
        guard l >= 0 else { throw DataError.invalidArgument(name: "limit", value: "\(l)", requirement: "0 or more") }
        return Swift.min(count, l)
    }

    /// Integer labels from a rank-1 IDX file of integer type (the first `limit` ≥ 0 of them, if given).
    public static func labels(_ path: String, limit: Int? = nil, hint: String = "", limits: DataLimits = DataLimits()) throws -> [Int] {
        try labels(IDXFile.read(path, hint: hint, limits: limits), path: path, limit: limit)
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
        let n = try _count(file.dimensions[0], limit: limit)
        return (0..<n).map { Int(file._element($0)) }
    }

    /// Writes `images` (shape [N, rows, cols] or [N, 1, rows, cols], values in [0, 1]) as an IDX
    /// file of unsigned bytes (value × 255, rounded; NaN is written as 0): the inverse of `images(_:)`.
    /// - Throws: `DataError.invalidArgument` when the rows are not `rows` × `columns` values.
    public static func writeImages(_ images: Tensor, rows: Int, columns: Int, to path: String, gzip: Bool = false) throws {
        guard rows >= 1, columns >= 1, rows <= Int(UInt32.max), columns <= Int(UInt32.max),
              images.rowWidth == rows.multipliedReportingOverflow(by: columns).partialValue,
              !rows.multipliedReportingOverflow(by: columns).overflow else {
            throw DataError.invalidArgument(name: "rows × columns", value: "\(rows) × \(columns)",
                                            requirement: "equal to the \(images.rowWidth) values of each image")
        }
        let bytes = images.scalars.map { $0.isNaN ? 0 : UInt8(max(0, min(255, ($0 * 255).rounded()))) }
        try IDXFile(dimensions: [images.rowCount, rows, columns], bytes: bytes).write(to: path, gzip: gzip)
    }

    /// Writes `labels` (each 0...255) as a rank-1 IDX file of unsigned bytes.
    /// - Throws: `DataError.invalidArgument` for a label outside 0...255.
    public static func writeLabels(_ labels: [Int], to path: String, gzip: Bool = false) throws {
        if let bad = labels.firstIndex(where: { !(0...255).contains($0) }) {
            throw DataError.invalidArgument(name: "labels[\(bad)]", value: "\(labels[bad])", requirement: "in 0...255 (one byte)")
        }
        try IDXFile(dimensions: [labels.count], bytes: labels.map { UInt8($0) }).write(to: path, gzip: gzip)
    }
}
