import Foundation
import Testing
@testable import Neurite

/// Expects `body` to throw `expected`, with a message that names `path` and holds every string in `mentions`.
func expectCSVError(_ expected: DataError, naming path: String, mentions: [String],
                    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    expectDataError(expected, naming: path, sourceLocation: sourceLocation, body)
    for fragment in mentions {
        #expect(expected.description.contains(fragment), "message lacks \(fragment): \(expected)",
                sourceLocation: sourceLocation)
    }
}

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

    // MARK: RFC 4180

    @Test func quotedHeaderFieldsWithDelimitersQuotesAndNewlines() throws {
        let dir = TemporaryDirectory()
        let path = try write("\"width, cm\",\"say \"\"hi\"\"\",\"two\nlines\",plain\n1,2,3,4\n\"5\",6 , \"7.5\",8\n", in: dir)
        let t = try CSV.read(path)
        #expect(t.header == ["width, cm", "say \"hi\"", "two\nlines", "plain"])
        #expect(t.rows == [[1, 2, 3, 4], [5, 6, 7.5, 8]])
        // The header spans lines 1-2, so the data rows start on lines 3 and 4.
        #expect(t.lineNumbers == [3, 4])
    }

    @Test func rfc4180ExampleWithCRLFAndMultiLineField() throws {
        // RFC 4180 section 2: CRLF line ends, a quoted field holding CRLF, no line end after the last record.
        let text = "\"aaa\",\"b\r\nbb\",\"ccc\"\r\n1,2,3\r\n4,5,6"
        let t = try CSV.parse(Array(text.utf8), path: "rfc.csv", hasHeader: true)
        #expect(t.header == ["aaa", "b\r\nbb", "ccc"])
        #expect(t.rows == [[1, 2, 3], [4, 5, 6]])
        #expect(t.lineNumbers == [3, 4])
    }

    @Test func byteOrderMarkBlankLinesAndCRLF() throws {
        let text = "\u{FEFF}x,y\r\n\r\n  \r\n1,2\r\n\n\t\n3,4\r\n\r\n"
        let t = try CSV.parse(Array(text.utf8), path: "bom.csv")
        #expect(t.header == ["x", "y"])
        #expect(t.rows == [[1, 2], [3, 4]])
        #expect(t.lineNumbers == [4, 7])
    }

    @Test func whitespaceAndTabDelimitersWithQuotes() throws {
        let spaced = try CSV.parse(Array("\"first name\"  \"a \"\"b\"\"\" c\n 1 \"2\"\t3 \r\n".utf8), path: "w.txt",
                                   delimiter: .whitespace)
        #expect(spaced.header == ["first name", "a \"b\"", "c"])
        #expect(spaced.rows == [[1, 2, 3]])
        let tabbed = try CSV.parse(Array("a b\t\"c\td\"\n 1 \t2\n".utf8), path: "t.tsv", delimiter: .tab)
        #expect(tabbed.header == ["a b", "c\td"])
        #expect(tabbed.rows == [[1, 2]])
    }

    @Test func countLineSplitKeepsQuotedNames() {
        // scikit-learn's loaders split their first line themselves with CSV._split.
        let text = Array("150,4,\"setosa, Iris\",\"say \"\"v\"\"\" \r\n5.1,3.5".utf8)
        let end = text.firstIndex(of: UInt8(ascii: "\n"))!
        let fields = CSV._split(text, 0, end, .comma).map { String(decoding: $0, as: UTF8.self) }
        #expect(fields == ["150", "4", "setosa, Iris", "say \"v\""])
        // Broken quoting leaves the line whole, which no count-line check accepts.
        #expect(CSV._split(Array("1,\"2".utf8), 0, 4, .comma).count == 1)
    }

    @Test func skippedLinesAreNotParsed() throws {
        // The count line may hold anything, an unbalanced quote included.
        let t = try CSV.parse(Array("2 rows, \"unbalanced\n1,2\n3,4\n".utf8), path: "s.csv", skipLines: 1)
        #expect(t.header == nil && t.rows == [[1, 2], [3, 4]] && t.lineNumbers == [2, 3])
    }

    @Test func numberForms() throws {
        let fields = ["0", "-0", "+1", ".5", "5.", "-2e-3", "1E+05", "0.1", "  7  ", "3.4028234e38",
                      "123456789012345678901234567890", "0.000000000000000000000000000123", "1e-50"]
        let text = fields.map { "\"\($0)\"" }.joined(separator: ",") + "\n" + fields.joined(separator: ",") + "\n"
        let t = try CSV.parse(Array(text.utf8), path: "n.csv")
        let expected = fields.map { Double($0.trimmingCharacters(in: .whitespaces))! }
        #expect(t.rowCount == 2)
        #expect(t.rows[0].map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(t.rows[1].map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test func numbersAreReadExactlyAsTheStandardLibraryReadsThem() throws {
        // The reader's fast path must round exactly like Double(String) on every number it takes.
        var random = SeededGenerator(seed: 4180)
        var fields: [String] = []
        for _ in 0..<20_000 {
            let digits = String((0..<Int.random(in: 1...19, using: &random)).map { _ in "0123456789".randomElement(using: &random)! })
            let point = Int.random(in: 0...digits.count, using: &random)
            var field = String(digits.prefix(point)) + "." + String(digits.dropFirst(point))
            // Exponents up to 10^30 either way, kept inside the 32-bit float range.
            if Bool.random(using: &random) { field += "e\(Int.random(in: -30...(30 - point), using: &random))" }
            if Bool.random(using: &random) { field = "-" + field }
            fields.append(field)
        }
        let t = try CSV.parse(Array(fields.joined(separator: "\n").utf8), path: "r.csv", hasHeader: false)
        #expect(t.values.map(\.bitPattern) == fields.map { Double($0)!.bitPattern })
    }

    // MARK: Untrusted values

    @Test(arguments: ["NaN", "nan", "-inf", "+Infinity", "INF", "1e400", "-1e39", "3.5e38",
                      String(repeating: "9", count: 400), "\"1e400\""])
    func nonFiniteValuesAreErrors(field: String) throws {
        let dir = TemporaryDirectory()
        let path = try write("a,b\n1,2\n3,\(field)\n", in: dir)
        let shown = field.hasPrefix("\"") ? String(field.dropFirst().dropLast()) : field
        expectCSVError(.nonFiniteValue(path: path, line: 3, column: 2, text: String(shown.prefix(48)) + (shown.count > 48 ? "…" : "")),
                       naming: path, mentions: ["Line 3, column 2", "finite", "32-bit"]) { _ = try CSV.read(path) }
    }

    @Test(arguments: ["abc", "0x1p3", "1e", "1.2.3", "--1", "1 2", ".", "e5", "1,5", "nan(1)", "5'", "\"\""])
    func nonNumericFieldsAreErrors(field: String) throws {
        let dir = TemporaryDirectory()
        let escaped = field == "1,5" ? "\"1,5\"" : field
        let path = try write("a;b\n1;2\n3;\(escaped)\n".replacingOccurrences(of: ";", with: ","), in: dir)
        let text = field == "\"\"" ? "" : field
        expectCSVError(.badField(path: path, line: 3, column: 2, text: text), naming: path,
                       mentions: ["Line 3, column 2", "decimal number"]) { _ = try CSV.read(path) }
    }

    @Test func embeddedNulIsNotReadAsAPrefix() throws {
        let dir = TemporaryDirectory()
        let path = try write("a,b\n1,5\u{0}.9\n", in: dir)
        expectCSVError(.badField(path: path, line: 2, column: 2, text: "5\u{0}.9"), naming: path,
                       mentions: ["Line 2, column 2", "'5\\0.9'"]) { _ = try CSV.read(path) }
        // Without a header the NUL row is still data: reported, not mistaken for a header.
        let first = try write("1,5\u{0}.9\n1,2\n", "first.csv", in: dir)
        expectCSVError(.badField(path: first, line: 1, column: 2, text: "5\u{0}.9"), naming: first,
                       mentions: ["Line 1, column 2"]) { _ = try CSV.read(first) }
    }

    @Test func longAndControlFieldsAreEscapedAndCut() throws {
        let long = "x" + String(repeating: "é", count: 100)
        let bytes = Array("a,b\n1,\(long)\n2,\u{1B}[31m\n".utf8)
        expectCSVError(.badField(path: "l.csv", line: 2, column: 2, text: "x" + String(repeating: "é", count: 23) + "…"),
                       naming: "l.csv", mentions: []) { _ = try CSV.parse(bytes, path: "l.csv") }
        let control = DataError.badField(path: "c.csv", line: 3, column: 2, text: "\u{1B}[31m\r\n\\")
        #expect(control.description.contains("'\\u{1B}[31m\\r\\n\\\\'"))
    }

    @Test func unterminatedQuoteNamesTheLineItOpensOn() throws {
        let dir = TemporaryDirectory()
        let path = try write("a,b\n1,2\n3,\"4\n5,6\n7,8\n", in: dir)
        expectCSVError(.unterminatedQuote(path: path, line: 3, column: 2), naming: path,
                       mentions: ["line 3, column 2", "never closed"]) { _ = try CSV.read(path) }
        expectCSVError(.unterminatedQuote(path: "w.txt", line: 1, column: 1), naming: "w.txt", mentions: []) {
            _ = try CSV.parse(Array("\"a b\n1 2\n".utf8), path: "w.txt", delimiter: .whitespace)
        }
    }

    @Test func textAfterClosingQuoteIsAnError() throws {
        expectCSVError(.textAfterQuote(path: "q.csv", line: 2, column: 1, text: "x,2"), naming: "q.csv",
                       mentions: ["Line 2, column 1", "closing quote"]) {
            _ = try CSV.parse(Array("a,b\n\"1\"x,2\n".utf8), path: "q.csv")
        }
        expectCSVError(.textAfterQuote(path: "q.txt", line: 1, column: 2, text: "c"), naming: "q.txt", mentions: []) {
            _ = try CSV.parse(Array("a \"b\"c\n".utf8), path: "q.txt", delimiter: .whitespace)
        }
    }

    @Test func multiLineRecordReportsItsFirstLine() throws {
        expectCSVError(.inconsistentColumns(path: "m.csv", line: 2, expected: 2, found: 3), naming: "m.csv",
                       mentions: ["Line 2", "3 fields"]) {
            _ = try CSV.parse(Array("a,b\n\"1\n\n\",2,3\n".utf8), path: "m.csv", hasHeader: true)
        }
    }

    @Test func emptyAndBlankFilesHaveNoData() {
        for text in ["", "\n\n", "\u{FEFF}", "  \r\n\t\n"] {
            expectCSVError(.noData(path: "e.csv"), naming: "e.csv", mentions: []) {
                _ = try CSV.parse(Array(text.utf8), path: "e.csv")
            }
        }
    }

    // MARK: Limits

    @Test func sizeLimitsAreErrorsNamingTheLimit() {
        let text = Array("1,2,3\n4,5,6\n7,8,9\n".utf8)
        expectCSVError(.limitExceeded(path: "z.csv", line: 1, what: "columns", limit: 2, setting: "CSVLimits.maxColumns"),
                       naming: "z.csv", mentions: ["Line 1", "limit of 2 columns"]) {
            _ = try CSV.parse(text, path: "z.csv", limits: CSVLimits(maxColumns: 2))
        }
        expectCSVError(.limitExceeded(path: "z.csv", line: 3, what: "rows", limit: 2, setting: "CSVLimits.maxRows"),
                       naming: "z.csv", mentions: ["Line 3", "CSVLimits.maxRows"]) {
            _ = try CSV.parse(text, path: "z.csv", limits: CSVLimits(maxRows: 2))
        }
        expectCSVError(.limitExceeded(path: "z.csv", line: 2, what: "values (rows × columns)", limit: 4,
                                      setting: "CSVLimits.maxValues"), naming: "z.csv", mentions: ["Line 2"]) {
            _ = try CSV.parse(text, path: "z.csv", limits: CSVLimits(maxValues: 4))
        }
        expectCSVError(.limitExceeded(path: "z.csv", line: 2, what: "characters in the number in column 3", limit: 5,
                                      setting: "CSVLimits.maxNumberLength"), naming: "z.csv", mentions: ["Line 2"]) {
            _ = try CSV.parse(Array("1,2,3\n4,5, 6.0000 \n".utf8), path: "z.csv", limits: CSVLimits(maxNumberLength: 5))
        }
        #expect(CSVLimits() == CSVLimits(maxColumns: 1_048_576, maxRows: 134_217_728, maxValues: 1_073_741_824,
                                         maxNumberLength: 1_000, maxClassCount: 65_536))
    }

    @Test func badArgumentsAreErrors() {
        #expect(throws: DataError.invalidArgument(name: "skipLines", value: "-1", requirement: "0 or more")) {
            try CSV.parse(Array("1,2\n".utf8), path: "a.csv", skipLines: -1)
        }
        for byte in [UInt8(ascii: "\""), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0xC3] {
            #expect(throws: DataError.self) { try CSV.parse(Array("1,2\n".utf8), path: "a.csv", delimiter: .character(byte)) }
        }
    }

    // MARK: Data sets

    @Test func hugeClassLabelIsAnErrorNotAnAllocation() throws {
        let dir = TemporaryDirectory()
        let path = try write("x,y\n0.5,1\n1.5,2147483646\n", in: dir)
        expectCSVError(.classLabelOutOfRange(path: path, line: 3, column: 2, text: "2147483646", classCount: 65_536),
                       naming: path, mentions: ["Line 3, column 2", "0...65535"]) {
            _ = try CSV.loadClassification(path)
        }
        expectCSVError(.classLabelOutOfRange(path: path, line: 2, column: 2, text: "1", classCount: 1), naming: path,
                       mentions: ["0...0"]) { _ = try CSV.loadClassification(path, classCount: 1) }
        let negative = try write("1,-1\n", "n.csv", in: dir)
        expectCSVError(.badLabel(path: negative, line: 1, column: 2, text: "-1"), naming: negative,
                       mentions: ["Line 1, column 2"]) { _ = try CSV.loadClassification(negative) }
        for count in [0, 65_537] {
            #expect(throws: DataError.self) { try CSV.loadClassification(negative, classCount: count) }
        }
        // The bound is a documented, adjustable limit.
        let big = try write("0.5,65536\n", "big.csv", in: dir)
        let d = try CSV.loadClassification(big, limits: CSVLimits(maxClassCount: 65_537))
        #expect(d.classCount == 65_537)
    }

    @Test func tablesWithoutAFeatureColumnAreErrors() throws {
        let dir = TemporaryDirectory()
        let single = try write("y\n1\n0\n", in: dir)
        expectCSVError(.noFeatureColumns(path: single, columnCount: 1), naming: single, mentions: ["1 column,"]) {
            _ = try CSV.loadClassification(single)
        }
        expectCSVError(.noFeatureColumns(path: single, columnCount: 1), naming: single, mentions: []) {
            _ = try CSV.loadRegression(single)
        }
        expectCSVError(.noFeatureColumns(path: single, columnCount: 1), naming: single, mentions: []) {
            _ = try CSV.loadClassification(single, featureColumns: [0])
        }
        let two = try write("1,0\n", "two.csv", in: dir)
        expectCSVError(.noFeatureColumns(path: two, columnCount: 2), naming: two, mentions: []) {
            _ = try CSV.loadRegression(two, featureColumns: [])
        }
        #expect(throws: DataError.invalidArgument(name: "targetColumns", value: "[]", requirement: "at least one column")) {
            try CSV.loadRegression(two, targetColumns: [])
        }
    }

    // MARK: Robustness

    @Test func tenMegabytesParseQuickly() throws {
        // 100 000 rows of 16 values in the shapes real files have (integers, decimals, exponents).
        let header = Array("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,label\n".utf8)
        var text = header
        let row = Array("0.2985,-1.5,12,3.25e-2,0.0001,7,-0.333333,5.5,100,0.61,42,-8.75,0.5,1e3,2.7182818,3\n".utf8)
        while text.count < 10_000_000 { text += row }
        let clock = ContinuousClock()
        var table: CSVTable?
        let elapsed = try clock.measure { table = try CSV.parse(text, path: "big.csv") }
        print("parsed \(text.count / 1_000_000) MB of CSV in \(elapsed)")
        #expect(table?.columnCount == 16 && table?.rowCount == (text.count - header.count) / row.count)
        #expect(table?.rows.last?[9] == 0.61)
        // Generous: catches an accidental quadratic step, not a slow machine.
        #expect(elapsed < .seconds(10))
    }

    /// Parses `bytes` and checks the outcome is a consistent table of finite values, or a DataError
    /// naming `path`; anything else (a crash, another error) fails the test. Returns whether it parsed.
    func checkParsesCleanlyOrFails(_ bytes: [UInt8], path: String, delimiter: CSVDelimiter) -> Bool {
        do {
            let t = try CSV.parse(bytes, path: path, delimiter: delimiter)
            #expect(t.rowCount > 0 && t.columnCount > 0)
            #expect(t.values.count == t.rowCount * t.columnCount)
            #expect(t.lineNumbers.count == t.rowCount)
            #expect(zip(t.lineNumbers, t.lineNumbers.dropFirst()).allSatisfy { $0 < $1 })
            #expect(t.header.map { $0.count == t.columnCount } ?? true)
            #expect(t.values.allSatisfy { Float($0).isFinite })
            for load in [{ try CSV.classification(t, path: path) },
                         { try CSV.classification(t, path: path, labelColumn: 0, classCount: 3) }] {
                do {
                    let d = try load()
                    #expect(d.inputs.rowCount == t.rowCount && d.inputs.rowWidth == t.columnCount - 1)
                    #expect(d.classCount <= CSVLimits().maxClassCount)
                } catch let error as DataError {
                    #expect(error.description.contains(path))
                } catch {
                    Issue.record("\(path): not a DataError: \(error)")
                }
            }
            return true
        } catch let error as DataError {
            #expect(error.description.contains(path), "\(error)")
        } catch {
            Issue.record("\(path): not a DataError: \(error)")
        }
        return false
    }

    @Test func seededByteMutationsNeverCrash() {
        let seeds: [(text: [UInt8], delimiter: CSVDelimiter)] = [
            (Array("\u{FEFF}\"width, cm\",height,\"say \"\"hi\"\"\nthere\",class\r\n1.5,2,\"3\",0\r\n\n-4e-1, 5 ,6,1\n7,8,9,2\n".utf8), .comma),
            (Array("\"width cm\" height class\n1.5\t2 0\r\n\n -4e-1  5 1\n\"7\" 8 2".utf8), .whitespace),
        ]
        // Bytes that steer the parser: quotes, separators, line ends, NUL, blanks, number characters.
        let interesting: [UInt8] = Array("\",\n\r\0 \t.-+eE019".utf8) + [0xEF, 0xBB, 0xBF, 0x7F, 0xFF]
        for seed in seeds { #expect(checkParsesCleanlyOrFails(seed.text, path: "seed.csv", delimiter: seed.delimiter)) }
        var random = SeededGenerator(seed: 12)
        var parsed = 0
        // NEURITE_CSV_MUTATIONS runs a longer search (e.g. 1000000) without a code change.
        let trials = ProcessInfo.processInfo.environment["NEURITE_CSV_MUTATIONS"].flatMap { Int($0) } ?? 4_000
        for trial in 0..<trials {
            let seed = seeds[trial % seeds.count]
            var bytes = seed.text
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0...bytes.count, using: &random)
                let byte = Bool.random(using: &random) ? interesting.randomElement(using: &random)!
                                                       : UInt8.random(in: 0...255, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes.insert(byte, at: at)
                case 1: if at < bytes.count { bytes.remove(at: at) }
                case 2: if at < bytes.count { bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random) }
                default:
                    let end = min(bytes.count, at + Int.random(in: 1...8, using: &random))
                    bytes.insert(contentsOf: bytes[at..<end], at: at)
                }
            }
            if checkParsesCleanlyOrFails(bytes, path: "mutant-\(trial).csv", delimiter: seed.delimiter) {
                parsed += 1
            }
        }
        print("mutation test: \(parsed) of \(trials) mutants parsed, the rest were DataErrors")
        // Both outcomes must be common, or the mutations are not exercising the reader.
        #expect(parsed > trials / 10 && parsed < trials * 9 / 10)
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
