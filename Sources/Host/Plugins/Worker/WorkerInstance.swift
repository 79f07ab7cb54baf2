import Foundation
import PluginABI
import PluginKit

/// What every plugin instance in a worker process shares, whatever its kind: its worker (a
/// kept one or a new one), the open call, the way a cancel reaches the worker while the
/// instance lives, and its end (the worker released and kept, or let go).
class WorkerInstance {
    let plugin: LoadedPlugin
    let context: InstanceContext
    let worker: WorkerProcess
    private let pool: WorkerPool
    private let link: WorkerLink

    /// Opens the instance in `worker` with `kind`'s call: config and instance name, then
    /// what `more` adds.
    init(
        plugin: LoadedPlugin, config: String, context: InstanceContext, worker: WorkerProcess, pool: WorkerPool, open kind: WireKind,
        more: (inout WireWriter) -> Void = { _ in }
    ) throws(PluginError) {
        self.plugin = plugin
        self.context = context
        self.worker = worker
        self.pool = pool
        link = WorkerLink(worker)
        // The instance's cancel reaches its worker while the instance lives, not after: a
        // worker kept for another instance is that one's.
        context.onCancel { [link] in link.cancel() }
        worker.openingInstance()
        var w = WireWriter()
        w.string(config)
        w.string(context.instanceName)
        more(&w)
        _ = try worker.call(kind, w.bytes, what: "open", context: context)
    }

    deinit {
        link.cut()
        pool.instanceEnded(worker, context: context, plugin: plugin)
    }

    /// One of the instance's calls, answered by its worker.
    @discardableResult
    func call(_ kind: WireKind, _ payload: [UInt8] = [], what: String) throws(PluginError) -> [UInt8] {
        try worker.call(kind, payload, what: what, context: context)
    }
}

/// A sink instance in a worker process. Each batch crosses as its columns' values (built anew
/// on the worker's side); the rows the destination refuses come back as the plugin reports
/// them.
final class WorkerSinkHandle: WorkerInstance, SinkInstance {
    init(plugin: LoadedPlugin, config: String, context: InstanceContext, worker: WorkerProcess, pool: WorkerPool) throws(PluginError) {
        try super.init(plugin: plugin, config: config, context: context, worker: worker, pool: pool, open: .openSink)
    }

    func begin(_ schema: OwnedSchema) throws { try call(.begin, WorkerBatches.encode(fields: schema.fields), what: "begin") }
    func write(_ batch: OwnedBatch) throws { try call(.write, WorkerBatches.encode(batch.view), what: "write_batch") }

    func commit() throws {
        try call(.commit, what: "commit")
        worker.succeeded()
    }

    /// Best effort, as in process: a worker that died already has nothing left to roll back.
    func abort() { _ = try? call(.abort, what: "abort") }
}

/// A format instance in a worker process: the bytes it writes come back over the socket
/// while its call runs, and go to `write` as an in-process format's would.
final class WorkerFormatHandle: WorkerInstance, FormatInstance {
    init(
        plugin: LoadedPlugin, config: String, context: InstanceContext, worker: WorkerProcess, pool: WorkerPool,
        write: @escaping (UnsafeRawBufferPointer) -> gw_status
    ) throws(PluginError) {
        worker.output(to: write)
        try super.init(plugin: plugin, config: config, context: context, worker: worker, pool: pool, open: .openFormat)
    }

    deinit { worker.output(to: nil) }

    func begin(_ schema: OwnedSchema) throws { try call(.begin, WorkerBatches.encode(fields: schema.fields), what: "begin") }
    func write(_ batch: OwnedBatch) throws { try call(.write, WorkerBatches.encode(batch.view), what: "write_batch") }

    func finish() throws {
        try call(.end, what: "finish")
        worker.succeeded()
    }

    @discardableResult
    func writeError(_ message: String) -> Bool {
        var w = WireWriter()
        w.string(message)
        return (try? call(.writeError, w.bytes, what: "write_error"))?.first == 1
    }
}

/// An exporter instance in a worker process: it writes its files into the export's folder
/// itself; the gateway lists them when it has finished.
final class WorkerExporterHandle: WorkerInstance, ExporterInstance {
    let outputDirectory: String

    init(
        plugin: LoadedPlugin, config: String, context: InstanceContext, worker: WorkerProcess, pool: WorkerPool,
        outputDirectory: String, baseName: String
    ) throws(PluginError) {
        self.outputDirectory = outputDirectory
        try super.init(plugin: plugin, config: config, context: context, worker: worker, pool: pool, open: .openExporter) { w in
            w.string(outputDirectory)
            w.string(baseName)
        }
    }

    func begin(_ schema: OwnedSchema) throws { try call(.begin, WorkerBatches.encode(fields: schema.fields), what: "begin") }
    func write(_ batch: OwnedBatch) throws { try call(.write, WorkerBatches.encode(batch.view), what: "write_batch") }

    func finish() throws {
        try call(.end, what: "finish")
        worker.succeeded()
    }
}
