// Sequential: layers applied one after another; backpropagation runs them in reverse.

import Foundation

/// A feed-forward network: h₀ = x, hₖ = layerₖ(hₖ₋₁), output = h_L.
///
/// Shapes are checked when the model is built: each layer's output shape is computed from the
/// previous one, and a layer that does not fit throws a `ShapeError` naming it and both shapes. The
/// parameters live in one `ParameterArena`. Inference (`model(x)`, `predict`, `evaluate`) changes
/// nothing and may run from several threads at once; a training step keeps its working memory in a
/// `TrainingContext`. (Sendable for inference from several threads; an optimizer step writes the
/// parameters, so do not run inference concurrently with one.)
public final class Sequential: @unchecked Sendable {
    /// Shape of one example (without the batch dimension), e.g. [784] or [1, 28, 28].
    public let inputShape: [Int]
    /// The layers, first to last.
    public let layers: [any Layer]
    /// Output shape of each layer (without the batch dimension).
    public let outputShapes: [[Int]]
    /// Every trainable parameter, in one buffer.
    public let parameters: ParameterArena
    /// Seed of the training steps' random streams (dropout masks); checkpoints keep it.
    public var seed: UInt64
    /// For each layer i, the layer itself when it runs with the ReLU at i + 1 as one forward step
    /// (the ReLU in its product's epilogue), else nil.
    private(set) var forwardThroughReLU: [(any FusesFollowingReLU)?] = []
    /// For each layer i, the layer itself when it runs with the backward of the ReLU at i − 1 — or
    /// of the dropout at i − 1 and the ReLU at i − 2 — as one backward step (in its input
    /// gradient's epilogue), else nil.
    private(set) var backwardThroughReLU: [(any FusesPrecedingReLUBackward)?] = []
    /// For each layer i fused backward, how many layers before it its step covers (1 or 2).
    private(set) var backwardFusedSpan: [Int] = []
    /// Whether neighbouring ReLUs run inside other layers' steps (on by default; off only to check
    /// that the fused steps give the separate layers' bits).
    var fusesReLU = true {
        didSet { (forwardThroughReLU, backwardThroughReLU, backwardFusedSpan) = Sequential.reluFusions(layers, enabled: fusesReLU) }
    }

    /// A model of `layers` over examples of `inputShape`, keeping the layers' current weights.
    /// Throws `ShapeError` (naming the layer's index) when a layer does not fit its input, and
    /// `ModelError` when a layer already belongs to another model.
    public init(inputShape: [Int], layers: [any Layer], seed: UInt64 = 0) throws {
        guard !inputShape.isEmpty, inputShape.count <= ModelLimits.maxRank, checkedElementCount(inputShape) != nil else {
            throw ModelError("input shape \(inputShape) must have 1 to \(ModelLimits.maxRank) extents in 1...\(ModelLimits.maxExtent)")
        }
        guard !layers.isEmpty, layers.count <= ModelLimits.maxLayers else {
            throw ModelError("a model needs 1 to \(ModelLimits.maxLayers) layers, got \(layers.count)")
        }
        self.inputShape = inputShape
        self.layers = layers
        self.seed = seed
        var shape = inputShape
        var shapes: [[Int]] = []
        for (i, layer) in layers.enumerated() {
            do {
                shape = try layer.outputShape(for: shape)
            } catch let e as ShapeError {
                throw ShapeError(layer: "#\(i + 1) \(e.layer)", expected: e.expected, found: e.found)
            }
            guard checkedElementCount(shape) != nil else {
                throw ModelError("layer #\(i + 1) \(layer.name) outputs shape \(shape), outside the limits")
            }
            shapes.append(shape)
        }
        outputShapes = shapes
        parameters = try ParameterArena(layers: layers)
        (forwardThroughReLU, backwardThroughReLU, backwardFusedSpan) = Sequential.reluFusions(layers, enabled: true)
    }

    /// Which layers take a neighbouring ReLU into their own steps (see `FusesFollowingReLU` and
    /// `FusesPrecedingReLUBackward`): one fewer pass over the activations each way, and no pass that
    /// runs on one thread between two products that run on all of them.
    static func reluFusions(_ layers: [any Layer], enabled: Bool)
        -> ([(any FusesFollowingReLU)?], [(any FusesPrecedingReLUBackward)?], [Int]) {
        let isReLU = layers.map { enabled && $0 is ReLU }
        var forward: [(any FusesFollowingReLU)?] = [], backward: [(any FusesPrecedingReLUBackward)?] = []
        var span: [Int] = []
        for (i, layer) in layers.enumerated() {
            forward.append(i + 1 < layers.count && isReLU[i + 1] ? layer as? any FusesFollowingReLU : nil)
            let fusing = layer as? any FusesPrecedingReLUBackward
            if i > 0, isReLU[i - 1], let fusing {
                backward.append(fusing)
                span.append(1)
            } else if i > 1, isReLU[i - 2], layers[i - 1] is Dropout, let fusing, fusing.fusesDropoutBetween {
                backward.append(fusing)
                span.append(2)
            } else {
                backward.append(nil)
                span.append(0)
            }
        }
        return (forward, backward, span)
    }

    /// For each layer, the layer whose forward time includes its own (a fused ReLU's), else nil.
    var forwardFusedInto: [Int?] {
        layers.indices.map { i in i > 0 && forwardThroughReLU[i - 1] != nil ? i - 1 : nil }
    }
    /// For each layer, the layer whose backward time includes its own (a fused ReLU's or
    /// dropout's), else nil.
    var backwardFusedInto: [Int?] {
        var into = [Int?](repeating: nil, count: layers.count)
        for i in layers.indices where backwardFusedSpan[i] > 0 {
            for j in (i - backwardFusedSpan[i])..<i { into[j] = i }
            if let conv = convolutionTakingScatter(i) { into[conv] = i }
        }
        return into
    }

    /// Where layer i is a max pooling whose backward takes the ReLU's (and a dropout's) before it,
    /// and the layer before those is the model's first, a convolution: that convolution's index.
    /// When its step needs no input gradient (training), `backward` hands the gated pooled
    /// gradient straight to its filter gradient, which has the pooling's backward route it image by
    /// image (`Conv2D.backwardFilterThroughMaxPool`) instead of the 1.2 MB dy of LeNet-5's conv1
    /// being written whole and read back. Not behind a dropout with overlapping windows, whose scale
    /// must follow the scatter.
    func convolutionTakingScatter(_ i: Int) -> Int? {
        guard let pool = backwardThroughReLU[i] as? MaxPool2D, i - backwardFusedSpan[i] == 1, layers[0] is Conv2D else { return nil }
        return backwardFusedSpan[i] == 1 || pool.windowsApart ? 0 : nil
    }

    /// The model described by the layer list `spec` (e.g. "dense:256,relu,dense:10"; see
    /// `LayerRegistry`) over examples of `inputShape`, initialised from `seed` (see `initialize`).
    public convenience init(_ spec: String, inputShape: [Int], seed: UInt64 = 0, initializer: Initializer? = nil) throws {
        try self.init(inputShape: inputShape, layers: try Sequential.layers(spec, inputShape: inputShape), seed: seed)
        initialize(initializer, seed: seed)
    }

    /// The layers of the layer list `spec` for examples of `inputShape` (each layer's input sizes
    /// come from the previous layer's output shape). Parameters are zero until initialised.
    public static func layers(_ spec: String, inputShape: [Int]) throws -> [any Layer] {
        let items = spec.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
        guard items.count <= ModelLimits.maxLayers else { throw ModelError("a model has at most \(ModelLimits.maxLayers) layers") }
        // Checked before any layer allocates its weights from these extents.
        guard !inputShape.isEmpty, inputShape.count <= ModelLimits.maxRank, checkedElementCount(inputShape) != nil else {
            throw ModelError("input shape \(inputShape) must have 1 to \(ModelLimits.maxRank) extents in 1...\(ModelLimits.maxExtent)")
        }
        var shape = inputShape
        var layers: [any Layer] = []
        var parameterTotal = 0
        for (i, item) in items.enumerated() {
            do {
                let layer = try LayerRegistry.makeLayer(item, inputShape: shape)
                shape = try layer.outputShape(for: shape)
                guard checkedElementCount(shape) != nil else {
                    throw ModelError("layer #\(i + 1) '\(item)' outputs shape \(shape), outside the limits")
                }
                parameterTotal += layer.parameterCount
                guard parameterTotal <= ModelLimits.maxParameters else {
                    throw ModelError("the layers up to #\(i + 1) '\(item)' hold \(parameterTotal) parameters, over ModelLimits.maxParameters (\(ModelLimits.maxParameters))")
                }
                layers.append(layer)
            } catch let e as ShapeError {
                throw ShapeError(layer: "#\(i + 1) \(e.layer)", expected: e.expected, found: e.found)
            }
        }
        return layers
    }

    /// Draws every parameter again from `seed`: each layer with weights uses `initializer`, or by
    /// default He uniform when the next activation is of the ReLU family and Glorot uniform
    /// otherwise (layers that say `.transparent`, such as dropout and batch normalisation, are
    /// looked through). Biases start at zero (`.pytorchDefault` draws them as PyTorch does).
    public func initialize(_ initializer: Initializer? = nil, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        for (i, layer) in layers.enumerated() {
            var chosen = initializer
            if chosen == nil, !layer.parameters.isEmpty {
                chosen = .glorotUniform
                search: for next in layers[(i + 1)...] {
                    switch next.initializationHint {
                    case .transparent: continue
                    case let .prefers(x): chosen = x; break search
                    case .none: break search
                    }
                }
            }
            layer.initialize(chosen, using: &g)
        }
    }

    /// The layer list that rebuilds this model (`Sequential(spec, inputShape:)`).
    public var spec: String { layers.map(\.spec).joined(separator: ",") }
    /// Input shape and layer list: what a checkpoint stores of the model.
    public var architecture: Architecture { Architecture(inputShape: inputShape, layers: layers.map(\.spec)) }
    /// Output shape of one example.
    public var outputShape: [Int] { outputShapes.last ?? inputShape }
    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.scalarCount }
    /// Every state buffer with its qualified name ("3.running_mean").
    public var buffers: [(name: String, buffer: Buffer)] {
        layers.enumerated().flatMap { i, l in l.buffers.map { ("\(i).\($0.name)", $0) } }
    }

    /// `input` as [B] + inputShape (a flat [B, n] of the same size is reshaped).
    private func batch(_ input: Tensor) -> Tensor {
        let example = Array(input.shape.dropFirst())
        if example == inputShape { return input }
        precondition(input.rank == 2 && input.rowWidth == inputShape.reduce(1, *),
                     "model expects inputs of shape [batch] + \(inputShape) but got \(input.shape)")
        return input.reshaped([input.rowCount] + inputShape)
    }

    /// Inference on a batch [B] + inputShape: dropout off, batch normalisation on running statistics.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        var h = batch(input)
        var i = 0
        while i < layers.count {
            if let layer = forwardThroughReLU[i] {
                h = layer.forwardThroughReLU(h, step: nil, reluStep: nil)
                i += 2
            } else {
                h = layers[i].forward(h, step: nil)
                i += 1
            }
        }
        return h
    }

    /// A new context for training steps on this model (its gradient arena and per-layer memory).
    public func makeTrainingContext() -> TrainingContext { TrainingContext(model: self) }

    /// The training forward pass of one step: keeps what backward needs in `context`.
    /// `beforeLayer(i)` runs before layer i's forward (the trainer starts the next batch's gather
    /// before the last layer, whose forward and the loss are serial).
    public func forward(_ input: Tensor, context: TrainingContext, beforeLayer: ((Int) -> Void)? = nil) -> Tensor {
        precondition(context.model === self, "a training context belongs to the model that made it")
        context.beginStep()
        var h = batch(input)
        let steps = context.layerSteps, profile = context.profile
        var i = 0
        while i < layers.count {
            beforeLayer?(i)
            let start = profile == nil ? 0 : StepProfile.now()
            if let layer = forwardThroughReLU[i] {
                h = layer.forwardThroughReLU(h, step: steps[i], reluStep: steps[i + 1])
                profile?.addForward(i, since: start)
                i += 2
            } else {
                h = layers[i].forward(h, step: steps[i])
                profile?.addForward(i, since: start)
                i += 1
            }
        }
        return h
    }

    /// Backpropagation: given ∇output E for the context's last forward, runs every layer's backward
    /// from last to first, writing the parameter gradients into `context.gradients`. Returns
    /// ∇input E when the context asks for it (see `TrainingContext.needsInputGradient`), else an
    /// empty tensor.
    /// `layerDone(i)` runs after layer i's backward: its parameter gradients are final from then on
    /// (data-parallel training starts summing them over ranks there).
    @discardableResult
    public func backward(_ outputGradient: Tensor, context: TrainingContext, layerDone: ((Int) -> Void)? = nil) -> Tensor {
        var g = outputGradient
        let steps = context.layerSteps, profile = context.profile
        var i = layers.count - 1
        while i >= 0 {
            let start = profile == nil ? 0 : StepProfile.now()
            if let layer = backwardThroughReLU[i] {
                let span = backwardFusedSpan[i], relu = i - span
                // With a dropout between (span 2), its mask; nil when it dropped nothing (rate 0).
                let mask = span == 2 ? steps[i - 1].dropoutMask : nil
                // The first layer, a convolution, taking the pooling's scatter (convolutionTakingScatter).
                if let c = convolutionTakingScatter(i), !steps[c].needsInputGradient, let pool = layer as? MaxPool2D,
                   let conv = layers[c] as? Conv2D {
                    conv.backwardFilterThroughMaxPool(pool.gatedGradient(g, step: steps[i], dropout: mask),
                                                      argmax: steps[i].indices, window: pool.window, step: steps[c])
                    profile?.addBackward(i, since: start)
                    for done in stride(from: i, through: c, by: -1) { layerDone?(done) }
                    return Tensor(shape: [0])
                }
                g = layer.backwardThroughReLU(g, step: steps[i], dropout: mask,
                                              reluOutput: steps[relu].savedTensor(0, layers[relu].name))
                profile?.addBackward(i, since: start)
                for done in stride(from: i, through: relu, by: -1) { layerDone?(done) }
                i -= span + 1
            } else {
                g = layers[i].backward(g, step: steps[i])
                profile?.addBackward(i, since: start)
                layerDone?(i)
                i -= 1
            }
        }
        return g
    }

    /// Applies what the context's last step changes in the layers' state (running statistics).
    public func commit(_ context: TrainingContext) {
        for (layer, step) in zip(layers, context.layerSteps) { layer.commit(step) }
    }

    /// Inference over any number of examples, `batchSize` at a time.
    public func predict(_ inputs: Tensor, batchSize: Int = 256) -> Tensor {
        let n = inputs.rowCount, size = max(batchSize, 1)
        if n <= size { return self(inputs) }
        var out = Tensor(uninitializedShape: [n] + outputShape)
        let w = out.rowWidth
        var start = 0
        while start < n {
            let end = min(start + size, n)
            let y = self(inputs.rows(start..<end))
            out.withUnsafeMutableBufferPointer { o in
                y.withUnsafeBufferPointer { (o.baseAddress! + start * w).update(from: $0.baseAddress!, count: $0.count) }
            }
            start = end
        }
        return out
    }

    /// Loss and (for classification) accuracy on `data`, `batchSize` examples at a time. `loss`
    /// defaults to softmax cross-entropy for classes (binary cross-entropy for one output) and mean
    /// squared error for targets.
    public func evaluate(_ data: Dataset, loss: (any Loss)? = nil, batchSize: Int = 500) -> Evaluation {
        let loss = loss ?? Sequential.defaultLoss(for: data, outputs: outputShape.reduce(1, *))
        var lossSum: Double = 0
        var predictions: [Int] = []
        predictions.reserveCapacity(data.count)
        var start = 0
        let size = max(batchSize, 1)
        while start < data.count {
            let end = min(start + size, data.count)
            let y = self(data.inputs.rows(start..<end))
            lossSum += Double(loss.value(output: y, target: data.target(start..<end))) * Double(end - start)
            if data.isClassification { predictions += Sequential.classDecisions(y) }
            start = end
        }
        var accuracy: Float?
        if data.isClassification {
            let right = zip(predictions, data.labels).filter { $0 == $1 }.count
            accuracy = Float(right) / Float(max(data.count, 1))
        }
        return Evaluation(loss: Float(lossSum / Double(max(data.count, 1))), accuracy: accuracy, predictions: predictions)
    }

    /// The usual loss for `data` on a model with `outputs` outputs.
    public static func defaultLoss(for data: Dataset, outputs: Int) -> any Loss {
        if !data.isClassification { return MeanSquaredError() }
        return outputs == 1 ? BinaryCrossEntropy() : SoftmaxCrossEntropy()
    }

    /// Class decisions for a batch of outputs: argmax for several outputs, logit > 0 for one.
    public static func classDecisions(_ output: Tensor) -> [Int] {
        if output.rowWidth == 1 { return output.scalars.map { $0 > 0 ? 1 : 0 } }
        return output.reshaped([output.rowCount, output.rowWidth]).argmax()
    }

    /// A Keras-style table: layer, output shape, parameter count, the totals, and the layer list
    /// that rebuilds the model.
    public func summary() -> String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
        let rule = String(repeating: "─", count: 72)
        var lines = [pad("Layer", 34) + pad("Output shape", 22) + "Parameters", rule]
        lines.append(pad("Input", 34) + pad("\(inputShape)", 22) + "0")
        for (layer, shape) in zip(layers, outputShapes) {
            lines.append(pad(layer.name, 34) + pad("\(shape)", 22) + "\(layer.parameterCount)")
        }
        lines.append(rule)
        let total = parameterCount
        lines.append("Total parameters: \(total) (\(String(format: "%.2f", Double(total * 4) / 1_048_576)) MiB as float32)")
        lines.append("Layer list: \(spec)")
        return lines.joined(separator: "\n")
    }
}

/// A layer whose forward can apply the ReLU right after it itself (Dense: in its GEMM's epilogue;
/// Conv2D: per image, by the thread that computed it). `Sequential` then runs the pair as one step,
/// with the separate layers' results bit for bit.
protocol FusesFollowingReLU: Layer {
    /// This layer's forward, then ReLU: keeps what this layer's backward needs in `step` and the
    /// ReLU's output (all its backward needs) in `reluStep`.
    func forwardThroughReLU(_ input: Tensor, step: LayerStep?, reluStep: LayerStep?) -> Tensor
}

/// A layer whose backward can apply the backward of the ReLU right before it itself (Dense: the
/// gate in its input-gradient GEMM's epilogue; MaxPool2D: on the pooled gradient, before the
/// scatter), and, where `fusesDropoutBetween`, of a dropout between the two (Dense: its mask in the
/// same epilogue). `Sequential` then runs them as one step, with the separate layers' results bit
/// for bit.
protocol FusesPrecedingReLUBackward: Layer {
    /// Whether the ReLU may be one layer further back, behind a dropout layer.
    var fusesDropoutBetween: Bool { get }
    /// This layer's backward, then the backward of the dropout before it (its mask, when there is
    /// one), then of the ReLU before that, whose output was `h`.
    func backwardThroughReLU(_ delta: Tensor, step: LayerStep, dropout: DropoutMask?, reluOutput h: Tensor) -> Tensor
}

/// Result of evaluating a model on a data set.
public struct Evaluation: Sendable {
    /// Mean loss per example.
    public var loss: Float
    /// Fraction correct (classification only).
    public var accuracy: Float?
    /// Predicted class per example (classification only).
    public var predictions: [Int]
}

/// The working memory of training steps on one model: a gradient arena with the model's parameter
/// layout and each layer's `LayerStep`. Two contexts let two steps run on one model at once (the
/// caller then combines their gradients); one context runs one step at a time.
public final class TrainingContext {
    /// The model this context trains.
    public let model: Sequential
    /// ∂E/∂θ of the last backward pass, laid out as `model.parameters` (see `ParameterArena`).
    public let gradients: Tensor
    /// Number of the next step: with the model's seed it fixes the random streams (dropout masks).
    /// `Trainer` sets it to the optimizer's step count, so a resumed run draws the same masks.
    public var step = 0
    /// Which random stream of the step this context draws (micro-shards of one step use 0, 1, …):
    /// dropout masks depend on the model's seed, the layer, the step and the stream.
    public var stream: UInt64 = 0
    /// When true, backward adds to the gradients instead of overwriting them (accumulation over
    /// several batches; zero them with `zeroGradients()` first).
    public var accumulatesGradients = false
    /// When set, forward and backward add each layer's time to it.
    public var profile: StepProfile?
    var layerSteps: [LayerStep] = []

    init(model: Sequential) {
        self.model = model
        gradients = model.parameters.makeGradientArena()
        layerSteps = model.layers.indices.map { LayerStep(index: $0, needsInputGradient: $0 > 0, context: self) }
    }

    func beginStep() {
        for s in layerSteps {
            s.saved.removeAll(keepingCapacity: true)
            s.indices = []
            s.shape = []
            s.dropoutMask = nil
            s.randomSeed = stream == 0 ? mixSeeds(model.seed, UInt64(s.index), UInt64(step))
                                       : mixSeeds(model.seed, UInt64(s.index), UInt64(step), stream)
        }
    }

    /// Whether backward computes ∂E/∂input of the model (off by default: nothing needs it in
    /// training, and the first layer saves a GEMM or a convolution without it).
    public var needsInputGradient: Bool {
        get { layerSteps.first?.needsInputGradient ?? false }
        set { layerSteps.first?.needsInputGradient = newValue }
    }

    /// Sets every gradient to zero (before accumulating).
    public func zeroGradients() {
        var g = gradients.sharedView(offset: 0, shape: gradients.shape)
        g.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// A copy of parameter `p`'s gradient.
    public func gradient(of p: Parameter) -> Tensor { model.parameters.slice(p, of: gradients) }
}

/// SplitMix64-style mixing of several words into one seed.
func mixSeeds(_ words: UInt64...) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15
    for w in words {
        var z = h ^ w &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        h = z ^ (z >> 31)
    }
    return h
}
