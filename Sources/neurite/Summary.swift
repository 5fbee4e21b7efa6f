// `neurite summary`: layers, shapes and parameter counts of a model.

import ArgumentParser
import Neurite

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a model's layers, output shapes and parameter counts.")

    @Option(name: .long, help: "Model: \(ModelCatalog.help)")
    var model: String = "mlp"

    @Option(name: .long, help: "Input shape for layer-spec models, e.g. 784 or 1,28,28.")
    var input: String = "784"

    @Option(name: .long, help: "Number of outputs (classes) for layer-spec models.")
    var outputs: Int = 10

    func run() throws {
        let shape = input.split(separator: ",").compactMap { Int($0) }
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else { throw ValidationError("--input must be sizes like 784 or 1,28,28") }
        do {
            let named: [String: ([Int], Int)] = ["lenet": ([1, 28, 28], 10), "lenet5": ([1, 28, 28], 10), "lenet-5": ([1, 28, 28], 10),
                                                 "alexnet-small": ([1, 28, 28], 10), "alexnet": ([3, 227, 227], 1000)]
            let (inShape, outs) = named[model.lowercased()] ?? (shape, outputs)
            let m = try ModelCatalog.make(model, inputShape: inShape, outputs: outs, dropout: 0, seed: 0)
            print("Model \(model)")
            print(m.summary())
        } catch let e as ShapeError {
            throw CLIError("the model does not fit its input: \(e)")
        }
    }
}

/// Named models and layer specs.
enum ModelCatalog {
    static let help = "mlp, lenet (LeNet-5), alexnet-small (for 28×28 images), alexnet (227×227×3, 1000 classes), or sizes like 784-256-10, or layers like dense:256,relu,dense:10."

    static func make(_ name: String, inputShape: [Int], outputs: Int, dropout: Float, seed: UInt64) throws -> Sequential {
        let flat = inputShape.reduce(1, *)
        func needs(_ values: Int, _ classes: Int?) throws {
            guard flat == values else {
                throw CLIError("model \(name) takes \(values)-value examples but the data's examples have shape \(inputShape)")
            }
            if let c = classes, c != outputs {
                throw CLIError("model \(name) has \(c) outputs but the data has \(outputs) classes")
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
        default: break
        }
        let specs = try ModelSpec.layers(name, inputShape: inputShape, outputs: outputs, dropout: dropout)
        return try Sequential(inputShape: inputShape, specs: specs, seed: seed)
    }
}
