// Seeded, reproducible random numbers: every random choice in Neurite goes through one of these.

import CNeurite
import Foundation

/// xoshiro256** seeded through SplitMix64: fast, 256-bit state, reproducible across platforms.
///
/// The state is public so that checkpoints can store it and a resumed run continues the exact
/// same sequence.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    /// The four 64-bit words of xoshiro256** state.
    public var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose sequence is fully determined by `seed`.
    public init(seed: UInt64) {
        var sm = seed
        func splitMix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// A generator continuing from a saved state (see `stateWords`).
    public init(stateWords w: [UInt64]) {
        precondition(w.count == 4, "SeededGenerator state needs 4 words, got \(w.count)")
        state = (w[0], w[1], w[2], w[3])
    }

    /// The state as four words, for checkpoints.
    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    @inlinable
    /// The next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inlinable func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 random bits (every float in the grid equally likely).
    @inlinable
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [0, 1) as Double with 53 random bits.
    @inlinable
    public mutating func nextUnitDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Standard normal sample (Box–Muller in Double; one sample per call, so the sequence does not
    /// depend on how calls are grouped).
    public mutating func nextNormal() -> Float {
        let u1 = 1.0 - nextUnitDouble()   // (0, 1]
        let u2 = nextUnitDouble()
        return Float((-2.0 * Foundation.log(u1)).squareRoot() * Foundation.cos(2.0 * Double.pi * u2))
    }

    /// Equality of states.
    public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool { a.stateWords == b.stateWords }

    /// A uniformly random permutation of 0..<n (Fisher–Yates, deterministic given the state).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            p.swapAt(i, j)
        }
        return p
    }
}


extension Tensor {
    /// Samples from N(mean, standardDeviation²), drawn in row-major order from `generator`.
    public init(randomNormal shape: [Int], mean: Float = 0, standardDeviation: Float = 1,
                using generator: inout SeededGenerator) {
        self.init(uninitializedShape: shape)
        for i in 0..<count { storage.base[i] = mean + standardDeviation * generator.nextNormal() }
    }

    /// Samples uniform in `range` (lower bound included), drawn in row-major order from `generator`.
    public init(randomUniform shape: [Int], in range: ClosedRange<Float> = 0...1,
                using generator: inout SeededGenerator) {
        self.init(uninitializedShape: shape)
        let lo = range.lowerBound, w = range.upperBound - range.lowerBound
        for i in 0..<count { storage.base[i] = lo + w * generator.nextUnitFloat() }
    }
}

extension Tensor {
    /// Inverted dropout of `input` with keep probability `keep`: input ⊙ mask, where the mask is
    /// 1/keep for kept values and 0 for dropped ones, and the mask itself as one bit a value. The
    /// values are cut into blocks of 8 192; block k draws from its own 8 interleaved xoshiro256**
    /// streams, seeded by SplitMix64 from the generator's starting state and k, and each 64-bit
    /// draw decides two consecutive values (24-bit uniforms from bits 63…40 and 31…8, kept when
    /// below keep·2²⁴). Blocks run on the kernels' thread team: the mask does not depend on the thread count
    /// (nor on the ISA). `generator` advances by one `next()`.
    public static func dropout(_ input: Tensor, keep: Float, generator: inout SeededGenerator) -> (output: Tensor, mask: DropoutMask) {
        precondition(keep > 0 && keep <= 1, "Tensor.dropout: keep probability \(keep) must be in (0, 1]")
        let threshold = UInt32((Double(keep) * 16_777_216).rounded(.down))
        let y = Tensor(uninitializedShape: input.shape)
        var words = generator.stateWords
        // The kernel writes every keep word (the last one's bits past the count as 0): no zero fill first.
        let wordCount = (input.count + 15) / 16
        let bits = [UInt16](unsafeUninitializedCapacity: wordCount) { b, initialized in
            input.withUnsafeBufferPointer { x in
                nk_dropout_forward(&words, Int64(input.count), threshold, 1 / keep, x.baseAddress, y.storage.base, b.baseAddress)
            }
            initialized = wordCount
        }
        generator = SeededGenerator(stateWords: words)
        return (y, DropoutMask(count: input.count, scale: 1 / keep, bits: bits))
    }
}

/// Which values a dropout pass kept, one bit each (bit v % 16 of `bits[v / 16]`), and the scale
/// 1/keep they were multiplied by: what backward needs, in 1/32 of the bytes of a float mask
/// (dropout's passes over large activations are memory-bound).
public struct DropoutMask: Equatable, Sendable {
    /// Number of values the mask covers.
    public let count: Int
    /// The factor kept values are multiplied by (1/keep).
    public let scale: Float
    /// The keep bits, 16 values a word; bits past `count` are 0.
    public let bits: [UInt16]

    /// Whether value `i` was kept.
    public func isKept(_ i: Int) -> Bool { bits[i / 16] >> UInt16(i % 16) & 1 == 1 }

    /// The mask as floats: `scale` where kept, 0 where dropped, shaped like `shape`.
    public func tensor(shape: [Int]) -> Tensor {
        precondition(shape.reduce(1, *) == count, "DropoutMask.tensor: shape \(shape) does not hold \(count) values")
        var t = Tensor(uninitializedShape: shape)
        t.withUnsafeMutableBufferPointer { p in for i in 0..<count { p[i] = isKept(i) ? scale : 0 } }
        return t
    }

    /// ∇x = ∇y ⊙ mask (dropout's backward): the same bits as multiplying by `tensor(shape:)`.
    public func backward(_ gradient: Tensor) -> Tensor { _backward(gradient, gate: nil) }

    /// The backward of a ReLU (output h) followed by this dropout, in one pass: the bits of
    /// `Tensor.reluBackward(input: h, gradient: backward(gradient))`.
    public func backward(_ gradient: Tensor, reluOutput h: Tensor) -> Tensor { _backward(gradient, gate: h) }

    /// The mask applied to `gradient`, then, with a gate, 0 where !(gate > 0) (nk_dropout_relu_backward).
    private func _backward(_ gradient: Tensor, gate: Tensor?) -> Tensor {
        precondition(gradient.count == count && (gate?.count ?? count) == count,
                     "DropoutMask.backward: \(gradient.count) gradient values and a ReLU output of \(gate?.count ?? count) for a mask of \(count)")
        let dx = Tensor(uninitializedShape: gradient.shape)
        withExtendedLifetime(gate) {
            gradient.withUnsafeBufferPointer { g in
                bits.withUnsafeBufferPointer { b in
                    nk_dropout_relu_backward(Int64(count), b.baseAddress, scale, gate.map { UnsafePointer($0.storage.base) },
                                             g.baseAddress, dx.storage.base)
                }
            }
        }
        return dx
    }
}
