import Foundation
import PluginKit

/// Reads the next batch on a worker while the sink is busy with the current one, so that on
/// two cores a run's reading (SQLite stepping, a plugin's parsing) and its writing (JSON
/// encoding, inserts) overlap. At most `depth` batches wait: memory stays bounded. The
/// source underneath is touched by one thread at a time: the caller for the first batch, then
/// the reader until it has ended (or been stopped and waited for), then the caller, for `finish`.
final class ReadAheadSource: BatchSource {
    let schema: OwnedSchema
    private let state: State

    /// What the reader and the caller share. @unchecked Sendable: every field is guarded by
    /// `condition`, and `inner` is used by the caller for the first batch, by the reader
    /// until `readerDone`, then by the caller again.
    private final class State: @unchecked Sendable {
        let inner: BatchSource
        let depth: Int
        let condition = NSCondition()
        var waiting: [Result<OwnedBatch?, Error>] = []
        /// The caller has read the first batch itself.
        var firstRead = false
        /// The reader thread was started.
        var started = false
        var stopping = false
        var readerDone = false

        init(_ inner: BatchSource, depth: Int) {
            self.inner = inner
            self.depth = depth
        }

        func read() {
            while true {
                condition.lock()
                while waiting.count >= depth && !stopping { condition.wait() }
                if stopping {
                    readerDone = true
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                condition.unlock()
                let item = Result { try inner.next() }
                let last: Bool
                switch item {
                case .success(let batch): last = batch == nil
                case .failure: last = true
                }
                condition.lock()
                waiting.append(item)
                if last { readerDone = true }
                condition.broadcast()
                condition.unlock()
                if last { return }
            }
        }

        /// Stops the reader and waits until it no longer touches `inner`.
        func stop() {
            condition.lock()
            stopping = true
            condition.broadcast()
            while started && !readerDone { condition.wait() }
            waiting.removeAll()
            condition.unlock()
        }
    }

    init(_ inner: BatchSource, depth: Int = 1) {
        schema = inner.schema
        state = State(inner, depth: max(1, depth))
        inner.willBeReadAhead()
    }

    func next() throws -> OwnedBatch? {
        let state = self.state
        state.condition.lock()
        defer { state.condition.unlock() }
        if !state.firstRead {
            // The first batch is read here: nothing is written yet that reading could
            // overlap, and a small result (one batch, the source then exhausted) never
            // pays for a thread.
            state.firstRead = true
            let first: OwnedBatch?
            do {
                first = try state.inner.next()
            } catch {
                state.readerDone = true  // a later next() ends instead of waiting for a reader
                throw error
            }
            if first != nil && !state.inner.isExhausted {
                state.started = true
                // A thread of its own, not the workers' pool: the pump usually runs on a pool
                // thread, and pumps waiting for readers queued behind them could take every one.
                Thread.detachNewThread { state.read() }
            } else {
                state.readerDone = true
            }
            return first
        }
        while state.waiting.isEmpty {
            if state.readerDone { return nil }
            state.condition.wait()
        }
        let item = state.waiting.removeFirst()
        state.condition.broadcast()
        return try item.get()
    }

    var commitsOnFinish: Bool { state.inner.commitsOnFinish }

    func finish() throws {
        state.stop()
        try state.inner.finish()
    }

    deinit { state.stop() }
}
