// The affine map shared by Dense and Maxout, with its initialisation.

/// Draws an affine layer's weight with `initializer` (fan-in and fan-out of one unit); biases become
/// zero, except with `.pytorchDefault`, which draws them from the same U(±1/√fanIn) as PyTorch does.
func initializeAffine(weight: Parameter, bias: Parameter?, fanIn: Int, fanOut: Int, _ initializer: Initializer,
                      _ g: inout SeededGenerator) {
    weight.value = initializer.make(weight.shape, fanIn: fanIn, fanOut: fanOut, using: &g)
    guard let b = bias else { return }
    b.value = initializer == .pytorchDefault
        ? initializer.make(b.shape, fanIn: fanIn, fanOut: fanOut, using: &g)
        : Tensor(shape: b.shape, repeating: 0)
}

/// The affine map shared by Dense and Maxout: X: [B × in], W: [out × in], b: [out] → X·Wᵀ + b, or
/// ReLU(X·Wᵀ + b) with `relu` (a following ReLU layer fused in, see `Sequential`). The bias and the
/// ReLU are the GEMM's epilogue: each thread writes them into its own block of the result.
func affineForward(_ input: Tensor, weight: Parameter, bias: Parameter, relu: Bool = false) -> Tensor {
    var y = Tensor(uninitializedShape: [input.rowCount, weight.shape[0]])
    Tensor.gemm(input, weight.view, transposeB: true, into: &y, epilogue: GemmEpilogue(bias: bias.view, relu: relu))
    return y
}

/// Its backward rules for δ: [B × out]: ∇W = δᵀ·X, ∇b = Σ_batch δ (written into the step's gradient
/// arena, the bias gradient alongside the weight gradient's product), and ∇X = δ·W: [B × in] when
/// the step needs it (an empty tensor otherwise) — or, given the output h of a ReLU before this
/// layer (and the mask of a dropout between them), their backward ∇X ⊙ mask ⊙ [h > 0], applied in
/// the product's epilogue (see `Sequential`).
func affineBackward(_ delta: Tensor, input x: Tensor, weight: Parameter, bias: Parameter, step: LayerStep,
                    dropout: DropoutMask? = nil, gate: Tensor? = nil) -> Tensor {
    var dw = step.gradient(weight), db = step.gradient(bias)
    guard step.needsInputGradient else {
        Tensor.gemm(delta, transposeA: true, x, beta: step.gradientBeta, into: &dw,
                    columnSumsOf: delta, into: &db, sumsBeta: step.gradientBeta)
        return Tensor(shape: [0])
    }
    // ∇W (with ∇b) and ∇X in one parallel region.
    var dx = Tensor(uninitializedShape: [delta.rowCount, weight.shape[1]])
    Tensor.affineGradients(delta: delta, input: x, weight: weight.view, gradientBeta: step.gradientBeta,
                           weightGradient: &dw, biasGradient: &db, inputGradient: &dx,
                           epilogue: GemmEpilogue(dropout: dropout, gate: gate))
    return dx
}
