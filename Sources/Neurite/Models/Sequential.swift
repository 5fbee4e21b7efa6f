// Sequential: layers applied one after another; backpropagation runs them in reverse.

import Foundation

/// A feed-forward network: h₀ = x, hₖ = layerₖ(hₖ₋₁), output = h_L.
///
/// Shapes are checked when the model is built: each layer's output shape is computed from the
/// previous one, and a layer that does not fit throws a `ShapeError` naming it and both shapes.
public final class Sequential {
    /// Shape of one example (without the batch dimension), e.g. [784] or [1, 28, 28].
    public let inputShape: [Int]
    /// The layers, first to last.
    public let layers: [Layer]
    /// Output shape of each layer (without the batch dimension).
    public let outputShapes: [[Int]]

    /// A model over examples of `inputShape`. Throws `ShapeError` (naming the layer's index) when
    /// a layer does not fit its input.
    public init(inputShape: [Int], layers: [Layer]) throws {
        self.inputShape = inputShape
        self.layers = layers
        var shape = inputShape
        var shapes: [[Int]] = []
        for (i, layer) in layers.enumerated() {
            do {
                shape = try layer.outputShape(for: shape)
            } catch let e as ShapeError {
                throw ShapeError(layer: "#\(i + 1) \(e.layer)", expected: e.expected, found: e.found)
            }
            shapes.append(shape)
        }
        outputShapes = shapes
        if let first = layers.first { first.needsInputGradient = false }
    }

    /// A model rebuilt from specs, parameters initialised from `seed` (He initialisation before
    /// ReLU-family activations, Glorot otherwise).
    public convenience init(inputShape: [Int], specs: [LayerSpec], seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        var layers: [Layer] = []
        for (i, s) in specs.enumerated() {
            let next = specs[(i + 1)...].first { if case .dropout = $0 { return false }; return true }
            let initializer: Initializer
            switch next {
            case .relu?, .leakyRelu?, .elu?: initializer = .heUniform
            default: initializer = .glorotUniform
            }
            layers.append(s.makeLayer(initializer: initializer, generator: &g))
        }
        try self.init(inputShape: inputShape, layers: layers)
    }

    /// Draws every weight again with `initializer` from `seed` (fan-in = a weight row's size,
    /// fan-out = the number of rows). Biases become zero, except with `.pytorchDefault`, which draws
    /// them from the same U(±1/√fanIn) as PyTorch does.
    public func reinitialize(_ initializer: Initializer, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        for layer in layers {
            let ps = layer.parameters
            guard let w = ps.first(where: { !$0.isBias }) else { continue }
            let fanIn = w.value.rowWidth, fanOut = w.value.rowCount
            w.value = initializer.make(w.value.shape, fanIn: fanIn, fanOut: fanOut, using: &g)
            for b in ps where b.isBias {
                b.value = initializer == .pytorchDefault
                    ? initializer.make(b.value.shape, fanIn: fanIn, fanOut: fanOut, using: &g)
                    : Tensor(shape: b.value.shape, repeating: 0)
            }
        }
    }

    /// The architecture, for checkpoints.
    public var specs: [LayerSpec] { layers.map(\.spec) }
    /// Output shape of one example.
    public var outputShape: [Int] { outputShapes.last ?? inputShape }
    /// All trainable parameters, in layer order.
    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// The network applied to a batch [B] + inputShape.
    public func forward(_ input: Tensor, training: Bool = false) -> Tensor {
        precondition(Array(input.shape.dropFirst()) == inputShape || (input.rank == 2 && input.rowWidth == inputShape.reduce(1, *)),
                     "model expects inputs of shape [batch] + \(inputShape) but got \(input.shape)")
        var h = Array(input.shape.dropFirst()) == inputShape ? input : input.reshaped([input.rowCount] + inputShape)
        for layer in layers { h = layer.forward(h, training: training) }
        return h
    }

    /// Backpropagation: given ∇output E for the last training batch, runs every layer's backward
    /// from last to first, accumulating parameter gradients.
    public func backward(_ outputGradient: Tensor) {
        var g = outputGradient
        for layer in layers.reversed() { g = layer.backward(g) }
    }

    /// Sets every parameter gradient to zero.
    public func zeroGradients() { for p in parameters { p.zeroGradient() } }

    /// Inference over any number of examples, `batchSize` at a time.
    public func predict(_ inputs: Tensor, batchSize: Int = 256) -> Tensor {
        let n = inputs.rowCount
        if n <= batchSize { return forward(inputs) }
        var out = Tensor(uninitializedShape: [n] + outputShape)
        let w = out.rowWidth
        var start = 0
        while start < n {
            let end = min(start + batchSize, n)
            let y = forward(inputs.rows(start..<end))
            out.withUnsafeMutableBufferPointer { o in
                y.withUnsafeBufferPointer { (o.baseAddress! + start * w).update(from: $0.baseAddress!, count: $0.count) }
            }
            start = end
        }
        return out
    }

    /// A Keras-style table: layer, output shape, parameter count, and the totals.
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
        return lines.joined(separator: "\n")
    }
}
