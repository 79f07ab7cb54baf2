/// A JSON value whose objects keep their keys in the order they were sent: seed 002's
/// header row gives the column order by its key order.
public indirect enum OrderedJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's text as sent, so that 12345678901234567 stays exact.
    case number(String)
    case string(String)
    case array([OrderedJSON])
    case object([(String, OrderedJSON)])

    public static func == (a: OrderedJSON, b: OrderedJSON) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    public subscript(_ key: String) -> OrderedJSON? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var array: [OrderedJSON]? { if case .array(let a) = self { a } else { nil } }

    /// An integer from a number or a numeric string.
    public var int: Int? {
        switch self {
        case .number(let n), .string(let n): Int(n) ?? Double(n).flatMap { Int(exactly: $0) }
        default: nil
        }
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ bytes: [UInt8]) throws -> OrderedJSON {
        var p = Parser(bytes: bytes)
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw ParseError(description: "unexpected text after the JSON value at byte \(p.i)") }
        return value
    }

    public static func parse(_ text: String) throws -> OrderedJSON { try parse(Array(text.utf8)) }

    /// Reads the elements of a JSON array one at a time: the memory of one element, not of
    /// a tree of the whole array (a 64 MB array of small objects is a gigabyte as a tree).
    public struct ArrayReader {
        private var parser: Parser
        private var started = false
        private var finished = false
        /// Elements read so far.
        public private(set) var count = 0

        public init(_ bytes: [UInt8]) {
            parser = Parser(bytes: bytes)
        }

        /// The next element, nil after the last; throws on malformed JSON (including text
        /// after the array).
        public mutating func next() throws -> OrderedJSON? {
            guard !finished else { return nil }
            parser.skipSpace()
            if !started {
                guard parser.i < parser.bytes.count, parser.bytes[parser.i] == UInt8(ascii: "[") else { throw parser.fail("expected an array") }
                parser.i += 1
                started = true
                parser.skipSpace()
                if parser.i < parser.bytes.count, parser.bytes[parser.i] == UInt8(ascii: "]") { return try end() }
            } else {
                guard parser.i < parser.bytes.count else { throw parser.fail("unexpected end in an array") }
                if parser.bytes[parser.i] == UInt8(ascii: "]") { return try end() }
                guard parser.bytes[parser.i] == UInt8(ascii: ",") else { throw parser.fail("expected ',' or ']'") }
                parser.i += 1
            }
            count += 1
            return try parser.value(depth: 1)
        }

        private mutating func end() throws -> OrderedJSON? {
            parser.i += 1
            finished = true
            parser.skipSpace()
            guard parser.i == parser.bytes.count else { throw parser.fail("unexpected text after the array") }
            return nil
        }
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        func fail(_ what: String) -> ParseError { ParseError(description: "\(what) at byte \(i)") }

        mutating func value(depth: Int) throws -> OrderedJSON {
            guard depth < 128 else { throw fail("nesting deeper than 128") }
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var pairs: [(String, OrderedJSON)] = []
                skipSpace()
                if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    let key = try string()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    pairs.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end in an object") }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                    guard bytes[i] == UInt8(ascii: ",") else { throw fail("expected ',' or '}'") }
                    i += 1
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [OrderedJSON] = []
                skipSpace()
                if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end in an array") }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    guard bytes[i] == UInt8(ascii: ",") else { throw fail("expected ',' or ']'") }
                    i += 1
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default:
                let start = i
                while i < bytes.count,
                    (bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9"))
                        || bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: ".")
                        || bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")
                { i += 1 }
                let text = String(decoding: bytes[start..<i], as: UTF8.self)
                guard !text.isEmpty, let number = Double(text) else { throw fail("unexpected character") }
                // 1e999 is JSON but no reader holds it: refused here, not turned into null later.
                guard number.isFinite else { throw fail("the number \(text.prefix(40)) is out of range") }
                return .number(text)
            }
        }

        mutating func literal(_ word: String) throws {
            let w = Array(word.utf8)
            guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw fail("unexpected text") }
            i += w.count
        }

        mutating func string() throws -> String {
            var at = i
            defer { i = at }
            do {
                let content = try bytes.withUnsafeBytes { raw throws(JSONStringReader.Failure) in try JSONStringReader.read(raw, at: &at) }
                return String(decoding: content, as: UTF8.self)
            } catch let e as JSONStringReader.Failure {
                throw fail(e.what)
            }
        }
    }
}
