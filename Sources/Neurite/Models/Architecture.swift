// What a checkpoint stores of a model: its input shape and its layer list.

/// A model's architecture: the input shape and each layer's text form (`Layer.spec`). Decoding a
/// checkpoint builds the model through the same validated parsers as the layer-list syntax.
public struct Architecture: Codable, Equatable, Sendable {
    /// Shape of one example.
    public var inputShape: [Int]
    /// The layers' text forms, first to last.
    public var layers: [String]

    /// An architecture of `layers` over `inputShape`.
    public init(inputShape: [Int], layers: [String]) {
        self.inputShape = inputShape
        self.layers = layers
    }

    /// The layer list as one string.
    public var spec: String { layers.joined(separator: ",") }

    /// A fresh model of this architecture, parameters initialised from `seed`.
    public func makeModel(seed: UInt64 = 0) throws -> Sequential {
        guard !layers.isEmpty, layers.allSatisfy({ !$0.contains(",") }) else {
            throw ModelError("the architecture must list 1 or more layers, each without ','")
        }
        return try Sequential(spec, inputShape: inputShape, seed: seed)
    }

    enum CodingKeys: String, CodingKey { case inputShape = "input_shape", layers }
}
