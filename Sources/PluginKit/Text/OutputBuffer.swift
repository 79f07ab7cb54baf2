import Foundation

// Shared by the host's writers and by plugins (http.writer's request bodies): one way to
// build text fast, with no per-byte checks beyond capacity.
/// A growable byte buffer written through a raw pointer: no per-byte checks beyond capacity.
/// Keep one owner: copies share storage, and growing one invalidates the others.
public struct OutputBuffer {
    @usableFromInline var base: UnsafeMutableRawPointer
    @usableFromInline var capacity: Int
    @usableFromInline var used = 0
    /// Bytes written so far.
    @inlinable
    public var count: Int { used }
    @usableFromInline let owner: Deallocator

    /// Frees the storage when the last copy of the buffer goes.
    @usableFromInline final class Deallocator {
        @usableFromInline var pointer: UnsafeMutableRawPointer
        @usableFromInline init(_ p: UnsafeMutableRawPointer) { pointer = p }
        deinit { pointer.deallocate() }
    }

    public init(capacity: Int = 80 * 1024) {
        base = .allocate(byteCount: capacity, alignment: 8)
        self.capacity = capacity
        owner = Deallocator(base)
    }

    @inlinable
    mutating func reserve(_ n: Int) {
        guard used + n > capacity else { return }
        var grown = capacity * 2
        while grown < used + n { grown *= 2 }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 8)
        bigger.copyMemory(from: base, byteCount: used)
        base.deallocate()
        base = bigger
        owner.pointer = bigger
        capacity = grown
    }

    @inlinable
    public mutating func append(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: used, as: UInt8.self)
        used += 1
    }

    @inlinable
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + used).copyMemory(from: source, byteCount: bytes.count)
        used += bytes.count
    }

    @inlinable
    public mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    public mutating func append(_ text: String) {
        var copy = text
        copy.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    @inlinable
    public mutating func appendUnsigned(_ value: UInt64) {
        reserve(20)
        var v = value
        var digits = 0
        var t = v
        repeat { digits += 1; t /= 10 } while t > 0
        var i = used + digits
        repeat {
            i -= 1
            base.storeBytes(of: UInt8(ascii: "0") + UInt8(v % 10), toByteOffset: i, as: UInt8.self)
            v /= 10
        } while v > 0
        used += digits
    }

    @inlinable
    public mutating func appendInteger(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        appendUnsigned(value.magnitude)
    }

    /// `width` digits, zero-padded.
    @inlinable
    public mutating func appendPadded(_ value: Int64, width: Int) {
        reserve(width)
        var v = value
        for i in stride(from: width - 1, through: 0, by: -1) {
            base.storeBytes(of: UInt8(ascii: "0") + UInt8(v % 10), toByteOffset: used + i, as: UInt8.self)
            v /= 10
        }
        used += width
    }

    /// "YYYY-MM-DD" for days since the epoch.
    public mutating func appendDay(_ days: Int64) {
        let (y, m, d) = ISODates.civil(days)
        if y < 0 || y > 9999 { return append(ISODates.day(days)) }
        appendPadded(y, width: 4)
        append(UInt8(ascii: "-"))
        appendPadded(m, width: 2)
        append(UInt8(ascii: "-"))
        appendPadded(d, width: 2)
    }

    /// "YYYY-MM-DDTHH:MM:SS[.ffffff]" for microseconds since the epoch.
    public mutating func appendTimestamp(_ micros: Int64) {
        // Floor division by remainders: no intermediate value can overflow, whatever micros is.
        let (q, r) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        let seconds = r < 0 ? q - 1 : q, fraction = r < 0 ? r + 1_000_000 : r
        let (dq, dr) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let days = dr < 0 ? dq - 1 : dq, secondOfDay = dr < 0 ? dr + 86_400 : dr
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
    public mutating func appendJSONString(_ bytes: UnsafeRawBufferPointer) {
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

    /// The bytes so far, valid until the buffer next changes.
    @inlinable
    public var contents: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: used) }

    @inlinable
    public mutating func reset() { used = 0 }

    @inlinable
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(start: base, count: used))
    }

}

/// ISO 8601 text for Arrow dates and timestamps.
public enum ISODates {
    public static func day(_ days: Int64) -> String {
        let (y, m, d) = civil(days)
        guard (0...9_999).contains(y) else { return String(format: "%04lld-%02lld-%02lld", y, m, d) }
        var out = OutputBuffer(capacity: 10)
        out.appendDay(days)
        return out.withBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Howard Hinnant's civil_from_days.
    @inlinable
    public static func civil(_ days: Int64) -> (Int64, Int64, Int64) {
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
