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

/// Named models and layer specs (the library's `ModelSpec`), with CLI errors.
enum ModelCatalog {
    static let help = ModelSpec.help + "."

    static func make(_ name: String, inputShape: [Int], outputs: Int, dropout: Float, seed: UInt64) throws -> Sequential {
        do {
            return try ModelSpec.model(name, inputShape: inputShape, outputs: outputs, dropout: dropout, seed: seed)
        } catch let e as ModelSpec.ParseError {
            throw CLIError(e.message)
        }
    }
}
