// What the pooling layers share: output shapes of a window over [C, H, W] and window names.

extension Window2D {
    /// The output shape of this window over a [C, H, W] input, or a `ShapeError` naming `layer`.
    func pooledShape(_ inputShape: [Int], layer: String) throws -> [Int] {
        let expected = "[C, H, W] with H + \(padding.top + padding.bottom) ≥ \(size.height) and W + \(padding.left + padding.right) ≥ \(size.width)"
        guard inputShape.count == 3, inputShape[0] > 0, let out = outputSize(height: inputShape[1], width: inputShape[2])
        else { throw ShapeError(layer: layer, expected: expected, found: inputShape) }
        return [inputShape[0], out.height, out.width]
    }

    /// "3×3/2 pad 1" for layer names.
    var layerDescription: String {
        var s = "\(size.height)×\(size.width)"
        if stride != size { s += "/\(stride)" }
        if padding != .zero { s += " pad \(padding)" }
        return s
    }

    /// The text arguments `SIZE[:stride=S][:pad=P]`.
    var arguments: [String] {
        var a = [size.text]
        if stride != size { a.append("stride=\(stride.text)") }
        if padding != .zero { a.append("pad=\(padding.text)") }
        return a
    }

    /// A pooling window read from `SIZE[:stride=S][:pad=P]` (padding only where `allowsPadding`;
    /// each side smaller than the window, so padding never wins a window alone).
    init(arguments a: LayerArguments, allowsPadding: Bool, syntax: String) throws {
        let w = ModelLimits.maxWindow
        let size = try a.size(0, name: "size", field: "window size", in: 1...w, syntax: syntax)
        let stride = try a.size(name: "stride", field: "stride", default: size, in: 1...w, syntax: syntax)
        let padding: Padding2D = try allowsPadding ? a.padding(in: 0...w, syntax: syntax) : .zero
        try a.expectOnly(positional: 1, named: allowsPadding ? ["size", "stride", "pad"] : ["size", "stride"], syntax: syntax)
        guard padding.top < size.height, padding.bottom < size.height, padding.left < size.width, padding.right < size.width else {
            throw ModelError("layer '\(a.text)': padding \(padding.text) must be smaller than the window \(size.text)")
        }
        self.init(size: size, stride: stride, padding: padding)
    }
}
