// Seeded data augmentation for image batches: random crop with zero padding, horizontal flip and
// random erasing, applied per example on the fly to each training batch.

import Dispatch
import Foundation

/// Random transforms of training images, applied to each mini-batch as it is drawn (never at
/// evaluation). Text form: comma-separated names, `crop[=PAD]` (pad by PAD pixels, 2 by default, and
/// crop back to the original size at a random offset), `flip` (mirror left-right with probability
/// ½) and `erase[=P]` (with probability P, 0.5 by default, zero a random rectangle of 2–20 % of the
/// image, aspect ratio 0.3–3.3, as in Zhong et al. 2017).
///
/// Each example's transform comes from its own random stream — a function of the trainer's seed,
/// the step and the example's position in the batch — so augmentation holds no state to checkpoint,
/// a resumed run draws the same transforms, and the result is bitwise the same for every thread
/// count (examples are split over threads, each writing only its own rows).
public struct Augmentation: Codable, Equatable, Sendable {
    /// Padding of the random crop (nil: no crop).
    public var cropPadding: Int?
    /// Whether to mirror left-right with probability ½.
    public var flip = false
    /// Probability of random erasing (nil: none).
    public var eraseProbability: Float?
    /// Shape [C, H, W] of one image.
    public var imageShape: [Int]

    /// Parses `text` ("crop,flip", "crop=4,flip,erase=0.25") for images of `imageShape` [C, H, W].
    public init(_ text: String, imageShape: [Int]) throws {
        guard imageShape.count == 3, imageShape.allSatisfy({ (1...ModelLimits.maxExtent).contains($0) }) else {
            throw ModelError("augmentation needs images [C, H, W], the examples have shape \(imageShape)")
        }
        self.imageShape = imageShape
        for item in text.lowercased().split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            let value = parts.count > 1 ? parts[1] : nil
            switch parts[0] {
            case "crop":
                let pad = value.map { Int($0) } ?? 2
                guard let p = pad, (1...min(imageShape[1], imageShape[2])).contains(p) else {
                    throw ModelError("augmentation '\(item)': crop padding must be an integer in 1...\(min(imageShape[1], imageShape[2]))")
                }
                cropPadding = p
            case "flip":
                guard value == nil else { throw ModelError("augmentation '\(item)': flip takes no value") }
                flip = true
            case "erase":
                let p = value.map { Float($0) } ?? 0.5
                guard let q = p, q > 0, q <= 1 else { throw ModelError("augmentation '\(item)': erase probability must be in (0, 1]") }
                eraseProbability = q
            default:
                throw ModelError("unknown augmentation '\(parts[0])' (crop[=PAD], flip, erase[=P])")
            }
        }
        guard cropPadding != nil || flip || eraseProbability != nil else { throw ModelError("augmentation '\(text)' names no transform") }
    }

    /// The text form that `init(_:imageShape:)` reads back.
    public var text: String {
        var items: [String] = []
        if let p = cropPadding { items.append("crop=\(p)") }
        if flip { items.append("flip") }
        if let e = eraseProbability { items.append("erase=\(floatText(e))") }
        return items.joined(separator: ",")
    }

    /// Transforms every example of `batch` ([B, C·H·W] or [B, C, H, W]) in place; the transforms
    /// depend only on `seed` and each example's index.
    public func apply(to batch: inout Tensor, seed: UInt64) {
        let (c, h, w) = (imageShape[0], imageShape[1], imageShape[2])
        let size = c * h * w
        precondition(batch.rowWidth == size, "augmentation for \(imageShape) applied to a batch of shape \(batch.shape)")
        let n = batch.rowCount
        guard n > 0 else { return }
        let chunks = min(Runtime.threads, max(1, n / 16))
        batch.withUnsafeMutableBufferPointer { buffer in
            // Each chunk writes only its own rows.
            nonisolated(unsafe) let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                var scratch = [Float](repeating: 0, count: size)
                for i in stride(from: chunk, to: n, by: chunks) {
                    var g = SeededGenerator(seed: mixSeeds(seed, UInt64(i)))
                    transform(base + i * size, &scratch, c, h, w, &g)
                }
            }
        }
    }

    /// One image [C, H, W] at `x`, transformed with draws from `g` in a fixed order.
    private func transform(_ x: UnsafeMutablePointer<Float>, _ scratch: inout [Float], _ c: Int, _ h: Int, _ w: Int,
                           _ g: inout SeededGenerator) {
        if let pad = cropPadding {
            // Output (r, q) reads input (r + dy, q + dx), zero outside: a crop of the padded image.
            let dy = Int(g.next() % UInt64(2 * pad + 1)) - pad, dx = Int(g.next() % UInt64(2 * pad + 1)) - pad
            if dy != 0 || dx != 0 {
                scratch.withUnsafeMutableBufferPointer { s in
                    for plane in 0..<c {
                        let src = x + plane * h * w, dst = s.baseAddress! + plane * h * w
                        for r in 0..<h {
                            let sr = r + dy
                            for q in 0..<w {
                                let sq = q + dx
                                dst[r * w + q] = (sr >= 0 && sr < h && sq >= 0 && sq < w) ? src[sr * w + sq] : 0
                            }
                        }
                    }
                    x.update(from: s.baseAddress!, count: c * h * w)
                }
            }
        }
        if flip, g.next() & 1 == 1 {
            for plane in 0..<c {
                for r in 0..<h {
                    let row = x + (plane * h + r) * w
                    var a = 0, b = w - 1
                    while a < b { let t = row[a]; row[a] = row[b]; row[b] = t; a += 1; b -= 1 }
                }
            }
        }
        if let p = eraseProbability, g.nextUnitFloat() < p {
            let area = Float(h * w) * (0.02 + 0.18 * g.nextUnitFloat())
            let ratio = Float(0.3 * Foundation.pow(11, Double(g.nextUnitFloat())))   // log-uniform in [0.3, 3.3]
            let eh = min(h, max(1, Int((area * ratio).squareRoot()))), ew = min(w, max(1, Int((area / ratio).squareRoot())))
            let top = Int(g.next() % UInt64(h - eh + 1)), left = Int(g.next() % UInt64(w - ew + 1))
            for plane in 0..<c {
                for r in top..<(top + eh) { (x + (plane * h + r) * w + left).update(repeating: 0, count: ew) }
            }
        }
    }

    enum CodingKeys: String, CodingKey { case cropPadding = "crop_padding", flip, eraseProbability = "erase_probability", imageShape = "image_shape" }
}
