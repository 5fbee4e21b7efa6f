// Importing a PyTorch state_dict: weights trained elsewhere loaded into a Neurite model.

extension Checkpoint {
    /// What `importStateDict` took from a file.
    public struct StateDictImport: Sendable, Equatable {
        /// Tensors copied into the model (parameters and buffers).
        public var tensorCount: Int
        /// The prefix the file's names carried and the model's did not ("model.", "module." or "").
        public var prefix: String
        /// The element types the file stored them in, each converted to float32.
        public var dtypes: [SafeTensors.DType]
        /// Training-state tensors of a Neurite checkpoint (optimizer, early stopping) not imported.
        public var trainingStateTensors: Int
    }

    /// Mismatches listed by `importStateDict` before "… and N more".
    public static let importProblemsShown = 40

    /// Name prefixes a state_dict may carry in front of `nn.Sequential`'s "<index>.<name>": a module
    /// holding the sequence as `self.model`, and `DataParallel`/`DistributedDataParallel`'s wrapper.
    public static let stateDictPrefixes = ["model.", "module."]

    /// Loads a PyTorch `state_dict` saved with `safetensors.torch.save_file(model.state_dict(), path)`
    /// into `model`: every parameter and buffer of the model must be in the file under its
    /// `nn.Sequential` name ("3.weight", "1.running_mean"), with or without one of
    /// `stateDictPrefixes` on all names, with the model's shape, finite once converted to float32
    /// (F16, BF16, F64 and I64 are converted as `SafeTensors.read` says), and the file must hold
    /// nothing else. All mismatches are reported together — missing tensors, unexpected tensors and
    /// shapes that differ, each by name and shape — and then the model is left untouched.
    ///
    /// A Neurite checkpoint imports too; its training state (optimizer moments, early stopping's
    /// best weights) is left behind, as `trainingStateTensors` counts.
    @discardableResult
    public static func importStateDict(_ path: String, into model: Sequential) throws -> StateDictImport {
        try importStateDict(SafeTensors.read(path), from: path, into: model)
    }

    /// Loads the tensors of `file` (read from `path`, which errors name) into `model`; see
    /// `importStateDict(_:into:)`.
    @discardableResult
    public static func importStateDict(_ file: SafeTensors.File, from path: String, into model: Sequential) throws -> StateDictImport {
        var tensors = file.tensors
        var trainingState = 0
        if file.metadata["format"] == format {
            // Weights only by design: a resumable run needs `Checkpoint.load`, not an import.
            for name in tensors.keys where !name.hasPrefix("model.") {
                tensors[name] = nil
                trainingState += 1
            }
        }
        let prefix = stateDictPrefixes.first { p in !tensors.isEmpty && tensors.keys.allSatisfy { $0.hasPrefix(p) } } ?? ""

        // What the model holds, in its own order, with the layer each belongs to (for the messages).
        var expected: [(name: String, shape: [Int])] = model.parameters.parameters.map { ($0.qualifiedName, $0.shape) }
        expected += model.buffers.map { ($0.name, $0.buffer.value.shape) }
        func layer(of name: String) -> String {
            guard let i = Int(name.prefix { $0 != "." }), model.layers.indices.contains(i) else { return "the model" }
            return "layer \(i) (\(model.layers[i].spec))"
        }
        var problems: [String] = []
        var found: [String: Tensor] = [:]
        for (name, shape) in expected {
            let fileName = prefix + name
            guard let t = tensors[fileName] else {
                problems.append("missing tensor \(fileName) \(shape) for \(layer(of: name))")
                continue
            }
            guard t.shape == shape else {
                let input = name.hasPrefix("0.") ? " (the model's input shape is \(model.inputShape))" : ""
                problems.append("tensor \(fileName) has shape \(t.shape) but \(layer(of: name)) expects \(shape)\(input)")
                continue
            }
            guard t.scalars.allSatisfy({ $0.isFinite }) else {
                let from = file.dtypes[fileName].map { " as float32 (stored as \($0.rawValue))" } ?? ""
                problems.append("tensor \(fileName) holds NaN or infinite values\(from)")
                continue
            }
            found[name] = t
        }
        let known = Set(expected.map { prefix + $0.name })
        for name in tensors.keys.sorted() where !known.contains(name) {
            problems.append("unexpected tensor \(SafeTensors.brief(name)) \(tensors[name]?.shape ?? []): no parameter or buffer of the model has this name")
        }
        guard problems.isEmpty else {
            // All of them, up to a screenful: a wrong architecture for a large model mismatches everywhere.
            let shown = problems.prefix(Self.importProblemsShown) + (problems.count > Self.importProblemsShown ? ["… and \(problems.count - Self.importProblemsShown) more"] : [])
            let names = expected.prefix(Self.importProblemsShown).map(\.name).joined(separator: ", ") + (expected.count > Self.importProblemsShown ? ", …" : "")
            throw CheckpointError(path: path, "the state dict does not fit the model (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n  "
                + shown.joined(separator: "\n  ") + "\n  the model's tensors: \(names)")
        }

        let arena = model.parameters.mutableView
        for p in model.parameters.parameters {
            if let t = found[p.qualifiedName] { model.parameters.write(t, to: p, in: arena) }
        }
        for (name, b) in model.buffers {
            if let t = found[name] { b.value = t }
        }
        let dtypes = Set(known.compactMap { file.dtypes[$0] })
        return StateDictImport(tensorCount: found.count, prefix: prefix,
                               dtypes: SafeTensors.DType.allCases.filter { dtypes.contains($0) }, trainingStateTensors: trainingState)
    }
}
