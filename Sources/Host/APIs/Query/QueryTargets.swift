import CSQLite
import Foundation
import PluginABI
import PluginKit

/// What a query reads: a pushed dataset, a named query, the `store` datasource (read-only
/// SQL over the datasets), or a source plugin's datasource. Opening one runs its first
/// step, so that errors are known before the response starts.
struct QueryTargets: Sendable {
    enum Kind: String, Sendable, CaseIterable {
        case dataset, datasource, datamodel
    }

    /// The built-in datasource: the datasets file, read-only.
    static let storeDatasource = "store"

    let gateway: Gateway
    /// What a datasource plugin's instance is given; a query's carry its request's logger.
    let services: HostServiceProvider
    /// Stops the query's SQL and its source plugin (client gone, time budget spent).
    let control: RunControl
    /// Rows per batch read from SQL (a dataflow's `batch_size`).
    var batchRows = 65_536

    init(gateway: Gateway, control: RunControl, services: HostServiceProvider? = nil) {
        self.gateway = gateway
        self.control = control
        self.services = services ?? gateway.services
    }

    /// `onProgress` hears a datasource plugin's progress reports.
    func open(_ kind: Kind, id: String, query: QueryRequest,
              onProgress: (@Sendable (InstanceContext.Progress) -> Void)? = nil) throws -> BatchSource {
        do {
            switch kind {
            case .dataset: return try dataset(id, query)
            case .datasource: return try datasource(id, query, onProgress: onProgress)
            case .datamodel: return try datamodel(id, query)
            }
        } catch {
            throw Self.describe(error, control: control, maxValueBytes: gateway.config.limits.maxValueBytes)
        }
    }

    /// The error a client is told for a failure while opening or reading a query.
    static func describe(_ error: Error, control: RunControl, maxValueBytes: Int) -> Error {
        if let stopped = control.error { return stopped }
        switch error {
        case let e as ReadOnlySQL.Refused: return GatewayError.badRequest(e.description)
        case let e as DataModel.Invalid: return GatewayError.badRequest(e.description)
        case let e as SQLiteError where e.isTooBig:
            return GatewayError.badRequest("the query makes a value larger than \(maxValueBytes) bytes (limits.maxValueBytes)")
        case let e as SQLiteError where e.isFull:
            return GatewayError.badRequest("the query needs more temporary space than limits.maxTempBytes allows (a large sort?)")
        case let e as SQLiteError: return GatewayError.badRequest("the query failed: \(e.message)")
        case let e as PluginError where e.status == GW_CANCELLED: return control.error ?? GatewayError(e)
        default: return error
        }
    }

    /// The parameter names a target reads (plain, or qualified by its id); nil when it
    /// takes any (a datasource plugin decides what its parameters mean). A dataflow binds
    /// those of its params and records the rest (see RunParams).
    func parameterNames(_ kind: Kind, id: String, sql: String? = nil) throws -> Set<String>? {
        var names: Set<String>
        switch kind {
        case .dataset:
            if let pushed = try gateway.datasets.dataset(id) {
                names = Set(pushed.columns.map(\.name))
            } else if let named = gateway.config.queries[id] {
                names = Set(named.parameters.keys).union(Self.parameterNames(named.sql))
            } else {
                return nil
            }
        case .datasource:
            guard id == Self.storeDatasource else { return nil }
            return Self.parameterNames(sql ?? "")
        case .datamodel:
            guard let model = try gateway.datamodels.model(id) else { return nil }
            names = Set(model.parameters.keys)
        }
        return names.union(names.map { "\(id).\($0)" })
    }

    // MARK: datasets

    private func dataset(_ id: String, _ query: QueryRequest) throws -> BatchSource {
        if let type = query.queryType, type.lowercased() != "none" {
            throw GatewayError.badRequest("queryType '\(type)' is not supported for datasets: leave it out or send NONE")
        }
        if let pushed = try gateway.datasets.dataset(id) { return try table(pushed, query) }
        if let named = gateway.config.queries[id] { return try namedQuery(id, named, query) }
        throw GatewayError.notFound("unknown dataset '\(id)'")
    }

    /// A pushed dataset: its table, filtered by `$column=value` parameters (several values
    /// of one column match any of them).
    private func table(_ dataset: Dataset, _ query: QueryRequest) throws -> BatchSource {
        let (filter, args) = try Self.filter(dataset, query.parameters)
        let sql = "SELECT \(dataset.columns.map { Dataset.quote($0.name) }.joined(separator: ", ")) FROM \(Dataset.quote(dataset.table))\(filter) ORDER BY rowid"
        return try run(sql, query: query) { statement in try statement.bind(args) }
    }

    /// The WHERE clause (" WHERE …", or "") of `$column=value` parameters over a dataset's
    /// table, with its values; several values of one column match any of them.
    static func filter(_ dataset: Dataset, _ parameters: [String: [String]]) throws -> (String, [SQLValue]) {
        var conditions: [String] = []
        var args: [SQLValue] = []
        for (name, values) in parameters.sorted(by: { $0.key < $1.key }) {
            let column = name.hasPrefix("\(dataset.id).") ? String(name.dropFirst(dataset.id.count + 1)) : name
            guard let spec = dataset.columns.first(where: { $0.name == column }) else {
                throw GatewayError.badRequest("unknown parameter '\(name)': dataset '\(dataset.id)' filters by its columns (\(dataset.columns.map(\.name).joined(separator: ", ")))")
            }
            // A filter value is read as the column's type, as a pushed cell is: `$ok=true`
            // finds the rows a push of true wrote, and a timestamp matches in any offset.
            let filter = try FilterValues(column: spec, values: values)
            conditions.append("\(filter.expression) IN (\(Array(repeating: "?", count: values.count).joined(separator: ", ")))")
            args += filter.values
        }
        return (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "), args)
    }

    private func namedQuery(_ id: String, _ named: NamedQuery, _ query: QueryRequest) throws -> BatchSource {
        for name in query.parameters.keys {
            let bare = name.hasPrefix("\(id).") ? String(name.dropFirst(id.count + 1)) : name
            guard named.parameters[bare] != nil || Self.parameterNames(named.sql).contains(bare) else {
                throw GatewayError.badRequest("unknown parameter '\(name)' for dataset '\(id)'")
            }
        }
        return try run(named.sql, query: query) { statement in
            try bindParameters(statement, query: query, qualifier: id, declared: named.parameters)
        }
    }

    // MARK: datasources

    private func datasource(_ id: String, _ query: QueryRequest, onProgress: (@Sendable (InstanceContext.Progress) -> Void)?) throws -> BatchSource {
        if id == Self.storeDatasource {
            guard (query.queryType ?? "sql").lowercased() == "sql" else {
                throw GatewayError.badRequest("the store datasource takes queryType=sql")
            }
            guard let sql = query.query else { throw GatewayError.badRequest("give the SQL to run in 'query'") }
            return try run(sql, query: query) { statement in
                // A parameter the SQL never names would be dropped: say so instead.
                let named = Self.boundNames(statement)
                if let unknown = query.parameters.keys.sorted().first(where: { !named.contains($0) }) {
                    throw GatewayError.badRequest("unknown parameter '\(unknown)': the query has no :\(unknown)")
                }
                try bindParameters(statement, query: query, qualifier: nil, declared: [:])
            }
        }
        guard let definition = gateway.config.datasources[id] else {
            throw GatewayError.notFound("unknown datasource '\(id)'")
        }
        guard let plugin = gateway.registry.plugin(id: definition.plugin), plugin.kinds.contains(.source) else {
            throw GatewayError(.serviceUnavailable, "datasource '\(id)' needs the source plugin '\(definition.plugin)', which is not loaded")
        }
        let context = InstanceContext(pluginId: plugin.id, instanceName: "datasource:\(id)", services: services, onProgress: onProgress)
        control.onStop { context.cancel() }
        let source = try PluginUseCheck.openingConfigured("datasource '\(id)'") { () throws(PluginError) in
            try SourceHandle(plugin: plugin, config: definition.config.text, context: context)
        }
        var request: [String: Any] = ["params": query.parameters]
        if let q = query.query { request["query"] = q }
        if let t = query.queryType { request["query_type"] = t }
        if let limit = query.rowLimit { request["row_limit"] = limit }
        if query.forceRefresh { request["force_refresh"] = true }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
        return try source.read(requestJSON: json)
    }

    // MARK: data models

    /// A data model: its query (`Query`, JSON text or a POST's JSON object) compiled to one
    /// read-only statement, every value bound.
    private func datamodel(_ id: String, _ query: QueryRequest) throws -> BatchSource {
        if let type = query.queryType, !["none", "json"].contains(type.lowercased()) {
            throw GatewayError.badRequest("queryType '\(type)' is not supported for data models: leave it out (the query is JSON, see docs/api.md)")
        }
        guard let model = try gateway.datamodels.model(id) else { throw GatewayError.notFound("unknown data model '\(id)'") }
        let modelQuery: ModelQuery
        if let document = query.queryDocument {
            modelQuery = try ModelQuery.parse(document)
        } else if let text = query.query {
            modelQuery = try ModelQuery.parse(text)
        } else {
            throw GatewayError.badRequest("give the model query in 'query', e.g. {\"dimensions\": [...], \"measures\": [...]} (see docs/api.md)")
        }
        let compiled = try ModelCompiler.compile(model, modelQuery, request: query)
        return try run(compiled.sql, query: query, columnTypes: compiled.types) { statement in try compiled.bind(statement) }
    }

    // MARK: SQL

    /// `columnTypes`: the output columns' types when the caller knows them (a data model).
    private func run(_ sql: String, query: QueryRequest, columnTypes: [ArrowType]? = nil, bind: (SQLiteStatement) throws -> Void) throws -> BatchSource {
        let db = try ReadOnlySQL.open(gateway.datasetTables.readers, control: control)
        let statement = try ReadOnlySQL.prepare(db, sql)
        try bind(statement)
        return try SQLiteBatchSource(statement: statement, rowLimit: query.rowLimit, unknownTypes: query.unknownTypes, batchSize: batchRows,
                                     maxRowBytes: 4 * gateway.config.limits.maxValueBytes, columnTypes: columnTypes)
    }

    /// Binds `:name` parameters: the request's values (several → a JSON array, for
    /// `json_each`), else the declared default, else NULL or an error per
    /// MissParameterHandle.
    private func bindParameters(_ s: SQLiteStatement, query: QueryRequest, qualifier: String?, declared: [String: NamedQuery.Parameter]) throws {
        let count = Int(sqlite3_bind_parameter_count(s.stmt))
        guard count > 0 else { return }
        var args: [SQLValue] = []
        for i in 1...count {
            // `?` has no name and `?1` a number: neither can be given by `$name`.
            let full = sqlite3_bind_parameter_name(s.stmt, Int32(i)).map { String(cString: $0) } ?? "?"
            guard !full.hasPrefix("?") else { throw GatewayError.badRequest("use named parameters (:name), not '\(full)'") }
            let name = String(full.dropFirst())
            let spec = declared[name] ?? NamedQuery.Parameter()
            guard let values = try Self.parameterValues(name, spec: spec, query: query, qualifier: qualifier) else {
                args.append(.null)
                continue
            }
            // Several values bind as a JSON array, which only a query that reads the
            // parameter as a list can use: compared to one value it would match nothing.
            let list = spec.multi || (values.count > 1 && declared[name] == nil && Self.readsAsList(s, name))
            args.append(try Self.boundValue(name, values, asList: list))
        }
        try s.bind(args)
    }

    /// The values a query gives parameter `name` (as `name` or `qualifier.name`), else its
    /// declared default (MissParameterHandle=Default). Nil when it has none; a 400 then
    /// under MissParameterHandle=Error. An empty list (a default of []) is no value at all.
    static func parameterValues(_ name: String, spec: NamedQuery.Parameter, query: QueryRequest, qualifier: String?) throws -> [String]? {
        let given = query.values(of: name, qualifier: qualifier) ?? (query.missParameter == .default ? spec.default : nil)
        guard let values = given, !values.isEmpty else {
            if query.missParameter == .error { throw GatewayError.badRequest("missing parameter '\(name)'") }
            return nil
        }
        return values
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

    /// True when the statement reads `:name` as a list: `json_each(:name)` or `json_tree(:name)`.
    static func readsAsList(_ s: SQLiteStatement, _ name: String) -> Bool {
        guard let text = sqlite3_sql(s.stmt) else { return false }
        let sql = String(cString: text).lowercased().filter { !$0.isWhitespace }
        return [":", "@", "$"].contains { prefix in
            let parameter = prefix + name.lowercased()
            return sql.contains("json_each(\(parameter))") || sql.contains("json_tree(\(parameter))")
        }
    }

    /// The names of a prepared statement's parameters, without their `:`, `@` or `$`.
    static func boundNames(_ s: SQLiteStatement) -> Set<String> {
        let count = Int(sqlite3_bind_parameter_count(s.stmt))
        guard count > 0 else { return [] }
        return Set((1...count).compactMap { i in sqlite3_bind_parameter_name(s.stmt, Int32(i)).map { String(String(cString: $0).dropFirst()) } })
    }

    /// The `:name` parameters a statement text mentions (for telling unknown parameters).
    static func parameterNames(_ sql: String) -> Set<String> {
        var names = Set<String>()
        var current: String?
        for c in sql + " " {
            if let name = current {
                if c.isLetter || c.isNumber || c == "_" { current = name + String(c) } else {
                    if !name.isEmpty { names.insert(name) }
                    current = nil
                }
            }
            if current == nil && (c == ":" || c == "@" || c == "$") { current = "" }
        }
        return names
    }
}
