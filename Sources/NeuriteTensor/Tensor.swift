// Tensor: a copy-on-write value type over 64-byte-aligned, contiguous float32 storage.

import CNeurite

/// Runs once, before the first tensor is allocated.
private let allocatorTuned: Void = nk_tune_allocator()

/// Heap storage shared by tensors until one of them is mutated (copy-on-write).
///
/// Memory is 64-byte aligned so that SIMD loads and the C kernels see cache-line-aligned rows.
public final class TensorStorage: @unchecked Sendable {
    /// Start of `count` floats.
    public let base: UnsafeMutablePointer<Float>
    /// Number of floats.
    public let count: Int
    /// The storage whose memory this one views (nil when it owns its memory); kept alive here.
    private let viewed: TensorStorage?

    init(viewing storage: TensorStorage, offset: Int, count: Int) {
        precondition(offset >= 0 && count >= 0 && offset + count <= storage.count,
                     "a view of \(count) floats at \(offset) exceeds a storage of \(storage.count)")
        base = storage.base + offset
        self.count = count
        viewed = storage
    }

    init(count: Int) {
        viewed = nil
        _ = allocatorTuned
        // Element-wise Swift code runs on the allocating thread: give it Neurite's FP mode
        // (flush-to-zero unless Runtime.flushesDenormals is false). One compare when already set.
        nk_fp_prepare(1)
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride,
                                                   alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    @usableFromInline func copy() -> TensorStorage {
        let s = TensorStorage(count: count)
        s.base.update(from: base, count: count)
        return s
    }

    deinit { if viewed == nil { UnsafeMutableRawPointer(base).deallocate() } }
}

/// An n-dimensional array of `Float` (rank 0 and up), stored contiguously in row-major order.
///
/// `Tensor` has value semantics: copies share storage until one of them is written to.
/// Shape errors are programmer errors and stop with a message naming both shapes.
public struct Tensor: Sendable {
    /// Extent of each dimension, outermost first. `[]` is a scalar.
    public internal(set) var shape: [Int]
    @usableFromInline var storage: TensorStorage

    /// Number of elements (product of `shape`; 1 for a scalar).
    @inlinable public var count: Int { storage.count }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// Number of elements of `shape`, checking that no extent is negative.
    public static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape {
            precondition(d >= 0, "Tensor shape \(shape) has a negative dimension")
            n *= d
        }
        return n
    }

    /// A tensor of `shape` whose elements are left uninitialised; callers must write all of them.
    public init(uninitializedShape shape: [Int]) {
        self.shape = shape
        storage = TensorStorage(count: Tensor.elementCount(shape))
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        self.init(uninitializedShape: shape)
        storage.base.initialize(repeating: value, count: storage.count)
    }

    /// A tensor of `shape` holding `scalars` in row-major order.
    public init(shape: [Int], scalars: [Float]) {
        let n = Tensor.elementCount(shape)
        precondition(scalars.count == n,
                     "Tensor(shape: \(shape)) needs \(n) scalars, got \(scalars.count)")
        self.init(uninitializedShape: shape)
        scalars.withUnsafeBufferPointer { storage.base.update(from: $0.baseAddress!, count: n) }
    }

    /// A rank-1 tensor holding `scalars`.
    public init(_ scalars: [Float]) { self.init(shape: [scalars.count], scalars: scalars) }

    /// A rank-0 tensor.
    public init(scalar: Float) { self.init(shape: [], scalars: [scalar]) }

    /// A tensor of `shape` whose elements are filled by `body` with a mutable buffer of `count` floats.
    public init(shape: [Int], initializingWith body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.init(uninitializedShape: shape)
        try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
    }

    /// All elements in row-major order.
    public var scalars: [Float] {
        Array(UnsafeBufferPointer(start: storage.base, count: count))
    }

    /// The single element of a one-element tensor.
    public var scalar: Float {
        precondition(count == 1, "scalar of a tensor of shape \(shape)")
        return storage.base[0]
    }

    /// Read-only access to the elements.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }

    /// Mutable access to the elements (copies the storage first if it is shared).
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
    }

    @inlinable
    /// Copies the storage if another tensor shares it (before writing through a pointer).
    public mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// Element at a multi-dimensional index.
    public subscript(_ index: Int...) -> Float {
        get { storage.base[flatIndex(index)] }
        set { let i = flatIndex(index); makeUnique(); storage.base[i] = newValue }
    }

    func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) into a tensor of shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) out of range for shape \(shape)")
            flat = flat * d + i
        }
        return flat
    }

    /// The same elements under another shape with the same element count. One extent may be -1
    /// (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var newShape = newShape
        if let hole = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != hole }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            newShape[hole] = count / known
        }
        precondition(Tensor.elementCount(newShape) == count,
                     "cannot reshape a tensor of shape \(shape) (\(count) elements) to \(newShape)")
        var t = self
        t.shape = newShape
        return t
    }

    /// A tensor of `shape` over elements `offset ..< offset + count` of this tensor's storage,
    /// without copying: writing through the returned tensor (while it is the only reference to its
    /// view) writes into `self`'s memory. For parameter and gradient arenas, whose layers read and
    /// write their slices in place; everywhere else tensors keep value semantics.
    public func sharedView(offset: Int, shape: [Int]) -> Tensor {
        var t = self
        t.shape = shape
        t.storage = TensorStorage(viewing: storage, offset: offset, count: Tensor.elementCount(shape))
        return t
    }

    /// A copy with storage of its own (unlike `makeUnique`, it also copies a `sharedView`).
    public func copied() -> Tensor {
        var t = self
        t.storage = storage.copy()
        return t
    }

    /// Number of rows when viewed as a matrix [shape[0] x rest]: the batch dimension.
    public var rowCount: Int { shape.first ?? 1 }
    /// Elements per row (product of all dimensions after the first).
    public var rowWidth: Int { shape.isEmpty ? 1 : shape.dropFirst().reduce(1, *) }

    /// Rows `range` of the outermost dimension (a mini-batch), copied.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty, "rows(_:) of a scalar")
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "rows \(range) out of range for shape \(shape)")
        var newShape = shape
        newShape[0] = range.count
        let w = rowWidth
        return Tensor(shape: newShape) { dst in
            dst.baseAddress!.update(from: storage.base + range.lowerBound * w, count: range.count * w)
        }
    }

    /// Row index i of this tensor for the gather kernels, trapping outside 0..<shape[0] (the
    /// callers pass indices they computed: a shuffled order, a split).
    fileprivate func checkedRow(_ i: Int) -> Int64 {
        precondition(i >= 0 && i < shape[0], "row \(i) out of range for shape \(shape)")
        return Int64(i)
    }

    /// The rows named by `indices` (in that order), copied: a shuffled mini-batch.
    public func gatheringRows(_ indices: some Collection<Int>) -> Tensor {
        precondition(!shape.isEmpty, "gatheringRows(_:) of a scalar")
        var newShape = shape
        newShape[0] = indices.count
        let w = rowWidth
        let rows = indices.map { checkedRow($0) }
        return Tensor(shape: newShape) { dst in
            guard !rows.isEmpty, w > 0 else { return }
            rows.withUnsafeBufferPointer { r in
                nk_gather_rows(dst.baseAddress!, storage.base, r.baseAddress!, Int64(r.count), Int64(w))
            }
        }
    }
}

/// Rows of a tensor (or of byte rows, `UnitByteRows`) being copied on the kernels' thread team while
/// the thread that asked goes on (`Tensor.postGatheringRows(_:)`, `UnitByteRows.postGatheringRows(_:)`):
/// the next mini-batch, gathered during the serial end of a training step. Call `finish()` on the
/// same thread before using the rows.
public final class PostedRows {
    private let source: AnyObject // the rows' storage, alive until the copy is done
    private let rows: UnsafeMutableBufferPointer<Int64>
    private var result: Tensor?
    private var finished = false
    /// The row indices being gathered.
    public let indices: [Int]

    /// Rows `indices` (each checked by `checkedRow`) of `source` into a new tensor of `shape`
    /// (`indices.count` rows of `width` values), the copy posted by `post(dst, rows, count, width)`.
    fileprivate init(source: AnyObject, indices: [Int], shape: [Int], width: Int, checkedRow: (Int) -> Int64,
                     post: (UnsafeMutablePointer<Float>, UnsafePointer<Int64>, Int64, Int64) -> Void) {
        self.source = source
        self.indices = indices
        let result = Tensor(uninitializedShape: shape)
        self.result = result
        rows = .allocate(capacity: max(indices.count, 1))
        for (k, i) in indices.enumerated() { rows[k] = checkedRow(i) }
        if !indices.isEmpty, width > 0 {
            post(result.storage.base, rows.baseAddress!, Int64(indices.count), Int64(width))
        } else {
            finished = true
        }
    }

    /// The gathered rows, once every one is in place (what the team has not done yet runs here).
    /// Hands them over: a second call is a programming error.
    public func finish() -> Tensor {
        if !finished { nk_team_join(); finished = true }
        guard let rows = result else { preconditionFailure("PostedRows.finish() called twice") }
        result = nil // the caller's copy is then the only one (augmentation writes in place)
        return rows
    }

    deinit {
        if !finished { nk_team_join() }
        rows.deallocate()
    }
}

extension Tensor {
    /// Asks the CPU to bring rows `indices` into cache, for a gathering of them a while later (the
    /// next mini-batch). A hint: changes nothing, and indices that are not rows are passed over.
    public func prefetchRows(_ indices: some Collection<Int>) {
        guard let count = shape.first else { return } // a scalar has no rows
        let rows = indices.filter { $0 >= 0 && $0 < count }.map(Int64.init)
        rows.withUnsafeBufferPointer {
            nk_prefetch_rows(storage.base, $0.baseAddress, Int64($0.count), Int64(rowWidth * MemoryLayout<Float>.stride))
        }
    }

    /// `gatheringRows(_:)` started on the kernels' thread team in the background: the calling
    /// thread goes on (its next parallel kernel call finishes the copy first) and takes the rows
    /// with `finish()`.
    public func postGatheringRows(_ indices: [Int]) -> PostedRows {
        precondition(!shape.isEmpty, "postGatheringRows(_:) of a scalar")
        var rowsShape = shape
        rowsShape[0] = indices.count
        let base = storage.base
        return PostedRows(source: storage, indices: indices, shape: rowsShape, width: rowWidth, checkedRow: checkedRow) {
            nk_gather_rows_post($0, base, $1, $2, $3)
        }
    }
}

/// Rows of 8-bit values that stand for value / 255 (8-bit images as IDX files hold them), kept
/// beside the float copy a data set computed from them: a mini-batch gathered from the bytes moves
/// a quarter of the memory, and its floats are the float copy's rows bit for bit (each the same
/// division). Immutable.
public final class UnitByteRows: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<UInt8> // rowCount × rowWidth bytes, row after row
    /// Number of rows.
    public let rowCount: Int
    /// Shape of one row as a tensor (e.g. [784] or [1, 28, 28]).
    public let rowShape: [Int]
    /// Values per row.
    public var rowWidth: Int { rowShape.reduce(1, *) }
    /// The bytes, row after row (a copy).
    public var bytes: [UInt8] { Array(storage.prefix(rowCount * rowWidth)) }

    private init(rowCount: Int, rowShape: [Int], fill: (UnsafeMutableBufferPointer<UInt8>) -> Void) {
        self.rowCount = rowCount
        self.rowShape = rowShape
        storage = .allocate(capacity: max(rowCount * rowShape.reduce(1, *), 1))
        fill(storage)
    }

    /// `rowCount` rows of `rowShape` from `bytes` (exactly rowCount × rowWidth of them).
    public convenience init(bytes: some Collection<UInt8>, rowCount: Int, rowShape: [Int]) {
        precondition(rowCount >= 0 && rowShape.allSatisfy { $0 >= 0 } && bytes.count == rowCount * rowShape.reduce(1, *),
                     "UnitByteRows: \(bytes.count) bytes for \(rowCount) rows of shape \(rowShape)")
        self.init(rowCount: rowCount, rowShape: rowShape) { dst in _ = dst.initialize(from: bytes) }
    }

    deinit { storage.deallocate() }

    /// The floats (value / 255) of every row: what the data set's float copy holds.
    public var floats: Tensor { gatheringRows(0..<rowCount) }

    private func checkedRow(_ i: Int) -> Int64 {
        precondition(i >= 0 && i < rowCount, "row \(i) out of range for \(rowCount) rows")
        return Int64(i)
    }

    /// Rows `indices`, in that order, as floats: shape [indices.count] + rowShape.
    public func gatheringRows(_ indices: some Collection<Int>) -> Tensor {
        let rows = indices.map { checkedRow($0) }, w = rowWidth, base = storage.baseAddress!
        return Tensor(shape: [rows.count] + rowShape) { dst in
            guard !rows.isEmpty, w > 0 else { return }
            rows.withUnsafeBufferPointer { r in
                nk_gather_unit_bytes(dst.baseAddress!, base, r.baseAddress!, Int64(r.count), Int64(w))
            }
        }
    }

    /// Asks the CPU to bring rows `indices` into cache, for a `gatheringRows(_:)` or
    /// `postGatheringRows(_:)` of them a while later (the next mini-batch). A hint: changes nothing,
    /// and indices that are not rows are passed over.
    public func prefetchRows(_ indices: some Collection<Int>) {
        let rows = indices.filter { $0 >= 0 && $0 < rowCount }.map(Int64.init)
        rows.withUnsafeBufferPointer { nk_prefetch_rows(storage.baseAddress!, $0.baseAddress, Int64($0.count), Int64(rowWidth)) }
    }

    /// `gatheringRows(_:)` started on the kernels' thread team in the background (see
    /// `Tensor.postGatheringRows(_:)`).
    public func postGatheringRows(_ indices: [Int]) -> PostedRows {
        let base = storage.baseAddress! // kept alive by the posted copy (its source is this object)
        return PostedRows(source: self, indices: indices, shape: [indices.count] + rowShape, width: rowWidth,
                          checkedRow: checkedRow) { nk_gather_unit_bytes_post($0, base, $1, $2, $3) }
    }

    /// The rows `indices`, in that order, as new byte rows.
    public func subset(_ indices: some Collection<Int>) -> UnitByteRows {
        let rows = indices.map { Int(checkedRow($0)) }, w = rowWidth
        return UnitByteRows(rowCount: rows.count, rowShape: rowShape) { dst in
            for (k, r) in rows.enumerated() {
                (dst.baseAddress! + k * w).initialize(from: storage.baseAddress! + r * w, count: w)
            }
        }
    }
}

extension Tensor: Equatable {
    /// Same shape and numerically equal elements (+0 == -0, NaN != NaN).
    public static func == (a: Tensor, b: Tensor) -> Bool {
        guard a.shape == b.shape else { return false }
        for i in 0..<a.count where a.storage.base[i] != b.storage.base[i] { return false }
        return true
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = scalars.prefix(16).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(count > 16 ? ", …" : "")])"
    }
}
