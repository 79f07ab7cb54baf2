import Foundation

/// Converts a pushed cell to its column's type and binds it. A value that does not convert
/// is refused with the row, the column and the value; it is never stored half-right.
enum CellBinding {
    /// What is wrong with a value; the caller adds the row and column.
    struct Refusal: Error {
        let problem: String
    }

    static func bind(_ cell: PushedCell, to s: SQLiteStatement, index: Int32, type: ColumnType) throws {
        if case .null = cell { return s.bindNull(index) }
        switch type {
        case .any:
            switch cell {
            case .null: s.bindNull(index)
            case .bool(let b): s.bind(index, int: b ? 1 : 0)
            case .int(let v): s.bind(index, int: v)
            case .double(let v): s.bind(index, double: v)
            case .number(let raw), .text(let raw): s.bind(index, text: raw)
            }
        case .text:
            switch cell {
            case .text(let raw), .number(let raw): s.bind(index, text: raw)
            default: bindText(cell.description, s, index)
            }
        case .integer:
            s.bind(index, int: try integer(cell))
        case .real:
            s.bind(index, double: try real(cell))
        case .decimal:
            let text = cell.description
            guard case .bool = cell else {
                guard DecimalNumber.isValid(text) else { throw Refusal(problem: "is not a decimal number") }
                return bindText(text, s, index)
            }
            throw Refusal(problem: "is not a decimal number")
        case .bool:
            s.bind(index, int: try boolean(cell) ? 1 : 0)
        case .date:
            guard case .text(let raw) = cell, let day = DateText.Day(raw) else { throw Refusal(problem: "is not a date (YYYY-MM-DD)") }
            day.withISOText { s.bind(index, text: $0) }
        case .timestamp:
            guard case .text(let raw) = cell, let ts = DateText.timestamp(raw) else {
                throw Refusal(problem: "is not a timestamp (YYYY-MM-DD HH:MM:SS[.ffffff][Z|±HH:MM])")
            }
            bindText(ts, s, index)
        case .blob:
            guard case .text(let raw) = cell else { throw Refusal(problem: "is not text") }
            s.bind(index, blob: raw)
        }
    }

    private static func bindText(_ text: String, _ s: SQLiteStatement, _ index: Int32) {
        var copy = text
        copy.withUTF8 { s.bind(index, text: UnsafeRawBufferPointer($0)) }
    }

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
        case .number(let raw): if let d = RowArrayParser.double(raw) { return d }
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
    static func isValid(_ text: String) -> Bool {
        var s = Substring(text)
        if s.first == "-" || s.first == "+" { s = s.dropFirst() }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty || parts.count == 2 else { return false }
        return parts.allSatisfy { $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) } && parts.contains { !$0.isEmpty }
    }
}

/// Dates and timestamps as the store keeps them: ISO 8601 text, which sorts correctly.
enum DateText {
    /// A calendar day read from "2026-11-21", "2026/11/21" or "2026-1-5", byte by byte
    /// (a push can carry millions of them).
    struct Day {
        let year: Int, month: Int, day: Int

        init?(_ raw: UnsafeRawBufferPointer) {
            var fields = (0, 0, 0)
            var index = 0, digits = 0
            for byte in raw {
                if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    let v = Int(byte - UInt8(ascii: "0"))
                    switch index {
                    case 0: fields.0 = fields.0 * 10 + v
                    case 1: fields.1 = fields.1 * 10 + v
                    default: fields.2 = fields.2 * 10 + v
                    }
                    digits += 1
                    guard digits <= (index == 0 ? 4 : 2) else { return nil }
                } else if (byte == UInt8(ascii: "-") || byte == UInt8(ascii: "/")) && index < 2 && digits > 0 {
                    guard index > 0 || digits == 4 else { return nil }
                    index += 1
                    digits = 0
                } else {
                    return nil
                }
            }
            guard index == 2, digits > 0, (1...12).contains(fields.1),
                (1...DateText.daysIn(month: fields.1, year: fields.0)).contains(fields.2) else { return nil }
            (year, month, day) = fields
        }

        /// Calls `body` with "YYYY-MM-DD".
        func withISOText<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
            var text: (UInt64, UInt64) = (0, 0)
            return withUnsafeMutableBytes(of: &text) { buf in
                let values = [year / 1000, year / 100 % 10, year / 10 % 10, year % 10, -1, month / 10, month % 10, -1, day / 10, day % 10]
                for (i, v) in values.enumerated() { buf[i] = v < 0 ? UInt8(ascii: "-") : UInt8(ascii: "0") + UInt8(v) }
                return body(UnsafeRawBufferPointer(rebasing: buf[0..<10]))
            }
        }
    }

    static func day(_ raw: UnsafeRawBufferPointer) -> String? {
        Day(raw)?.withISOText { String(decoding: $0, as: UTF8.self) }
    }

    /// "2026-11-21 08:30:00", "2026-11-21T08:30:00.5Z", "…+08:00" → "2026-11-21 08:30:00[.ffffff][zone]".
    static func timestamp(_ raw: UnsafeRawBufferPointer) -> String? {
        let text = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        guard text.count >= 10, let day = day(UnsafeRawBufferPointer(rebasing: raw[raw.startIndex..<(raw.startIndex + 10)])) else { return nil }
        var rest = Substring(text.dropFirst(10))
        if rest.isEmpty { return day + " 00:00:00" }
        guard rest.first == "T" || rest.first == " " else { return nil }
        rest = rest.dropFirst()
        var zone = ""
        if rest.hasSuffix("Z") { zone = "Z"; rest = rest.dropLast() }
        else if let sign = rest.lastIndex(where: { $0 == "+" || $0 == "-" }) {
            zone = String(rest[sign...])
            rest = rest[..<sign]
            let z = zone.dropFirst().split(separator: ":")
            guard z.count == 2, z.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isNumber) }) else { return nil }
        }
        let time = rest.split(separator: ".", maxSplits: 1)
        let hms = time[0].split(separator: ":")
        guard hms.count == 3 || hms.count == 2, let h = Int(hms[0]), let mi = Int(hms[1]),
            (0...23).contains(h), (0...59).contains(mi)
        else { return nil }
        let sec = hms.count == 3 ? Int(hms[2]) : 0
        guard let sec, (0...60).contains(sec) else { return nil }
        var out = day + String(format: " %02d:%02d:%02d", h, mi, sec)
        if time.count == 2 {
            guard time[1].allSatisfy(\.isNumber), (1...9).contains(time[1].count) else { return nil }
            out += "." + time[1]
        }
        return out + zone
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
