import CLinuxExtras
import Foundation
import Logging
import Synchronization

/// The composition root: everything one running gateway is made of, built from its
/// configuration. `gateway serve` and the tests both start here.
public final class Gateway: Sendable {
    public let config: GatewayConfig
    public let dataDirectory: String
    public let store: any GatewayStore
    public let registry: PluginRegistry
    public let services: HostServiceProvider
    public let tokens: ApiTokens
    /// Where a request's credential becomes an identity: gateway tokens and `auth.jwt`.
    public let authenticator: Authenticator
    public let signedTokens: SignedTokenVerifier
    let datasetTables: any DatasetTables
    /// Opens source and sink plugins' instances, in process or in workers (`plugins.isolation`).
    public let instances: PluginInstanceOpener
    public let datasets: DatasetCatalog
    public let datamodels: DataModelCatalog
    public let uploads: UploadStore
    public let exports: ExportService
    public let dataflows: DataflowService
    /// The gateway's own key: signs download links, keys request hashes.
    public let secret: ServerSecret
    /// Bounds the queries, pushes and uploads running at once.
    public let limiter: RequestLimiter
    public let logger: Logger
    private let sinkOpener: SinkOpener
    /// The time everything in this gateway is stamped, scheduled and retried by.
    public let clock: any GatewayClock

    /// When the plugins load: before `init` returns (the tests, the CLI's one-shot commands),
    /// or later, by `loadPluginsInBackground()` once the server listens (`gateway serve`: a
    /// slow plugin never delays serving).
    public enum PluginLoading: Sendable { case now, later }

    /// Creates the data folder if needed, opens (and migrates) the store, and scans the
    /// plugin directories (unless `loadPlugins` is `.later`).
    public init(
        config: GatewayConfig, logger: Logger = Logger(label: "gateway"), clock: any GatewayClock = SystemClock(),
        loadPlugins: PluginLoading = .now
    ) throws {
        try config.validate()
        GatewayMetrics.start()
        self.config = config
        self.logger = logger
        self.clock = clock
        let dataURL = URL(fileURLWithPath: config.dataDir).standardizedFileURL
        dataDirectory = dataURL.path
        // Private: the store holds tokens' hashes, plugin state (a connector's tokens) and data.
        try FileManager.default.createDirectory(
            atPath: dataDirectory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        if let mode = (try? FileManager.default.attributesOfItem(atPath: dataDirectory))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dataDirectory)
            logger.warning("the data folder \(dataDirectory) was readable by others (mode \(String(mode, radix: 8))): made private (0700)")
        }
        store = try SQLStore.open(
            config.store, dataDirectory: dataDirectory, clock: clock, worker: try WorkerId.load(dataDirectory: dataDirectory))
        // On a store shared by several gateways, plugins' locks and rate windows hold across them.
        services = HostServiceProvider(
            store: store, http: OutboundHTTP(config: config.http), logger: logger,
            coordination: PluginCoordination(shared: store.sharedByGateways ? store : nil))
        tokens = ApiTokens(store: store)
        let jwt = config.auth.jwt
        authenticator = Authenticator(
            tokens: tokens,
            jwt: jwt.enabled ? JWTVerifier(config: jwt, keys: IdentityProviderKeys(config: jwt, clock: clock, logger: logger), clock: clock) : nil)
        signedTokens = SignedTokenVerifier(store: store, windowSeconds: config.auth.signedTokenWindowSeconds)
        datasetTables =
            config.store.datasetsOnPostgres
            ? try PostgresDatasetTables(config: config, logger: logger)
            : try SQLiteDatasetTables(
                path: dataURL.appendingPathComponent("datasets.sqlite").path,
                maxValueBytes: config.limits.maxValueBytes, maxTempBytes: config.limits.maxTempBytes)
        datasets = try DatasetCatalog(config: config.datasets, store: store, tables: datasetTables)
        try ContextRowFilter.checkColumns(of: config.queries, tables: datasetTables)
        datamodels = try DataModelCatalog(
            config: config.datamodels, queries: config.queries, store: store, datasets: datasets,
            tables: datasetTables)
        instances = PluginInstanceOpener(
            isolation: config.plugins.isolation, untrustedDirectories: config.plugins.untrustedDirectories, http: config.http,
            limits: WorkerLimits(
                memoryMB: config.plugins.workerMemoryMegabytes, cpuSeconds: config.plugins.workerCpuSeconds,
                loadSeconds: config.plugins.workerLoadSeconds),
            keptIdle: config.plugins.workersKeptIdle)
        uploads = UploadStore(directory: dataURL.appendingPathComponent("uploads").path)
        limiter = RequestLimiter(
            maxTotal: config.limits.maxConcurrentRequests, maxPerClient: config.limits.maxConcurrentPerClient,
            maxQueuedPerClient: config.limits.maxQueuedPerClient, maxQueued: config.limits.maxQueued,
            maxWait: .seconds(config.limits.queueTimeoutSeconds))
        let directories = config.pluginDirectories
        registry = PluginRegistry(
            directories: directories, copyDirectory: dataURL.appendingPathComponent("plugin-copies").path, stateDirectory: dataDirectory,
            logger: logger)
        if loadPlugins == .now { registry.scan() }
        secret = try ServerSecret(configured: config.auth.secretKey, dataDirectory: dataDirectory)
        sinkOpener = SinkOpener(
            registry: registry, instances: instances, services: services, tables: datasetTables,
            pluginConfigs: config.plugins.config, maxRowsPerFile: config.exports.maxRowsPerFile)
        exports = try ExportService(
            store: store, sinks: sinkOpener, services: services, config: config.exports,
            directory: config.exports.directory.isEmpty
                ? dataURL.appendingPathComponent("exports").path : URL(fileURLWithPath: config.exports.directory).standardizedFileURL.path,
            secret: secret, logger: logger)
        dataflows = DataflowService(store: store, config: config.dataflows, logger: logger)
        dataflows.attach(self)
        exports.attach { [weak self] sourceType, body, owner in
            guard let self else { throw InvalidInput("the gateway has stopped") }
            return try ExportRequests.make(sourceType, body: body, owner: owner, gateway: self)
        }
        try exports.recoverAfterRestart()
        try exports.deleteExpired()
        try dataflows.recoverAfterRestart()
        try dataflows.deleteExpired()
        if loadPlugins == .now { logPluginUseProblems() }
    }

    /// Loads the plugins on a thread of its own and returns at once: each file is logged as
    /// it starts and ends loading, and each plugin serves as soon as it has loaded. Then
    /// the configured uses of plugins are checked, as after a rescan.
    public func loadPluginsInBackground(then done: @escaping @Sendable () -> Void = {}) {
        Thread.detachNewThread { [self] in
            rescanPlugins()
            done()
        }
    }

    /// Scans the plugin directories again and says, in the log, which configured uses of a
    /// plugin do not work after it.
    @discardableResult
    public func rescanPlugins() -> [String] {
        let changes = registry.scan()
        logPluginUseProblems()
        return changes
    }

    /// Every configured use of a plugin (datasources, `plugins.config`, active dataflows'
    /// plugin sources and targets), checked now against the plugins loaded now.
    public func pluginUses() -> [PluginUse] {
        let flows = (try? store.activeDataflows()) ?? []
        return PluginUseCheck.check(
            PluginUseCheck.wanted(config: config) + PluginUseCheck.wanted(flows: flows), registry: registry, instances: instances,
            services: services, scratch: "\(dataDirectory)/tmp")
    }

    private func logPluginUseProblems() {
        for use in pluginUses() where use.status != "ok" {
            logger.error("\(use.use): plugin '\(use.plugin)' is \(use.status): \(use.reason ?? "")")
        }
    }

    /// The opener of the pipeline's sinks; `services` when the plugin instances it makes
    /// should log elsewhere (a query's, to its request's logger).
    func sinks(services: HostServiceProvider? = nil) -> SinkOpener {
        guard let services else { return sinkOpener }
        return SinkOpener(
            registry: registry, instances: instances, services: services, tables: datasetTables,
            pluginConfigs: sinkOpener.pluginConfigs, maxRowsPerFile: sinkOpener.maxRowsPerFile)
    }

    public func shutdown() async {
        instances.closeIdleWorkers()
        await services.http.shutdown()
        await store.close()
    }

    /// The file holding the generated admin token.
    public var adminTokenPath: String { "\(dataDirectory)/admin-token" }

    /// Makes sure an admin token exists on first start and its secret is in the data
    /// folder (readable by the owner only). Returns true when it was created now.
    @discardableResult
    public func ensureAdminToken() throws -> Bool {
        if let existing = try? String(contentsOfFile: adminTokenPath, encoding: .utf8),
            try tokens.authenticate(existing.trimmingCharacters(in: .whitespacesAndNewlines)) != nil
        {
            return false
        }
        let (_, secret) = try tokens.create(name: "admin (generated)", scopes: ["admin"])
        guard
            FileManager.default.createFile(
                atPath: adminTokenPath, contents: Data((secret + "\n").utf8),
                attributes: [.posixPermissions: 0o600])
        else {
            throw InvalidInput("cannot write the admin token to \(adminTokenPath)")
        }
        return true
    }
}
