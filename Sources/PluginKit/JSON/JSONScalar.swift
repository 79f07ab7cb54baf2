/// A scalar value in a plugin's JSON configuration (a request parameter): text, a number or
/// a boolean, kept as given.
public enum JSONScalar: Decodable, Sendable {
    case string(String), number(Double), bool(Bool)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else { self = .string(try c.decode(String.self)) }
    }

    /// As text (whole numbers without a decimal point).
    public var text: String {
        switch self {
        case .string(let s): s
        case .number(let n): Int64(exactly: n).map(String.init) ?? String(n)
        case .bool(let b): b ? "true" : "false"
        }
    }

    /// As a JSONSerialization value.
    public var json: Any {
        switch self {
        case .string(let s): s
        case .number(let n): Int64(exactly: n).map { $0 as Any } ?? n
        case .bool(let b): b
        }
    }
}
