/// The top-level fields of a JSON object body, as the bytes a form would carry: strings
/// unescaped, numbers and booleans as their text, nested arrays and objects as their raw
/// JSON text (a push's `ds` is handed to the row parser as sent), nulls left out. Linear,
/// no tree of objects, nesting bounded: a 64 MB body costs 64 MB, not gigabytes.
enum JSONObjectFields {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let maxDepth = 512

    static func parse(_ bytes: UnsafeRawBufferPointer, maxFields: Int) throws -> [String: [UInt8]] {
        var scanner = Scanner(bytes: bytes)
        do {
            return try scanner.object(maxFields: maxFields)
        } catch let e as Failure {
            throw APIError.badRequest("body is not a JSON object: \(e.description)")
        }
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var i = 0

        func fail(_ what: String) -> Failure { Failure(description: "\(what) at byte \(i)") }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func object(maxFields: Int) throws -> [String: [UInt8]] {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { throw fail("expected '{'") }
            i += 1
            var fields: [String: [UInt8]] = [:]
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
            } else {
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    let key = String(decoding: try string(), as: UTF8.self)
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipSpace()
                    if let value = try value(), fields[key] == nil {
                        guard fields.count < maxFields else { throw fail("more than \(maxFields) fields") }
                        fields[key] = value
                    }
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end") }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                    guard bytes[i] == UInt8(ascii: ",") else { throw fail("expected ',' or '}'") }
                    i += 1
                }
            }
            skipSpace()
            guard i == bytes.count else { throw fail("unexpected text after the object") }
            return fields
        }

        /// A field's value as form text; nil for null.
        mutating func value() throws -> [UInt8]? {
            guard i < bytes.count else { throw fail("unexpected end") }
            switch bytes[i] {
            case UInt8(ascii: "\""): return try string()
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                let start = i
                try skipNested()
                return Array(bytes[start..<i])
            case UInt8(ascii: "n"):
                try literal("null")
                return nil
            case UInt8(ascii: "t"):
                try literal("true")
                return Array("true".utf8)
            case UInt8(ascii: "f"):
                try literal("false")
                return Array("false".utf8)
            default:
                let start = i
                while i < bytes.count, (bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9")) || bytes[i] == UInt8(ascii: "-")
                    || bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "e")
                    || bytes[i] == UInt8(ascii: "E") { i += 1 }
                guard i > start else { throw fail("unexpected character") }
                return Array(bytes[start..<i])
            }
        }

        /// Skips an array or object, strings and all, checking brackets match.
        mutating func skipNested() throws {
            var open: [UInt8] = []
            repeat {
                guard i < bytes.count else { throw fail("unexpected end inside an array or object") }
                let c = bytes[i]
                switch c {
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    guard open.count < maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
                    open.append(c == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: "}"))
                    i += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    guard open.last == c else { throw fail("a bracket that does not match") }
                    open.removeLast()
                    i += 1
                case UInt8(ascii: "\""):
                    _ = try string()
                default:
                    i += 1
                }
            } while !open.isEmpty
        }

        mutating func literal(_ word: StaticString) throws {
            let n = word.utf8CodeUnitCount
            guard i + n <= bytes.count, (0..<n).allSatisfy({ bytes[i + $0] == word.utf8Start[$0] }) else { throw fail("unexpected text") }
            i += n
        }

        /// A string's content, unescaped.
        mutating func string() throws -> [UInt8] {
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
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("a lone high surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("a high surrogate without its low half") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("an escape that is no character") }
                    out.append(contentsOf: String(Character(u)).utf8)
                default: out.append(e)
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail("bad \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw fail("bad \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }
    }
}
