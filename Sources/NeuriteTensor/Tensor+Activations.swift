// Activations, their derivatives at the pre-activation, the fused backward rules layers use, and the
// row-wise (last-axis) softmax / log-softmax. Every function is one pass over the data (SIMD16 in
// Swift, or a C kernel where a Swift closure's per-vector call would dominate); the backward rule
// sits next to its forward rule.

import CNeurite

extension Tensor {
    // MARK: sigmoid: y = 1/(1+e^−x), dy/dx = y(1−y)

    /// 1 / (1 + e^−x) element-wise; accurate in relative terms over the whole float range.
    @inlinable public func sigmoid() -> Tensor { _map(SIMDMath.sigmoid) }

    /// σ'(x) = σ(x)σ(−x) at the pre-activation x = self (no cancellation for large |x|).
    @inlinable public func sigmoidDerivative() -> Tensor { _map(SIMDMath.sigmoidDerivative) }

    /// g ⊙ y(1 − y), given the sigmoid's output y and the gradient g of its output. Shapes equal.
    @inlinable public static func sigmoidBackward(output y: Tensor, gradient g: Tensor) -> Tensor {
        _checkSame("sigmoidBackward", y, g)
        let out = Tensor(uninitializedShape: y.shape)
        SIMDMath._parallelMap2(y.storage.base, g.storage.base, out.storage.base, count: y.count, _SigmoidBackwardOp())
        return out
    }

    // MARK: tanh: y = tanh x, dy/dx = 1 − y²

    /// tanh(x) element-wise; relative error ≈ 2e-7 also for tiny |x|.
    @inlinable public func tanh() -> Tensor { _map(SIMDMath.tanh) }

    /// sech²(x) at the pre-activation x = self (no cancellation for large |x|).
    @inlinable public func tanhDerivative() -> Tensor { _map(SIMDMath.tanhDerivative) }

    /// g ⊙ (1 − y²), given tanh's output y and the gradient g of its output. Shapes equal.
    @inlinable public static func tanhBackward(output y: Tensor, gradient g: Tensor) -> Tensor {
        _checkSame("tanhBackward", y, g)
        let out = Tensor(uninitializedShape: y.shape)
        SIMDMath._parallelMap2(y.storage.base, g.storage.base, out.storage.base, count: y.count, _TanhBackwardOp())
        return out
    }

    // MARK: ReLU: y = max(0, x), dy/dx = [x > 0]

    /// max(0, x) element-wise (NaN stays NaN).
    @inlinable public func relu() -> Tensor {
        _map(_ReLUOp())
    }

    /// 1 where x > 0, else 0 (0 at x = 0).
    @inlinable public func reluDerivative() -> Tensor {
        _map(_ReLUDerivativeOp())
    }

    /// g·scale where the pre-activation x > 0, else 0 (scale: a dropout's keep scale taken in the
    /// same pass; 1 changes nothing). Shapes equal. One C pass (nk_relu_backward): the backward
    /// of every ReLU that is not fused into its layer's kernel.
    public static func reluBackward(input x: Tensor, gradient g: Tensor, scale: Float = 1) -> Tensor {
        _checkSame("reluBackward", x, g)
        let out = Tensor(uninitializedShape: x.shape)
        nk_relu_backward(Int64(x.count), x.storage.base, scale, g.storage.base, out.storage.base)
        return out
    }

    // MARK: leaky ReLU: y = x (x > 0) or slope·x (x ≤ 0), dy/dx = 1 or slope

    /// x for x > 0, slope·x otherwise (equals max(slope·x, x) for slope ≤ 1).
    @inlinable public func leakyRelu(slope: Float = 0.1) -> Tensor {
        _map(_LeakyReLUOp(slope: slope))
    }

    /// 1 where x > 0, else slope.
    @inlinable public func leakyReluDerivative(slope: Float = 0.1) -> Tensor {
        _map(_LeakyReLUDerivativeOp(slope: slope))
    }

    /// g where x > 0, slope·g elsewhere. Shapes equal.
    @inlinable public static func leakyReluBackward(input x: Tensor, gradient g: Tensor,
                                                    slope: Float = 0.1) -> Tensor {
        _checkSame("leakyReluBackward", x, g)
        let out = Tensor(uninitializedShape: x.shape)
        SIMDMath._parallelMap2(x.storage.base, g.storage.base, out.storage.base, count: x.count, _LeakyReLUBackwardOp(slope: slope))
        return out
    }

    // MARK: ELU: y = x (x > 0) or α(e^x − 1), dy/dx = 1 or y + α

    /// x for x > 0, α(e^x − 1) otherwise (through expm1, so tiny negative x keep their precision).
    @inlinable public func elu(alpha: Float = 1) -> Tensor {
        let a = SIMD16(repeating: alpha)
        return _map { x in x.replacing(with: a * SIMDMath.expm1(x), where: .!(x .> 0)) }
    }

    /// 1 for x > 0, α·e^x otherwise.
    @inlinable public func eluDerivative(alpha: Float = 1) -> Tensor {
        let a = SIMD16(repeating: alpha)
        return _map { x in SIMD16<Float>(repeating: 1).replacing(with: a * SIMDMath.exp(x), where: .!(x .> 0)) }
    }

    /// g for x > 0, g·(y + α) otherwise, given the pre-activation x, ELU's output y and the output
    /// gradient g. Shapes equal.
    @inlinable public static func eluBackward(input x: Tensor, output y: Tensor, gradient g: Tensor,
                                              alpha: Float = 1) -> Tensor {
        _checkSame("eluBackward", x, y)
        _checkSame("eluBackward", x, g)
        let a = SIMD16(repeating: alpha)
        let out = Tensor(uninitializedShape: x.shape)
        SIMDMath.parallelMap3(x.storage.base, y.storage.base, g.storage.base, out.storage.base,
                      count: x.count) { x, y, g in
            g.replacing(with: g * (y + a), where: .!(x .> 0))
        }
        return out
    }

    // MARK: exp, log

    /// e^x element-wise (0 below −103.9, +inf above 88.72). Relative error ≈ 1.2e-7.
    @inlinable public func exp() -> Tensor { _map(SIMDMath.exp) }

    /// Natural logarithm element-wise (−inf at 0, NaN below 0). Relative error ≈ 1.2e-7.
    @inlinable public func log() -> Tensor { _map(SIMDMath.log) }

    // MARK: softmax over the last axis

    /// exp(x − max) / Σ exp(x − max) along the last axis, for every row. Rows holding ±1000 stay
    /// finite and sum to 1. A rank-0 tensor is one row of one element.
    public func softmax() -> Tensor { _softmax(log: false) }

    /// x − max − log Σ exp(x − max) along the last axis: the log of `softmax()` without its underflow.
    public func logSoftmax() -> Tensor { _softmax(log: true) }

    func _softmax(log: Bool) -> Tensor {
        let width = shape.last ?? 1
        let out = Tensor(uninitializedShape: shape)
        guard width > 0, count > 0 else { return out }
        let src = storage.base, dst = out.storage.base
        var r = 0
        if width <= 16 {
            while r + 16 * width <= count {
                Tensor._softmaxRows16(src + r, dst + r, width, log: log)
                r += 16 * width
            }
        }
        while r < count {
            Tensor._softmaxRow(src + r, dst + r, width, log: log)
            r += width
        }
        return out
    }

    @usableFromInline
    static func _softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, log: Bool) {
        typealias V = SIMD16<Float>
        let full = n & ~15, tail = n - full
        // 1. Row maximum (tail padded with −inf).
        var m = V(repeating: -.infinity)
        var i = 0
        while i < full { m = SIMDMath.max(m, SIMDMath.load(x + i)); i += 16 }
        if tail > 0 { m = SIMDMath.max(m, SIMDMath.loadPartial(x + full, count: tail, padding: -.infinity)) }
        var mx = SIMDMath.horizontalMax(m)
        if mx == -.infinity { mx = 0 }   // an all −inf row: avoid −inf − (−inf) = NaN in the shift
        let mv = V(repeating: mx)
        // 2. e = exp(x − max), written out for softmax, summed in either case (padding gives exp(−inf) = 0).
        var s = V()
        i = 0
        while i < full {
            let e = SIMDMath.exp(SIMDMath.load(x + i) - mv)
            if !log { SIMDMath.store(e, y + i) }
            s += e
            i += 16
        }
        if tail > 0 {
            let e = SIMDMath.exp(SIMDMath.loadPartial(x + full, count: tail, padding: -.infinity) - mv)
            if !log { SIMDMath.storePartial(e, y + full, count: tail) }
            s += e
        }
        let total = SIMDMath.horizontalSum(s)
        // 3. Normalise.
        if log {
            // (x − max) − log Σ: subtracting max first keeps e.g. −1000 − (−1000 + log 3) from losing
            // log 3's low bits to the rounding of the combined shift.
            let lse = V(repeating: SIMDMath.log(V(repeating: total))[0])
            SIMDMath.map(x, y, count: n) { ($0 - mv) - lse }
        } else {
            let inv = V(repeating: 1 / total)
            SIMDMath.map(y, y, count: n) { $0 * inv }
        }
    }

    /// Sixteen rows of `n` ≤ 16 values at once, one row per lane: the columns become vectors, so
    /// max, exp, sum and log run once per column of 16 rows instead of once per row on a vector
    /// mostly of padding. Every value meets the operations `_softmaxRow` applies to it — its
    /// horizontal max and sum trees run lane-wise, the padding columns hold what its padding lanes
    /// do — so the results are bit for bit `_softmaxRow`'s. A 10-class loss on 64 rows
    /// spent ~5 µs a batch in `_softmaxRow` (Zen 5), mostly per-row overhead.
    @usableFromInline
    static func _softmaxRows16(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, log: Bool) {
        typealias V = SIMD16<Float>
        withUnsafeTemporaryAllocation(of: V.self, capacity: 32) { buffer in
            let cols = buffer.baseAddress!, work = cols + 16
            SIMDMath.loadColumns(x, n, into: cols)
            // 1. Row maxima, as _softmaxRow takes them.
            var mx = SIMDMath.rowMaxima(ofColumns: cols, n, scratch: work)
            mx.replace(with: 0, where: mx .== -.infinity)
            // 2. e = exp(x − max); sums start from 0 as _softmaxRow's accumulator does.
            let padding = V() + SIMDMath.exp(V(repeating: -.infinity) - mx)
            for j in 0..<16 {
                if j < n {
                    let e = SIMDMath.exp(cols[j] - mx)
                    work[j] = V() + e
                    if !log { cols[j] = e }
                } else {
                    work[j] = padding
                }
            }
            let total = SIMDMath.horizontalSumOfLanes(work)
            // 3. Normalise, then back to rows.
            if log {
                let lse = SIMDMath.log(total)
                for j in 0..<n { cols[j] = (cols[j] - mx) - lse }
            } else {
                let inv = V(repeating: 1) / total
                for j in 0..<n { cols[j] = cols[j] * inv }
            }
            SIMDMath.storeColumns(cols, n, to: y)
        }
    }

    @usableFromInline
    static func _checkSame(_ op: String, _ a: Tensor, _ b: Tensor) {
        precondition(a.shape == b.shape, "Tensor.\(op): shapes \(a.shape) and \(b.shape) do not match")
    }
}
