import Testing
import Neurite
import TestSupport

/// Two interleaved spirals, `perClass` points each, seeded: a classic non-linear problem.
func spirals(perClass: Int, seed: UInt64) -> Dataset {
    var g = SeededGenerator(seed: seed)
    var xs: [Float] = [], labels: [Int] = []
    for c in 0..<2 {
        for i in 0..<perClass {
            let t = Float(i) / Float(perClass) * 2 * .pi
            let r = 2 * (0.2 + t / (2 * .pi))
            let angle = t + Float(c) * .pi
            xs += [r * cosf(angle) + 0.05 * g.nextNormal(), r * sinf(angle) + 0.05 * g.nextNormal()]
            labels.append(c)
        }
    }
    return Dataset(inputs: Tensor(shape: [2 * perClass, 2], scalars: xs), labels: labels)
}

@Suite struct TrainingTests {
    @Test func mlpLearnsSpirals() throws {
        let data = spirals(perClass: 200, seed: 5)
        let model = try Sequential("dense:32,tanh,dense:32,tanh,dense:2", inputShape: [2], seed: 7)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01), seed: 2)
        let history = try trainer.fit(data, epochs: 100, batchSize: 32)
        let acc = trainer.evaluate(data).accuracy!
        #expect(acc > 0.97, "spiral accuracy \(acc)")
        #expect(history.epochs.last!.trainLoss < history.epochs.first!.trainLoss)
    }

    /// A step profile counts every step, times every layer both ways (or, with micro-shards, the
    /// shards as one phase and their sum), and its parts fit inside the steps; profiling changes no
    /// weights.
    @Test(arguments: [1, 2]) func stepProfileAccountsForEveryStep(microShards: Int) throws {
        let data = spirals(perClass: 100, seed: 3)
        func train(profiled: Bool) throws -> (Sequential, StepProfile?) {
            let model = try Sequential("dense:16,relu,dense:2", inputShape: [2], seed: 4)
            let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 0.1), seed: 1)
            trainer.microShards = microShards
            let profile = profiled ? StepProfile(model: model) : nil
            trainer.profile = profile
            _ = try trainer.fit(data, epochs: 2, batchSize: 32)
            return (model, profile)
        }
        let (plain, _) = try train(profiled: false)
        let (profiled, p) = try train(profiled: true)
        let profile = try #require(p)
        #expect(plain.parameters.values.scalars == profiled.parameters.values.scalars)
        #expect(profile.steps == 2 * 7) // 200 examples in batches of 32: 7 a epoch
        #expect(profile.layerSpecs == ["dense:16", "relu", "dense:2"])
        // The ReLU runs inside the dense layers' steps (forward in 0, backward in 2): its rows stay 0.
        #expect(profile.forwardFusedInto == [nil, 0, nil] && profile.backwardFusedInto == [nil, 2, nil])
        let sharded = microShards > 1
        #expect(zip(profile.forwardSeconds, profile.forwardFusedInto).allSatisfy { $1 == nil && !sharded ? $0 > 0 : $0 == 0 })
        #expect(zip(profile.backwardSeconds, profile.backwardFusedInto).allSatisfy { $1 == nil && !sharded ? $0 > 0 : $0 == 0 })
        let phases: [StepProfile.Phase] = sharded ? [.batch, .optimizer, .shards, .shardSum] : [.batch, .loss, .optimizer]
        #expect(StepProfile.Phase.allCases.allSatisfy { phases.contains($0) == ((profile.phaseSeconds[$0] ?? 0) > 0) })
        let parts = profile.forwardSeconds.reduce(0, +) + profile.backwardSeconds.reduce(0, +)
            + profile.phaseSeconds.values.reduce(0, +)
        #expect(parts <= profile.stepSeconds, "parts \(parts) s, steps \(profile.stepSeconds) s")
        // The team's waits happen inside the steps (and inside their rows); recording stops with
        // the profiled epochs.
        let waits = profile.teamWaits.regionEndSeconds + profile.teamWaits.joinSeconds
        #expect(waits >= 0 && waits <= profile.stepSeconds, "team waits \(waits) s, steps \(profile.stepSeconds) s")
        #expect(!Runtime.recordsTeamWaits)
    }

    /// Same seed ⇒ bitwise-identical weights after training, at 1 and at 2 threads (the layer
    /// sizes are above the GEMM's parallel threshold, so 2 threads really split the work).
    @Test(.enabled(if: Runtime.openMPEnabled, "a serial build runs one thread whatever the setting"))
    func trainingIsBitwiseReproducibleAcrossThreadCounts() throws {
        var g = SeededGenerator(seed: 99)
        let x = Tensor(randomNormal: [512, 64], using: &g)
        let labels = (0..<512).map { i in Int(x[i, 0] > 0 ? 1 : 0) + (x[i, 1] > 0 ? 2 : 0) }
        let data = Dataset(inputs: x, labels: labels, classCount: 4)
        func train(threads: Int) throws -> [[Float]] {
            try Runtime.withThreads(threads) {
                let model = try Sequential("dense:256,batchnorm,relu,dropout:0.2,dense:4", inputShape: [64], seed: 1)
                let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(),
                                      optimizer: SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4), seed: 4)
                _ = try trainer.fit(data, epochs: 3, batchSize: 128)
                return [model.parameters.values.scalars] + model.buffers.map { $0.buffer.value.scalars }
            }
        }
        let one = try train(threads: 1)
        let two = try train(threads: 2)
        let again = try train(threads: 1)
        #expect(one.map { $0.map(\.bitPattern) } == two.map { $0.map(\.bitPattern) })
        #expect(one.map { $0.map(\.bitPattern) } == again.map { $0.map(\.bitPattern) })
    }

    /// Micro-shards: the weights are bitwise the same at 1, 2 and 3 threads, and close to whole
    /// batches' (the same gradient, summed in another order).
    @Test func microShardsAreThreadCountInvariant() throws {
        var g = SeededGenerator(seed: 98)
        let x = Tensor(randomNormal: [300, 20], using: &g)
        let data = Dataset(inputs: x, labels: (0..<300).map { i in x[i, 0] > 0 ? 1 : 0 }, classCount: 2)
        func train(threads: Int, shards: Int, dropout: Bool = false) throws -> [UInt32] {
            try Runtime.withThreads(threads) {
                let model = try Sequential(dropout ? "dense:32,relu,dropout:0.2,dense:2" : "dense:32,relu,dense:2", inputShape: [20], seed: 1)
                let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 0.1), seed: 4)
                trainer.microShards = shards
                _ = try trainer.fit(data, epochs: 2, batchSize: 40)
                return model.parameters.values.scalars.map(\.bitPattern)
            }
        }
        let one = try train(threads: 1, shards: 2)
        #expect(one == (try train(threads: 2, shards: 2)))
        #expect(one == (try train(threads: 3, shards: 2)))
        let d1 = try train(threads: 1, shards: 3, dropout: true)
        #expect(d1 == (try train(threads: 2, shards: 3, dropout: true)))
        let whole = try train(threads: 1, shards: 1)
        let worst = zip(one, whole).map { abs(Float(bitPattern: $0) - Float(bitPattern: $1)) }.max()!
        #expect(worst < 1e-4, "shards vs whole batches: \(worst)")
    }

    /// Clipping bounds each step, warm-up ramps the rate, a plateau halves it.
    /// Inputs loaded as 8-bit rows train from the bytes (a quarter of the gather's memory traffic)
    /// to the same bits as from the floats; subsets keep the bytes in step, changing the inputs drops
    /// them.
    @Test func byteInputsTrainToTheSameBits() throws {
        var g = SeededGenerator(seed: 41)
        let n = 300, w = 20
        let bytes = (0..<(n * w)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        let labels = (0..<n).map { i in Int(bytes[i * w]) % 3 }
        let withBytes = Dataset(inputBytes: UnitByteRows(bytes: bytes, rowCount: n, rowShape: [w]), labels: labels)
        let floatsOnly = Dataset(inputs: withBytes.inputs, labels: labels)
        #expect(withBytes.inputBytes != nil && floatsOnly.inputBytes == nil)
        #expect(withBytes.inputs.scalars == bytes.map { Float($0) / 255 })
        let picked = withBytes.subset([5, 0, 299, 5])
        #expect(picked.inputBytes?.floats.scalars.map(\.bitPattern) == picked.inputs.scalars.map(\.bitPattern))
        #expect(picked.gatheringInputs([3, 1]).scalars == withBytes.gatheringInputs([5, 0]).scalars)
        var changed = withBytes
        changed.inputs.withUnsafeMutableBufferPointer { $0[0] += 1 }
        #expect(changed.inputBytes == nil)
        for threads in [1, 2] {
            func trained(_ data: Dataset) throws -> [UInt32] {
                let model = try Sequential("dense:16,relu,dense:3", inputShape: [w], seed: 4)
                let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 0.1), seed: 1)
                try Runtime.withThreads(threads) { _ = try trainer.fit(data, epochs: 2, batchSize: 32) }
                return model.parameters.values.scalars.map(\.bitPattern)
            }
            #expect(try trained(withBytes) == trained(floatsOnly), "\(threads) threads")
        }
    }

    @Test func clippingWarmUpAndPlateau() throws {
        let data = spirals(perClass: 40, seed: 2)
        let model = try Sequential("dense:16,tanh,dense:2", inputShape: [2], seed: 1)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 1))
        trainer.gradientClipNorm = 1e-3
        trainer.warmupSteps = 4
        var before = model.parameters.values.scalars
        for step in 1...5 {
            _ = try trainer.trainEpoch(data.slice(0..<8), batchSize: 8)   // one step each
            let after = model.parameters.values.scalars
            let moved = zip(before, after).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +).squareRoot()
            // SGD moves θ by lr·‖clipped g‖ = (min(step, 4)/4)·1e-3.
            #expect(abs(moved - Double(min(step, 4)) / 4 * 1e-3) < 2e-5, "step \(step): moved \(moved)")
            before = after
        }
        var plateau = try ReduceOnPlateau(metric: .trainLoss, factor: 0.5, patience: 1)
        for loss: Float in [1, 0.9, 0.95, 0.93] {   // 2 epochs without improvement > patience 1: one halving
            plateau.observe(EpochMetrics(epoch: 1, trainLoss: loss, learningRate: 1, seconds: 1, samplesPerSecond: 1))
        }
        #expect(plateau.scale == 0.5 && plateau.best == 0.9)
        #expect(throws: ModelError.self) { try ReduceOnPlateau(factor: 1.5) }
    }

    @Test func nonFiniteLossStopsWithEpochAndBatch() throws {
        let data = spirals(perClass: 50, seed: 1)
        let model = try Sequential("dense:8,relu,dense:2", inputShape: [2], seed: 1)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 1e30), seed: 1)
        #expect(throws: TrainingError.self) { try trainer.fit(data, epochs: 5, batchSize: 10) }
    }

    /// One batch per epoch: a finite loss, then an update that overflows the weights. The epoch
    /// must fail before a checkpoint callback sees those weights.
    @Test func divergedWeightsStopTrainingBeforeTheCheckpoint() throws {
        final class Saw: TrainingCallback {
            var epochs = 0
            func trainerDidFinishEpoch(_ trainer: Trainer, metrics: EpochMetrics) throws -> TrainingAction { epochs += 1; return .continue }
        }
        // The first loss is ½·(1e6)², finite; its gradient 1e9 times the rate 1e30 overflows the weight.
        let data = Dataset(inputs: Tensor(shape: [1, 1], scalars: [1000]), targets: Tensor(shape: [1, 1], scalars: [1e6]))
        let model = try Sequential("dense:1", inputShape: [1], seed: 1)
        let trainer = Trainer(model: model, loss: MeanSquaredError(), optimizer: SGD(learningRate: 1e30))
        let saw = Saw()
        #expect { try trainer.fit(data, epochs: 3, batchSize: 16, callbacks: [saw]) } throws: { "\($0)".contains("weights became") }
        #expect(saw.epochs == 0)
    }

    @Test func badHyperparametersAndShapesAreThrownErrors() throws {
        let data = spirals(perClass: 10, seed: 1)
        let model = try Sequential("dense:2", inputShape: [3], seed: 1)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 0.1))
        #expect(throws: TrainingError.self) { try trainer.fit(data, epochs: 1, batchSize: 4) }
        let ok = try Sequential("dense:2", inputShape: [2], seed: 1)
        let t2 = Trainer(model: ok, loss: SoftmaxCrossEntropy(), optimizer: SGD(learningRate: 0.1))
        #expect(throws: TrainingError.self) { try t2.fit(data, epochs: 1, batchSize: 0) }
        #expect(throws: ShapeError.self) {
            try Sequential(inputShape: [784], layers: [Flatten(), Dense(100, 10)])
        }
    }

    /// A model's inference is safe from several threads at once (no per-batch state in layers), and
    /// gives the same bits as a single-threaded run; two training contexts on one model are
    /// independent.
    @Test func concurrentInferenceAndIndependentContexts() async throws {
        let model = try Sequential("dense:64,batchnorm,relu,dropout:0.3,dense:10", inputShape: [32], seed: 3)
        var g = SeededGenerator(seed: 4)
        let inputs = (0..<8).map { _ in Tensor(randomNormal: [16, 32], using: &g) }
        let expected = inputs.map { model($0).scalars.map(\.bitPattern) }
        let results = await withTaskGroup(of: (Int, [UInt32]).self) { group in
            for round in 0..<4 { for (i, x) in inputs.enumerated() { group.addTask { (i + 0 * round, model(x).scalars.map(\.bitPattern)) } } }
            var r: [(Int, [UInt32])] = []
            for await item in group { r.append(item) }
            return r
        }
        for (i, bits) in results { #expect(bits == expected[i]) }
        // Two contexts: a forward on the second does not disturb the first's backward.
        let a = model.makeTrainingContext(), b = model.makeTrainingContext()
        let ya = model.forward(inputs[0], context: a)
        _ = model.forward(inputs[1], context: b)
        model.backward(ya, context: a)
        let reference = model.makeTrainingContext()
        model.backward(model.forward(inputs[0], context: reference), context: reference)
        #expect(a.gradients == reference.gradients)
    }
}
import Foundation
