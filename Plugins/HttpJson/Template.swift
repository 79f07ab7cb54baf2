import Foundation
import PluginKit

/// A value a template may read: a request parameter, `{page}`, `{secrets.key}`, … Several
/// values (a multi-valued parameter) fill a query key once each, a JSON placeholder as an
/// array, and text as a comma-separated list.
struct TemplateValue {
    var texts: [String]
    /// Numbers and booleans: a JSON placeholder holding only this value writes it bare.
    var literal: Bool
    var multi: Bool

    static func text(_ s: String) -> TemplateValue { TemplateValue(texts: [s], literal: false, multi: false) }
    static func integer(_ n: Int) -> TemplateValue { TemplateValue(texts: [String(n)], literal: true, multi: false) }
}

typealias Variables = [String: TemplateValue]

/// A string with `{name}` placeholders (`{{` and `}}` are literal braces). Parsed once,
/// when the manifest is read: an unclosed brace or an empty name is a configuration error.
struct Template: Sendable {
    enum Part: Sendable, Equatable {
        case text(String)
        case variable(String)
    }

    let parts: [Part]

    init(_ source: String, what: @autoclosure () -> String) throws {
        var parts: [Part] = []
        var text = ""
        var chars = Array(source)
        chars.append("\0")
        var i = 0
        while i < chars.count - 1 {
            let c = chars[i]
            if c == "{" && chars[i + 1] == "{" || c == "}" && chars[i + 1] == "}" {
                text.append(c)
                i += 2
                continue
            }
            guard c == "{" else {
                text.append(c)
                i += 1
                continue
            }
            guard let close = chars[(i + 1)...].firstIndex(of: "}") else {
                throw PluginError.invalidConfig("\(what()): '{' without its '}' in \"\(source.prefix(80))\"")
            }
            let name = String(chars[(i + 1)..<close]).trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "_.-".contains($0) }) else {
                throw PluginError.invalidConfig("\(what()): '{\(name.prefix(40))}' is not a placeholder (names are letters, digits, _ . -)")
            }
            if !text.isEmpty { parts.append(.text(text)) }
            text = ""
            parts.append(.variable(name))
            i = close + 1
        }
        if !text.isEmpty { parts.append(.text(text)) }
        self.parts = parts
    }

    var variables: [String] { parts.compactMap { if case .variable(let n) = $0 { n } else { nil } } }

    /// The one variable the template is made of (`"{page}"`), if it is only that.
    var single: String? {
        if parts.count == 1, case .variable(let name) = parts[0] { return name }
        return nil
    }

    /// The text, or nil when a variable it reads has no value (the caller leaves the part
    /// out, or says the value is missing).
    func render(_ vars: Variables) -> String? {
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .variable(let name):
                guard let value = vars[name] else { return nil }
                out += value.texts.joined(separator: ",")
            }
        }
        return out
    }
}

/// A JSON template checked once: each string holds a Template.
indirect enum CompiledJSON: Sendable {
    case fixed(OrderedJSON)
    case template(Template)
    case array([CompiledJSON])
    case object([(String, CompiledJSON)])

    /// Object keys are sorted: a request's fields go out in one order every time.
    init(_ json: JSONValue, what: String) throws {
        switch json {
        case .null: self = .fixed(.null)
        case .bool(let b): self = .fixed(.bool(b))
        case .number(let n): self = .fixed(.number(n))
        case .string(let s):
            let t = try Template(s, what: what)
            self = t.variables.isEmpty ? .fixed(.string(t.render([:]) ?? s)) : .template(t)
        case .array(let items): self = .array(try items.enumerated().map { try CompiledJSON($1, what: "\(what)[\($0)]") })
        case .object(let fields):
            self = .object(try fields.sorted { $0.key < $1.key }.map { ($0.key, try CompiledJSON($0.value, what: "\(what).\($0.key)")) })
        }
    }

    var variables: [String] {
        switch self {
        case .fixed: []
        case .template(let t): t.variables
        case .array(let items): items.flatMap(\.variables)
        case .object(let pairs): pairs.flatMap(\.1.variables)
        }
    }

    /// The value, or nil when a placeholder in it has no value: an object key or array item
    /// whose value is nil is left out (an optional parameter not given).
    func render(_ vars: Variables) -> OrderedJSON? {
        switch self {
        case .fixed(let v): return v
        case .template(let t):
            if let name = t.single {
                guard let value = vars[name] else { return nil }
                let items = value.texts.map { value.literal ? OrderedJSON.number($0) : .string($0) }.map(Self.literal)
                return value.multi ? .array(items) : items.first ?? .null
            }
            return t.render(vars).map(OrderedJSON.string)
        case .array(let items): return .array(items.compactMap { $0.render(vars) })
        case .object(let pairs): return .object(pairs.compactMap { key, value in value.render(vars).map { (key, $0) } })
        }
    }

    /// A literal's text as JSON: a number's text stays a number, true/false a boolean.
    private static func literal(_ v: OrderedJSON) -> OrderedJSON {
        guard case .number(let text) = v else { return v }
        if text == "true" || text == "false" { return .bool(text == "true") }
        return Double(text) != nil ? v : .string(text)
    }
}
