// `neurite train` refuses bad and contradictory options with one clear line and a non-zero exit,
// before any slow work; its machine-readable output is valid JSON.

import Testing
import Foundation
import Neurite

@Suite struct CommandLineInputTests {
    static var executable: URL { CommandLineTests.executable }

    /// Runs `neurite` with `args` (the helper of the workflow tests).
    func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try CommandLineTests().run(args) }

    /// A directory with `data.csv`: 40 rows of three features and a 0/1 label.
    func scratch() throws -> (dir: String, data: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-cli-input-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let rows = (0..<40).map { i in "\(Double(i % 7) * 0.5),\(Double(i % 5) - 2),\(Double(i % 3)),\(i % 2)" }
        try (["a,b,c,label"] + rows).joined(separator: "\n").write(toFile: dir + "/data.csv", atomically: true, encoding: .utf8)
        return (dir, "csv:" + dir + "/data.csv")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: executable.path)))
    func contradictoryOrUnwritableOptionsAreRefused() throws {
        let (dir, data) = try scratch()
        let base = ["train", "--data", data, "--model", "dense:4,relu,dense:2", "--epochs", "1"]
        let cases: [([String], [String])] = [
            (base + ["--checkpoint", dir + "/missing/m.safetensors"], ["--checkpoint", "does not exist"]),
            (base + ["--checkpoint", dir], ["--checkpoint", "is a directory"]),
            (base + ["--checkpoint", ""], ["--checkpoint", "empty"]),
            (base + ["--log", dir + "/missing/log.jsonl"], ["--log", "does not exist"]),
            (base + ["--checkpoint", dir + "/m.safetensors", "--log", dir + "/m.safetensors"], ["same file"]),
            (base + ["--val-split", "0.999"], ["--val-split 0.999", "0 for training"]),
            (base + ["--kfold", "3", "--log", dir + "/l.jsonl"], ["--kfold", "--log"]),
            (["train", "--data", "sklearn:iris", "--label-column", "2"], ["--label-column applies to csv:FILE data only"]),
            (["train", "--data", "fashion-mnist", "--regression"], ["--regression applies to csv:FILE data only"]),
            (["train", "--data", "csv:"], ["needs a path"]),
            (base.dropLast(4) + ["--model", "dense:4,relu,dropout:0.5,dense:2", "--dropout", "0.3"], ["--dropout 0.3 has no effect"]),
            (base + ["--early-stopping", "2000000", "--val-split", "0.2"], ["--early-stopping must be in 1...1000000"]),
            (base + ["--limit=-1"], ["--limit"]),
        ]
        for (args, needles) in cases {
            let r = try run(args)
            #expect(r.status != 0, "\(args) exited 0: \(r.out)")
            for n in needles { #expect(r.err.contains(n), "\(args): \(r.err)") }
            #expect(r.err.split(separator: "\n").count <= 3, "\(args): not a short message: \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/missing"))
    }

    /// `--json` and the metrics log are JSON lines; a resumed run may not ask for fewer epochs than
    /// it has done; a checkpoint write removes temporary files that killed writers left.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: executable.path)))
    func jsonOutputResumeAndTemporaryFiles() throws {
        let (dir, data) = try scratch()
        let ckpt = dir + "/m.safetensors", log = dir + "/m.jsonl"
        let stale = dir + "/.m.safetensors.tmp-2147483000-42"
        _ = FileManager.default.createFile(atPath: stale, contents: Data([0]))
        let r = try run(["train", "--data", data, "--model", "dense:4,relu,dense:2", "--epochs", "2", "--json",
                         "--checkpoint", ckpt, "--log", log, "--batch-size", "8"])
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n") + (try String(contentsOfFile: log, encoding: .utf8)).split(separator: "\n")
        #expect(lines.count == 5)
        for line in lines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not JSON: \(line)")
        }
        #expect(lines[2].hasPrefix("{\"event\":\"done\",\"test_accuracy\":"), "\(lines[2])")
        #expect(!FileManager.default.fileExists(atPath: stale))

        let fewer = try run(["train", "--resume", ckpt, "--epochs", "1"])
        #expect(fewer.status != 0 && fewer.err.contains("--epochs 1 is fewer than the 2 epochs"), "\(fewer.err)")
        let otherLimit = try run(["train", "--resume", ckpt, "--limit", "5"])
        #expect(otherLimit.status != 0 && otherLimit.err.contains("--limit 5 contradicts"), "\(otherLimit.err)")
    }

    /// A run whose losses become NaN (training or validation) fails with a message, after logging
    /// the epoch, and names the last checkpoint it wrote (a NaN validation loss stops before the
    /// writer, so the file holds the last epoch with finite losses).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: executable.path)))
    func divergingRunsFail() throws {
        let (dir, data) = try scratch()
        let ckpt = dir + "/d.safetensors"
        let r = try run(["train", "--data", data, "--model", "dense:64,relu,dense:64,relu,dense:2", "--lr", "1000", "--epochs", "8",
                         "--val-split", "0.2", "--checkpoint", ckpt, "--json"])
        #expect(r.status != 0, "\(r.out)")
        #expect(r.err.contains("training stopped: the") && r.err.contains("loss became"), "\(r.err)")
        for line in r.out.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not JSON: \(line)")
        }
        if r.err.contains("the last good checkpoint is") {
            let loaded = try Checkpoint.load(ckpt)
            let finite = loaded.model.parameters.values.scalars.allSatisfy { $0.isFinite }
            #expect(finite)
        }
    }
}
