// Thin Swift wrappers over the C kernels for code outside NeuriteTensor (benchmarks, tests of
// other modules), which must not import CNeurite themselves.

import CNeurite

/// Direct access to Neurite's compute kernels on raw buffers.
public enum Kernels {
    /// A kernel family. `auto` means whatever `Runtime.isa` currently is.
    public enum ISA: String, CaseIterable, Sendable {
        case auto, ref, avx2, avx512, neon

        var c: nk_isa {
            switch self {
            case .auto: NK_ISA_AUTO
            case .ref: NK_ISA_REF
            case .avx2: NK_ISA_AVX2
            case .avx512: NK_ISA_AVX512
            case .neon: NK_ISA_NEON
            }
        }

        /// Whether this CPU (and build) can run the family (`auto` always can).
        public var isSupported: Bool { self == .auto || nk_isa_supported(c) != 0 }

        /// The family `auto` stands for right now.
        public static var active: ISA { ISA(rawValue: String(cString: nk_isa_name(nk_isa_active()))) ?? .ref }

        /// Makes `isa` the active family for every later kernel call. Returns false (and changes
        /// nothing) when the CPU lacks it.
        @discardableResult
        public static func setActive(_ isa: ISA) -> Bool { nk_isa_set_active(isa.c) == 0 }
    }

    /// SGEMM blocking of one kernel family: register tile MR x NR, cache blocks MC, KC, NC.
    public struct GemmBlocking: Sendable, Equatable {
        public var mr, nr, mc, kc, nc: Int
    }

    /// The blocking `isa` uses (an unsupported family reports the reference kernel's).
    public static func gemmBlocking(_ isa: ISA = .auto) -> GemmBlocking {
        var out: (Int32, Int32, Int32, Int32, Int32) = (0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &out) { raw in
            _ = nk_sgemm_blocking(isa.c, raw.baseAddress!.assumingMemoryBound(to: Int32.self))
        }
        return GemmBlocking(mr: Int(out.0), nr: Int(out.1), mc: Int(out.2), kc: Int(out.3), nc: Int(out.4))
    }

    /// `isa`'s SGEMM tile and cache blocks and the cache hierarchy they were derived from, in one
    /// line (for benchmark headers).
    public static func gemmBlockingDescription(_ isa: ISA = .auto) -> String {
        String(cString: nk_sgemm_blocking_text(isa.c))
    }

    /// Products with fewer flops (2·M·N·K) than this run on one thread.
    public static var gemmParallelThreshold: Int { Int(nk_sgemm_parallel_threshold()) }

    /// C[M x N] = alpha · op(A)[M x K] · op(B)[K x N] + beta · C, row-major with leading
    /// dimensions; A is stored [K x M] when `transposeA`, B [N x K] when `transposeB`. `beta == 0`
    /// never reads C. `threads <= 0` uses `Runtime.threads`. Results do not depend on `threads`.
    public static func sgemm(
        isa: ISA = .auto, threads: Int = 0, transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>?, lda: Int, b: UnsafePointer<Float>?, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>?, ldc: Int
    ) {
        nk_sgemm_ex(isa.c, Int32(clamping: threads), transposeA ? 1 : 0, transposeB ? 1 : 0,
                    Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
    }

    /// The naive, serial triple loop with float accumulation (same arguments as `sgemm`).
    public static func sgemmNaive(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>?, lda: Int, b: UnsafePointer<Float>?, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>?, ldc: Int
    ) {
        nk_sgemm_naive(transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha,
                       a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
    }

    /// Runs `iterations` rounds of independent FMA chains in `isa`'s vectors on `threads` threads
    /// and returns the flops performed; time the call for the machine's FMA peak.
    public static func fmaPeak(isa: ISA = .auto, threads: Int, iterations: Int) -> Int {
        Int(nk_fma_peak(isa.c, Int32(clamping: threads), Int64(iterations)))
    }
}

extension Kernels {
    /// The serial reference convolution (plain loops, the tests' oracle): input [N, C, H, W],
    /// weight [K, C, KH, KW], bias [K] → [N, K, OH, OW]. For verifying fast results.
    public static func conv2dReference(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: Size2D = 1,
                                       padding: Padding2D = .zero) -> Tensor {
        var (s, out) = Tensor._convShape(input: input.shape, weight: weight.shape, stride: stride, padding: padding, op: "conv2dReference")
        let y = Tensor(uninitializedShape: [input.shape[0], weight.shape[0], out.height, out.width])
        input.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                if let bias {
                    bias.withUnsafeBufferPointer { nk_conv2d_forward_ref(&s, x.baseAddress, w.baseAddress, $0.baseAddress, y.storage.base) }
                } else {
                    nk_conv2d_forward_ref(&s, x.baseAddress, w.baseAddress, nil, y.storage.base)
                }
            }
        }
        return y
    }

    /// The serial reference max pooling (the tests' oracle): [N, C, H, W] → [N, C, OH, OW].
    public static func maxPool2dReference(_ input: Tensor, window: Window2D) -> Tensor {
        var (s, outShape) = Tensor._poolShape(input.shape, window, op: "maxPool2dReference")
        let y = Tensor(uninitializedShape: outShape)
        var argmax = [Int32](repeating: 0, count: y.count)
        input.withUnsafeBufferPointer { x in argmax.withUnsafeMutableBufferPointer { nk_maxpool2d_forward_ref(&s, x.baseAddress, y.storage.base, $0.baseAddress) } }
        return y
    }

    /// The serial reference of `Tensor.maxPool2dBackward` (zero, then add each gradient at its
    /// arg-max), for benchmarks to verify against.
    public static func maxPool2dBackwardReference(_ outputGradient: Tensor, argmax: [Int32], inputShape: [Int],
                                                  window: Window2D) -> Tensor {
        var (s, outShape) = Tensor._poolShape(inputShape, window, op: "maxPool2dBackwardReference")
        precondition(outputGradient.shape == outShape && argmax.count == outputGradient.count,
                     "Kernels.maxPool2dBackwardReference: gradient \(outputGradient.shape) and \(argmax.count) indices for an output of shape \(outShape)")
        let dx = Tensor(uninitializedShape: inputShape)
        outputGradient.withUnsafeBufferPointer { g in nk_maxpool2d_backward_ref(&s, g.baseAddress, argmax, dx.storage.base) }
        return dx
    }
}
