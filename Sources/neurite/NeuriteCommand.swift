// The `neurite` command: train, evaluate, predict, summary, example.

import ArgumentParser
import Foundation
import Neurite

@main
struct NeuriteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neurite",
        abstract: "Train, evaluate and use neural networks on the CPU.",
        discussion: """
        Start with:
          neurite train --model mlp --data fashion-mnist --epochs 5
          neurite evaluate --checkpoint model.safetensors --data fashion-mnist
          neurite summary --model mlp
        Data sets: fashion-mnist (apt-get install dataset-fashion-mnist), idx:DIR (MNIST-style IDX files),
        csv:FILE (numeric CSV, label in the last column), sklearn:iris|wine|breast-cancer|digits|diabetes
        (apt-get install python3-sklearn).
        """,
        version: "0.1.0",
        subcommands: [Train.self, Evaluate.self, Predict.self, Summary.self, Example.self, Import.self, Export.self]
    )
}

/// A failure reported to the user as one clear line and a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Prints to standard error.
func warn(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

extension Error {
    /// The user-facing message of any error the library throws.
    var userMessage: String { String(describing: self) }
}
