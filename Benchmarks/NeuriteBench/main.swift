// neurite-bench: kernel and training benchmarks. Each benchmark is a subcommand; add new ones
// (conv, act, train, ...) to `NeuriteBench.benchmarks` and give them `@OptionGroup var common:
// BenchOptions` for the shared flags.

import ArgumentParser

struct NeuriteBench: ParsableCommand {
    /// Every benchmark, in the order `--help` lists them.
    static let benchmarks: [any ParsableCommand.Type] = [
        GemmBench.self,
        PeakBench.self,
        ActBench.self,
        ConvBench.self,
        TrainBench.self,
        AllBench.self,
        CompareCommand.self,
    ]

    static let configuration = CommandConfiguration(
        commandName: "neurite-bench",
        abstract: "Benchmarks of Neurite's kernels; each verifies its results before timing them.",
        subcommands: benchmarks
    )
}

NeuriteBench.main()
