// Training curves as a standalone SVG file.

import Foundation

/// Draws loss and accuracy per epoch (train and validation) as side-by-side SVG charts.
///
/// Axes have round ticks (1-2-5 steps), the best epoch (lowest validation loss, else lowest
/// training loss) is marked by a dashed line in every chart, each epoch is a dot (so a one-epoch run
/// still shows its values), and a chart with nothing to show (accuracy in a regression) is left out.
public enum TrainingCurves {
    /// A linear axis with round tick values.
    public struct Axis: Equatable, Sendable {
        /// The axis' ends: multiples of `step` enclosing the data.
        public var lower: Double, upper: Double
        /// Distance between ticks: 1, 2 or 5 times a power of ten.
        public var step: Double
        /// Decimal places that show every tick exactly (those of `step`).
        public var decimals: Int

        /// The tick values from `lower` to `upper`, computed as multiples of `step` so they do not
        /// drift (0.30000000000000004).
        public var ticks: [Double] {
            let first = (lower / step).rounded(), last = (upper / step).rounded()
            guard first <= last, last - first < 1000 else { return [lower, upper] }
            return stride(from: first, through: last, by: 1).map { $0 * step }
        }

        /// `value` as a tick label: with the step's decimals, so labels are short and all alike.
        public func label(_ value: Double) -> String {
            let v = abs(value) < step / 2 ? 0 : value     // no "-0.0"
            if decimals > 6 || abs(v) >= 1e7 { return String(format: "%.1e", v) }
            return String(format: "%.\(decimals)f", v)
        }
    }

    /// A round axis over [`low`, `high`] with about `targetTicks` ticks (at most one more).
    ///
    /// The step is the raw spacing (high − low) / (targetTicks − 1) rounded up to 1, 2 or 5 times
    /// a power of ten — the "nice numbers" of Heckbert (Graphics Gems, 1990) — and the ends are the
    /// multiples of the step around the data. An empty range is widened around its value; with
    /// `integer` the step is at least 1 (epochs).
    public static func niceAxis(_ low: Double, _ high: Double, targetTicks: Int = 5, integer: Bool = false) -> Axis {
        var lo = low.isFinite ? low : 0, hi = high.isFinite ? high : 1
        if lo > hi { swap(&lo, &hi) }
        if hi - lo <= max(abs(hi), abs(lo)) * 1e-9 {
            let pad = integer ? 1 : (lo == 0 ? 0.5 : abs(lo) * 0.1)
            lo -= pad; hi += pad
        }
        let raw = (hi - lo) / Double(max(targetTicks - 1, 1))
        let magnitude = pow(10, floor(log10(raw)))
        let fraction = raw / magnitude
        var step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude
        if integer { step = max(1, step.rounded()) }
        let decimals = max(0, -Int(floor(log10(step) + 1e-9)))
        return Axis(lower: floor(lo / step + 1e-9) * step, upper: ceil(hi / step - 1e-9) * step, step: step, decimals: decimals)
    }

    /// The epoch to mark: lowest finite validation loss when there is validation, else lowest
    /// finite training loss; nil without a finite loss.
    public static func bestEpoch(_ history: History) -> Int? {
        let e = history.epochs
        let hasValidation = e.contains { $0.validationLoss?.isFinite ?? false }
        let scored = e.compactMap { m -> (Int, Float)? in
            let v = hasValidation ? m.validationLoss : m.trainLoss
            return v.flatMap { $0.isFinite ? (m.epoch, $0) : nil }
        }
        return scored.min { $0.1 < $1.1 }?.0
    }

    /// One chart: a title and its series (label, colour, one value per epoch).
    struct Panel {
        let name: String
        let series: [(label: String, color: String, values: [Float?])]
        var hasData: Bool { series.contains { $0.values.contains { $0?.isFinite ?? false } } }
    }

    /// The charts `history` has data for, in order; the loss chart always (an empty history shows
    /// one empty chart rather than no picture).
    static func panels(_ history: History) -> [Panel] {
        let e = history.epochs
        let loss = Panel(name: "Loss", series: [("train", "#1f77b4", e.map { $0.trainLoss }), ("validation", "#ff7f0e", e.map(\.validationLoss))])
        let accuracy = Panel(name: "Accuracy", series: [("train", "#1f77b4", e.map(\.trainAccuracy)),
                                                        ("validation", "#ff7f0e", e.map(\.validationAccuracy))])
        return [loss] + (accuracy.hasData ? [accuracy] : [])
    }

    /// The names of the charts `svg` draws for `history` ("Loss", "Accuracy").
    public static func chartNames(_ history: History) -> [String] { panels(history).map(\.name) }

    static let width = 420.0, height = 300.0
    // Margins: the left one holds tick labels of up to ~8 characters at 11 px.
    static let left = 62.0, right = 16.0, top = 34.0, bottom = 48.0

    /// The SVG document for `history`.
    public static func svg(_ history: History, title: String = "Training curves") -> String {
        let charts = panels(history)
        let total = Int(width) * charts.count, h = Int(height + 20)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(total)\" height=\"\(h)\" viewBox=\"0 0 \(total) \(h)\">\n"
        svg += "<title>\(xmlEscaped(title))</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        let best = bestEpoch(history)
        for (i, p) in charts.enumerated() { svg += chart(p, epochs: history.epochs.map(\.epoch), best: best, x0: Double(i) * width) }
        return svg + "</svg>\n"
    }

    static func chart(_ panel: Panel, epochs: [Int], best: Int?, x0: Double) -> String {
        let values = panel.series.flatMap { $0.values.compactMap { $0 } }.filter(\.isFinite).map(Double.init)
        let y = niceAxis(values.min() ?? 0, values.max() ?? 1)
        // Epochs span the data exactly (a round end past the last epoch is empty space); the ticks
        // are the round ones inside.
        var x = niceAxis(Double(epochs.first ?? 1), Double(epochs.last ?? 1), targetTicks: 6, integer: true)
        if let first = epochs.first, let last = epochs.last, first < last { (x.lower, x.upper) = (Double(first), Double(last)) }
        let xTicks = x.ticks.filter { $0 >= max(x.lower, 1) && $0 <= x.upper }
        let plotLeft = x0 + left, plotRight = x0 + width - right, plotTop = top, plotBottom = height - bottom
        func px(_ epoch: Double) -> Double { plotLeft + (epoch - x.lower) / (x.upper - x.lower) * (plotRight - plotLeft) }
        func py(_ v: Double) -> Double { plotBottom - (v - y.lower) / (y.upper - y.lower) * (plotBottom - plotTop) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = "<g font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<text x=\"\(f(x0 + width / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">\(panel.name)</text>\n"
        for v in y.ticks {
            s += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(py(v)))\" x2=\"\(f(plotRight))\" y2=\"\(f(py(v)))\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(f(plotLeft - 5))\" y=\"\(f(py(v) + 4))\" text-anchor=\"end\">\(y.label(v))</text>\n"
        }
        for v in xTicks {
            s += "<line x1=\"\(f(px(v)))\" y1=\"\(f(plotBottom))\" x2=\"\(f(px(v)))\" y2=\"\(f(plotBottom + 4))\" stroke=\"black\"/>\n"
            s += "<text x=\"\(f(px(v)))\" y=\"\(f(plotBottom + 16))\" text-anchor=\"middle\">\(x.label(v))</text>\n"
        }
        s += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(plotBottom))\" x2=\"\(f(plotRight))\" y2=\"\(f(plotBottom))\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(plotTop))\" x2=\"\(f(plotLeft))\" y2=\"\(f(plotBottom))\" stroke=\"black\"/>\n"
        s += "<text x=\"\(f((plotLeft + plotRight) / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">epoch</text>\n"
        s += "<text x=\"\(f(x0 + 13))\" y=\"\(f(height / 2))\" transform=\"rotate(-90 \(f(x0 + 13)) \(f(height / 2)))\" text-anchor=\"middle\">\(panel.name.lowercased())</text>\n"
        if let b = best {
            s += "<line x1=\"\(f(px(Double(b))))\" y1=\"\(f(plotTop))\" x2=\"\(f(px(Double(b))))\" y2=\"\(f(plotBottom))\" stroke=\"#2ca02c\" stroke-dasharray=\"5,4\"/>\n"
            // The label sits on the side of the line with more room, so it never leaves the chart.
            let onRight = px(Double(b)) < (plotLeft + plotRight) / 2
            s += "<text x=\"\(f(px(Double(b)) + (onRight ? 4 : -4)))\" y=\"\(f(plotTop + 12))\" text-anchor=\"\(onRight ? "start" : "end")\" fill=\"#2ca02c\">best: epoch \(b)</text>\n"
        }
        let drawn = panel.series.filter { $0.values.contains { $0?.isFinite ?? false } }
        for (j, series) in drawn.enumerated() {
            let points = zip(epochs, series.values).compactMap { e, v in v.flatMap { $0.isFinite ? (px(Double(e)), py(Double($0))) : nil } }
            guard !points.isEmpty else { continue }
            if points.count > 1 {
                s += "<polyline fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2\" points=\"\(points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " "))\"/>\n"
            }
            // Dots while they stay distinct; a single epoch is only its dot.
            if points.count <= 60 {
                for (a, b) in points { s += "<circle cx=\"\(f(a))\" cy=\"\(f(b))\" r=\"3\" fill=\"\(series.color)\"/>\n" }
            }
            // The legend sits above the plot, right-aligned, one entry after another.
            s += "<text x=\"\(f(plotRight - 75 * Double(drawn.count - 1 - j)))\" y=\"\(f(plotTop - 8))\" text-anchor=\"end\" fill=\"\(series.color)\">● \(series.label)</text>\n"
        }
        if values.isEmpty {
            s += "<text x=\"\(f((plotLeft + plotRight) / 2))\" y=\"\(f((plotTop + plotBottom) / 2))\" text-anchor=\"middle\" fill=\"#888\">no finite values</text>\n"
        }
        return s + "</g>\n"
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
