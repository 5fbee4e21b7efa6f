// Numeric CSV (RFC 4180, and whitespace-separated) tables, gzip-compressed or plain, into data sets.
//
// The files are untrusted: every field is checked (numbers must be finite as 32-bit floats, quotes
// must close, row widths must agree, sizes stay under `CSVLimits`) and each problem is a thrown
// `DataError` that names the file, the 1-based line and column, and what was expected.

import Foundation

/// How fields are separated.
public enum CSVDelimiter: Sendable, Equatable {
    /// One separator character (an ASCII byte), e.g. `,` `;` or tab. Unquoted fields are trimmed of
    /// spaces and tabs (unless the separator is one of them).
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
    /// The 1-based file line on which each data row starts (for error messages).
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

/// The largest tables and values the CSV reader accepts. Going over one is a `DataError.limitExceeded`
/// (or `.invalidArgument` for a class count), never a crash or an unbounded allocation driven by a file.
public struct CSVLimits: Sendable, Equatable {
    /// Most fields in one row (default 2^20 = 1 048 576).
    public var maxColumns: Int
    /// Most data rows (default 2^27 = 134 217 728).
    public var maxRows: Int
    /// Most values in the whole table, rows × columns (default 2^30, 8 GiB as `Double`).
    public var maxValues: Int
    /// Most characters in one numeric field, blanks around it excluded (default 1 000): longer digit
    /// strings carry no information a 32-bit float can hold.
    public var maxNumberLength: Int
    /// Most classes a classification table may have; labels are whole numbers in `0..<maxClassCount`
    /// (default 65 536). Bounds the per-class allocations a label would otherwise drive.
    public var maxClassCount: Int

    /// Limits with the defaults above, each replaceable.
    public init(maxColumns: Int = 1 << 20, maxRows: Int = 1 << 27, maxValues: Int = 1 << 30,
                maxNumberLength: Int = 1_000, maxClassCount: Int = 65_536) {
        self.maxColumns = maxColumns
        self.maxRows = maxRows
        self.maxValues = maxValues
        self.maxNumberLength = maxNumberLength
        self.maxClassCount = maxClassCount
    }
}

/// Reader for numeric CSV files.
///
/// The format is RFC 4180 with the usual relaxations: a field may be enclosed in double quotes, and
/// then may contain delimiters, line breaks and quotes (written twice, `""`); lines end in LF or
/// CRLF; a UTF-8 byte order mark at the start is skipped; blank lines are ignored; unquoted fields are
/// trimmed of spaces and tabs. Values must be decimal numbers (`3`, `-0.5`, `.5`, `1e-3`, optionally
/// quoted) that are finite as 32-bit floats, because the data is used as `Float`; NaN, infinities,
/// hexadecimal and anything else are errors naming the line and column.
public enum CSV {
    /// Reads a numeric table.
    ///
    /// - Parameters:
    ///   - delimiter: field separator; `.whitespace` for space-separated files.
    ///   - hasHeader: `true`/`false` to say whether the first (non-skipped) row is a header; `nil`
    ///     to detect it: a first row is a header when one of its fields is a name (not empty, not a
    ///     number, NaN or infinity) and none holds a control character other than tab or a line break.
    ///   - skipLines: physical lines to ignore at the start, unparsed (e.g. the count line of
    ///     scikit-learn's files).
    ///   - hint: added to the message when the file does not exist.
    ///   - limits: the largest table accepted.
    /// Files starting with the gzip magic number are decompressed.
    /// - Throws: `DataError.badField` or `.nonFiniteValue` (with 1-based line and column) for a field
    ///   that is not a finite number, `.unterminatedQuote` / `.textAfterQuote` for broken quoting,
    ///   `.inconsistentColumns` for a row with a different number of fields, `.limitExceeded`,
    ///   `.noData` when no data row is left, and the errors of `DataFile.read`.
    public static func read(_ path: String, delimiter: CSVDelimiter = .comma, hasHeader: Bool? = nil,
                            skipLines: Int = 0, hint: String = "", limits: CSVLimits = CSVLimits()) throws -> CSVTable {
        try parse(DataFile.read(path, hint: hint), path: path, delimiter: delimiter, hasHeader: hasHeader,
                  skipLines: skipLines, limits: limits)
    }

    /// Parses CSV text (already decompressed); `path` names the source in errors. See `read`.
    public static func parse(_ text: [UInt8], path: String, delimiter: CSVDelimiter = .comma,
                             hasHeader: Bool? = nil, skipLines: Int = 0,
                             limits: CSVLimits = CSVLimits()) throws -> CSVTable {
        let separator = try _separator(delimiter)
        guard skipLines >= 0 else {
            throw DataError.invalidArgument(name: "skipLines", value: "\(skipLines)", requirement: "0 or more")
        }
        return try text.withUnsafeBufferPointer { bytes in
            var scanner = _CSVScanner(bytes: bytes, path: path, separator: separator, maxColumns: limits.maxColumns)
            scanner.skipByteOrderMark()
            scanner.skipLines(skipLines)
            var fields: [_CSVField] = []
            guard try scanner.nextRecord(into: &fields) else { throw DataError.noData(path: path) }
            var table = CSVTable(header: nil, rowCount: 0, columnCount: fields.count, values: [], lineNumbers: [])
            if hasHeader ?? _looksLikeHeader(fields, in: bytes, maxNumberLength: limits.maxNumberLength) {
                table.header = fields.map { scanner.text(of: $0) }
            } else {
                try _appendRow(fields, to: &table, from: bytes, path: path, limits: limits)
            }
            while try scanner.nextRecord(into: &fields) {
                guard fields.count == table.columnCount else {
                    throw DataError.inconsistentColumns(path: path, line: fields[0].line,
                                                        expected: table.columnCount, found: fields.count)
                }
                try _appendRow(fields, to: &table, from: bytes, path: path, limits: limits)
            }
            guard table.rowCount > 0 else { throw DataError.noData(path: path) }
            return table
        }
    }

    /// The separator byte of `delimiter` (nil for runs of blanks), refusing bytes that would make the
    /// format ambiguous: quotes, line breaks and non-ASCII bytes.
    static func _separator(_ delimiter: CSVDelimiter) throws -> UInt8? {
        guard case .character(let byte) = delimiter else { return nil }
        guard byte < 0x80, byte != _CSVScanner.quote, byte != _CSVScanner.lineFeed,
              byte != _CSVScanner.carriageReturn else {
            throw DataError.invalidArgument(name: "delimiter", value: "byte \(byte)",
                                            requirement: "an ASCII character other than a double quote or a line break")
        }
        return byte
    }

    /// Whether the first record is a header (see `read`): some field must be a name, and control
    /// characters (a NUL above all) mark damaged data rather than a header, so such a row is parsed as
    /// data and reported.
    static func _looksLikeHeader(_ fields: [_CSVField], in bytes: UnsafeBufferPointer<UInt8>,
                                 maxNumberLength: Int) -> Bool {
        var hasName = false
        for field in fields {
            let content = UnsafeBufferPointer(rebasing: bytes[field.start..<field.end])
            if content.contains(where: { ($0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D) || $0 == 0x7F }) {
                return false
            }
            if !content.isEmpty, case .notANumber = _number(field, in: bytes, maxLength: maxNumberLength) { hasName = true }
        }
        return hasName
    }

    /// Appends one data row, checking the row and value limits and every field.
    static func _appendRow(_ fields: [_CSVField], to table: inout CSVTable, from bytes: UnsafeBufferPointer<UInt8>,
                           path: String, limits: CSVLimits) throws {
        let line = fields[0].line
        guard table.rowCount < limits.maxRows else {
            throw DataError.limitExceeded(path: path, line: line, what: "rows", limit: limits.maxRows,
                                          setting: "CSVLimits.maxRows")
        }
        guard table.values.count <= limits.maxValues - fields.count else {
            throw DataError.limitExceeded(path: path, line: line, what: "values (rows × columns)",
                                          limit: limits.maxValues, setting: "CSVLimits.maxValues")
        }
        for (index, field) in fields.enumerated() {
            switch _number(field, in: bytes, maxLength: limits.maxNumberLength) {
            case .finite(let value):
                table.values.append(value)
            case .nonFinite:
                throw DataError.nonFiniteValue(path: path, line: field.line, column: index + 1,
                                               text: _shownText(field, in: bytes))
            case .notANumber:
                throw DataError.badField(path: path, line: field.line, column: index + 1,
                                         text: _shownText(field, in: bytes))
            case .tooLong:
                throw DataError.limitExceeded(path: path, line: field.line,
                                              what: "characters in the number in column \(index + 1)",
                                              limit: limits.maxNumberLength, setting: "CSVLimits.maxNumberLength")
            }
        }
        table.lineNumbers.append(line)
        table.rowCount += 1
    }

    /// The start of a field's text for an error message: whole up to 48 bytes, else its first 48
    /// bytes (cut at a character boundary) and "…", so a huge field cannot make a huge message.
    static func _shownText(_ field: _CSVField, in bytes: UnsafeBufferPointer<UInt8>) -> String {
        let shownBytes = 48
        var end = field.end
        var cut = false
        if end - field.start > shownBytes {
            end = field.start + shownBytes
            // Back up over UTF-8 continuation bytes so no character is split.
            while end > field.start && bytes[end] & 0xC0 == 0x80 { end -= 1 }
            cut = true
        }
        let text = _CSVScanner.text(of: _CSVField(start: field.start, end: end, line: field.line, isQuoted: field.isQuoted,
                                                  hasDoubledQuotes: field.hasDoubledQuotes), in: bytes)
        return cut ? text + "…" : text
    }

    /// What a field holds as a number.
    enum _NumberReading: Equatable {
        /// A decimal number that is finite as a 32-bit float.
        case finite(Double)
        /// NaN, an infinity, or a number beyond the 32-bit float range.
        case nonFinite
        /// Longer than the allowed number length.
        case tooLong
        /// Anything else.
        case notANumber
    }

    /// Powers of ten that are exact as `Double` (10^0 … 10^22): the range of the exact fast path.
    static let _exactPowersOfTen: [Double] = (0...22).map { exponent in
        var power = 1.0
        for _ in 0..<exponent { power *= 10 }
        return power
    }

    /// Reads a field as a decimal number: `[+-]digits[.digits][e[+-]digits]` (digits on at least one
    /// side of the point), surrounded by optional blanks. The syntax is checked on the bytes first, so
    /// a NUL or any other stray byte makes the field not a number (Swift's `Double(String)` would stop
    /// at a NUL and read `5\0.9` as 5).
    static func _number(_ field: _CSVField, in bytes: UnsafeBufferPointer<UInt8>, maxLength: Int) -> _NumberReading {
        if field.hasDoubledQuotes { return .notANumber }
        var start = field.start, end = field.end
        // Quoted fields keep their blanks, unquoted ones are trimmed already; numbers ignore them.
        while start < end && (bytes[start] == 0x20 || bytes[start] == 0x09) { start += 1 }
        while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }

        var index = start
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        /// Steps over a `+` or `-` at `index`, if any; true for `-`.
        func consumeSign() -> Bool {
            guard index < end, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") else { return false }
            index += 1
            return bytes[index - 1] == UInt8(ascii: "-")
        }
        let isNegative = consumeSign()
        let unsignedStart = index
        // Mantissa digits, accumulated while they fit the exact fast path (at most 15 significant
        // digits: below 2^53, so the mantissa itself is exact).
        var mantissa: UInt64 = 0
        var significantDigits = 0
        var digitCount = 0
        var decimalExponent = 0
        var sawPoint = false
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: ".") && !sawPoint {
                sawPoint = true
            } else if isDigit(byte) {
                digitCount += 1
                if mantissa != 0 || byte != UInt8(ascii: "0") { significantDigits += 1 }
                if significantDigits <= 15 {
                    mantissa = mantissa * 10 + UInt64(byte - UInt8(ascii: "0"))
                    if sawPoint { decimalExponent -= 1 }
                }
            } else {
                break
            }
            index += 1
        }
        guard digitCount > 0 else {
            return _isNonFiniteWord(bytes, from: index, to: end) ? .nonFinite : .notANumber
        }
        var writtenExponent = 0
        if index < end && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            index += 1
            let exponentIsNegative = consumeSign()
            let exponentStart = index
            while index < end && isDigit(bytes[index]) {
                // Saturate: past 10^5 every exponent means overflow or underflow anyway.
                if writtenExponent < 100_000 { writtenExponent = writtenExponent * 10 + Int(bytes[index] - UInt8(ascii: "0")) }
                index += 1
            }
            guard index > exponentStart else { return .notANumber }
            if exponentIsNegative { writtenExponent = -writtenExponent }
        }
        guard index == end else { return .notANumber }
        guard end - start <= maxLength else { return .tooLong }

        let magnitude: Double
        let exponent = decimalExponent + writtenExponent
        if mantissa == 0 && significantDigits == 0 {
            magnitude = 0
        } else if significantDigits <= 15 && exponent >= -22 && exponent <= 22 {
            // Clinger's fast path: an exact mantissa times or over an exact power of ten is one
            // correctly rounded operation.
            magnitude = exponent >= 0 ? Double(mantissa) * _exactPowersOfTen[exponent]
                                      : Double(mantissa) / _exactPowersOfTen[-exponent]
        } else {
            // Rare long or extreme numbers: the bytes are a checked decimal literal (without its sign),
            // which the standard library reads with correct rounding.
            let literal = String(decoding: UnsafeBufferPointer(rebasing: bytes[unsignedStart..<end]), as: UTF8.self)
            guard let parsed = Double(literal) else { return .notANumber }
            magnitude = parsed
        }
        let value = isNegative ? -magnitude : magnitude
        guard value.isFinite, Float(value).isFinite else { return .nonFinite }
        return .finite(value)
    }

    /// Whether bytes[from..<to] spell `nan`, `inf` or `infinity` (any case): numbers, but not finite ones.
    static func _isNonFiniteWord(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Bool {
        let word = UnsafeBufferPointer(rebasing: bytes[start..<end]).map { $0 | 0x20 }   // ASCII lower case
        return word.elementsEqual("nan".utf8) || word.elementsEqual("inf".utf8) || word.elementsEqual("infinity".utf8)
    }

    /// Fields of text[lo..<hi] (one line), without their quotes, for callers that read a line
    /// themselves. Broken quoting makes the whole line one field, which no caller accepts as valid.
    static func _split(_ text: [UInt8], _ lo: Int, _ hi: Int, _ delimiter: CSVDelimiter) -> [ArraySlice<UInt8>] {
        let line = text[lo..<hi]
        do {
            return try line.withUnsafeBufferPointer { bytes in
                var scanner = _CSVScanner(bytes: bytes, path: "", separator: try _separator(delimiter),
                                          maxColumns: CSVLimits().maxColumns)
                var fields: [_CSVField] = []
                guard try scanner.nextRecord(into: &fields) else { return [] }
                return fields.map { field in
                    field.hasDoubledQuotes ? ArraySlice(scanner.text(of: field).utf8)
                                           : line[(lo + field.start)..<(lo + field.end)]
                }
            }
        } catch {
            return [line]
        }
    }

    /// Resolves a possibly negative column index (-1 = last) against `count` columns.
    static func _resolve(_ column: Int, _ count: Int, path: String) throws -> Int {
        let c = column < 0 ? count + column : column
        guard c >= 0 && c < count else { throw DataError.columnOutOfRange(path: path, column: column, columnCount: count) }
        return c
    }

    /// Splits `table` into an input tensor [N, features] and the chosen other columns.
    /// - Throws: `.noFeatureColumns` when the table has fewer than 2 columns or no feature column is
    ///   left, since a model needs at least one input.
    static func _features(_ table: CSVTable, excluding excluded: [Int], featureColumns: [Int]?,
                          path: String) throws -> Tensor {
        let features = try featureColumns.map { try $0.map { try _resolve($0, table.columnCount, path: path) } }
            ?? (0..<table.columnCount).filter { !excluded.contains($0) }
        guard table.columnCount >= 2, !features.isEmpty else {
            throw DataError.noFeatureColumns(path: path, columnCount: table.columnCount)
        }
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
    ///   - classCount: number of classes, 1 to `limits.maxClassCount`; default the largest label + 1.
    /// - Throws: the errors of `read`, `.columnOutOfRange`, `.noFeatureColumns`, `.badLabel` for a
    ///   label that is not a non-negative whole number, `.classLabelOutOfRange` for one not below
    ///   `classCount` (or `limits.maxClassCount`), `.invalidArgument` for a class count out of range.
    public static func loadClassification(_ path: String, labelColumn: Int = -1, featureColumns: [Int]? = nil,
                                          delimiter: CSVDelimiter = .comma, hasHeader: Bool? = nil,
                                          skipLines: Int = 0, classCount: Int? = nil,
                                          limits: CSVLimits = CSVLimits()) throws -> Dataset {
        let table = try read(path, delimiter: delimiter, hasHeader: hasHeader, skipLines: skipLines, limits: limits)
        return try classification(table, path: path, labelColumn: labelColumn, featureColumns: featureColumns,
                                  classCount: classCount, limits: limits)
    }

    /// A classification data set from a table already read (see `loadClassification`).
    public static func classification(_ table: CSVTable, path: String, labelColumn: Int = -1,
                                      featureColumns: [Int]? = nil, classCount: Int? = nil,
                                      limits: CSVLimits = CSVLimits()) throws -> Dataset {
        let lc = try _resolve(labelColumn, table.columnCount, path: path)
        if let classCount, classCount < 1 || classCount > limits.maxClassCount {
            throw DataError.invalidArgument(name: "classCount", value: "\(classCount)",
                                            requirement: "from 1 to \(limits.maxClassCount) (CSVLimits.maxClassCount)")
        }
        // Checked before any label becomes an Int: a label is later a count of classes to allocate.
        let labelBound = classCount ?? limits.maxClassCount
        var labels: [Int] = []
        labels.reserveCapacity(table.rowCount)
        for r in 0..<table.rowCount {
            let v = table[r, lc]
            let text = v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
            guard v >= 0, v == v.rounded() else {
                throw DataError.badLabel(path: path, line: table.lineNumbers[r], column: lc + 1, text: text)
            }
            guard v < Double(labelBound) else {
                throw DataError.classLabelOutOfRange(path: path, line: table.lineNumbers[r], column: lc + 1,
                                                     text: text, classCount: labelBound)
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
    /// - Throws: the errors of `read`, `.columnOutOfRange`, `.noFeatureColumns`, and `.invalidArgument`
    ///   for an empty `targetColumns`.
    public static func loadRegression(_ path: String, targetColumns: [Int] = [-1], featureColumns: [Int]? = nil,
                                      delimiter: CSVDelimiter = .comma, hasHeader: Bool? = nil,
                                      skipLines: Int = 0, limits: CSVLimits = CSVLimits()) throws -> Dataset {
        guard !targetColumns.isEmpty else {
            throw DataError.invalidArgument(name: "targetColumns", value: "[]", requirement: "at least one column")
        }
        let table = try read(path, delimiter: delimiter, hasHeader: hasHeader, skipLines: skipLines, limits: limits)
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

/// One field of a record: where its text lies in the buffer and where it started.
struct _CSVField {
    /// Offset of the field's first content byte (after the opening quote of a quoted field).
    var start: Int
    /// Offset just past the field's content (before the closing quote of a quoted field).
    var end: Int
    /// 1-based line on which the field starts.
    var line: Int
    /// Whether the field was enclosed in double quotes.
    var isQuoted: Bool
    /// Whether the content holds doubled quotes (`""`) still to be read as one quote each.
    var hasDoubledQuotes: Bool
}

/// Splits a byte buffer into records and fields (RFC 4180 quoting), counting lines for messages.
/// Works on the raw bytes so large files need no per-character `String` work.
struct _CSVScanner {
    static let quote = UInt8(ascii: "\"")
    static let lineFeed = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")

    let bytes: UnsafeBufferPointer<UInt8>
    let path: String
    /// The field separator; nil when fields are separated by runs of blanks.
    let separator: UInt8?
    let maxColumns: Int
    /// Offset of the next unread byte.
    private(set) var position = 0
    /// 1-based line of the next unread byte.
    private(set) var line = 1

    init(bytes: UnsafeBufferPointer<UInt8>, path: String, separator: UInt8?, maxColumns: Int) {
        self.bytes = bytes
        self.path = path
        self.separator = separator
        self.maxColumns = maxColumns
    }

    /// Spaces and tabs around fields, and the CR of a CRLF line end (treating CR as a blank handles
    /// CRLF everywhere a line may end); never the separator itself.
    @inline(__always) func isBlank(_ byte: UInt8) -> Bool {
        (byte == 0x20 || byte == 0x09 || byte == Self.carriageReturn) && byte != separator
    }

    /// Skips a UTF-8 byte order mark, which some spreadsheet programs write first.
    mutating func skipByteOrderMark() {
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { position = 3 }
    }

    /// Skips `count` physical lines without parsing them.
    mutating func skipLines(_ count: Int) {
        while line <= count && position < bytes.count {
            if bytes[position] == Self.lineFeed { line += 1 }
            position += 1
        }
    }

    /// Reads the next record that is not blank into `fields`; false at the end of the text.
    mutating func nextRecord(into fields: inout [_CSVField]) throws -> Bool {
        while position < bytes.count {
            fields.removeAll(keepingCapacity: true)
            if let separator { try scanSeparated(by: separator, into: &fields) } else { try scanBlankSeparated(into: &fields) }
            let isBlankLine = fields.isEmpty
                || (fields.count == 1 && !fields[0].isQuoted && fields[0].start == fields[0].end)
            if !isBlankLine { return true }
        }
        return false
    }

    /// The field's text, doubled quotes read as one; invalid UTF-8 becomes U+FFFD.
    func text(of field: _CSVField) -> String { Self.text(of: field, in: bytes) }

    /// The field's text in `bytes`, doubled quotes read as one; invalid UTF-8 becomes U+FFFD.
    static func text(of field: _CSVField, in bytes: UnsafeBufferPointer<UInt8>) -> String {
        let content = UnsafeBufferPointer(rebasing: bytes[field.start..<field.end])
        guard field.hasDoubledQuotes else { return String(decoding: content, as: UTF8.self) }
        var unescaped: [UInt8] = []
        unescaped.reserveCapacity(content.count)
        var previousWasKeptQuote = false
        for byte in content {
            // Of each "" pair keep the first quote only.
            if byte == quote && previousWasKeptQuote { previousWasKeptQuote = false; continue }
            previousWasKeptQuote = byte == quote
            unescaped.append(byte)
        }
        return String(decoding: unescaped, as: UTF8.self)
    }

    mutating func skipBlanks() {
        while position < bytes.count && isBlank(bytes[position]) { position += 1 }
    }

    /// Throws when a record would get its `column`-th field beyond the limit.
    func checkColumnLimit(_ column: Int) throws {
        guard column <= maxColumns else {
            throw DataError.limitExceeded(path: path, line: line, what: "columns", limit: maxColumns,
                                          setting: "CSVLimits.maxColumns")
        }
    }

    /// One record of a file with a separator byte; consumes its line end.
    mutating func scanSeparated(by separator: UInt8, into fields: inout [_CSVField]) throws {
        while true {
            skipBlanks()
            let column = fields.count + 1
            try checkColumnLimit(column)
            if position < bytes.count && bytes[position] == Self.quote {
                fields.append(try scanQuoted(column: column))
                skipBlanks()
                guard position < bytes.count else { return }
                let next = bytes[position]
                if next == separator { position += 1; continue }
                if next == Self.lineFeed { position += 1; line += 1; return }
                throw DataError.textAfterQuote(path: path, line: line, column: column, text: strayText())
            }
            let start = position
            while position < bytes.count && bytes[position] != separator && bytes[position] != Self.lineFeed {
                position += 1
            }
            var end = position
            while end > start && isBlank(bytes[end - 1]) { end -= 1 }
            fields.append(_CSVField(start: start, end: end, line: line, isQuoted: false, hasDoubledQuotes: false))
            guard position < bytes.count else { return }
            let stop = bytes[position]
            position += 1
            if stop == Self.lineFeed { line += 1; return }
        }
    }

    /// One record of a file whose fields are separated by runs of blanks; consumes its line end.
    mutating func scanBlankSeparated(into fields: inout [_CSVField]) throws {
        while true {
            skipBlanks()
            guard position < bytes.count else { return }
            if bytes[position] == Self.lineFeed { position += 1; line += 1; return }
            let column = fields.count + 1
            try checkColumnLimit(column)
            if bytes[position] == Self.quote {
                fields.append(try scanQuoted(column: column))
                if position < bytes.count && !isBlank(bytes[position]) && bytes[position] != Self.lineFeed {
                    throw DataError.textAfterQuote(path: path, line: line, column: column, text: strayText())
                }
                continue
            }
            let start = position
            while position < bytes.count && !isBlank(bytes[position]) && bytes[position] != Self.lineFeed {
                position += 1
            }
            fields.append(_CSVField(start: start, end: position, line: line, isQuoted: false, hasDoubledQuotes: false))
        }
    }

    /// A quoted field starting at the opening quote under `position`; leaves `position` after the
    /// closing quote. Line breaks inside count as lines.
    mutating func scanQuoted(column: Int) throws -> _CSVField {
        let openingLine = line
        position += 1
        let start = position
        var hasDoubledQuotes = false
        while position < bytes.count {
            let byte = bytes[position]
            if byte == Self.quote {
                if position + 1 < bytes.count && bytes[position + 1] == Self.quote {
                    hasDoubledQuotes = true
                    position += 2
                    continue
                }
                let field = _CSVField(start: start, end: position, line: openingLine, isQuoted: true,
                                      hasDoubledQuotes: hasDoubledQuotes)
                position += 1
                return field
            }
            if byte == Self.lineFeed { line += 1 }
            position += 1
        }
        throw DataError.unterminatedQuote(path: path, line: openingLine, column: column)
    }

    /// A few bytes from `position` on, for a message about unexpected text.
    func strayText() -> String {
        var end = position
        while end < bytes.count && end - position < 16 && bytes[end] != Self.lineFeed { end += 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[position..<end]), as: UTF8.self)
    }
}
