// Thread-count control for every kernel, and facts about the machine the kernels run on.

import CNeurite

/// Run-time settings of Neurite's compute kernels: threads, instruction set, floating-point mode.
public enum Runtime {
    /// Threads used by every kernel. Defaults to NEURITE_NUM_THREADS, then OMP_NUM_THREADS, then
    /// the number of physical cores; settable at any time between calls (values < 1 mean 1).
    /// Results never depend on it: kernels split work over independent output blocks.
    public static var threads: Int {
        get { Int(nk_get_num_threads()) }
        set { nk_set_num_threads(Int32(clamping: newValue)) }
    }

    /// Physical cores of this machine.
    public static var physicalCores: Int { Int(nk_physical_cores()) }

    /// Whether the kernels were built with OpenMP (the default `OpenMP` package trait).
    public static var openMPEnabled: Bool { nk_openmp_enabled() != 0 }

    /// The instruction set the kernels use: "avx512", "avx2", "neon" or "ref".
    public static var isa: String { String(cString: nk_isa_name(nk_isa_active())) }

    /// The CPU's model name.
    public static var cpuName: String { String(cString: nk_cpu_name()) }

    /// Whether threads running Neurite arithmetic flush subnormal floats to zero (FTZ and DAZ on x86;
    /// default true). Subnormals carry no information for training but make x86 arithmetic ~100×
    /// slower: optimizer state and the gradients of always-zero inputs decay into them. Set it false
    /// (or NEURITE_DENORMALS=keep in the environment) for IEEE-exact subnormals; each thread picks
    /// the change up at its next kernel call. Results are bitwise identical across thread counts
    /// either way.
    public static var flushesDenormals: Bool {
        get { nk_flush_denormals() != 0 }
        set { nk_set_flush_denormals(newValue ? 1 : 0) }
    }

    /// Time the calling thread spent waiting on the kernels' other threads in the parallel regions it
    /// started, summed while it recorded (`recordsTeamWaits`): the part of a multi-threaded step
    /// that is neither its own work nor serial code. Take differences between two readings.
    public struct TeamWaits: Sendable, Equatable {
        /// Parallel regions run on the team (regions small enough to run inline are not counted).
        public var regions = 0
        /// Seconds spent at the ends of those regions waiting for items other threads were running.
        public var regionEndSeconds = 0.0
        /// Seconds spent joining posted work (the next batch's gather): running what was left of it,
        /// then waiting for the rest.
        public var joinSeconds = 0.0

        /// No regions, no waits.
        public init() {}

        /// The waits between an earlier reading `start` and this one.
        public func since(_ start: TeamWaits) -> TeamWaits {
            var d = TeamWaits()
            d.regions = regions - start.regions
            d.regionEndSeconds = regionEndSeconds - start.regionEndSeconds
            d.joinSeconds = joinSeconds - start.joinSeconds
            return d
        }
    }

    /// Whether the calling thread counts its `teamWaits` (off by default: recording reads the clock
    /// twice a region). A profiled training epoch (`Trainer.profile`) turns it on while it runs.
    public static var recordsTeamWaits: Bool {
        get { nk_team_stats_recording() != 0 }
        set { nk_team_stats_record(newValue ? 1 : 0) }
    }

    /// The calling thread's team waits recorded so far (see `TeamWaits`).
    public static var teamWaits: TeamWaits {
        var s = nk_team_stats()
        nk_team_stats_read(&s)
        var w = TeamWaits()
        w.regions = Int(s.regions)
        w.regionEndSeconds = Double(s.end_wait_ns) * 1e-9
        w.joinSeconds = Double(s.join_ns) * 1e-9
        return w
    }

    /// Runs `body(i)` for every i in 0..<count as the items of one parallel region of the kernels'
    /// thread team (at most `threads` threads, this one included; any thread may run any item).
    /// The kernels an item calls run on that item's thread alone. For work split above the kernels
    /// (a training step's micro-shards): the items must not depend on which thread runs them.
    public static func concurrentItems(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        withoutActuallyEscaping(body) { escapable in
            var closure = escapable
            withUnsafeMutablePointer(to: &closure) { context in
                nk_parallel_items(Int64(count), context) { context, item in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(item))
                }
            }
        }
    }

    /// Runs `body` with the kernels it calls on this thread limited to `n` threads (other threads
    /// keep `threads`): for work already split over threads above the kernels.
    public static func withThreadLimit<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        let outer = nk_get_thread_limit()
        nk_set_thread_limit(Int32(clamping: n))
        defer { nk_set_thread_limit(outer) }
        return try body()
    }

    /// Runs `body` with `threads` set to `n`, restoring the previous value afterwards.
    public static func withThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        let old = threads
        threads = n
        defer { threads = old }
        return try body()
    }
}
