// The text form of one layer, `keyword:arg:arg:name=value`, parsed and validated.
//
// The same text is the layer-list syntax of the command line and the architecture stored in
// checkpoints, so every value is untrusted: each accessor checks its range and throws a
// `ModelError` that names the layer text, the field, the value and what was expected.

/// Every error Neurite throws conforms: a one-line, human-readable `description`.
public protocol NeuriteError: Error, CustomStringConvertible {}

/// A model description (layer list, named model or checkpoint architecture) that cannot be built.
public struct ModelError: NeuriteError, Equatable {
    /// What is wrong, naming the layer and the field.
    public let message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension ShapeError: NeuriteError {}
extension DistributedError: NeuriteError {}

/// Limits on sizes read from text or files, so a crafted description cannot ask for absurd
/// allocations or overflow an index.
public enum ModelLimits {
    /// Largest width of a layer (units, channels, features): 2²⁴.
    public static let maxWidth = 1 << 24
    /// Largest kernel, window, stride or padding extent.
    public static let maxWindow = 4096
    /// Most layers in one model.
    public static let maxLayers = 4096
    /// Most trainable scalars in one model, checked before anything is allocated: 2³⁰ (4 GiB of
    /// float32) by default; raise it before building a larger model.
    nonisolated(unsafe) public static var maxParameters = 1 << 30
    /// Most dimensions of an example and largest extent of each.
    public static let maxRank = 8, maxExtent = 1 << 24
    /// Most classes of a classifier.
    public static let maxClasses = 65_536
}

/// The parsed text of one layer: its keyword, positional arguments and `name=value` arguments.
public struct LayerArguments: Sendable {
    /// The whole text, for error messages.
    public let text: String
    /// The keyword (lower-cased).
    public let keyword: String
    /// Positional arguments after the keyword.
    public let positional: [String]
    /// Named arguments (`stride=2`), names lower-cased.
    public let named: [String: String]

    /// Splits `text` at ':' into the keyword, positional arguments and `name=value` pairs.
    public init(_ text: String) throws {
        self.text = text
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = parts.first, !first.isEmpty else { throw ModelError("empty layer in the layer list") }
        keyword = first.lowercased()
        var positional: [String] = []
        var named: [String: String] = [:]
        for p in parts.dropFirst() {
            guard !p.isEmpty else { throw ModelError("layer '\(text)': empty argument") }
            if let eq = p.firstIndex(of: "=") {
                let name = p[..<eq].lowercased(), value = String(p[p.index(after: eq)...])
                guard !name.isEmpty, !value.isEmpty else { throw ModelError("layer '\(text)': '\(p)' is not name=value") }
                guard named[name] == nil else { throw ModelError("layer '\(text)': '\(name)' is given twice") }
                named[name] = value
            } else {
                guard named.isEmpty else { throw ModelError("layer '\(text)': positional argument '\(p)' after a named one") }
                positional.append(p)
            }
        }
        self.positional = positional
        self.named = named
    }

    /// Throws unless the layer has at most `positional` positional arguments and only the `named`
    /// names (call after reading every argument).
    public func expectOnly(positional count: Int, named names: Set<String> = [], syntax: String) throws {
        guard positional.count <= count else {
            throw ModelError("layer '\(text)': too many arguments (syntax: \(syntax))")
        }
        if let unknown = named.keys.sorted().first(where: { !names.contains($0) }) {
            throw ModelError("layer '\(text)': unknown argument '\(unknown)' (syntax: \(syntax))")
        }
    }

    /// The raw value of positional `index` or of `name`, whichever is given (positional wins).
    private func raw(_ index: Int?, _ name: String?) -> String? {
        if let i = index, i < positional.count { return positional[i] }
        if let n = name { return named[n] }
        return nil
    }

    private func missing(_ field: String, _ syntax: String) -> ModelError {
        ModelError("layer '\(text)': missing \(field) (syntax: \(syntax))")
    }

    /// An integer argument in `range`; `defaultValue` when absent (an error when nil).
    public func int(_ index: Int? = nil, name: String? = nil, field: String, default defaultValue: Int? = nil,
                    in range: ClosedRange<Int>, syntax: String) throws -> Int {
        guard let s = raw(index, name) else {
            guard let d = defaultValue else { throw missing(field, syntax) }
            return d
        }
        guard let v = Int(s), range.contains(v) else {
            throw ModelError("layer '\(text)': \(field) is '\(s)', expected an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    /// A finite float argument satisfying `valid` (described by `expected`).
    public func float(_ index: Int? = nil, name: String? = nil, field: String, default defaultValue: Float? = nil,
                      expected: String, syntax: String, valid: (Float) -> Bool) throws -> Float {
        guard let s = raw(index, name) else {
            guard let d = defaultValue else { throw missing(field, syntax) }
            return d
        }
        guard let v = Float(s), v.isFinite, valid(v) else {
            throw ModelError("layer '\(text)': \(field) is '\(s)', expected \(expected)")
        }
        return v
    }

    /// A 2-D extent, `N` or `HxW`, each in `range`.
    public func size(_ index: Int? = nil, name: String? = nil, field: String, default defaultValue: Size2D? = nil,
                     in range: ClosedRange<Int>, syntax: String) throws -> Size2D {
        guard let s = raw(index, name) else {
            guard let d = defaultValue else { throw missing(field, syntax) }
            return d
        }
        let v = try extents(s, field: field, in: range)
        switch v.count {
        case 1: return Size2D(v[0])
        case 2: return Size2D(height: v[0], width: v[1])
        default: throw ModelError("layer '\(text)': \(field) is '\(s)', expected N or HxW")
        }
    }

    /// Zero padding: `P` (every side), `HxW` (top/bottom, left/right) or `TxBxLxR`.
    public func padding(name: String = "pad", default defaultValue: Padding2D = .zero, in range: ClosedRange<Int>,
                        syntax: String) throws -> Padding2D {
        guard let s = named[name] else { return defaultValue }
        let v = try extents(s, field: "padding", in: range)
        switch v.count {
        case 1: return Padding2D(v[0])
        case 2: return Padding2D(top: v[0], bottom: v[0], left: v[1], right: v[1])
        case 4: return Padding2D(top: v[0], bottom: v[1], left: v[2], right: v[3])
        default: throw ModelError("layer '\(text)': padding is '\(s)', expected P, HxW or TxBxLxR")
        }
    }

    private func extents(_ s: String, field: String, in range: ClosedRange<Int>) throws -> [Int] {
        let parts = s.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        var values: [Int] = []
        for p in parts {
            guard let v = Int(p), range.contains(v) else {
                throw ModelError("layer '\(text)': \(field) is '\(s)', expected integers in \(range.lowerBound)...\(range.upperBound)")
            }
            values.append(v)
        }
        return values
    }
}

extension Size2D {
    /// The text form: `N` or `HxW`.
    var text: String { height == width ? "\(height)" : "\(height)x\(width)" }
}

extension Padding2D {
    /// The text form: `P`, `HxW` or `TxBxLxR`.
    var text: String {
        if isUniform { return "\(top)" }
        if top == bottom && left == right { return "\(top)x\(left)" }
        return "\(top)x\(bottom)x\(left)x\(right)"
    }
}

/// The shortest text that reads back as exactly `x`.
func floatText(_ x: Float) -> String {
    let s = "\(x)"
    return s.hasSuffix(".0") ? String(s.dropLast(2)) : s
}

/// Throws unless a layer's `rows × columns` weights fit in `ModelLimits.maxParameters`.
func checkWeightCount(_ rows: Int, _ columns: Int, _ layer: String) throws {
    let (n, overflow) = rows.multipliedReportingOverflow(by: columns)
    guard !overflow, n <= ModelLimits.maxParameters else {
        throw ModelError("layer '\(layer)': \(rows) × \(columns) weights exceed ModelLimits.maxParameters (\(ModelLimits.maxParameters))")
    }
}

/// Product of `shape`, or nil when an extent is outside 1...maxExtent or the product overflows.
func checkedElementCount(_ shape: [Int]) -> Int? {
    var n = 1
    for d in shape {
        guard d >= 1, d <= ModelLimits.maxExtent else { return nil }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        guard !o else { return nil }
        n = p
    }
    return n
}
