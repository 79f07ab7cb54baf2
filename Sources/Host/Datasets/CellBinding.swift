import Foundation
import PluginKit

/// Where a converted cell goes: a parameter of a SQLite statement, or a field of a COPY row.
protocol CellTarget {
    func null()
    func int(_ value: Int64)
    func double(_ value: Double)
    /// UTF-8 text (checked valid), borrowed for the call.
    func text(_ bytes: UnsafeRawBufferPointer)
    func blob(_ bytes: UnsafeRawBufferPointer)
}

extension CellTarget {
    func text(_ string: String) {
        var copy = string
        copy.withUTF8 { text(UnsafeRawBufferPointer($0)) }
    }
}

/// Converts a pushed cell to its column's type and hands it to the store's target. A value
/// that does not convert is refused with the row, the column and the value; it is never
/// stored half-right.
enum CellBinding {
    /// What is wrong with a value; the caller adds the row and column.
    struct Refusal: Error {
        let problem: String
    }

    static func bind(_ cell: PushedCell, to s: some CellTarget, type: ColumnType) throws {
        if case .null = cell { return s.null() }
        // Text is stored as TEXT, which every later query reads as UTF-8: bytes that are
        // not would break each of those queries, so they are refused here (blobs take any bytes).
        if case .text(let raw) = cell, type != .blob, !UTF8Validation.isValid(raw) {
            throw Refusal(problem: "is not valid UTF-8 text")
        }
        switch type {
        case .any:
            switch cell {
            case .null: s.null()
            case .bool(let b): s.int(b ? 1 : 0)
            case .int(let v): s.int(v)
            case .double(let v): s.double(v)
            case .number(let raw):
                // A whole number past Int64 stays text; any other number is a REAL.
                if raw.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }),
                    let d = RowArrayParser.double(raw), d.isFinite
                {
                    s.double(d)
                } else {
                    s.text(raw)
                }
            case .text(let raw): s.text(raw)
            }
        case .text:
            switch cell {
            case .text(let raw), .number(let raw): s.text(raw)
            default: s.text(cell.description)
            }
        case .integer:
            s.int(try integer(cell))
        case .real:
            s.double(try real(cell))
        case .decimal:
            // Kept as the digits sent (the column stores text): no rounding through a Double.
            let text: String
            switch cell {
            case .bool, .null: throw Refusal(problem: "is not a decimal number")
            case .double(let d): text = Decimal(string: d.description, locale: Self.posix)?.description ?? d.description
            case .number(let raw) where raw.contains(UInt8(ascii: "e")) || raw.contains(UInt8(ascii: "E")):
                // An exponent is written out (Decimal reads up to 38 digits exactly).
                text = Decimal(string: cell.description, locale: Self.posix)?.description ?? cell.description
            default: text = cell.description.trimmingCharacters(in: .whitespaces)
            }
            guard DecimalNumber.isValid(text) else { throw Refusal(problem: "is not a decimal number") }
            guard DecimalNumber.fits(text) else {
                throw Refusal(
                    problem: "has more than \(DecimalNumber.integerDigits) digits before the point or \(DecimalNumber.fractionDigits) after (decimal(38, 10))")
            }
            return s.text(text)
        case .bool:
            s.int(try boolean(cell) ? 1 : 0)
        case .date:
            guard case .text(let raw) = cell, let day = DateText.Day(raw) else { throw Refusal(problem: "is not a date (YYYY-MM-DD)") }
            day.withISOText { s.text($0) }
        case .timestamp:
            guard case .text(let raw) = cell, let ts = DateText.timestamp(raw) else {
                throw Refusal(problem: "is not a timestamp (YYYY-MM-DD HH:MM:SS[.ffffff][Z|±HH:MM], years 0 to 9999 in UTC)")
            }
            s.text(ts)
        case .blob:
            guard case .text(let raw) = cell else { throw Refusal(problem: "is not text") }
            s.blob(raw)
        }
    }

    private static let posix = Locale(identifier: "en_US_POSIX")

    private static func integer(_ cell: PushedCell) throws -> Int64 {
        switch cell {
        case .int(let v): return v
        case .bool(let b): return b ? 1 : 0
        case .double(let d): if let v = Int64(exactly: d) { return v }
        case .text(let raw): if let v = RowArrayParser.int64(trimmed(raw)) { return v }
        default: break
        }
        throw Refusal(problem: "is not an integer")
    }

    private static func real(_ cell: PushedCell) throws -> Double {
        switch cell {
        case .int(let v): return Double(v)
        case .double(let d): return d
        case .number(let raw): if let d = RowArrayParser.double(raw), d.isFinite { return d }
        case .text(let raw): if let d = RowArrayParser.double(trimmed(raw)), d.isFinite { return d }
        default: break
        }
        throw Refusal(problem: "is not a number")
    }

    private static func boolean(_ cell: PushedCell) throws -> Bool {
        switch cell {
        case .bool(let b): return b
        case .int(let v) where v == 0 || v == 1: return v == 1
        case .text(let raw):
            switch String(decoding: raw, as: UTF8.self).lowercased() {
            case "true", "1", "yes": return true
            case "false", "0", "no": return false
            default: break
            }
        default: break
        }
        throw Refusal(problem: "is not true or false")
    }

    private static func trimmed(_ raw: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0, end = raw.count
        while start < end, raw[start] == 0x20 { start += 1 }
        while end > start, raw[end - 1] == 0x20 { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: raw[start..<end])
    }
}

/// Decimal text: an optional sign, digits, an optional fraction.
enum DecimalNumber {
    /// decimal(38, 10), the type the query API reads decimal columns as.
    static let integerDigits = 28
    static let fractionDigits = 10

    /// True when the number's digits fit decimal(38, 10) (leading zeros before the point
    /// and trailing ones after it do not count).
    static func fits(_ text: String) -> Bool {
        var s = Substring(text)
        if s.first == "-" || s.first == "+" { s = s.dropFirst() }
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0].drop { $0 == "0" }
        var fraction = parts.count == 2 ? parts[1] : ""
        while fraction.last == "0" { fraction = fraction.dropLast() }
        return whole.count <= integerDigits && fraction.count <= fractionDigits
    }

    static func isValid(_ text: String) -> Bool {
        var s = Substring(text)
        if s.first == "-" || s.first == "+" { s = s.dropFirst() }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty || parts.count == 2 else { return false }
        return parts.allSatisfy { $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) } && parts.contains { !$0.isEmpty }
    }
}
