import Foundation

/// Query parameters, in one place for every reader of the datasets: binding a request's
/// `$name` values to a statement's `:name` (several values as a JSON list for
/// `json_each`), defaults and seed 001's `MissParameterHandle`, qualified names
/// (`dataset.name`), and a pushed dataset's column filters.
enum QueryParameters {
    /// The WHERE clause (" WHERE …", or "") of `$column=value` parameters over a dataset's
    /// table, with its values; several values of one column match any of them.
    static func filter(_ dataset: Dataset, _ parameters: [String: [String]]) throws -> (String, [SQLValue]) {
        var conditions: [String] = []
        var args: [SQLValue] = []
        for (name, values) in parameters.sorted(by: { $0.key < $1.key }) {
            let column = name.hasPrefix("\(dataset.id).") ? String(name.dropFirst(dataset.id.count + 1)) : name
            guard let spec = dataset.columns.first(where: { $0.name == column }) else {
                throw GatewayError.badRequest(
                    "unknown parameter '\(name)': dataset '\(dataset.id)' filters by its columns (\(dataset.columns.map(\.name).joined(separator: ", ")))")
            }
            // A filter value is read as the column's type, as a pushed cell is: `$ok=true`
            // finds the rows a push of true wrote, and a timestamp matches in any offset.
            let filter = try FilterValues(column: spec, values: values)
            conditions.append("\(filter.expression) IN (\(Array(repeating: "?", count: values.count).joined(separator: ", ")))")
            args += filter.values
        }
        return (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "), args)
    }

    /// The values of a statement's `:name` parameters: the request's values (several → a
    /// JSON array, for `json_each`), else the declared default, else NULL or an error per
    /// MissParameterHandle.
    static func values(_ slots: ParameterSlots, query: QueryRequest, qualifier: String?, declared: [String: NamedQuery.Parameter]) throws -> [SQLValue] {
        if let unnamed = slots.names.contains(where: { $0 == nil }) ? slots.unnamed.first ?? "?" : nil {
            // `?` has no name and `?1` a number: neither can be given by `$name`.
            throw GatewayError.badRequest("use named parameters (:name), not '\(unnamed)'")
        }
        return try slots.names.compactMap { $0 }.map { name in
            let spec = declared[name] ?? NamedQuery.Parameter()
            guard let values = try Self.parameterValues(name, spec: spec, query: query, qualifier: qualifier) else { return .null }
            // Several values bind as a JSON array, which only a query that reads the
            // parameter as a list can use: compared to one value it would match nothing.
            let list = spec.multi || (values.count > 1 && (declared[name] == nil || spec.context != nil) && Self.readsAsList(slots.sql, name))
            return try Self.boundValue(name, values, asList: list)
        }
    }

    /// The values a query gives parameter `name` (as `name` or `qualifier.name`), else its
    /// declared default (MissParameterHandle=Default). Nil when it has none; a 400 then
    /// under MissParameterHandle=Error. An empty list (a default of []) is no value at all.
    static func parameterValues(_ name: String, spec: NamedQuery.Parameter, query: QueryRequest, qualifier: String?) throws -> [String]? {
        if let context = spec.context { return try contextValues(name, context: context, identity: query.identity) }
        let given = query.values(of: name, qualifier: qualifier) ?? (query.missParameter == .default ? spec.default : nil)
        guard let values = given, !values.isEmpty else {
            if query.missParameter == .error { throw GatewayError.badRequest("missing parameter '\(name)'") }
            return nil
        }
        return values
    }

    /// A context parameter's values: the caller's claim, never the request's (seed 001). A
    /// request without an identity, or whose identity lacks the claim, is a 403 saying which.
    static func contextValues(_ name: String, context: String, identity: Identity?) throws -> [String] {
        let what = RowFilterDeclaration.isFilterParameter(name) ? "the row filter" : "parameter '\(name)'"
        guard let identity else {
            throw GatewayError.forbidden("\(what) is bound from the caller's identity (\(context)), and this request has none: send a token")
        }
        guard let values = identity.values(ofContext: context) else {
            let claim = ContextName(context)?.claim ?? context
            throw GatewayError.forbidden("the identity '\(identity.name)' has no claim '\(claim)', which \(what) is bound from (\(context))")
        }
        return values
    }

    /// Every parameter a request gives must be one the target takes (`takes`, by its bare
    /// name), and none that is bound from the caller's identity: a 400 naming the rule, never
    /// a value silently ignored or used.
    static func checkGiven(
        _ query: QueryRequest, qualifier: String, declared: [String: NamedQuery.Parameter], takes: (String) -> Bool, unknown: (String) -> any Error
    ) throws {
        for name in query.parameters.keys.sorted() {
            let bare = name.hasPrefix("\(qualifier).") ? String(name.dropFirst(qualifier.count + 1)) : name
            if let context = declared[bare]?.context {
                throw GatewayError.badRequest(
                    "parameter '\(name)' is a context parameter, bound from the caller's identity (\(context)): a request cannot set it")
            }
            guard takes(bare) else { throw unknown(name) }
        }
    }

    /// A parameter's bound value: its one value, or a JSON array of them for a parameter a
    /// query reads as a list (`json_each(:name)`).
    static func boundValue(_ name: String, _ values: [String], asList: Bool) throws -> SQLValue {
        if asList { return .text(String(decoding: try JSONSerialization.data(withJSONObject: values), as: UTF8.self)) }
        guard values.count == 1 else {
            throw GatewayError.badRequest("parameter '\(name)' takes one value (\(values.count) given); a query reads several with json_each(:\(name))")
        }
        return .text(values[0])
    }

    /// True when the statement reads `:name` as a list: `json_each(:name)` or
    /// `json_tree(:name)` (SQLite), `jsonb_array_elements_text(:name)` (PostgreSQL).
    static func readsAsList(_ statement: String, _ name: String) -> Bool {
        let sql = statement.lowercased().filter { !$0.isWhitespace }
        return [":", "@", "$"].contains { prefix in
            let parameter = prefix + name.lowercased()
            return ["json_each(", "json_tree(", "jsonb_array_elements_text(", "json_array_elements_text("].contains { sql.contains($0 + parameter) }
        }
    }

    /// The `:name` parameters a statement text mentions (for telling unknown parameters).
    static func parameterNames(_ sql: String) -> Set<String> {
        var names = Set<String>()
        var current: String?
        for c in sql + " " {
            if let name = current {
                if c.isLetter || c.isNumber || c == "_" {
                    current = name + String(c)
                } else {
                    if !name.isEmpty { names.insert(name) }
                    current = nil
                }
            }
            if current == nil && (c == ":" || c == "@" || c == "$") { current = "" }
        }
        return names
    }
}
