// The course's first models, runnable end to end (`neurite example …` and the tests use these).

import Foundation

/// Small, complete training runs on real data: linear regression, logistic regression and XOR.
public enum CourseExamples {
    /// Result of `linearRegression`.
    public struct LinearRegressionResult: Sendable {
        /// Weights then bias learned by gradient descent.
        public var learned: [Double]
        /// Weights then bias of the closed-form least-squares solution (normal equations, Double).
        public var closedForm: [Double]
        /// ‖w − w*‖ / ‖w*‖.
        public var relativeError: Double
        /// Mean squared error (½ convention) of the learned model on the training data.
        public var loss: Float
        public var epochs: Int
    }

    /// Linear regression by full-batch gradient descent (with momentum) on the diabetes data
    /// (features standardised with their own statistics; the target raw), compared with the normal
    /// equations XᵀX w = Xᵀy solved in Double.
    public static func linearRegression(data: Dataset, epochs: Int = 3000, learningRate: Float = 0.5) throws -> LinearRegressionResult {
        guard let y = data.targets, y.rowWidth == 1 else {
            throw TrainingError.dataMismatch("linear regression needs one regression target per example")
        }
        let standardizer = Standardizer(fitting: data.inputs)
        let x = standardizer.transform(data.inputs)
        let n = x.rowCount, d = x.rowWidth
        let dense = Dense(d, 1, initializer: .zeros)
        let model = try Sequential(inputShape: [d], layers: [dense])
        let trainer = Trainer(model: model, loss: MeanSquaredError(),
                              optimizer: SGD(learningRate: learningRate, momentum: 0.9), seed: 0)
        _ = try trainer.fit(Dataset(inputs: x, targets: y), epochs: epochs, batchSize: n)
        let learned = dense.weight.value.scalars.map(Double.init) + [Double(dense.bias.value.scalar)]
        let closed = try leastSquares(x, y)
        let diff = zip(learned, closed).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        let norm = closed.map { $0 * $0 }.reduce(0, +).squareRoot()
        let loss = trainer.evaluate(Dataset(inputs: x, targets: y)).loss
        return LinearRegressionResult(learned: learned, closedForm: closed, relativeError: diff / norm, loss: loss, epochs: epochs)
    }

    /// Least squares with an intercept: solves the normal equations [X 1]ᵀ[X 1] w = [X 1]ᵀ y in
    /// Double by Gaussian elimination with partial pivoting. Returns weights then the intercept.
    public static func leastSquares(_ x: Tensor, _ y: Tensor) throws -> [Double] {
        let n = x.rowCount, d = x.rowWidth, m = d + 1
        let xs = x.scalars, ys = y.scalars
        var a = [Double](repeating: 0, count: m * m), b = [Double](repeating: 0, count: m)
        for r in 0..<n {
            var row = (0..<d).map { Double(xs[r * d + $0]) }
            row.append(1)
            for i in 0..<m {
                b[i] += row[i] * Double(ys[r])
                for j in 0..<m { a[i * m + j] += row[i] * row[j] }
            }
        }
        for col in 0..<m {
            let pivot = (col..<m).max { abs(a[$0 * m + col]) < abs(a[$1 * m + col]) }!
            guard abs(a[pivot * m + col]) > 1e-12 else {
                throw TrainingError.dataMismatch("the normal equations are singular (feature \(col) is a combination of others)")
            }
            if pivot != col {
                for j in 0..<m { a.swapAt(col * m + j, pivot * m + j) }
                b.swapAt(col, pivot)
            }
            for r in (col + 1)..<m {
                let f = a[r * m + col] / a[col * m + col]
                for j in col..<m { a[r * m + j] -= f * a[col * m + j] }
                b[r] -= f * b[col]
            }
        }
        var w = [Double](repeating: 0, count: m)
        for i in stride(from: m - 1, through: 0, by: -1) {
            var s = b[i]
            for j in (i + 1)..<m { s -= a[i * m + j] * w[j] }
            w[i] = s / a[i * m + i]
        }
        return w
    }

    /// Result of `logisticRegression`.
    public struct ClassificationResult: Sendable {
        public var trainAccuracy: Float
        public var testAccuracy: Float
        public var testLoss: Float
        public var epochs: Int
    }

    /// Logistic regression (one sigmoid neuron, binary cross-entropy) by mini-batch gradient
    /// descent on a stratified 80/20 split; features standardised with training statistics.
    public static func logisticRegression(data: Dataset, epochs: Int = 100, learningRate: Float = 0.1,
                                          seed: UInt64 = 1) throws -> ClassificationResult {
        guard data.isClassification, data.classCount == 2 else {
            throw TrainingError.dataMismatch("logistic regression needs two classes, the data has \(data.classCount)")
        }
        let parts = try data.split(trainFraction: 0.8, validationFraction: 0, seed: seed)
        let standardizer = Standardizer(fitting: parts.train.inputs)
        let train = parts.train.standardized(with: standardizer), test = parts.test.standardized(with: standardizer)
        let d = train.inputs.rowWidth
        let model = try Sequential("dense:1", inputShape: [d], seed: seed)
        let trainer = Trainer(model: model, loss: BinaryCrossEntropy(), optimizer: SGD(learningRate: learningRate), seed: seed)
        _ = try trainer.fit(train, epochs: epochs, batchSize: 32)
        let tr = trainer.evaluate(train), te = trainer.evaluate(test)
        return ClassificationResult(trainAccuracy: tr.accuracy!, testAccuracy: te.accuracy!, testLoss: te.loss, epochs: epochs)
    }

    /// The XOR problem solved by a 2-2-1 network of sigmoid units (the hidden layer's sigmoid, and
    /// the output's sigmoid fused into binary cross-entropy). Returns σ(output) for the four inputs
    /// (0,0), (0,1), (1,0), (1,1).
    public static func xor(epochs: Int = 2000, seed: UInt64 = 3) throws -> [Float] {
        let data = Dataset(inputs: Tensor(shape: [4, 2], scalars: [0, 0, 0, 1, 1, 0, 1, 1]), labels: [0, 1, 1, 0])
        let model = try Sequential("dense:2,sigmoid,dense:1", inputShape: [2], seed: seed)
        let trainer = Trainer(model: model, loss: BinaryCrossEntropy(),
                              optimizer: SGD(learningRate: 0.5, momentum: 0.9), seed: 1)
        _ = try trainer.fit(data, epochs: epochs, batchSize: 4)
        return model(data.inputs).sigmoid().scalars
    }
}
