// Named models, all defined in the layer-list syntax, and the model descriptions the command line
// takes: a name, layer sizes (784-256-10) or a layer list.

/// Well-known networks as layer lists. Every weight layer followed by a ReLU is He-initialised, the
/// rest Glorot; biases start at zero. Outputs are logits (pair them with `SoftmaxCrossEntropy`).
public enum Models {
    /// A named model: its layer list for a number of outputs, and the input it is built for.
    public struct Named: Sendable {
        /// The name (`--model NAME`).
        public let name: String
        /// Example shape it is built for (nil: whatever the data has).
        public let inputShape: [Int]?
        /// Outputs when the data does not say (nil: the data decides).
        public let defaultOutputs: Int?
        /// One line for help texts.
        public let about: String
        let template: @Sendable (Int) -> String

        /// The layer list with `outputs` outputs.
        public func spec(outputs: Int) -> String { template(outputs) }
    }

    /// Every named model.
    public static let all: [Named] = [
        Named(name: "mlp", inputShape: nil, defaultOutputs: nil, about: "784-256-128-10 with ReLU") {
            "dense:256,relu,dense:128,relu,dense:\($0)"
        },
        Named(name: "linear", inputShape: nil, defaultOutputs: nil, about: "one dense layer (linear or logistic regression)") {
            "dense:\($0)"
        },
        Named(name: "lenet", inputShape: [1, 28, 28], defaultOutputs: 10,
              about: "LeNet-5: conv 6@5×5 pad 2, max-pool 2, conv 16@5×5, max-pool 2, FC 120-84") {
            "conv:6:5:pad=2,relu,maxpool:2,conv:16:5,relu,maxpool:2,flatten,dense:120,relu,dense:84,relu,dense:\($0)"
        },
        Named(name: "alexnet-small", inputShape: [1, 28, 28], defaultOutputs: 10,
              about: "AlexNet's design for 28×28 images: overlapping pooling, LRN, dropout") {
            "conv:16:5:pad=2,relu,maxpool:3:stride=2,lrn,conv:32:3:pad=1,relu,maxpool:3:stride=2,lrn,"
                + "conv:64:3:pad=1,relu,conv:64:3:pad=1,relu,conv:64:3:pad=1,relu,maxpool:3:stride=2,flatten,"
                + "dense:256,relu,dropout:0.5,dense:128,relu,dropout:0.5,dense:\($0)"
        },
        Named(name: "cnn-bn", inputShape: [1, 28, 28], defaultOutputs: 10,
              about: "3 × (conv 3×3, batch norm, ReLU, max-pool 2) with 32-64-128 filters, FC 256 with batch norm and dropout") {
            "conv:32:3:pad=1,batchnorm,relu,maxpool:2,conv:64:3:pad=1,batchnorm,relu,maxpool:2,"
                + "conv:128:3:pad=1,batchnorm,relu,maxpool:2,flatten,dense:256,batchnorm,relu,dropout:0.3,dense:\($0)"
        },
        Named(name: "alexnet", inputShape: [3, 227, 227], defaultOutputs: 1000,
              about: "AlexNet (one tower): 227×227×3, CONV1 96@11×11/4 … FC 4096-4096-1000") {
            "conv:96:11:stride=4,relu,maxpool:3:stride=2,lrn,conv:256:5:pad=2,relu,maxpool:3:stride=2,lrn,"
                + "conv:384:3:pad=1,relu,conv:384:3:pad=1,relu,conv:256:3:pad=1,relu,maxpool:3:stride=2,flatten,"
                + "dense:4096,relu,dropout:0.5,dense:4096,relu,dropout:0.5,dense:\($0)"
        },
    ]

    /// The named model `name` (case-insensitive; `lenet5` and `lenet-5` name LeNet-5, `logistic`
    /// the linear model).
    public static func named(_ name: String) -> Named? {
        let aliases = ["lenet5": "lenet", "lenet-5": "lenet", "logistic": "linear"]
        let key = name.lowercased()
        return all.first { $0.name == (aliases[key] ?? key) }
    }

    /// What `--model` accepts, for help texts.
    public static var help: String {
        all.map(\.name).joined(separator: ", ") + ", sizes like 784-256-10, or a layer list like dense:256,relu,dense:10 ("
            + LayerRegistry.syntaxSummary + ")"
    }

    /// The MLP 784-256-128-10.
    public static func mlp(seed: UInt64 = 0) throws -> Sequential { try make("mlp", inputShape: [784], outputs: 10, seed: seed) }
    /// LeNet-5 for [1, 28, 28] images (61 706 parameters).
    public static func lenet5(seed: UInt64 = 0) throws -> Sequential { try make("lenet", inputShape: [1, 28, 28], outputs: 10, seed: seed) }
    /// AlexNet (Krizhevsky, Sutskever & Hinton 2012) as one tower for [3, 227, 227] images; LRN with
    /// size 5, k 2, alpha 1e-4 (divided by size, as in Caffe and PyTorch), beta 0.75. With 1 000
    /// classes: 62 378 344 parameters.
    public static func alexNet(seed: UInt64 = 0, classes: Int = 1000) throws -> Sequential {
        try make("alexnet", inputShape: [3, 227, 227], outputs: classes, seed: seed)
    }
    /// AlexNet's design scaled to [1, 28, 28] images (≈ 4.5 M multiply-adds per image forward).
    public static func alexNetSmall(seed: UInt64 = 0, classes: Int = 10) throws -> Sequential {
        try make("alexnet-small", inputShape: [1, 28, 28], outputs: classes, seed: seed)
    }

    /// A model from a description: a name (see `all`), layer sizes joined by `-` (`784-256-10`: dense
    /// layers with ReLU between them, the first size the data's width), or a layer list. Built for
    /// examples of `inputShape` — or of `imageShape` when the layers need images (a convolution on
    /// flat Fashion-MNIST rows) — with `outputs` outputs. `dropout` > 0 inserts dropout after every
    /// hidden activation of a model that has no dropout of its own.
    public static func make(_ description: String, inputShape: [Int], imageShape: [Int]? = nil, outputs: Int,
                            dropout: Float = 0, seed: UInt64) throws -> Sequential {
        guard outputs >= 1, outputs <= ModelLimits.maxWidth else { throw ModelError("a model needs 1 to \(ModelLimits.maxWidth) outputs, got \(outputs)") }
        guard dropout >= 0, dropout < 1 else { throw ModelError("dropout must be in [0, 1), got \(dropout)") }
        var spec: String
        var shapes = [inputShape] + (imageShape.map { [$0] } ?? [])
        if let named = named(description) {
            spec = named.spec(outputs: outputs)
            if let s = named.inputShape {
                guard s.reduce(1, *) == inputShape.reduce(1, *) else {
                    throw ModelError("model \(named.name) takes \(s) examples but the data's examples have shape \(inputShape)")
                }
                shapes = [s]
            }
        } else if !description.isEmpty, description.allSatisfy({ $0.isNumber || $0 == "-" }) {
            let sizes = description.split(separator: "-").map { Int($0) ?? 0 }
            guard sizes.count >= 2, sizes.allSatisfy({ (1...ModelLimits.maxWidth).contains($0) }) else {
                throw ModelError("model '\(description)': expected layer sizes like 784-256-10, each in 1...\(ModelLimits.maxWidth)")
            }
            let flat = inputShape.reduce(1, *)
            guard sizes[0] == flat else {
                throw ModelError("model '\(description)' starts with \(sizes[0]) inputs but the data's examples have \(flat) values (shape \(inputShape))")
            }
            guard sizes.last == outputs else {
                throw ModelError("model '\(description)' ends with \(sizes.last!) outputs but the data needs \(outputs)")
            }
            spec = sizes.dropFirst().map { "dense:\($0)" }.joined(separator: ",relu,")
            shapes = [[flat]]
        } else {
            if !description.contains(":"), !description.contains(","), LayerRegistry.type(for: description) == nil {
                throw ModelError("unknown model '\(description)': named models are \(all.map(\.name).joined(separator: ", ")); or give sizes like 784-256-10 or a layer list like dense:256,relu,dense:10")
            }
            spec = description
        }
        var layers: [any Layer] = []
        var shape = shapes[0]
        for (i, s) in shapes.enumerated() {
            do {
                layers = try Sequential.layers(spec, inputShape: s)
                shape = s
                break
            } catch let e as ShapeError where i + 1 < shapes.count {
                _ = e   // try the image shape next
            }
        }
        if dropout > 0, !hasOwnDropout(layers) {
            var items: [String] = []
            for (i, l) in layers.enumerated() {
                items.append(l.spec)
                if l is any ActivationLayer, i + 1 < layers.count { items.append("dropout:\(floatText(dropout))") }
            }
            spec = items.joined(separator: ",")
            layers = try Sequential.layers(spec, inputShape: shape)
        }
        let model = try Sequential(inputShape: shape, layers: layers, seed: seed)
        let produced = model.outputShape.reduce(1, *)
        guard produced == outputs else {
            throw ModelError("model '\(description)' ends with \(produced) outputs but the data needs \(outputs)")
        }
        model.initialize(nil, seed: seed)
        return model
    }
}

extension Models {
    /// Whether `layers` contain dropout of their own (`make`'s `dropout` then leaves them as they are).
    public static func hasOwnDropout(_ layers: [any Layer]) -> Bool { layers.contains { $0 is Dropout } }
}

/// Marks the element-wise activation layers (where `--dropout` inserts dropout).
public protocol ActivationLayer {}
extension Activation: ActivationLayer {}
