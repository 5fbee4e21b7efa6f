// Element-wise operations as types. A map that takes its operation as a closure calls it once per
// 16 floats (Swift does not inline a closure passed down through the maps and the team's range
// callback); a map generic over an operation type is specialised for each operation and inlines
// it. `neurite-bench act --threads 1`, 25 600 floats, Zen 5, closures → operation types: relu
// 52–66 → 77–80 GB/s, add 66–102 → 135–139, multiply by a scalar 43–69 → 108–147. The arithmetic,
// the ReLU family and the sigmoid and tanh backward rules go through these; the arithmetic inside
// each operation is the closure's it replaces, so the bits are the same.

/// One operation on a vector of 16 floats.
@usableFromInline protocol _UnaryVectorOp {
    func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float>
}

/// One operation on two vectors of 16 floats.
@usableFromInline protocol _BinaryVectorOp {
    func callAsFunction(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float>
}

extension SIMDMath {
    /// `map` with the operation as a type (inlined).
    @inlinable @inline(__always)
    static func _map<Op: _UnaryVectorOp>(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, _ op: Op) {
        var i = 0
        while i + 16 <= count {
            store(op(load(src + i)), dst + i)
            i += 16
        }
        if i < count {
            let n = count - i
            storePartial(op(loadPartial(src + i, count: n)), dst + i, count: n)
        }
    }

    /// `map2` with the operation as a type (inlined).
    @inlinable @inline(__always)
    static func _map2<Op: _BinaryVectorOp>(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                           _ dst: UnsafeMutablePointer<Float>, count: Int, _ op: Op) {
        var i = 0
        while i + 16 <= count {
            store(op(load(a + i), load(b + i)), dst + i)
            i += 16
        }
        if i < count {
            let n = count - i
            storePartial(op(loadPartial(a + i, count: n), loadPartial(b + i, count: n)), dst + i, count: n)
        }
    }

    /// `parallelMap` with the operation as a type.
    @inlinable @inline(__always)
    static func _parallelMap<Op: _UnaryVectorOp>(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                                 count: Int, _ op: Op) {
        inRanges(count: count) { begin, end in _map(src + begin, dst + begin, count: end - begin, op) }
    }

    /// `parallelMap2` with the operation as a type.
    @inlinable @inline(__always)
    static func _parallelMap2<Op: _BinaryVectorOp>(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                                   _ dst: UnsafeMutablePointer<Float>, count: Int, _ op: Op) {
        inRanges(count: count) { begin, end in _map2(a + begin, b + begin, dst + begin, count: end - begin, op) }
    }
}

// The operations.

/// A closure as an operation (`SIMDMath.map`/`map2`'s loops are these): still a call a vector.
@usableFromInline struct _UnaryClosureOp: _UnaryVectorOp {
    @usableFromInline let f: (SIMD16<Float>) -> SIMD16<Float>
    @inlinable init(f: @escaping (SIMD16<Float>) -> SIMD16<Float>) { self.f = f }
    @inlinable @inline(__always) func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { f(x) }
}
@usableFromInline struct _BinaryClosureOp: _BinaryVectorOp {
    @usableFromInline let f: (SIMD16<Float>, SIMD16<Float>) -> SIMD16<Float>
    @inlinable init(f: @escaping (SIMD16<Float>, SIMD16<Float>) -> SIMD16<Float>) { self.f = f }
    @inlinable @inline(__always) func callAsFunction(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { f(a, b) }
}

@usableFromInline struct _AddOp: _BinaryVectorOp {
    @inlinable init() {}
    @inlinable @inline(__always) func callAsFunction(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a + b }
}
@usableFromInline struct _SubtractOp: _BinaryVectorOp {
    @inlinable init() {}
    @inlinable @inline(__always) func callAsFunction(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a - b }
}
@usableFromInline struct _MultiplyOp: _BinaryVectorOp {
    @inlinable init() {}
    @inlinable @inline(__always) func callAsFunction(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a * b }
}
@usableFromInline struct _DivideOp: _BinaryVectorOp {
    @inlinable init() {}
    @inlinable @inline(__always) func callAsFunction(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a / b }
}

/// op(x, s) for a fixed vector s (a scalar operand, broadcast).
@usableFromInline struct _WithRightOperand<Op: _BinaryVectorOp>: _UnaryVectorOp {
    @usableFromInline let op: Op
    @usableFromInline let s: SIMD16<Float>
    @inlinable init(_ op: Op, _ s: SIMD16<Float>) { (self.op, self.s) = (op, s) }
    @inlinable @inline(__always) func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { op(x, s) }
}

/// op(s, x) for a fixed vector s.
@usableFromInline struct _WithLeftOperand<Op: _BinaryVectorOp>: _UnaryVectorOp {
    @usableFromInline let op: Op
    @usableFromInline let s: SIMD16<Float>
    @inlinable init(_ op: Op, _ s: SIMD16<Float>) { (self.op, self.s) = (op, s) }
    @inlinable @inline(__always) func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { op(s, x) }
}

/// max(0, x), NaN kept (Tensor.relu).
@usableFromInline struct _ReLUOp: _UnaryVectorOp {
    @inlinable init() {}
    @inlinable @inline(__always) func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { x.replacing(with: 0, where: x .< 0) }
}

/// 1 where x > 0, else 0 (Tensor.reluDerivative).
@usableFromInline struct _ReLUDerivativeOp: _UnaryVectorOp {
    @inlinable init() {}
    @inlinable @inline(__always) func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        SIMD16<Float>(repeating: 0).replacing(with: 1, where: x .> 0)
    }
}

/// x for x > 0, slope·x otherwise (Tensor.leakyRelu).
@usableFromInline struct _LeakyReLUOp: _UnaryVectorOp {
    @usableFromInline let s: SIMD16<Float>
    @inlinable init(slope: Float) { s = SIMD16(repeating: slope) }
    @inlinable @inline(__always) func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        x.replacing(with: s * x, where: .!(x .> 0))
    }
}

/// 1 where x > 0, else slope (Tensor.leakyReluDerivative).
@usableFromInline struct _LeakyReLUDerivativeOp: _UnaryVectorOp {
    @usableFromInline let s: SIMD16<Float>
    @inlinable init(slope: Float) { s = SIMD16(repeating: slope) }
    @inlinable @inline(__always) func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        s.replacing(with: 1, where: x .> 0)
    }
}

/// (x, g) → g where x > 0, slope·g elsewhere (Tensor.leakyReluBackward).
@usableFromInline struct _LeakyReLUBackwardOp: _BinaryVectorOp {
    @usableFromInline let s: SIMD16<Float>
    @inlinable init(slope: Float) { s = SIMD16(repeating: slope) }
    @inlinable @inline(__always) func callAsFunction(_ x: SIMD16<Float>, _ g: SIMD16<Float>) -> SIMD16<Float> {
        g.replacing(with: s * g, where: .!(x .> 0))
    }
}

/// (y, g) → g·y(1 − y) for the sigmoid's output y (Tensor.sigmoidBackward).
@usableFromInline struct _SigmoidBackwardOp: _BinaryVectorOp {
    @inlinable init() {}
    @inlinable @inline(__always) func callAsFunction(_ y: SIMD16<Float>, _ g: SIMD16<Float>) -> SIMD16<Float> {
        g * y * (1 - y)
    }
}

/// (y, g) → g·(1 − y)(1 + y) for tanh's output y (Tensor.tanhBackward; 1 − y is exact near ±1).
@usableFromInline struct _TanhBackwardOp: _BinaryVectorOp {
    @inlinable init() {}
    @inlinable @inline(__always) func callAsFunction(_ y: SIMD16<Float>, _ g: SIMD16<Float>) -> SIMD16<Float> {
        g * ((1 - y) * (1 + y))
    }
}
