// The JSON-lines records the benchmarks print with --json, one builder per kind, so the schema
// lives in one place (the peers in Benchmarks/peers emit the same keys, with "lib" naming the library).
// `neurite-bench compare` matches records on `Records.keyFields` and compares their `metric`.

enum Records {
    static let lib = "neurite"

    /// {"bench":"peak","threads","isa","gflops","min_gflops","max_gflops","lib"}
    static func peak(threads: Int, isa: String, median: Double, min: Double, max: Double) -> String {
        jsonLine([("bench", "peak"), ("threads", threads), ("isa", isa), ("gflops", median),
                  ("min_gflops", min), ("max_gflops", max), ("lib", lib)])
    }

    /// {"bench":"gemm","case","m","n","k","transA","transB","threads","isa","gflops","ms","min_ms",
    /// "max_ms","speedup","efficiency","peak_fraction","lib"}; the last three are null when unknown.
    static func gemm(shape s: GemmShape, threads: Int, isa: String, time: Timing, gflops: Double,
                     speedup: Double?, efficiency: Double?, peakFraction: Double?) -> String {
        jsonLine([("bench", "gemm"), ("case", s.label), ("m", s.m), ("n", s.n), ("k", s.k),
                  ("transA", s.transA), ("transB", s.transB), ("threads", threads), ("isa", isa),
                  ("gflops", gflops), ("ms", time.ms), ("min_ms", time.min * 1e3),
                  ("max_ms", time.max * 1e3), ("speedup", speedup as Any),
                  ("efficiency", efficiency as Any), ("peak_fraction", peakFraction as Any), ("lib", lib)])
    }

    /// {"bench":"act","op","count","threads","ms","gbps","lib"}
    static func act(op: String, count: Int, threads: Int, time: Timing, gbps: Double) -> String {
        jsonLine([("bench", "act"), ("op", op), ("count", count), ("threads", threads), ("ms", time.ms),
                  ("gbps", gbps), ("lib", lib)])
    }

    /// {"bench":"train","model","recipe","threads","batch","shards","samples_per_s","epoch_s","speedup","efficiency",
    /// "final_loss","test_accuracy","epochs","epoch_samples_per_s","round_samples_per_s","isa","lib"}
    static func train(model: String, recipe: String = "plain", perEpoch: [Double] = [], threads: Int, batch: Int, shards: Int = 1,
                      samplesPerSecond: Double, epochSeconds: Double, speedup: Double, finalLoss: Double,
                      testAccuracy: Double, epochs: Int, isa: String, roundSamplesPerSecond: [Double] = []) -> String {
        jsonLine([("bench", "train"), ("model", model), ("recipe", recipe), ("threads", threads), ("batch", batch),
                  ("shards", shards), ("samples_per_s", samplesPerSecond), ("epoch_s", epochSeconds), ("speedup", speedup),
                  ("efficiency", speedup / Double(threads)), ("final_loss", finalLoss),
                  ("test_accuracy", testAccuracy), ("epochs", epochs), ("epoch_samples_per_s", perEpoch),
                  ("round_samples_per_s", roundSamplesPerSecond), ("isa", isa), ("lib", lib)])
    }

    /// {"bench":"conv","layer","pass","batch","threads","ms","min_ms","max_ms","gflops","speedup","lib"};
    /// `pass` is forward, backward (data + filter gradients) or forward+backward; pooling and LRN
    /// rows have gflops null.
    static func conv(layer: String, pass: String, batch: Int, threads: Int, time: Timing, gflops: Double?,
                     speedup: Double) -> String {
        jsonLine([("bench", "conv"), ("layer", layer), ("pass", pass), ("batch", batch), ("threads", threads),
                  ("ms", time.ms), ("min_ms", time.min * 1e3), ("max_ms", time.max * 1e3),
                  ("gflops", gflops as Any), ("speedup", speedup), ("lib", lib)])
    }
}
