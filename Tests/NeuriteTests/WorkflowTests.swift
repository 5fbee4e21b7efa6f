import Testing
import Foundation
import Neurite

@Suite struct EarlyStoppingTests {
    /// A run whose validation loss falls, then rises (the model overfits a tiny noisy training set):
    /// early stopping must stop and restore the weights of the best validation epoch.
    @Test func restoresTheBestEpochsWeights() throws {
        var g = SeededGenerator(seed: 8)
        let x = Tensor(randomNormal: [40, 20], using: &g)
        let labels = (0..<40).map { _ in Int(g.next() % 2) }          // pure noise: nothing generalises
        let vx = Tensor(randomNormal: [200, 20], using: &g)
        let vl = (0..<200).map { i in vx[i, 0] > 0 ? 1 : 0 }
        let train = Dataset(inputs: x, labels: labels), val = Dataset(inputs: vx, labels: vl)
        let model = try Sequential("dense:64,relu,dense:2", inputShape: [20], seed: 2)
        let trainer = Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: Adam(learningRate: 0.01), seed: 1)
        let stopper = EarlyStopping(metric: .validationLoss, patience: 3)
        trainer.earlyStopping = stopper
        let history = try trainer.fit(train, validation: val, epochs: 200, batchSize: 8)
        #expect(history.stoppedEarly)
        let losses = history.epochs.map { $0.validationLoss! }
        let bestIndex = losses.indices.min { losses[$0] < losses[$1] }!
        #expect(stopper.bestEpoch == bestIndex + 1)
        #expect(history.epochs.count == stopper.bestEpoch + 3)
        let restored = trainer.evaluate(val).loss
        #expect(abs(restored - losses[bestIndex]) < 1e-6, "restored \(restored), best \(losses[bestIndex])")
    }
}

/// `neurite` end to end: train on a small Fashion-MNIST subset for one epoch, then evaluate the
/// checkpoint, which must reproduce the reported test accuracy exactly.
@Suite(.enabled(if: FashionMNIST.isAvailable, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"))
struct CommandLineTests {
    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("neurite")
    }

    func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = Self.executable
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func trainWritesCheckpointLogAndPlotAndEvaluateReproducesTheAccuracy() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.executable.path), "no neurite binary at \(Self.executable.path)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let ckpt = dir + "/m.safetensors", log = dir + "/m.jsonl", svg = dir + "/m.svg"
        let train = try run(["train", "--model", "mlp", "--data", "fashion-mnist", "--limit", "3000", "--epochs", "1",
                             "--optimizer", "momentum", "--checkpoint", ckpt, "--log", log, "--plot", svg, "--json"])
        #expect(train.status == 0, "\(train.err)")
        let done = train.out.split(separator: "\n").last.map(String.init) ?? ""
        #expect(done.hasPrefix("{\"event\":\"done\""), "\(train.out)")
        let logLines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(logLines.count == 1 && logLines[0].contains("\"train_loss\""))
        let plot = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(plot.hasPrefix("<svg") && plot.contains("epoch") && plot.contains("<circle"))   // one epoch: a dot, no line

        let eval = try run(["evaluate", "--checkpoint", ckpt, "--json"])   // the data source comes from the checkpoint
        #expect(eval.status == 0, "\(eval.err)")
        func field(_ s: String, _ name: String) -> String? {
            guard let r = s.range(of: "\"\(name)\":") else { return nil }
            return String(s[r.upperBound...].prefix { $0 != "," && $0 != "}" })
        }
        let reported = field(done, "test_accuracy"), evaluated = field(eval.out, "test_accuracy")
        #expect(reported != nil && reported == evaluated, "train said \(reported ?? "-"), evaluate said \(evaluated ?? "-")")
        #expect(Double(reported ?? "0")! > 0.6)

        let predict = try run(["predict", "--checkpoint", ckpt, "--input",
                               FashionMNIST.defaultDirectory + "/t10k-images-idx3-ubyte.gz", "--limit", "3"])
        #expect(predict.status == 0 && predict.out.split(separator: "\n").count == 3, "\(predict.out) \(predict.err)")
    }

    func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func lastLine(_ s: String) -> String { s.split(separator: "\n").last.map(String.init) ?? "" }

    /// A CSV classification (iris) and a CSV regression (diabetes) model: evaluate, predict and
    /// resume work from the checkpoint alone, and 2 epochs + resume give exactly the numbers of an
    /// uninterrupted 4-epoch run, with and without early stopping.
    @Test(.enabled(if: SklearnData.isAvailable, "python3-sklearn is not installed"), arguments: [
        ["--data", "sklearn:iris", "--model", "dense:16,relu,dense:3", "--optimizer", "adam", "--lr", "0.01", "--batch-size", "16"],
        ["--data", "sklearn:diabetes", "--model", "dense:8,tanh,dense:1", "--lr", "0.01", "--batch-size", "32"],
        ["--data", "sklearn:wine", "--model", "dense:16,batchnorm,relu,dropout:0.2,dense:3", "--optimizer", "momentum", "--lr", "0.02",
         "--val-split", "0.2", "--early-stopping", "10"],
        ["--data", "sklearn:iris", "--model", "dense:16,relu,dense:3", "--optimizer", "adam", "--lr", "0.02", "--beta1", "0.8",
         "--warmup-steps", "5", "--clip-norm", "0.5", "--reduce-on-plateau", "0", "--monitor", "train_loss", "--min-delta", "0.5",
         "--shards", "2", "--schedule", "step", "--step-every", "1", "--step-factor", "0.9"],
    ])
    func checkpointsAloneDriveEvaluatePredictAndResume(_ flags: [String]) throws {
        let dir = try tempDir()
        let straight = try run(["train"] + flags + ["--epochs", "4", "--json"])
        #expect(straight.status == 0, "\(straight.err)")
        let ckpt = dir + "/m.safetensors"
        let half = try run(["train"] + flags + ["--epochs", "2", "--checkpoint", ckpt, "--json"])
        #expect(half.status == 0, "\(half.err)")
        let resumed = try run(["train", "--resume", ckpt, "--epochs", "4", "--json"])
        #expect(resumed.status == 0, "\(resumed.err)")
        func drop(_ s: String) -> String { s.replacingOccurrences(of: #","seconds":[0-9.]+"#, with: "", options: .regularExpression) }
        #expect(drop(lastLine(resumed.out)) == drop(lastLine(straight.out)), "resumed \(resumed.out) vs straight \(straight.out)")
        let eval = try run(["evaluate", "--checkpoint", ckpt, "--json"])
        #expect(eval.status == 0 && eval.out.contains("test_loss"), "\(eval.err)")
        // The features of three test rows, raw (the checkpoint's standardiser prepares them).
        let csv = dir + "/x.csv"
        let width = flags[1] == "sklearn:iris" ? 4 : flags[1] == "sklearn:wine" ? 13 : 10
        try (0..<3).map { r in (0..<width).map { String(Double($0 + r) * 0.5) }.joined(separator: ",") }.joined(separator: "\n")
            .write(toFile: csv, atomically: true, encoding: .utf8)
        let predict = try run(["predict", "--checkpoint", ckpt, "--input", csv])
        #expect(predict.status == 0 && predict.out.split(separator: "\n").count == 3, "\(predict.out) \(predict.err)")
        // A flag that contradicts the checkpoint is refused, naming both values.
        let contradiction = try run(["train", "--resume", ckpt, "--batch-size", "7"])
        #expect(contradiction.status != 0 && contradiction.err.contains("--batch-size 7"), "\(contradiction.err)")
    }

    @Test func summaryPrintsTheLayerListThatRebuildsTheModel() throws {
        let r = try run(["summary", "--model", "lenet"])
        #expect(r.status == 0)
        #expect(r.out.contains("Layer list: conv:6:5:pad=2,relu,maxpool:2,conv:16:5,relu,maxpool:2,flatten,dense:120,relu,dense:84,relu,dense:10"))
        #expect(r.out.contains("Total parameters: 61706"))
    }

    @Test func badInputGivesAClearErrorAndNonZeroExit() throws {
        let cases: [([String], String)] = [
            (["train", "--batch-size", "0"], "batch-size"),
            (["train", "--lr=-1"], "--lr"),
            (["train", "--dropout", "1.5"], "--dropout"),
            (["train", "--data", "idx:/nonexistent"], "apt-get install"),
            (["train", "--model", "784-100-7", "--epochs", "0"], "needs 10"),
            (["evaluate", "--checkpoint", "/nonexistent.safetensors"], "nonexistent"),
        ]
        for (args, needle) in cases {
            let r = try run(args)
            #expect(r.status != 0, "\(args) exited 0")
            #expect((r.err + r.out).contains(needle), "\(args): \(r.err)")
        }
    }
}
