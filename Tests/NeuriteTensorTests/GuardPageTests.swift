// The kernels' "reads only inside" contracts, checked where a read past the end faults: each input
// ends exactly at a page boundary with an inaccessible page after it, and every ISA runs the
// kernels on shapes whose rows end in a partial vector. A vector kernel that loads a whole vector
// at a row's end (instead of a masked or shorter load) crashes the test process; one that writes
// past an output's end likewise. Results are also compared with the reference.

import CNeurite
import Glibc
import NeuriteTensor
import Testing
import TestSupport

/// `count` floats that end where an inaccessible page begins (mmap'd; unmapped on deinit).
private final class GuardedFloats {
    private let base: UnsafeMutableRawPointer
    private let mapped: Int
    /// The first float; pointer[count] is the first byte of the inaccessible page.
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(_ values: [Float]) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let bytes = values.count * MemoryLayout<Float>.stride
        let dataPages = max(1, (bytes + page - 1) / page)
        mapped = (dataPages + 1) * page
        guard let m = mmap(nil, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              m != MAP_FAILED, mprotect(m + dataPages * page, page, PROT_NONE) == 0 else {
            fatalError("GuardedFloats: mmap/mprotect failed") // the test machine itself is broken
        }
        base = m
        count = values.count
        pointer = (m + dataPages * page - bytes).bindMemory(to: Float.self, capacity: values.count)
        for (i, v) in values.enumerated() { pointer[i] = v }
    }

    var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
    var int32s: UnsafeMutablePointer<Int32> { UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Int32.self) }

    deinit { munmap(base, mapped) }
}

@Suite struct GuardPageTests {
    private func floats(_ n: Int, seed: UInt64) -> [Float] { seededTensor([n], seed: seed).scalars }

    /// Products whose operands each end at a guard page: A packed down its rows (transposing) and
    /// across them, B packed both ways, and the in-place variants of a narrow or short product;
    /// K = 13 and N = 19 end every row in a partial vector on every ISA.
    @Test func sgemmReadsNothingPastItsOperands() {
        let shapes: [(m: Int, n: Int, k: Int)] = [(7, 19, 13), (7, 5, 13), (3, 40, 13), (13, 19, 21)]
        for isa in KernelISAs.supported {
            for (m, n, k) in shapes {
                for transA in [false, true] {
                    for transB in [false, true] {
                        let a = GuardedFloats(floats(m * k, seed: 1)), b = GuardedFloats(floats(k * n, seed: 2))
                        let c = GuardedFloats([Float](repeating: 0, count: m * n))
                        let lda = transA ? m : k, ldb = transB ? k : n
                        nk_sgemm_ex(isa, 1, transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), 1,
                                    a.pointer, Int64(lda), b.pointer, Int64(ldb), 0, c.pointer, Int64(n))
                        var want = [Float](repeating: 0, count: m * n)
                        referenceGemm(transposeA: transA, transposeB: transB, m: m, n: n, k: k, alpha: 1,
                                      a: a.values, lda: lda, b: b.values, ldb: ldb, beta: 0, c: &want, ldc: n)
                        #expect(kernelRelativeError(c.values, want) < 1e-5,
                                "\(KernelISAs.name(isa)) \(m)x\(n)x\(k) transA \(transA) transB \(transB)")
                    }
                }
            }
        }
    }

    /// 2×2 stride-2 max pooling forward and backward on planes 22 wide (11 windows a row: a full
    /// vector of 8 and a partial one on AVX2, a partial one of 16 on AVX-512) and 10 wide (5: a
    /// partial vector alone), the input, the gradient, the arg-maxes and the input gradient each
    /// ending at a guard page.
    @Test(arguments: [[2, 3, 6, 22], [1, 2, 4, 10]])
    func maxPool2x2ReadsAndWritesNothingPastItsBuffers(shape: [Int]) {
        let window = Window2D(size: 2, stride: 2)
        let n = shape.reduce(1, *), outputs = shape[0] * shape[1] * (shape[2] / 2) * (shape[3] / 2)
        var s = poolShape(shape, window)
        for isa in KernelISAs.supported {
            let x = GuardedFloats(floats(n, seed: 3)), y = GuardedFloats([Float](repeating: 0, count: outputs))
            let arg = GuardedFloats([Float](repeating: 0, count: outputs))
            withActiveISA(isa) { nk_maxpool2d_forward(&s, 1, x.pointer, y.pointer, arg.int32s) }
            var wantY = [Float](repeating: 0, count: outputs), wantArg = [Int32](repeating: 0, count: outputs)
            nk_maxpool2d_forward_ref(&s, x.pointer, &wantY, &wantArg)
            #expect(bitwiseEqual(y.values, wantY), "\(KernelISAs.name(isa)) forward")
            #expect(Array(UnsafeBufferPointer(start: arg.int32s, count: outputs)) == wantArg, "\(KernelISAs.name(isa)) arg-max")

            let dy = GuardedFloats(floats(outputs, seed: 4)), dx = GuardedFloats([Float](repeating: 7, count: n))
            withActiveISA(isa) { nk_maxpool2d_backward(&s, 1, dy.pointer, arg.int32s, dx.pointer) }
            var wantDx = [Float](repeating: 0, count: n)
            nk_maxpool2d_backward_ref(&s, dy.pointer, wantArg, &wantDx)
            #expect(bitwiseEqual(dx.values, wantDx), "\(KernelISAs.name(isa)) backward")
        }
    }
}
