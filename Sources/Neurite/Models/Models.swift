// Ready-made architectures: the MLP and LeNet-5 of the peer workloads, AlexNet, and a small AlexNet
// for 28×28 images.

/// Factory functions for well-known networks. Every weight layer followed by a ReLU is He-initialised;
/// the final (logit) layer is Glorot-initialised; biases start at zero. Outputs are logits (pair
/// them with `SoftmaxCrossEntropy`).
public enum Models {
    /// 784-256-128-10 with ReLU: input [784] (a flattened 28×28 image), 10 logits.
    public static func mlp(seed: UInt64 = 0) throws -> Sequential {
        var g = SeededGenerator(seed: seed)
        return try Sequential(inputShape: [784], layers: [
            Dense(inputs: 784, outputs: 256, initializer: .heUniform, generator: &g), ReLU(),
            Dense(inputs: 256, outputs: 128, initializer: .heUniform, generator: &g), ReLU(),
            Dense(inputs: 128, outputs: 10, initializer: .glorotUniform, generator: &g),
        ])
    }

    /// LeNet-5 for [1, 28, 28] images: conv 6@5×5 pad 2 → ReLU → max-pool 2 → conv 16@5×5 → ReLU →
    /// max-pool 2 → flatten (400) → FC 120 → ReLU → FC 84 → ReLU → FC 10. 61 706 parameters.
    public static func lenet5(seed: UInt64 = 0) throws -> Sequential {
        var g = SeededGenerator(seed: seed)
        return try Sequential(inputShape: [1, 28, 28], layers: [
            Conv2D(inChannels: 1, outChannels: 6, kernelSize: 5, padding: 2, generator: &g), ReLU(),
            MaxPool2D(size: 2),                                                          // 6×14×14
            Conv2D(inChannels: 6, outChannels: 16, kernelSize: 5, generator: &g), ReLU(), // 16×10×10
            MaxPool2D(size: 2),                                                          // 16×5×5
            Flatten(),
            Dense(inputs: 400, outputs: 120, initializer: .heUniform, generator: &g), ReLU(),
            Dense(inputs: 120, outputs: 84, initializer: .heUniform, generator: &g), ReLU(),
            Dense(inputs: 84, outputs: 10, initializer: .glorotUniform, generator: &g),
        ])
    }

    /// AlexNet (Krizhevsky, Sutskever & Hinton 2012) as one tower, for [3, 227, 227] images:
    ///
    ///     CONV1 96@11×11/4 (55×55) → ReLU → MAX POOL 3×3/2 (27×27) → NORM
    ///     CONV2 256@5×5 pad 2 (27×27) → ReLU → MAX POOL 3×3/2 (13×13) → NORM
    ///     CONV3 384@3×3 pad 1 → ReLU → CONV4 384@3×3 pad 1 → ReLU → CONV5 256@3×3 pad 1 → ReLU
    ///     → MAX POOL 3×3/2 (6×6×256) → flatten (9 216) → FC6 4096 → ReLU → Dropout 0.5
    ///     → FC7 4096 → ReLU → Dropout 0.5 → FC8 `classes`
    ///
    /// NORM is local response normalisation with size 5, k 2, alpha 1e-4 (divided by size, as in
    /// Caffe and PyTorch), beta 0.75. With 1 000 classes: 62 378 344 parameters (the paper's two
    /// GPU towers split conv2/4/5's channels into groups, which this single tower does not).
    public static func alexNet(seed: UInt64 = 0, classes: Int = 1000) throws -> Sequential {
        var g = SeededGenerator(seed: seed)
        var dropoutSeeds = SeededGenerator(seed: seed ^ 0xD209_0A7)
        return try Sequential(inputShape: [3, 227, 227], layers: [
            Conv2D(inChannels: 3, outChannels: 96, kernelSize: 11, stride: 4, generator: &g), ReLU(),
            MaxPool2D(size: 3, stride: 2), LocalResponseNorm(),
            Conv2D(inChannels: 96, outChannels: 256, kernelSize: 5, padding: 2, generator: &g), ReLU(),
            MaxPool2D(size: 3, stride: 2), LocalResponseNorm(),
            Conv2D(inChannels: 256, outChannels: 384, kernelSize: 3, padding: 1, generator: &g), ReLU(),
            Conv2D(inChannels: 384, outChannels: 384, kernelSize: 3, padding: 1, generator: &g), ReLU(),
            Conv2D(inChannels: 384, outChannels: 256, kernelSize: 3, padding: 1, generator: &g), ReLU(),
            MaxPool2D(size: 3, stride: 2),
            Flatten(),
            Dense(inputs: 256 * 6 * 6, outputs: 4096, initializer: .heUniform, generator: &g), ReLU(),
            Dropout(rate: 0.5, seed: dropoutSeeds.next()),
            Dense(inputs: 4096, outputs: 4096, initializer: .heUniform, generator: &g), ReLU(),
            Dropout(rate: 0.5, seed: dropoutSeeds.next()),
            Dense(inputs: 4096, outputs: classes, initializer: .glorotUniform, generator: &g),
        ])
    }

    /// AlexNet's design scaled to [1, 28, 28] images (Fashion-MNIST), small enough to train on a
    /// laptop CPU (≈ 4.5 M multiply-adds per image forward):
    ///
    ///     conv 16@5×5 pad 2 (28×28) → ReLU → max-pool 3×3/2 (13×13) → NORM
    ///     conv 32@3×3 pad 1 → ReLU → max-pool 3×3/2 (6×6) → NORM
    ///     conv 64@3×3 pad 1 → ReLU → conv 64@3×3 pad 1 → ReLU → conv 64@3×3 pad 1 → ReLU
    ///     → max-pool 3×3/2 (2×2×64) → flatten (256) → FC 256 → ReLU → Dropout 0.5
    ///     → FC 128 → ReLU → Dropout 0.5 → FC 10
    public static func alexNetSmall(seed: UInt64 = 0, classes: Int = 10) throws -> Sequential {
        var g = SeededGenerator(seed: seed)
        var dropoutSeeds = SeededGenerator(seed: seed ^ 0xD209_0A7)
        return try Sequential(inputShape: [1, 28, 28], layers: [
            Conv2D(inChannels: 1, outChannels: 16, kernelSize: 5, padding: 2, generator: &g), ReLU(),
            MaxPool2D(size: 3, stride: 2), LocalResponseNorm(),
            Conv2D(inChannels: 16, outChannels: 32, kernelSize: 3, padding: 1, generator: &g), ReLU(),
            MaxPool2D(size: 3, stride: 2), LocalResponseNorm(),
            Conv2D(inChannels: 32, outChannels: 64, kernelSize: 3, padding: 1, generator: &g), ReLU(),
            Conv2D(inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1, generator: &g), ReLU(),
            Conv2D(inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1, generator: &g), ReLU(),
            MaxPool2D(size: 3, stride: 2),
            Flatten(),
            Dense(inputs: 64 * 2 * 2, outputs: 256, initializer: .heUniform, generator: &g), ReLU(),
            Dropout(rate: 0.5, seed: dropoutSeeds.next()),
            Dense(inputs: 256, outputs: 128, initializer: .heUniform, generator: &g), ReLU(),
            Dropout(rate: 0.5, seed: dropoutSeeds.next()),
            Dense(inputs: 128, outputs: classes, initializer: .glorotUniform, generator: &g),
        ])
    }
}
