import Foundation

/// A scalar value in a plugin's JSON configuration (a request parameter): text, a number or
/// a boolean, kept as given. A number keeps its text: 12345678901234567 is not a Double.
public enum JSONScalar: Decodable, Sendable, Equatable {
    case string(String), number(String), bool(Bool)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let text = JSONScalar.numberText(c) {
            self = .number(text)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    /// The exact text of a JSON number: integers through Int64/UInt64, decimals through
    /// Decimal (38 digits), anything else as Double.
    public static func numberText(_ c: SingleValueDecodingContainer) -> String? {
        if let i = try? c.decode(Int64.self) { return String(i) }
        if let u = try? c.decode(UInt64.self) { return String(u) }
        if let d = try? c.decode(Decimal.self), d.isFinite { return d.description }
        if let d = try? c.decode(Double.self), d.isFinite { return String(d) }
        return nil
    }

    public static func number(_ value: Int) -> JSONScalar { .number(String(value)) }

    /// As text: strings as they are, numbers as sent.
    public var text: String {
        switch self {
        case .string(let s): s
        case .number(let n): n
        case .bool(let b): b ? "true" : "false"
        }
    }

    /// As JSON text (strings quoted and escaped, numbers exact).
    public var jsonText: String {
        switch self {
        case .string(let s): String(decoding: (try? Self.encoder.encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
        case .number(let n): n
        case .bool(let b): b ? "true" : "false"
        }
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = .withoutEscapingSlashes
        return e
    }()

    /// A JSON object of scalars, keys sorted: numbers keep their exact text, which
    /// JSONSerialization (through Double) would not.
    public static func objectText(_ values: [String: JSONScalar]) -> String {
        "{"
            + values.sorted { $0.key < $1.key }.map { "\(JSONScalar.string($0.key).jsonText):\($0.value.jsonText)" }
            .joined(separator: ",") + "}"
    }
}
