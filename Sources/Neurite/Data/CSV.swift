// Numeric CSV (and whitespace-separated) tables, gzip-compressed or plain, into data sets.

import Foundation

/// How fields are separated.
public enum CSVDelimiter: Sendable, Equatable {
    /// One separator character (an ASCII byte), e.g. `,` `;` or tab. Fields are trimmed of spaces.
    case character(UInt8)
    /// Runs of spaces and tabs; leading and trailing blanks are ignored.
    case whitespace

    /// `,`
    public static let comma = CSVDelimiter.character(UInt8(ascii: ","))
    /// `;`
    public static let semicolon = CSVDelimiter.character(UInt8(ascii: ";"))
    /// Tab.
    public static let tab = CSVDelimiter.character(UInt8(ascii: "\t"))
}

/// A numeric table read from a CSV file: row-major values plus the optional header.
public struct CSVTable: Sendable, Equatable {
    /// Column names, if the file had a header row.
    public var header: [String]?
    /// Number of data rows.
    public var rowCount: Int
    /// Number of columns.
    public var columnCount: Int
    /// All values, row-major (`rowCount * columnCount`).
    public var values: [Double]
    /// The 1-based file line of each data row (for error messages).
    public var lineNumbers: [Int]

    /// The value at `row`, `column` (0-based).
    public subscript(row: Int, column: Int) -> Double { values[row * columnCount + column] }

    /// The rows as arrays.
    public var rows: [[Double]] {
        (0..<rowCount).map { Array(values[($0 * columnCount)..<(($0 + 1) * columnCount)]) }
    }

    /// Column `column` (0-based) as an array.
    public func column(_ column: Int) -> [Double] { (0..<rowCount).map { self[$0, column] } }
}

/// Reader for numeric CSV files.
public enum CSV {
    /// Reads a numeric table.
    ///
    /// - Parameters:
    ///   - delimiter: field separator; `.whitespace` for space-separated files.
    ///   - hasHeader: `true`/`false` to say whether the first (non-skipped) row is a header; `nil`
    ///     to detect it: a first row with any non-numeric field is a header.
    ///   - skipLines: lines to ignore at the start (e.g. the count line of scikit-learn's files).
    /// Blank lines are ignored; double-quoted fields have their quotes removed. Files starting with
    /// the gzip magic number are decompressed.
    /// - Throws: `DataError.badField` (with 1-based line and column) for a non-numeric field,
    ///   `.inconsistentColumns` for a row with a different number of fields, `.noData` when no row is left.
    public static func read(_ path: String, delimiter: CSVDelimiter = .comma, hasHeader: Bool? = nil,
                            skipLines: Int = 0, hint: String = "") throws -> CSVTable {
        try parse(DataFile.read(path, hint: hint), path: path, delimiter: delimiter, hasHeader: hasHeader,
                  skipLines: skipLines)
    }

    /// Parses CSV text (already decompressed); `path` names the source in errors.
    public static func parse(_ text: [UInt8], path: String, delimiter: CSVDelimiter = .comma,
                             hasHeader: Bool? = nil, skipLines: Int = 0) throws -> CSVTable {
        var header: [String]? = nil
        var values: [Double] = []
        var lineNumbers: [Int] = []
        var columns = -1
        var sawFirstRow = false
        var lineNumber = 0
        var start = 0
        let n = text.count
        while start < n {
            var end = start
            while end < n && text[end] != UInt8(ascii: "\n") { end += 1 }
            lineNumber += 1
            let lineStart = start
            var lineEnd = end
            start = end + 1
            if lineEnd > lineStart && text[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            if lineNumber <= skipLines { continue }
            let fields = _split(text, lineStart, lineEnd, delimiter)
            if fields.isEmpty || (fields.count == 1 && fields[0].isEmpty) { continue }   // blank line

            if columns >= 0 && fields.count != columns {
                throw DataError.inconsistentColumns(path: path, line: lineNumber, expected: columns, found: fields.count)
            }
            if !sawFirstRow {
                sawFirstRow = true
                columns = fields.count
                let isHeader = hasHeader ?? fields.contains { _number($0) == nil }
                if isHeader {
                    header = fields.map { String(decoding: $0, as: UTF8.self) }
                    continue
                }
            }
            for (c, f) in fields.enumerated() {
                guard let v = _number(f) else {
                    throw DataError.badField(path: path, line: lineNumber, column: c + 1,
                                             text: String(decoding: f, as: UTF8.self))
                }
                values.append(v)
            }
            lineNumbers.append(lineNumber)
        }
        guard !lineNumbers.isEmpty else { throw DataError.noData(path: path) }
        return CSVTable(header: header, rowCount: lineNumbers.count, columnCount: columns, values: values,
                        lineNumbers: lineNumbers)
    }

    /// Fields of text[lo..<hi], trimmed of blanks and surrounding double quotes.
    static func _split(_ text: [UInt8], _ lo: Int, _ hi: Int, _ delimiter: CSVDelimiter) -> [ArraySlice<UInt8>] {
        func isBlank(_ b: UInt8) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
        func trimmed(_ a: Int, _ b: Int) -> ArraySlice<UInt8> {
            var a = a, b = b
            while a < b && isBlank(text[a]) { a += 1 }
            while b > a && isBlank(text[b - 1]) { b -= 1 }
            if b - a >= 2 && text[a] == UInt8(ascii: "\"") && text[b - 1] == UInt8(ascii: "\"") { a += 1; b -= 1 }
            return text[a..<b]
        }
        var fields: [ArraySlice<UInt8>] = []
        switch delimiter {
        case .whitespace:
            var i = lo
            while i < hi {
                while i < hi && isBlank(text[i]) { i += 1 }
                if i >= hi { break }
                var j = i
                while j < hi && !isBlank(text[j]) { j += 1 }
                fields.append(trimmed(i, j))
                i = j
            }
        case .character(let sep):
            var i = lo
            var fieldStart = lo
            while i < hi {
                if text[i] == sep { fields.append(trimmed(fieldStart, i)); fieldStart = i + 1 }
                i += 1
            }
            fields.append(trimmed(fieldStart, hi))
        }
        return fields
    }

    /// The field as a finite-or-not Double, or nil when it is not a number.
    static func _number(_ field: ArraySlice<UInt8>) -> Double? {
        if field.isEmpty { return nil }
        return Double(String(decoding: field, as: UTF8.self))
    }

    /// Resolves a possibly negative column index (-1 = last) against `count` columns.
    static func _resolve(_ column: Int, _ count: Int, path: String) throws -> Int {
        let c = column < 0 ? count + column : column
        guard c >= 0 && c < count else { throw DataError.columnOutOfRange(path: path, column: column, columnCount: count) }
        return c
    }

    /// Splits `table` into an input tensor [N, features] and the chosen other columns.
    static func _features(_ table: CSVTable, excluding excluded: [Int], featureColumns: [Int]?,
                          path: String) throws -> Tensor {
        let features = try featureColumns.map { try $0.map { try _resolve($0, table.columnCount, path: path) } }
            ?? (0..<table.columnCount).filter { !excluded.contains($0) }
        let w = features.count
        return Tensor(shape: [table.rowCount, w]) { dst in
            for r in 0..<table.rowCount {
                for (j, c) in features.enumerated() { dst[r * w + j] = Float(table[r, c]) }
            }
        }
    }

    /// A classification data set from a numeric CSV file.
    ///
    /// - Parameters:
    ///   - labelColumn: the column holding class labels (whole numbers from 0; negative counts from the end).
    ///   - featureColumns: the input columns, in order; default all columns but the label column.
    ///   - classCount: number of classes; default the largest label + 1.
    /// - Throws: the errors of `read`, `.columnOutOfRange`, and `.badLabel` for a label that is not
    ///   a non-negative whole number (or not below `classCount`).
    public static func loadClassification(_ path: String, labelColumn: Int = -1, featureColumns: [Int]? = nil,
                                          delimiter: CSVDelimiter = .comma, hasHeader: Bool? = nil,
                                          skipLines: Int = 0, classCount: Int? = nil) throws -> Dataset {
        let table = try read(path, delimiter: delimiter, hasHeader: hasHeader, skipLines: skipLines)
        return try classification(table, path: path, labelColumn: labelColumn, featureColumns: featureColumns,
                                  classCount: classCount)
    }

    /// A classification data set from a table already read (see `loadClassification`).
    public static func classification(_ table: CSVTable, path: String, labelColumn: Int = -1,
                                      featureColumns: [Int]? = nil, classCount: Int? = nil) throws -> Dataset {
        let lc = try _resolve(labelColumn, table.columnCount, path: path)
        var labels: [Int] = []
        labels.reserveCapacity(table.rowCount)
        for r in 0..<table.rowCount {
            let v = table[r, lc]
            guard v >= 0, v == v.rounded(), v < Double(classCount ?? Int(Int32.max)) else {
                throw DataError.badLabel(path: path, line: table.lineNumbers[r], column: lc + 1,
                                         text: v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v))
            }
            labels.append(Int(v))
        }
        let x = try _features(table, excluding: [lc], featureColumns: featureColumns, path: path)
        return Dataset(inputs: x, labels: labels, classCount: classCount)
    }

    /// A regression data set from a numeric CSV file.
    ///
    /// - Parameters:
    ///   - targetColumns: the columns to predict (negative counts from the end); default the last.
    ///   - featureColumns: the input columns, in order; default all columns but the targets.
    public static func loadRegression(_ path: String, targetColumns: [Int] = [-1], featureColumns: [Int]? = nil,
                                      delimiter: CSVDelimiter = .comma, hasHeader: Bool? = nil,
                                      skipLines: Int = 0) throws -> Dataset {
        let table = try read(path, delimiter: delimiter, hasHeader: hasHeader, skipLines: skipLines)
        let tc = try targetColumns.map { try _resolve($0, table.columnCount, path: path) }
        let x = try _features(table, excluding: tc, featureColumns: featureColumns, path: path)
        let y = Tensor(shape: [table.rowCount, tc.count]) { dst in
            for r in 0..<table.rowCount {
                for (j, c) in tc.enumerated() { dst[r * tc.count + j] = Float(table[r, c]) }
            }
        }
        return Dataset(inputs: x, targets: y)
    }
}
