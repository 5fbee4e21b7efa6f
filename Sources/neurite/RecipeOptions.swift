// The finer training-recipe flags of `neurite train`: Adam's betas, the step schedule, warm-up,
// gradient clipping, reduce-on-plateau and what early stopping watches.

import ArgumentParser
import Neurite

struct RecipeOptions: ParsableArguments {
    @Option(name: .long, help: "Adam/AdamW β₁ (default 0.9).") var beta1: Float?
    @Option(name: .long, help: "Adam/AdamW β₂ (default 0.999).") var beta2: Float?
    @Option(name: .long, help: "--schedule step: epochs between reductions (default 5).") var stepEvery: Int?
    @Option(name: .long, help: "--schedule step: factor of each reduction (default 0.5).") var stepFactor: Float?
    @Option(name: .long, help: "Linear learning-rate warm-up over this many steps (default 0).") var warmupSteps: Int?
    @Option(name: .long, help: "Scale gradients down to this global L2 norm when larger (default: no clipping).") var clipNorm: Float?
    @Option(name: .long, help: "Halve the learning rate after this many epochs without improvement of the monitored metric.") var reduceOnPlateau: Int?
    @Option(name: .long, help: "Factor of each reduce-on-plateau reduction (default 0.5).") var plateauFactor: Float?
    @Option(name: .long, help: "What early stopping and reduce-on-plateau watch: val_loss (default), val_accuracy or train_loss.") var monitor: String?
    @Option(name: .long, help: "Smallest improvement of the monitored metric that counts (default 0).") var minDelta: Float?

    func validate() throws {
        if let b = beta1, !(b >= 0 && b < 1) { throw ValidationError("--beta1 must be in [0, 1), got \(b)") }
        if let b = beta2, !(b >= 0 && b < 1) { throw ValidationError("--beta2 must be in [0, 1), got \(b)") }
        if let e = stepEvery, e < 1 || e > 1_000_000 { throw ValidationError("--step-every must be in 1...1000000, got \(e)") }
        if let f = stepFactor, !(f > 0 && f <= 1) { throw ValidationError("--step-factor must be in (0, 1], got \(f)") }
        if let w = warmupSteps, w < 0 || w > 100_000_000 { throw ValidationError("--warmup-steps must be in 0...100000000, got \(w)") }
        if let c = clipNorm, !(c > 0 && c.isFinite) { throw ValidationError("--clip-norm must be a positive number, got \(c)") }
        if let p = reduceOnPlateau, p < 0 || p > 1_000_000 { throw ValidationError("--reduce-on-plateau must be in 0...1000000, got \(p)") }
        if let f = plateauFactor, !(f > 0 && f < 1) { throw ValidationError("--plateau-factor must be in (0, 1), got \(f)") }
        if let m = minDelta, !(m >= 0 && m.isFinite) { throw ValidationError("--min-delta must be ≥ 0, got \(m)") }
        if let m = monitor, EarlyStopping.Metric(rawValue: m.lowercased()) == nil {
            throw ValidationError("--monitor must be val_loss, val_accuracy or train_loss, got \(m)")
        }
    }

    /// Whether any flag was given (a resumed run takes them all from its checkpoint).
    var anyGiven: Bool {
        beta1 != nil || beta2 != nil || stepEvery != nil || stepFactor != nil || warmupSteps != nil || clipNorm != nil
            || reduceOnPlateau != nil || plateauFactor != nil || monitor != nil || minDelta != nil
    }

    /// The metric watched.
    var metric: EarlyStopping.Metric { monitor.flatMap { EarlyStopping.Metric(rawValue: $0.lowercased()) } ?? .validationLoss }

    /// The step schedule these flags describe.
    var stepSchedule: LearningRateSchedule { .step(every: stepEvery ?? 5, factor: stepFactor ?? 0.5) }

    /// Applies the flags to a new trainer's optimizer configuration.
    func adjust(_ c: inout OptimizerConfiguration) {
        if let b = beta1 { c.beta1 = b }
        if let b = beta2 { c.beta2 = b }
    }

    /// Applies the flags to a new trainer (early stopping with `patience`, if any).
    func apply(to trainer: Trainer, earlyStoppingPatience patience: Int?) throws {
        if let w = warmupSteps { trainer.warmupSteps = w }
        trainer.gradientClipNorm = clipNorm
        if let p = reduceOnPlateau {
            trainer.reduceOnPlateau = try ReduceOnPlateau(metric: metric, factor: plateauFactor ?? 0.5, patience: p, minDelta: minDelta ?? 0)
        }
        if let p = patience { trainer.earlyStopping = EarlyStopping(metric: metric, patience: p, minDelta: minDelta ?? 0) }
    }
}
