import Foundation
import NIOCore
import PluginKit

/// Serializes batches as a JSON array of row objects keyed by column name: numbers as
/// numbers, nulls as null, dates and timestamps in ISO 8601, decimals as plain numbers,
/// binary as an array of bytes (as seed 001's table shows). Output leaves in chunks of
/// about 64 KB. Per-value work touches only plain values and raw pointers.
struct JSONRowWriter {
    private var out = OutputBuffer()
    /// Every `"name":` prefix back to back, and where each one ends.
    private var keyBytes: [UInt8] = []
    private var keyEnds: [Int] = []
    private var columns: [ColumnFormat] = []
    private var rows = 0
    private let emit: (ByteBuffer) throws -> Void
    private static let chunkSize = 64 * 1024

    /// What a column needs besides its buffers: decimal scale, timestamp unit and zone.
    private struct ColumnFormat {
        var name = ""
        var decimalScale = 0
        var unit: ArrowType.TimeUnit = .micro
        var zoneSuffix: UInt8? = nil
    }

    init(emit: @escaping (ByteBuffer) throws -> Void) {
        self.emit = emit
    }

    mutating func begin(_ fields: [ArrowField]) {
        for field in fields {
            var key: [UInt8] = []
            JSONText.appendString(Array(field.name.utf8), to: &key)
            key.append(UInt8(ascii: ":"))
            keyBytes += key
            keyEnds.append(keyBytes.count)
            var format = ColumnFormat()
            format.name = field.name
            switch field.type {
            case .decimal128(_, let s), .decimal256(_, let s): format.decimalScale = s
            case .timestamp(let unit, let zone):
                format.unit = unit
                format.zoneSuffix = zone == nil ? nil : UInt8(ascii: "Z")
            case .date64: format.unit = .milli; format.zoneSuffix = UInt8(ascii: "Z")
            default: break
            }
            columns.append(format)
        }
        out.append(UInt8(ascii: "["))
    }

    mutating func write(_ batch: BatchView) throws {
        let raws = batch.columns.map(\.raw)
        let keyBytes = self.keyBytes, keyEnds = self.keyEnds, columns = self.columns
        try keyBytes.withUnsafeBytes { keys in
            for row in 0..<batch.length {
                out.append(rows == 0 ? UInt8(ascii: "{") : UInt8(ascii: ","))
                if rows > 0 { out.append(UInt8(ascii: "{")) }
                var keyStart = 0
                for c in 0..<raws.count {
                    if c > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(UnsafeRawBufferPointer(rebasing: keys[keyStart..<keyEnds[c]]))
                    keyStart = keyEnds[c]
                    try appendValue(raws[c], columns[c], row)
                }
                out.append(UInt8(ascii: "}"))
                rows += 1
                if out.count >= Self.chunkSize { try flush() }
            }
        }
    }

    mutating func finish() throws {
        out.append(UInt8(ascii: "]"))
        try flush()
    }

    private mutating func flush() throws {
        guard out.count > 0 else { return }
        try emit(out.takeByteBuffer())
    }

    private mutating func appendValue(_ column: RawColumn, _ format: ColumnFormat, _ row: Int) throws {
        if column.isNull(row) { return out.append(JSONText.null) }
        switch column.kind {
        case .null: out.append(JSONText.null)
        case .bool: out.append(column.bool(row) ? JSONText.true : JSONText.false)
        case .int8, .int16, .int32, .int64: out.appendInteger(column.int64(row))
        case .uint8, .uint16, .uint32, .uint64: out.appendUnsigned(column.uint64(row))
        case .float32, .float64:
            let d = column.double(row)
            guard d.isFinite else { return out.append(JSONText.null) }
            if let i = Int64(exactly: d), abs(d) < 1e15 { out.appendInteger(i) } else { out.append(d.description) }
        case .decimal128, .decimal256:
            out.append(JSONText.trimDecimal(DecimalText.format(column.decimalWords(row), scale: format.decimalScale)))
        case .date32:
            out.append(UInt8(ascii: "\""))
            out.appendDay(column.int64(row))
            out.append(UInt8(ascii: "\""))
        case .date64, .timestamp:
            guard let micros = format.unit.micros(column.int64(row)) else { throw TimeOutOfRange(column: format.name) }
            out.append(UInt8(ascii: "\""))
            out.appendTimestamp(micros)
            if let zone = format.zoneSuffix { out.append(zone) }
            out.append(UInt8(ascii: "\""))
        case .binary:
            out.append(UInt8(ascii: "["))
            for (i, byte) in column.bytes(row).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.appendInteger(Int64(byte))
            }
            out.append(UInt8(ascii: "]"))
        case .utf8:
            out.appendJSONString(column.bytes(row))
        }
    }
}

/// A date or timestamp a source produced that no calendar text can show (its value in
/// microseconds does not fit 64 bits): refused rather than wrapped around.
struct TimeOutOfRange: Error, CustomStringConvertible {
    let column: String
    var description: String { "column '\(column)' holds a date or timestamp too far from 1970 to write" }
}

/// Constant pieces of JSON text.
enum JSONText {
    static let null: StaticString = "null"
    static let `true`: StaticString = "true"
    static let `false`: StaticString = "false"

    static func appendString<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        var buffer = OutputBuffer()
        Array(bytes).withUnsafeBytes { buffer.appendJSONString($0) }
        buffer.withBytes { out.append(contentsOf: $0) }
    }

    static func trimDecimal(_ text: String) -> String {
        guard text.contains(".") else { return text }
        var t = Substring(text)
        while t.hasSuffix("0") { t = t.dropLast() }
        if t.hasSuffix(".") { t = t.dropLast() }
        return String(t)
    }
}

/// ISO 8601 text for Arrow dates and timestamps.
enum ISODates {
    static func day(_ days: Int64) -> String {
        let (y, m, d) = civil(days)
        guard (0...9_999).contains(y) else { return String(format: "%04lld-%02lld-%02lld", y, m, d) }
        var out = OutputBuffer(capacity: 10)
        out.appendDay(days)
        return out.withBytes { String(decoding: $0, as: UTF8.self) }
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
