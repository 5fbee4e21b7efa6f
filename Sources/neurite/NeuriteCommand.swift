// The `neurite` command: train, evaluate, predict, summary, example, import, export, check-gradients.

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
        subcommands: [Train.self, Evaluate.self, Predict.self, Summary.self, Example.self, Import.self, Export.self,
                      CheckGradients.self]
    )

    /// Parses and runs, after catching a mistyped subcommand: ArgumentParser reports `neurite trian`
    /// only as an unexpected argument, which does not tell the user what they meant.
    static func main() {
        if let message = unknownSubcommandMessage(Array(CommandLine.arguments.dropFirst())) {
            warn("Error: \(message)")
            warn("Usage: neurite <subcommand>\n  See 'neurite --help' for more information.")
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        main(nil)
    }

    /// The names `neurite SUBCOMMAND` accepts (`help` is ArgumentParser's own).
    static var subcommandNames: [String] {
        configuration.subcommands.map { $0._commandName } + ["help"]
    }

    /// The error for a first argument that is neither an option nor a subcommand, with the closest
    /// subcommand when it looks like a typo of one; nil when the arguments start well. The root
    /// command takes no positional arguments, so any other first word is a mistake.
    static func unknownSubcommandMessage(_ arguments: [String]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-"), !subcommandNames.contains(first) else { return nil }
        if let guess = Suggestion.closest(to: first, among: subcommandNames) {
            return "unknown subcommand '\(first)'; did you mean '\(guess)'?"
        }
        return "unknown subcommand '\(first)'; the subcommands are " + subcommandNames.dropLast().joined(separator: ", ")
    }
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

/// For a `--model` that is one word rather than a layer list: the closest named model when the
/// word looks like a misspelling of one, and the list of named models (the layer registry's error
/// lists only layer keywords).
func namedModelHint(_ description: String) -> String {
    guard !description.contains(":"), !description.contains(","), Models.named(description) == nil else { return "" }
    let names = Models.all.map(\.name)
    let hint = Suggestion.closest(to: description, among: names).map { "\ndid you mean '\($0)'?" } ?? ""
    return hint + "\nnamed models: " + names.joined(separator: ", ")
}

/// Builds the model `--model` describes, adding the named-model hint to a failure (every command
/// that takes `--model` reports a mistyped name the same way).
func makeModel(_ description: String, inputShape: [Int], imageShape: [Int]? = nil, outputs: Int, dropout: Float = 0,
               seed: UInt64) throws -> Sequential {
    do {
        return try Models.make(description, inputShape: inputShape, imageShape: imageShape, outputs: outputs, dropout: dropout, seed: seed)
    } catch {
        throw CLIError("--model \(description): \(error.userMessage)\(namedModelHint(description))")
    }
}
