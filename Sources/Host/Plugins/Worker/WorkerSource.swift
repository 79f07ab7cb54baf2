import Foundation
import PluginABI
import PluginKit

/// A source instance in a worker process: the same calls, made over the worker's socket.
final class WorkerSourceHandle: WorkerInstance, SourceInstance {
    init(plugin: LoadedPlugin, config: String, context: InstanceContext, worker: WorkerProcess, pool: WorkerPool) throws(PluginError) {
        try super.init(plugin: plugin, config: config, context: context, worker: worker, pool: pool, open: .open)
    }

    func rows(requestJSON: String) throws -> any SourceRows {
        var w = WireWriter()
        w.string(requestJSON)
        let fields = try WorkerBatches.decodeFields(try call(.read, w.bytes, what: "read"))
        return WorkerRows(source: self, fields: fields)
    }

    func finish() throws { try call(.finish, what: "finish") }
}

/// A read's rows, built anew from what the worker sends: every value checked again here.
final class WorkerRows: SourceRows {
    let schema: OwnedSchema
    private let source: WorkerSourceHandle
    private let builder: BatchBuilder
    private var ended = false
    /// The worker reads each next batch as soon as it has sent one (the reader wants them all).
    private var readAhead = false

    init(source: WorkerSourceHandle, fields: [ArrowField]) {
        self.source = source
        schema = OwnedSchema(fields: fields)
        builder = BatchBuilder(fields: fields)
    }

    func next() throws -> OwnedBatch? {
        guard !ended else { return nil }
        let reply = try source.call(.next, [readAhead ? 1 : 0], what: "next")
        guard reply.first == 1 else {
            ended = true
            source.worker.succeeded()
            return nil
        }
        do {
            return try WorkerBatches.decode(reply, from: 1, into: builder)
        } catch {
            throw PluginError(status: GW_INTERNAL, "source plugin '\(source.plugin.id)' sent a batch the gateway cannot read: \(error)")
        }
    }

    func finish() throws { try source.finish() }

    /// The batch after each one is read while the gateway takes this one in: the worker's
    /// reading and the gateway's checking and writing overlap, as in process.
    func willBeReadAhead() { readAhead = true }

    /// Dropped before its end (an error, a cancel, a client gone): the work is abandoned.
    deinit { if !ended { source.context.cancel() } }
}
