import Foundation
import Hummingbird

/// `GET /healthz`, `GET /metrics`, and the administrator's routes under `/admin` (scope `admin`).
enum AdminRoutes {
    static func register(on routes: GuardedRoutes, styles: EnvelopeStyles, gateway: Gateway) {
        styles.register("/admin", .gateway)

        // Load balancers call this many times a second: the body is written directly, and
        // the store's state is what its last use found (never a round trip here). A gateway
        // whose store is unreachable says 503: it can serve next to nothing.
        let storeKind = gateway.store.kind
        routes.get("/healthz", access: .open) { _, context -> Response in
            if let reason = gateway.store.unreachable { throw StoreUnavailable(reason) }
            return Envelope.successRaw(
                .gateway, data: #"{"plugins":\#(gateway.registry.activeCount),"status":"ok","store":"\#(storeKind)"}"#,
                requestId: context.requestId)
        }

        // Prometheus scrapes with a token of scope `metrics` (or `admin`).
        routes.get("/metrics", access: .scope("metrics")) { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: GatewayMetrics.text())))
        }

        let admin = routes.group("/admin", access: .scope("admin"))
        // Listing checks every configured use of a plugin by opening an instance: off the event loop.
        admin.get("/plugins") { _, context -> Response in
            let list = try await Workers.run { PluginInfo.list(gateway.registry, uses: gateway.pluginUses(), instances: gateway.instances) }
            return Envelope.success(.gateway, data: list, requestId: context.requestId)
        }
        admin.post("/plugins/rescan") { _, context -> Response in
            let (changes, list) = try await Workers.run {
                (gateway.rescanPlugins(), PluginInfo.list(gateway.registry, uses: gateway.pluginUses(), instances: gateway.instances))
            }
            return Envelope.success(.gateway, data: Rescan(changes: changes, plugins: list), requestId: context.requestId)
        }
        registerDatasets(on: admin, gateway: gateway)
        registerDataModels(on: admin, gateway: gateway)
        TokenRoutes.register(on: routes, admin: admin, gateway: gateway)
    }

    static func registerDatasets(on admin: GuardedRoutes, gateway: Gateway) {
        admin.get("/datasets") { _, context -> Response in
            let list = try await Workers.run {
                let all = try gateway.datasets.all()
                let rows = try gateway.datasetTables.rowCounts(all)
                return all.map { DatasetInfo($0, configured: gateway.datasets.isConfigured($0.id), rows: rows[$0.id] ?? 0) }
            }
            return Envelope.success(.gateway, data: list, requestId: context.requestId)
        }
        admin.put("/datasets/:id") { request, context -> Response in
            let id = try context.pathParameter("id")
            let definition = try await request.decodeJSON(DatasetDefinition.self, limit: 1 << 20)
            let dataset = try await Workers.run { try gateway.datasets.define(id, definition) }
            return Envelope.success(.gateway, data: DatasetInfo(dataset, configured: false, rows: nil), requestId: context.requestId)
        }
        // Who pushed or uploaded what (seed 000's visitors, and who each is), newest first.
        admin.get("/datasets/:id/writes") { request, context -> Response in
            let id = try context.pathParameter("id")
            let limit = try Self.limit(request.query["limit"], default: 100, most: 1_000)
            let writes = try await Workers.run { try gateway.store.datasetWrites(datasetId: id, limit: limit) }
            return Envelope.success(.gateway, data: writes.map(DatasetWriteInfo.init), requestId: context.requestId)
        }
        admin.delete("/datasets/:id") { _, context -> Response in
            let id = try context.pathParameter("id")
            guard try gateway.datasets.remove(id) else { throw GatewayError.notFound("unknown dataset '\(id)'") }
            return Envelope.success(.gateway, data: ["removed": id], requestId: context.requestId)
        }
    }

    /// Data models: listed, read, defined (checked in full first) and removed.
    static func registerDataModels(on admin: GuardedRoutes, gateway: Gateway) {
        admin.get("/datamodels") { _, context -> Response in
            let list = try await Workers.run {
                try gateway.datamodels.all().map { DataModelInfo(id: $0.id, source: $0.configured ? "config" : "admin", definition: $0.definition) }
            }
            return Envelope.success(.gateway, data: list, requestId: context.requestId)
        }
        admin.get("/datamodels/:id") { _, context -> Response in
            let id = try context.pathParameter("id")
            guard let definition = try await Workers.run({ try gateway.datamodels.definition(id) }) else {
                throw GatewayError.notFound("unknown data model '\(id)'")
            }
            let info = DataModelInfo(id: id, source: gateway.datamodels.isConfigured(id) ? "config" : "admin", definition: definition)
            return Envelope.success(.gateway, data: info, requestId: context.requestId)
        }
        admin.put("/datamodels/:id") { request, context -> Response in
            let id = try context.pathParameter("id")
            let definition = try await request.decodeJSON(DataModelDefinition.self, limit: 1 << 20)
            // Checking prepares every member against the datasets file: off the event loop.
            try await Workers.run { try gateway.datamodels.define(id, definition) }
            return Envelope.success(.gateway, data: DataModelInfo(id: id, source: "admin", definition: definition), requestId: context.requestId)
        }
        admin.delete("/datamodels/:id") { _, context -> Response in
            let id = try context.pathParameter("id")
            guard try await Workers.run({ try gateway.datamodels.remove(id) }) else { throw GatewayError.notFound("unknown data model '\(id)'") }
            return Envelope.success(.gateway, data: ["removed": id], requestId: context.requestId)
        }
    }

    struct DataModelInfo: Encodable {
        let id: String
        /// "config" (read-only here) or "admin".
        let source: String
        let definition: DataModelDefinition
    }

    /// `?limit=`: 1 to `most`, else `default`.
    static func limit(_ text: String?, default value: Int, most: Int) throws -> Int {
        guard let text, !text.isEmpty else { return value }
        guard let n = Int(text), (1...most).contains(n) else { throw GatewayError.badRequest("limit must be 1 to \(most), not '\(text.prefix(40))'") }
        return n
    }

    /// One push or upload, as the admin API shows it.
    struct DatasetWriteInfo: Encodable {
        let visitor: String, identity: String, kind: String, rows: Int64, update: Bool, at: String
        init(_ w: DatasetWrite) {
            visitor = w.visitor
            identity = w.identity
            kind = w.kind.rawValue
            rows = w.rows
            update = w.update
            at = w.at.formatted(.iso8601)
        }
    }

    /// A dataset as the admin API shows it.
    struct DatasetInfo: Encodable {
        let id: String, table: String, columns: [[String: String]], keys: [String]
        let preSql: [String], postSql: [String], visitors: [String], source: String
        /// Column → context: who sees which rows (`{}` for everyone).
        let rowFilter: [String: String]
        /// Rows in the table (the list only).
        let rows: Int64?
        init(_ d: Dataset, configured: Bool, rows: Int64?) {
            self.rows = rows
            id = d.id
            table = d.table
            columns = d.columns.map { ["name": $0.name, "type": $0.type.rawValue] }
            keys = d.keys
            preSql = d.preSql
            postSql = d.postSql
            visitors = d.visitors
            rowFilter = d.rowFilter
            source = configured ? "config" : "admin"
        }
    }

    struct Rescan: Encodable { let changes: [String]; let plugins: [PluginInfo] }
}

/// One row of `gateway plugins list` and `GET /admin/plugins`.
public struct PluginInfo: Codable, Sendable, Equatable {
    public let file: String
    public let status: String
    public let reason: String?
    public let id: String?
    public let version: String?
    public let kinds: [String]?
    public let description: String?
    public let abi: String?
    public let media_type: String?
    public let format_name: String?
    public let exporter_name: String?
    public let file_extension: String?
    /// Where the configuration uses this plugin, and whether each use works.
    public let uses: [PluginUse]?
    /// Active plugins: how their instances run (`plugins.isolation`), and the idle workers kept.
    public var isolation: String?
    public var idle_workers: Int?

    /// Every plugin file found, then a row with status "missing" for each plugin id the
    /// configuration uses that no active plugin provides. An active plugin whose workers
    /// keep crashing is "failing", with the reason.
    public static func list(_ registry: PluginRegistry, uses: [PluginUse], instances: PluginInstanceOpener? = nil) -> [PluginInfo] {
        var rows = registry.all.map { entry -> PluginInfo in
            switch entry.status {
            case .active(let p):
                let failing = instances?.health.failing(p.id)
                var row = info(entry.path, failing == nil ? "active" : "failing", failing, p, uses.filter { $0.plugin == p.id })
                row.isolation = instances?.isolation(of: p).rawValue
                row.idle_workers = instances?.idleWorkers(p)
                return row
            case .replaced(let p): return info(entry.path, "replaced", "a newer copy of the file is active; running work finishes on this one", p, nil)
            case .refused(let reason): return info(entry.path, "refused", reason, nil, nil)
            }
        }
        let active = Set(registry.active.map(\.id))
        var seen = Set<String>()
        for use in uses where !active.contains(use.plugin) && seen.insert(use.plugin).inserted {
            rows.append(
                PluginInfo(
                    file: "", status: "missing", reason: "configured but not loaded", id: use.plugin, version: nil,
                    kinds: nil, description: nil, abi: nil, media_type: nil, format_name: nil, exporter_name: nil,
                    file_extension: nil, uses: uses.filter { $0.plugin == use.plugin }))
        }
        return rows
    }

    private static func info(_ file: String, _ status: String, _ reason: String?, _ p: LoadedPlugin?, _ uses: [PluginUse]?) -> PluginInfo {
        PluginInfo(
            file: file, status: status, reason: reason, id: p?.id, version: p?.version,
            kinds: p?.kinds.map(\.rawValue), description: p?.description, abi: p.map { "1.\($0.abiMinor)" },
            media_type: p?.mediaType, format_name: p?.formatName, exporter_name: p?.exporterName,
            file_extension: p?.fileExtension, uses: uses)
    }
}
