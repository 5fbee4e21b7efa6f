// One contiguous buffer for all of a model's parameters.

/// All trainable parameters of a model as views into one contiguous, 64-byte-aligned float32 buffer.
///
/// Layout (fixed and documented, so gradient arenas, optimizer state and a future all-reduce agree
/// on it): layers in model order, each layer's parameters in the order its `parameters` lists them
/// (weight, then bias), each starting at a multiple of 16 floats (64 bytes); the gaps are zeros and
/// stay zero. A training context's gradient arena has exactly this layout, so an optimizer step is
/// one pass over two flat buffers, and data-parallel training sends the gradient arena in one
/// all-reduce call.
public final class ParameterArena {
    /// Floats between parameter starts are rounded up to this (64 bytes).
    public static let alignment = 16
    /// The parameters, in arena order; `qualifiedName` is "<layer index>.<name>".
    public let parameters: [Parameter]
    /// Floats in the arena, gaps included.
    public let count: Int
    /// The buffer itself. Never mutated through this tensor (that would copy it away from the
    /// parameters' views); writes go through `mutableView`.
    let storage: Tensor

    /// Moves the parameters of `layers` into one arena (their current values are kept). Throws when a
    /// layer already belongs to another model or the parameters exceed `ModelLimits.maxParameters`.
    init(layers: [any Layer]) throws {
        var offsets: [Int] = []
        var params: [Parameter] = []
        var next = 0
        var seen = Set<ObjectIdentifier>()
        for (i, layer) in layers.enumerated() {
            guard seen.insert(ObjectIdentifier(layer)).inserted else {
                throw ModelError("layer #\(i + 1) \(layer.name) appears twice in the model")
            }
            for p in layer.parameters {
                guard p.qualifiedName == p.name else {
                    throw ModelError("layer #\(i + 1) \(layer.name) already belongs to a model (parameter \(p.qualifiedName))")
                }
                let start = (next + Self.alignment - 1) / Self.alignment * Self.alignment
                let (end, overflow) = start.addingReportingOverflow(p.count)
                guard !overflow, end <= ModelLimits.maxParameters else {
                    throw ModelError("the model's parameters exceed \(ModelLimits.maxParameters) floats")
                }
                offsets.append(start)
                params.append(p)
                next = end
            }
        }
        count = (next + Self.alignment - 1) / Self.alignment * Self.alignment
        storage = Tensor(shape: [count], repeating: 0)
        parameters = params
        var layerIndex: [ObjectIdentifier: Int] = [:]
        for (i, layer) in layers.enumerated() { for p in layer.parameters { layerIndex[ObjectIdentifier(p)] = i } }
        for (p, offset) in zip(params, offsets) {
            let current = p.view
            var dst = storage.sharedView(offset: offset, shape: p.shape)
            current.withUnsafeBufferPointer { src in dst.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: src) } }
            p.backing = storage
            p.offset = offset
            p.qualifiedName = "\(layerIndex[ObjectIdentifier(p)]!).\(p.name)"
        }
    }

    /// The whole arena, writable in place (for optimizers and for loading weights).
    public var mutableView: Tensor { storage.sharedView(offset: 0, shape: [count]) }

    /// A copy of the whole arena.
    public var values: Tensor { storage.copied() }

    /// The parameter with `qualifiedName` ("3.weight").
    public func parameter(named name: String) -> Parameter? { parameters.first { $0.qualifiedName == name } }

    /// Trainable scalars (gaps excluded).
    public var scalarCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// A zero gradient arena of this layout.
    public func makeGradientArena() -> Tensor { Tensor(shape: [count], repeating: 0) }

    /// Parameter `p`'s slice of an arena-shaped tensor `arena` (a copy).
    public func slice(_ p: Parameter, of arena: Tensor) -> Tensor {
        arena.sharedView(offset: p.offset, shape: p.shape).copied()
    }

    /// Writes `value` into parameter `p`'s slice of `arena` in place.
    public func write(_ value: Tensor, to p: Parameter, in arena: Tensor) {
        var dst = arena.sharedView(offset: p.offset, shape: p.shape)
        value.withUnsafeBufferPointer { src in dst.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: src) } }
    }

    /// The arena as maximal runs whose parameters agree on `decays` (gaps join the run before
    /// them): what an optimizer with weight decay steps, one C pass per run.
    public var decayRuns: [(range: Range<Int>, decays: Bool)] {
        var runs: [(range: Range<Int>, decays: Bool)] = []
        for p in parameters {
            if let last = runs.last, last.decays == p.decays {
                runs[runs.count - 1].range = last.range.lowerBound..<(p.offset + p.count)
            } else {
                if !runs.isEmpty { runs[runs.count - 1].range = runs[runs.count - 1].range.lowerBound..<p.offset }
                runs.append((runs.isEmpty ? 0..<(p.offset + p.count) : p.offset..<(p.offset + p.count), p.decays))
            }
        }
        if !runs.isEmpty { runs[runs.count - 1].range = runs[runs.count - 1].range.lowerBound..<count }
        return runs
    }

    /// FNV-1a over the arena's bits: equal on replicas that hold bitwise-equal parameters.
    public var checksum: UInt64 {
        storage.withUnsafeBufferPointer { p in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for x in p { h = (h ^ UInt64(x.bitPattern)) &* 0x100_0000_01b3 }
            return h
        }
    }
}
