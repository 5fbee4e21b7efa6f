// The --json records: every kind parses as one JSON object with the documented keys and types.

import Foundation
import Neurite
import Testing
@testable import NeuriteBench

@Suite struct RecordSchemaTests {
    enum Kind { case string, int, number, bool, numberOrNull }

    func check(_ line: String, _ schema: [String: Kind]) throws {
        #expect(!line.contains("\n"))
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        let json = try #require(object as? [String: Any], "not an object: \(line)")
        for (key, kind) in schema {
            let value = try #require(json[key], "missing \(key) in \(line)")
            let n = value as? NSNumber
            let isBool = n.map { String(cString: $0.objCType) == "c" } ?? false
            switch kind {
            case .string: #expect(value is String, "\(key) in \(line)")
            case .bool: #expect(isBool, "\(key) in \(line)")
            case .int: #expect(n != nil && !isBool && n!.doubleValue == n!.doubleValue.rounded(), "\(key) in \(line)")
            case .number: #expect(n != nil && !isBool, "\(key) in \(line)")
            case .numberOrNull: #expect(value is NSNull || (n != nil && !isBool), "\(key) in \(line)")
            }
        }
        // And `compare` reads it.
        _ = try BenchRecord(json: json)
    }

    @Test func gemmRecordFromARealRun() throws {
        let bench = try GemmBench.parse(["--threads", "1,2", "--repeat", "1", "--warmup", "0", "--json",
                                         "--allow-debug", "--shape", "20x12x8:tn"])
        var lines: [String] = []
        #expect(try bench.runCase(try bench.cases()[0], isa: .auto, threadCounts: [1, 2], peaks: [1: 100],
                                   corruptor: nil) { lines.append($0) })  // immune to VerificationTests' global hook
        #expect(lines.count == 2)
        for line in lines {
            try check(line, ["bench": .string, "case": .string, "m": .int, "n": .int, "k": .int, "transA": .bool,
                             "transB": .bool, "threads": .int, "isa": .string, "gflops": .number, "ms": .number,
                             "min_ms": .number, "max_ms": .number, "speedup": .numberOrNull,
                             "efficiency": .numberOrNull, "peak_fraction": .numberOrNull, "lib": .string])
        }
        let first = try #require(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["m"] as? Int == 20 && first["transA"] as? Bool == true && first["transB"] as? Bool == false)
        let second = try #require(JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(second["peak_fraction"] is NSNull && second["threads"] as? Int == 2)
    }

    @Test func peakActTrainRecords() throws {
        try check(Records.peak(threads: 2, isa: "avx512", median: 300.5, min: 290, max: 310),
                  ["bench": .string, "threads": .int, "isa": .string, "gflops": .number, "min_gflops": .number,
                   "max_gflops": .number, "lib": .string])
        let t = Timing(median: 0.001, min: 0.0009, max: 0.002)
        try check(Records.act(op: "relu", count: 1024, threads: 2, time: t, gbps: 12.5),
                  ["bench": .string, "op": .string, "count": .int, "threads": .int, "ms": .number,
                   "gbps": .number, "lib": .string])
        try check(Records.train(model: "mlp", threads: 1, batch: 64, samplesPerSecond: 40000.5, epochSeconds: 1.5,
                                speedup: 1, finalLoss: 0.5, testAccuracy: 0.82, epochs: 1, isa: "avx512"),
                  ["bench": .string, "model": .string, "threads": .int, "batch": .int, "samples_per_s": .number,
                   "epoch_s": .number, "speedup": .number, "efficiency": .number, "final_loss": .number,
                   "test_accuracy": .number, "epochs": .int, "isa": .string, "lib": .string])
        for gflops in [Optional(55.5), nil] {
            try check(Records.conv(layer: "alexnet.conv3", pass: "forward+backward", batch: 16, threads: 2, time: t,
                                   gflops: gflops, speedup: 1.8),
                      ["bench": .string, "layer": .string, "pass": .string, "batch": .int, "threads": .int,
                       "ms": .number, "min_ms": .number, "max_ms": .number, "gflops": .numberOrNull,
                       "speedup": .number, "lib": .string])
        }
    }

    @Test func stringsAreEscaped() throws {
        let line = jsonLine([("bench", "x\"y\\z"), ("threads", 1), ("ms", Double.nan)])
        let json = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(json["bench"] as? String == "x\"y\\z" && json["ms"] is NSNull)
    }
}
