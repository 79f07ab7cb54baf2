import Foundation
import PluginABI
import PluginKit

/// Opens plugin instances (sources, sinks, formats, exporters) the way `plugins.isolation`
/// says: in the gateway's process, or in a worker process (a kept idle one, else a new one).
public struct PluginInstanceOpener: InstanceOpening {
    let isolation: [String: String]
    /// Folders whose plugins run in workers unless `isolation` names them (standardized).
    let untrusted: Set<String>
    let http: GatewayConfig.Outbound
    /// How each plugin's workers have been ending (crashes in a row, backoff).
    public let health = WorkerHealth()
    /// The `gateway` binary workers run (`plugin-worker`).
    let workerExecutable: String
    let limits: WorkerLimits
    /// Idle workers kept for the next instances. None under a CPU limit: RLIMIT_CPU counts a
    /// process's whole life, so a reused worker would meet it early.
    let pool: WorkerPool

    public init(
        isolation: [String: String], untrustedDirectories: [String] = [], http: GatewayConfig.Outbound, limits: WorkerLimits = WorkerLimits(),
        keptIdle: Int = 2, workerExecutable: String = PluginInstanceOpener.defaultWorkerExecutable
    ) {
        self.isolation = isolation
        untrusted = Set(untrustedDirectories.map(PluginIsolation.standardized))
        self.http = http
        self.limits = limits
        self.workerExecutable = workerExecutable
        pool = WorkerPool(keptPerPlugin: limits.cpuSeconds > 0 ? 0 : keptIdle, memoryLimitMegabytes: limits.memoryMB)
    }

    /// How the plugin runs, as `plugins.isolation` and `plugins.untrustedDirectories` say.
    public func isolation(of plugin: LoadedPlugin) -> PluginIsolation {
        PluginIsolation.of(plugin.id, path: plugin.path, in: isolation, untrusted: untrusted)
    }

    /// Refuses to start a worker while the plugin waits out its backoff (its workers kept
    /// crashing): a 503 saying when.
    public func mayStart(_ plugin: LoadedPlugin) throws {
        guard isolation(of: plugin) == .process else { return }
        try health.checkStart(plugin.id)
    }

    /// Lets the idle workers go (at the gateway's shutdown); none is kept afterwards.
    public func closeIdleWorkers() { pool.closeAll() }

    /// Idle workers the plugin keeps now.
    public func idleWorkers(_ plugin: LoadedPlugin) -> Int { pool.idleCount(plugin) }

    /// The `gateway` beside the running executable: the gateway itself when it runs, the one
    /// built beside the tests when they do.
    public static var defaultWorkerExecutable: String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("gateway").path
    }

    public func source(_ plugin: LoadedPlugin, config: String, context: InstanceContext) throws(PluginError) -> any SourceInstance {
        switch isolation(of: plugin) {
        case .inProcess: return try SourceHandle(plugin: plugin, config: config, context: context)
        case .process: return try WorkerSourceHandle(plugin: plugin, config: config, context: context, worker: try worker(plugin), pool: pool)
        }
    }

    public func sink(_ plugin: LoadedPlugin, config: String, context: InstanceContext) throws(PluginError) -> any SinkInstance {
        switch isolation(of: plugin) {
        case .inProcess: return try SinkHandle(plugin: plugin, config: config, context: context)
        case .process: return try WorkerSinkHandle(plugin: plugin, config: config, context: context, worker: try worker(plugin), pool: pool)
        }
    }

    public func format(
        _ plugin: LoadedPlugin, config: String, context: InstanceContext, write: @escaping (UnsafeRawBufferPointer) -> gw_status
    ) throws(PluginError) -> any FormatInstance {
        switch isolation(of: plugin) {
        case .inProcess: return try FormatHandle(plugin: plugin, config: config, context: context, write: write)
        case .process:
            return try WorkerFormatHandle(plugin: plugin, config: config, context: context, worker: try worker(plugin), pool: pool, write: write)
        }
    }

    public func exporter(
        _ plugin: LoadedPlugin, config: String, context: InstanceContext, outputDirectory: String, baseName: String
    ) throws(PluginError) -> any ExporterInstance {
        switch isolation(of: plugin) {
        case .inProcess:
            return try ExporterHandle(plugin: plugin, config: config, context: context, outputDirectory: outputDirectory, baseName: baseName)
        case .process:
            return try WorkerExporterHandle(
                plugin: plugin, config: config, context: context, worker: try worker(plugin), pool: pool, outputDirectory: outputDirectory,
                baseName: baseName)
        }
    }

    /// A kept idle worker of the plugin, else a new one. (Whoever opens checks the plugin's
    /// backoff first: `health.checkStart`.)
    private func worker(_ plugin: LoadedPlugin) throws(PluginError) -> WorkerProcess {
        if let kept = pool.take(plugin) { return kept }
        return try WorkerProcess(
            executable: workerExecutable, pluginPath: plugin.loadedFrom, pluginId: plugin.id, http: http, limits: limits, health: health)
    }
}

/// What one worker may use (`plugins.workerMemoryMegabytes`, `plugins.workerCpuSeconds`; 0: no limit).
public struct WorkerLimits: Sendable {
    public var memoryMB = 0
    public var cpuSeconds = 0
    /// How long the gateway waits for a worker to load its plugin before it kills it.
    public var loadSeconds = 30
    public init(memoryMB: Int = 0, cpuSeconds: Int = 0, loadSeconds: Int = 30) {
        self.memoryMB = memoryMB
        self.cpuSeconds = cpuSeconds
        self.loadSeconds = loadSeconds
    }
}
