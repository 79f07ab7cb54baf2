import PluginKit
import Synchronization

/// Rows into another system through a sink plugin (ABI 1.2): the plugin's commit is the
/// destination's promise that every row arrived, which is what lets the pump finish the
/// source afterwards. Rows the destination refused one by one are counted here (and
/// written to the run's log by whoever watches `onRejected`).
///
/// A refusal is the plugin's word about a row it was given: only positions of rows handed
/// to it count, each once, however often (or wherever) the plugin reports them, so the
/// rows refused never exceed the rows written.
final class DestinationSink: BatchSink {
    private let handle: any SinkInstance
    private let refusals = Refusals()
    private var begun = false
    private var aborted = false

    /// Which rows were handed to the plugin and which it refused. Reports come on the
    /// thread of the plugin's call (write_batch or commit), while the pump waits in it.
    private final class Refusals: Sendable {
        private struct State {
            var handed: Int64 = 0
            var refused: Int64 = 0
            /// One bit per row handed to the plugin: set once it was refused.
            var bits: [UInt64] = []
            var ignored = 0
        }
        private let state = Mutex(State())

        func handed(_ rows: Int) { state.withLock { $0.handed += Int64(rows) } }

        var count: Int64 { state.withLock { $0.refused } }

        /// `.counted` when `row` is a row handed to the plugin and not refused before;
        /// else whether this is the first report ignored (the one worth a log line).
        func refuse(_ row: Int64) -> (counted: Bool, firstIgnored: Bool) {
            state.withLock { s in
                let word = Int(clamping: row >> 6), bit = UInt64(1) << UInt64(row & 63)
                guard row >= 0, row < s.handed else {
                    s.ignored += 1
                    return (false, s.ignored == 1)
                }
                if word >= s.bits.count { s.bits.append(contentsOf: repeatElement(0, count: word + 1 - s.bits.count)) }
                guard s.bits[word] & bit == 0 else {
                    s.ignored += 1
                    return (false, s.ignored == 1)
                }
                s.bits[word] |= bit
                s.refused += 1
                return (true, false)
            }
        }
    }

    /// Rows the destination refused so far (distinct rows it was given).
    var rowsRejected: Int64 { refusals.count }

    init(_ handle: any SinkInstance, onRejected: @escaping @Sendable (Int64, String) -> Void) {
        self.handle = handle
        handle.context.onRejectedRow { [refusals, logger = handle.context.logger] row, reason in
            let (counted, firstIgnored) = refusals.refuse(row)
            guard counted else {
                if firstIgnored {
                    logger.warning(
                        "the sink reported row \(row) refused, which it was not given or had refused already: not counted (nor are later such reports)")
                }
                return
            }
            onRejected(row, reason)
        }
    }

    func begin(_ schema: OwnedSchema) throws {
        begun = true
        try handle.begin(schema)
    }

    func write(_ batch: OwnedBatch) throws {
        refusals.handed(batch.length)
        try handle.write(batch)
    }

    func commit() throws { try handle.commit() }

    /// The ABI promises abort only after begin: a run that failed before it has nothing to undo.
    func abort() {
        guard begun, !aborted else { return }
        aborted = true
        handle.abort()
    }
}
