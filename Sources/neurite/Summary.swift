// `neurite summary`: layers, shapes and parameter counts of a model, and the layer list that
// rebuilds it.

import ArgumentParser
import Neurite

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a model's layers, output shapes, parameter counts and layer list.")

    @Option(name: .long, help: "Model: \(Models.help)")
    var model: String = "mlp"

    @Option(name: .long, help: "Input shape for models without their own, e.g. 784 or 1,28,28.")
    var input: String = "784"

    @Option(name: .long, help: "Number of outputs (classes) for models without their own.")
    var outputs: Int?

    func run() throws {
        let shape = try parseShape(input, flag: "--input")
        if let o = outputs, !(1...ModelLimits.maxWidth).contains(o) {
            throw ValidationError("--outputs must be in 1...\(ModelLimits.maxWidth), got \(o)")
        }
        let named = Models.named(model)
        let inputShape = named?.inputShape ?? shape
        let outs = outputs ?? named?.defaultOutputs ?? 10
        do {
            let m = try Models.make(model, inputShape: inputShape, outputs: outs, seed: 0)
            print("Model \(model)")
            print(m.summary())
        } catch {
            throw CLIError("model \(model): \(error.userMessage)\(namedModelHint(model))")
        }
    }
}
