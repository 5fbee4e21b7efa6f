// `neurite-bench peak`: achievable FMA throughput per thread count (independent FMA chains in the
// chosen ISA's vectors, no memory traffic): the ceiling GEMM efficiency is quoted against.

import ArgumentParser
import Neurite

struct PeakBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak", abstract: "Measure FMA peak GFLOP/s per thread count.")

    @OptionGroup var common: BenchOptions

    @Option(help: "FMA rounds per thread per sample.")
    var iterations: Int = 4_000_000

    func run() throws {
        common.printHeader("peak")
        let isa = common.resolvedISA
        if !common.json { print("threads   GFLOP/s    min      max") }
        for threads in try common.threadCounts() {
            let r = peak(isa: isa, threads: threads, iterations: iterations, common: common)
            if common.json {
                print(Records.peak(threads: threads, isa: isa.rawValue, median: r.median, min: r.min, max: r.max))
            } else {
                print(pad(String(threads), 7) + pad(fixed(r.median), 10) + pad(fixed(r.min), 9) + pad(fixed(r.max), 9))
            }
        }
    }
}

/// FMA peak in GFLOP/s on `threads` threads: median, min and max over the samples.
func peak(isa: Kernels.ISA, threads: Int, iterations: Int, common: BenchOptions)
    -> (median: Double, min: Double, max: Double) {
    var flops = 0
    let t = measure(warmup: common.warmup, samples: common.repetitions) {
        flops = Kernels.fmaPeak(isa: isa, threads: threads, iterations: iterations)
    }
    let g = Double(flops) * 1e-9
    return (g / t.median, g / t.max, g / t.min)
}
