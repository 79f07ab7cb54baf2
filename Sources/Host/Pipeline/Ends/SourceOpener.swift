import CSQLite
import Foundation
import PluginABI
import PluginKit

/// Opens every source the pipeline reads (`SourceSpec`), and is the only code that makes a
/// source plugin's instance: a query's dataset, named query, `store` SQL, data model or
/// datasource; a dataflow's own plugin source; an uploaded file; an export's HTTP crawl.
/// Opening runs the first step, so that errors are known before a response starts.
struct SourceOpener: Sendable {
    /// Seed 001's three query families, as its paths name them.
    enum Kind: String, Sendable, CaseIterable {
        case dataset, datasource, datamodel
    }

    /// The built-in datasource: the datasets file, read-only.
    static let storeDatasource = "store"

    let gateway: Gateway
    /// What a plugin's instance is given; a query's carry its request's logger.
    let services: HostServiceProvider
    /// Stops the source's SQL and its plugin (client gone, time budget spent, cancel).
    let control: RunControl
    /// Rows per batch read from SQL (a dataflow's `batch_size`).
    var batchRows = 65_536

    init(gateway: Gateway, control: RunControl, services: HostServiceProvider? = nil) {
        self.gateway = gateway
        self.control = control
        self.services = services ?? gateway.services
    }

    /// `onProgress` hears a plugin's progress reports, `onLog` its log lines.
    func open(
        _ spec: SourceSpec, onProgress: (@Sendable (InstanceContext.Progress) -> Void)? = nil,
        onLog: (@Sendable (Int32, String) -> Void)? = nil
    ) throws -> BatchSource {
        switch spec {
        case .query(let kind, let id, let query):
            do {
                // Only a plugin's datasource has endpoints: an option nobody reads is refused.
                if query.endpoint != nil && (kind != .datasource || id == Self.storeDatasource) {
                    throw GatewayError.badRequest("'endpoint' names an endpoint of a datasource served by a plugin (http.json); '\(id)' has none")
                }
                switch kind {
                case .dataset: return try dataset(id, query)
                case .datasource: return try datasource(id, query, onProgress: onProgress)
                case .datamodel: return try datamodel(id, query)
                }
            } catch {
                throw Self.describe(error, control: control, maxValueBytes: gateway.config.limits.maxValueBytes)
            }
        case .plugin(let id, let config, let instance, let request):
            let plugin = try gateway.registry.source(id: id)
            let context = instanceContext(plugin, instance: instance, onProgress: onProgress)
            if let onLog { context.onLog(onLog) }
            return try self.instance(plugin, config: config, context: context).read(requestJSON: request)
        case .file(let path):
            return try file(path)
        case .httpCrawl(let config, let task):
            guard let plugin = try? gateway.registry.source(id: Self.pagerPlugin) else {
                throw GatewayError(.serviceUnavailable, "HTTP exports need the '\(Self.pagerPlugin)' plugin, which is not loaded")
            }
            let pager = InstanceContext(pluginId: plugin.id, instanceName: task.instanceName, services: services) { progress in
                task.report(progress)
            }
            task.onCancel { pager.cancel() }
            return try instance(plugin, config: config, context: pager).read(requestJSON: "{}")
        }
    }

    /// A source plugin's instance, in the gateway's process or a worker's (`plugins.isolation`).
    /// A plugin whose workers keep crashing waits out its backoff: a 503 until then.
    private func instance(_ plugin: LoadedPlugin, config: String, context: InstanceContext) throws -> PluginSourceEnd {
        try gateway.instances.health.checkStart(plugin.id)
        return PluginSourceEnd(try gateway.instances.source(plugin, config: config, context: context))
    }

    /// The source plugin that crawls seed 002's paginated HTTP APIs.
    static let pagerPlugin = "http.pager"

    /// A plugin instance that stops with this opener's control.
    private func instanceContext(
        _ plugin: LoadedPlugin, instance: String,
        onProgress: (@Sendable (InstanceContext.Progress) -> Void)?
    ) -> InstanceContext {
        let context = InstanceContext(pluginId: plugin.id, instanceName: instance, services: services, onProgress: onProgress)
        control.onStop { context.cancel() }
        return context
    }

    /// An uploaded file, by its extension: CSV built in, else the source plugin that reads it.
    private func file(_ path: String) throws -> BatchSource {
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        if ext == "csv" { return try CSVFileSource(path: path) }
        guard let plugin = gateway.registry.reader(forExtension: ext) else {
            let known = ["csv"] + gateway.registry.readableExtensions
            throw GatewayError.badRequest("cannot read .\(ext) files: upload one of .\(known.joined(separator: ", ."))")
        }
        let context = instanceContext(plugin, instance: "upload", onProgress: nil)
        let source = try instance(plugin, config: gateway.config.plugins.config[plugin.id]?.text ?? "{}", context: context)
        let request = String(decoding: try JSONSerialization.data(withJSONObject: ["file": path]), as: UTF8.self)
        return try source.read(requestJSON: request)
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
        // A row filter's claim function refused: no identity, or a claim missing.
        case let e as PostgresStoreError where e.sqlState == PostgresRowFilters.refusalState:
            return GatewayError.forbidden(e.message.replacingOccurrences(of: "PostgreSQL: ", with: ""))
        case let e as PostgresStoreError where e.sqlState == "57014":
            return GatewayError(.gatewayTimeout, "the query ran longer than statement_timeout (limits.queryTimeoutSeconds) and was stopped")
        case let e as PostgresStoreError where e.sqlState == "25006" || e.sqlState == "42501":
            return GatewayError.badRequest("only reading queries of the datasets are allowed (\(e.message))")
        // The statement's own fault (syntax, names, types, values): the client's to fix.
        case let e as PostgresStoreError where ["42", "22", "21", "0A", "2B"].contains(e.sqlState?.prefix(2) ?? ""):
            return GatewayError.badRequest("the query failed: \(e.message)")
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
                names = Set(named.parameters.keys).union(QueryParameters.parameterNames(named.sql))
            } else {
                return nil
            }
        case .datasource:
            guard id == Self.storeDatasource else { return nil }
            return QueryParameters.parameterNames(sql ?? "")
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
        let (filter, args) = try QueryParameters.filter(dataset, query.parameters)
        return try gateway.datasetTables.readTable(dataset, filter: filter, args: args, control: control, options: readOptions(query))
    }

    private func namedQuery(_ id: String, _ named: NamedQuery, _ query: QueryRequest) throws -> BatchSource {
        let inSQL = QueryParameters.parameterNames(named.sql)
        let declared = named.allParameters
        try QueryParameters.checkGiven(query, qualifier: id, declared: declared, takes: { declared[$0] != nil || inSQL.contains($0) }) {
            GatewayError.badRequest("unknown parameter '\($0)' for dataset '\(id)'")
        }
        return try run(named.filteredSQL(gateway.datasetTables.dialect), query: query) { slots in
            try QueryParameters.values(slots, query: query, qualifier: id, declared: declared)
        }
    }

    // MARK: datasources

    private func datasource(_ id: String, _ query: QueryRequest, onProgress: (@Sendable (InstanceContext.Progress) -> Void)?) throws -> BatchSource {
        if id == Self.storeDatasource {
            guard (query.queryType ?? "sql").lowercased() == "sql" else {
                throw GatewayError.badRequest("the store datasource takes queryType=sql")
            }
            guard let sql = query.query else { throw GatewayError.badRequest("give the SQL to run in 'query'") }
            return try run(sql, query: query) { slots in
                // A parameter the SQL never names would be dropped: say so instead.
                let named = slots.named
                if let unknown = query.parameters.keys.sorted().first(where: { !named.contains($0) }) {
                    throw GatewayError.badRequest("unknown parameter '\(unknown)': the query has no :\(unknown)")
                }
                return try QueryParameters.values(slots, query: query, qualifier: nil, declared: [:])
            }
        }
        guard let definition = gateway.config.datasources[id] else {
            throw GatewayError.notFound("unknown datasource '\(id)'")
        }
        guard let plugin = try? gateway.registry.source(id: definition.plugin) else {
            throw GatewayError(.serviceUnavailable, "datasource '\(id)' needs the source plugin '\(definition.plugin)', which is not loaded")
        }
        try gateway.instances.health.checkStart(plugin.id)
        let context = instanceContext(plugin, instance: "datasource:\(id)", onProgress: onProgress)
        let source = try PluginUseCheck.openingConfigured("datasource '\(id)'") { () throws(PluginError) in
            PluginSourceEnd(try gateway.instances.source(plugin, config: definition.config.text, context: context))
        }
        var request: [String: Any] = ["params": query.parameters]
        if let q = query.query { request["query"] = q }
        if let t = query.queryType { request["query_type"] = t }
        if let e = query.endpoint { request["endpoint"] = e }
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
        return try run(compiled.sql, query: query, columnTypes: compiled.types) { slots in try compiled.values(slots) }
    }

    // MARK: SQL

    /// `columnTypes`: the output columns' types when the caller knows them (a data model).
    private func run(
        _ sql: String, query: QueryRequest, columnTypes: [ArrowType]? = nil, bind: (ParameterSlots) throws -> [SQLValue]
    ) throws -> BatchSource {
        try gateway.datasetTables.read(sql, control: control, options: readOptions(query, columnTypes: columnTypes), bind: bind)
    }

    private func readOptions(_ query: QueryRequest, columnTypes: [ArrowType]? = nil) -> TableReadOptions {
        TableReadOptions(
            rowLimit: query.rowLimit, unknownTypes: query.unknownTypes, batchRows: batchRows,
            maxRowBytes: 4 * gateway.config.limits.maxValueBytes, columnTypes: columnTypes, identity: query.identity)
    }
}
