// `neurite-bench compare A.jsonl B.jsonl`: one table of two runs' figures side by side (e.g. Neurite
// against a peer from Benchmarks/peers, or a branch against main), matched case by case.

import ArgumentParser
import Foundation

/// A file that cannot be compared, named with its line so it can be fixed.
enum CompareError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case malformed(path: String, line: Int, reason: String)

    var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read \(path): \(reason)"
        case let .malformed(path, line, reason): "\(path):\(line): \(reason)"
        }
    }
}

/// One benchmark record: which case it measured, on how many threads, and its figure.
struct BenchRecord: Equatable {
    /// A readable name for the case, the same for every library (e.g. "gemm 512x512x512 nn").
    var label: String
    var threads: Int
    /// The figure compared: gflops, samples_per_s, gbps (higher is better) or ms (lower is better).
    var metric: String
    var value: Double
    var lib: String?

    /// The figure each kind of record is compared on; other kinds use the first of these present.
    static let metrics = ["gemm": "gflops", "peak": "gflops", "train": "samples_per_s", "act": "gbps"]
    static let fallbackMetrics = ["gflops", "samples_per_s", "gbps", "ms"]

    /// Builds a record from one parsed JSON object; the error says which key is missing or wrong.
    init(json: [String: Any]) throws {
        guard let bench = json["bench"] as? String, !bench.isEmpty else { throw RecordError("no \"bench\" string") }
        guard let threads = integer(json["threads"]), threads >= 1 else { throw RecordError("no positive integer \"threads\"") }
        switch bench {
        case "gemm":
            guard let m = integer(json["m"]), let n = integer(json["n"]), let k = integer(json["k"]) else {
                throw RecordError("gemm record without integer \"m\", \"n\", \"k\"")
            }
            let op = (flag(json["transA"]) ? "t" : "n") + (flag(json["transB"]) ? "t" : "n")
            label = "gemm \(m)x\(n)x\(k) \(op)"
        case "train":
            guard let model = json["model"] as? String else { throw RecordError("train record without \"model\"") }
            // The recipe (plain, main) is part of the case: a file with both must not pool them.
            let recipe = (json["recipe"] as? String).map { " \($0)" } ?? ""
            label = "train \(model)\(recipe)" + (integer(json["batch"]).map { " b\($0)" } ?? "")
        default:
            // act, peak, and kinds this version does not know: the bench plus whatever names the case.
            let parts = ["model", "layer", "op", "case", "pass", "batch", "m", "n", "k"].compactMap { key -> String? in
                guard let v = json[key] else { return nil }
                if let s = v as? String { return s }
                return integer(v).map { "\(key)\($0)" }
            }
            label = ([bench] + parts).joined(separator: " ")
        }
        let candidates = Self.metrics[bench].map { [$0] } ?? Self.fallbackMetrics
        guard let metric = candidates.first(where: { number(json[$0]) != nil }) else {
            throw RecordError("no numeric \(candidates.map { "\"\($0)\"" }.joined(separator: " or ")) in this \(bench) record")
        }
        self.threads = threads
        self.metric = metric
        self.value = number(json[metric])!
        self.lib = json["lib"] as? String
    }

    struct RecordError: Error { var reason: String; init(_ r: String) { reason = r } }

    /// Reads a JSON-lines file: one object per line; blank lines and lines starting with # are skipped.
    static func load(path: String) throws -> [BenchRecord] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CompareError.unreadable(path: path, reason: FileManager.default.fileExists(atPath: path)
                              ? "not readable UTF-8 text" : "no such file")
        }
        var out: [BenchRecord] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            } catch {
                throw CompareError.malformed(path: path, line: i + 1, reason: "not valid JSON: \(line.prefix(60))")
            }
            guard let json = object as? [String: Any] else {
                throw CompareError.malformed(path: path, line: i + 1, reason: "not a JSON object: \(line.prefix(60))")
            }
            do {
                out.append(try BenchRecord(json: json))
            } catch {
                throw CompareError.malformed(path: path, line: i + 1, reason: (error as? RecordError)?.reason ?? "\(error)")
            }
        }
        return out
    }
}

/// Two runs matched case by case: a row per (case, threads) present in both, with medians when a
/// file holds several records of a case (e.g. interleaved repeats appended to one file).
struct Comparison {
    struct Row: Equatable {
        var label: String
        var threads: Int
        var metric: String
        var a, b: Double
        var countA, countB: Int
        var ratio: Double { a / b }
    }

    var rows: [Row] = []
    /// Cases (label and thread count) found in only one of the files.
    var onlyInA: [String] = []
    var onlyInB: [String] = []
    var nameA: String, nameB: String

    init(_ a: [BenchRecord], _ b: [BenchRecord], nameA: String = "A", nameB: String = "B") {
        self.nameA = nameA
        self.nameB = nameB
        struct Key: Hashable { var label: String; var threads: Int }
        func group(_ records: [BenchRecord]) -> ([Key], [Key: [BenchRecord]]) {
            var order: [Key] = [], groups: [Key: [BenchRecord]] = [:]
            for r in records {
                let key = Key(label: r.label, threads: r.threads)
                if groups[key] == nil { order.append(key) }
                groups[key, default: []].append(r)
            }
            return (order, groups)
        }
        let (orderA, groupsA) = group(a), (orderB, groupsB) = group(b)
        func name(_ k: Key) -> String { "\(k.label), \(k.threads) thread\(k.threads == 1 ? "" : "s")" }
        for key in orderA {
            guard let rb = groupsB[key] else { onlyInA.append(name(key)); continue }
            let ra = groupsA[key]!
            guard ra[0].metric == rb[0].metric else {
                onlyInA.append(name(key) + " (\(ra[0].metric) vs \(rb[0].metric))")
                continue
            }
            rows.append(Row(label: key.label, threads: key.threads, metric: ra[0].metric,
                            a: median(ra.map(\.value)), b: median(rb.map(\.value)),
                            countA: ra.count, countB: rb.count))
        }
        onlyInB = orderB.filter { groupsA[$0] == nil }.map(name)
    }

    /// The table as text: case, threads, metric, A, B, A/B; then the unmatched cases.
    func render() -> String {
        let wa = max(10, nameA.count + 1), wb = max(10, nameB.count + 1)
        var lines = ["A = \(nameA), B = \(nameB); A/B > 1 means A is faster, except for ms (lower is better)",
                     "case".padding(toLength: 30, withPad: " ", startingAt: 0) + pad("threads", 8) + pad("metric", 15)
                     + pad(nameA, wa) + pad(nameB, wb) + pad("A/B", 8)]
        for r in rows {
            let digits = r.metric == "samples_per_s" ? 0 : r.metric == "ms" ? 3 : 1
            let n = r.countA > 1 || r.countB > 1 ? "  (median of \(r.countA) / \(r.countB))" : ""
            lines.append(r.label.padding(toLength: max(30, r.label.count + 1), withPad: " ", startingAt: 0)
                         + pad("\(r.threads)", 8) + pad(r.metric, 15) + pad(fixed(r.a, digits), wa)
                         + pad(fixed(r.b, digits), wb) + pad(fixed(r.ratio, 2), 8) + n)
        }
        if rows.isEmpty { lines.append("(no case appears in both files)") }
        for c in onlyInA { lines.append("only in A: \(c)") }
        for c in onlyInB { lines.append("only in B: \(c)") }
        return lines.joined(separator: "\n")
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted(), mid = s.count / 2
    return s.count % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/// Foundation bridges JSON numbers and booleans alike as NSNumber (and `as? Bool` accepts 0 and 1);
/// a boolean's Objective-C type is "c" (char), which JSONSerialization never gives a number.
private func isJSONBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

/// A JSON number as Double; booleans and strings are not numbers.
private func number(_ v: Any?) -> Double? {
    guard let n = v as? NSNumber, !isJSONBoolean(n) else { return nil }
    return n.doubleValue
}

/// A JSON number that is a whole number.
private func integer(_ v: Any?) -> Int? {
    guard let d = number(v), d == d.rounded(), abs(d) < 1e15 else { return nil }
    return Int(d)
}

/// A JSON boolean (missing means false); 0 and 1 are accepted too.
private func flag(_ v: Any?) -> Bool {
    if let n = v as? NSNumber, isJSONBoolean(n) { return n.boolValue }
    return integer(v) == 1
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two --json result files (JSON lines) case by case: both figures and the ratio A/B.",
        discussion: "Records match on their case (gemm: m, n, k, transposes; train: model, recipe and batch; act: op) and thread count. Several records of a case in one file are reduced to their median.")

    @Argument(help: "The first JSON-lines file (A).") var a: String
    @Argument(help: "The second JSON-lines file (B).") var b: String

    func run() throws {
        let ra = try BenchRecord.load(path: a), rb = try BenchRecord.load(path: b)
        /// The library when the file names exactly one ("lib"), else the file's name.
        func name(_ records: [BenchRecord], _ path: String) -> String {
            let libs = Set(records.compactMap(\.lib))
            return libs.count == 1 ? libs.first! : URL(fileURLWithPath: path).lastPathComponent
        }
        print("A: \(a)\nB: \(b)")
        var (na, nb) = (name(ra, a), name(rb, b))
        if na == nb { (na, nb) = ("A", "B") }   // e.g. two Neurite runs: the paths above tell them apart
        print(Comparison(ra, rb, nameA: na, nameB: nb).render())
    }
}
