import Foundation
import NIOCore
import PluginKit

/// Serializes batches as a JSON array of row objects keyed by column name: numbers as
/// numbers, nulls as null, dates and timestamps in ISO 8601, binary as an array of bytes
/// (as seed 001's table shows). Output leaves in chunks of about 64 KB.
final class JSONRowWriter {
    private var out: [UInt8] = []
    private var keys: [[UInt8]] = []
    private var rows = 0
    private let emit: (ByteBuffer) throws -> Void
    private static let chunkSize = 64 * 1024

    init(emit: @escaping (ByteBuffer) throws -> Void) {
        self.emit = emit
        out.reserveCapacity(Self.chunkSize + 4096)
    }

    func begin(_ fields: [ArrowField]) {
        keys = fields.map { field in
            var key: [UInt8] = []
            Self.appendString(Array(field.name.utf8), to: &key)
            key.append(UInt8(ascii: ":"))
            return key
        }
        out.append(UInt8(ascii: "["))
    }

    func write(_ batch: BatchView) throws {
        let columns = batch.columns
        for row in 0..<batch.length {
            out.append(rows == 0 ? UInt8(ascii: "{") : UInt8(ascii: ","))
            if rows > 0 { out.append(UInt8(ascii: "{")) }
            for (c, column) in columns.enumerated() {
                if c > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: keys[c])
                appendValue(column, row)
            }
            out.append(UInt8(ascii: "}"))
            rows += 1
            if out.count >= Self.chunkSize { try flush() }
        }
    }

    func finish() throws {
        out.append(UInt8(ascii: "]"))
        try flush()
    }

    private func flush() throws {
        guard !out.isEmpty else { return }
        try emit(ByteBuffer(bytes: out))
        out.removeAll(keepingCapacity: true)
    }

    private func appendValue(_ column: ColumnView, _ row: Int) {
        if column.isNull(row) { return out.append(contentsOf: Self.null) }
        switch column.field.type {
        case .null: out.append(contentsOf: Self.null)
        case .bool: out.append(contentsOf: column.bool(row) ? Self.true : Self.false)
        case .int8, .int16, .int32, .int64: appendInteger(column.int64(row))
        case .uint8, .uint16, .uint32, .uint64: out.append(contentsOf: String(column.uint64(row)).utf8)
        case .float32, .float64:
            let d = column.double(row)
            guard d.isFinite else { return out.append(contentsOf: Self.null) }
            if let i = Int64(exactly: d), abs(d) < 1e15 { appendInteger(i) } else { out.append(contentsOf: "\(d)".utf8) }
        case .decimal128, .decimal256: out.append(contentsOf: Self.trimDecimal(column.decimalText(row)).utf8)
        case .date32: appendQuoted(ISODates.day(column.int64(row)))
        case .date64: appendQuoted(ISODates.timestamp(column.int64(row) * 1000, zone: "Z"))
        case .timestamp(let unit, let zone):
            let micros = column.int64(row).multipliedReportingOverflow(by: 1_000_000 / min(unit.perSecond, 1_000_000)).partialValue
                / max(1, unit.perSecond / 1_000_000)
            appendQuoted(ISODates.timestamp(micros, zone: zone == nil ? "" : (zone == "UTC" || zone == "Z" ? "Z" : "")))
        case .binary:
            out.append(UInt8(ascii: "["))
            for (i, byte) in column.bytes(row).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendInteger(Int64(byte))
            }
            out.append(UInt8(ascii: "]"))
        case .utf8:
            Self.appendString(column.bytes(row), to: &out)
        }
    }

    private func appendQuoted(_ s: String) {
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: s.utf8)
        out.append(UInt8(ascii: "\""))
    }

    private func appendInteger(_ value: Int64) {
        if value >= 0 && value < 10 { return out.append(UInt8(ascii: "0") + UInt8(value)) }
        var v = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, no allocation
        let count = withUnsafeMutableBytes(of: &digits) { buf -> Int in
            var i = buf.count
            repeat {
                i -= 1
                buf[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            } while v > 0
            if value < 0 { i -= 1; buf[i] = UInt8(ascii: "-") }
            out.append(contentsOf: buf[i...])
            return buf.count - i
        }
        _ = count
    }

    static func appendString<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        out.append(UInt8(ascii: "\""))
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(b)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(b)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(Self.hexDigits[Int(b >> 4)])
                out.append(Self.hexDigits[Int(b & 0xF)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func trimDecimal(_ text: String) -> String {
        guard text.contains(".") else { return text }
        var t = Substring(text)
        while t.hasSuffix("0") { t = t.dropLast() }
        if t.hasSuffix(".") { t = t.dropLast() }
        return String(t)
    }

    private static let null = Array("null".utf8)
    private static let `true` = Array("true".utf8)
    private static let `false` = Array("false".utf8)
    private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// ISO 8601 text for Arrow dates and timestamps.
enum ISODates {
    static func day(_ days: Int64) -> String {
        let (y, m, d) = civil(days)
        return String(format: "%04lld-%02lld-%02lld", y, m, d)
    }

    /// "2026-11-21T08:30:00Z", with ".ffffff" when there are fractions of a second.
    static func timestamp(_ micros: Int64, zone: String) -> String {
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        var s = day(days) + String(format: "T%02lld:%02lld:%02lld", secondOfDay / 3600, secondOfDay / 60 % 60, secondOfDay % 60)
        if fraction != 0 { s += String(format: ".%06lld", fraction) }
        return s + zone
    }

    /// Howard Hinnant's civil_from_days.
    static func civil(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
