/// Checks bytes are well-formed UTF-8 (Unicode's Table 3-7: no overlong forms, no
/// surrogates, nothing past U+10FFFF) without allocating: text from clients is checked
/// before it is stored, and most of it is ASCII, which goes eight bytes at a time.
/// Hand-written because `String(validating:)` builds a String for every call.
public enum UTF8Validation {
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let n = bytes.count
        var i = 0
        while i < n {
            if i + 8 <= n, base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                i += 8
                continue
            }
            let lead = base.load(fromByteOffset: i, as: UInt8.self)
            if lead < 0x80 {
                i += 1
                continue
            }
            // The sequence's length, and the range its second byte must fall in.
            let trailing: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: trailing = 1
            case 0xE0: trailing = 2; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: trailing = 2
            case 0xED: trailing = 2; high = 0x9F
            case 0xF0: trailing = 3; low = 0x90
            case 0xF1...0xF3: trailing = 3
            case 0xF4: trailing = 3; high = 0x8F
            default: return false
            }
            guard trailing < n - i else { return false }
            let second = base.load(fromByteOffset: i + 1, as: UInt8.self)
            guard second >= low && second <= high else { return false }
            var k = 2
            while k <= trailing {
                guard base.load(fromByteOffset: i + k, as: UInt8.self) & 0xC0 == 0x80 else { return false }
                k += 1
            }
            i += trailing + 1
        }
        return true
    }

    /// Whether every value of a text column is well-formed: its bytes cut at `count`
    /// offsets (little-endian Int32s that rise within `bytes`; the caller checks they rise).
    /// The same as checking each value, in one pass: the values are well-formed exactly when
    /// the whole is and no value starts inside a character (on a continuation byte). False,
    /// never a read past them, for fewer offset bytes than `count` or an offset outside `bytes`.
    public static func isValid(_ bytes: UnsafeRawBufferPointer, cutAt offsets: UnsafeRawBufferPointer, count: Int) -> Bool {
        guard count >= 0, count <= offsets.count / 4, isValid(bytes) else { return false }
        for i in 0..<count {
            let offset = Int(Int32(littleEndian: offsets.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
            guard offset >= 0, offset <= bytes.count else { return false }
            if offset < bytes.count, bytes[offset] & 0xC0 == 0x80 { return false }
        }
        return true
    }

    public static func isValid(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { isValid($0) }
    }
}
