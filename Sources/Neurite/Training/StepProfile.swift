// Where a training step's time goes: per layer (forward, backward) and per phase of the trainer's
// step. Opt-in (`Trainer.profile`, `TrainingContext.profile`): without one a step pays a nil check
// per layer. `neurite-bench train --profile` prints it per thread count, which is how the thread
// scaling of each part is read (issue "Training throughput").

import Foundation

/// Seconds spent in each layer's forward and backward and in each phase of the trainer's step,
/// summed over the steps recorded. Not thread-safe: one context (one trainer) records into it.
public final class StepProfile {
    /// The phases of a trainer's step outside the layers.
    public enum Phase: String, CaseIterable, Sendable {
        /// Gathering the batch's rows and targets, and augmentation.
        case batch
        /// The loss and its gradient, and counting correct predictions.
        case loss
        /// Committing layer state and the optimizer step.
        case optimizer
        /// The micro-shards' forward, loss and backward, run side by side (`Trainer.microShards`
        /// above 1; the layers then record nothing of their own).
        case shards
        /// Adding the micro-shards' gradients together.
        case shardSum = "shard sum"
    }

    /// Each layer's spec (as `neurite summary` prints it), in model order.
    public let layerSpecs: [String]
    /// Seconds in each layer's training forward, summed over the recorded steps.
    public private(set) var forwardSeconds: [Double]
    /// Seconds in each layer's backward, summed over the recorded steps.
    public private(set) var backwardSeconds: [Double]
    /// Seconds in each phase, summed over the recorded steps.
    public private(set) var phaseSeconds: [Phase: Double] = [:]
    /// Seconds of whole steps (batch to optimizer step), so what no row accounts for shows.
    public private(set) var stepSeconds = 0.0
    /// Steps recorded.
    public private(set) var steps = 0
    /// The kernels' team's waits during the recorded steps (`Runtime.TeamWaits`: regions, and the
    /// time the thread running the step waited at their ends and for posted work): none at 1 thread.
    public private(set) var teamWaits = Runtime.TeamWaits()
    /// The team's counts when the current step began.
    private var teamWaitsAtStepStart = Runtime.TeamWaits()
    /// For each layer, the layer whose forward time includes its own (a ReLU that the product
    /// before it applies, see `Sequential`), else nil; such a layer records no forward time.
    public let forwardFusedInto: [Int?]
    /// For each layer, the layer whose backward time includes its own (a ReLU whose backward the
    /// next layer's input-gradient product applies), else nil; it records no backward time.
    public let backwardFusedInto: [Int?]

    /// An empty profile for `model`'s layers.
    public init(model: Sequential) {
        layerSpecs = model.layers.map(\.spec)
        forwardFusedInto = model.forwardFusedInto
        backwardFusedInto = model.backwardFusedInto
        forwardSeconds = Array(repeating: 0, count: model.layers.count)
        backwardSeconds = Array(repeating: 0, count: model.layers.count)
    }

    /// Monotonic seconds (the clock every record uses).
    @inline(__always) static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    func addForward(_ layer: Int, since start: Double) { forwardSeconds[layer] += StepProfile.now() - start }
    func addBackward(_ layer: Int, since start: Double) { backwardSeconds[layer] += StepProfile.now() - start }
    func add(_ phase: Phase, since start: Double) { phaseSeconds[phase, default: 0] += StepProfile.now() - start }
    /// Marks the start of a step and returns its time (the trainer records the team's waits while
    /// it profiles, `Runtime.recordsTeamWaits`).
    func beginStep() -> Double {
        teamWaitsAtStepStart = Runtime.teamWaits
        return StepProfile.now()
    }

    /// Records a whole step begun at `start` (a `beginStep` time).
    func addStep(since start: Double) {
        stepSeconds += StepProfile.now() - start
        steps += 1
        let w = Runtime.teamWaits.since(teamWaitsAtStepStart)
        teamWaits.regions += w.regions
        teamWaits.regionEndSeconds += w.regionEndSeconds
        teamWaits.joinSeconds += w.joinSeconds
    }
}
