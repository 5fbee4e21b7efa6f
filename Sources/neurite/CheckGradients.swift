// `neurite check-gradients`: finite-difference check of a model's backward pass, for users who
// write layers of their own (or doubt one of ours).

import ArgumentParser
import Foundation
import Neurite

struct CheckGradients: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-gradients",
        abstract: "Compare a model's analytic gradients with finite differences on small random data.",
        discussion: """
        Builds the model and checks each layer on its own: a random batch (seeded) of the layer's
        input shape goes through it, and the gradients of its parameters and of its input are
        compared with central differences; the worst relative error |a − n| / max(|a| + |n|, 1e-3)
        of each tensor is printed as LAYER.weight, LAYER.bias, LAYER.input. Exit status 1 when any
        exceeds --tolerance. Layer by layer, because in a whole ReLU or max-pool network a step of
        an early weight moves thousands of later values across a kink, which spoils the finite
        difference however right the gradient is (--whole-model checks the model at once anyway:
        fine for smooth networks). Each tensor is checked at three step sizes and the smallest error
        counts: a kink next to a probed value spoils one of them, a wrong gradient all. A tensor over
        the tolerance is checked again on two more random batches (its smallest error counts): a
        max-pool tie or a value on ReLU's 0 does not repeat, a wrong gradient does. Dropout is
        checked with its mask held fixed (every probe reuses one training step); batch norm with the
        batch's statistics, as in training.
        Example: neurite check-gradients --model conv:4:3,relu,maxpool:2,flatten,dense:10 --input-shape 1,8,8
        """
    )

    @Option(name: .long, help: "Model: \(Models.help).") var model: String
    @Option(name: .long, help: "Shape of one example, e.g. 784 or 1,28,28 (default: the named model's own, else 784).") var inputShape: String?
    @Option(name: .long, help: "Number of outputs of a named model without its own (default 10; a layer list has its own).") var outputs: Int?
    @Option(name: .long, help: "Examples in the random batch, 2...64 (default 4; batch norm needs at least 2).") var batchSize: Int = 4
    @Option(name: .long, help: "Coordinates probed per tensor, 1...10000 (default 20).") var samples: Int = 20
    @Option(name: .long, help: "Largest relative error that passes, in (0, 1] (default 0.02, float32 with step 0.01).") var tolerance: Double = 0.02
    @Option(name: .long, help: "Seed of the weights, the data and the probe (default 1).") var seed: UInt64 = 1
    @Flag(name: .long, help: "Check the whole model at once instead of layer by layer (reliable only without kinks: no ReLU, max-pool or maxout).") var wholeModel = false

    /// The step sizes: a kink spoils the larger ones, float32 rounding the smaller, a wrong gradient all.
    static let steps: [Float] = [1e-2, 3e-3, 3e-2]

    func validate() throws {
        if let o = outputs, !(1...ModelLimits.maxWidth).contains(o) {
            throw ValidationError("--outputs must be in 1...\(ModelLimits.maxWidth), got \(o)")
        }
        guard (2...64).contains(batchSize) else { throw ValidationError("--batch-size must be in 2...64, got \(batchSize)") }
        guard (1...10_000).contains(samples) else { throw ValidationError("--samples must be in 1...10000, got \(samples)") }
        guard tolerance > 0, tolerance <= 1 else { throw ValidationError("--tolerance must be in (0, 1], got \(tolerance)") }
        if let s = inputShape { _ = try parseShape(s, flag: "--input-shape") }
    }

    func run() throws {
        let named = Models.named(model)
        let shape = try inputShape.map { try parseShape($0, flag: "--input-shape") } ?? named?.inputShape ?? [784]
        let outs = outputs ?? named?.defaultOutputs ?? Self.ownOutputs(model, shape: shape) ?? 10
        // As `train` builds it: flat examples, with the image shape for layers that need one.
        let m = try makeModel(model, inputShape: [shape.reduce(1, *)], imageShape: shape.count > 1 ? shape : nil, outputs: outs, seed: seed)
        print("Gradient check of \(model) (\(m.parameterCount) parameters) " + (wholeModel ? "as a whole" : "layer by layer")
              + ", batch \(batchSize), \(samples) coordinates a tensor, steps \(Self.steps.map { "\($0)" }.joined(separator: " and "))")
        if Models.hasOwnDropout(m.layers) { print("(dropout masks held fixed: every probe reuses one training step)") }

        var rows: [(name: String, layer: String, error: Double)] = []
        if wholeModel {
            var g = SeededGenerator(seed: seed ^ 0x6A5)
            let x = Tensor(randomNormal: [batchSize] + m.inputShape, using: &g)
            let errors = Self.bestOf(Self.steps.map { GradientCheck.model(m, input: x, epsilon: $0, samples: samples, seed: seed) })
            for name in m.parameters.parameters.map(\.qualifiedName) + ["input"] {
                if let e = errors[name] { rows.append((name, "", e)) }
            }
        } else {
            var layerInput = m.inputShape
            for (i, layer) in m.layers.enumerated() {
                var errors: [String: Double] = [:]
                var single: Sequential?
                // A tensor over the tolerance is checked again on two more random batches, and its
                // smallest worst error counts: an input that happens to sit on a kink (a max-pool
                // tie, a value within a step of ReLU's 0) does not repeat, a wrong gradient does.
                for attempt in 0..<3 where attempt == 0 || errors.values.contains(where: { $0 > tolerance }) {
                    let s = seed &+ UInt64(i) &+ 7919 &* UInt64(attempt)
                    // A fresh copy of the layer from its text form: a layer belongs to one model only.
                    let copy = try Sequential(layer.spec, inputShape: layerInput, seed: s)
                    var g = SeededGenerator(seed: s ^ 0x6A5)
                    let x = Tensor(randomNormal: [batchSize] + layerInput, using: &g)
                    let found = Self.bestOf(Self.steps.map { GradientCheck.model(copy, input: x, epsilon: $0, samples: samples, seed: s) })
                    for (name, e) in found { errors[name] = min(errors[name] ?? .infinity, e) }
                    single = copy
                }
                guard let single else { continue }
                for name in single.parameters.parameters.map(\.qualifiedName) + ["input"] {
                    // "0.weight" of the one-layer model is "i.weight" of the whole one.
                    let local = name.hasPrefix("0.") ? String(name.dropFirst(2)) : name
                    if let e = errors[name] { rows.append(("\(i).\(local)", layer.spec, e)) }
                }
                layerInput = single.outputShape
            }
        }
        let width = rows.map(\.name.count).max() ?? 5
        var failed: [String] = []
        for r in rows {
            let ok = r.error <= tolerance
            if !ok { failed.append(r.name) }
            print(r.name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "  %.2e  %@", r.error, ok ? "ok  " : "FAIL")
                  + (r.layer.isEmpty ? "" : "  " + r.layer))
        }
        if failed.isEmpty {
            print(String(format: "PASS: all %d worst relative errors ≤ %g", rows.count, tolerance))
        } else {
            print(String(format: "FAIL: %d of %d tensors over %g: ", failed.count, rows.count, tolerance) + failed.joined(separator: ", "))
            throw ExitCode.failure
        }
    }

    /// The number of outputs a layer list (or sizes like 784-256-10) produces by itself, so that
    /// `--outputs` is needed only for named models; nil when the description does not build.
    static func ownOutputs(_ description: String, shape: [Int]) -> Int? {
        if description.allSatisfy({ $0.isNumber || $0 == "-" }) { return description.split(separator: "-").last.flatMap { Int($0) } }
        // A probe, not a check: a description that builds neither way falls through, and `run`
        // then builds it with makeModel, which reports the error.
        for s in [[shape.reduce(1, *)], shape] {
            if let m = try? Sequential(description, inputShape: s) { return m.outputShape.reduce(1, *) }
        }
        return nil
    }

    /// Per tensor, the smaller of the worst errors over the step sizes.
    static func bestOf(_ reports: [GradientCheck.Report]) -> [String: Double] {
        var out: [String: Double] = [:]
        for r in reports { for (name, e) in r.errors { out[name] = min(out[name] ?? .infinity, e) } }
        return out
    }
}
