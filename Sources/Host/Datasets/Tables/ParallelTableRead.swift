import CSQLite
import Foundation
import PluginKit

/// One dataset table read on several connections at once, each on a thread of its own.
/// SQLite steps a statement on one core, and stepping is most of a wide read's time (the
/// gateway's reader thread was busy for the whole of a 1M-row Arrow query while the writer
/// idled): the table's rowids are cut into ranges, the connections take them in turn
/// (connection 0 the first range, 1 the second, …), and the batches are handed out range by
/// range, so the rows leave in their stored order exactly as a one-connection read gives them.
///
/// Every connection reads the same snapshot: each holds its read transaction open with a
/// statement stepped once and kept until the end (its pin), and the pins are stepped while
/// the store's write lock is held, so no write commits between them. When that lock is busy
/// (a write is running) or the table is too small to be worth it, the store
/// (`SQLiteDatasetTables.readTable`) reads on one connection instead.
///
/// Memory: a reader starts a range only while fewer than `2 × connections` ranges wait for
/// the consumer, and one ahead of the consumer waits, mid-range too, while the batches
/// waiting hold more than `byteBudget` bytes; the range the consumer takes from is read at
/// most two batches ahead of it.
final class ParallelTableRead: BatchSource {
    let schema: OwnedSchema
    private let state: State

    /// Rowids per range: one batch of the one-connection read.
    static let rangeRows: Int64 = 65_536
    /// Tables whose rowids span fewer ranges than this are read on one connection: the
    /// second connection's start costs more than it saves.
    static let minimumRanges: Int64 = 4
    /// Rowids spread wider than this many ranges are read on one connection: every range,
    /// empty or not, costs a statement.
    static let maximumRanges: Int64 = 16_384

    /// One connection's part: its pin (the open read transaction) and how it opens the range
    /// of rowids `lo...hi`. @unchecked Sendable: made on the caller's thread, then used by
    /// its reader's thread alone.
    final class Reader: @unchecked Sendable {
        let pin: SQLiteStatement
        let openRange: (_ lo: Int64, _ hi: Int64, _ rowsBefore: @escaping () -> Int) throws -> SQLiteBatchSource
        /// Its first range, opened already (reader 0's: it gave the schema).
        var first: SQLiteBatchSource?

        init(pin: SQLiteStatement, openRange: @escaping (Int64, Int64, @escaping () -> Int) throws -> SQLiteBatchSource) {
            self.pin = pin
            self.openRange = openRange
        }
    }

    /// Shared by the consumer and the reader threads. @unchecked Sendable: every var is read
    /// and written with `condition` locked; a reader's connection and statements are used by
    /// its own thread only, after `init` handed them over.
    private final class State: @unchecked Sendable {
        let condition = NSCondition()
        let ranges: [(lo: Int64, hi: Int64)]
        let window: Int
        /// Bytes of batches waiting for the consumer past which a reader ahead of it waits,
        /// mid-range too (the range the consumer takes from waits only two batches ahead).
        let byteBudget: Int
        /// Per range: batches read and not yet taken (with their bytes), then (last) a failure.
        var waiting: [[(item: Result<OwnedBatch, Error>, bytes: Int)]]
        var waitingBytes = 0
        /// The most `waitingBytes` has been (for tests).
        var peakWaitingBytes = 0
        var rows: [Int]
        var done: [Bool]
        /// The range the consumer takes from.
        var at = 0
        /// The first range that failed: no range after it is read, nor ever delivered.
        var failedAt = Int.max
        /// The failure the consumer met: every later `next` meets it again.
        var met: Error?
        var stopping = false
        var readersRunning: Int
        /// Each reader until its thread takes it.
        var readers: [Reader?]
        let readerCount: Int

        init(readers: [Reader], ranges: [(lo: Int64, hi: Int64)], window: Int, byteBudget: Int) {
            self.readers = readers
            readerCount = readers.count
            readersRunning = readers.count
            self.ranges = ranges
            self.window = window
            self.byteBudget = byteBudget
            waiting = Array(repeating: [], count: ranges.count)
            rows = Array(repeating: 0, count: ranges.count)
            done = Array(repeating: false, count: ranges.count)
        }

        /// Runs on reader `index`'s thread. Its statements and pin, and with them the
        /// snapshot, are let go before it counts itself out: the connection is back in its
        /// pool when `stop` returns.
        func run(index: Int) {
            condition.lock()
            var reader = readers[index]
            readers[index] = nil
            condition.unlock()
            if let taken = reader { read(taken, index: index, of: readerCount) }
            reader = nil
            condition.lock()
            readersRunning -= 1
            condition.broadcast()
            condition.unlock()
        }

        /// Ranges index, index + n, … until the end, a failure or a stop.
        private func read(_ reader: Reader, index: Int, of n: Int) {
            var opened = reader.first
            reader.first = nil
            var k = index
            while k < ranges.count {
                guard waitForTurn(k, starting: true) else { return }
                do {
                    let k0 = k
                    let source = try opened ?? reader.openRange(ranges[k].lo, ranges[k].hi) { [self] in rowsBefore(k0) }
                    opened = nil
                    while let batch = try source.next() {
                        condition.lock()
                        waiting[k].append((.success(batch), source.lastBatchBytes))
                        waitingBytes += source.lastBatchBytes
                        peakWaitingBytes = max(peakWaitingBytes, waitingBytes)
                        rows[k] += batch.length
                        condition.broadcast()
                        condition.unlock()
                        guard waitForTurn(k, starting: false) else { return }
                    }
                    condition.lock()
                    done[k] = true
                    condition.broadcast()
                    condition.unlock()
                } catch {
                    condition.lock()
                    waiting[k].append((.failure(error), 0))
                    done[k] = true
                    failedAt = min(failedAt, k)
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                k += n
            }
        }

        /// Waits while range `k` is too far ahead of the consumer: to start, beyond the
        /// window; to go on, past the byte budget, or (the range the consumer takes from)
        /// two batches ahead of it, as the one-connection read is. False when it is not to
        /// be read at all.
        private func waitForTurn(_ k: Int, starting: Bool) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            while !stopping && k < failedAt && mustWait(k, starting: starting) { condition.wait() }
            return !stopping && k < failedAt
        }

        /// The consumer's own range never waits to start, nor on the budget: it drains that
        /// range itself (and wakes its reader at each batch it takes), so no wait is circular.
        private func mustWait(_ k: Int, starting: Bool) -> Bool {
            if k == at { return !starting && waiting[k].count >= 2 }
            return starting ? k >= at + window : waitingBytes > byteBudget
        }

        /// The rows of every range before `k`, for the row numbers in range k's errors:
        /// waits for those ranges to be read whole (the consumer reaches each in turn, and
        /// the range it takes from waits only for it to take). When one of them failed or the read
        /// stopped, whatever was counted: that error or stop is what the consumer meets first.
        func rowsBefore(_ k: Int) -> Int {
            condition.lock()
            defer { condition.unlock() }
            while !stopping && failedAt > k && !done[0..<k].allSatisfy({ $0 }) { condition.wait() }
            return rows[0..<k].reduce(0, +)
        }

        func next() throws -> OwnedBatch? {
            condition.lock()
            defer { condition.unlock() }
            if let met { throw met }
            while at < ranges.count {
                if !waiting[at].isEmpty {
                    let (item, bytes) = waiting[at].removeFirst()
                    waitingBytes -= bytes
                    condition.broadcast()
                    do {
                        return try item.get()
                    } catch {
                        met = error
                        throw error
                    }
                }
                if done[at] {
                    at += 1
                    condition.broadcast()
                    continue
                }
                condition.wait()
            }
            return nil
        }

        /// Stops the readers and waits until none touches its connection.
        func stop() {
            condition.lock()
            stopping = true
            condition.broadcast()
            while readersRunning > 0 { condition.wait() }
            waiting = waiting.map { _ in [] }
            waitingBytes = 0
            condition.unlock()
        }
    }

    /// `readers[0].first` is the first range, opened already: its schema is the read's.
    /// Starts the reader threads.
    /// `byteBudget`: the bytes of batches that may wait for the consumer (see State).
    init(readers: [Reader], schema: OwnedSchema, ranges: [(lo: Int64, hi: Int64)], byteBudget: Int) {
        self.schema = schema
        state = State(readers: readers, ranges: ranges, window: 2 * readers.count, byteBudget: byteBudget)
        let state = state
        for index in readers.indices {
            // Threads of their own, not the workers' pool: see ReadAheadSource.
            Thread.detachNewThread { state.run(index: index) }
        }
    }

    /// The ranges (inclusive) that cover rowids `min...max`, or nil when there are more than
    /// `maximumRanges` (rowids far apart: most ranges would be empty) or fewer than
    /// `minimumRanges`.
    static func ranges(min: Int64, max: Int64) -> [(lo: Int64, hi: Int64)]? {
        guard min <= max else { return nil }
        let (span, overflow) = max.subtractingReportingOverflow(min)
        guard !overflow else { return nil }
        let count = span / rangeRows + 1
        guard count >= minimumRanges, count <= maximumRanges else { return nil }
        return (0..<count).map { i in
            let lo = min + i * rangeRows
            // The last range ends at max: lo + rangeRows - 1 could pass Int64.max.
            return (lo, i == count - 1 ? max : lo + rangeRows - 1)
        }
    }

    func next() throws -> OwnedBatch? { try state.next() }

    /// The most bytes of batches that waited for the consumer at once (for tests).
    var peakWaitingBytes: Int {
        state.condition.lock()
        defer { state.condition.unlock() }
        return state.peakWaitingBytes
    }

    var commitsOnFinish: Bool { false }
    var readsAheadItself: Bool { true }

    func finish() throws { state.stop() }

    deinit { state.stop() }
}
