import Foundation

/// Rows as JSON objects keyed by column name: numbers as numbers, nulls as null, dates and
/// timestamps in ISO 8601, decimals as plain numbers, binary as an array of bytes (as seed
/// 001's table shows). One encoder for the host's query responses and for plugins that
/// send rows as JSON (http.writer). Per-value work touches only plain values and raw pointers.
public struct JSONRowEncoder {
    /// Every `"name":` prefix back to back, and where each one ends.
    private var keyBytes: [UInt8] = []
    private var keyEnds: [Int] = []
    private var columns: [ColumnFormat] = []

    /// What a column needs besides its buffers: decimal scale, timestamp unit and zone.
    private struct ColumnFormat {
        var name = ""
        var decimalScale = 0
        var unit: ArrowType.TimeUnit = .micro
        var zoneSuffix: UInt8? = nil
    }

    public init(fields: [ArrowField]) {
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
    }

    /// Appends row `row` of `raws` (a batch's columns, in the fields' order) as one object.
    public func appendRow(_ raws: [RawColumn], _ row: Int, to out: inout OutputBuffer) throws {
        out.append(UInt8(ascii: "{"))
        try keyBytes.withUnsafeBytes { keys in
            var keyStart = 0
            for c in 0..<raws.count {
                if c > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UnsafeRawBufferPointer(rebasing: keys[keyStart..<keyEnds[c]]))
                keyStart = keyEnds[c]
                try Self.appendValue(raws[c], columns[c], row, to: &out)
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    private static func appendValue(_ column: RawColumn, _ format: ColumnFormat, _ row: Int, to out: inout OutputBuffer) throws {
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
public struct TimeOutOfRange: Error, CustomStringConvertible {
    public let column: String
    public init(column: String) { self.column = column }
    public var description: String { "column '\(column)' holds a date or timestamp too far from 1970 to write" }
}

/// Constant pieces of JSON text.
public enum JSONText {
    public static let null: StaticString = "null"
    public static let `true`: StaticString = "true"
    public static let `false`: StaticString = "false"

    public static func appendString<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        var buffer = OutputBuffer()
        Array(bytes).withUnsafeBytes { buffer.appendJSONString($0) }
        buffer.withBytes { out.append(contentsOf: $0) }
    }

    public static func trimDecimal(_ text: String) -> String {
        guard text.contains(".") else { return text }
        var t = Substring(text)
        while t.hasSuffix("0") { t = t.dropLast() }
        if t.hasSuffix(".") { t = t.dropLast() }
        return String(t)
    }
}
