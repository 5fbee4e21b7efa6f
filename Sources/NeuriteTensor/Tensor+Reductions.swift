// Reductions: whole-tensor sums (deterministic, blockwise Float SIMD with Double accumulation of the
// blocks), per-axis sums (axis 0 of [N, d] is every Dense layer's bias gradient: rows added with SIMD),
// extrema, argmax over the last axis, norms and dot products.

extension Tensor {
    /// Floats summed in SIMD Float registers before the partial sum moves into the Double total.
    @usableFromInline static var _blockSize: Int { 4096 }

    /// Σ f(a[i], b[i]) with 4 SIMD16 accumulators per block of 4096 and Double across blocks: fast,
    /// accurate to ~1e-7 relative for sums of same-sign values, and the same bits on every run.
    @inlinable
    static func _reduceSum(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int,
                           _ f: (SIMD16<Float>, SIMD16<Float>) -> SIMD16<Float>) -> Double {
        typealias V = SIMD16<Float>
        var total = 0.0
        var start = 0
        while start < count {
            let end = Swift.min(start + _blockSize, count)
            var s0 = V(), s1 = V(), s2 = V(), s3 = V()
            var i = start
            while i + 64 <= end {
                s0 += f(SIMDMath.load(a + i), SIMDMath.load(b + i))
                s1 += f(SIMDMath.load(a + i + 16), SIMDMath.load(b + i + 16))
                s2 += f(SIMDMath.load(a + i + 32), SIMDMath.load(b + i + 32))
                s3 += f(SIMDMath.load(a + i + 48), SIMDMath.load(b + i + 48))
                i += 64
            }
            while i + 16 <= end {
                s0 += f(SIMDMath.load(a + i), SIMDMath.load(b + i))
                i += 16
            }
            if i < end {
                s1 += f(SIMDMath.loadPartial(a + i, count: end - i), SIMDMath.loadPartial(b + i, count: end - i))
            }
            total += Double(SIMDMath.horizontalSum((s0 + s1) + (s2 + s3)))
            start = end
        }
        return total
    }

    /// Sum of all elements (0 for an empty tensor).
    public func sum() -> Float {
        Float(Tensor._reduceSum(storage.base, storage.base, count: count) { a, _ in a })
    }

    /// Mean of all elements (NaN for an empty tensor).
    public func mean() -> Float {
        Float(Tensor._reduceSum(storage.base, storage.base, count: count) { a, _ in a } / Double(count))
    }

    /// Σ x² over all elements.
    public func squaredNorm() -> Float {
        Float(Tensor._reduceSum(storage.base, storage.base, count: count) { a, _ in a * a })
    }

    /// Σ self[i]·other[i]; the tensors must have the same shape.
    public func dot(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "Tensor.dot: shapes \(shape) and \(other.shape) do not match")
        return Float(Tensor._reduceSum(storage.base, other.storage.base, count: count) { $0 * $1 })
    }

    /// Sums over `axis`, which disappears from the shape ([N, d].sum(alongAxis: 0) has shape [d]).
    /// Negative axes count from the end.
    public func sum(alongAxis axis: Int) -> Tensor {
        let ax = axis < 0 ? axis + rank : axis
        precondition(ax >= 0 && ax < rank, "Tensor.sum(alongAxis: \(axis)) of a tensor of shape \(shape)")
        let outer = shape[..<ax].reduce(1, *)
        let n = shape[ax]
        let inner = shape[(ax + 1)...].reduce(1, *)
        var newShape = shape
        newShape.remove(at: ax)
        let out = Tensor(shape: newShape, repeating: 0)
        let src = storage.base, dst = out.storage.base
        for o in 0..<outer {
            let s = src + o * n * inner, d = dst + o * inner
            if inner == 1 {
                d[0] = Float(Tensor._reduceSum(s, s, count: n) { a, _ in a })
            } else {
                Tensor._sumRows(s, rows: n, width: inner, into: d)
            }
        }
        return out
    }

    /// Mean over `axis`, which disappears from the shape.
    public func mean(alongAxis axis: Int) -> Tensor {
        let ax = axis < 0 ? axis + rank : axis
        precondition(ax >= 0 && ax < rank, "Tensor.mean(alongAxis: \(axis)) of a tensor of shape \(shape)")
        var s = sum(alongAxis: ax)
        s *= 1 / Float(shape[ax])
        return s
    }

    /// dst[j] = Σ_r src[r·width + j]: column blocks of 64 (then 16, then a padded tail) accumulated in
    /// registers while walking down the rows, so every element is read once and dst written once.
    @usableFromInline
    static func _sumRows(_ src: UnsafePointer<Float>, rows: Int, width: Int, into dst: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        var j = 0
        while j + 64 <= width {
            var s0 = V(), s1 = V(), s2 = V(), s3 = V()
            var p = src + j
            for _ in 0..<rows {
                s0 += SIMDMath.load(p); s1 += SIMDMath.load(p + 16)
                s2 += SIMDMath.load(p + 32); s3 += SIMDMath.load(p + 48)
                p += width
            }
            SIMDMath.store(s0, dst + j); SIMDMath.store(s1, dst + j + 16)
            SIMDMath.store(s2, dst + j + 32); SIMDMath.store(s3, dst + j + 48)
            j += 64
        }
        while j + 16 <= width {
            var s = V()
            var p = src + j
            for _ in 0..<rows { s += SIMDMath.load(p); p += width }
            SIMDMath.store(s, dst + j)
            j += 16
        }
        if j < width {
            let t = width - j
            var s = V()
            var p = src + j
            for _ in 0..<rows { s += SIMDMath.loadPartial(p, count: t); p += width }
            SIMDMath.storePartial(s, dst + j, count: t)
        }
    }

    /// Largest element (NaNs are skipped unless every element is NaN). The tensor must not be empty.
    public func max() -> Float {
        precondition(count > 0, "Tensor.max() of an empty tensor of shape \(shape)")
        var m = SIMD16<Float>(repeating: -.infinity)
        let p = storage.base
        var i = 0
        while i + 16 <= count { m = SIMDMath.max(m, SIMDMath.load(p + i)); i += 16 }
        if i < count { m = SIMDMath.max(m, SIMDMath.loadPartial(p + i, count: count - i, padding: -.infinity)) }
        let r = SIMDMath.horizontalMax(m)
        return r == -.infinity && !(0..<count).contains(where: { p[$0] == -.infinity }) ? .nan : r
    }

    /// Smallest element (NaNs are skipped unless every element is NaN). The tensor must not be empty.
    public func min() -> Float {
        precondition(count > 0, "Tensor.min() of an empty tensor of shape \(shape)")
        var m = SIMD16<Float>(repeating: .infinity)
        let p = storage.base
        var i = 0
        while i + 16 <= count { m = SIMDMath.min(m, SIMDMath.load(p + i)); i += 16 }
        if i < count { m = SIMDMath.min(m, SIMDMath.loadPartial(p + i, count: count - i, padding: .infinity)) }
        let r = SIMDMath.horizontalMin(m)
        return r == .infinity && !(0..<count).contains(where: { p[$0] == .infinity }) ? .nan : r
    }

    /// Index of the largest element of every row along the last axis (ties → the first; NaNs
    /// skipped). [N, C] gives N indices; a rank-1 tensor gives one.
    public func argmax() -> [Int] {
        let width = shape.last ?? 1
        precondition(width > 0, "Tensor.argmax() along an empty last axis, shape \(shape)")
        let rows = count / width
        var result = [Int](repeating: 0, count: rows)
        let p = storage.base
        var first = 0
        if width <= 16 {
            // Sixteen rows at once, one per lane (a 10-class batch's decisions): the columns as
            // vectors, the row maxima by horizontalMax's tree lane-wise, then the first column
            // holding each — the same answer as the loop below.
            typealias V = SIMD16<Float>
            withUnsafeTemporaryAllocation(of: V.self, capacity: 32) { buffer in
                let cols = buffer.baseAddress!, work = cols + 16
                while first + 16 <= rows {
                    SIMDMath.loadColumns(p + first * width, width, into: cols)
                    let best = SIMDMath.rowMaxima(ofColumns: cols, width, scratch: work)
                    var index = SIMD16<Int32>()
                    for j in (0..<width).reversed() { index.replace(with: Int32(j), where: cols[j] .== best) }
                    for r in 0..<16 { result[first + r] = Int(index[r]) }
                    first += 16
                }
            }
        }
        for r in first..<rows {
            let row = p + r * width
            // SIMD maximum, then the first index holding it.
            var m = SIMD16<Float>(repeating: -.infinity)
            var i = 0
            while i + 16 <= width { m = SIMDMath.max(m, SIMDMath.load(row + i)); i += 16 }
            if i < width { m = SIMDMath.max(m, SIMDMath.loadPartial(row + i, count: width - i, padding: -.infinity)) }
            let best = SIMDMath.horizontalMax(m)
            var k = 0
            while k < width && row[k] != best { k += 1 }
            result[r] = k < width ? k : 0
        }
        return result
    }
}
