import Foundation

/// Every setting of the gateway, with its default. Sources, lowest priority first: the
/// embedded defaults below, the configuration file (JSON), environment variables
/// (`GATEWAY_` + the setting's path in upper snake case, e.g. `GATEWAY_SERVER_PORT`,
/// `GATEWAY_HTTP_ALLOW_HOSTS=a.com,b.com`), then command-line flags.
public struct GatewayConfig: Codable, Sendable, Equatable {
    public struct Server: Codable, Sendable, Equatable {
        public var host: String
        public var port: Int
        /// Largest request body accepted, in bytes.
        public var maxBodyBytes: Int
        /// A connection that has not sent a complete request head this long after it
        /// opened (or after its last response), or pauses this long inside a request body,
        /// is closed: idle keep-alive connections and slowloris clients both end.
        public var idleTimeoutSeconds: Int
        /// A connection whose client has not taken any of the response for this long is closed.
        public var writeStallSeconds: Int
        /// Connections served at once; more wait to be accepted. Lowered at start to fit the
        /// process's file descriptor limit.
        public var maxConnections: Int
        /// …of which one client address may hold this many.
        public var maxConnectionsPerAddress: Int
        /// On SIGTERM, requests and exports in progress get this long to finish.
        public var shutdownGraceSeconds: Int
    }

    /// What one request may cost.
    public struct Limits: Codable, Sendable, Equatable {
        /// A query (its SQL, its source plugin and sending its rows) is stopped after this
        /// long; 0 means never.
        public var queryTimeoutSeconds: Int
        /// The largest single value (text or blob) a query may produce, or a push store.
        public var maxValueBytes: Int
        /// The largest temporary file one query's sort or temporary table may write.
        public var maxTempBytes: Int
        /// Queries, pushes and uploads running at once, in all.
        public var maxConcurrentRequests: Int
        /// …and per client (one token, one signing visitor, or one address).
        public var maxConcurrentPerClient: Int
        /// Beyond those, a request waits its turn (fair across clients) at most this long,
        /// then gets 503 with Retry-After.
        public var queueTimeoutSeconds: Int
        /// At most this many requests of one client wait (beyond: 429)…
        public var maxQueuedPerClient: Int
        /// …and this many in all (beyond: 503).
        public var maxQueued: Int
    }

    public struct Plugins: Codable, Sendable, Equatable {
        /// Directories scanned for `*.so` plugins, in order, after the built-in folder.
        /// Empty means `./plugins`.
        public var directories: [String]
        /// Scan the built-in folder (the gateway binary's, where the shipped plugins are)
        /// first. Listing `directories` keeps it; only `false` here leaves it out.
        public var builtin: Bool
        /// Each plugin's own instance config, by plugin id: what its formats and exporters
        /// (and its readers of uploaded files) are opened with. Datasources and dataflows give
        /// sources and sinks theirs. Checked against the plugin's schema at start-up.
        public var config: [String: JSONValue]
        /// How each plugin runs, by id: "in_process" (in the gateway's own process) or
        /// "process" (a worker process of its own); `default` for the others (in_process).
        public var isolation: [String: String]
        /// Plugin folders whose plugins run in worker processes (`process`) unless
        /// `isolation` names them: where third-party `.so` files are dropped.
        public var untrustedDirectories: [String]
        /// A worker's address space in MB (RLIMIT_AS) and CPU seconds (RLIMIT_CPU); 0: none.
        public var workerMemoryMegabytes: Int
        public var workerCpuSeconds: Int
        /// How long a worker may take to load its plugin (dlopen and `init`) before it is killed.
        public var workerLoadSeconds: Int
        /// Idle workers each plugin keeps for its next instances (for a minute each); 0: a
        /// worker per instance.
        public var workersKeptIdle: Int
    }

    public struct Outbound: Codable, Sendable, Equatable {
        /// Hosts that plugins (and callbacks) may reach: exact names, IP addresses, or
        /// `*.example.com` for a domain's subdomains. None by default (the gateway's own
        /// `/demo/page` is always reachable): allowing loopback is an explicit choice.
        public var allowHosts: [String]
        public var timeoutSeconds: Int
        public var maxTimeoutSeconds: Int
        public var maxConcurrent: Int
        public var maxResponseBytes: Int
    }

    public struct Auth: Codable, Sendable, Equatable {
        /// How far a signed token's stamp may be from the server clock.
        public var signedTokenWindowSeconds: Int
        /// Shared keys of the seed-000 signed tokens, by visitor name. Secret.
        public var signedKeys: [String: String]
        /// The gateway's own key (signs download links, keys stored request hashes). Empty:
        /// a random one is kept in the data folder. Gateways sharing a store share it. Secret.
        public var secretKey: String
        public var jwt: JWT
        /// Who each seed-000 visitor is (`"alice": "ann@example.com"`): recorded with every
        /// push and upload it signs, for `GET /admin/datasets/{id}/writes`.
        public var visitorIdentities: [String: String]
    }

    /// The mail server for seed 000's `mail` field. An empty host means none.
    public struct SMTP: Codable, Sendable, Equatable {
        public var host: String
        public var port: Int
        public var from: String
        public var username: String
        /// Secret.
        public var password: String
        /// "auto": STARTTLS when the server offers it, and required before credentials are
        /// sent; "required": never send mail in clear; "off": plain SMTP, only without
        /// credentials (a local relay).
        public var starttls: String
        /// PEM file of the certificate authorities to trust for the SMTP server; empty: the
        /// system's.
        public var caFile: String
    }

    /// The export service (seed 002).
    public struct Exports: Codable, Sendable, Equatable {
        /// Export tokens: bearer with scope `export` unless false.
        public var requireToken: Bool
        /// Tasks and files older than this are deleted.
        public var retentionDays: Int
        /// Callback attempts after the first, with the backoff doubling from callbackBackoffMs.
        public var callbackRetries: Int
        public var callbackBackoffMs: Int
        /// Rows per workbook (header included); 0 keeps the exporter's default (1,048,576).
        public var maxRowsPerFile: Int
        /// Pages fetched at once by HTTP exports.
        public var concurrency: Int
        /// Export tasks run at once; more wait their turn (status 1 meanwhile).
        public var maxRunning: Int
        /// Tasks that may wait beyond those; more are refused with 503.
        public var maxQueued: Int
        /// The address clients reach this gateway at, for `down_url`; empty means the request's Host.
        public var publicBaseUrl: String
        /// A `down_url` is signed and works without a token for this long.
        public var downloadLinkHours: Int
        /// Where export files are written and served from; empty: `exports/` in `dataDir`.
        /// Gateways sharing a store mount one folder here, so any of them serves any download.
        public var directory: String
    }

    public struct Dataflows: Codable, Sendable, Equatable {
        /// An OpenAI-compatible chat completions endpoint for `create-script`.
        public struct Script: Codable, Sendable, Equatable {
            /// Up to `/v1`, e.g. `https://api.deepseek.com/v1`; empty turns create-script off (503).
            public var baseUrl: String
            public var model: String
            /// Secret: better given as GATEWAY_DATAFLOWS_SCRIPT_API_KEY than in the file.
            public var apiKey: String
            public var timeoutSeconds: Int
        }

        /// Dataflow routes need a bearer token with scope `dataflow` unless false.
        public var requireToken: Bool
        /// Runs at once; more wait (status pending).
        public var maxRunning: Int
        /// Runs and log lines older than this are deleted.
        public var retentionDays: Int
        public var script: Script
    }

    /// Where the gateway keeps what it must not lose: the SQLite file in `dataDir` (empty
    /// `url`), or a PostgreSQL database that several gateways share.
    public struct Store: Codable, Sendable, Equatable {
        /// `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`;
        /// GATEWAY_STORE_URL. Empty: SQLite in `dataDir`.
        public var url: String
        /// A file holding the password (its first line), instead of one in `url`.
        public var passwordFile: String
        /// Connections one gateway opens to PostgreSQL at most.
        public var maxConnections: Int
        /// How long a store call waits for a connection before it fails (the server down).
        public var connectTimeoutSeconds: Int
        /// How long a gateway's claim on its unfinished tasks and runs holds unrenewed: a
        /// gateway silent this long is taken for stopped by the others sharing the store.
        public var leaseSeconds: Int
        /// Where the datasets' rows live: "sqlite" (each gateway's `datasets.sqlite`),
        /// "postgres" (the store's database, schema `datasets`, shared by every gateway), or
        /// "" for postgres when `url` is set and sqlite otherwise.
        public var datasets: String
        /// With the datasets on PostgreSQL: the role queries run as, which may only read the
        /// `datasets` schema (`postgres://reader:password@host/database`). Empty: the
        /// gateway makes and uses `<database>_reader` itself (it then needs CREATEROLE).
        public var readerUrl: String

        /// Whether the datasets' rows are kept in the PostgreSQL store.
        public var datasetsOnPostgres: Bool { datasets == "postgres" || (datasets.isEmpty && !url.isEmpty) }
    }

    public var server: Server
    public var limits: Limits
    public var store: Store
    public var dataDir: String
    public var plugins: Plugins
    public var http: Outbound
    public var auth: Auth
    /// Datasets that clients push to (seed 000), by id (the seed's `type`).
    public var datasets: [String: DatasetDefinition]
    /// Named parameterized queries over the datasets, queried like datasets (seed 001).
    public var queries: [String: NamedQuery]
    /// Datasources served by source plugins; `store` (the datasets file) is built in.
    public var datasources: [String: DatasourceDefinition]
    /// Data models (seed 001): a semantic layer of dimensions and measures over datasets
    /// and named queries, queried at /api/v1/datamodel/{id}/query.
    public var datamodels: [String: DataModelDefinition]
    public var smtp: SMTP
    public var exports: Exports
    public var dataflows: Dataflows
    public var logLevel: String

    /// The embedded defaults, as JSON: the same shape the configuration file has.
    public static let defaultsJSON = """
        {
          "server": {"host": "127.0.0.1", "port": 8080, "maxBodyBytes": 67108864, "idleTimeoutSeconds": 30,
                     "writeStallSeconds": 60, "maxConnections": 1000, "maxConnectionsPerAddress": 256,
                     "shutdownGraceSeconds": 10},
          "limits": {"queryTimeoutSeconds": 300, "maxValueBytes": 16777216, "maxTempBytes": 1073741824, "maxConcurrentRequests": 16,
                     "maxConcurrentPerClient": 4, "queueTimeoutSeconds": 30, "maxQueuedPerClient": 256, "maxQueued": 4096},
          "store": {"url": "", "passwordFile": "", "maxConnections": 10, "connectTimeoutSeconds": 10, "leaseSeconds": 60,
                    "datasets": "", "readerUrl": ""},
          "dataDir": "gateway-data",
          "plugins": {"directories": [], "builtin": true, "config": {}, "isolation": {}, "untrustedDirectories": [], "workerMemoryMegabytes": 0, "workerCpuSeconds": 0, "workerLoadSeconds": 30, "workersKeptIdle": 2},
          "http": {"allowHosts": [], "timeoutSeconds": 30,
                   "maxTimeoutSeconds": 300, "maxConcurrent": 16, "maxResponseBytes": 67108864},
          "auth": {"signedTokenWindowSeconds": 300, "signedKeys": {}, "secretKey": "",
                   "jwt": {"issuer": "", "audiences": [], "jwksUrl": "", "jwksFile": "",
                           "algorithms": ["RS256", "ES256", "EdDSA"], "leewaySeconds": 60, "keysRefreshSeconds": 300,
                           "keysMinRefreshSeconds": 10, "keysTimeoutSeconds": 5, "nameClaim": "sub",
                           "scopesClaim": "", "groupsClaim": "", "groupScopes": {}},
                   "visitorIdentities": {}},
          "datasets": {},
          "queries": {},
          "datasources": {},
          "datamodels": {},
          "smtp": {"host": "", "port": 25, "from": "gateway@localhost", "username": "", "password": "",
                   "starttls": "auto", "caFile": ""},
          "exports": {"requireToken": true, "retentionDays": 7, "callbackRetries": 3, "callbackBackoffMs": 1000,
                      "maxRowsPerFile": 0, "concurrency": 8, "maxRunning": 4, "maxQueued": 16, "publicBaseUrl": "",
                      "downloadLinkHours": 24, "directory": ""},
          "dataflows": {"requireToken": true, "maxRunning": 4, "retentionDays": 30,
                        "script": {"baseUrl": "", "model": "", "apiKey": "", "timeoutSeconds": 60}},
          "logLevel": "info"
        }
        """

    public static var defaults: GatewayConfig {
        // The embedded JSON is a constant of this file; a failure here is a build defect.
        try! load(file: nil, environment: [:])
    }

    /// Loads the configuration: defaults, then `file` (if given), then `environment`.
    public static func load(file: String?, environment: [String: String]) throws -> GatewayConfig {
        guard let file else { return try load(contents: nil, source: "", environment: environment) }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw InvalidInput("cannot read configuration file \(file)")
        }
        return try load(contents: data, source: file, environment: environment)
    }

    /// The same from a file's bytes (`source` names it in messages).
    public static func load(contents: Data?, source: String, environment: [String: String]) throws -> GatewayConfig {
        var merged = try parse(Data(defaultsJSON.utf8), source: "embedded defaults")
        if let contents {
            let overlay = try parse(contents, source: source)
            merged = try ConfigMerge.merge(merged, overlay, path: "", source: source)
        }
        merged = try ConfigMerge.applyEnvironment(environment, to: merged)
        let config: GatewayConfig
        do {
            let data = try JSONSerialization.data(withJSONObject: merged)
            config = try JSONDecoder().decode(GatewayConfig.self, from: data)
        } catch {
            throw InvalidInput("configuration: \(error)")
        }
        try config.validate()
        return config
    }

    /// Every number within a range the gateway can honour: a value out of range is refused
    /// at start-up with its name, not discovered later as an overflow.
    public func validate() throws {
        func check(_ value: Int, _ low: Int, _ name: String, upTo high: Int) throws {
            try check(value, low...high, name)
        }
        func check(_ value: Int, _ range: ClosedRange<Int>, _ name: String) throws {
            guard range.contains(value) else {
                throw InvalidInput("configuration: \(name) must be \(range.lowerBound) to \(range.upperBound), not \(value)")
            }
        }
        for (id, query) in queries.sorted(by: { $0.key < $1.key }) {
            try ResourceId.check(id, what: "query")
            if let problem = RowFilterDeclaration.problem(query.rowFilter) { throw InvalidInput("configuration: query '\(id)': \(problem)") }
        }
        for id in datasources.keys { try ResourceId.check(id, what: "datasource") }
        for id in datamodels.keys { try ResourceId.check(id, what: "data model") }
        for (id, mode) in plugins.isolation where PluginIsolation(rawValue: mode) == nil {
            throw InvalidInput("configuration: plugins.isolation.\(id) must be \"in_process\" or \"process\", not '\(mode)'")
        }
        for (id, value) in plugins.config {
            guard case .object = value else { throw InvalidInput("configuration: plugins.config.\(id) must be an object") }
        }
        try check(server.port, 0...65_535, "server.port")
        try check(plugins.workerMemoryMegabytes, 0...1_048_576, "plugins.workerMemoryMegabytes")
        try check(plugins.workerCpuSeconds, 0...31_536_000, "plugins.workerCpuSeconds")
        try check(plugins.workerLoadSeconds, 1...3_600, "plugins.workerLoadSeconds")
        try check(plugins.workersKeptIdle, 0...64, "plugins.workersKeptIdle")
        try check(store.maxConnections, 1...1_000, "store.maxConnections")
        try check(store.connectTimeoutSeconds, 1...3_600, "store.connectTimeoutSeconds")
        try check(store.leaseSeconds, 15...86_400, "store.leaseSeconds")
        if !store.url.isEmpty { _ = try StoreLocation(store) }
        guard ["", "sqlite", "postgres"].contains(store.datasets) else {
            throw InvalidInput(
                "configuration: store.datasets must be \"sqlite\", \"postgres\" or \"\" (postgres when store.url is set), not '\(store.datasets)'")
        }
        if store.datasets == "postgres" && store.url.isEmpty {
            throw InvalidInput("configuration: store.datasets is \"postgres\": set store.url to the PostgreSQL database")
        }
        if !store.readerUrl.isEmpty { _ = try StoreLocation(url: store.readerUrl, of: store, key: "store.readerUrl") }
        // Below 2 GB: one cell of a body is then always addressable with 32 bits.
        try check(server.maxBodyBytes, 1...Int(Int32.max), "server.maxBodyBytes")
        try check(server.idleTimeoutSeconds, 1...3_600, "server.idleTimeoutSeconds")
        try check(server.writeStallSeconds, 1...3_600, "server.writeStallSeconds")
        try check(server.maxConnections, 1...1_000_000, "server.maxConnections")
        try check(server.maxConnectionsPerAddress, 1...1_000_000, "server.maxConnectionsPerAddress")
        try check(server.shutdownGraceSeconds, 0...3_600, "server.shutdownGraceSeconds")
        try check(limits.queryTimeoutSeconds, 0...86_400, "limits.queryTimeoutSeconds")
        try check(limits.maxValueBytes, 1_024...1_000_000_000, "limits.maxValueBytes")
        try check(limits.maxTempBytes, 1 << 20, "limits.maxTempBytes", upTo: 1 << 50)
        try check(limits.maxConcurrentRequests, 1...10_000, "limits.maxConcurrentRequests")
        try check(limits.maxConcurrentPerClient, 1...10_000, "limits.maxConcurrentPerClient")
        try check(limits.queueTimeoutSeconds, 1...3_600, "limits.queueTimeoutSeconds")
        try check(limits.maxQueuedPerClient, 0...1_000_000, "limits.maxQueuedPerClient")
        try check(limits.maxQueued, 0...1_000_000, "limits.maxQueued")
        try check(http.timeoutSeconds, 1...86_400, "http.timeoutSeconds")
        try check(http.maxTimeoutSeconds, 1...86_400, "http.maxTimeoutSeconds")
        try check(http.maxConcurrent, 1...10_000, "http.maxConcurrent")
        try check(http.maxResponseBytes, 1_024...Int(Int32.max), "http.maxResponseBytes")
        try check(auth.signedTokenWindowSeconds, 1...86_400 * 366, "auth.signedTokenWindowSeconds")
        try auth.jwt.validate()
        try check(smtp.port, 1...65_535, "smtp.port")
        guard ["auto", "required", "off"].contains(smtp.starttls) else {
            throw InvalidInput("configuration: smtp.starttls must be auto, required or off, not '\(smtp.starttls)'")
        }
        guard smtp.starttls != "off" || smtp.username.isEmpty else {
            throw InvalidInput("configuration: smtp.starttls is off but smtp.username is set: credentials are never sent over a plain connection")
        }
        try check(exports.retentionDays, 0...36_500, "exports.retentionDays")
        try check(exports.callbackRetries, 0...100, "exports.callbackRetries")
        try check(exports.callbackBackoffMs, 0...3_600_000, "exports.callbackBackoffMs")
        try check(exports.maxRowsPerFile, 0...1_048_576, "exports.maxRowsPerFile")
        try check(exports.concurrency, 1...64, "exports.concurrency")
        try check(exports.maxRunning, 1...256, "exports.maxRunning")
        try check(exports.maxQueued, 0...10_000, "exports.maxQueued")
        try check(exports.downloadLinkHours, 1...8_760, "exports.downloadLinkHours")
        try check(dataflows.maxRunning, 1...256, "dataflows.maxRunning")
        try check(dataflows.retentionDays, 0...36_500, "dataflows.retentionDays")
        try check(dataflows.script.timeoutSeconds, 1...3_600, "dataflows.script.timeoutSeconds")
    }

    private static func parse(_ data: Data, source: String) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw InvalidInput("\(source): not a JSON object")
        }
        return object
    }

    /// The folders scanned for plugins, in order: the built-in folder (unless
    /// `plugins.builtin` is false), then `plugins.directories` (empty: `./plugins`).
    public var pluginDirectories: [String] {
        let listed = plugins.directories.isEmpty ? [FileManager.default.currentDirectoryPath + "/plugins"] : plugins.directories
        guard plugins.builtin else { return listed }
        let builtin = Self.builtinPluginDirectory
        return [builtin] + listed.filter { URL(fileURLWithPath: $0).standardizedFileURL.path != builtin }
    }

    /// The gateway binary's folder, where the shipped plugins are built and installed.
    public static var builtinPluginDirectory: String {
        // argv[0] may be a bare name found through PATH; the kernel knows the real file.
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent().standardizedFileURL.path
    }

    /// This configuration as JSON with secrets masked, for `gateway config` and logs.
    public func redactedJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var copy = self
        copy.auth.signedKeys = copy.auth.signedKeys.mapValues { _ in "********" }
        if !copy.smtp.password.isEmpty { copy.smtp.password = "********" }
        copy.store.url = StoreLocation.redacted(copy.store.url)
        copy.store.readerUrl = StoreLocation.redacted(copy.store.readerUrl)
        if !copy.auth.secretKey.isEmpty { copy.auth.secretKey = "********" }
        if !copy.dataflows.script.apiKey.isEmpty { copy.dataflows.script.apiKey = "********" }
        return String(decoding: try encoder.encode(copy), as: UTF8.self)
    }
}

/// Deep-merges configuration layers, refusing keys the defaults do not know (a typo must
/// not be silently ignored). An object that is empty in the defaults is an open map.
enum ConfigMerge {
    static func merge(_ base: [String: Any], _ overlay: [String: Any], path: String, source: String) throws -> [String: Any] {
        var result = base
        let open = base.isEmpty
        for (key, value) in overlay {
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            guard let existing = base[key] else {
                guard open else { throw InvalidInput("\(source): unknown setting '\(keyPath)'") }
                result[key] = value
                continue
            }
            if let baseObject = existing as? [String: Any] {
                guard let overlayObject = value as? [String: Any] else {
                    throw InvalidInput("\(source): '\(keyPath)' must be an object")
                }
                result[key] = try merge(baseObject, overlayObject, path: keyPath, source: source)
            } else {
                guard sameKind(existing, value) else {
                    throw InvalidInput("\(source): '\(keyPath)' must be \(kindName(existing))")
                }
                result[key] = value
            }
        }
        return result
    }

    /// GATEWAY_SERVER_PORT=9000 sets server.port; lists are comma-separated.
    static func applyEnvironment(_ environment: [String: String], to config: [String: Any], prefix: String = "GATEWAY") throws -> [String: Any] {
        var result = config
        for (key, value) in config {
            let name = "\(prefix)_\(envName(key))"
            if let object = value as? [String: Any], !object.isEmpty {
                result[key] = try applyEnvironment(environment, to: object, prefix: name)
                continue
            }
            guard let raw = environment[name] else { continue }
            result[key] = try convert(raw, like: value, name: name)
        }
        return result
    }

    /// "maxBodyBytes" → "MAX_BODY_BYTES".
    static func envName(_ key: String) -> String {
        var out = ""
        for c in key {
            if c.isUppercase && !out.isEmpty { out.append("_") }
            out.append(contentsOf: c.uppercased())
        }
        return out
    }

    private static func convert(_ raw: String, like value: Any, name: String) throws -> Any {
        switch value {
        case is [Any]:
            return raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case let n as NSNumber where String(cString: n.objCType) == "c":  // a JSON true/false
            guard let parsed = ["true": true, "1": true, "false": false, "0": false][raw.lowercased()] else {
                throw InvalidInput("\(name) must be true or false")
            }
            return parsed
        case is NSNumber:
            guard let n = Int(raw) else { throw InvalidInput("\(name) must be a whole number") }
            return n
        case is [String: Any]:
            guard let object = try? JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any] else {
                throw InvalidInput("\(name) must be a JSON object")
            }
            return object
        default:
            return raw
        }
    }

    private static func sameKind(_ a: Any, _ b: Any) -> Bool {
        switch (a, b) {
        case (is String, is String), (is [Any], is [Any]), (is NSNumber, is NSNumber): true
        default: false
        }
    }

    private static func kindName(_ a: Any) -> String {
        switch a {
        case is String: "a string"
        case is [Any]: "a list"
        case is NSNumber: "a number or boolean"
        default: "a value"
        }
    }
}
