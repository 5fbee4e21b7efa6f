// Mini-batch gradient descent: the training loop, evaluation and prediction.

import Foundation

/// Metrics of one epoch.
public struct EpochMetrics: Codable, Sendable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Mean training loss over the epoch's batches.
    public var trainLoss: Float
    /// Fraction of training examples classified correctly during the epoch (nil for regression).
    public var trainAccuracy: Float?
    public var validationLoss: Float?
    public var validationAccuracy: Float?
    /// Learning rate used in this epoch.
    public var learningRate: Float
    /// Wall time of the epoch's training part (seconds).
    public var seconds: Double
    /// Training examples per second.
    public var samplesPerSecond: Double

    /// Metrics of epoch `epoch`.
    public init(epoch: Int, trainLoss: Float, trainAccuracy: Float? = nil, validationLoss: Float? = nil,
                validationAccuracy: Float? = nil, learningRate: Float, seconds: Double, samplesPerSecond: Double) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.validationLoss = validationLoss
        self.validationAccuracy = validationAccuracy
        self.learningRate = learningRate
        self.seconds = seconds
        self.samplesPerSecond = samplesPerSecond
    }
}

/// What `fit` returns: one entry per completed epoch.
public struct History: Codable, Sendable {
    public var epochs: [EpochMetrics] = []
    /// Whether a callback stopped training before the requested number of epochs.
    public var stoppedEarly = false
    /// Whether training was interrupted (`Trainer.requestStop()`, e.g. on SIGINT).
    public var interrupted = false
    public init() {}
}

/// What a callback asks the trainer to do after an epoch.
public enum TrainingAction: Sendable { case `continue`, stop }

/// Hooks into `fit`: called after every batch and every epoch.
public protocol TrainingCallback: AnyObject {
    /// After every batch, with its loss.
    func trainerDidFinishBatch(_ trainer: Trainer, epoch: Int, batch: Int, batches: Int, loss: Float)
    /// After every completed epoch; `.stop` ends `fit`. A thrown error (a checkpoint that cannot be
    /// written) ends `fit` with that error.
    func trainerDidFinishEpoch(_ trainer: Trainer, metrics: EpochMetrics) throws -> TrainingAction
    /// After the last epoch of `fit` (not after an interrupt).
    func trainerDidFinishTraining(_ trainer: Trainer, history: History)
}

extension TrainingCallback {
    public func trainerDidFinishBatch(_ trainer: Trainer, epoch: Int, batch: Int, batches: Int, loss: Float) {}
    public func trainerDidFinishEpoch(_ trainer: Trainer, metrics: EpochMetrics) throws -> TrainingAction { .continue }
    public func trainerDidFinishTraining(_ trainer: Trainer, history: History) {}
}

/// Training that cannot go on.
public enum TrainingError: NeuriteError, Equatable {
    /// The loss became NaN or infinite at this (1-based) epoch and batch.
    case nonFiniteLoss(epoch: Int, batch: Int, value: Float)
    /// The data does not fit the model or the loss.
    case dataMismatch(String)
    /// A hyper-parameter outside its valid range.
    case invalidHyperparameter(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(e, 0, _):
            return "the weights became NaN or infinite during epoch \(e); lower the learning rate or check the data"
        case let .nonFiniteLoss(e, b, v):
            return "the training loss became \(v) at epoch \(e), batch \(b); lower the learning rate or check the data"
        case let .dataMismatch(m): return m
        case let .invalidHyperparameter(m): return m
        }
    }
}

/// Mini-batch gradient descent on a `Sequential` model.
///
/// Each epoch shuffles the training set with the trainer's seeded generator, then for every batch
/// runs forward, the loss, backpropagation, the commit of layer state and one optimizer step. The
/// same seed gives bitwise the same weights whatever the thread count (every kernel is
/// deterministic). Everything a checkpoint needs to resume exactly is held here.
public final class Trainer {
    /// The model trained.
    public let model: Sequential
    /// The loss minimised.
    public var loss: any Loss
    /// The optimizer stepping the model's parameter arena.
    public let optimizer: any Optimizer
    /// Learning-rate schedule over epochs, relative to `baseLearningRate`.
    public var schedule: LearningRateSchedule
    /// The optimizer's learning rate at epoch 0.
    public let baseLearningRate: Float
    /// The seed of initialisation, shuffling and splits (saved in checkpoints).
    public let seed: UInt64
    /// Shuffling order comes from here (saved in checkpoints).
    public var generator: SeededGenerator
    /// Epochs completed so far (a resumed trainer continues from here).
    public var completedEpochs = 0
    /// Where an interrupted epoch stopped: the shuffling generator's state at the epoch's start and
    /// the number of batches already done. The next epoch resumes exactly there (saved in checkpoints).
    public var epochPosition: (generatorAtStart: SeededGenerator, batchesDone: Int)?
    /// Early stopping, run after every epoch of `fit` and saved in checkpoints.
    public var earlyStopping: EarlyStopping?
    /// Where the data came from and how it was prepared (saved in checkpoints).
    public var data = DataDescription()
    /// Random transforms of each training batch (saved in checkpoints; none at evaluation).
    public var augmentation: Augmentation?
    /// Mini-batch size of the last `fit` (saved in checkpoints, so a resumed run uses it again).
    public var batchSize = 64
    /// Epochs the last `fit` was asked to reach in total (saved in checkpoints).
    public var targetEpochs = 0
    /// The working memory of this trainer's steps.
    public let context: TrainingContext
    /// Train data-parallel over the `Distributed` ranks (when there are several).
    public var dataParallel = true
    /// Largest gradient bucket summed over ranks at once (a layer larger than this is a bucket of
    /// its own). Small buckets start communicating earlier; each costs one message's latency.
    public var bucketBytes = 256 << 10
    /// Gradients whose global L2 norm exceeds this are scaled down to it before each step (nil:
    /// no clipping). Saved in checkpoints.
    public var gradientClipNorm: Float?
    /// The learning rate rises linearly from 1/warmupSteps of the scheduled rate to all of it over
    /// the first `warmupSteps` steps (0: no warm-up). Saved in checkpoints.
    public var warmupSteps = 0
    /// Lowers the learning rate when a metric stops improving (saved in checkpoints).
    public var reduceOnPlateau: ReduceOnPlateau?
    /// Each training batch is cut into this many contiguous micro-shards whose forward and backward
    /// passes run in parallel on separate threads (each shard's kernels single-threaded, in its own
    /// `TrainingContext`); their gradients, weighted by shard size, are summed in shard order. The
    /// count is part of the recipe, not of the machine: results are bitwise the same for every
    /// thread count (with 1 thread the shards run one after another). 1 (the default) runs each
    /// batch whole. Models with state buffers (batch normalisation) always run whole batches, since
    /// shards would normalise with their own statistics.
    public var microShards = 1
    /// When set, each step adds its layers' and phases' times to it (whole-batch steps; see
    /// `StepProfile`).
    public var profile: StepProfile? {
        get { context.profile }
        set { context.profile = newValue }
    }
    private var shardContexts: [TrainingContext] = []
    /// Verify after every epoch that all ranks hold bitwise the same parameters.
    public var checksReplicasEveryEpoch = false
    /// Data-parallel communication so far: steps, seconds spent waiting for gradient sums after
    /// backward (the part not hidden behind it), and the seconds one blocking sum of the whole
    /// gradient arena takes (measured before the first epoch).
    public private(set) var communication = (steps: 0, exposedSeconds: 0.0, fullSumSeconds: 0.0)
    private let stopFlag = StopFlag()

    /// A trainer of `model` (whose `seed` also seeds the shuffling) with `loss` and `optimizer`.
    public init(model: Sequential, loss: any Loss, optimizer: any Optimizer, schedule: LearningRateSchedule = .constant,
                seed: UInt64? = nil) {
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.schedule = schedule
        self.baseLearningRate = optimizer.learningRate
        self.seed = seed ?? model.seed
        self.generator = SeededGenerator(seed: self.seed)
        context = model.makeTrainingContext()
    }

    /// Asks a running `fit` to stop after the current batch (safe from a signal handler's thread).
    public func requestStop() { stopFlag.set() }

    /// Checks that `data` fits the model and the loss; throws a message naming both shapes otherwise.
    public func validate(_ data: Dataset, role: String) throws {
        let example = Array(data.inputs.shape.dropFirst())
        guard example == model.inputShape || example.reduce(1, *) == model.inputShape.reduce(1, *) else {
            throw TrainingError.dataMismatch("the \(role) examples have shape \(example) but the model's input is \(model.inputShape)")
        }
        try loss.check(model)
        let out = model.outputShape.reduce(1, *)
        if data.isClassification {
            if loss is SoftmaxCrossEntropy, data.classCount > out {
                throw TrainingError.dataMismatch("the \(role) data has \(data.classCount) classes but the model has \(out) outputs")
            }
            if loss is MeanSquaredError {
                throw TrainingError.dataMismatch("mean squared error needs regression targets, the \(role) data has class labels")
            }
        } else if let t = data.targets, t.rowWidth != out {
            throw TrainingError.dataMismatch("the \(role) targets have \(t.rowWidth) values per example but the model has \(out) outputs")
        }
    }

    /// Trains for `epochs` more epochs (an interrupted epoch counts as one and is finished first) and
    /// returns their metrics.
    public func fit(_ train: Dataset, validation: Dataset? = nil, epochs: Int, batchSize: Int,
                    callbacks: [any TrainingCallback] = []) throws -> History {
        guard epochs >= 0 else { throw TrainingError.invalidHyperparameter("epochs must be ≥ 0, got \(epochs)") }
        guard batchSize > 0 else { throw TrainingError.invalidHyperparameter("batch size must be > 0, got \(batchSize)") }
        guard train.count > 0 else { throw TrainingError.dataMismatch("the training data has no examples") }
        try validate(train, role: "training")
        if let v = validation { try validate(v, role: "validation") }
        if earlyStopping != nil && validation == nil && earlyStopping?.metric != .trainLoss {
            throw TrainingError.invalidHyperparameter("early stopping on a validation metric needs validation data")
        }
        self.batchSize = batchSize
        targetEpochs = completedEpochs + epochs
        var history = History()
        stopFlag.clear()
        let all: [any TrainingCallback] = (earlyStopping.map { [$0] } ?? []) + callbacks
        try checkReplicas()
        if isDistributed && communication.fullSumSeconds == 0 {
            // The cost of one unhidden sum of the whole gradient arena (scratch copy, 5 runs, best).
            let scratch = model.parameters.makeGradientArena()
            var best = Double.infinity
            for _ in 0..<5 {
                let t0 = Date()
                try Distributed.sum(scratch)
                best = min(best, Date().timeIntervalSince(t0))
            }
            communication.fullSumSeconds = best
        }
        for _ in 0..<epochs {
            let metrics = try trainEpoch(train, validation: validation, batchSize: batchSize, callbacks: all)
            // The last update may have diverged after the last finite loss: check the weights before
            // any callback (the checkpoint writer) sees them, so "the last good checkpoint" is good.
            guard model.parameters.storage.withUnsafeBufferPointer({ $0.allSatisfy { $0.isFinite } }) else {
                throw TrainingError.nonFiniteLoss(epoch: metrics.epoch, batch: 0, value: .nan)
            }
            reduceOnPlateau?.observe(metrics)
            if checksReplicasEveryEpoch { try checkReplicas() }
            history.epochs.append(metrics)
            if stopFlag.isSet { history.interrupted = true; break }
            var stop = false
            for c in all where try c.trainerDidFinishEpoch(self, metrics: metrics) == .stop { stop = true }
            if stop { history.stoppedEarly = true; break }
        }
        if !history.interrupted { for c in all { c.trainerDidFinishTraining(self, history: history) } }
        return history
    }

    /// One epoch over `train` (shuffled), then validation metrics.
    ///
    /// Data-parallel (`dataParallel` with several `Distributed` ranks, PyTorch DDP's semantics with a
    /// `DistributedSampler`): every rank shuffles identically, each global batch of ranks ×
    /// `batchSize` examples is cut into contiguous per-rank shards (the last, partial one as evenly
    /// as possible), each rank's loss gradient is weighted by its share of the global batch, and the
    /// gradient arena is summed over ranks in buckets started as soon as backward has finished their
    /// layers, so the sums overlap the rest of backward. Every rank then takes the same optimizer
    /// step; batch-norm buffers follow rank 0's. Metrics, a non-finite loss and a stop request are
    /// reduced every step, so all ranks agree on them at the same batch.
    public func trainEpoch(_ train: Dataset, validation: Dataset? = nil, batchSize: Int,
                           callbacks: [any TrainingCallback] = []) throws -> EpochMetrics {
        let epoch = completedEpochs + 1
        let scheduled = schedule.rate(base: baseLearningRate, epoch: completedEpochs) * (reduceOnPlateau?.scale ?? 1)
        optimizer.learningRate = scheduled
        var firstBatch = 0
        if let position = epochPosition {
            generator = position.generatorAtStart
            firstBatch = position.batchesDone
            epochPosition = nil
        }
        let ranks = isDistributed ? Distributed.size : 1, rank = isDistributed ? Distributed.rank : 0
        let generatorAtStart = generator
        let order = generator.permutation(train.count)
        let globalBatch = batchSize * ranks
        let batches = (train.count + globalBatch - 1) / globalBatch
        var lossSum: Double = 0, correct = 0, seen = 0
        let start = Date()
        var interrupted = false
        let buckets = ranks > 1 ? gradientBuckets() : []
        let profile = context.profile
        // A profiled epoch counts the team's waits (two clock reads a region), then stops.
        let recordedTeamWaits = Runtime.recordsTeamWaits
        if profile != nil { Runtime.recordsTeamWaits = true }
        defer { Runtime.recordsTeamWaits = recordedTeamWaits }
        /// This rank's examples of batch b.
        func batchIndices(_ b: Int) -> ArraySlice<Int> {
            let lo = b * globalBatch, hi = min(lo + globalBatch, train.count)
            let share = (hi - lo + ranks - 1) / ranks
            return order[min(lo + rank * share, hi)..<min(lo + (rank + 1) * share, hi)]
        }
        // The whole-batch path gathers batch b + 1 on the team during batch b's last layer and
        // loss, which run on one thread (released, and so finished, on any way out of the loop).
        var nextBatch: PostedRows?
        let prefetchFrom = model.layers.count - 2
        for b in firstBatch..<max(firstBatch, batches) {
            let stepStart = profile?.beginStep() ?? 0
            let lo = b * globalBatch, hi = min(lo + globalBatch, train.count)
            let idx = batchIndices(b)
            // At 1 thread the next batch's gather runs inline near the end of this step, waiting on
            // memory row by row: its rows, requested now, are in cache by then (MLP, Zen 4,
            // `--profile`, interleaved: 33-37 -> 21-27 µs a step; in a noisier set 27-43 -> 26-36).
            // With more threads it is posted to another thread, where the waits overlap the step's
            // serial end, and the hints would only add 6-9 µs here.
            if b + 1 < batches, Runtime.threads == 1 { train.prefetchInputs(batchIndices(b + 1)) }
            var value: Float = 0, right = 0
            context.step = optimizer.stepCount
            if !idx.isEmpty {
                var x: Tensor
                if let posted = nextBatch, posted.indices.elementsEqual(idx) { x = posted.finish() }
                else { x = train.gatheringInputs(idx) }
                nextBatch = nil
                // Per-step seed: a resumed run transforms the same examples the same way.
                augmentation?.apply(to: &x, seed: mixSeeds(seed, 0xA06, UInt64(optimizer.stepCount), UInt64(rank)))
                let t = train.target(idx)
                profile?.add(.batch, since: stepStart)
                if ranks == 1, microShards > 1, model.buffers.isEmpty, idx.count >= microShards {
                    (value, right) = try shardedStep(x, train: train, indices: idx)
                    guard value.isFinite else { throw TrainingError.nonFiniteLoss(epoch: epoch, batch: b + 1, value: value) }
                    let optimizerStart = profile == nil ? 0 : StepProfile.now()
                    model.commit(context)
                    prepareStep(scheduled)
                    optimizer.step(model.parameters, gradients: context.gradients)
                    profile?.add(.optimizer, since: optimizerStart)
                    profile?.addStep(since: stepStart)
                    lossSum += Double(value) * Double(idx.count)
                    seen += idx.count
                    correct += right
                    for c in callbacks { c.trainerDidFinishBatch(self, epoch: epoch, batch: b + 1, batches: batches, loss: value) }
                    if stopFlag.isSet && b + 1 < batches {
                        epochPosition = (generatorAtStart, b + 1)
                        interrupted = true
                        break
                    }
                    continue
                }
                let prefetch = ranks == 1 && b + 1 < batches
                let y = model.forward(x, context: context, beforeLayer: !prefetch ? nil : { i in
                    guard i >= prefetchFrom, nextBatch == nil else { return }
                    let postStart = profile == nil ? 0 : StepProfile.now()
                    nextBatch = train.postGatheringInputs(Array(batchIndices(b + 1)))
                    profile?.add(.batch, since: postStart) // the whole gather at 1 thread, the posting at 2
                })
                var grad: Tensor
                let lossStart = profile == nil ? 0 : StepProfile.now()
                (value, grad) = loss.evaluate(output: y, target: t)
                if train.isClassification { right = Trainer.countCorrect(y, t) }
                profile?.add(.loss, since: lossStart)
                if ranks > 1 { grad = grad * (Float(idx.count) / Float(hi - lo)) }
                if ranks == 1 {
                    guard value.isFinite else { throw TrainingError.nonFiniteLoss(epoch: epoch, batch: b + 1, value: value) }
                    model.backward(grad, context: context)
                } else {
                    var next = 0
                    var failure: (any Error)?
                    model.backward(grad, context: context) { layer in
                        while next < buckets.count, buckets[next].readyAfterLayer == layer {
                            do { try Distributed.beginSum(self.context.gradients, range: buckets[next].range) } catch { failure = error }
                            next += 1
                        }
                    }
                    if let f = failure { throw f }
                }
            } else {
                context.zeroGradients()
            }
            var batchLoss = value, batchCount = idx.count, stop = stopFlag.isSet
            if ranks > 1 {
                if idx.isEmpty { for bucket in buckets { try Distributed.beginSum(context.gradients, range: bucket.range) } }
                let waitStart = Date()
                try Distributed.waitAll()
                communication.steps += 1
                communication.exposedSeconds += Date().timeIntervalSince(waitStart)
                let totals = try Distributed.sum([Double(value) * Double(idx.count), Double(right), Double(idx.count),
                                                  value.isFinite ? 0 : 1, stop ? 1 : 0])
                guard totals[3] == 0 else { throw TrainingError.nonFiniteLoss(epoch: epoch, batch: b + 1, value: .nan) }
                batchCount = Int(totals[2])
                batchLoss = Float(totals[0] / max(totals[2], 1))
                right = Int(totals[1])
                stop = totals[4] > 0
                if stop { stopFlag.set() }
            }
            let optimizerStart = profile == nil ? 0 : StepProfile.now()
            model.commit(context)
            if ranks > 1 { for (_, buffer) in model.buffers { try Distributed.broadcast(buffer.value) } }
            prepareStep(scheduled)
            optimizer.step(model.parameters, gradients: context.gradients)
            profile?.add(.optimizer, since: optimizerStart)
            profile?.addStep(since: stepStart)
            lossSum += Double(batchLoss) * Double(batchCount)
            seen += batchCount
            correct += right
            for c in callbacks { c.trainerDidFinishBatch(self, epoch: epoch, batch: b + 1, batches: batches, loss: batchLoss) }
            if stop && b + 1 < batches {
                epochPosition = (generatorAtStart, b + 1)
                interrupted = true
                break
            }
        }
        let seconds = Date().timeIntervalSince(start)
        if !interrupted { completedEpochs += 1 }
        var m = EpochMetrics(epoch: epoch, trainLoss: Float(lossSum / Double(max(seen, 1))),
                             trainAccuracy: train.isClassification ? Float(correct) / Float(max(seen, 1)) : nil,
                             learningRate: optimizer.learningRate, seconds: seconds,
                             samplesPerSecond: Double(seen) / max(seconds, 1e-9))
        if let v = validation {
            let e = evaluate(v)
            m.validationLoss = e.loss
            m.validationAccuracy = e.accuracy
        }
        return m
    }

    /// Warm-up and gradient clipping, just before an optimizer step.
    private func prepareStep(_ scheduled: Float) {
        if warmupSteps > 0 {
            optimizer.learningRate = scheduled * Float(min(optimizer.stepCount + 1, warmupSteps)) / Float(warmupSteps)
        }
        guard let limit = gradientClipNorm else { return }
        var g = context.gradients.sharedView(offset: 0, shape: context.gradients.shape)
        let norm = g.withUnsafeBufferPointer { p -> Double in
            var s = 0.0
            for x in p { s += Double(x) * Double(x) }
            return s.squareRoot()
        }
        guard norm > Double(limit) else { return }
        let k = Float(Double(limit) / norm)
        g.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= k } }
    }

    /// One step's forward and backward on `microShards` shards of the batch `x` (examples
    /// `indices` of `train`) in parallel; leaves the weighted gradient sum in `context` and returns
    /// the batch's mean loss and correct count.
    private func shardedStep(_ x: Tensor, train: Dataset, indices: ArraySlice<Int>) throws -> (Float, Int) {
        let shards = microShards, n = indices.count
        while shardContexts.count < shards - 1 { shardContexts.append(model.makeTrainingContext()) }
        let contexts = [context] + shardContexts.prefix(shards - 1)
        var values = [Float](repeating: 0, count: shards), rights = [Int](repeating: 0, count: shards)
        let start = indices.startIndex
        // The shards run side by side: the profile records them as one phase, not per layer.
        let profile = context.profile
        context.profile = nil
        defer { context.profile = profile }
        let shardsStart = profile == nil ? 0 : StepProfile.now()
        values.withUnsafeMutableBufferPointer { vp in
            rights.withUnsafeMutableBufferPointer { rp in
                nonisolated(unsafe) let (vs, rs) = (vp, rp)
                nonisolated(unsafe) let ctxs = contexts
                let (model, loss, step) = (self.model, self.loss, optimizer.stepCount)
                // The shards are the items of one region of the kernels' team (each thread takes its
                // own first, then any left): a shard writes only its own context and its own slot of
                // the results, and its kernels run on its thread alone.
                Runtime.concurrentItems(shards) { s in
                    let lo = s * n / shards, hi = (s + 1) * n / shards
                    let c = ctxs[s]
                    c.step = step
                    c.stream = UInt64(s)
                    let t = train.target(indices[(start + lo)..<(start + hi)])
                    let y = model.forward(x.rows(lo..<hi), context: c)
                    let (v, g) = loss.evaluate(output: y, target: t)
                    vs[s] = v
                    rs[s] = train.isClassification ? Trainer.countCorrect(y, t) : 0
                    model.backward(g * (Float(hi - lo) / Float(n)), context: c)
                }
            }
        }
        profile?.add(.shards, since: shardsStart)
        let sumStart = profile == nil ? 0 : StepProfile.now()
        defer { profile?.add(.shardSum, since: sumStart) }
        // ∇ = Σ_s (n_s / n) ∇_s, added in shard order (the same sum whatever ran where), over
        // ranges of the arena split across the threads (whole 16-value vectors: an element's sum
        // does not depend on the split).
        var total = context.gradients.sharedView(offset: 0, shape: context.gradients.shape)
        let parts = contexts.dropFirst().map { $0.gradients }
        total.withUnsafeMutableBufferPointer { dst in
            nonisolated(unsafe) let d = dst.baseAddress!
            SIMDMath.inRanges(count: dst.count) { begin, end in
                for g in parts {
                    g.withUnsafeBufferPointer { src in
                        let sp = src.baseAddress!
                        var i = begin
                        while i + 16 <= end {
                            let sum = UnsafeRawPointer(d + i).loadUnaligned(as: SIMD16<Float>.self) + UnsafeRawPointer(sp + i).loadUnaligned(as: SIMD16<Float>.self)
                            UnsafeMutableRawPointer(d + i).storeBytes(of: sum, as: SIMD16<Float>.self)
                            i += 16
                        }
                        while i < end { d[i] += sp[i]; i += 1 }
                    }
                }
            }
        }
        var mean: Float = 0
        for s in 0..<shards { mean += values[s] * (Float((s + 1) * n / shards - s * n / shards) / Float(n)) }
        return (mean, rights.reduce(0, +))
    }

    /// Whether steps are data-parallel over several ranks.
    public var isDistributed: Bool { dataParallel && Distributed.size > 1 }

    /// Contiguous ranges of the gradient arena summed together, in the order backward completes
    /// them (last layers first), each at most `bucketBytes` unless one layer alone is larger, with
    /// the index of the layer after whose backward the range is complete.
    func gradientBuckets() -> [(range: Range<Int>, readyAfterLayer: Int)] {
        var buckets: [(range: Range<Int>, readyAfterLayer: Int)] = []
        var upper = model.parameters.count, lower = upper
        for (i, layer) in model.layers.enumerated().reversed() {
            guard let first = layer.parameters.first else { continue }
            lower = first.offset
            if (upper - lower) * 4 >= bucketBytes {
                buckets.append((lower..<upper, i))
                upper = lower
            }
        }
        if upper > 0 { buckets.append((0..<upper, 0)) }
        return buckets
    }

    /// Loss and (for classification) accuracy of the model on `data` with the trainer's loss. When
    /// data-parallel, each rank evaluates its shard and the sums are reduced (`predictions` then
    /// holds this rank's shard only).
    public func evaluate(_ data: Dataset, batchSize: Int = 500) -> Evaluation {
        guard isDistributed else { return model.evaluate(data, loss: loss, batchSize: batchSize) }
        let ranks = Distributed.size, rank = Distributed.rank
        let lo = data.count * rank / ranks, hi = data.count * (rank + 1) / ranks
        let shard = model.evaluate(data.slice(lo..<hi), loss: loss, batchSize: batchSize)
        let n = Double(hi - lo)
        let right = Double(shard.predictions.enumerated().filter { data.isClassification && $0.element == data.labels[lo + $0.offset] }.count)
        do {
            let t = try Distributed.sum([Double(shard.loss) * n, right, n])
            return Evaluation(loss: Float(t[0] / max(t[2], 1)), accuracy: data.isClassification ? Float(t[1] / max(t[2], 1)) : nil,
                              predictions: shard.predictions)
        } catch {
            FileHandle.standardError.write(Data("rank \(rank): \(error); stopping every rank\n".utf8))
            Distributed.abort(code: 3)
        }
    }

    /// Throws unless every rank holds bitwise the same parameters (compares each 16-bit piece of the
    /// arena's checksum: all ranks agree exactly when N·Σc² = (Σc)² for every piece).
    public func checkReplicas() throws {
        guard isDistributed else { return }
        let h = model.parameters.checksum
        let pieces = (0..<4).map { Double((h >> (16 * UInt64($0))) & 0xFFFF) }
        let t = try Distributed.sum(pieces + pieces.map { $0 * $0 })
        let n = Double(Distributed.size)
        for i in 0..<4 where t[4 + i] * n != t[i] * t[i] {
            throw TrainingError.dataMismatch("the \(Distributed.size) ranks hold different parameters (checksum of rank \(Distributed.rank): \(String(h, radix: 16))); start every rank with the same seed and checkpoint")
        }
    }

    static func countCorrect(_ y: Tensor, _ t: LossTarget) -> Int {
        guard case let .classes(labels) = t else { return 0 }
        return zip(Sequential.classDecisions(y), labels).filter { $0 == $1 }.count
    }
}

/// A flag set from another thread (a signal handler) and read by the training loop.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    func clear() { lock.lock(); value = false; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
