// Our own check of a config against a plugin's JSON Schema, not a JSON Schema library: none
// is in the package mirror, and plugins' schemas use a small subset (type, properties,
// required, additionalProperties: false, enum, minimum/maximum, minLength/maxLength, items).
// Keywords outside it are left to the plugin's open(), which checks the config again.
import Foundation

enum ConfigSchema {
    /// The schema text as a value; nil when it is not JSON (the loader already refuses such plugins).
    static func parse(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// What is wrong with `value` under `schema`, one line per problem naming the field;
    /// empty when nothing is.
    static func problems(_ value: JSONValue, schema: JSONValue, path: String = "") -> [String] {
        guard case .object(let s) = schema else { return [] }
        let name = path.isEmpty ? "the config" : "field '\(path)'"
        if let types = allowedTypes(s["type"]), !types.contains(where: { matches(value, $0) }) {
            return ["\(name) must be \(types.map(article).joined(separator: " or ")), not \(typeName(value))"]
        }
        var found: [String] = []
        if case .array(let options)? = s["enum"], !options.contains(value) {
            found.append("\(name) must be one of \(options.map(\.text).joined(separator: ", "))")
        }
        switch value {
        case .number(let text):
            if let n = Double(text) {
                if case .number(let low)? = s["minimum"], let l = Double(low), n < l { found.append("\(name) must be at least \(low)") }
                if case .number(let high)? = s["maximum"], let h = Double(high), n > h { found.append("\(name) must be at most \(high)") }
            }
        case .string(let text):
            let count = text.count
            if case .number(let low)? = s["minLength"], let l = Int(low), count < l { found.append("\(name) must be at least \(low) characters") }
            if case .number(let high)? = s["maxLength"], let h = Int(high), count > h { found.append("\(name) must be at most \(high) characters") }
        case .array(let items):
            if let itemSchema = s["items"] {
                for (i, item) in items.enumerated() { found += problems(item, schema: itemSchema, path: "\(path)[\(i)]") }
            }
        case .object(let members):
            found += objectProblems(members, s, path: path)
        default:
            break
        }
        return found
    }

    private static func objectProblems(_ members: [String: JSONValue], _ s: [String: JSONValue], path: String) -> [String] {
        func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
        var found: [String] = []
        let properties: [String: JSONValue] = if case .object(let p)? = s["properties"] { p } else { [:] }
        if case .array(let required)? = s["required"] {
            for case .string(let key) in required where members[key] == nil || members[key] == .null {
                found.append("missing required field '\(child(key))'")
            }
        }
        for key in members.keys.sorted() {
            guard let value = members[key] else { continue }
            if let property = properties[key] {
                found += problems(value, schema: property, path: child(key))
            } else if s["additionalProperties"] == .bool(false) {
                let known = properties.keys.sorted().joined(separator: ", ")
                found.append("unknown field '\(child(key))'" + (known.isEmpty ? "" : " (known: \(known))"))
            }
        }
        return found
    }

    /// Top-level properties marked `"per_request": true`: what a request may set itself
    /// (an export's `ext_options`). Everything else is the administrator's.
    static func perRequestKeys(_ schema: JSONValue) -> Set<String> {
        guard case .object(let s) = schema, case .object(let properties)? = s["properties"] else { return [] }
        return Set(
            properties.compactMap { key, value in
                if case .object(let p) = value, p["per_request"] == .bool(true), p["secret"] != .bool(true) { return key }
                return nil
            })
    }

    private static func allowedTypes(_ type: JSONValue?) -> [String]? {
        switch type {
        case .string(let one)?: [one]
        case .array(let many)?: many.compactMap { if case .string(let t) = $0 { t } else { nil } }
        default: nil
        }
    }

    private static func matches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null), ("number", .number):
            true
        case ("integer", .number(let text)):
            Int64(text) != nil || (Double(text).map { $0.rounded() == $0 && abs($0) < 9.2e18 } ?? false)
        default:
            false
        }
    }

    private static func article(_ type: String) -> String {
        switch type {
        case "integer", "object", "array": "an \(type)"
        case "null": "null"
        default: "a \(type)"
        }
    }

    private static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }
}
