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
            let m = try ModelCatalog.make(model, inputShape: shape, outputs: outputs, dropout: 0, seed: 0)
            print("Model \(model)")
            print(m.summary())
        } catch let e as ShapeError {
            throw CLIError("the model does not fit its input: \(e)")
        }
    }
}

/// Named models and layer specs.
enum ModelCatalog {
    static let help = "mlp, or sizes like 784-256-10, or layers like dense:256,relu,dense:10."

    static func make(_ name: String, inputShape: [Int], outputs: Int, dropout: Float, seed: UInt64) throws -> Sequential {
        let specs = try ModelSpec.layers(name, inputShape: inputShape, outputs: outputs, dropout: dropout)
        return try Sequential(inputShape: inputShape, specs: specs, seed: seed)
    }
}
