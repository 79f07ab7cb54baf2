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
            throw APIError.badRequest("the form has more than \(Self.maxPairs) fields")
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
        var start = 0
        for i in 0...body.count where i == body.count || body[i] == UInt8(ascii: "&") {
            if i > start {
                guard result.count < limit else { return nil }
                let pair = UnsafeRawBufferPointer(rebasing: body[start..<i])
                let eq = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.count
                let key = Self.decode(UnsafeRawBufferPointer(rebasing: pair[0..<eq]))
                let value = eq < pair.count ? Self.decode(UnsafeRawBufferPointer(rebasing: pair[(eq + 1)...])) : []
                result.append((key, value))
            }
            start = i + 1
        }
        return result
    }

    public subscript(_ key: String) -> String? {
        values[key].map { String(decoding: $0, as: UTF8.self) }
    }

    static func decode(_ raw: UnsafeRawBufferPointer) -> [UInt8] {
        // Decoding never grows the text: write straight into storage of the input's size.
        [UInt8](unsafeUninitializedCapacity: raw.count) { out, count in
            var i = 0, o = 0
            while i < raw.count {
                let c = raw[i]
                if c == UInt8(ascii: "+") {
                    out[o] = 0x20
                } else if c == UInt8(ascii: "%"), i + 2 < raw.count, let h = hex(raw[i + 1]), let l = hex(raw[i + 2]) {
                    out[o] = h << 4 | l
                    i += 2
                } else {
                    out[o] = c
                }
                o += 1
                i += 1
            }
            count = o
        }
    }

    @inline(__always) private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
