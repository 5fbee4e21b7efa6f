// Fashion-MNIST (Zalando): 70 000 grey 28×28 images of clothing in 10 classes, as installed by
// Debian's dataset-fashion-mnist package.

import Foundation

/// Loader for Fashion-MNIST in IDX format (gzip-compressed or raw).
public enum FashionMNIST {
    /// Where Debian's `dataset-fashion-mnist` installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// The Debian package that provides the data.
    public static let debianPackage = "dataset-fashion-mnist"

    /// Class names, indexed by label.
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// The training set (60 000 examples) or the test set (10 000).
    public enum Split: String, Sendable, CaseIterable {
        case train, test
        /// File-name prefix used by the IDX distribution.
        var filePrefix: String { self == .train ? "train" : "t10k" }
    }

    /// Layout of each example.
    public enum Shape: Sendable {
        /// [N, 784], for multilayer perceptrons.
        case flat
        /// [N, 1, 28, 28] (NCHW), for convolutional networks.
        case image
    }

    /// Whether all four files are present in `defaultDirectory`.
    public static var isAvailable: Bool { isAvailable(directory: defaultDirectory) }

    /// Whether all four files are present in `directory`.
    public static func isAvailable(directory: String) -> Bool {
        Split.allCases.allSatisfy { split in
            ["images-idx3", "labels-idx1"].allSatisfy { _path(directory, split, $0) != nil }
        }
    }

    /// The existing file for `kind` ("images-idx3" / "labels-idx1"): `.gz` preferred, raw accepted.
    static func _path(_ directory: String, _ split: Split, _ kind: String) -> String? {
        let base = "\(directory)/\(split.filePrefix)-\(kind)-ubyte"
        for candidate in [base + ".gz", base] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        return nil
    }

    /// Loads one split: pixels scaled to [0, 1], labels 0..<10.
    ///
    /// - Parameters:
    ///   - limit: keep only the first `limit` examples (the whole files are still validated).
    /// - Throws: `DataError.datasetMissing` when the directory or a file is absent; the IDX errors for
    ///   damaged files; `.dimensionMismatch` when the image and label files disagree on the count.
    public static func load(directory: String = defaultDirectory, split: Split = .train,
                            limit: Int? = nil, shape: Shape = .flat) throws -> Dataset {
        guard let imagesPath = _path(directory, split, "images-idx3"),
              let labelsPath = _path(directory, split, "labels-idx1") else {
            throw DataError.datasetMissing(name: "Fashion-MNIST (\(split.rawValue) split, looked in \(directory))",
                                           debianPackage: debianPackage)
        }
        let imageFile = try IDXFile.read(imagesPath)
        let labelFile = try IDXFile.read(labelsPath)
        guard imageFile.dimensions.count == 3, imageFile.dimensions[1] == 28, imageFile.dimensions[2] == 28 else {
            throw DataError.badDimensions(path: imagesPath, expected: "[count, 28, 28]", found: imageFile.dimensions)
        }
        guard labelFile.dimensions.count == 1 else {
            throw DataError.badDimensions(path: labelsPath, expected: "[count]", found: labelFile.dimensions)
        }
        guard imageFile.dimensions[0] == labelFile.dimensions[0] else {
            throw DataError.dimensionMismatch(firstPath: imagesPath, firstCount: imageFile.dimensions[0],
                                              secondPath: labelsPath, secondCount: labelFile.dimensions[0])
        }
        let x = try IDX.images(imageFile, path: imagesPath, flatten: shape == .flat, limit: limit)
        let y = try IDX.labels(labelFile, path: labelsPath, limit: limit)
        if let bad = y.firstIndex(where: { !(0..<10).contains($0) }) {
            throw DataError.labelOutOfRange(path: labelsPath, index: bad, label: y[bad], classCount: 10)
        }
        var data = Dataset(inputs: x, labels: y, classCount: 10)
        if imageFile.elementType == .uint8 { // x holds these bytes / 255: training gathers from them
            data.inputBytes = UnitByteRows(bytes: imageFile.bytes.prefix(x.count), rowCount: x.shape[0],
                                           rowShape: Array(x.shape.dropFirst()))
        }
        return data
    }
}
