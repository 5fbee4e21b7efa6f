// The progress display of `neurite train`: a live bar that fits the terminal, one line per epoch
// when standard output is not a terminal, JSON lines with --json.

import Foundation
import Neurite

/// Progress: a live bar on a terminal, one line per epoch otherwise, JSON lines with --json.
final class ProgressReporter: TrainingCallback {
    let json: Bool
    let total: Int
    let isTTY = isatty(STDOUT_FILENO) != 0
    var epochStart = Date()
    var lastDraw = Date.distantPast
    let trainCount: Int
    let batchSize: Int
    /// Running mean of the epoch's batch losses (what the bar shows, not the last batch's).
    var lossSum = 0.0, lossCount = 0
    /// Bar redraws in this epoch: the first has too little time behind it for a rate.
    var draws = 0

    init(json: Bool, total: Int, trainCount: Int, batchSize: Int) {
        self.json = json
        self.total = total
        self.trainCount = trainCount
        self.batchSize = batchSize
    }

    /// Columns of the terminal on standard output; 80 when it cannot be read or reads 0 (some
    /// terminals, and pipes, report nothing).
    static func terminalWidth() -> Int {
        var size = winsize()
        let status = withUnsafeMutablePointer(to: &size) { ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), $0) }
        return status == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }

    /// The bar's text for a terminal of `width` columns: at most `width − 1` characters (writing
    /// the last column makes some terminals wrap). What does not fit goes, least useful first: the
    /// bar shrinks to 10 cells, then the rate, the ETA, the bar and the percentage are left out.
    static func line(epoch: Int, fraction: Double, rate: Double?, loss: Double, eta: Double, width: Int) -> String {
        let room = max(width - 1, 0)
        let head = "epoch \(epoch)"
        let percent = String(format: "%3.0f%%", fraction * 100)
        let lossText = String(format: "loss %.4f", loss)
        let rateText = rate.map { String(format: "%.0f/s", $0) }
        let etaText = String(format: "ETA %.0fs", max(0, eta))
        func bar(_ cells: Int) -> String {
            let filled = min(cells, Int(fraction * Double(cells)))
            return "[" + String(repeating: "=", count: filled) + (filled < cells ? ">" : "")
                + String(repeating: " ", count: max(0, cells - filled - 1)) + "]"
        }
        // Candidates from the fullest to the barest; the first that fits is used.
        let optional: [(bar: Bool, rate: Bool, eta: Bool, percent: Bool)] = [
            (true, true, true, true), (true, false, true, true), (true, false, false, true),
            (false, false, false, true), (false, false, false, false),
        ]
        for o in optional {
            var parts = [head]
            let fixed = [o.percent ? percent : nil, o.rate ? rateText : nil, lossText, o.eta ? etaText : nil].compactMap { $0 }
            let used = ([head] + fixed).map(\.count).reduce(0, +) + fixed.count     // single spaces between parts
            if o.bar {
                let cells = min(30, room - used - 3)      // brackets and one more space
                guard cells >= 10 else { continue }
                parts.append(bar(cells))
            }
            parts += fixed
            let text = parts.joined(separator: " ")
            if text.count <= room { return text }
        }
        return String("\(head) \(lossText)".prefix(room))
    }

    func trainerDidFinishBatch(_ trainer: Trainer, epoch: Int, batch: Int, batches: Int, loss: Float) {
        if batch == 1 || lossCount == 0 && batch > 1 { epochStart = Date(); lossSum = 0; lossCount = 0; draws = 0 }
        lossSum += Double(loss)
        lossCount += 1
        // Redraw at most 10 times a second.
        guard isTTY, !json, Date().timeIntervalSince(lastDraw) > 0.1 || batch == batches else { return }
        lastDraw = Date()
        let elapsed = Date().timeIntervalSince(epochStart)
        let frac = Double(batch) / Double(batches)
        let rate = draws > 0 && elapsed > 0 ? Double(min(lossCount * batchSize, trainCount)) / elapsed : nil
        let eta = elapsed / max(Double(lossCount) / Double(batches), 1e-9) - elapsed
        draws += 1
        // Cleared to the end of the line, so a shorter line leaves nothing of the previous one.
        let text = Self.line(epoch: epoch, fraction: frac, rate: rate, loss: lossSum / Double(lossCount), eta: eta, width: Self.terminalWidth())
        FileHandle.standardOutput.write(Data(("\r" + text + "\u{1B}[K").utf8))
    }

    func trainerDidFinishEpoch(_ trainer: Trainer, metrics m: EpochMetrics) -> TrainingAction {
        if json {
            print(MetricsLogger.jsonLine(m))
        } else {
            if isTTY { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
            var s = String(format: "epoch %d/%d  loss %.4f", m.epoch, trainer.completedEpochs - m.epoch + total, m.trainLoss)
            if let a = m.trainAccuracy { s += String(format: "  acc %.4f", a) }
            if let v = m.validationLoss { s += String(format: "  val_loss %.4f", v) }
            if let v = m.validationAccuracy { s += String(format: "  val_acc %.4f", v) }
            s += String(format: "  %.1f s  %.0f samples/s", m.seconds, m.samplesPerSecond)
            print(s)
        }
        fflush(nil)
        return .continue
    }

    func finishLine() { if isTTY && !json { print("") } }
}
