import Foundation
import Testing
@testable import Neurite

@Suite struct CSVTests {
    func write(_ text: String, _ name: String = "t.csv", gzip: Bool = false, in dir: TemporaryDirectory) throws -> String {
        let path = dir.file(name)
        try DataFile.write(Array(text.utf8), to: path, gzip: gzip)
        return path
    }

    @Test func readsWithDetectedHeader() throws {
        let dir = TemporaryDirectory()
        let path = try write("a, b,\"label\"\n1,2.5,0\r\n\n-3,4e1,1\n", in: dir)
        let t = try CSV.read(path)
        #expect(t.header == ["a", "b", "label"])
        #expect(t.rowCount == 2 && t.columnCount == 3)
        #expect(t.rows == [[1, 2.5, 0], [-3, 40, 1]])
        #expect(t.lineNumbers == [2, 4])
        #expect(t.column(1) == [2.5, 40])
    }

    @Test func readsWithoutHeader() throws {
        let dir = TemporaryDirectory()
        let path = try write("1,2,0\n3,4,1\n", in: dir)
        let t = try CSV.read(path)
        #expect(t.header == nil)
        #expect(t.rows == [[1, 2, 0], [3, 4, 1]])
        // Told there is a header, the first numeric row becomes one.
        let h = try CSV.read(path, hasHeader: true)
        #expect(h.header == ["1", "2", "0"] && h.rows == [[3, 4, 1]])
    }

    @Test func explicitNoHeaderMakesAWordAnError() throws {
        let dir = TemporaryDirectory()
        let path = try write("x,y\n1,2\n", in: dir)
        expectDataError(.badField(path: path, line: 1, column: 1, text: "x"), naming: path) {
            _ = try CSV.read(path, hasHeader: false)
        }
    }

    @Test func badFieldNamesLineAndColumn() throws {
        let dir = TemporaryDirectory()
        let path = try write("f1,f2,y\n1,2,0\n3,oops,1\n", in: dir)
        expectDataError(.badField(path: path, line: 3, column: 2, text: "oops"), naming: path) { _ = try CSV.read(path) }
        let empty = try write("1,2\n3,\n", "e.csv", in: dir)
        expectDataError(.badField(path: empty, line: 2, column: 2, text: ""), naming: empty) { _ = try CSV.read(empty) }
        #expect(DataError.badField(path: empty, line: 2, column: 2, text: "").description.contains("empty field"))
    }

    @Test func wrongFieldCountNamesLine() throws {
        let dir = TemporaryDirectory()
        let path = try write("1,2,3\n4,5,6\n7,8\n", in: dir)
        expectDataError(.inconsistentColumns(path: path, line: 3, expected: 3, found: 2), naming: path) { _ = try CSV.read(path) }
    }

    @Test func whitespaceDelimitedAndGzip() throws {
        let dir = TemporaryDirectory()
        let path = try write("  1 2\t3\n4   5 6  \n", "w.gz", gzip: true, in: dir)
        let t = try CSV.read(path, delimiter: .whitespace)
        #expect(t.rows == [[1, 2, 3], [4, 5, 6]])
        let semi = try write("1;2\n3;4\n", "s.csv", in: dir)
        #expect(try CSV.read(semi, delimiter: .semicolon).rows == [[1, 2], [3, 4]])
    }

    @Test func classificationWithChosenLabelColumn() throws {
        let dir = TemporaryDirectory()
        let path = try write("y,a,b\n2,0.5,1\n0,1.5,2\n1,2.5,3\n", in: dir)
        let d = try CSV.loadClassification(path, labelColumn: 0)
        #expect(d.labels == [2, 0, 1] && d.classCount == 3)
        #expect(d.inputs.shape == [3, 2])
        #expect(d.inputs.scalars == [0.5, 1, 1.5, 2, 2.5, 3])
        let last = try CSV.loadClassification(path, labelColumn: -1, featureColumns: [1], classCount: 5)
        #expect(last.labels == [1, 2, 3] && last.classCount == 5)
        #expect(last.inputs.scalars == [0.5, 1.5, 2.5])
    }

    @Test func nonIntegerLabelIsReported() throws {
        let dir = TemporaryDirectory()
        let path = try write("1,0\n2,1.5\n", in: dir)
        expectDataError(.badLabel(path: path, line: 2, column: 2, text: "1.5"), naming: path) {
            _ = try CSV.loadClassification(path)
        }
        expectDataError(.columnOutOfRange(path: path, column: 4, columnCount: 2), naming: path) {
            _ = try CSV.loadClassification(path, labelColumn: 4)
        }
    }

    @Test func regressionWithSeveralTargets() throws {
        let dir = TemporaryDirectory()
        let path = try write("1,2,3,4\n5,6,7,8\n", in: dir)
        let d = try CSV.loadRegression(path, targetColumns: [-2, -1])
        #expect(!d.isClassification)
        #expect(d.inputs.scalars == [1, 2, 5, 6])
        #expect(d.targets?.shape == [2, 2])
        #expect(d.targets?.scalars == [3, 4, 7, 8])
    }

    @Test func headerOnlyFileHasNoData() throws {
        let dir = TemporaryDirectory()
        let path = try write("a,b\n", in: dir)
        expectDataError(.noData(path: path), naming: path) { _ = try CSV.read(path) }
    }
}

@Suite(.enabled(if: SklearnData.isAvailable, "scikit-learn data is not installed (apt-get install python3-sklearn)"))
struct SklearnDataTests {
    func histogram(_ d: Dataset) -> [Int] {
        var h = [Int](repeating: 0, count: d.classCount)
        for y in d.labels { h[y] += 1 }
        return h
    }

    @Test func diabetes() throws {
        let d = try SklearnData.diabetes()
        #expect(d.inputs.shape == [442, 10])
        #expect(d.targets?.shape == [442, 1])
        #expect(d.inputs.rows(0..<1).scalars == [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87])
        #expect(d.targets?[0, 0] == 151)
    }

    @Test func breastCancer() throws {
        let d = try SklearnData.breastCancer()
        #expect(d.inputs.shape == [569, 30])
        #expect(d.classCount == 2 && histogram(d) == [212, 357])
    }

    @Test func irisAndWine() throws {
        let iris = try SklearnData.iris()
        #expect(iris.inputs.shape == [150, 4] && histogram(iris) == [50, 50, 50])
        let wine = try SklearnData.wine()
        #expect(wine.inputs.shape == [178, 13] && histogram(wine) == [59, 71, 48])
    }

    @Test func digits() throws {
        let d = try SklearnData.digits()
        #expect(d.inputs.shape == [1797, 64] && d.classCount == 10)
        let (lo, hi) = d.inputs.withUnsafeBufferPointer { ($0.min()!, $0.max()!) }
        #expect(lo == 0 && hi == 16)
        #expect(try SklearnData.digits(image: true).inputs.shape == [1797, 1, 8, 8])
    }
}

@Test func sklearnMissingDirectoryNamesThePackage() {
    #expect(!SklearnData.isAvailable(directory: "/nonexistent"))
    #expect(throws: DataError.self) { try SklearnData.iris(directory: "/nonexistent") }
    do { _ = try SklearnData.diabetes(directory: "/nonexistent") } catch let e as DataError {
        guard case .datasetMissing(_, let package) = e else { Issue.record("got \(e)"); return }
        #expect(package == "python3-sklearn")
    } catch { Issue.record("got \(error)") }
}
