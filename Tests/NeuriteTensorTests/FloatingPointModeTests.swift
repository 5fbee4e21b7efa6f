import Foundation
import Testing
import CNeurite
import NeuriteTensor

/// Flush-to-zero / denormals-are-zero: on by default in the calling thread, in every OpenMP worker and
/// in threads that existed before Neurite was first used; `Runtime.flushesDenormals = false` keeps
/// IEEE subnormals.
@Suite(.serialized) struct FloatingPointModeTests {
    static let subnormal = Float.leastNormalMagnitude / 8

    #if arch(x86_64)
    @Test func subnormalsFlushInSwiftCodeAndKernels() {
        #expect(Runtime.flushesDenormals)
        let x = Tensor(shape: [32], repeating: Self.subnormal)
        #expect((x * 1).scalars.allSatisfy { $0 == 0 })
        let one = Tensor(shape: [1, 1], repeating: 1)
        let y = x.reshaped([32, 1]).matmul(one)
        #expect(y.scalars.allSatisfy { $0 == 0 })
    }

    @Test func everyWorkerOfATeamFlushes() {
        for threads in [1, 2, 3, 5] { #expect(nk_fp_team_mismatches(Int32(threads)) == 0) }
    }

    @Test func aThreadStartedBeforeFirstUseFlushesAtItsFirstCall() {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var before: Int32 = -1, after: Int32 = -1, product: Float = -1
        let thread = Thread {
            // A host thread in the IEEE default mode (a new thread inherits its creator's mode,
            // and this test's thread already flushes).
            var env = fenv_t()
            fegetenv(&env)
            env.__mxcsr &= ~0x8040
            fesetenv(&env)
            before = nk_fp_thread_flushes()
            let x = Tensor(shape: [16], repeating: Self.subnormal)
            product = (x * 1).scalars[0]
            after = nk_fp_thread_flushes()
            done.signal()
        }
        thread.start()
        done.wait()
        #expect(before == 0)
        #expect(after == 1)
        #expect(product == 0)
    }

    @Test func keepingSubnormalsIsASwitch() {
        Runtime.flushesDenormals = false
        defer { Runtime.flushesDenormals = true }
        let x = Tensor(shape: [32], repeating: Self.subnormal)
        #expect((x * 1).scalars.allSatisfy { $0 == Self.subnormal })
        let y = x.reshaped([32, 1]).matmul(Tensor(shape: [1, 1], repeating: 1))
        #expect(y.scalars.allSatisfy { $0 == Self.subnormal })
        for threads in [1, 2, 3] { #expect(nk_fp_team_mismatches(Int32(threads)) == 0) }
        // exp's polynomial is exact to one subnormal step in IEEE mode.
        let xs: [Float] = [-87.4, -100, -103, -104]
        for (x, y) in zip(xs, Tensor(xs).exp().scalars) {
            #expect(abs(Double(y) - Foundation.exp(Double(x))) <= Double(Float.leastNonzeroMagnitude), "exp(\(x))")
        }
    }
    #endif
}
