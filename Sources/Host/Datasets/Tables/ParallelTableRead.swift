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
/// the store's write lock is held, so no write commits between them. `open` returns nil
/// when that lock is busy (a write is running) or the table is too small to be worth it:
/// the caller then reads on one connection.
///
/// Memory: a reader starts a range only while fewer than `2 × connections` ranges wait for
/// the consumer; a range is at most `rangeRows` rows (one batch, or a few when its values
/// are wide).
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
        /// Per range: batches read and not yet taken, then (last) a failure, if any.
        var waiting: [[Result<OwnedBatch, Error>]]
        var rows: [Int]
        var done: [Bool]
        /// The range the consumer takes from.
        var at = 0
        /// The first range that failed: no range after it is read, nor ever delivered.
        var failedAt = Int.max
        var stopping = false
        var readersRunning = 0

        init(ranges: [(lo: Int64, hi: Int64)], window: Int) {
            self.ranges = ranges
            self.window = window
            waiting = Array(repeating: [], count: ranges.count)
            rows = Array(repeating: 0, count: ranges.count)
            done = Array(repeating: false, count: ranges.count)
        }

        /// Runs on reader `index`'s thread: ranges index, index + n, … until the end, a
        /// failure or a stop. Its pin, and with it the snapshot, is held until it returns.
        func read(_ reader: Reader, index: Int, of n: Int) {
            defer {
                condition.lock()
                readersRunning -= 1
                condition.broadcast()
                condition.unlock()
            }
            var opened = reader.first
            reader.first = nil
            var k = index
            while k < ranges.count {
                condition.lock()
                while !stopping && k < failedAt && k >= at + window { condition.wait() }
                let go = !stopping && k < failedAt
                condition.unlock()
                guard go else { return }
                do {
                    let k0 = k
                    let source = try opened ?? reader.openRange(ranges[k].lo, ranges[k].hi) { [self] in rowsBefore(k0) }
                    opened = nil
                    while let batch = try source.next() {
                        condition.lock()
                        waiting[k].append(.success(batch))
                        rows[k] += batch.length
                        condition.broadcast()
                        let stop = stopping
                        condition.unlock()
                        if stop { return }
                    }
                    condition.lock()
                    done[k] = true
                    condition.broadcast()
                    condition.unlock()
                } catch {
                    condition.lock()
                    waiting[k].append(.failure(error))
                    done[k] = true
                    failedAt = min(failedAt, k)
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                k += n
            }
        }

        /// The rows of every range before `k`, for the row numbers in range k's errors:
        /// waits for those ranges to be read whole (they are being read, never waiting on
        /// the consumer: they come before k). 0 when one of them failed or the read stopped:
        /// that error or stop is what the consumer meets first.
        func rowsBefore(_ k: Int) -> Int {
            condition.lock()
            defer { condition.unlock() }
            while !stopping && failedAt > k && !done[0..<k].allSatisfy({ $0 }) { condition.wait() }
            return rows[0..<k].reduce(0, +)
        }

        func next() throws -> OwnedBatch? {
            condition.lock()
            defer { condition.unlock() }
            while at < ranges.count {
                if !waiting[at].isEmpty {
                    let item = waiting[at].removeFirst()
                    return try item.get()
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
            condition.unlock()
        }
    }

    /// `readers[0].first` is the first range, opened already: its schema is the read's.
    /// Starts the reader threads.
    init(readers: [Reader], schema: OwnedSchema, ranges: [(lo: Int64, hi: Int64)]) {
        self.schema = schema
        state = State(ranges: ranges, window: 2 * readers.count)
        let state = state
        state.readersRunning = readers.count
        for (index, reader) in readers.enumerated() {
            // Threads of their own, not the workers' pool: see ReadAheadSource.
            Thread.detachNewThread { state.read(reader, index: index, of: readers.count) }
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

    var commitsOnFinish: Bool { false }

    func finish() throws { state.stop() }

    deinit { state.stop() }
}
