import Foundation
import PluginKit

/// Sheet XML bytes, written into a raw buffer. This is the exporter's hot path (ten million
/// cells for a 1M-row export), so a cell costs a capacity check and a few stores: no Array
/// appends, no Strings, no reference counting (the profile of the Array-and-String version
/// spent most of its time in retain/release, exclusivity checks and String appends).
///
/// Built on PluginKit's OutputBuffer (one owner: do not copy it; SheetWriter holds the
/// only one); what is added here is SpreadsheetML's: cells, escaping, number text.
struct XMLOut {
    private var out: OutputBuffer

    init(capacity: Int = (1 << 20) + (64 << 10)) {
        out = OutputBuffer(capacity: capacity)
    }

    var count: Int { out.count }

    @inline(__always)
    mutating func raw(_ s: StaticString) { out.append(s) }

    /// Text already safe as XML (numbers); a String overload of `raw` would win over the
    /// StaticString one for every literal and cost an allocation per cell.
    mutating func rawText(_ s: String) { out.append(s) }

    @inline(__always)
    mutating func integer(_ v: Int64) { out.appendInteger(v) }

    @inline(__always)
    mutating func unsigned(_ v: UInt64) { out.appendUnsigned(v) }

    /// A finite double as text that reads back as the same double. Values with at most six
    /// decimals (prices, quantities, most measured data) are written directly; the rest take
    /// Swift's shortest round-trip description.
    mutating func double(_ d: Double) {
        if let i = Int64(exactly: d), i.magnitude < 1_000_000_000_000_000 { return integer(i) }
        let scaled = d * 1_000_000
        // Exact when the quotient of the integer by 10^6 (correctly rounded, as parsing it is)
        // gives back d: then the decimal text N/10^6 reads as d.
        if scaled.magnitude < 9_007_199_254_740_992, let n = Int64(exactly: scaled), Double(n) / 1_000_000 == d {
            if n < 0 { out.append(UInt8(ascii: "-")) }
            let m = n.magnitude
            out.appendUnsigned(m / 1_000_000)
            // Not an integer (that took the first branch): the fraction is not zero.
            var fraction = m % 1_000_000, width = 6
            while fraction != 0 && fraction % 10 == 0 { fraction /= 10; width -= 1 }
            out.append(UInt8(ascii: "."))
            out.appendPadded(Int64(fraction), width: width)
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
            guard b == UInt8(ascii: "&") || b == UInt8(ascii: "<") || b == UInt8(ascii: ">") || (b < 0x20 && b != 0x09 && b != 0x0A && b != 0x0D) else {
                continue
            }
            out.append(UnsafeRawBufferPointer(start: source + runStart, count: i - runStart))
            switch b {
            case UInt8(ascii: "&"): raw("&amp;")
            case UInt8(ascii: "<"): raw("&lt;")
            case UInt8(ascii: ">"): raw("&gt;")
            default: break
            }
            runStart = i + 1
        }
        out.append(UnsafeRawBufferPointer(start: source + runStart, count: n - runStart))
    }

    mutating func escaped(_ text: String) {
        var copy = text
        copy.withUTF8 { escaped(UnsafeRawBufferPointer($0)) }
    }

    func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try out.withBytes(body)
    }

    mutating func reset() { out.reset() }
}
