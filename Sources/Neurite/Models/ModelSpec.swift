// Text descriptions of models, as the command line takes them.

/// Parses model descriptions:
/// - a name: `mlp` (784-256-128-10 with ReLU), `logistic`, `linear`;
/// - layer sizes joined by `-`: `784-256-128-10` (dense layers with ReLU between them; the first
///   size must match the data);
/// - a comma-separated layer list: `dense:256,relu,dropout:0.5,dense:10` (also `sigmoid`, `tanh`,
///   `leakyrelu[:slope]`, `elu[:alpha]`, `maxout:units:pieces`, `softmax`, `flatten`).
/// Input sizes of dense layers are inferred from the data's shape.
public enum ModelSpec {
    /// A description that cannot be parsed, or does not fit the data.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let message: String
        public var description: String { message }
    }

    /// What `model(_:…)` accepts, for help texts.
    public static let help = "mlp, lenet (LeNet-5), alexnet-small (for 28×28 images), alexnet (227×227×3), sizes like 784-256-10, or layers like dense:256,relu,dense:10"

    /// Named models (`lenet`, `alexnet-small`, `alexnet`, `mlp`) and text specs (see `layers`), built
    /// for examples of `inputShape` (a flat [784] also fits the 28×28 image models) and `outputs`
    /// classes or values.
    public static func model(_ name: String, inputShape: [Int], outputs: Int, dropout: Float = 0, seed: UInt64) throws -> Sequential {
        let flat = inputShape.reduce(1, *)
        func needs(_ values: Int, _ classes: Int?) throws {
            guard flat == values else {
                throw ParseError(message: "model \(name) takes \(values)-value examples but the data's examples have shape \(inputShape)")
            }
            if let c = classes, c != outputs {
                throw ParseError(message: "model \(name) has \(c) outputs but the data has \(outputs) classes")
            }
        }
        switch name.lowercased() {
        case "lenet", "lenet5", "lenet-5":
            try needs(784, 10)
            return try Models.lenet5(seed: seed)
        case "alexnet-small":
            try needs(784, nil)
            return try Models.alexNetSmall(seed: seed, classes: outputs)
        case "alexnet":
            try needs(3 * 227 * 227, nil)
            return try Models.alexNet(seed: seed, classes: outputs)
        default:
            let specs = try layers(name, inputShape: inputShape, outputs: outputs, dropout: dropout)
            return try Sequential(inputShape: inputShape, specs: specs, seed: seed)
        }
    }

    /// The layer specs for `text` over examples of `inputShape` with `outputs` outputs.
    /// `dropout` > 0 inserts Dropout after every hidden activation.
    public static func layers(_ text: String, inputShape: [Int], outputs: Int, dropout: Float = 0) throws -> [LayerSpec] {
        let flat = inputShape.reduce(1, *)
        var specs: [LayerSpec] = inputShape.count > 1 ? [.flatten] : []
        func hidden(_ sizes: [Int]) -> [LayerSpec] {
            var out: [LayerSpec] = []
            var prev = flat
            for s in sizes {
                out += [.dense(inputs: prev, outputs: s), .relu]
                if dropout > 0 { out.append(.dropout(rate: dropout)) }
                prev = s
            }
            return out + [.dense(inputs: prev, outputs: outputs)]
        }
        switch text.lowercased() {
        case "mlp": return specs + hidden([256, 128])
        case "linear", "logistic": return specs + [.dense(inputs: flat, outputs: outputs)]
        default: break
        }
        if text.allSatisfy({ $0.isNumber || $0 == "-" }) {
            let sizes = text.split(separator: "-").compactMap { Int($0) }
            guard sizes.count >= 2, sizes.allSatisfy({ $0 > 0 }) else {
                throw ParseError(message: "model '\(text)': expected layer sizes like 784-256-10")
            }
            guard sizes.first == flat else {
                throw ParseError(message: "model '\(text)' starts with \(sizes[0]) inputs but the data's examples have \(flat) values (shape \(inputShape))")
            }
            guard sizes.last == outputs else {
                throw ParseError(message: "model '\(text)' ends with \(sizes.last!) outputs but the data needs \(outputs)")
            }
            return specs + hidden(Array(sizes.dropFirst().dropLast()))
        }
        var width = flat
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":").map { String($0).trimmingCharacters(in: .whitespaces).lowercased() }
            func number(_ i: Int) throws -> Float {
                guard parts.count > i, let v = Float(parts[i]) else {
                    throw ParseError(message: "layer '\(item)' needs a number after '\(parts[0]):'")
                }
                return v
            }
            switch parts[0] {
            case "dense":
                let n = Int(try number(1))
                guard n > 0 else { throw ParseError(message: "layer '\(item)': size must be positive") }
                specs.append(.dense(inputs: width, outputs: n)); width = n
            case "maxout":
                let n = Int(try number(1)), k = parts.count > 2 ? Int(try number(2)) : 2
                specs.append(.maxout(inputs: width, outputs: n, pieces: k)); width = n
            case "relu": specs.append(.relu)
            case "sigmoid": specs.append(.sigmoid)
            case "tanh": specs.append(.tanh)
            case "softmax": specs.append(.softmax)
            case "flatten": specs.append(.flatten)
            case "leakyrelu": specs.append(.leakyRelu(slope: parts.count > 1 ? try number(1) : 0.1))
            case "elu": specs.append(.elu(alpha: parts.count > 1 ? try number(1) : 1))
            case "dropout":
                let p = try number(1)
                guard p >= 0 && p < 1 else { throw ParseError(message: "layer '\(item)': dropout rate must be in [0, 1)") }
                specs.append(.dropout(rate: p))
            default:
                throw ParseError(message: "unknown layer '\(parts[0])' in model '\(text)' (known: dense, maxout, relu, sigmoid, tanh, leakyrelu, elu, softmax, dropout, flatten)")
            }
        }
        guard width == outputs else {
            throw ParseError(message: "model '\(text)' ends with \(width) outputs but the data needs \(outputs)")
        }
        return specs
    }
}

import Foundation
