// neurite-bench train: training throughput on Fashion-MNIST per thread count (design.md §5 recipe).

import ArgumentParser
import Foundation
import Neurite

struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the mlp (784-256-128-10 ReLU) or lenet on Fashion-MNIST per thread count, with the plain peer recipe or `make run`'s.",
        discussion: """
        Recipes: plain = SGD lr 0.05, batch 64 (design.md §5, the peers' recipe); main = `make run`'s Adam lr 0.001, \
        cosine schedule over the run, dropout 0.1 after hidden activations, batch 64. Verifies that every thread count gives \
        bitwise the same weights, then reports epoch seconds, samples/s (each epoch's too, so a slowdown shows), speed-up, \
        loss and test accuracy. The thread counts take turns (--rounds): round r trains once at each count, so a change in \
        the machine's speed (a shared host's) falls on every count alike; medians are reported, and the speed-up is the \
        median of each round's own ratio.
        """
    )

    @OptionGroup var common: BenchOptions
    @Option(help: "Model: mlp (or any `neurite` model spec over 784 inputs and 10 classes).") var model: String = "mlp"
    @Option(help: "Epochs per run.") var epochs: Int = 1
    @Option(name: .long, help: "Mini-batch size (as `neurite train --batch-size`).") var batchSize: Int = 64
    /// The flag's earlier name, still accepted.
    @Option(name: .customLong("batch"), help: .hidden) var legacyBatch: Int?
    /// The mini-batch size, from either spelling.
    var batch: Int { legacyBatch ?? batchSize }
    @Option(help: "Training examples (default: all 60 000).") var limit: Int?
    @Option(help: "Micro-shards per batch run in parallel (Trainer.microShards; 1 = whole batches).") var shards: Int = 1
    @Option(help: "plain (SGD lr 0.05) or main (make run's: Adam lr 0.001, cosine, dropout 0.1).") var recipe: String = "plain"
    @Option(help: "Weight initialisation: pytorch (U(±1/√fan-in), weights and biases, as PyTorch's defaults) or default (He/Glorot, zero biases; `neurite train`'s default). The benchmark defaults to pytorch so that its accuracies line up with the peers', which train PyTorch's own initialisation.")
    var initialization: String = "pytorch"
    @Option(help: "Rounds: each trains once at every thread count, the counts in turn (medians reported).") var rounds: Int = 3
    @Flag(help: "Also time every layer's forward and backward and the step's other phases (µs per batch per thread count, and their speed-ups), and the step's waits on the kernels' team; to stderr with --json.")
    var profile = false

    func validate() throws {
        if common.repeatOption != nil || common.warmupOption != nil {
            throw ValidationError("--repeat and --warmup set the samples of the kernel benchmarks; train times whole epochs: give --rounds (each trains once at every thread count) and --epochs instead")
        }
        guard ["pytorch", "default"].contains(initialization.lowercased()) else {
            throw ValidationError("--initialization must be pytorch or default, got \(initialization)")
        }
        if legacyBatch != nil && batchSize != 64 { throw ValidationError("--batch is the old name of --batch-size: give one of them") }
        guard (1...64).contains(shards) else { throw ValidationError("--shards must be in 1...64, got \(shards)") }
        guard ["plain", "main"].contains(recipe.lowercased()) else { throw ValidationError("--recipe must be plain or main, got \(recipe)") }
        guard (1...100).contains(rounds) else { throw ValidationError("--rounds must be in 1...100, got \(rounds)") }
        guard epochs >= 1, epochs <= 1000 else { throw ValidationError("--epochs must be in 1...1000, got \(epochs)") }
        guard batch >= 1, batch <= 65_536 else { throw ValidationError("--batch-size must be in 1...65536, got \(batch)") }
    }

    /// One training run's figures.
    private struct Run {
        var rate: Double, seconds: Double, perEpoch: [Double], loss: Float, accuracy: Float
    }

    /// Trains a fresh model (seed 1) for `epochs` at `threads` threads; checks its weights against
    /// `reference` (the first run's), bit for bit. With --profile, records into `profiles[threads]`
    /// (made at the first run: every round of a thread count adds to one profile).
    private func trainOnce(threads: Int, train: Dataset, test: Dataset, profiles: inout [Int: StepProfile],
                           reference: inout [UInt32]?, referenceThreads: Int) throws -> Run {
        Runtime.threads = threads
        let main = recipe.lowercased() == "main"
        let m = try Models.make(model, inputShape: [784], imageShape: [1, 28, 28], outputs: 10, dropout: main ? 0.1 : 0, seed: 1)
        if initialization.lowercased() == "pytorch" { m.initialize(.pytorchDefault, seed: 1) }
        let optimizer: any Optimizer = main ? Adam(learningRate: 0.001) : SGD(learningRate: 0.05)
        let trainer = Trainer(model: m, loss: SoftmaxCrossEntropy(), optimizer: optimizer,
                              schedule: main ? .cosine(epochs: epochs, minimum: 1e-5) : .constant, seed: 1)
        trainer.microShards = shards
        if profile {
            if profiles[threads] == nil { profiles[threads] = StepProfile(model: m) }
            trainer.profile = profiles[threads]
        }
        let h = try trainer.fit(train, epochs: epochs, batchSize: batch)
        let weights = m.parameters.values.scalars.map(\.bitPattern)
        if let r = reference, r != weights {
            throw ValidationError("verification failed: \(threads) threads gave different weights than \(referenceThreads) (kernels must be deterministic)")
        }
        reference = weights
        let seconds = h.epochs.map(\.seconds).reduce(0, +) / Double(h.epochs.count)
        let run = Run(rate: Double(train.count) / seconds, seconds: seconds, perEpoch: h.epochs.map(\.samplesPerSecond),
                      loss: h.epochs.last!.trainLoss, accuracy: trainer.evaluate(test).accuracy ?? 0)
        return run
    }

    func run() throws {
        common.printHeader("train", settings: "rounds \(rounds), thread counts in turn" + (shards > 1 ? ", \(shards) micro-shards a batch" : ""))
        let train = try FashionMNIST.load(split: .train, limit: limit)
        let test = try FashionMNIST.load(split: .test)
        let counts = try common.threadCounts()
        var reference: [UInt32]?
        var profileOf: [Int: StepProfile] = [:]
        var runs = [[Run]](repeating: [], count: counts.count) // runs[count index][round]
        for _ in 0..<rounds {
            for (i, t) in counts.enumerated() {
                runs[i].append(try trainOnce(threads: t, train: train, test: test, profiles: &profileOf,
                                             reference: &reference, referenceThreads: counts[0]))
            }
        }
        if !common.json {
            print(pad("model", 8) + pad("threads", 9) + pad("epoch s", 10) + pad("samples/s", 12) + pad("speed-up", 10)
                  + pad("efficiency", 12) + pad("loss", 9) + pad("test acc", 10))
        }
        for (i, t) in counts.enumerated() {
            let rates = runs[i].map(\.rate)
            let rate = median(rates), seconds = median(runs[i].map(\.seconds))
            // Each round's own ratio to the first count's run of that round, then their median.
            let speedup = median(zip(runs[i], runs[0]).map { $0.rate / $1.rate })
            let last = runs[i].last!
            if common.json {
                print(Records.train(model: model, recipe: recipe, perEpoch: last.perEpoch, threads: t, batch: batch,
                                    shards: shards, samplesPerSecond: rate, epochSeconds: seconds, speedup: speedup,
                                    finalLoss: Double(last.loss), testAccuracy: Double(last.accuracy), epochs: epochs,
                                    isa: Runtime.isa, roundSamplesPerSecond: rates))
            } else {
                print(pad(model, 8) + pad("\(t)", 9) + pad(fixed(seconds, 2), 10) + pad(fixed(rate, 0), 12)
                      + pad(fixed(speedup, 2) + "×", 10) + pad(fixed(100 * speedup / Double(t), 0) + "%", 12)
                      + pad(fixed(Double(last.loss), 4), 9) + pad(fixed(Double(last.accuracy), 4), 10))
                if epochs > 1 {
                    print("  per epoch, last round (samples/s): " + last.perEpoch.map { fixed($0, 0) }.joined(separator: ", "))
                }
                if rounds > 1 {
                    print("  per round (samples/s): " + rates.map { fixed($0, 0) }.joined(separator: ", "))
                }
            }
        }
        if profile { printProfiles(counts.compactMap { t in profileOf[t].map { (t, $0) } }) }
    }

    /// Microseconds per batch of every layer's forward and backward and of the step's other
    /// phases, one column per thread count, then the speed-up of the last count over the first.
    private func printProfiles(_ profiles: [(threads: Int, profile: StepProfile)]) {
        guard let first = profiles.first?.profile else { return }
        var rows: [(String, [Double])] = []
        func perBatch(_ f: (StepProfile) -> Double) -> [Double] {
            profiles.map { 1e6 * f($0.profile) / Double(max($0.profile.steps, 1)) }
        }
        // Micro-shards' layers run side by side and are timed as one phase (StepProfile.Phase.shards).
        let sharded = profiles.contains { ($0.profile.phaseSeconds[.shards] ?? 0) > 0 }
        for (i, spec) in first.layerSpecs.enumerated() {
            // A layer fused into another's step has its time in that layer's row.
            if sharded { rows.append(("\(i) \(spec): in shards", [])); continue }
            if let host = first.forwardFusedInto[i] { rows.append(("\(i) \(spec) forward: in \(host)", [])) }
            else { rows.append(("\(i) \(spec) forward", perBatch { $0.forwardSeconds[i] })) }
            if let host = first.backwardFusedInto[i] { rows.append(("\(i) \(spec) backward: in \(host)", [])) }
            else { rows.append(("\(i) \(spec) backward", perBatch { $0.backwardSeconds[i] })) }
        }
        for phase in StepProfile.Phase.allCases where profiles.contains(where: { $0.profile.phaseSeconds[phase] != nil }) {
            rows.append((phase.rawValue, perBatch { $0.phaseSeconds[phase] ?? 0 }))
        }
        rows.append(("unaccounted", perBatch { p in
            p.stepSeconds - p.forwardSeconds.reduce(0, +) - p.backwardSeconds.reduce(0, +) - p.phaseSeconds.values.reduce(0, +)
        }))
        rows.append(("whole step", perBatch(\.stepSeconds)))
        // Where the thread running the step waited on the kernels' team (inside the rows above).
        // (No speed-up column: at 1 thread there is no team.)
        var teamRows: [(String, [Double])] = []
        if profiles.contains(where: { $0.profile.teamWaits.regions > 0 }) {
            teamRows.append(("team: regions (count)", profiles.map { Double($0.profile.teamWaits.regions) / Double(max($0.profile.steps, 1)) }))
            teamRows.append(("team: waiting at region ends", perBatch(\.teamWaits.regionEndSeconds)))
            teamRows.append(("team: joining the posted gather", perBatch(\.teamWaits.joinSeconds)))
        }
        var lines = ["", "profile, µs per batch of \(batch) (\(model), \(recipe) recipe):",
                     pad("", 34) + profiles.map { pad("\($0.threads) t", 10) }.joined() + (profiles.count > 1 ? pad("speed-up", 10) : "")]
        for (name, values) in rows {
            let speedup = profiles.count > 1 && (values.last ?? 0) > 0 ? pad(fixed(values.first! / values.last!, 2) + "×", 10) : ""
            lines.append(pad(String(name.prefix(33)), 34, left: true) + values.map { pad(fixed($0, 1), 10) }.joined() + speedup)
        }
        for (name, values) in teamRows {
            lines.append(pad(String(name.prefix(33)), 34, left: true) + values.map { pad(fixed($0, 1), 10) }.joined())
        }
        let text = lines.joined(separator: "\n") + "\n"
        if common.json { FileHandle.standardError.write(Data(text.utf8)) } else { print(text, terminator: "") }
    }
}

struct ActBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "act",
        abstract: "Element-wise activation passes over 4 M floats per thread count (GB/s counts bytes read + written).")

    @OptionGroup var common: BenchOptions
    @Option(help: "Elements per pass.") var count: Int = 4 << 20

    func run() throws {
        common.printHeader("act")
        var g = SeededGenerator(seed: 1)
        let x = Tensor(randomNormal: [count], standardDeviation: 4, using: &g)
        // Each op: name, bytes a value moves (read + written), the pass, its scalar reference.
        // relu-backward reads x twice over (as input and gradient) and scales by a keep scale; sig-bwd
        // and add read it twice too.
        let ops: [(String, Int, (Tensor) -> Tensor, (Float) -> Float)] = [
            ("relu", 8, { $0.relu() }, { max(0, $0) }),
            ("sigmoid", 8, { $0.sigmoid() }, { 1 / (1 + Foundation.exp(-$0)) }),
            ("tanh", 8, { $0.tanh() }, { Foundation.tanh($0) }),
            ("exp", 8, { $0.exp() }, { Foundation.exp($0) }),
            ("elu", 8, { $0.elu() }, { $0 > 0 ? $0 : Foundation.expm1($0) }),
            ("relu-bwd", 12, { Tensor.reluBackward(input: $0, gradient: $0, scale: 1.25) }, { $0 > 0 ? $0 * 1.25 : 0 }),
            ("leaky", 8, { $0.leakyRelu() }, { $0 > 0 ? $0 : 0.1 * $0 }),
            ("sig-bwd", 12, { Tensor.sigmoidBackward(output: $0, gradient: $0) }, { $0 * $0 * (1 - $0) }),
            ("add", 12, { $0 + $0 }, { $0 + $0 }),
            ("scale", 8, { $0 * 1.25 }, { $0 * 1.25 }),
        ]
        if !common.json { print(pad("op", 10) + pad("threads", 9) + pad("ms", 10) + pad("GB/s", 8) + "  max rel. error") }
        for (name, bytes, f, reference) in ops {
            for threads in try common.threadCounts() {
                // Each pass at the thread count named (the team splits passes of 65 536 values and more).
                let (t, worst) = Runtime.withThreads(threads) { () -> (Timing, Float) in
                    let y = f(x).scalars, xs = x.scalars
                    var worst: Float = 0
                    for i in stride(from: 0, to: count, by: 97) { worst = max(worst, abs(y[i] - reference(xs[i])) / max(abs(reference(xs[i])), 1e-3)) }
                    return (measure(warmup: common.warmup, samples: common.repetitions) { _ = f(x) }, worst)
                }
                guard worst < 1e-5 else { throw ValidationError("verification failed: \(name) error \(worst)") }
                let gbs = Double(bytes * count) / t.median / 1e9
                if common.json {
                    print(Records.act(op: name, count: count, threads: threads, time: t, gbps: gbs))
                } else {
                    print(pad(name, 10) + pad("\(threads)", 9) + pad(fixed(t.ms, 3), 10) + pad(fixed(gbs, 1), 8) + "  \(worst)")
                }
            }
        }
    }
}
