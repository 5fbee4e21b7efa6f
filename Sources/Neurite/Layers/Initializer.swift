// Weight initialisers, all drawn from an explicit seeded generator.

/// How a layer's weights are initialised. `fanIn`/`fanOut` are the number of inputs/outputs of one unit.
public enum Initializer: String, Codable, Sendable, CaseIterable {
    /// Glorot/Xavier uniform: U(−√(6/(fanIn+fanOut)), +√(6/(fanIn+fanOut))). Good for sigmoid/tanh.
    case glorotUniform
    /// Glorot/Xavier normal: N(0, 2/(fanIn+fanOut)).
    case glorotNormal
    /// He uniform: U(−√(6/fanIn), +√(6/fanIn)). Good for ReLU-family activations.
    case heUniform
    /// He normal: N(0, 2/fanIn).
    case heNormal
    /// All zeros (biases; or a linear model trained from zero).
    case zeros
    /// U(−1/√fanIn, +1/√fanIn): PyTorch's default for Linear and Conv2d weights (Kaiming uniform
    /// with a = √5), and for their biases too. Use it to compare runs with PyTorch's.
    case pytorchDefault

    /// A tensor of `shape` initialised for a unit with `fanIn` inputs and `fanOut` outputs.
    public func make(_ shape: [Int], fanIn: Int, fanOut: Int, using g: inout SeededGenerator) -> Tensor {
        let fi = Float(max(fanIn, 1)), fo = Float(max(fanOut, 1))
        switch self {
        case .glorotUniform:
            let r = (6 / (fi + fo)).squareRoot()
            return Tensor(randomUniform: shape, in: -r...r, using: &g)
        case .glorotNormal:
            return Tensor(randomNormal: shape, standardDeviation: (2 / (fi + fo)).squareRoot(), using: &g)
        case .heUniform:
            let r = (6 / fi).squareRoot()
            return Tensor(randomUniform: shape, in: -r...r, using: &g)
        case .heNormal:
            return Tensor(randomNormal: shape, standardDeviation: (2 / fi).squareRoot(), using: &g)
        case .zeros:
            return Tensor(shape: shape, repeating: 0)
        case .pytorchDefault:
            let r = 1 / fi.squareRoot()
            return Tensor(randomUniform: shape, in: -r...r, using: &g)
        }
    }
}
