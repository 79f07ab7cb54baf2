import PluginKit
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
            throw GatewayError.badRequest("body is not a JSON object: \(e.description)")
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
                while i < bytes.count,
                    (bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9")) || bytes[i] == UInt8(ascii: "-")
                        || bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "e")
                        || bytes[i] == UInt8(ascii: "E")
                { i += 1 }
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
            do {
                return try JSONStringReader.read(bytes, at: &i)
            } catch {
                throw fail(error.what)
            }
        }
    }
}
