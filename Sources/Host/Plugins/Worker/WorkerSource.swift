import Foundation
import PluginABI
import PluginKit

/// A source instance in a worker process: the same calls, made over the worker's socket.
final class WorkerSourceHandle: SourceInstance {
    let plugin: LoadedPlugin
    let context: InstanceContext
    fileprivate let worker: WorkerProcess
    private let pool: WorkerPool
    private let link: WorkerLink

    init(plugin: LoadedPlugin, config: String, context: InstanceContext, worker: WorkerProcess, pool: WorkerPool) throws(PluginError) {
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
        _ = try worker.call(.open, w.bytes, what: "open", context: context)
    }

    deinit {
        link.cut()
        pool.instanceEnded(worker, context: context, plugin: plugin)
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
            source.worker.succeeded()
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
