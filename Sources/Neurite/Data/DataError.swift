// Errors raised while reading data files and preparing data sets. Every case carries what a user
// needs to fix the problem: the file, the place in it, and what was expected versus found.

/// Something wrong with a data file, a data set on disk, or a request made of a data set.
///
/// Line and column numbers are 1-based, as a text editor shows them.
public enum DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `path` does not exist. `hint` (may be empty) says how to get it.
    case fileNotFound(path: String, hint: String)
    /// `path` exists but could not be read (a directory, no permission, …).
    case unreadable(path: String, reason: String)
    /// The gzip stream in `path` is damaged or ends early; `detail` is zlib's message.
    case corruptCompressedData(path: String, detail: String)
    /// The first bytes of `path` are not the magic number of its format.
    case badMagic(path: String, expected: String, found: String)
    /// The IDX type byte of `path` names no element type this reader supports.
    case unsupportedType(path: String, typeByte: UInt8)
    /// `path` holds fewer bytes than its header announces (IDX: counted after the header).
    case truncated(path: String, expectedBytes: Int, foundBytes: Int)
    /// `path` holds more bytes than its header announces (IDX: counted after the header).
    case extraData(path: String, expectedBytes: Int, foundBytes: Int)
    /// The array in `path` has dimensions `found`, but the reader needs `expected` (in words).
    case badDimensions(path: String, expected: String, found: [Int])
    /// Two files (or a file and its own header) disagree on how many examples there are.
    case dimensionMismatch(firstPath: String, firstCount: Int, secondPath: String, secondCount: Int)
    /// A field that should be a number is not (CSV: a decimal number such as `3`, `-0.5` or `1e-3`).
    /// `text` is the field, cut to its first 48 bytes when longer.
    case badField(path: String, line: Int, column: Int, text: String)
    /// A CSV field holds NaN, an infinity, or a number too large in magnitude for a 32-bit float
    /// (the type the data is used as). `text` is the field, cut to its first 48 bytes when longer.
    case nonFiniteValue(path: String, line: Int, column: Int, text: String)
    /// A quoted CSV field that opens at `line`, `column` is never closed.
    case unterminatedQuote(path: String, line: Int, column: Int)
    /// A quoted CSV field's closing quote is followed by `text` instead of a delimiter or a line end.
    case textAfterQuote(path: String, line: Int, column: Int, text: String)
    /// The file goes over a reader limit at `line`: more than `limit` `what` (e.g. "columns"); `setting`
    /// names the limit to raise (e.g. `CSVLimits.maxColumns`).
    case limitExceeded(path: String, line: Int, what: String, limit: Int, setting: String)
    /// A row has `found` fields where earlier rows had `expected`.
    case inconsistentColumns(path: String, line: Int, expected: Int, found: Int)
    /// A class-label field is not a non-negative integer.
    case badLabel(path: String, line: Int, column: Int, text: String)
    /// A class-label field is a whole number but not below `classCount` (the given class count, or
    /// the largest number of classes allowed).
    case classLabelOutOfRange(path: String, line: Int, column: Int, text: String, classCount: Int)
    /// The table in `path` leaves no feature column beside its label or target columns.
    case noFeatureColumns(path: String, columnCount: Int)
    /// Example `index` (0-based) of the label file `path` has a label outside 0..<classCount.
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    /// A requested column (as given, possibly negative) does not exist in a file of `columnCount` columns.
    case columnOutOfRange(path: String, column: Int, columnCount: Int)
    /// `path` has a header but no data rows.
    case noData(path: String)
    /// The data set `name` is not installed; it comes with the Debian package `debianPackage`.
    case datasetMissing(name: String, debianPackage: String)
    /// An argument was outside its allowed range, e.g. `k` for k-fold cross-validation.
    case invalidArgument(name: String, value: String, requirement: String)
    /// A header field of `path` (an IDX extent, a scikit-learn count line's row or feature count)
    /// holds `value`, outside what `requirement` (in words) allows.
    case badHeader(path: String, field: String, value: String, requirement: String)
    /// Element `index` (0-based, row-major) of the array in `path` is `value`, which `requirement`
    /// (in words) rules out, e.g. a NaN pixel in a float IDX file.
    case badElement(path: String, index: Int, value: String, requirement: String)
    /// `path` (or `what` of it, e.g. its decompressed data) is `bytes` bytes or more, over the reader's
    /// limit of `limit` bytes; `setting` names the limit to raise (e.g. `DataLimits.maxFileBytes`).
    case fileTooLarge(path: String, what: String, bytes: Int, limit: Int, setting: String)
    /// `path` could not be created or written; `reason` says why (the system's message).
    case unwritable(path: String, reason: String)

    /// One line for a user: what is wrong, where, and what was expected.
    public var description: String {
        switch self {
        case let .fileNotFound(path, hint):
            return "The file '\(path)' does not exist." + (hint.isEmpty ? "" : " \(hint)")
        case let .unreadable(path, reason):
            return "The file '\(path)' could not be read: \(reason)."
        case let .corruptCompressedData(path, detail):
            return "The gzip data in '\(path)' is damaged or incomplete (zlib: \(detail))."
        case let .badMagic(path, expected, found):
            return "The file '\(path)' does not start with the expected magic number: expected \(expected), found \(found)."
        case let .unsupportedType(path, typeByte):
            let digits = String(typeByte, radix: 16, uppercase: true)
            let hex = "0x" + (digits.count < 2 ? "0" : "") + digits
            return "The IDX file '\(path)' has element type byte \(hex), which is not supported (supported: 0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)."
        case let .truncated(path, expectedBytes, foundBytes):
            return "The file '\(path)' is truncated: \(expectedBytes) bytes were expected but only \(foundBytes) are present."
        case let .extraData(path, expectedBytes, foundBytes):
            return "The file '\(path)' has unexpected extra data: \(expectedBytes) bytes were expected but \(foundBytes) are present."
        case let .badDimensions(path, expected, found):
            return "The array in '\(path)' has dimensions \(found), but \(expected) was expected."
        case let .dimensionMismatch(firstPath, firstCount, secondPath, secondCount):
            if firstPath == secondPath {
                return "The file '\(firstPath)' declares \(firstCount) examples but holds \(secondCount)."
            }
            return "The files disagree on the number of examples: '\(firstPath)' holds \(firstCount) but '\(secondPath)' holds \(secondCount)."
        case let .badField(path, line, column, text):
            let shown = text.isEmpty ? "an empty field" : "'\(Self.printable(text))'"
            return "Line \(line), column \(column) of '\(path)' should be a decimal number (such as 3, -0.5 or 1e-3) but is \(shown)."
        case let .nonFiniteValue(path, line, column, text):
            return "Line \(line), column \(column) of '\(path)' should be a finite number of magnitude at most 3.4028235e+38 (values are used as 32-bit floats) but is '\(Self.printable(text))'."
        case let .unterminatedQuote(path, line, column):
            return "The quoted field that opens at line \(line), column \(column) of '\(path)' is never closed (a quote inside a quoted field is written twice: \"\")."
        case let .textAfterQuote(path, line, column, text):
            return "Line \(line), column \(column) of '\(path)': a quoted field should end at its closing quote, followed by a delimiter or the end of the line, but '\(Self.printable(text))' follows it."
        case let .limitExceeded(path, line, what, limit, setting):
            return "Line \(line) of '\(path)' goes over the reader's limit of \(limit) \(what) (\(setting))."
        case let .inconsistentColumns(path, line, expected, found):
            return "Line \(line) of '\(path)' has \(found) fields, but the rows before it have \(expected)."
        case let .badLabel(path, line, column, text):
            return "Line \(line), column \(column) of '\(path)' should be a class label (a whole number from 0 up) but is '\(Self.printable(text))'."
        case let .classLabelOutOfRange(path, line, column, text, classCount):
            return "Line \(line), column \(column) of '\(path)' has class label \(Self.printable(text)), outside the allowed range 0...\(classCount - 1)."
        case let .noFeatureColumns(path, columnCount):
            return "The table in '\(path)' has \(columnCount) column\(columnCount == 1 ? "" : "s"), which leaves no feature column beside the label or target column(s)."
        case let .labelOutOfRange(path, index, label, classCount):
            return "Example \(index) in '\(path)' has label \(label), outside the \(classCount) classes 0...\(classCount - 1)."
        case let .columnOutOfRange(path, column, columnCount):
            return "Column \(column) was requested from '\(path)', which has only \(columnCount) columns (use 0..<\(columnCount), or -1 for the last)."
        case let .noData(path):
            return "The file '\(path)' contains no data rows."
        case let .datasetMissing(name, debianPackage):
            return "The \(name) data set is not installed; install it with: apt-get install \(debianPackage)"
        case let .invalidArgument(name, value, requirement):
            return "The argument \(name) = \(value) is invalid: it must be \(requirement)."
        case let .badHeader(path, field, value, requirement):
            return "The header of '\(path)' gives \(field) = \(Self.printable(value)), but it must be \(requirement)."
        case let .badElement(path, index, value, requirement):
            return "Element \(index) of the array in '\(path)' is \(value), but it must be \(requirement)."
        case let .fileTooLarge(path, what, bytes, limit, setting):
            return "The file '\(path)' is too large: \(what) reaches \(bytes) bytes, over the limit of \(limit) bytes (\(setting))."
        case let .unwritable(path, reason):
            return "The file '\(path)' could not be written: \(reason)."
        }
    }

    /// `text` as it can be shown inside a one-line message: control characters, DEL and backslashes
    /// escaped (`\0`, `\n`, `\u{1B}`, `\\`), because a field's raw bytes could otherwise break the
    /// line or hide what is wrong (a NUL makes `5\u{0}.9` look like `5`).
    static func printable(_ text: String) -> String {
        var shown = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\0": shown += "\\0"
            case "\t": shown += "\\t"
            case "\n": shown += "\\n"
            case "\r": shown += "\\r"
            case "\\": shown += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                shown += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: shown.unicodeScalars.append(scalar)
            }
        }
        return shown
    }
}

extension DataError: NeuriteError {}
