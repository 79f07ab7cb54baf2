import Foundation

/// Any JSON value, for configuration read without a fixed shape: a plugin instance's config
/// as the gateway passes it on, a request template in an http.json manifest.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's exact text: 12345678901234567 passes through unchanged.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public static func number(_ value: Int) -> JSONValue { .number(String(value)) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = JSONScalar.numberText(c) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            if let i = Int64(n) {
                try c.encode(i)
            } else if let u = UInt64(n) {
                try c.encode(u)
            } else if let d = Decimal(string: n, locale: Locale(identifier: "en_US_POSIX")) {
                try c.encode(d)
            } else {
                try c.encode(Double(n) ?? 0)
            }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Compact JSON text.
    public var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "null"
    }
}
