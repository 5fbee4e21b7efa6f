// Options every benchmark shares, and what they imply (thread list, ISA, build check).

import ArgumentParser
import Neurite

struct BenchOptions: ParsableArguments {
    @Option(name: .customLong("threads"),
            help: "Comma-separated thread counts (default: 1, 2, 4, ... up to the physical cores).")
    var threadList: String?

    @Option(name: .customLong("repeat"), help: "Timed samples per case (the median is reported; default 10). Not for train, which times whole epochs (--rounds).")
    var repeatOption: Int?

    @Option(name: .customLong("warmup"), help: "Untimed runs before the samples (default 2). Not for train.")
    var warmupOption: Int?

    /// Timed samples per case.
    var repetitions: Int { repeatOption ?? 10 }
    /// Untimed runs before the samples.
    var warmup: Int { warmupOption ?? 2 }

    @Flag(help: "One JSON object per result line instead of a table (the header goes to stderr).")
    var json = false

    @Option(help: "Kernel family: auto, ref, avx2, avx512 (or neon).")
    var isa: String = "auto"

    @Flag(help: "Run even though this is a debug build (figures are then meaningless).")
    var allowDebug = false

    mutating func validate() throws {
        guard repetitions >= 1 else { throw ValidationError("--repeat must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be at least 0") }
        guard let family = Kernels.ISA(rawValue: isa) else {
            throw ValidationError("--isa must be one of \(Kernels.ISA.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard family.isSupported else { throw ValidationError("this CPU cannot run --isa \(isa)") }
        _ = try threadCounts()
        #if DEBUG
        if !allowDebug {
            throw ValidationError("this is a debug build; rebuild with `swift build -c release` or pass --allow-debug")
        }
        #endif
    }

    /// The kernel family to run, resolved (`auto` becomes the active one).
    var resolvedISA: Kernels.ISA {
        let family = Kernels.ISA(rawValue: isa) ?? .auto
        return family == .auto ? Kernels.ISA.active : family
    }

    /// The thread counts to sweep, ascending.
    func threadCounts() throws -> [Int] {
        guard let list = threadList else {
            var counts = [1]
            while counts.last! * 2 <= Runtime.physicalCores { counts.append(counts.last! * 2) }
            if counts.last! != Runtime.physicalCores { counts.append(Runtime.physicalCores) }
            return counts
        }
        return try parseThreadList(list)
    }

    /// The shared options as command-line arguments, to hand them on to another benchmark (`all`);
    /// without the sampling ones (--repeat, --warmup) for a benchmark that does not sample (train).
    func arguments(sampling: Bool = true) -> [String] {
        var out = ["--isa", isa]
        if sampling { out = ["--repeat", "\(repetitions)", "--warmup", "\(warmup)"] + out }
        if let threadList { out += ["--threads", threadList] }
        if json { out.append("--json") }
        if allowDebug { out.append("--allow-debug") }
        return out
    }

    var buildConfiguration: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    /// Names the machine and the settings, so a figure is never quoted without its context.
    /// `settings` replaces "repeat N, warmup M" for a benchmark that samples otherwise.
    func printHeader(_ bench: String, settings: String? = nil) {
        let threads = (try? threadCounts())?.map(String.init).joined(separator: ",") ?? "?"
        let line = "neurite-bench \(bench) | CPU: \(Runtime.cpuName) | ISA: \(resolvedISA.rawValue) | "
            + "physical cores: \(Runtime.physicalCores) | OpenMP: \(Runtime.openMPEnabled ? "on" : "off") | "
            + "build: \(buildConfiguration) | threads: \(threads) | \(settings ?? "repeat \(repetitions), warmup \(warmup)")"
        if json { printError(line) } else { print(line) }
    }
}

/// Parses "1,2,4" into ascending distinct thread counts; every item must be a positive integer.
func parseThreadList(_ list: String) throws -> [Int] {
    let items = list.split(separator: ",", omittingEmptySubsequences: false)
        .map { $0.filter { !$0.isWhitespace } }
    var counts: [Int] = []
    for item in items {
        guard let n = Int(item), n >= 1 else {
            let what = item.isEmpty ? "an empty item" : "'\(item)'"
            throw ValidationError("--threads wants positive integers separated by commas (e.g. 1,2), got \(what) in '\(list)'")
        }
        if n > 1024 { throw ValidationError("--threads: \(n) threads is more than this benchmark supports (1024)") }
        counts.append(n)
    }
    return Array(Set(counts)).sorted()
}
