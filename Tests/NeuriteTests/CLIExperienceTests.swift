import Testing
import Foundation
import Neurite

/// Runs the `neurite` binary built beside the test bundle.
func runNeurite(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
    try CommandLineTests().run(args)
}

@Suite struct SuggestionTests {
    @Test func editDistanceIsAMetricThatCountsASwapOnce() {
        let words = ["", "train", "trian", "rtain", "evaluate", "lenet", "lenett", "mlp", "summary"]
        for a in words {
            #expect(Suggestion.editDistance(a, a) == 0)
            #expect(Suggestion.editDistance(a, "") == a.count)
            for b in words {
                #expect(Suggestion.editDistance(a, b) == Suggestion.editDistance(b, a))
                if a != b { #expect(Suggestion.editDistance(a, b) > 0) }
                #expect(Suggestion.editDistance(a, b) <= max(a.count, b.count))
            }
        }
        #expect(Suggestion.editDistance("trian", "train") == 1)
        #expect(Suggestion.editDistance("lenett", "lenet") == 1)
        #expect(Suggestion.editDistance("kitten", "sitting") == 3)
    }

    @Test func closestSuggestsOnlyPlausibleTypos() {
        let commands = ["train", "evaluate", "predict", "summary"]
        #expect(Suggestion.closest(to: "trian", among: commands) == "train")
        #expect(Suggestion.closest(to: "Train", among: commands) == "train")
        #expect(Suggestion.closest(to: "evalute", among: commands) == "evaluate")
        #expect(Suggestion.closest(to: "xyz", among: commands) == nil)
        #expect(Suggestion.closest(to: "lenett", among: Models.all.map(\.name)) == "lenet")
    }
}

@Suite struct CLIExperienceTests {
    @Test func aMistypedSubcommandGetsASuggestionAndExitStatus64() throws {
        let r = try runNeurite(["trian", "--model", "mlp"])
        #expect(r.status == 64)
        #expect(r.err.contains("unknown subcommand 'trian'; did you mean 'train'?"), "\(r.err)")
        let far = try runNeurite(["frobnicate"])
        #expect(far.status == 64)
        #expect(far.err.contains("the subcommands are train, evaluate"), "\(far.err)")
        // Options and real subcommands pass through untouched.
        #expect(try runNeurite(["--version"]).status == 0)
        #expect(try runNeurite(["help", "train"]).status == 0)
    }

    @Test func aMistypedModelNameGetsASuggestion() throws {
        let r = try runNeurite(["check-gradients", "--model", "lenett"])
        #expect(r.status == 1)
        #expect(r.err.contains("--model lenett") && r.err.contains("did you mean 'lenet'?"), "\(r.err)")
    }

    @Test func checkGradientsPassesOnEveryLayerOfAConvNetAndFailsBelowTheTolerance() throws {
        let model = "conv:3:3:pad=1,batchnorm,relu,maxpool:2,flatten,dense:8,tanh,dropout:0.3,dense:4"
        let r = try runNeurite(["check-gradients", "--model", model, "--input-shape", "1,6,6", "--seed", "3"])
        #expect(r.status == 0, "\(r.out)\(r.err)")
        for name in ["0.weight", "0.bias", "0.input", "1.weight", "3.input", "5.weight", "8.bias"] {
            #expect(r.out.contains("\n\(name) "), "no line for \(name) in \(r.out)")
        }
        #expect(r.out.contains("dropout masks held fixed"))
        #expect(r.out.contains("PASS"))
        // Float32 finite differences are never exact: a tolerance of 1e-12 must fail, exit status 1.
        let strict = try runNeurite(["check-gradients", "--model", "dense:3", "--input-shape", "4", "--tolerance", "1e-12"])
        #expect(strict.status == 1)
        #expect(strict.out.contains("FAIL"), "\(strict.out)")
        let whole = try runNeurite(["check-gradients", "--model", "dense:5,tanh,dense:2", "--input-shape", "3", "--whole-model"])
        #expect(whole.status == 0 && whole.out.contains("\n2.weight "), "\(whole.out)\(whole.err)")
    }

    @Test func checkGradientsRejectsBadValuesNamingTheFlag() throws {
        for (args, expected) in [(["--batch-size", "1"], "--batch-size must be in 2...64, got 1"),
                                 (["--tolerance", "0"], "--tolerance must be in (0, 1], got 0"),
                                 (["--samples", "-3"], "--samples"),
                                 (["--input-shape", "1,x"], "--input-shape must be sizes like 784 or 1,28,28")] {
            let r = try runNeurite(["check-gradients", "--model", "dense:3", "--input-shape", "4"] + args)
            #expect(r.status != 0 && r.err.contains(expected), "\(args): \(r.err)")
        }
    }
}

@Suite struct TrainingCurvesTests {
    static func history(_ losses: [Float], validation: [Float]? = nil, accuracy: Bool = true) -> History {
        var h = History()
        for (i, l) in losses.enumerated() {
            h.epochs.append(EpochMetrics(epoch: i + 1, trainLoss: l, trainAccuracy: accuracy ? 1 - l / 2 : nil,
                                         validationLoss: validation?[i], learningRate: 0.1, seconds: 1, samplesPerSecond: 1))
        }
        return h
    }

    /// Laws of the axis: ticks are 1, 2 or 5 × 10^k apart, multiples of the step, enclose the data,
    /// number at most targetTicks + 2, and their labels show each tick exactly and differently.
    @Test func ticksAreRoundAndEncloseTheData() {
        var g = SeededGenerator(seed: 5)
        var cases: [(Double, Double)] = [(0.396, 0.531), (0, 1), (0.2817, 2.3026), (1e-5, 3e-5), (-3, 7), (120, 120), (0, 0), (1, 10_000)]
        for _ in 0..<200 {
            let a = Double(g.next() % 100_000) / 1000 - 50, scale = pow(10, Double(g.next() % 8) - 4)
            cases.append((a * scale, (a + Double(g.next() % 1000) / 10) * scale))
        }
        for (lo, hi) in cases {
            let axis = TrainingCurves.niceAxis(lo, hi)
            let mantissa = axis.step / pow(10, floor(log10(axis.step) + 1e-9))
            #expect([1, 2, 5].contains { abs(mantissa - $0) < 1e-6 }, "step \(axis.step) for \(lo)...\(hi)")
            #expect(axis.lower <= lo + 1e-12 && axis.upper >= hi - 1e-12, "\(axis) for \(lo)...\(hi)")
            let ticks = axis.ticks
            #expect(ticks.count >= 2 && ticks.count <= 7, "\(ticks.count) ticks for \(lo)...\(hi)")
            for t in ticks { #expect(abs(t / axis.step - (t / axis.step).rounded()) < 1e-6) }
            let labels = ticks.map(axis.label)
            #expect(Set(labels).count == labels.count, "\(labels)")
            #expect(labels.allSatisfy { $0.count <= 8 }, "\(labels)")
        }
        let a = TrainingCurves.niceAxis(0.396, 0.531)
        #expect(a.ticks.map(a.label) == ["0.38", "0.40", "0.42", "0.44", "0.46", "0.48", "0.50", "0.52", "0.54"]
                || a.ticks.map(a.label) == ["0.35", "0.40", "0.45", "0.50", "0.55"], "\(a.ticks.map(a.label))")
        let epochs = TrainingCurves.niceAxis(1, 3, targetTicks: 6, integer: true)
        #expect(epochs.ticks == [1, 2, 3])
    }

    @Test func aPanelWithoutDataIsLeftOutAndTheWidthFollows() {
        let classification = Self.history([2.3, 1.1, 0.7], validation: [2.0, 0.9, 1.0])
        #expect(TrainingCurves.chartNames(classification) == ["Loss", "Accuracy"])
        #expect(TrainingCurves.svg(classification).contains("width=\"840\""))
        let regression = Self.history([30, 20, 25], accuracy: false)
        #expect(TrainingCurves.chartNames(regression) == ["Loss"])
        let svg = TrainingCurves.svg(regression)
        #expect(svg.contains("width=\"420\"") && !svg.contains(">Accuracy<"))
    }

    @Test func theBestEpochIsMarkedAndOneEpochIsAPoint() {
        // Lowest validation loss at epoch 2, though the training loss is lowest at epoch 3.
        let h = Self.history([2.3, 1.1, 0.7], validation: [2.0, 0.9, 1.0])
        #expect(TrainingCurves.bestEpoch(h) == 2)
        #expect(TrainingCurves.svg(h).contains("best: epoch 2"))
        #expect(TrainingCurves.bestEpoch(Self.history([3, 1, 2])) == 2)
        #expect(TrainingCurves.bestEpoch(History()) == nil)
        let one = TrainingCurves.svg(Self.history([0.5]))
        #expect(one.contains("<circle") && !one.contains("<polyline"))
        #expect(!TrainingCurves.svg(History()).contains("nan"))
    }
}

@Suite struct BatchLoggingTests {
    @Test func everyNthBatchIsLoggedWithItsLossAndLearningRate() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-batchlog-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var g = SeededGenerator(seed: 3)
        let x = Tensor(randomNormal: [50, 4], using: &g)
        let data = Dataset(inputs: x, labels: (0..<50).map { x[$0, 0] > 0 ? 1 : 0 })
        let trainer = Trainer(model: try Sequential("dense:2", inputShape: [4], seed: 1), loss: SoftmaxCrossEntropy(),
                              optimizer: SGD(learningRate: 0.1), schedule: .step(every: 1, factor: 0.5), seed: 1)
        _ = try trainer.fit(data, epochs: 2, batchSize: 8, callbacks: [try MetricsLogger(path: path, batchEvery: 3)])
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let objects = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        // 7 batches an epoch: batches 3 and 6, then the epoch line; twice.
        #expect(objects.map { $0["event"] as! String } == ["batch", "batch", "epoch", "batch", "batch", "epoch"])
        #expect(objects.compactMap { $0["batch"] as? Int } == [3, 6, 3, 6])
        #expect(objects[0]["epoch"] as? Int == 1 && objects[3]["epoch"] as? Int == 2)
        #expect((objects[1]["loss"] as? Double).map { $0 > 0 && $0.isFinite } == true)
        // The step schedule halves the rate in epoch 2: each batch line carries its step's rate.
        #expect(objects[0]["learning_rate"] as? Double == 0.1 && objects[4]["learning_rate"] as? Double == 0.05)
        #expect(throws: (any Error).self) { try MetricsLogger(path: path, batchEvery: 0) }
    }

    @Test func logEveryNeedsALogAndAPositiveInterval() throws {
        let r = try runNeurite(["train", "--log-every", "5"])
        #expect(r.status == 64 && r.err.contains("--log-every 5") && r.err.contains("--log FILE"), "\(r.err)")
        let zero = try runNeurite(["train", "--log-every", "0", "--log", "/tmp/never-written.jsonl"])
        #expect(zero.status == 64 && zero.err.contains("--log-every must be in 1...1000000000, got 0"), "\(zero.err)")
    }
}
