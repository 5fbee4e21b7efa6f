// Timing and output helpers shared by every benchmark.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seconds per call over the timed samples.
struct Timing {
    var median, min, max: Double
    var ms: Double { median * 1e3 }
}

/// Runs `body` `warmup` times untimed, then `samples` timed samples. Each sample repeats `body`
/// enough times to last about `minSampleSeconds` (so microsecond kernels are not timer noise),
/// and reports seconds per call.
func measure(warmup: Int, samples: Int, minSampleSeconds: Double = 0.002, _ body: () -> Void) -> Timing {
    for _ in 0..<warmup { body() }
    let clock = ContinuousClock()
    // Calibrate the inner repeat count from one call.
    let once = clock.measure(body).seconds
    let inner = once >= minSampleSeconds ? 1 : Swift.min(100_000, Int((minSampleSeconds / Swift.max(once, 1e-9)).rounded(.up)))
    var times: [Double] = []
    times.reserveCapacity(samples)
    for _ in 0..<samples {
        let t = clock.measure { for _ in 0..<inner { body() } }.seconds
        times.append(t / Double(inner))
    }
    times.sort()
    let mid = times.count / 2
    let median = times.count % 2 == 1 ? times[mid] : (times[mid - 1] + times[mid]) / 2
    return Timing(median: median, min: times.first!, max: times.last!)
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}

func printError(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

/// A number with `digits` decimals (no Foundation `String(format:)`).
func fixed(_ x: Double, _ digits: Int = 1) -> String {
    guard x.isFinite else { return "\(x)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(x) * scale).rounded() / scale
    var s = String(Int(r))
    if digits > 0 {
        var frac = String(Int(((r - r.rounded(.down)) * scale).rounded()))
        while frac.count < digits { frac = "0" + frac }
        s += "." + frac
    }
    return (x < 0 && r != 0 ? "-" : "") + s
}

func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
    if s.count >= width { return s }
    let fill = String(repeating: " ", count: width - s.count)
    return left ? s + fill : fill + s
}

/// One JSON object on one line; values are numbers, strings or booleans.
func jsonLine(_ fields: [(String, Any)]) -> String {
    let body = fields.map { key, value -> String in
        let v: String
        switch value {
        case let b as Bool: v = b ? "true" : "false"
        case let s as String: v = "\"" + s.replacingQuotes() + "\""
        case let d as Double: v = d.isFinite ? "\(d)" : "null"
        case let i as Int: v = "\(i)"
        case let a as [Double]: v = "[" + a.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ",") + "]"
        case Optional<Double>.none: v = "null"
        default: v = "\"\(value)\""
        }
        return "\"\(key)\":\(v)"
    }
    return "{" + body.joined(separator: ",") + "}"
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var out = ""
        for ch in self {
            if ch == "\"" || ch == "\\" { out.append("\\") }
            out.append(ch)
        }
        return out
    }
}
