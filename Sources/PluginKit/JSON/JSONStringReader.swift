/// Reads one JSON string's content, escapes decoded. Every JSON reader of the project uses
/// it (`OrderedJSON`, the host's push-body scanner), so one place decides what a `\u`
/// escape may be: a surrogate pair must be whole (a lone half is no character, and
/// arithmetic on a broken pair would underflow and trap).
public enum JSONStringReader {
    public struct Failure: Error {
        /// What was wrong, without the position (the caller adds it).
        public let what: String
    }

    /// `i` is at the opening quote; on return it is just past the closing one.
    public static func read(_ bytes: UnsafeRawBufferPointer, at i: inout Int) throws(Failure) -> [UInt8] {
        i += 1
        var out: [UInt8] = []
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            if c == UInt8(ascii: "\"") { return out }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard i < bytes.count else { break }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var scalar = try hex4(bytes, at: &i)
                if (0xD800..<0xDC00).contains(scalar) {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw Failure(what: "a lone high surrogate")
                    }
                    i += 2
                    let low = try hex4(bytes, at: &i)
                    guard (0xDC00..<0xE000).contains(low) else { throw Failure(what: "a high surrogate followed by \\u\(String(low, radix: 16))") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(scalar) else { throw Failure(what: "an escape that is no character") }
                out.append(contentsOf: String(Character(u)).utf8)
            default: out.append(e)
            }
        }
        throw Failure(what: "unterminated string")
    }

    private static func hex4(_ bytes: UnsafeRawBufferPointer, at i: inout Int) throws(Failure) -> UInt32 {
        guard i + 4 <= bytes.count else { throw Failure(what: "bad \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw Failure(what: "bad \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}
