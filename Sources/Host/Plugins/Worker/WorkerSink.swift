import Foundation
import PluginABI
import PluginKit

/// A sink instance in a worker process: the same calls, made over the worker's socket. Each
/// batch crosses as its columns' values (built anew on the worker's side); the rows the
/// destination refuses come back as the plugin reports them.
final class WorkerSinkHandle: SinkInstance {
    let plugin: LoadedPlugin
    let context: InstanceContext
    private let worker: WorkerProcess
    private let pool: WorkerPool
    private let link: WorkerLink

    init(plugin: LoadedPlugin, config: String, context: InstanceContext, worker: WorkerProcess, pool: WorkerPool) throws(PluginError) {
        self.plugin = plugin
        self.context = context
        self.worker = worker
        self.pool = pool
        link = WorkerLink(worker)
        // The instance's cancel reaches its worker while the instance lives, not after.
        context.onCancel { [link] in link.cancel() }
        worker.openingInstance()
        var w = WireWriter()
        w.string(config)
        w.string(context.instanceName)
        _ = try worker.call(.openSink, w.bytes, what: "open", context: context)
    }

    deinit {
        link.cut()
        pool.instanceEnded(worker, context: context, plugin: plugin)
    }

    func begin(_ schema: OwnedSchema) throws {
        _ = try worker.call(.begin, WorkerBatches.encode(fields: schema.fields), what: "begin", context: context)
    }

    func write(_ batch: OwnedBatch) throws {
        _ = try worker.call(.write, WorkerBatches.encode(batch.view), what: "write_batch", context: context)
    }

    func commit() throws {
        _ = try worker.call(.commit, what: "commit", context: context)
        worker.succeeded()
    }

    /// Best effort, as in process: a worker that died already has nothing left to roll back.
    func abort() { _ = try? worker.call(.abort, what: "abort", context: context) }
}
