// Regression targets: trained standardised, stored in the checkpoint, reported and predicted in
// their own units; malformed target standardisers in a checkpoint are refused.

import Testing
import Foundation
import Neurite

@Suite struct RegressionTargetTests {
    static var hasExecutable: Bool { FileManager.default.isExecutableFile(atPath: CommandLineTests.executable.path) }

    func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try CommandLineTests().run(args) }

    func field(_ s: String, _ name: String) -> Double? {
        guard let r = s.range(of: "\"\(name)\":") else { return nil }
        return Double(String(s[r.upperBound...].prefix { $0 != "," && $0 != "}" }))
    }

    func lastLine(_ s: String) -> String { s.split(separator: "\n").last.map(String.init) ?? "" }

    @Test func metricsOnKnownValues() throws {
        let t = Tensor(shape: [4, 1], scalars: [1, 2, 3, 4])
        let perfect = try RegressionMetrics(predictions: t, targets: t)
        #expect(perfect.mse == 0 && perfect.mae == 0 && perfect.r2 == 1 && perfect.count == 4)
        // Predicting the mean gives R² = 0; errors ±1.5, ±0.5: MSE 1.25, MAE 1.
        let mean = try RegressionMetrics(predictions: Tensor(shape: [4, 1], repeating: 2.5), targets: t)
        #expect(abs(mean.mse - 1.25) < 1e-12 && abs(mean.mae - 1) < 1e-12 && abs(mean.r2! - 0) < 1e-12)
        #expect(abs(mean.rmse - 1.25.squareRoot()) < 1e-12)
        // Constant targets: R² is undefined, not a division by zero.
        #expect(try RegressionMetrics(predictions: t, targets: Tensor(shape: [4, 1], repeating: 3)).r2 == nil)
        #expect(throws: ModelError.self) { try RegressionMetrics(predictions: t, targets: Tensor(shape: [3, 1], repeating: 0)) }
    }

    /// Standardising targets and mapping outputs back is the identity (to float rounding), per output.
    @Test func targetScalingRoundTrips() throws {
        var g = SeededGenerator(seed: 4)
        let y = Tensor(randomNormal: [50, 2], using: &g) * 40 + 150
        let data = Dataset(inputs: Tensor(shape: [50, 1], repeating: 0), targets: y)
        let st = Standardizer(fitting: y)
        let scaled = try data.standardizedTargets(with: st, source: "test")
        var d = DataDescription()
        d.targetStandardizer = st
        let back = try d.targetsInOriginalUnits(scaled.targets!)
        for (a, b) in zip(back.scalars, y.scalars) { #expect(abs(a - b) <= 1e-4 * max(1, abs(b))) }
        let m = try RegressionMetrics(predictions: scaled.targets!, targets: Tensor(shape: [50, 2], repeating: 0))
        #expect(abs(m.mse - 1) < 1e-5, "standardised targets have unit variance: \(m.mse)")
        #expect(throws: DataError.self) { try data.standardizedTargets(with: Standardizer(mean: [0], std: [1]), source: "test") }
        #expect(throws: ModelError.self) { try d.targetsInOriginalUnits(Tensor(shape: [3, 1], repeating: 0)) }
    }

    /// A checkpoint's target standardiser must have one finite mean and deviation > 0 per output,
    /// and only a regression model may have one.
    @Test func malformedTargetStandardisersAreRefused() throws {
        let dir = TemporaryDirectory()
        let model = try Sequential("dense:1", inputShape: [3], seed: 1)
        var good = DataDescription(source: "csv:x.csv")
        good.regression = true
        good.targetStandardizer = Standardizer(mean: [150], std: [75])
        let path = dir.file("m.safetensors")
        try Checkpoint.save(model: model, loss: MeanSquaredError(), classCount: 0, data: good, to: path)
        #expect(try Checkpoint.load(path).data.targetStandardizer == good.targetStandardizer)
        let file = try SafeTensors.read(path)
        let standardizer = #""target_standardizer":{"mean":[150],"std":[75]}"#
        #expect(file.metadata["data"]?.contains(standardizer) == true, "\(file.metadata["data"] ?? "")")
        let cases: [(replacement: String, needle: String)] = [
            (#""target_standardizer":{"mean":[150,1],"std":[75,1]}"#, "model's 1 outputs"),
            (#""target_standardizer":{"mean":[150],"std":[0]}"#, "deviations > 0"),
            (#""target_standardizer":{"mean":[150],"std":[-2]}"#, "deviations > 0"),
            (#""target_standardizer":{"mean":[1e999],"std":[75]}"#, "the data metadata is malformed"),
            (#""target_standardizer":{"mean":[150],"std":[75,3]}"#, "as many deviations as means"),
            (#""target_standardizer":{"mean":[150]}"#, "std"),
        ]
        for c in cases {
            var meta = file.metadata
            meta["data"] = meta["data"]!.replacingOccurrences(of: standardizer, with: c.replacement)
            let bad = dir.file("bad.safetensors")
            try SafeTensors.write(file.tensors, metadata: meta, to: bad)
            do {
                _ = try Checkpoint.load(bad)
                Issue.record("\(c.replacement) was accepted")
            } catch let e as CheckpointError {
                #expect(e.message.contains(c.needle), "\(c.replacement): \(e)")
            }
        }
        // A classification model with a target standardiser.
        var meta = file.metadata
        meta["task"] = #"{"class_count":2,"loss":"binary-cross-entropy"}"#
        try SafeTensors.write(file.tensors, metadata: meta, to: dir.file("cls.safetensors"))
        do {
            _ = try Checkpoint.load(dir.file("cls.safetensors"))
            Issue.record("a classification checkpoint with a target standardiser was accepted")
        } catch {
            #expect("\(error)".contains("only regression models have"), "\(error)")
        }
    }

    /// Diabetes with an MLP at the default learning rate: raw targets (25…346) diverge, standardised
    /// ones train; the figures are in the targets' units, evaluate repeats them, predict answers in
    /// those units, and a resumed run continues exactly.
    @Test(.enabled(if: hasExecutable && SklearnData.isAvailable, "needs the neurite binary and python3-sklearn"))
    func diabetesTrainsWithTheDefaultLearningRate() throws {
        let dir = TemporaryDirectory()
        let ckpt = dir.file("d.safetensors")
        let flags = ["train", "--data", "sklearn:diabetes", "--model", "mlp", "--json"]
        let raw = try run(flags + ["--epochs", "2", "--target-scaling", "none"])
        #expect(raw.status != 0 && raw.err.contains("loss became"), "raw targets at lr 0.05 were expected to diverge: \(raw.out)")

        let straight = try run(flags + ["--epochs", "6"])
        #expect(straight.status == 0, "\(straight.err)")
        let half = try run(flags + ["--epochs", "3", "--checkpoint", ckpt])
        #expect(half.status == 0, "\(half.err)")
        let resumed = try run(["train", "--resume", ckpt, "--epochs", "6", "--json"])
        #expect(resumed.status == 0, "\(resumed.err)")
        func drop(_ s: String) -> String { s.replacingOccurrences(of: #","seconds":[0-9.]+"#, with: "", options: .regularExpression) }
        #expect(drop(lastLine(resumed.out)) == drop(lastLine(straight.out)))
        let done = lastLine(straight.out)
        let r2 = field(done, "test_r2") ?? -1, rmse = field(done, "test_rmse") ?? .infinity, mse = field(done, "test_mse") ?? .infinity
        #expect(r2 > 0.3 && rmse > 30 && rmse < 70 && abs(rmse * rmse - mse) < 1e-6 * mse, "\(done)")
        #expect((field(done, "test_loss") ?? 9) < 1, "the loss is on standardised targets: \(done)")

        let loaded = try Checkpoint.load(ckpt)
        let st = try #require(loaded.data.targetStandardizer)
        #expect(abs(st.mean[0] - 152) < 10 && abs(st.std[0] - 77) < 10, "diabetes targets: mean ≈ 152, sd ≈ 77: \(st)")
        let eval = try run(["evaluate", "--checkpoint", ckpt, "--json"])
        #expect(eval.status == 0 && field(eval.out, "test_mse") == field(lastLine(half.out), "test_mse"), "\(eval.out) vs \(half.out)")
        let text = try run(["evaluate", "--checkpoint", ckpt])
        #expect(text.out.contains("in the targets' own units") && text.out.contains("RMSE"), "\(text.out)")

        // The first five patients' raw features: predictions in the targets' range, not near 0.
        let csv = dir.file("x.csv")
        try ["59 2 32.1 101 157 93.2 38 4 4.8598 87", "48 1 21.6 87 183 103.2 70 3 3.8918 69", "72 2 30.5 93 156 93.6 41 4 4.6728 85",
             "24 1 25.3 84 198 131.4 40 5 4.8903 89", "50 1 23 101 192 125.4 52 4 4.2905 80"]
            .map { $0.replacingOccurrences(of: " ", with: ",") }.joined(separator: "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        let predict = try run(["predict", "--checkpoint", ckpt, "--input", csv])
        let values = predict.out.split(separator: "\n").compactMap { Double($0) }
        #expect(predict.status == 0 && values.count == 5, "\(predict.out) \(predict.err)")
        #expect(values.allSatisfy { $0 > 25 && $0 < 346 }, "\(values)")

        // The flag is refused where it cannot apply, and when it contradicts the checkpoint.
        let iris = try run(["train", "--data", "sklearn:iris", "--epochs", "1", "--model", "dense:4,relu,dense:3", "--target-scaling", "none"])
        #expect(iris.status != 0 && iris.err.contains("--target-scaling none applies to regression data"), "\(iris.err)")
        let contradiction = try run(["train", "--resume", ckpt, "--epochs", "6", "--target-scaling", "none"])
        #expect(contradiction.status != 0 && contradiction.err.contains("--target-scaling none contradicts"), "\(contradiction.err)")
    }

    /// A CSV regression (--regression) with targets far from 0: a linear model fits it at the
    /// default learning rate, and `--target-scaling none` records no standardiser.
    /// k-fold cross-validation on a regression set reports each fold's RMSE in the targets' own
    /// units (diabetes targets span 25–346: a standardised-scale loss would be below 1).
    @Test(.enabled(if: hasExecutable && SklearnData.isAvailable, "needs the neurite binary and python3-sklearn"))
    func kFoldReportsRMSEInTheTargetsUnits() throws {
        let r = try run(["train", "--model", "dense:16,relu,dense:1", "--data", "sklearn:diabetes", "--kfold", "3",
                         "--epochs", "20", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let done = lastLine(r.out)
        #expect(done.contains("\"metric\":\"rmse\""), "\(done)")
        let mean = field(done, "mean") ?? 0
        #expect(mean > 30 && mean < 90, "mean fold RMSE \(mean)")
        #expect(r.out.split(separator: "\n").filter { $0.contains("\"event\":\"fold\"") && $0.contains("\"rmse\":") }.count == 3)
    }

    @Test(.enabled(if: hasExecutable))
    func csvRegressionInOriginalUnits() throws {
        let dir = TemporaryDirectory()
        var g = SeededGenerator(seed: 9)
        let x = Tensor(randomNormal: [200, 2], using: &g).scalars, noise = Tensor(randomNormal: [200], using: &g).scalars
        let rows = (0..<200).map { i in
            "\(x[2 * i]),\(x[2 * i + 1]),\(1000 + 50 * x[2 * i] - 30 * x[2 * i + 1] + noise[i])"
        }
        try rows.joined(separator: "\n").write(toFile: dir.file("r.csv"), atomically: true, encoding: .utf8)
        let ckpt = dir.file("r.safetensors")
        let r = try run(["train", "--data", "csv:" + dir.file("r.csv"), "--regression", "--model", "linear", "--epochs", "20",
                         "--checkpoint", ckpt, "--json"])
        #expect(r.status == 0, "\(r.err)")
        let done = lastLine(r.out)
        #expect((field(done, "test_r2") ?? 0) > 0.99 && (field(done, "test_rmse") ?? 99) < 2, "\(done)")
        let st = try #require(try Checkpoint.load(ckpt).data.targetStandardizer)
        #expect(abs(st.mean[0] - 1000) < 15)
        try "0,0\n1,0".write(toFile: dir.file("x.csv"), atomically: true, encoding: .utf8)
        let p = try run(["predict", "--checkpoint", ckpt, "--input", dir.file("x.csv"), "--json"])
        #expect(p.status == 0, "\(p.err)")
        let lines = p.out.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0].hasPrefix("{\"index\":0,\"values\":["), "\(p.out)")
        let v = lines.compactMap { l in l.range(of: "[").flatMap { Double(l[$0.upperBound...].prefix { $0 != "]" }) } }
        #expect(v.count == 2 && abs(v[0] - 1000) < 5 && abs(v[1] - v[0] - 50) < 5, "\(v)")

        let none = try run(["train", "--data", "csv:" + dir.file("r.csv"), "--regression", "--model", "linear", "--epochs", "1",
                            "--target-scaling", "none", "--checkpoint", ckpt])
        #expect(none.status == 0 && none.out.contains("(in the targets' own units)"), "\(none.out) \(none.err)")
        #expect(try Checkpoint.load(ckpt).data.targetStandardizer == nil)
    }
}
