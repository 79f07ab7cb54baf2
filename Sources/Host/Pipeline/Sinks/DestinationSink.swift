import PluginKit
import Synchronization

/// Rows into another system through a sink plugin (ABI 1.2): the plugin's commit is the
/// destination's promise that every row arrived, which is what lets the pump finish the
/// source afterwards. Rows the destination refused one by one are counted here (and
/// written to the run's log by whoever watches `onRejected`).
final class DestinationSink: BatchSink {
    private let handle: SinkHandle
    private final class Count: Sendable { let value = Atomic<Int64>(0) }
    private let rejections = Count()
    private var begun = false
    private var aborted = false

    /// Rows the destination refused so far.
    var rowsRejected: Int64 { rejections.value.load(ordering: .relaxed) }

    init(_ handle: SinkHandle, onRejected: @escaping @Sendable (Int64, String) -> Void) {
        self.handle = handle
        handle.context.onRejectedRow { [rejections] row, reason in
            rejections.value.add(1, ordering: .relaxed)
            onRejected(row, reason)
        }
    }

    func begin(_ schema: OwnedSchema) throws {
        begun = true
        try handle.begin(schema)
    }

    func write(_ batch: OwnedBatch) throws { try handle.write(batch) }

    func commit() throws { try handle.commit() }

    /// The ABI promises abort only after begin: a run that failed before it has nothing to undo.
    func abort() {
        guard begun, !aborted else { return }
        aborted = true
        handle.abort()
    }
}
