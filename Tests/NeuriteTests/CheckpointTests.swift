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

private func makeTrainer(_ optimizer: any Optimizer, batchNorm: Bool = false) throws -> Trainer {
    let spec = batchNorm ? "dense:16,batchnorm,relu,dropout:0.3,dense:3" : "dense:16,relu,dropout:0.3,dense:3"
    let model = try Sequential(spec, inputShape: [12], seed: 5)
    return Trainer(model: model, loss: SoftmaxCrossEntropy(), optimizer: optimizer, seed: 9)
}

private func bits(_ t: Trainer) -> [UInt32] { t.model.parameters.values.scalars.map(\.bitPattern) }

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

    @Test(arguments: ["sgd-momentum", "adam", "adamw-batchnorm", "early-stopping", "clip-warmup-plateau-shards"])
    func resumingFromTheCheckpointAloneIsBitwiseExact(_ kind: String) throws {
        let data = smallProblem()
        let parts = try data.splittingValidation(fraction: 0.2, seed: 1, stratified: true)
        func optimizer() -> any Optimizer {
            switch kind {
            case "adam": return Adam(learningRate: 0.01)
            case "adamw-batchnorm": return Adam(learningRate: 0.01, weightDecay: 0.05, decoupled: true)
            default: return SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-3)
            }
        }
        func trainer() throws -> Trainer {
            let t = try makeTrainer(optimizer(), batchNorm: kind == "adamw-batchnorm")
            t.schedule = .cosine(epochs: 4, minimum: 1e-3)
            if kind == "early-stopping" { t.earlyStopping = EarlyStopping(metric: .validationLoss, patience: 10) }
            if kind.hasPrefix("clip") {
                t.gradientClipNorm = 0.5
                t.warmupSteps = 7
                t.reduceOnPlateau = try ReduceOnPlateau(metric: .trainLoss, factor: 0.5, patience: 0, minDelta: 10)
                t.microShards = 3
            }
            return t
        }
        let straight = try trainer()
        _ = try straight.fit(parts.train, validation: parts.validation, epochs: 4, batchSize: 32)

        // Interrupted at the end of epoch 2 (as Ctrl-C would: no end-of-training restore).
        final class StopAfterEpoch2: TrainingCallback {
            func trainerDidFinishBatch(_ trainer: Trainer, epoch: Int, batch: Int, batches: Int, loss: Float) {
                if epoch == 2 && batch == batches { trainer.requestStop() }
            }
        }
        let path = tempPath("resume.safetensors")
        let first = try trainer()
        _ = try first.fit(parts.train, validation: parts.validation, epochs: 4, batchSize: 32, callbacks: [StopAfterEpoch2()])
        try Checkpoint.save(first, to: path)
        let resumed = try Checkpoint.load(path).makeTrainer()
        #expect(resumed.completedEpochs == 2 && resumed.batchSize == 32 && resumed.schedule == first.schedule && resumed.targetEpochs == 4)
        var base = first.optimizer.configuration
        base.learningRate = first.baseLearningRate
        #expect(resumed.optimizer.configuration == base)
        _ = try resumed.fit(parts.train, validation: parts.validation, epochs: 2, batchSize: resumed.batchSize)
        #expect(bits(straight) == bits(resumed))
        for ((_, a), (_, b)) in zip(straight.model.buffers, resumed.model.buffers) { #expect(a.value == b.value) }
        if kind == "early-stopping" { #expect(straight.earlyStopping!.state == resumed.earlyStopping!.state) }
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
        try Checkpoint.save(first, to: path)
        let resumed = try Checkpoint.load(path).makeTrainer()
        _ = try resumed.fit(data, epochs: 3 - resumed.completedEpochs, batchSize: 32)
        #expect(resumed.completedEpochs == 3)
        #expect(bits(straight) == bits(resumed))
    }

    @Test func loadRebuildsTheModelAndItsData() throws {
        let t = try makeTrainer(SGD(learningRate: 0.1))
        t.data = DataDescription(source: "csv:x.csv")
        t.data.classNames = ["a", "b", "c"]
        _ = try t.fit(smallProblem(), epochs: 1, batchSize: 50)
        let path = tempPath("m.safetensors")
        try Checkpoint.save(t, to: path)
        let loaded = try Checkpoint.load(path)
        #expect(loaded.task.classCount == 3 && loaded.training?.epoch == 1 && loaded.data == t.data)
        #expect(loaded.model.spec == "dense:16,relu,dropout:0.3,dense:3")
        let x = smallProblem().inputs
        #expect(loaded.model.predict(x) == t.model.predict(x))
        // PyTorch's state_dict names.
        #expect(Set(try SafeTensors.read(path).tensors.keys.filter { $0.hasPrefix("model.") })
                == ["model.0.weight", "model.0.bias", "model.3.weight", "model.3.bias"])
    }

    @Test func craftedArchitecturesAndTensorsAreRefused() throws {
        let t = try makeTrainer(SGD(learningRate: 0.1, momentum: 0.9))
        _ = try t.fit(smallProblem(), epochs: 1, batchSize: 50)
        let path = tempPath("c.safetensors")
        try Checkpoint.save(t, to: path)
        let file = try SafeTensors.read(path)
        func variant(_ name: String, metadata: [String: String] = [:], tensors: [String: Tensor?] = [:]) throws -> String {
            var m = file.metadata, ts = file.tensors
            for (k, v) in metadata { m[k] = v }
            for (k, v) in tensors { ts[k] = v }
            let p = tempPath(name)
            try SafeTensors.write(ts, metadata: m, to: p)
            return p
        }
        let arch = { (layers: String) in #"{"input_shape":[12],"layers":[\#(layers)]}"# }
        let cases: [(String, String)] = [
            (try variant("zero.st", metadata: ["architecture": arch(#""dense:0""#)]), "units"),
            (try variant("huge.st", metadata: ["architecture": arch(#""dense:1099511627776""#)]), "units"),
            (try variant("nan.st", metadata: ["architecture": arch(#""dense:nan""#)]), "units"),
            (try variant("rate.st", metadata: ["architecture": arch(#""dense:16","relu","dropout:1.5","dense:3""#)]), "rate"),
            (try variant("pool.st", metadata: ["architecture": #"{"input_shape":[1,4,4],"layers":["maxpool:0"]}"#]), "window"),
            (try variant("none.st", metadata: ["architecture": arch("")]), "1 or more layers"),
            (try variant("unknown.st", metadata: ["architecture": arch(#""warp:3""#)]), "unknown layer"),
            (try variant("classes.st", metadata: ["task": #"{"loss":"mse","class_count":1000000000000}"#]), "class count"),
            (try variant("shape.st", tensors: ["model.0.weight": Tensor(shape: [16, 11], repeating: 0)]), "shape"),
            (try variant("missing.st", tensors: ["model.3.bias": nil]), "missing"),
            (try variant("extra.st", tensors: ["model.7.weight": Tensor([1])]), "belongs to no layer"),
            (try variant("inf.st", tensors: ["model.0.bias": Tensor(shape: [16], repeating: .infinity)]), "NaN or infinite"),
            (try variant("format.st", metadata: ["format": "other"]), "not a Neurite checkpoint"),
        ]
        for (p, expected) in cases {
            #expect(throws: CheckpointError.self, "\(p)") { try Checkpoint.load(p) }
            do { _ = try Checkpoint.load(p) } catch { #expect("\(error)".contains(expected), "\(p): \(error)") }
        }
        // Training state that does not fit.
        let training = file.metadata["training"]!
        let bad = try variant("state.st", metadata: ["training": training.replacingOccurrences(of: #""batch_size":50"#, with: #""batch_size":-3"#)])
        #expect(throws: CheckpointError.self) { try Checkpoint.load(bad).makeTrainer() }
        let renamed = try variant("state2.st", tensors: ["optimizer.velocity.0.weight": nil])
        #expect(throws: (any Error).self) { try Checkpoint.load(renamed).makeTrainer() }
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
            ("unsupported dtype", header(#"{"w":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"#)),
            ("trailing bytes", good + [0]),
            ("shape/size mismatch", header(#"{"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}}"#)),
            ("offsets out of bounds", header(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#)),
            ("overlap", header(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#)),
            ("negative shape", header(#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#)),
            ("giant shape", header(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#)),
        ]
        for (name, bytes) in cases {
            #expect(throws: CheckpointError.self, "\(name)") { try SafeTensors.decode(bytes, path: "x.safetensors") }
        }
        #expect(throws: CheckpointError.self) { try Checkpoint.load(tempPath("missing.safetensors")) }
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
