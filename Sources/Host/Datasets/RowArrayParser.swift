import PluginKit
import Foundation

/// One cell of a pushed row, borrowed from the parser's buffers: valid only during the
/// `cell` call that receives it.
public enum PushedCell {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    /// A number literal that does not fit Int64, or that a Double would not hold exactly
    /// (over 15 significant digits, an exponent), kept as its text.
    case number(UnsafeRawBufferPointer)
    case text(UnsafeRawBufferPointer)

    /// The cell as text (numbers in their JSON spelling), for messages and text columns.
    var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .number(let raw), .text(let raw): String(decoding: raw, as: UTF8.self)
        }
    }
}

/// Receives the rows of a `ds` array: the header first, then each row's cells.
public protocol RowSink {
    mutating func header(_ names: [String]) throws
    mutating func cell(_ value: PushedCell, column: Int) throws
    /// Called after each data row with its cell count.
    mutating func endRow(cells: Int) throws
}

/// Parses the seed-000 `ds` value, a JSON 2-D array whose first row is the header,
/// without building intermediate objects: cells go straight to the sink. Plain strings are
/// handed over in place; only strings with escapes are copied.
public struct RowArrayParser {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let bytes: UnsafeRawBufferPointer
    private var i = 0
    private var scratch = OutputBuffer(capacity: 256)

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    public static func parse<S: RowSink>(_ data: UnsafeRawBufferPointer, into sink: inout S) throws -> Int {
        var parser = RowArrayParser(data)
        return try parser.run(&sink)
    }

    /// Returns the number of data rows.
    mutating func run<S: RowSink>(_ sink: inout S) throws -> Int {
        skipSpace()
        try expect(UInt8(ascii: "["), "ds must be a JSON array of rows")
        skipSpace()
        guard peek() != UInt8(ascii: "]") else { throw Failure(description: "ds is empty: the first row must be the header") }
        try sink.header(try headerRow())
        var rows = 0
        while true {
            skipSpace()
            if peek() == UInt8(ascii: "]") { i += 1; break }
            try expect(UInt8(ascii: ","), "expected ',' or ']' after row \(rows)")
            skipSpace()
            rows += 1
            try expect(UInt8(ascii: "["), "row \(rows) is not an array")
            var cells = 0
            skipSpace()
            if peek() == UInt8(ascii: "]") {
                i += 1
            } else {
                while true {
                    skipSpace()
                    try sink.cell(try value(row: rows), column: cells)
                    cells += 1
                    skipSpace()
                    let c = next()
                    if c == UInt8(ascii: "]") { break }
                    guard c == UInt8(ascii: ",") else { throw Failure(description: "row \(rows): expected ',' or ']' at byte \(i - 1)") }
                }
            }
            try sink.endRow(cells: cells)
        }
        skipSpace()
        guard i == bytes.count else { throw Failure(description: "unexpected text after the end of ds at byte \(i)") }
        return rows
    }

    private mutating func headerRow() throws -> [String] {
        try expect(UInt8(ascii: "["), "the first row (the header) must be an array of column names")
        var names: [String] = []
        skipSpace()
        if peek() == UInt8(ascii: "]") { throw Failure(description: "the header row is empty") }
        while true {
            skipSpace()
            guard case .text(let raw) = try value(row: 0) else {
                throw Failure(description: "header cell \(names.count + 1) must be a string (a column name)")
            }
            names.append(String(decoding: raw, as: UTF8.self))
            skipSpace()
            let c = next()
            if c == UInt8(ascii: "]") { return names }
            guard c == UInt8(ascii: ",") else { throw Failure(description: "header: expected ',' or ']' at byte \(i - 1)") }
        }
    }

    private mutating func value(row: Int) throws -> PushedCell {
        guard i < bytes.count else { throw Failure(description: "ds ends in the middle of row \(row)") }
        switch bytes[i] {
        case UInt8(ascii: "\""): return .text(try string())
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            throw Failure(description: "row \(row): a cell must be a string, number, true, false or null, not a nested array or object")
        default:
            throw Failure(description: "row \(row): unexpected character at byte \(i)")
        }
    }

    private mutating func number() throws -> PushedCell {
        let start = i
        var integral = true
        if peek() == UInt8(ascii: "-") { i += 1 }
        while i < bytes.count {
            let c = bytes[i]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                i += 1
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                integral = false
                i += 1
            } else {
                break
            }
        }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
        if integral, let v = Self.int64(raw) { return .int(v) }
        // Up to 15 significant digits without an exponent a Double holds the literal
        // exactly; anything else keeps its text, so that a decimal column stores every digit.
        if !integral, let exact = Self.fastDouble(raw) { return .double(exact) }
        guard Self.isDecimalNumber(raw) else {
            throw Failure(description: "'\(String(decoding: raw, as: UTF8.self))' is not a number")
        }
        // Without an exponent, fewer than 300 characters are less than 1e300: finite. The
        // column's binding converts it once; a strtod here too was a tenth of a push's CPU.
        if raw.count < 300 && !raw.contains(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            return .number(raw)
        }
        guard let d = Self.double(raw) else {
            throw Failure(description: "'\(String(decoding: raw, as: UTF8.self))' is not a number")
        }
        // 1e999 parses as infinity: no column can store it, and JSON cannot carry it back.
        guard d.isFinite else {
            throw Failure(description: "'\(String(decoding: raw.prefix(40), as: UTF8.self))' is out of the range of a number")
        }
        return .number(raw)
    }

    static func int64(_ raw: UnsafeRawBufferPointer) -> Int64? {
        var negative = false
        var index = 0
        if raw.first == UInt8(ascii: "-") { negative = true; index = 1 }
        guard index < raw.count, raw.count - index <= 19 else { return nil }
        var value: Int64 = 0
        while index < raw.count {
            let digit = Int64(raw[index] &- UInt8(ascii: "0"))
            guard digit >= 0 && digit <= 9 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(digit) : m.addingReportingOverflow(digit)
            guard !o1 && !o2 else { return nil }
            value = s
            index += 1
        }
        return value
    }

    /// Exact powers of ten: a decimal with at most 15 significant digits and at most 22
    /// fraction digits divides exactly-representable numbers once, which IEEE rounds
    /// correctly (Clinger's fast path).
    private static let powersOfTen: [Double] = (0...22).map { pow(10, Double($0)) }

    static func double(_ raw: UnsafeRawBufferPointer) -> Double? {
        if let fast = fastDouble(raw) { return fast }
        return slowDouble(raw)
    }

    @inline(__always)
    static func fastDouble(_ raw: UnsafeRawBufferPointer) -> Double? {
        var i = 0
        var negative = false
        if raw.count > 0 && raw[0] == UInt8(ascii: "-") { negative = true; i = 1 }
        var mantissa: Int64 = 0
        var digits = 0, fraction = 0
        var seenPoint = false
        while i < raw.count {
            let c = raw[i]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                mantissa = mantissa &* 10 &+ Int64(c &- UInt8(ascii: "0"))
                digits += 1
                if seenPoint { fraction += 1 }
            } else if c == UInt8(ascii: ".") && !seenPoint {
                seenPoint = true
            } else {
                return nil  // exponents and anything odd take the slow path
            }
            i += 1
        }
        guard digits > 0, digits <= 15, fraction <= 22 else { return nil }
        let value = Double(mantissa) / powersOfTen[fraction]
        return negative ? -value : value
    }

    /// strtod on a NUL-terminated stack copy: no String per number.
    private static func slowDouble(_ raw: UnsafeRawBufferPointer) -> Double? {
        // strtod (and Double()) also read "inf", "nan" and hex: only decimal numbers pass.
        guard isDecimalNumber(raw) else { return nil }
        guard raw.count < 64 else { return Double(String(decoding: raw, as: UTF8.self)) }
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &buffer) { buf -> Double? in
            buf.copyMemory(from: raw)
            buf[raw.count] = 0
            let start = buf.baseAddress!.assumingMemoryBound(to: CChar.self)
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(start, &end)
            guard let end, end - start == raw.count, raw.first != UInt8(ascii: " ") else { return nil }
            return value
        }
    }

    /// `[+-]digits[.digits][(e|E)[+-]digits]`, or `.digits` in place of the first digits.
    static func isDecimalNumber(_ raw: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        func digits() -> Int {
            let start = i
            while i < raw.count, raw[i] >= UInt8(ascii: "0"), raw[i] <= UInt8(ascii: "9") { i += 1 }
            return i - start
        }
        if i < raw.count, raw[i] == UInt8(ascii: "-") || raw[i] == UInt8(ascii: "+") { i += 1 }
        var mantissa = digits()
        if i < raw.count, raw[i] == UInt8(ascii: ".") {
            i += 1
            mantissa += digits()
        }
        guard mantissa > 0 else { return false }
        if i < raw.count, raw[i] == UInt8(ascii: "e") || raw[i] == UInt8(ascii: "E") {
            i += 1
            if i < raw.count, raw[i] == UInt8(ascii: "-") || raw[i] == UInt8(ascii: "+") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == raw.count
    }

    /// A string's content: in place when it has no escapes, else decoded into scratch.
    private mutating func string() throws -> UnsafeRawBufferPointer {
        i += 1
        let start = i
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return UnsafeRawBufferPointer(rebasing: bytes[start..<(i - 1)])
            }
            if c == UInt8(ascii: "\\") { return try escapedString(from: start) }
            guard c >= 0x20 else { throw Failure(description: "control character in a string at byte \(i)") }
            i += 1
        }
        throw Failure(description: "unterminated string starting at byte \(start - 1)")
    }

    private mutating func escapedString(from start: Int) throws -> UnsafeRawBufferPointer {
        scratch.reset()
        scratch.append(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            if c == UInt8(ascii: "\"") {
                return scratch.contents
            }
            guard c == UInt8(ascii: "\\") else {
                guard c >= 0x20 else { throw Failure(description: "control character in a string at byte \(i - 1)") }
                scratch.append(c)
                continue
            }
            guard i < bytes.count else { break }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(e)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"): try unicodeEscape()
            default: throw Failure(description: "bad escape \\\(Character(Unicode.Scalar(e))) at byte \(i - 2)")
            }
        }
        throw Failure(description: "unterminated string starting at byte \(start - 1)")
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count, let v = UInt32(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + 4)]), as: UTF8.self), radix: 16) else {
            throw Failure(description: "bad \\u escape at byte \(i - 2)")
        }
        i += 4
        return v
    }

    private mutating func unicodeEscape() throws {
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
            guard i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                throw Failure(description: "lone surrogate in a \\u escape at byte \(i - 6)")
            }
            i += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw Failure(description: "bad surrogate pair at byte \(i - 12)") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let u = Unicode.Scalar(scalar) else { throw Failure(description: "invalid \\u escape at byte \(i - 6)") }
        var text = String(Character(u))
        text.withUTF8 { scratch.append(UnsafeRawBufferPointer($0)) }
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count, memcmp(bytes.baseAddress! + i, word.utf8Start, n) == 0 else {
            throw Failure(description: "unexpected text at byte \(i)")
        }
        i += n
    }

    @inline(__always) private func peek() -> UInt8? { i < bytes.count ? bytes[i] : nil }

    @inline(__always) private mutating func next() -> UInt8? {
        guard i < bytes.count else { return nil }
        defer { i += 1 }
        return bytes[i]
    }

    /// The message is built only when it is needed: built for every row, it was 4% of a push.
    private mutating func expect(_ c: UInt8, _ message: @autoclosure () -> String) throws {
        guard next() == c else { throw Failure(description: message()) }
    }

    @inline(__always) private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }
}
