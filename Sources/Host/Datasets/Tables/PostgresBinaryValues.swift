import Foundation
import PostgresNIO

/// PostgreSQL's binary values, read from raw bytes: a row arrives as one record (`ROW(…)`),
/// whose fields are decoded here rather than as one postgres-nio cell each (a cell per value
/// cost four reference-count operations: two thirds of a large read's CPU). Every length
/// and offset is checked against the bytes it reads from.
enum PostgresBinaryValues {
    /// Big-endian integer at `offset`, nil when the bytes end before it.
    @inline(__always)
    static func integer<T: FixedWidthInteger>(_ raw: UnsafeRawBufferPointer, at offset: Int, as: T.Type = T.self) -> T? {
        guard offset >= 0, offset + MemoryLayout<T>.size <= raw.count else { return nil }
        return T(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// The fields of a binary record: for each, its type and its bytes (nil for NULL).
    /// Nil when the bytes are not `expected` well-formed fields.
    static func fields(
        _ raw: UnsafeRawBufferPointer, expected: Int, into out: inout [(type: UInt32, bytes: UnsafeRawBufferPointer?)]
    ) -> Bool {
        out.removeAll(keepingCapacity: true)
        guard let count = integer(raw, at: 0, as: Int32.self), Int(count) == expected else { return false }
        var offset = 4
        for _ in 0..<expected {
            guard let type = integer(raw, at: offset, as: UInt32.self), let length = integer(raw, at: offset + 4, as: Int32.self) else { return false }
            offset += 8
            if length < 0 {
                out.append((type, nil))
                continue
            }
            guard Int(length) <= raw.count - offset else { return false }
            out.append((type, UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + Int(length))])))
            offset += Int(length)
        }
        return offset == raw.count
    }

    /// An integer value (int2, int4, int8).
    static func int(_ raw: UnsafeRawBufferPointer, type: UInt32) -> Int64? {
        switch PostgresDataType(type) {
        case .int2 where raw.count == 2: integer(raw, at: 0, as: Int16.self).map(Int64.init)
        case .int4 where raw.count == 4: integer(raw, at: 0, as: Int32.self).map(Int64.init)
        case .int8 where raw.count == 8: integer(raw, at: 0, as: Int64.self)
        default: nil
        }
    }

    /// A number of any numeric type as a Double.
    static func double(_ raw: UnsafeRawBufferPointer, type: UInt32) -> Double? {
        switch PostgresDataType(type) {
        case .float8 where raw.count == 8: integer(raw, at: 0, as: UInt64.self).map(Double.init(bitPattern:))
        case .float4 where raw.count == 4: integer(raw, at: 0, as: UInt32.self).map { Double(Float(bitPattern: $0)) }
        case .numeric: numericText(raw).flatMap(Double.init)
        default: int(raw, type: type).map(Double.init)
        }
    }

    /// A `numeric` as decimal text ("-12.50"): digits base 10,000 with a weight, a sign and
    /// a display scale. Nil for NaN, infinities and malformed bytes.
    static func numericText(_ raw: UnsafeRawBufferPointer) -> String? {
        guard let count = integer(raw, at: 0, as: Int16.self), let weight = integer(raw, at: 2, as: Int16.self),
            let sign = integer(raw, at: 4, as: UInt16.self), let scale = integer(raw, at: 6, as: Int16.self),
            count >= 0, scale >= 0, raw.count == 8 + 2 * Int(count), sign == 0 || sign == 0x4000
        else { return nil }
        func digit(_ i: Int) -> Int { i >= 0 && i < Int(count) ? Int(integer(raw, at: 8 + 2 * i, as: Int16.self) ?? 0) : 0 }
        // Base-10,000 digits: anything else is not a numeric PostgreSQL sends (found by
        // FuzzPostgresValues: a negative digit put a '-' inside the text).
        guard (0..<Int(count)).allSatisfy({ (0...9999).contains(digit($0)) }) else { return nil }
        var text = sign == 0x4000 ? "-" : ""
        if weight < 0 {
            text += "0"
        } else {
            text += String(digit(0))
            for i in stride(from: 1, through: Int(weight), by: 1) { text += fourDigits(digit(i)) }
        }
        guard scale > 0 else { return text }
        var fraction = ""
        for group in 0..<((Int(scale) + 3) / 4) { fraction += fourDigits(digit(Int(weight) + 1 + group)) }
        return text + "." + fraction.prefix(Int(scale))
    }

    /// Decimal text with at most `scale` fraction digits, rounded half away from zero (as
    /// PostgreSQL's round does): an unconstrained numeric (an average) reads as decimal(38, 10).
    static func rounded(_ text: String, scale: Int) -> String {
        guard let dot = text.firstIndex(of: "."), text.distance(from: dot, to: text.endIndex) - 1 > scale, scale >= 0 else { return text }
        let negative = text.hasPrefix("-")
        // Only `-?digits.digits` is rounded here; anything else is left as it came.
        let body = text.utf8.dropFirst(negative ? 1 : 0)
        guard body.filter({ $0 == UInt8(ascii: ".") }).count == 1,
            body.allSatisfy({ $0 == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return text }
        var digits = Array(text.utf8.filter { $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: ".") })
        let wholeCount = text.distance(from: text.startIndex, to: dot) - (negative ? 1 : 0)
        let keep = wholeCount + scale
        let roundUp = digits[keep] >= UInt8(ascii: "5")
        digits.removeLast(digits.count - keep)
        var i = keep - 1
        while roundUp && i >= 0 {
            if digits[i] == UInt8(ascii: "9") {
                digits[i] = UInt8(ascii: "0")
                i -= 1
                continue
            }
            digits[i] += 1
            break
        }
        var whole = String(decoding: digits[0..<wholeCount], as: UTF8.self)
        if roundUp && i < 0 { whole = "1" + whole }  // 9.99… rounded up a place
        let fraction = String(decoding: digits[wholeCount...], as: UTF8.self)
        return (negative ? "-" : "") + whole + (scale > 0 ? "." + fraction : "")
    }

    private static func fourDigits(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    /// Whole numeric text as an Int64 ("12", "12.000"); nil when it has a fraction or overflows.
    static func wholeNumber(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1)
        guard let whole = parts.first, parts.count == 1 || parts[1].allSatisfy({ $0 == "0" }) else { return nil }
        return Int64(whole)
    }
}
