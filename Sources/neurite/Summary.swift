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

/// For a `--model` that is one word rather than a layer list: the closest named model when the
/// word looks like a misspelling of one, and the list of named models (the layer registry's error
/// lists only layer keywords).
func namedModelHint(_ description: String) -> String {
    guard !description.contains(":"), !description.contains(","), Models.named(description) == nil else { return "" }
    let names = Models.all.map(\.name)
    let word = description.lowercased()
    let distances = names.map { editDistance($0, word) }
    var hint = ""
    if let best = distances.indices.min(by: { distances[$0] < distances[$1] }), distances[best] <= max(1, names[best].count / 3) {
        hint = "\ndid you mean '\(names[best])'?"
    }
    return hint + "\nnamed models: " + names.joined(separator: ", ")
}

/// Levenshtein distance between `a` and `b` (insertions, deletions and substitutions of characters).
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for (i, ca) in a.enumerated() {
        var diagonal = row[0]
        row[0] = i + 1
        for (j, cb) in b.enumerated() {
            let substitution = diagonal + (ca == cb ? 0 : 1)
            diagonal = row[j + 1]
            row[j + 1] = min(substitution, row[j + 1] + 1, row[j] + 1)
        }
    }
    return row[b.count]
}
