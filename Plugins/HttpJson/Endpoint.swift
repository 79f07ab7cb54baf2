import Foundation
import PluginABI
import PluginKit

/// One endpoint of the manifest, checked and compiled: its request, parameters, paging,
/// where its records are and what becomes of them, and its incremental cursor.
struct Endpoint: Sendable {
    struct Parameter: Sendable {
        let name: String
        let kind: ParameterSpec.Kind
        let required: Bool
        let defaults: [String]?
        let multi: Bool
        let allowed: Set<String>?
    }

    let name: String
    let method: String
    let path: Template
    let query: [(String, CompiledJSON)]
    let body: CompiledJSON?
    let isForm: Bool
    let headers: [(String, Template)]
    let parameters: [Parameter]
    let paging: Paging
    let recordsPath: JSONPath
    let headerRow: Bool
    let missingIsEmpty: Bool
    let columns: RecordColumns.Options
    let primaryKey: JSONPath?
    let incremental: Incremental?
    let check: ErrorCheck?

    /// Names a template may read besides the parameters.
    static let builtIns: Set<String> = ["page", "offset", "limit", "cursor", "now", "now_ms", "incremental.start", "incremental.end"]

    init(name: String, _ spec: EndpointSpec, secrets: Set<String>) throws {
        let what = "endpoints.\(name)"
        self.name = name
        method = (spec.method ?? "GET").uppercased()
        guard ["GET", "POST", "PUT"].contains(method) else { throw PluginError.invalidConfig("\(what).method must be GET, POST or PUT") }
        path = try Template(spec.path, what: "\(what).path")
        query = try (spec.query ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, try CompiledJSON($0.value, what: "\(what).query.\($0.key)")) }
        body = try spec.body.map { try CompiledJSON($0, what: "\(what).body") }
        guard ["json", "form"].contains(spec.bodyFormat ?? "json") else { throw PluginError.invalidConfig("\(what).body_format must be json or form") }
        isForm = spec.bodyFormat == "form"
        if isForm, let body {
            guard case .object = body else { throw PluginError.invalidConfig("\(what).body must be an object when body_format is form") }
        }
        guard body == nil || method != "GET" else { throw PluginError.invalidConfig("\(what): a GET sends no body (use query)") }
        headers = try (spec.headers ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, try Template($0.value, what: "\(what).headers.\($0.key)")) }
        parameters = try (spec.parameters ?? [:]).sorted { $0.key < $1.key }.map { key, p in
            guard !key.isEmpty, !key.contains("."), !Self.builtIns.contains(key), key.allSatisfy({ $0.isLetter || $0.isNumber || "_-".contains($0) }) else {
                throw PluginError.invalidConfig(
                    "\(what).parameters: '\(key.prefix(40))' must be letters, digits, _ or - and not a built-in name (\(Self.builtIns.sorted().joined(separator: ", ")))"
                )
            }
            let kind = p.type ?? .string
            let defaults = p.default?.map(\.text)
            if let defaults { for value in defaults { _ = try Self.check(value, kind: kind, name: key) } }
            return Parameter(name: key, kind: kind, required: p.required ?? false, defaults: defaults, multi: p.multi ?? false, allowed: p.values.map(Set.init))
        }
        paging = try Paging(spec.pagination, what: "\(what).pagination")
        let defaultPath = paging.kind == .pagetag ? "data.data" : ""
        recordsPath = try JSONPath(spec.records?.path ?? defaultPath, what: "\(what).records.path")
        headerRow = spec.records?.headerRow ?? (paging.kind == .pagetag)
        missingIsEmpty = spec.records?.missingIsEmpty ?? false
        var options = RecordColumns.Options()
        if let r = spec.records {
            options.separator = r.separator ?? "."
            guard ["json", "drop"].contains(r.arrays ?? "json") else { throw PluginError.invalidConfig("\(what).records.arrays must be json or drop") }
            options.keepArrays = r.arrays != "drop"
            options.rename = r.rename ?? [:]
            options.drop = Set(r.drop ?? [])
            options.select = r.select
            for (field, typeName) in r.types ?? [:] {
                guard let type = RecordColumns.type(named: typeName) else {
                    throw PluginError.invalidConfig("\(what).records.types.\(field) must be int64, float64, bool, utf8 or timestamp")
                }
                options.types[field] = type
            }
        }
        primaryKey = try spec.primaryKey.map { try JSONPath($0, what: "\(what).primary_key") }
        incremental = try spec.incremental.map { try Incremental($0, what: "\(what).incremental") }
        options.parseTime = { [incremental] text in incremental?.format.parse(text) ?? TimeFormat.iso8601.parse(text) }
        columns = options
        check = try spec.error.map { try ErrorCheck($0, what: "\(what).error") } ?? (paging.kind == .pagetag ? Self.seed002Errors : nil)

        // Every placeholder must be one something fills: a typo is found now, not mid-crawl.
        let known = Set(parameters.map(\.name)).union(Self.builtIns).union(secrets.map { "secrets.\($0)" })
        let used = path.variables + query.flatMap(\.1.variables) + (body?.variables ?? []) + headers.flatMap(\.1.variables)
        for variable in used where !known.contains(variable) {
            throw PluginError.invalidConfig(
                "\(what): {\(variable)} is neither one of its parameters nor a built-in value (\(Self.builtIns.sorted().joined(separator: ", ")), secrets.<name>)"
            )
        }
    }

    /// Seed 002's pages say `errcode` (0: good) and `msg`.
    static let seed002Errors = try? ErrorCheck(ErrorSpec(path: "errcode", ok: [.number("0")], messagePath: "msg"), what: "error")

    // MARK: parameters

    /// The values of this endpoint's parameters in a request: `endpoint.name` or `name`
    /// (shared by every endpoint that has it), else the default. Every name given must be
    /// a parameter of some endpoint of the datasource.
    func values(_ given: [String: [String]], all: [String: Endpoint]) throws -> Variables {
        for key in given.keys.sorted() {
            let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
            let known =
                parts.count == 2
                ? all[parts[0]]?.parameters.contains { $0.name == parts[1] } ?? false
                : all.values.contains { $0.parameters.contains { $0.name == key } }
            guard known else {
                let own = parameters.map(\.name)
                throw PluginError.invalidArgument(
                    "unknown parameter '\(key.prefix(80))': endpoint '\(name)' takes \(own.isEmpty ? "none" : own.joined(separator: ", "))"
                        + (all.count > 1 ? " (another endpoint's as endpoint.name)" : ""))
            }
        }
        var vars: Variables = [:]
        for p in parameters {
            guard let values = given["\(name).\(p.name)"] ?? given[p.name] ?? p.defaults, !values.isEmpty else {
                if p.required { throw PluginError.invalidArgument("endpoint '\(name)' needs parameter '\(p.name)' (\(p.kind.rawValue))") }
                continue
            }
            guard p.multi || values.count == 1 else {
                throw PluginError.invalidArgument("parameter '\(p.name)' of endpoint '\(name)' takes one value (\(values.count) given)")
            }
            let checked = try values.map { value -> String in
                if let allowed = p.allowed, !allowed.contains(value) {
                    throw PluginError.invalidArgument(
                        "parameter '\(p.name)' must be one of \(allowed.sorted().joined(separator: ", ")), not '\(value.prefix(40))'")
                }
                return try Self.check(value, kind: p.kind, name: p.name)
            }
            vars[p.name] = TemplateValue(texts: checked, literal: [.integer, .number, .boolean].contains(p.kind), multi: p.multi)
        }
        return vars
    }

    /// A value as its type writes it; a value that is not one is a 400 naming it.
    static func check(_ value: String, kind: ParameterSpec.Kind, name: String) throws -> String {
        let ok: Bool
        var normalized = value
        switch kind {
        case .string: ok = value.utf8.count <= 65_536
        case .integer: ok = Int64(value) != nil
        case .number: ok = Double(value).map(\.isFinite) ?? false
        case .boolean:
            ok = ["true", "false", "1", "0"].contains(value.lowercased())
            normalized = ["true", "1"].contains(value.lowercased()) ? "true" : "false"
        case .date: ok = TimeFormat.pattern("yyyy-MM-dd", TimeZone(identifier: "UTC")).parse(value) != nil
        case .datetime:
            ok = TimeFormat.iso8601.parse(value) != nil || TimeFormat.pattern("yyyy-MM-dd HH:mm:ss", TimeZone(identifier: "UTC")).parse(value) != nil
        }
        guard ok else {
            throw PluginError.invalidArgument(
                "parameter '\(name)' must be \(kind.rawValue == "integer" ? "an" : "a") \(kind.rawValue), not '\(value.prefix(40))'")
        }
        return normalized
    }

    // MARK: requests and records

    /// The request for one page (`next`: a next link to follow instead of the path).
    func request(_ vars: Variables, base: String, next: String?) throws -> RequestParts {
        if let next { return nextRequest(next, vars) }
        var url = base
        for part in path.parts {
            switch part {
            case .text(let t): url += t
            case .variable(let n):
                guard let value = vars[n] else { throw PluginError.invalidArgument("endpoint '\(name)': its path needs {\(n)}, which has no value") }
                // A value is one segment of the path: never a way up to another resource.
                if let step = value.texts.first(where: { $0 == "." || $0 == ".." }) {
                    throw PluginError.invalidArgument("endpoint '\(name)': '\(step)' is not a value for {\(n)}")
                }
                url += value.texts.map { $0.addingPercentEncoding(withAllowedCharacters: Connection.unreserved) ?? $0 }.joined(separator: ",")
            }
        }
        var parts = RequestParts(method: method, url: url)
        for (key, template) in query {
            switch template.render(vars) {
            case nil, .null?: continue
            case .array(let items)?: parts.query += items.map { (key, Connection.formValue($0)) }
            case let value?: parts.query.append((key, Connection.formValue(value)))
            }
        }
        for (name, template) in headers {
            if let text = template.render(vars) { parts.headers.append((name, text)) }
        }
        if let body, let rendered = body.render(vars) {
            if isForm, case .object(let fields) = rendered {
                parts.form = fields.map { ($0.0, Connection.formValue($0.1)) }
            } else {
                parts.json = rendered
            }
        } else if isForm {
            parts.form = []
        }
        return parts
    }

    /// A next link, fetched with GET and the endpoint's headers; its query items are the
    /// request's own (a signature signs them).
    private func nextRequest(_ link: String, _ vars: Variables) -> RequestParts {
        guard var components = URLComponents(string: link) else { return RequestParts(method: "GET", url: link) }
        let items = components.queryItems ?? []
        components.query = nil
        var parts = RequestParts(method: "GET", url: components.string ?? link)
        parts.query = items.map { ($0.name, $0.value ?? "") }
        for (name, template) in headers {
            if let text = template.render(vars) { parts.headers.append((name, text)) }
        }
        return parts
    }

    /// The records of a reply: the array at the records path. With a header row (seed 002)
    /// the first item of every page is the header: an object mapping each key to its column
    /// title (returned, for the columns' names and order), or an array of names for rows
    /// that are arrays (made objects here). Anything else is an error naming what the reply
    /// holds instead.
    func records(_ reply: OrderedJSON, what: String) throws -> (records: [OrderedJSON], titles: [(String, String)]?) {
        guard let found = recordsPath.select(reply), found != .null else {
            if missingIsEmpty { return ([], nil) }
            let keys = recordsPath.nearestKeys(reply)
            throw PluginError.invalidArgument(
                "\(what): records.path '\(recordsPath)' matches nothing in the reply\(keys.isEmpty ? "" : " (it has: \(keys.joined(separator: ", ")))")")
        }
        guard let items = found.array else {
            throw PluginError.invalidArgument("\(what): records.path '\(recordsPath)' is not an array in the reply")
        }
        guard headerRow, let header = items.first else { return (items, nil) }
        switch header {
        case .object(let pairs):
            return (Array(items.dropFirst()), pairs.map { ($0.0, $0.1.scalarText ?? $0.0) })
        case .array(let cells):
            let names = cells.map { $0.scalarText ?? "" }
            let rows = try items.dropFirst().enumerated().map { i, row -> OrderedJSON in
                guard let values = row.array, values.count == names.count else {
                    throw PluginError.invalidArgument("\(what), row \(i + 1): \(row.array?.count ?? 0) cells for a header of \(names.count)")
                }
                return .object(Array(zip(names, values)))
            }
            return (rows, nil)
        default:
            throw PluginError.invalidArgument("\(what): the first row must be the header (an object of titles, or an array of names)")
        }
    }
}
