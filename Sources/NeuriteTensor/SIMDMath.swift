// SIMDMath: transcendental functions on SIMD16<Float>, and the drivers that stream buffers through them.
//
// Swift has no exp/log/tanh for SIMD types, and on the x86-64 baseline only `+ - * /`, comparisons and
// `replacing(with:where:)` compile to vector instructions (`pointwiseMax`, `.sum()`, `.rounded()` and
// `addingProduct` become lane loops or libm calls). Everything here is therefore written with those
// operations and integer bit manipulation only.
//
// Measured accuracy against Foundation's Double functions (ActivationTests; the rounding of the true
// value to Float alone is up to 6e-8 relative):
//   exp      max relative error 7.4e-8 over [-87.3, 88.7]; denormal results within one denormal step
//   log      7.7e-8 for normal and denormal inputs
//   tanh     1.3e-7 over [-88, 88] including |x| = 1e-8 (odd polynomial below 0.625)
//   sigmoid  1.8e-7 over the whole float range (no premature underflow for x < -87)
//   expm1    8.4e-8 (through ELU), σ' 2.6e-7, tanh' 2.4e-7
//
// Throughput, release build, 4 M floats (16 MB in, 16 MB out, warm, 1 thread, AMD EPYC Zen 4; GB/s of
// bytes read + written): relu 35–45, a + b 36, exp 8.1, sigmoid 5.3, log 4.2, tanh 3.8, elu 3.8,
// softmax 5.6–6.2. The transcendental ones are compute-bound: without -march the x86-64 baseline is
// SSE2, so one SIMD16 operation is four 4-lane instructions (exp ≈ 200 instructions per 16 floats).

import CNeurite

/// Vectorised elementary functions on `SIMD16<Float>` and buffer drivers for them.
public enum SIMDMath {
    public typealias Vector = SIMD16<Float>

    // MARK: exp

    /// e^x, lane-wise.
    ///
    /// Range reduction x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite split of ln2, so r is exact for every
    /// n that can occur), a degree-7 minimax-style polynomial for e^r (Cephes' `expf` coefficients), then
    /// scaling by 2^n built from exponent bits in two halves so that results in the denormal range
    /// underflow gradually and results above `Float.greatestFiniteMagnitude` become +inf.
    /// exp(x < -103.97) = 0, exp(x > 88.72) = +inf, exp(NaN) = NaN. Max relative error 7.4e-8 measured.
    @inlinable @inline(__always)
    public static func exp(_ x: Vector) -> Vector {
        // Clamp to where the result is 0 / inf anyway; comparisons with NaN are false, so NaN survives.
        var v = x.replacing(with: 89, where: x .> 89)
        v = v.replacing(with: -104, where: v .< -104)
        // n = round(v / ln2) via the 1.5·2^23 trick: the sum's low mantissa bits hold n.
        let magic: Float = 12_582_912
        let t = v * 1.442_695_040_888_963_4 + magic
        let nf = t - magic
        let tBits = unsafeBitCast(t, to: SIMD16<Int32>.self)
        let n = tBits &- 0x4B40_0000
        // r = v - n·ln2, ln2 = 0.693359375 (exact in 9 bits) - 2.12194440e-4.
        var r = v - nf * 0.693_359_375
        r = r + nf * 2.121_944_4e-4
        // e^r ≈ 1 + r + r²·P(r)
        var p: Vector = Vector(repeating: 1.987_569_150_0e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let r2 = r * r
        let er = p * r2 + r + 1
        // 2^n = 2^n1 · 2^n2 with n1 = n >> 1, n2 = n - n1: each factor stays a normal float for
        // n in [-150, 129], so the final product rounds correctly into denormals or overflows to inf.
        let n1 = n &>> 1
        let n2 = n &- n1
        let s1 = unsafeBitCast((n1 &+ 127) &<< 23, to: Vector.self)
        let s2 = unsafeBitCast((n2 &+ 127) &<< 23, to: Vector.self)
        let y = er * s1 * s2
        return y.replacing(with: x, where: x .!= x)
    }

    /// e^x − 1, lane-wise, accurate in relative terms also for tiny |x| (Taylor series of degree 8 for
    /// |x| < 0.5, where `exp(x) - 1` would cancel; `exp(x) - 1` elsewhere). Max relative error ≈ 2e-7
    /// (worst just past |x| = 0.5, where exp(x) − 1 still cancels by 1.5×).
    @inlinable @inline(__always)
    public static func expm1(_ x: Vector) -> Vector {
        let big = exp(x) - 1
        var p = Vector(repeating: 1.0 / 40320)
        p = p * x + 1.0 / 5040
        p = p * x + 1.0 / 720
        p = p * x + 1.0 / 120
        p = p * x + 1.0 / 24
        p = p * x + 1.0 / 6
        p = p * x + 0.5
        let small = (p * x) * x + x
        let ax = x.replacing(with: -x, where: x .< 0)
        return big.replacing(with: small, where: ax .< 0.5)
    }

    // MARK: log

    /// Natural logarithm, lane-wise.
    ///
    /// x = m·2^e with m in [√½, √2); log(m) by Cephes' `logf` polynomial in z = m − 1 (computed exactly),
    /// plus e·ln2 split in two parts. Denormal inputs are scaled by 2^23 first. log(0) = −inf,
    /// log(x < 0) = NaN, log(+inf) = +inf, log(NaN) = NaN. Max relative error 7.7e-8 measured (absolute error
    /// ≈ 1e-7·|log x| near x = 1 is still relative to log x, because m − 1 is exact).
    @inlinable @inline(__always)
    public static func log(_ x: Vector) -> Vector {
        let tiny = x .< Float.leastNormalMagnitude
        let xs = x.replacing(with: x * 8_388_608, where: tiny)           // · 2^23
        let bits = unsafeBitCast(xs, to: SIMD16<Int32>.self)
        // Exponent as a float through the same 1.5·2^23 trick (an Int32→Float SIMD conversion is a lane loop).
        let e = (bits &>> 23) &- 127
        var fe = unsafeBitCast(e &+ 0x4B40_0000, to: Vector.self) - 12_582_912
        fe = fe.replacing(with: fe - 23, where: tiny)
        var m = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F80_0000, to: Vector.self)  // [1, 2)
        let high = m .> 1.414_213_56
        m = m.replacing(with: m * 0.5, where: high)
        fe = fe.replacing(with: fe + 1, where: high)
        let z = m - 1
        let z2 = z * z
        var p = Vector(repeating: 7.037_683_629_2e-2)
        p = p * z - 1.151_461_031_0e-1
        p = p * z + 1.167_699_874_0e-1
        p = p * z - 1.242_014_084_6e-1
        p = p * z + 1.424_932_278_7e-1
        p = p * z - 1.666_805_766_5e-1
        p = p * z + 2.000_071_476_5e-1
        p = p * z - 2.499_999_399_3e-1
        p = p * z + 3.333_333_117_4e-1
        var y = z * z2 * p
        y = y - fe * 2.121_944_40e-4
        y = y - z2 * 0.5
        var result = z + y
        result = result + fe * 0.693_359_375
        // Special values.
        result = result.replacing(with: -.infinity, where: x .== 0)
        result = result.replacing(with: .nan, where: x .< 0)
        result = result.replacing(with: x, where: x .== .infinity)
        return result.replacing(with: x, where: x .!= x)
    }

    // MARK: sigmoid, tanh

    /// 1 / (1 + e^−x), lane-wise, as e^x/(1 + e^x) for x < 0 so that tiny results keep their relative
    /// accuracy (no premature underflow). Max relative error 1.8e-7 measured.
    @inlinable @inline(__always)
    public static func sigmoid(_ x: Vector) -> Vector {
        let ax = x.replacing(with: -x, where: x .< 0)
        let e = exp(-ax)                         // in (0, 1]
        let s = 1 / (1 + e)
        return s.replacing(with: e * s, where: x .< 0)
    }

    /// σ'(x) = σ(x)·σ(−x) = e^−|x| / (1 + e^−|x|)², without the cancellation of σ(1 − σ) for large x.
    @inlinable @inline(__always)
    public static func sigmoidDerivative(_ x: Vector) -> Vector {
        let ax = x.replacing(with: -x, where: x .< 0)
        let e = exp(-ax)
        let d = 1 + e
        return e / (d * d)
    }

    /// Hyperbolic tangent, lane-wise: an odd polynomial (Cephes `tanhf`) for |x| < 0.625, so that
    /// tanh(1e-8) = 1e-8 with small relative error, and sign(x)·(1 − 2/(e^{2|x|} + 1)) above.
    /// Max relative error 1.3e-7 measured.
    @inlinable @inline(__always)
    public static func tanh(_ x: Vector) -> Vector {
        let ax = x.replacing(with: -x, where: x .< 0)
        let e = exp(ax + ax)
        var big = 1 - 2 / (e + 1)
        big = big.replacing(with: -big, where: x .< 0)
        let z = x * x
        var p = Vector(repeating: -5.704_988_727_45e-3)
        p = p * z + 2.063_908_879_54e-2
        p = p * z - 5.373_971_555_31e-2
        p = p * z + 1.333_144_220_36e-1
        p = p * z - 3.333_328_194_22e-1
        let small = p * z * x + x
        return big.replacing(with: small, where: .!(ax .>= 0.625))   // NaN takes the polynomial: NaN
    }

    /// tanh'(x) = sech²(x) = 4e / (1 + e)² with e = e^{−2|x|}, without the cancellation of 1 − tanh².
    @inlinable @inline(__always)
    public static func tanhDerivative(_ x: Vector) -> Vector {
        let ax = x.replacing(with: -x, where: x .< 0)
        let e = exp(-(ax + ax))
        let d = 1 + e
        return (4 * e) / (d * d)
    }

    // MARK: small helpers

    /// Lane-wise max(a, b) with vector instructions (`pointwiseMax` is a lane loop); NaN in `a` is kept.
    @inlinable @inline(__always)
    public static func max(_ a: Vector, _ b: Vector) -> Vector { a.replacing(with: b, where: b .> a) }

    /// Lane-wise min(a, b); NaN in `a` is kept.
    @inlinable @inline(__always)
    public static func min(_ a: Vector, _ b: Vector) -> Vector { a.replacing(with: b, where: b .< a) }

    /// Loads `count` (< 16) floats from `p` into the low lanes of a vector whose other lanes are `pad`.
    @inlinable @inline(__always)
    public static func loadPartial(_ p: UnsafePointer<Float>, count: Int, padding pad: Float = 0) -> Vector {
        // One copy into the vector's bytes: a lane-by-lane insert loop cost ~10 ns a lane.
        var v = Vector(repeating: pad)
        withUnsafeMutableBytes(of: &v) { $0.baseAddress!.copyMemory(from: p, byteCount: count * MemoryLayout<Float>.stride) }
        return v
    }

    /// Stores the low `count` (< 16) lanes of `v` to `p`.
    @inlinable @inline(__always)
    public static func storePartial(_ v: Vector, _ p: UnsafeMutablePointer<Float>, count: Int) {
        withUnsafeBytes(of: v) { UnsafeMutableRawPointer(p).copyMemory(from: $0.baseAddress!, byteCount: count * MemoryLayout<Float>.stride) }
    }

    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inlinable @inline(__always)
    public static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
    }

    /// Horizontal sum of the 16 lanes by halving (a fixed order, so results are deterministic).
    @inlinable @inline(__always)
    public static func horizontalSum(_ v: Vector) -> Float {
        let a = v.lowHalf + v.highHalf
        let b = a.lowHalf + a.highHalf
        let c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }

    /// Horizontal maximum of the 16 lanes.
    @inlinable @inline(__always)
    public static func horizontalMax(_ v: Vector) -> Float {
        let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
        let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
        let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
        return c[1] > c[0] ? c[1] : c[0]
    }

    // MARK: sixteen short rows at once, one per lane

    /// Copies 16 rows of `n` ≤ 16 floats (row r at `rows + r·n`, contiguous) into `n` column
    /// vectors: lane r of `cols[j]` is value j of row r.
    @usableFromInline @inline(__always)
    static func loadColumns(_ rows: UnsafePointer<Float>, _ n: Int, into cols: UnsafeMutablePointer<Vector>) {
        UnsafeMutableRawPointer(cols).withMemoryRebound(to: Float.self, capacity: 16 * n) { c in
            for r in 0..<16 { for j in 0..<n { c[j * 16 + r] = rows[r * n + j] } }
        }
    }

    /// The inverse of `loadColumns`: value j of row r (at `rows + r·n`) from lane r of `cols[j]`.
    @usableFromInline @inline(__always)
    static func storeColumns(_ cols: UnsafeMutablePointer<Vector>, _ n: Int, to rows: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(cols).withMemoryRebound(to: Float.self, capacity: 16 * n) { c in
            for r in 0..<16 { for j in 0..<n { rows[r * n + j] = c[j * 16 + r] } }
        }
    }

    /// Each row's maximum, lane r for row r, from its `n` ≤ 16 columns: exactly what a row loaded
    /// with −inf padding, taken max(−inf, ·) and reduced by `horizontalMax` gives (NaNs skipped,
    /// −inf for a row of nothing else; the same comparisons in the same tree, so signed zeros
    /// agree too). `scratch` holds 16 vectors.
    @usableFromInline @inline(__always)
    static func rowMaxima(ofColumns cols: UnsafePointer<Vector>, _ n: Int, scratch v: UnsafeMutablePointer<Vector>) -> Vector {
        let negInf = Vector(repeating: -.infinity)
        for j in 0..<16 { v[j] = j < n ? max(negInf, cols[j]) : negInf }
        let a0 = max(v[0], v[8]), a1 = max(v[1], v[9]), a2 = max(v[2], v[10]), a3 = max(v[3], v[11])
        let a4 = max(v[4], v[12]), a5 = max(v[5], v[13]), a6 = max(v[6], v[14]), a7 = max(v[7], v[15])
        let b0 = max(a0, a4), b1 = max(a1, a5), b2 = max(a2, a6), b3 = max(a3, a7)
        return max(max(b0, b2), max(b1, b3))
    }

    /// `horizontalSum` of 16 vectors at once, lane by lane (the same additions in the same tree,
    /// so the same bits). `v` holds 16 vectors.
    @usableFromInline @inline(__always)
    static func horizontalSumOfLanes(_ v: UnsafePointer<Vector>) -> Vector {
        let a0 = v[0] + v[8], a1 = v[1] + v[9], a2 = v[2] + v[10], a3 = v[3] + v[11]
        let a4 = v[4] + v[12], a5 = v[5] + v[13], a6 = v[6] + v[14], a7 = v[7] + v[15]
        let b0 = a0 + a4, b1 = a1 + a5, b2 = a2 + a6, b3 = a3 + a7
        return (b0 + b2) + (b1 + b3)
    }

    /// Horizontal minimum of the 16 lanes.
    @inlinable @inline(__always)
    public static func horizontalMin(_ v: Vector) -> Float {
        let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .< v.lowHalf)
        let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .< a.lowHalf)
        let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .< b.lowHalf)
        return c[1] < c[0] ? c[1] : c[0]
    }

    // MARK: drivers

    /// dst[i] = f(src)[i] for i in 0..<count, 16 at a time. The last partial vector is loaded zero-padded
    /// and goes through the same `f`, so an element's result never depends on its position.
    /// `dst` may equal `src` (in-place).
    @inlinable @inline(__always)
    public static func map(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int,
                           _ f: (Vector) -> Vector) {
        withoutActuallyEscaping(f) { _map(src, dst, count: count, _UnaryClosureOp(f: $0)) }
    }

    /// dst[i] = f(a, b)[i], 16 at a time, zero-padded tail. `dst` may equal `a` or `b`.
    @inlinable @inline(__always)
    public static func map2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                            _ dst: UnsafeMutablePointer<Float>, count: Int,
                            _ f: (Vector, Vector) -> Vector) {
        withoutActuallyEscaping(f) { _map2(a, b, dst, count: count, _BinaryClosureOp(f: $0)) }
    }

    /// dst[i] = f(a, b, c)[i], 16 at a time, zero-padded tail. `dst` may equal any input.
    @inlinable @inline(__always)
    public static func map3(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
                            _ dst: UnsafeMutablePointer<Float>, count: Int,
                            _ f: (Vector, Vector, Vector) -> Vector) {
        var i = 0
        while i + 16 <= count {
            store(f(load(a + i), load(b + i), load(c + i)), dst + i)
            i += 16
        }
        if i < count {
            let n = count - i
            storePartial(f(loadPartial(a + i, count: n), loadPartial(b + i, count: n),
                           loadPartial(c + i, count: n)), dst + i, count: n)
        }
    }

    // MARK: parallel drivers

    /// Buffers at least this long (2¹⁵ floats, 128 KiB) are split over the kernel threads; below
    /// it a fork and join costs about what a thread saves.
    public static let parallelThreshold = 1 << 15

    /// Runs `body(begin, end)` over ranges covering 0..<count, split over the kernel threads
    /// (`Runtime.threads`) when count ≥ 2·`parallelThreshold`, else once on this thread. Range
    /// bounds are multiples of 16, so each vector is whole except the buffer's last, and an
    /// element-wise map gives the same bits for every thread count.
    public static func inRanges(count: Int, _ body: (Int, Int) -> Void) {
        guard count >= 2 * parallelThreshold, nk_get_num_threads() > 1 else { body(0, count); return }
        withoutActuallyEscaping(body) { escapable in
            var closure = escapable
            withUnsafeMutablePointer(to: &closure) { context in
                nk_parallel_ranges(Int64(count), 16, Int64(parallelThreshold), context) { context, begin, end in
                    context!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(Int(begin), Int(end))
                }
            }
        }
    }

    /// `map`, split over the kernel threads for long buffers (see `inRanges`).
    @inlinable @inline(__always)
    public static func parallelMap(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int,
                                   _ f: (Vector) -> Vector) {
        inRanges(count: count) { begin, end in map(src + begin, dst + begin, count: end - begin, f) }
    }

    /// `map2`, split over the kernel threads for long buffers (see `inRanges`).
    @inlinable @inline(__always)
    public static func parallelMap2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                    _ dst: UnsafeMutablePointer<Float>, count: Int,
                                    _ f: (Vector, Vector) -> Vector) {
        inRanges(count: count) { begin, end in map2(a + begin, b + begin, dst + begin, count: end - begin, f) }
    }

    /// `map3`, split over the kernel threads for long buffers (see `inRanges`).
    @inlinable @inline(__always)
    public static func parallelMap3(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
                                    _ dst: UnsafeMutablePointer<Float>, count: Int,
                                    _ f: (Vector, Vector, Vector) -> Vector) {
        inRanges(count: count) { begin, end in map3(a + begin, b + begin, c + begin, dst + begin, count: end - begin, f) }
    }
}
