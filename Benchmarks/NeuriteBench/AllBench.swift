// `neurite-bench all`: peak, gemm, act and train in sequence with the same shared options, so one
// command (and one --json file) gives the whole picture for `neurite-bench compare`.

import ArgumentParser

struct AllBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all",
        abstract: "Run peak, gemm, act and train in sequence with the shared options.",
        discussion: "A benchmark whose verification fails is reported and the others still run; the command then exits non-zero.")

    @OptionGroup var common: BenchOptions

    @Option(help: "gemm: comma-separated square sizes (default: gemm's own list, plus the MLP shapes).")
    var sizes: String?

    @Option(help: "train: model(s), comma-separated.") var model: String = "mlp,lenet"
    @Option(help: "train: epochs per run.") var epochs: Int = 1
    @Option(help: "train: training examples (default: all 60 000).") var limit: Int?

    /// Each benchmark's arguments: the shared options plus its own.
    func plan() -> [(name: String, command: any ParsableCommand.Type, arguments: [String])] {
        let shared = common.arguments()
        var gemm = shared
        if let sizes { gemm += ["--sizes", sizes] }
        var steps: [(String, any ParsableCommand.Type, [String])] = [
            ("peak", PeakBench.self, shared),
            ("gemm", GemmBench.self, gemm),
            ("act", ActBench.self, shared),
            ("conv", ConvBench.self, shared),
        ]
        for m in model.split(separator: ",") {
            var train = common.arguments(sampling: false) + ["--model", String(m), "--epochs", "\(epochs)"]
            if let limit { train += ["--limit", "\(limit)"] }
            steps.append(("train", TrainBench.self, train))
        }
        return steps
    }

    func run() throws {
        var failed: [String] = []
        for (name, command, arguments) in plan() {
            do {
                var bench = try command.parseAsRoot(arguments)
                try bench.run()
            } catch {
                printError("neurite-bench all: \(name) failed: \(command.message(for: error))")
                failed.append(name)
            }
            if !common.json { print("") }
        }
        if !failed.isEmpty { throw ValidationError("\(failed.count) benchmark(s) failed: \(failed.joined(separator: ", "))") }
    }
}
