import Foundation

/// Sheet XML bytes, written into a raw buffer. This is the exporter's hot path (ten million
/// cells for a 1M-row export), so a cell costs a capacity check and a few stores: no Array
/// appends, no Strings, no reference counting (the profile of the Array-and-String version
/// spent most of its time in retain/release, exclusivity checks and String appends).
///
/// One value owns its buffer: do not copy it (SheetWriter holds the only one).
struct XMLOut {
    /// Owns the allocation, so an export abandoned half-way frees it.
    private final class Storage {
        var pointer: UnsafeMutablePointer<UInt8>
        init(capacity: Int) { pointer = .allocate(capacity: capacity) }
        deinit { pointer.deallocate() }
    }

    private let storage: Storage
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = (1 << 20) + (64 << 10)) {
        storage = Storage(capacity: capacity)
        base = storage.pointer
        self.capacity = capacity
    }

    @inline(__always)
    private mutating func reserve(_ n: Int) {
        if n > capacity - count { grow(count + n) }
    }

    private mutating func grow(_ needed: Int) {
        let newCapacity = max(capacity * 2, needed)
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        bigger.update(from: base, count: count)
        storage.pointer.deallocate()
        storage.pointer = bigger
        base = bigger
        capacity = newCapacity
    }

    @inline(__always)
    mutating func raw(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        reserve(n)
        (base + count).update(from: s.utf8Start, count: n)
        count += n
    }

    /// Text already safe as XML (numbers); a String overload of `raw` would win over the
    /// StaticString one for every literal and cost an allocation per cell.
    mutating func rawText(_ s: String) {
        var copy = s
        copy.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    private mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    private mutating func byte(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    /// Decimal digits, written in place from the last one back.
    @inline(__always)
    mutating func integer(_ v: Int64) {
        if v < 0 { byte(UInt8(ascii: "-")) }
        unsigned(v.magnitude)
    }

    @inline(__always)
    mutating func unsigned(_ v: UInt64) {
        var digits = 1, rest = v
        while rest >= 10 { rest /= 10; digits += 1 }
        reserve(digits)
        var m = v, i = count + digits
        repeat {
            i -= 1
            base[i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: m % 10)
            m /= 10
        } while m > 0
        count += digits
    }

    /// A finite double as text that reads back as the same double. Values with at most six
    /// decimals (prices, quantities, most measured data) are written directly; the rest take
    /// Swift's shortest round-trip description.
    mutating func double(_ d: Double) {
        if let i = Int64(exactly: d), i.magnitude < 1_000_000_000_000_000 { return integer(i) }
        let scaled = d * 1_000_000
        // Exact when the quotient of the integer by 10^6 (correctly rounded, as parsing it is)
        // gives back d: then the decimal text N/10^6 reads as d.
        if scaled.magnitude < 9_007_199_254_740_992, let n = Int64(exactly: scaled), Double(n) / 1_000_000 == d {
            if n < 0 { byte(UInt8(ascii: "-")) }
            let m = n.magnitude
            unsigned(m / 1_000_000)
            var fraction = m % 1_000_000, width = 6
            while fraction % 10 == 0 { fraction /= 10; width -= 1 }
            reserve(width + 1)
            base[count] = UInt8(ascii: ".")
            var i = count + 1 + width
            for _ in 0..<width {
                i -= 1
                base[i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: fraction % 10)
                fraction /= 10
            }
            count += width + 1
            return
        }
        rawText(d.description)
    }

    /// An inline-string cell (`t="inlineStr"`: standard SpreadsheetML, unlike `t="str"`,
    /// which is a formula's result).
    mutating func inlineString(_ value: UnsafeRawBufferPointer) {
        let needsPreserve = value.first == 0x20 || value.last == 0x20 || value.contains(0x0A)
        if needsPreserve { raw(#"<c t="inlineStr"><is><t xml:space="preserve">"#) } else { raw(#"<c t="inlineStr"><is><t>"#) }
        escaped(value)
        raw("</t></is></c>")
    }

    /// Escapes &, < and >; drops the control characters XML 1.0 cannot hold.
    mutating func escaped(_ value: UnsafeRawBufferPointer) {
        guard let source = value.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let n = value.count
        var runStart = 0
        for i in 0..<n {
            let b = source[i]
            guard b == UInt8(ascii: "&") || b == UInt8(ascii: "<") || b == UInt8(ascii: ">") || (b < 0x20 && b != 0x09 && b != 0x0A && b != 0x0D) else { continue }
            append(UnsafeRawBufferPointer(start: source + runStart, count: i - runStart))
            switch b {
            case UInt8(ascii: "&"): raw("&amp;")
            case UInt8(ascii: "<"): raw("&lt;")
            case UInt8(ascii: ">"): raw("&gt;")
            default: break
            }
            runStart = i + 1
        }
        append(UnsafeRawBufferPointer(start: source + runStart, count: n - runStart))
    }

    mutating func escaped(_ text: String) {
        var copy = text
        copy.withUTF8 { escaped(UnsafeRawBufferPointer($0)) }
    }

    func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    mutating func reset() { count = 0 }
}
