import Foundation

/// Fields of an `application/x-www-form-urlencoded` body, values percent-decoded as bytes
/// (a `ds` value can be many megabytes; it is decoded once, in one pass).
public struct FormFields: Sendable {
    public private(set) var values: [String: [UInt8]] = [:]

    /// Forms that carry more pairs are refused: a body of millions of `a=&` would
    /// otherwise cost gigabytes before a single field was checked.
    public static let maxPairs = 1_000

    /// The first value of each key wins.
    public init(_ body: UnsafeRawBufferPointer) throws {
        guard let pairs = Self.pairs(body, limit: Self.maxPairs) else {
            throw GatewayError.badRequest("the form has more than \(Self.maxPairs) fields")
        }
        for (key, value) in pairs {
            let name = String(decoding: key, as: UTF8.self)
            if values[name] == nil { values[name] = value }
        }
    }

    public init(strings: [String: String]) {
        values = strings.mapValues { Array($0.utf8) }
    }

    public init(values: [String: [UInt8]]) {
        self.values = values
    }

    /// Every `key=value` pair in order, both sides decoded (`%XX`, `+` as a space); nil
    /// when there are more than `limit`.
    static func pairs(_ body: UnsafeRawBufferPointer, limit: Int = .max) -> [(key: [UInt8], value: [UInt8])]? {
        var result: [(key: [UInt8], value: [UInt8])] = []
        guard let base = body.baseAddress, body.count > 0 else { return result }
        var start = 0
        while start <= body.count {
            // memchr: a multi-megabyte `ds` has its `&` only at its end.
            let rest = body.count - start
            let end = memchr(base + start, Int32(UInt8(ascii: "&")), rest).map { base.distance(to: UnsafeRawPointer($0)) } ?? body.count
            if end > start {
                guard result.count < limit else { return nil }
                let pair = UnsafeRawBufferPointer(rebasing: body[start..<end])
                let eq = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.count
                let key = Self.decode(UnsafeRawBufferPointer(rebasing: pair[0..<eq]))
                let value = eq < pair.count ? Self.decode(UnsafeRawBufferPointer(rebasing: pair[(eq + 1)...])) : []
                result.append((key, value))
            }
            start = end + 1
        }
        return result
    }

    public subscript(_ key: String) -> String? {
        values[key].map { String(decoding: $0, as: UTF8.self) }
    }

    static func decode(_ raw: UnsafeRawBufferPointer) -> [UInt8] {
        // Decoding never grows the text: write straight into storage of the input's size.
        // A pointer loop without bounds checks: this pass over a
        // pushed `ds` was 8% of a large push's CPU.
        [UInt8](unsafeUninitializedCapacity: raw.count) { out, count in
            guard let src = raw.baseAddress?.assumingMemoryBound(to: UInt8.self), let dst = out.baseAddress else {
                count = 0
                return
            }
            let n = raw.count
            var i = 0, o = 0
            while i < n {
                let c = src[i]
                if c == UInt8(ascii: "%"), i + 2 < n {
                    let h = hexDigit(src[i + 1]), l = hexDigit(src[i + 2])
                    if h | l < 16 {
                        dst[o] = h << 4 | l
                        i += 3
                        o += 1
                        continue
                    }
                }
                dst[o] = c == UInt8(ascii: "+") ? 0x20 : c
                o += 1
                i += 1
            }
            count = o
        }
    }
}

/// A byte's value as a hex digit, 0xFF when it is not one.
@inline(__always) private func hexDigit(_ c: UInt8) -> UInt8 {
    let digit = c &- UInt8(ascii: "0")
    if digit < 10 { return digit }
    let letter = (c | 0x20) &- UInt8(ascii: "a")
    return letter < 6 ? letter + 10 : 0xFF
}
