import Glibc
import PluginKit

/// A forward-only scanner over an XML document held in memory: enough XML for the parts of
/// a workbook, and strict where hostile files would hurt. A DOCTYPE is refused (no entity
/// can expand), only the predefined and numeric entities are decoded, and a document that
/// ends inside a tag is an error naming the part and the byte.
struct XMLScanner {
    enum Event {
        case start(name: ArraySlice<UInt8>, attributes: [(ArraySlice<UInt8>, ArraySlice<UInt8>)], selfClosing: Bool)
        case end(name: ArraySlice<UInt8>)
        case text(ArraySlice<UInt8>)
    }

    let part: String
    let bytes: [UInt8]
    private(set) var position = 0

    init(part: String, bytes: [UInt8]) {
        self.part = part
        self.bytes = bytes
    }

    func fail(_ what: String) -> PluginError {
        PluginError.invalidArgument("\(part) is not well-formed XML: \(what) at byte \(position)")
    }

    /// The next event, or nil at the end of the document.
    mutating func next() throws -> Event? {
        // A loop, not recursion, past comments and processing instructions: a file of a
        // million comments must not exhaust the stack.
        while true {
            guard position < bytes.count else { return nil }
            guard bytes[position] == UInt8(ascii: "<"), position + 1 < bytes.count else { break }
            if bytes[position + 1] == UInt8(ascii: "?") {
                try skip(past: Array("?>".utf8))
            } else if starts(with: "<!--") {
                try skip(past: Array("-->".utf8))
            } else {
                break
            }
        }
        if bytes[position] != UInt8(ascii: "<") {
            let start = position
            while position < bytes.count && bytes[position] != UInt8(ascii: "<") { position += 1 }
            return .text(bytes[start..<position])
        }
        // Markup.
        guard position + 1 < bytes.count else { throw fail("the document ends inside a tag") }
        switch bytes[position + 1] {
        case UInt8(ascii: "!"):
            if starts(with: "<![CDATA[") {
                let start = position + 9
                try skip(past: Array("]]>".utf8))
                return .text(bytes[start..<(position - 3)])
            }
            throw fail("a DOCTYPE or declaration (not allowed in workbook parts)")
        case UInt8(ascii: "/"):
            position += 2
            let name = readName()
            skipSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ">") else { throw fail("an unfinished end tag") }
            position += 1
            return .end(name: name)
        default:
            position += 1
            let name = readName()
            guard !name.isEmpty else { throw fail("a tag without a name") }
            var attributes: [(ArraySlice<UInt8>, ArraySlice<UInt8>)] = []
            while true {
                skipSpace()
                guard position < bytes.count else { throw fail("the document ends inside a tag") }
                if bytes[position] == UInt8(ascii: ">") {
                    position += 1
                    return .start(name: name, attributes: attributes, selfClosing: false)
                }
                if bytes[position] == UInt8(ascii: "/") {
                    guard position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: ">") else { throw fail("a stray '/' in a tag") }
                    position += 2
                    return .start(name: name, attributes: attributes, selfClosing: true)
                }
                let key = readName()
                guard !key.isEmpty else { throw fail("an attribute without a name") }
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "=") else { throw fail("an attribute without a value") }
                position += 1
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") || bytes[position] == UInt8(ascii: "'") else {
                    throw fail("an unquoted attribute value")
                }
                let quote = bytes[position]
                position += 1
                let start = position
                while position < bytes.count && bytes[position] != quote { position += 1 }
                guard position < bytes.count else { throw fail("the document ends inside an attribute") }
                attributes.append((key, bytes[start..<position]))
                position += 1
            }
        }
    }

    /// Text with the predefined and numeric entities decoded.
    static func decode(_ raw: ArraySlice<UInt8>, into out: inout [UInt8]) throws {
        var i = raw.startIndex
        while i < raw.endIndex {
            let c = raw[i]
            guard c == UInt8(ascii: "&") else { out.append(c); i += 1; continue }
            guard let semi = raw[i...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
                throw PluginError.invalidArgument("an unterminated entity in XML text")
            }
            let entity = String(decoding: raw[(i + 1)..<semi], as: UTF8.self)
            switch entity {
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "amp": out.append(UInt8(ascii: "&"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            default:
                let scalar: UInt32?
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    scalar = UInt32(entity.dropFirst(2), radix: 16)
                } else if entity.hasPrefix("#") {
                    scalar = UInt32(entity.dropFirst())
                } else {
                    throw PluginError.invalidArgument("unknown XML entity '&\(entity);'")
                }
                guard let scalar, let u = Unicode.Scalar(scalar) else {
                    throw PluginError.invalidArgument("invalid character reference '&\(entity);'")
                }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            }
            i = semi + 1
        }
    }

    static func attribute(_ attributes: [(ArraySlice<UInt8>, ArraySlice<UInt8>)], _ name: String) -> String? {
        let key = Array(name.utf8)
        guard let v = attributes.first(where: { $0.0.elementsEqual(key) })?.1 else { return nil }
        var out: [UInt8] = []
        try? decode(v, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A tag name without its namespace prefix ("x:row" → "row").
    static func local(_ name: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard let colon = name.lastIndex(of: UInt8(ascii: ":")) else { return name }
        return name[(colon + 1)...]
    }

    static func `is`(_ name: ArraySlice<UInt8>, _ wanted: StaticString) -> Bool {
        let n = local(name)
        guard n.count == wanted.utf8CodeUnitCount else { return false }
        return n.elementsEqual(UnsafeBufferPointer(start: wanted.utf8Start, count: wanted.utf8CodeUnitCount))
    }

    private mutating func readName() -> ArraySlice<UInt8> {
        let start = position
        while position < bytes.count {
            let c = bytes[position]
            if c == UInt8(ascii: " ") || c == UInt8(ascii: ">") || c == UInt8(ascii: "/") || c == UInt8(ascii: "=")
                || c == 0x09 || c == 0x0A || c == 0x0D
            {
                break
            }
            position += 1
        }
        return bytes[start..<position]
    }

    private mutating func skipSpace() {
        while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x09 || bytes[position] == 0x0A || bytes[position] == 0x0D {
            position += 1
        }
    }

    private func starts(with s: String) -> Bool {
        let prefix = Array(s.utf8)
        return position + prefix.count <= bytes.count && bytes[position..<(position + prefix.count)].elementsEqual(prefix)
    }

    private mutating func skip(past terminator: [UInt8]) throws {
        while position + terminator.count <= bytes.count {
            if bytes[position..<(position + terminator.count)].elementsEqual(terminator) {
                position += terminator.count
                return
            }
            position += 1
        }
        throw fail("the document ends inside a comment or declaration")
    }
}
