// A serialisable description of a layer: the architecture stored in checkpoints.

/// Everything needed to rebuild a layer (its parameters are stored separately).
public enum LayerSpec: Codable, Equatable, Sendable {
    case dense(inputs: Int, outputs: Int)
    case maxout(inputs: Int, outputs: Int, pieces: Int)
    case sigmoid
    case tanh
    case relu
    case leakyRelu(slope: Float)
    case elu(alpha: Float)
    case softmax
    case dropout(rate: Float)
    case flatten
    case conv2d(inChannels: Int, outChannels: Int, kernelSize: Size2D, stride: Size2D, padding: Padding2D)
    case maxPool2d(size: Size2D, stride: Size2D, padding: Padding2D)
    case avgPool2d(size: Size2D, stride: Size2D)
    case localResponseNorm(size: Int, k: Float, alpha: Float, beta: Float)

    /// A new layer of this kind. Parameters are initialised from `generator` with `initializer`
    /// (or the layer's default for its usual activation).
    public func makeLayer(initializer: Initializer? = nil, generator: inout SeededGenerator) -> Layer {
        switch self {
        case let .dense(i, o): return Dense(inputs: i, outputs: o, initializer: initializer ?? .glorotUniform, generator: &generator)
        case let .maxout(i, o, k): return Maxout(inputs: i, outputs: o, pieces: k, initializer: initializer ?? .glorotUniform, generator: &generator)
        case .sigmoid: return Sigmoid()
        case .tanh: return Tanh()
        case .relu: return ReLU()
        case let .leakyRelu(s): return LeakyReLU(slope: s)
        case let .elu(a): return ELU(alpha: a)
        case .softmax: return Softmax()
        case let .dropout(p): return Dropout(rate: p, seed: generator.next())
        case .flatten: return Flatten()
        case let .conv2d(i, o, k, s, p):
            return Conv2D(inChannels: i, outChannels: o, kernelSize: k, stride: s, padding: p,
                          initializer: initializer ?? .glorotUniform, generator: &generator)
        case let .maxPool2d(size, s, p): return MaxPool2D(size: size, stride: s, padding: p)
        case let .avgPool2d(size, s): return AvgPool2D(size: size, stride: s)
        case let .localResponseNorm(n, k, a, b): return LocalResponseNorm(size: n, k: k, alpha: a, beta: b)
        }
    }
}
