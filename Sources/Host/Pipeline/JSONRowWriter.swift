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
        var decimalScale = 0
        var unitPerSecond: Int64 = 1_000_000
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
            switch field.type {
            case .decimal128(_, let s), .decimal256(_, let s): format.decimalScale = s
            case .timestamp(let unit, let zone):
                format.unitPerSecond = unit.perSecond
                format.zoneSuffix = zone == nil ? nil : UInt8(ascii: "Z")
            case .date64: format.unitPerSecond = 1_000; format.zoneSuffix = UInt8(ascii: "Z")
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
                    appendValue(raws[c], columns[c], row)
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

    private mutating func appendValue(_ column: RawColumn, _ format: ColumnFormat, _ row: Int) {
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
            let v = column.int64(row)
            let micros = format.unitPerSecond <= 1_000_000 ? v * (1_000_000 / format.unitPerSecond) : v / (format.unitPerSecond / 1_000_000)
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

/// A growable byte buffer written through a raw pointer: no per-byte checks beyond capacity.
struct OutputBuffer {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0
    private let owner: Deallocator

    /// Frees the storage when the last copy of the buffer goes.
    private final class Deallocator {
        var pointer: UnsafeMutableRawPointer
        init(_ p: UnsafeMutableRawPointer) { pointer = p }
        deinit { pointer.deallocate() }
    }

    init(capacity: Int = 80 * 1024) {
        base = .allocate(byteCount: capacity, alignment: 8)
        self.capacity = capacity
        owner = Deallocator(base)
    }

    @inline(__always)
    private mutating func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        var grown = capacity * 2
        while grown < count + n { grown *= 2 }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 8)
        bigger.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = bigger
        owner.pointer = bigger
        capacity = grown
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ text: String) {
        var copy = text
        copy.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    mutating func appendUnsigned(_ value: UInt64) {
        reserve(20)
        var v = value
        var digits = 0
        var t = v
        repeat { digits += 1; t /= 10 } while t > 0
        var i = count + digits
        repeat {
            i -= 1
            base.storeBytes(of: UInt8(ascii: "0") + UInt8(v % 10), toByteOffset: i, as: UInt8.self)
            v /= 10
        } while v > 0
        count += digits
    }

    @inline(__always)
    mutating func appendInteger(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        appendUnsigned(value.magnitude)
    }

    /// `width` digits, zero-padded.
    @inline(__always)
    private mutating func appendPadded(_ value: Int64, width: Int) {
        reserve(width)
        var v = value
        for i in stride(from: width - 1, through: 0, by: -1) {
            base.storeBytes(of: UInt8(ascii: "0") + UInt8(v % 10), toByteOffset: count + i, as: UInt8.self)
            v /= 10
        }
        count += width
    }

    /// "YYYY-MM-DD" for days since the epoch.
    mutating func appendDay(_ days: Int64) {
        let (y, m, d) = ISODates.civil(days)
        if y < 0 || y > 9999 { return append(ISODates.day(days)) }
        appendPadded(y, width: 4)
        append(UInt8(ascii: "-"))
        appendPadded(m, width: 2)
        append(UInt8(ascii: "-"))
        appendPadded(d, width: 2)
    }

    /// "YYYY-MM-DDTHH:MM:SS[.ffffff]" for microseconds since the epoch.
    mutating func appendTimestamp(_ micros: Int64) {
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        appendDay(days)
        append(UInt8(ascii: "T"))
        appendPadded(secondOfDay / 3600, width: 2)
        append(UInt8(ascii: ":"))
        appendPadded(secondOfDay / 60 % 60, width: 2)
        append(UInt8(ascii: ":"))
        appendPadded(secondOfDay % 60, width: 2)
        if fraction != 0 {
            append(UInt8(ascii: "."))
            appendPadded(fraction, width: 6)
        }
    }

    /// A quoted JSON string; runs of plain bytes are copied whole.
    mutating func appendJSONString(_ bytes: UnsafeRawBufferPointer) {
        append(UInt8(ascii: "\""))
        var runStart = 0
        for (i, b) in bytes.enumerated() where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
            append(UnsafeRawBufferPointer(rebasing: bytes[runStart..<i]))
            runStart = i + 1
            append(UInt8(ascii: "\\"))
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): append(b)
            case 0x0A: append(UInt8(ascii: "n"))
            case 0x0D: append(UInt8(ascii: "r"))
            case 0x09: append(UInt8(ascii: "t"))
            default:
                append(UInt8(ascii: "u"))
                appendPadded(0, width: 2)
                let hex: StaticString = "0123456789abcdef"
                append(hex.utf8Start[Int(b >> 4)])
                append(hex.utf8Start[Int(b & 0xF)])
            }
        }
        append(UnsafeRawBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        append(UInt8(ascii: "\""))
    }

    func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// The bytes so far, as a ByteBuffer; the buffer is empty afterwards.
    mutating func takeByteBuffer() -> ByteBuffer {
        defer { count = 0 }
        return ByteBuffer(bytes: UnsafeRawBufferPointer(start: base, count: count))
    }
}

/// ISO 8601 text for Arrow dates and timestamps.
enum ISODates {
    static func day(_ days: Int64) -> String {
        let (y, m, d) = civil(days)
        return String(format: "%04lld-%02lld-%02lld", y, m, d)
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
