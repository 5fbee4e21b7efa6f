// Element-wise arithmetic: tensor ⊕ tensor (same shape, or a row vector broadcast over every row),
// tensor ⊕ scalar, and the in-place compound forms. Every loop runs 16 floats at a time.

extension Tensor {
    /// How a binary operation pairs its operands.
    @usableFromInline enum _Pairing {
        /// Same shape: element with element.
        case elementwise
        /// rhs is a row vector [d] / [1, d] with d == lhs.shape.last: rhs repeats over lhs's rows.
        case rhsRow(width: Int)
        /// lhs is the row vector, rhs the matrix.
        case lhsRow(width: Int)
        /// rhs has exactly one element and rank 0: a scalar.
        case rhsScalar
        /// lhs has exactly one element and rank 0: a scalar.
        case lhsScalar
    }

    /// True for [d] and [1, d].
    @usableFromInline static func _isRowVector(_ shape: [Int]) -> Bool {
        shape.count == 1 || (shape.count == 2 && shape[0] == 1)
    }

    @usableFromInline
    static func _pairing(_ op: String, _ lhs: [Int], _ rhs: [Int], allowLhsBroadcast: Bool) -> _Pairing {
        if lhs == rhs { return .elementwise }
        if rhs.isEmpty { return .rhsScalar }
        if _isRowVector(rhs), let d = lhs.last, d == rhs.last!, lhs.count >= 1 { return .rhsRow(width: d) }
        if allowLhsBroadcast {
            if lhs.isEmpty { return .lhsScalar }
            if _isRowVector(lhs), let d = rhs.last, d == lhs.last! { return .lhsRow(width: d) }
        }
        preconditionFailure("Tensor \(op): shapes \(lhs) and \(rhs) do not match")
    }

    /// The shared body of every (Tensor, Tensor) operator.
    @inlinable
    static func _binary<Op: _BinaryVectorOp>(_ op: String, _ a: Tensor, _ b: Tensor, _ f: Op) -> Tensor {
        let pairing = _pairing(op, a.shape, b.shape, allowLhsBroadcast: true)
        switch pairing {
        case .elementwise, .rhsRow, .rhsScalar:
            let out = Tensor(uninitializedShape: a.shape)
            _apply(pairing, a.storage.base, a.count, b.storage.base, b.count, out.storage.base, f)
            return out
        case .lhsRow, .lhsScalar:
            let out = Tensor(uninitializedShape: b.shape)
            _apply(pairing, a.storage.base, a.count, b.storage.base, b.count, out.storage.base, f)
            return out
        }
    }

    /// Runs `f` over the operands as `pairing` says; `dst` has the size of the larger operand and may
    /// alias it.
    @inlinable
    static func _apply<Op: _BinaryVectorOp>(_ pairing: _Pairing, _ a: UnsafePointer<Float>, _ aCount: Int,
                                            _ b: UnsafePointer<Float>, _ bCount: Int, _ dst: UnsafeMutablePointer<Float>,
                                            _ f: Op) {
        switch pairing {
        case .elementwise:
            SIMDMath._parallelMap2(a, b, dst, count: aCount, f)
        case .rhsScalar:
            SIMDMath._parallelMap(a, dst, count: aCount, _WithRightOperand(f, SIMD16<Float>(repeating: b[0])))
        case .lhsScalar:
            SIMDMath._parallelMap(b, dst, count: bCount, _WithLeftOperand(f, SIMD16<Float>(repeating: a[0])))
        case .rhsRow(let d):
            guard d > 0 else { return }
            var r = 0
            while r < aCount {
                SIMDMath._map2(a + r, b, dst + r, count: d, f)
                r += d
            }
        case .lhsRow(let d):
            guard d > 0 else { return }
            var r = 0
            while r < bCount {
                SIMDMath._map2(a, b + r, dst + r, count: d, f)
                r += d
            }
        }
    }

    /// The shared body of every compound (inout Tensor, Tensor) operator: lhs keeps its shape.
    @inlinable
    static func _binaryInPlace<Op: _BinaryVectorOp>(_ op: String, _ a: inout Tensor, _ b: Tensor, _ f: Op) {
        let pairing = _pairing(op, a.shape, b.shape, allowLhsBroadcast: false)
        a.makeUnique()
        let base = a.storage.base
        b.withUnsafeBufferPointer { bp in
            _apply(pairing, base, a.count, bp.baseAddress!, bp.count, base, f)
        }
    }

    /// A new tensor of the same shape holding f applied to every 16-float vector of `self`.
    @inlinable
    func _map(_ f: (SIMD16<Float>) -> SIMD16<Float>) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        SIMDMath.parallelMap(storage.base, out.storage.base, count: count, f)
        return out
    }

    /// A new tensor of the same shape holding `op` applied to every 16-float vector of `self`
    /// (inlined: see SIMDOps.swift).
    @inlinable
    func _map<Op: _UnaryVectorOp>(_ op: Op) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        SIMDMath._parallelMap(storage.base, out.storage.base, count: count, op)
        return out
    }

    /// Applies `op` to every 16-float vector of `self` in place.
    @inlinable
    mutating func _mapInPlace<Op: _UnaryVectorOp>(_ op: Op) {
        makeUnique()
        SIMDMath._parallelMap(storage.base, storage.base, count: count, op)
    }

    /// Applies f to every 16-float vector of `self` in place.
    @inlinable
    mutating func _mapInPlace(_ f: (SIMD16<Float>) -> SIMD16<Float>) {
        makeUnique()
        SIMDMath.parallelMap(storage.base, storage.base, count: count, f)
    }

    // MARK: Tensor ⊕ Tensor

    /// Element-wise sum. `rhs` (or `lhs`) may be a row vector [d] or [1, d] with d equal to the other's
    /// last extent: it is added to every row (a bias add). A rank-0 operand acts as a scalar.
    @inlinable public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { _binary("+", lhs, rhs, _AddOp()) }
    /// Element-wise difference, broadcasting like `+`.
    @inlinable public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { _binary("-", lhs, rhs, _SubtractOp()) }
    /// Element-wise product, broadcasting like `+`.
    @inlinable public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { _binary("*", lhs, rhs, _MultiplyOp()) }
    /// Element-wise quotient, broadcasting like `+`.
    @inlinable public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { _binary("/", lhs, rhs, _DivideOp()) }

    /// In-place sum; `rhs` has lhs's shape, or is a row vector broadcast over lhs's rows, or rank 0.
    @inlinable public static func += (lhs: inout Tensor, rhs: Tensor) { _binaryInPlace("+=", &lhs, rhs, _AddOp()) }
    /// In-place difference (see `+=`).
    @inlinable public static func -= (lhs: inout Tensor, rhs: Tensor) { _binaryInPlace("-=", &lhs, rhs, _SubtractOp()) }
    /// In-place product (see `+=`).
    @inlinable public static func *= (lhs: inout Tensor, rhs: Tensor) { _binaryInPlace("*=", &lhs, rhs, _MultiplyOp()) }
    /// In-place quotient (see `+=`).
    @inlinable public static func /= (lhs: inout Tensor, rhs: Tensor) { _binaryInPlace("/=", &lhs, rhs, _DivideOp()) }

    // MARK: Tensor ⊕ scalar

    // Tensor ⊕ Float and Float ⊕ Tensor apply the scalar to every element; the compound forms work in
    // place (copying first only if the storage is shared).

    @inlinable public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs._map(_WithRightOperand(_AddOp(), SIMD16(repeating: rhs))) }
    @inlinable public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs._map(_WithRightOperand(_SubtractOp(), SIMD16(repeating: rhs))) }
    @inlinable public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs._map(_WithRightOperand(_MultiplyOp(), SIMD16(repeating: rhs))) }
    @inlinable public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs._map(_WithRightOperand(_DivideOp(), SIMD16(repeating: rhs))) }
    @inlinable public static func + (lhs: Float, rhs: Tensor) -> Tensor { rhs._map(_WithLeftOperand(_AddOp(), SIMD16(repeating: lhs))) }
    @inlinable public static func - (lhs: Float, rhs: Tensor) -> Tensor { rhs._map(_WithLeftOperand(_SubtractOp(), SIMD16(repeating: lhs))) }
    @inlinable public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs._map(_WithLeftOperand(_MultiplyOp(), SIMD16(repeating: lhs))) }
    @inlinable public static func / (lhs: Float, rhs: Tensor) -> Tensor { rhs._map(_WithLeftOperand(_DivideOp(), SIMD16(repeating: lhs))) }

    @inlinable public static func += (lhs: inout Tensor, rhs: Float) { lhs._mapInPlace(_WithRightOperand(_AddOp(), SIMD16(repeating: rhs))) }
    @inlinable public static func -= (lhs: inout Tensor, rhs: Float) { lhs._mapInPlace(_WithRightOperand(_SubtractOp(), SIMD16(repeating: rhs))) }
    @inlinable public static func *= (lhs: inout Tensor, rhs: Float) { lhs._mapInPlace(_WithRightOperand(_MultiplyOp(), SIMD16(repeating: rhs))) }
    @inlinable public static func /= (lhs: inout Tensor, rhs: Float) { lhs._mapInPlace(_WithRightOperand(_DivideOp(), SIMD16(repeating: rhs))) }

    /// Element-wise negation.
    @inlinable public static prefix func - (x: Tensor) -> Tensor { x._map { -$0 } }

    // MARK: unary helpers

    /// x² element-wise.
    @inlinable public func squared() -> Tensor { _map { $0 * $0 } }

    /// √x element-wise (NaN for x < 0).
    @inlinable public func sqrt() -> Tensor { _map { $0.squareRoot() } }

    /// Element-wise clamp into `range`. NaN stays NaN.
    @inlinable public func clipped(to range: ClosedRange<Float>) -> Tensor {
        let lo = SIMD16(repeating: range.lowerBound), hi = SIMD16(repeating: range.upperBound)
        return _map { v in
            let a = v.replacing(with: lo, where: v .< lo)
            return a.replacing(with: hi, where: a .> hi)
        }
    }

    /// a + scale·b for same-shaped tensors, in one pass.
    @inlinable public static func addingScaled(_ a: Tensor, _ b: Tensor, scale: Float) -> Tensor {
        precondition(a.shape == b.shape, "Tensor.addingScaled: shapes \(a.shape) and \(b.shape) do not match")
        let s = SIMD16(repeating: scale)
        let out = Tensor(uninitializedShape: a.shape)
        SIMDMath.map2(a.storage.base, b.storage.base, out.storage.base, count: a.count) { $0 + s * $1 }
        return out
    }

    /// self += scale·b in place (axpy), for same-shaped tensors.
    @inlinable public mutating func addScaled(_ b: Tensor, scale: Float) {
        precondition(shape == b.shape, "Tensor.addScaled: shapes \(shape) and \(b.shape) do not match")
        let s = SIMD16(repeating: scale)
        makeUnique()
        let base = storage.base
        b.withUnsafeBufferPointer { bp in
            SIMDMath.map2(base, bp.baseAddress!, base, count: bp.count) { $0 + s * $1 }
        }
    }
}
