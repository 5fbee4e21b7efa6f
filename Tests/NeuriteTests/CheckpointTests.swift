import Testing
import Foundation
import Neurite

private func tempPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neurite-ckpt-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

private func smallProblem() -> Dataset {
    var g = SeededGenerator(seed: 3)
    let x = Tensor(randomNormal: [200, 12], using: &g)
    let labels = (0..<200).map { i in (x[i, 0] + x[i, 1] > 0 ? 1 : 0) + (x[i, 2] > 0.5 ? 1 : 0) }
    return Dataset(inputs: x, labels: labels, classCount: 3)
}

private func makeTrainer(_ optimizer: Optimizer) throws -> Trainer {
    let model = try Sequential(inputShape: [12], specs: [.dense(inputs: 12, outputs: 16), .relu, .dropout(rate: 0.3),
                                                         .dense(inputs: 16, outputs: 3)], seed: 5)
    return Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: optimizer, seed: 9)
}

@Suite struct CheckpointTests {
    @Test func safetensorsRoundTrip() throws {
        let path = tempPath("t.safetensors")
        let a = Tensor(shape: [2, 3], scalars: [1, -2, 3.5, 0, .infinity, -0.0])
        let b = Tensor(shape: [0], scalars: [])
        try SafeTensors.write(["a": a, "b": b, "c": Tensor(scalar: 7)], metadata: ["k": "v"], to: path)
        let f = try SafeTensors.read(path)
        #expect(f.tensors["a"]!.scalars.map(\.bitPattern) == a.scalars.map(\.bitPattern))
        #expect(f.tensors["b"]!.shape == [0])
        #expect(f.tensors["c"]!.shape == [] && f.tensors["c"]!.scalar == 7)
        #expect(f.metadata == ["k": "v"])
    }

    @Test(arguments: ["sgd-momentum", "adam"])
    func resumingGivesBitwiseTheSameWeightsAsAnUninterruptedRun(_ kind: String) throws {
        let data = smallProblem()
        func optimizer() -> Optimizer { kind == "adam" ? Adam(learningRate: 0.01) : SGD(learningRate: 0.05, momentum: 0.9) }
        let straight = try makeTrainer(optimizer())
        _ = try straight.fit(data, epochs: 4, batchSize: 32)

        let path = tempPath("resume.safetensors")
        let first = try makeTrainer(optimizer())
        _ = try first.fit(data, epochs: 2, batchSize: 32)
        try Checkpoint.save(first, classCount: 3, seed: 9, to: path)
        let resumed = try makeTrainer(optimizer())
        try Checkpoint.restore(resumed, from: path)
        #expect(resumed.completedEpochs == 2)
        _ = try resumed.fit(data, epochs: 2, batchSize: 32)
        for (p, q) in zip(straight.model.parameters, resumed.model.parameters) {
            #expect(p.value.scalars.map(\.bitPattern) == q.value.scalars.map(\.bitPattern))
        }
    }

    /// Interrupted in the middle of an epoch (as on Ctrl-C), checkpointed and resumed: the final
    /// weights equal an uninterrupted run's bit for bit.
    @Test func resumingMidEpochIsExact() throws {
        final class StopAt: TrainingCallback {
            let epoch: Int, batch: Int
            init(epoch: Int, batch: Int) { self.epoch = epoch; self.batch = batch }
            func trainerDidFinishBatch(_ trainer: Trainer, epoch: Int, batch: Int, batches: Int, loss: Float) {
                if epoch == self.epoch && batch == self.batch { trainer.requestStop() }
            }
        }
        let data = smallProblem()
        let straight = try makeTrainer(SGD(learningRate: 0.05, momentum: 0.9))
        _ = try straight.fit(data, epochs: 3, batchSize: 32)

        let first = try makeTrainer(SGD(learningRate: 0.05, momentum: 0.9))
        let h = try first.fit(data, epochs: 3, batchSize: 32, callbacks: [StopAt(epoch: 2, batch: 3)])
        #expect(h.interrupted && first.completedEpochs == 1)
        let path = tempPath("mid.safetensors")
        try Checkpoint.save(first, classCount: 3, seed: 9, to: path)
        let resumed = try makeTrainer(SGD(learningRate: 0.05, momentum: 0.9))
        try Checkpoint.restore(resumed, from: path)
        _ = try resumed.fit(data, epochs: 3 - resumed.completedEpochs, batchSize: 32)
        #expect(resumed.completedEpochs == 3)
        for (p, q) in zip(straight.model.parameters, resumed.model.parameters) {
            #expect(p.value.scalars.map(\.bitPattern) == q.value.scalars.map(\.bitPattern))
        }
    }

    @Test func loadModelRebuildsTheArchitecture() throws {
        let t = try makeTrainer(SGD(learningRate: 0.1))
        _ = try t.fit(smallProblem(), epochs: 1, batchSize: 50)
        let path = tempPath("m.safetensors")
        try Checkpoint.save(t, classCount: 3, seed: 1, to: path)
        let (model, loaded) = try Checkpoint.loadModel(path)
        #expect(loaded.architecture.classCount == 3 && loaded.epoch == 1)
        let x = smallProblem().inputs
        #expect(model.predict(x) == t.model.predict(x))
        // A checkpoint of another architecture is refused with a clear error.
        let other = try Sequential(inputShape: [12], specs: [.dense(inputs: 12, outputs: 3)], seed: 1)
        #expect(throws: CheckpointError.self) { try Checkpoint.loadWeights(loaded, into: other, path: path) }
    }

    /// Corrupt, truncated and malicious files all throw (never crash, never read out of bounds).
    @Test func badFilesThrowNamingTheProblem() throws {
        let good = try SafeTensors.encode(["w": Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])], metadata: [:])
        func header(_ json: String, data: Int = 16) -> [UInt8] {
            var b = [UInt8]()
            withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { b += $0 }
            return b + Array(json.utf8) + [UInt8](repeating: 0, count: data)
        }
        var huge = good
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        let cases: [(String, [UInt8])] = [
            ("empty", []),
            ("truncated data", Array(good.dropLast(4))),
            ("huge header length", huge),
            ("not json", header("{nope")),
            ("wrong dtype", header(#"{"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}"#)),
            ("shape/size mismatch", header(#"{"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}}"#)),
            ("offsets out of bounds", header(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#)),
            ("overlap", header(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#)),
            ("negative shape", header(#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#)),
            ("giant shape", header(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#)),
        ]
        for (name, bytes) in cases {
            #expect(throws: CheckpointError.self, "\(name)") { try SafeTensors.decode(bytes, path: "x.safetensors") }
        }
        #expect(throws: CheckpointError.self) { try Checkpoint.read(tempPath("missing.safetensors")) }
    }

    @Test func aFailedWriteLeavesTheOldFile() throws {
        let path = tempPath("keep.safetensors")
        try SafeTensors.write(["a": Tensor([1, 2])], metadata: [:], to: path)
        // A directory that does not exist: the write must fail and nothing half-written appears.
        #expect(throws: CheckpointError.self) {
            try SafeTensors.write(["a": Tensor([3])], metadata: [:], to: "/nonexistent-dir-neurite/x.safetensors")
        }
        #expect(try SafeTensors.read(path).tensors["a"]!.scalars == [1, 2])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
        #expect(leftovers == ["keep.safetensors"])
    }

    static let pythonHasSafetensors: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import safetensors.numpy"]
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        do { try p.run(); p.waitUntilExit(); return p.terminationStatus == 0 } catch { return false }
    }()

    /// Interoperability with Python's `safetensors` package, both ways.
    @Test(.enabled(if: pythonHasSafetensors, "Python's safetensors package is not installed (pip install safetensors numpy)"))
    func pythonSafetensorsReadsOurFilesAndWeReadTheirs() throws {
        let ours = tempPath("ours.safetensors"), theirs = tempPath("theirs.safetensors")
        try SafeTensors.write(["w": Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6.5])], metadata: ["m": "x"], to: ours)
        let script = """
        import sys, numpy as np
        from safetensors.numpy import load_file, save_file
        from safetensors import safe_open
        t = load_file(sys.argv[1])
        assert t["w"].shape == (2, 3) and t["w"].dtype == np.float32 and float(t["w"][1, 2]) == 6.5, t
        with safe_open(sys.argv[1], "np") as f: assert f.metadata() == {"m": "x"}
        save_file({"a": np.arange(6, dtype=np.float32).reshape(3, 2), "b": np.array([-1.5], dtype=np.float32)}, sys.argv[2], metadata={"from": "python"})
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, ours, theirs]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let f = try SafeTensors.read(theirs)
        #expect(f.tensors["a"]!.shape == [3, 2] && f.tensors["a"]!.scalars == [0, 1, 2, 3, 4, 5])
        #expect(f.tensors["b"]!.scalars == [-1.5] && f.metadata["from"] == "python")
    }
}
