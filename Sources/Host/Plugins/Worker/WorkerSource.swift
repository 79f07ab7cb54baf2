import Foundation
import PluginABI
import PluginKit

/// A source plugin's instance, run in the gateway's process (`SourceHandle`) or in a worker
/// process (`WorkerSourceHandle`), per `plugins.isolation`: the pipeline's source end opens
/// one and never knows which.
public protocol SourceInstance: AnyObject {
    var plugin: LoadedPlugin { get }
    var context: InstanceContext { get }
    /// Starts a read; its rows keep the instance open until they are dropped.
    func rows(requestJSON: String) throws -> any SourceRows
    /// Tells the source its last read was delivered (it may commit cursors).
    func finish() throws
}

/// The rows of one read, batch by batch.
public protocol SourceRows: AnyObject {
    var schema: OwnedSchema { get }
    func next() throws -> OwnedBatch?
    func finish() throws
}

extension SourceHandle: SourceInstance {
    public func rows(requestJSON: String) throws -> any SourceRows { try read(requestJSON: requestJSON) }
}

extension SourceStream: SourceRows {}

/// Opens source instances the way `plugins.isolation` says.
public struct SourceInstances: Sendable {
    let isolation: [String: String]
    let http: GatewayConfig.Outbound
    /// How each plugin's workers have been ending (crashes in a row, backoff).
    public let health = WorkerHealth()
    /// The `gateway` binary workers run (`plugin-worker`).
    let workerExecutable: String
    let limits: WorkerLimits

    public init(
        isolation: [String: String], http: GatewayConfig.Outbound, limits: WorkerLimits = WorkerLimits(),
        workerExecutable: String = SourceInstances.defaultWorkerExecutable
    ) {
        self.isolation = isolation
        self.http = http
        self.limits = limits
        self.workerExecutable = workerExecutable
    }

    /// The `gateway` beside the running executable: the gateway itself when it runs, the one
    /// built beside the tests when they do.
    public static var defaultWorkerExecutable: String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("gateway").path
    }

    public func open(_ plugin: LoadedPlugin, config: String, context: InstanceContext) throws(PluginError) -> any SourceInstance {
        switch PluginIsolation.of(plugin.id, in: isolation) {
        case .inProcess: return try SourceHandle(plugin: plugin, config: config, context: context)
        case .process:
            return try WorkerSourceHandle(
                plugin: plugin, config: config, context: context, executable: workerExecutable, http: http, limits: limits, health: health)
        }
    }
}

/// What one worker may use (`plugins.workerMemoryMegabytes`, `plugins.workerCpuSeconds`; 0: no limit).
public struct WorkerLimits: Sendable {
    public var memoryMB = 0
    public var cpuSeconds = 0
    public init(memoryMB: Int = 0, cpuSeconds: Int = 0) {
        self.memoryMB = memoryMB
        self.cpuSeconds = cpuSeconds
    }
}

/// A source instance in a worker process: the same calls, made over the worker's socket.
final class WorkerSourceHandle: SourceInstance {
    let plugin: LoadedPlugin
    let context: InstanceContext
    fileprivate let worker: WorkerProcess

    init(
        plugin: LoadedPlugin, config: String, context: InstanceContext, executable: String, http: GatewayConfig.Outbound, limits: WorkerLimits,
        health: WorkerHealth
    ) throws(PluginError) {
        self.plugin = plugin
        self.context = context
        worker = try WorkerProcess(
            executable: executable, pluginPath: plugin.loadedFrom, pluginId: plugin.id, http: http, limits: limits, health: health)
        context.onCancel { [weak worker] in worker?.cancel() }
        var w = WireWriter()
        w.string(config)
        w.string(context.instanceName)
        _ = try worker.call(.open, w.bytes, what: "open", context: context)
    }

    func rows(requestJSON: String) throws -> any SourceRows {
        var w = WireWriter()
        w.string(requestJSON)
        let fields = try WorkerBatches.decodeFields(try worker.call(.read, w.bytes, what: "read", context: context))
        return WorkerRows(source: self, fields: fields)
    }

    func finish() throws {
        _ = try worker.call(.finish, what: "finish", context: context)
    }
}

/// A read's rows, built anew from what the worker sends: every value checked again here.
final class WorkerRows: SourceRows {
    let schema: OwnedSchema
    private let source: WorkerSourceHandle
    private let builder: BatchBuilder
    private var ended = false

    init(source: WorkerSourceHandle, fields: [ArrowField]) {
        self.source = source
        schema = OwnedSchema(fields: fields)
        builder = BatchBuilder(fields: fields)
    }

    func next() throws -> OwnedBatch? {
        guard !ended else { return nil }
        let reply = try source.worker.call(.next, what: "next", context: source.context)
        guard reply.first == 1 else {
            ended = true
            source.worker.readCompleted()
            return nil
        }
        do {
            return try WorkerBatches.decode(Array(reply.dropFirst()), into: builder)
        } catch {
            throw PluginError(status: GW_INTERNAL, "source plugin '\(source.plugin.id)' sent a batch the gateway cannot read: \(error)")
        }
    }

    func finish() throws { try source.finish() }

    /// Dropped before its end (an error, a cancel, a client gone): the work is abandoned.
    deinit { if !ended { source.context.cancel() } }
}
