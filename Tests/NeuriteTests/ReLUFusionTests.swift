// Sequential runs a ReLU inside its neighbours' steps (Dense and Conv2D apply it in their forward,
// Dense — with a dropout between — and MaxPool2D its backward): the fused steps must give the separate layers' bits — forward
// output, every gradient and the input gradient — at 1 and 2 threads. (NaN and ±∞ through the
// fused kernels are checked at the kernel level: here they would make every gradient NaN.)

import Testing
@testable import Neurite
import TestSupport

@Suite struct ReLUFusionTests {
    /// Output, gradient arena and input gradient of one training step, as bit patterns.
    private func step(_ model: Sequential, _ x: Tensor, inputGradient: Bool, _ outputGradient: (Tensor) -> Tensor) -> [[UInt32]] {
        let context = model.makeTrainingContext()
        context.needsInputGradient = inputGradient
        let y = model.forward(x, context: context)
        let dx = model.backward(outputGradient(y), context: context)
        return [y.scalars, context.gradients.scalars, dx.scalars].map { $0.map(\.bitPattern) }
    }

    private func checkFusedEqualsSeparate(_ spec: String, inputShape: [Int], batch: Int, dropoutBetween: Bool) throws {
        var g = SeededGenerator(seed: 17)
        var x = Tensor(randomNormal: [batch] + inputShape, using: &g)
        // Signed zeros in a few inputs.
        x.withUnsafeMutableBufferPointer { p in
            let specials: [Float] = [-0.0, 0]
            for (k, i) in stride(from: 3, to: p.count, by: p.count / 7 + 1).enumerated() { p[i] = specials[k % specials.count] }
        }
        let model = try Sequential(spec, inputShape: inputShape, seed: 5, initializer: .heUniform)
        #expect(model.forwardThroughReLU.contains { $0 != nil }, "\(spec): nothing fused forward")
        #expect(model.backwardThroughReLU.contains { $0 != nil }, "\(spec): nothing fused backward")
        #expect(model.backwardFusedSpan.contains(2) == dropoutBetween, "\(spec): dropout between ReLU and Dense")
        let gradient: (Tensor) -> Tensor = { y in
            var r = SeededGenerator(seed: 8)
            return Tensor(randomNormal: y.shape, using: &r)
        }
        // Without the input gradient (as in training) a first convolution takes its pooling's
        // scatter into its filter gradient (see `Sequential.backward`).
        for threads in [1, 2] {
            try Runtime.withThreads(threads) {
                for inputGradient in [true, false] {
                    model.fusesReLU = true
                    let fused = step(model, x, inputGradient: inputGradient, gradient)
                    model.fusesReLU = false
                    let separate = step(model, x, inputGradient: inputGradient, gradient)
                    for (part, name) in ["output", "gradients", "input gradient"].enumerated() {
                        let f: [UInt32] = fused[part], s: [UInt32] = separate[part]
                        let first: Int? = f.count == s.count ? f.indices.first { f[$0] != s[$0] } : 0
                        #expect(first == nil, "\(spec) at \(threads) thread(s), input gradient \(inputGradient): \(name) differs at element \(first ?? -1)")
                    }
                }
                // Inference takes the fused path too.
                model.fusesReLU = true
                let inferred = model(x).scalars.map(\.bitPattern)
                model.fusesReLU = false
                #expect(inferred == model(x).scalars.map(\.bitPattern), "\(spec): inference at \(threads) thread(s) differs")
            }
        }
    }

    @Test func mlpFusedStepsEqualSeparateLayers() throws {
        try checkFusedEqualsSeparate("dense:300,relu,dense:70,relu,dropout:0.3,dense:10,relu,dense:3", inputShape: [150], batch: 64,
                                     dropoutBetween: true)
    }

    @Test func cnnFusedStepsEqualSeparateLayers() throws {
        try checkFusedEqualsSeparate("conv:6:5:pad=2,relu,maxpool:2,conv:8:3,relu,maxpool:3:stride=2,flatten,dense:20,relu,dense:4",
                                     inputShape: [2, 20, 20], batch: 9, dropoutBetween: false)
    }

    @Test func cnnWithDropoutBeforePoolingEqualsSeparateLayers() throws {
        // conv, ReLU, dropout, 2×2 max-pool: the pooling's backward takes the dropout's and the
        // ReLU's, gating and scaling the pooled gradient by y > 0 (odd sizes: a last row and
        // column no window covers).
        try checkFusedEqualsSeparate("conv:6:5:pad=2,relu,dropout:0.3,maxpool:2,conv:8:3,relu,dropout:0.2,maxpool:2,flatten,dense:4",
                                     inputShape: [2, 21, 21], batch: 9, dropoutBetween: true)
        // Overlapping windows (3×3 stride 2): a place several windows chose gets their gradients'
        // sum scaled once, as the dropout layer does; windows apart are gated and scaled pooled.
        try checkFusedEqualsSeparate("conv:6:5:pad=2,relu,dropout:0.3,maxpool:3:stride=2,conv:8:3,relu,dropout:0.4,maxpool:2,flatten,dense:4",
                                     inputShape: [2, 23, 23], batch: 9, dropoutBetween: true)
    }
}
