// `neurite train --split A/B/C`: one seeded train/validation/test split, recorded in the checkpoint
// so that `evaluate` and `--resume` rebuild the same parts without flags; bad splits are refused.

import Testing
import Foundation
import Neurite

@Suite struct SplitOptionTests {
    static var executable: URL { CommandLineTests.executable }
    static var hasExecutable: Bool { FileManager.default.isExecutableFile(atPath: executable.path) }

    func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try CommandLineTests().run(args) }

    /// A directory with `data.csv`: 40 rows of three features and a 0/1 label (20 of each class).
    func scratch() throws -> (dir: String, data: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-split-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let rows = (0..<40).map { i in "\(Double(i % 7) * 0.5),\(Double(i % 5) - 2),\(Double(i % 3) + Double(i % 2)),\(i % 2)" }
        try (["a,b,c,label"] + rows).joined(separator: "\n").write(toFile: dir + "/data.csv", atomically: true, encoding: .utf8)
        return (dir, "csv:" + dir + "/data.csv")
    }

    /// The value of JSON field `name` in the one-line object `s`, as text.
    func field(_ s: String, _ name: String) -> String? {
        guard let r = s.range(of: "\"\(name)\":") else { return nil }
        return String(s[r.upperBound...].prefix { $0 != "," && $0 != "}" })
    }

    func lastLine(_ s: String) -> String { s.split(separator: "\n").last.map(String.init) ?? "" }

    /// 50/25/25 of 40 examples is 20/10/10; the checkpoint records the fractions, and evaluate
    /// (no flags) finds the same 10 test examples and the same test figures; a resumed run continues
    /// on the same parts (2 + 2 epochs give the numbers of 4).
    @Test(.enabled(if: hasExecutable))
    func threeWaySplitIsRecordedAndRebuilt() throws {
        let (dir, data) = try scratch()
        let ckpt = dir + "/m.safetensors"
        let flags = ["--data", data, "--model", "dense:8,relu,dense:2", "--split", "50/25/25", "--batch-size", "4", "--seed", "3"]
        let text = try run(["train"] + flags + ["--epochs", "1"])
        #expect(text.status == 0, "\(text.err)")
        #expect(text.out.contains("20 examples, 10 for validation, 10 test"), "\(text.out)")

        let straight = try run(["train"] + flags + ["--epochs", "4", "--json"])
        #expect(straight.status == 0, "\(straight.err)")
        #expect(straight.out.contains("\"val_loss\""), "validation ran every epoch: \(straight.out)")
        let half = try run(["train"] + flags + ["--epochs", "2", "--checkpoint", ckpt, "--json"])
        #expect(half.status == 0, "\(half.err)")
        let recorded = try Checkpoint.load(ckpt).data
        #expect(recorded.testFraction == 0.25 && recorded.validationFraction == 0.25)

        let resumed = try run(["train", "--resume", ckpt, "--epochs", "4", "--json"])
        #expect(resumed.status == 0, "\(resumed.err)")
        func drop(_ s: String) -> String { s.replacingOccurrences(of: #","seconds":[0-9.]+"#, with: "", options: .regularExpression) }
        #expect(drop(lastLine(resumed.out)) == drop(lastLine(straight.out)), "resumed \(resumed.out) vs straight \(straight.out)")

        let eval = try run(["evaluate", "--checkpoint", ckpt, "--json"])
        #expect(eval.status == 0, "\(eval.err)")
        #expect(field(eval.out, "examples") == "10", "\(eval.out)")
        // The checkpoint holds the 2-epoch run (the resumed run wrote none): its figures are that run's.
        let halfDone = lastLine(half.out)
        #expect(field(eval.out, "test_accuracy") == field(halfDone, "test_accuracy") && field(eval.out, "test_loss") == field(halfDone, "test_loss"),
                "evaluate \(eval.out) vs train \(halfDone)")

        // Repeating the recorded split is fine; another one contradicts the checkpoint.
        let same = try run(["train", "--resume", ckpt, "--epochs", "4", "--split", "50/25/25", "--json"])
        #expect(same.status == 0, "\(same.err)")
        let other = try run(["train", "--resume", ckpt, "--epochs", "4", "--split", "80/10/10"])
        #expect(other.status != 0 && other.err.contains("--split 80/10/10 contradicts") && other.err.contains("50/25/25"), "\(other.err)")
        let valSplit = try run(["train", "--resume", ckpt, "--epochs", "4", "--val-split", "0.25"])
        #expect(valSplit.status != 0 && valSplit.err.contains("--val-split 0.25 contradicts"), "\(valSplit.err)")
    }

    /// Without --split the test set stays the 20 % of an 80/20 split (and checkpoints without a
    /// recorded test fraction are read that way); 80/0/20 is the same split.
    @Test(.enabled(if: hasExecutable))
    func defaultSplitStays80_20() throws {
        let (dir, data) = try scratch()
        let ckpt = dir + "/m.safetensors"
        let flags = ["train", "--data", data, "--model", "dense:8,relu,dense:2", "--epochs", "2", "--json"]
        let plain = try run(flags + ["--checkpoint", ckpt])
        #expect(plain.status == 0, "\(plain.err)")
        #expect(try Checkpoint.load(ckpt).data.testFraction == nil)
        let eval = try run(["evaluate", "--checkpoint", ckpt, "--json"])
        #expect(field(eval.out, "examples") == "8", "\(eval.out) \(eval.err)")
        let explicit = try run(flags + ["--split", "80/0/20"])
        #expect(explicit.status == 0, "\(explicit.err)")
        #expect(lastLine(explicit.out).replacingOccurrences(of: #","seconds":[0-9.]+"#, with: "", options: .regularExpression)
                == lastLine(plain.out).replacingOccurrences(of: #","seconds":[0-9.]+"#, with: "", options: .regularExpression))
    }

    /// Malformed and contradictory splits: one short line naming the flag, the value and what is expected.
    @Test(.enabled(if: hasExecutable))
    func badSplitsAreRefused() throws {
        let (_, data) = try scratch()
        let base = ["train", "--data", data, "--model", "dense:4,relu,dense:2", "--epochs", "1"]
        let cases: [([String], [String])] = [
            (base + ["--split", "80/10/5"], ["--split 80/10/5", "sums to 95", "100"]),
            (base + ["--split", "80/x/10"], ["--split 80/x/10", "'x' is not a percentage"]),
            (base + ["--split", "nan/0/100"], ["'nan' is not a percentage"]),
            (base + ["--split=-10/60/50"], ["'-10' is not a percentage", "from 0 to 100"]),
            (base + ["--split", "80"], ["--split 80", "1 part"]),
            (base + ["--split", "50/20/20/10"], ["4 part"]),
            (base + ["--split", "0/20/80"], ["no training data"]),
            (base + ["--split", "80/20/0"], ["no test data"]),
            (base + ["--split", "90/10"], ["--split 90/10", "no test set of its own", "80/10/10"]),
            (base + ["--split", "80/10/10", "--val-split", "0.1"], ["--split 80/10/10 and --val-split"]),
            (base + ["--split", "80/10/10", "--kfold", "3"], ["--kfold", "--split 80/10/10"]),
            (base + ["--split", "97/1/2"], ["--split 97/1/2 cannot split the 40 examples", "0 for validation"]),
            (["train", "--data", "fashion-mnist", "--split", "80/10/10"], ["--split 80/10/10", "has a test set of its own", "--split 88.888889/11.111111"]),
            (["train", "--data", "idx:/nonexistent", "--split", "90/10"], ["looked in /nonexistent"]),   // accepted: the data is missing
            (["train", "--data", "csv:/nonexistent.csv", "--split", "80/10/10", "--early-stopping", "2"], ["/nonexistent.csv"]),
            (base + ["--early-stopping", "2", "--split", "80/0/20"], ["--early-stopping", "validation"]),
        ]
        for (args, needles) in cases {
            let r = try run(args)
            #expect(r.status != 0, "\(args) exited 0: \(r.out)")
            for n in needles { #expect(r.err.contains(n), "\(args): \(r.err)") }
            #expect(r.err.split(separator: "\n").count <= 3, "\(args): not a short message: \(r.err)")
        }
    }

    /// Sets with a test set of their own (idx:DIR) take TRAIN/VAL percentages of their training set.
    @Test(.enabled(if: hasExecutable))
    func twoPartSplitForDataWithItsOwnTestSet() throws {
        let dir = TemporaryDirectory()
        for (split, n) in [("train", 40), ("t10k", 10)] {
            try IDXFile(dimensions: [n, 28, 28], bytes: (0..<(n * 784)).map { UInt8(($0 * 7) % 256) })
                .write(to: dir.file("\(split)-images-idx3-ubyte.gz"), gzip: true)
            try IDX.writeLabels((0..<n).map { $0 % 2 }, to: dir.file("\(split)-labels-idx1-ubyte.gz"), gzip: true)
        }
        let ckpt = dir.file("m.safetensors")
        let r = try run(["train", "--data", "idx:" + dir.path, "--model", "dense:4,relu,dense:10", "--epochs", "1", "--split", "75/25", "--checkpoint", ckpt])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("30 examples, 10 for validation, 10 test"), "\(r.out)")
        let recorded = try Checkpoint.load(ckpt).data
        #expect(recorded.validationFraction == 0.25 && recorded.testFraction == nil)
        let three = try run(["train", "--data", "idx:" + dir.path, "--epochs", "1", "--split", "60/20/20"])
        #expect(three.status != 0 && three.err.contains("has a test set of its own") && three.err.contains("--split 75/25"), "\(three.err)")
    }

    /// A checkpoint whose recorded fractions are out of range, or leave no training data, is refused
    /// on load with the field and its value.
    @Test func recordedFractionsAreValidated() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-split-ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let model = try Sequential("dense:2", inputShape: [3], seed: 1)
        var good = DataDescription(source: "csv:x.csv")
        good.validationFraction = 0.1
        good.testFraction = 0.1
        let path = dir + "/m.safetensors"
        try Checkpoint.save(model: model, loss: SoftmaxCrossEntropy(), classCount: 2, data: good, to: path)
        #expect(try Checkpoint.load(path).data == good)
        let file = try SafeTensors.read(path)
        let cases: [(String, String)] = [
            (#""validation_fraction":0.1"#, #""validation_fraction":1.5"#),
            (#""validation_fraction":0.1"#, #""validation_fraction":-0.1"#),
            (#""test_fraction":0.1"#, #""test_fraction":0"#),
            (#""test_fraction":0.1"#, #""test_fraction":1"#),
            (#""test_fraction":0.1"#, #""test_fraction":0.9"#),
        ]
        for (from, to) in cases {
            var meta = file.metadata
            let data = meta["data"] ?? ""
            #expect(data.contains(from), "\(data)")
            meta["data"] = data.replacingOccurrences(of: from, with: to)
            let bad = dir + "/bad.safetensors"
            try SafeTensors.write(file.tensors, metadata: meta, to: bad)
            do {
                _ = try Checkpoint.load(bad)
                Issue.record("\(to) was accepted")
            } catch let e as CheckpointError {
                let field = to.split(separator: ":")[0].replacingOccurrences(of: "\"", with: "")
                #expect(e.message.contains(field), "\(e)")
            }
        }
    }
}
