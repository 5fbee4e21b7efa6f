// Training curves as a standalone SVG file.

import Foundation

/// Draws loss and accuracy per epoch (train and validation) as two side-by-side SVG charts.
public enum TrainingCurves {
    /// The SVG document for `history`.
    public static func svg(_ history: History, title: String = "Training curves") -> String {
        let e = history.epochs
        let w = 420.0, h = 300.0, pad = 50.0
        func chart(_ x0: Double, _ name: String, _ series: [(String, String, [Float?])]) -> String {
            let values = series.flatMap { $0.2.compactMap { $0 } }.filter(\.isFinite)
            var lo = Double(values.min() ?? 0), hi = Double(values.max() ?? 1)
            if hi - lo < 1e-9 { hi += 0.5; lo -= 0.5 }
            let n = max(e.count, 2)
            func px(_ i: Int) -> Double { x0 + pad + Double(i) / Double(n - 1) * (w - 1.5 * pad) }
            func py(_ v: Double) -> Double { 30 + (h - pad - 30) * (1 - (v - lo) / (hi - lo)) }
            var s = "<g font-family=\"sans-serif\" font-size=\"11\">\n"
            s += "<text x=\"\(x0 + w / 2)\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">\(name)</text>\n"
            s += "<line x1=\"\(x0 + pad)\" y1=\"\(h - pad)\" x2=\"\(x0 + w - pad / 2)\" y2=\"\(h - pad)\" stroke=\"black\"/>\n"
            s += "<line x1=\"\(x0 + pad)\" y1=\"30\" x2=\"\(x0 + pad)\" y2=\"\(h - pad)\" stroke=\"black\"/>\n"
            for k in 0...4 {
                let v = lo + (hi - lo) * Double(k) / 4
                s += "<text x=\"\(x0 + pad - 4)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>\n"
                s += "<line x1=\"\(x0 + pad)\" y1=\"\(py(v))\" x2=\"\(x0 + w - pad / 2)\" y2=\"\(py(v))\" stroke=\"#ddd\"/>\n"
            }
            for (i, m) in e.enumerated() where e.count <= 20 || i % max(1, e.count / 10) == 0 {
                s += "<text x=\"\(px(i))\" y=\"\(h - pad + 14)\" text-anchor=\"middle\">\(m.epoch)</text>\n"
            }
            s += "<text x=\"\(x0 + w / 2)\" y=\"\(h - 12)\" text-anchor=\"middle\">epoch</text>\n"
            s += "<text x=\"\(x0 + 12)\" y=\"\(h / 2)\" transform=\"rotate(-90 \(x0 + 12) \(h / 2))\" text-anchor=\"middle\">\(name.lowercased())</text>\n"
            for (j, (label, color, vals)) in series.enumerated() {
                let pts = vals.enumerated().compactMap { i, v in v.flatMap { $0.isFinite ? "\(px(i)),\(py(Double($0)))" : nil } }
                guard !pts.isEmpty else { continue }
                s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(pts.joined(separator: " "))\"/>\n"
                s += "<text x=\"\(x0 + w - pad)\" y=\"\(40 + 14 * Double(j))\" text-anchor=\"end\" fill=\"\(color)\">\(label)</text>\n"
            }
            return s + "</g>\n"
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(2 * w))\" height=\"\(Int(h + 20))\" viewBox=\"0 0 \(Int(2 * w)) \(Int(h + 20))\">\n"
        svg += "<title>\(xmlEscaped(title))</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += chart(0, "Loss", [("train", "#1f77b4", e.map { $0.trainLoss }), ("validation", "#ff7f0e", e.map(\.validationLoss))])
        svg += chart(w, "Accuracy", [("train", "#1f77b4", e.map(\.trainAccuracy)), ("validation", "#ff7f0e", e.map(\.validationAccuracy))])
        return svg + "</svg>\n"
    }

    /// `text` safe inside XML character data: the title comes from the command line (a model's layer
    /// list, a file name), and `<` or `&` there would make the document malformed.
    static func xmlEscaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            // Control characters other than tab and line breaks are not allowed in XML 1.0 at all.
            case _ where scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Writes the SVG atomically to `path`.
    public static func write(_ history: History, to path: String, title: String = "Training curves") throws {
        try SafeTensors.atomicWrite(Array(svg(history, title: title).utf8), to: path)
    }
}
