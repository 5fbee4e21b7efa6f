// The table of layer types: keyword → type. Adding a layer is its file plus one line here.

/// Maps layer-list keywords to layer types. Models, checkpoints, the command line and summaries
/// build layers only through it.
public enum LayerRegistry {
    /// The built-in layers.
    nonisolated(unsafe) private static var types: [any Layer.Type] = [
        Dense.self,
        Maxout.self,
        Conv2D.self,
        MaxPool2D.self,
        AvgPool2D.self,
        LocalResponseNorm.self,
        BatchNorm.self,
        Dropout.self,
        Flatten.self,
        Sigmoid.self,
        Tanh.self,
        ReLU.self,
        LeakyReLU.self,
        ELU.self,
        Softmax.self,
    ]

    /// Adds a layer type of your own (before building models that use its keyword). Throws when the
    /// keyword is taken.
    public static func register(_ type: any Layer.Type) throws {
        guard self.type(for: type.keyword) == nil else { throw ModelError("layer keyword '\(type.keyword)' is already registered") }
        types.append(type)
    }

    /// The type registered for `keyword`.
    public static func type(for keyword: String) -> (any Layer.Type)? {
        types.first { $0.keyword == keyword.lowercased() }
    }

    /// Every keyword's syntax, for help texts.
    public static var syntaxSummary: String { types.map { $0.syntax }.joined(separator: ", ") }

    /// The layer described by `text` (`keyword:args`) for inputs of `inputShape`.
    public static func makeLayer(_ text: String, inputShape: [Int]) throws -> any Layer {
        let arguments = try LayerArguments(text)
        guard let type = type(for: arguments.keyword) else {
            throw ModelError("unknown layer '\(arguments.keyword)' in '\(text)' (known: \(types.map { $0.keyword }.joined(separator: ", ")))")
        }
        return try type.init(arguments: arguments, inputShape: inputShape)
    }
}
