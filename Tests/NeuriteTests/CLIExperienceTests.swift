import Testing
import Foundation
import Neurite

/// Runs the `neurite` binary built beside the test bundle.
func runNeurite(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("neurite")
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite struct SuggestionTests {
    @Test func editDistanceIsAMetricThatCountsASwapOnce() {
        let words = ["", "train", "trian", "rtain", "evaluate", "lenet", "lenett", "mlp", "summary"]
        for a in words {
            #expect(Suggestion.editDistance(a, a) == 0)
            #expect(Suggestion.editDistance(a, "") == a.count)
            for b in words {
                #expect(Suggestion.editDistance(a, b) == Suggestion.editDistance(b, a))
                if a != b { #expect(Suggestion.editDistance(a, b) > 0) }
                #expect(Suggestion.editDistance(a, b) <= max(a.count, b.count))
            }
        }
        #expect(Suggestion.editDistance("trian", "train") == 1)
        #expect(Suggestion.editDistance("lenett", "lenet") == 1)
        #expect(Suggestion.editDistance("kitten", "sitting") == 3)
    }

    @Test func closestSuggestsOnlyPlausibleTypos() {
        let commands = ["train", "evaluate", "predict", "summary"]
        #expect(Suggestion.closest(to: "trian", among: commands) == "train")
        #expect(Suggestion.closest(to: "Train", among: commands) == "train")
        #expect(Suggestion.closest(to: "evalute", among: commands) == "evaluate")
        #expect(Suggestion.closest(to: "xyz", among: commands) == nil)
        #expect(Suggestion.closest(to: "lenett", among: Models.all.map(\.name)) == "lenet")
    }
}

@Suite struct CLIExperienceTests {
    @Test func aMistypedSubcommandGetsASuggestionAndExitStatus64() throws {
        let r = try runNeurite(["trian", "--model", "mlp"])
        #expect(r.status == 64)
        #expect(r.err.contains("unknown subcommand 'trian'; did you mean 'train'?"), "\(r.err)")
        let far = try runNeurite(["frobnicate"])
        #expect(far.status == 64)
        #expect(far.err.contains("the subcommands are train, evaluate"), "\(far.err)")
        // Options and real subcommands pass through untouched.
        #expect(try runNeurite(["--version"]).status == 0)
        #expect(try runNeurite(["help", "train"]).status == 0)
    }

    @Test func aMistypedModelNameGetsASuggestion() throws {
        let r = try runNeurite(["check-gradients", "--model", "lenett"])
        #expect(r.status == 1)
        #expect(r.err.contains("--model lenett") && r.err.contains("did you mean 'lenet'?"), "\(r.err)")
    }

    @Test func checkGradientsPassesOnEveryLayerOfAConvNetAndFailsBelowTheTolerance() throws {
        let model = "conv:3:3:pad=1,batchnorm,relu,maxpool:2,flatten,dense:8,tanh,dropout:0.3,dense:4"
        let r = try runNeurite(["check-gradients", "--model", model, "--input-shape", "1,6,6", "--seed", "3"])
        #expect(r.status == 0, "\(r.out)\(r.err)")
        for name in ["0.weight", "0.bias", "0.input", "1.weight", "3.input", "5.weight", "8.bias"] {
            #expect(r.out.contains("\n\(name) "), "no line for \(name) in \(r.out)")
        }
        #expect(r.out.contains("dropout masks held fixed"))
        #expect(r.out.contains("PASS"))
        // Float32 finite differences are never exact: a tolerance of 1e-12 must fail, exit status 1.
        let strict = try runNeurite(["check-gradients", "--model", "dense:3", "--input-shape", "4", "--tolerance", "1e-12"])
        #expect(strict.status == 1)
        #expect(strict.out.contains("FAIL"), "\(strict.out)")
        let whole = try runNeurite(["check-gradients", "--model", "dense:5,tanh,dense:2", "--input-shape", "3", "--whole-model"])
        #expect(whole.status == 0 && whole.out.contains("\n2.weight "), "\(whole.out)\(whole.err)")
    }

    @Test func checkGradientsRejectsBadValuesNamingTheFlag() throws {
        for (args, expected) in [(["--batch-size", "1"], "--batch-size must be in 2...64, got 1"),
                                 (["--tolerance", "0"], "--tolerance must be in (0, 1], got 0"),
                                 (["--samples", "-3"], "--samples"),
                                 (["--input-shape", "1,x"], "--input-shape must be sizes like 784 or 1,28,28")] {
            let r = try runNeurite(["check-gradients", "--model", "dense:3", "--input-shape", "4"] + args)
            #expect(r.status != 0 && r.err.contains(expected), "\(args): \(r.err)")
        }
    }
}
