import Foundation
import PluginKit
import Testing
@testable import Host

/// The pump's end-of-run handshake, with sources and sinks that record what they were told.
struct PumpTests {
    final class Events: @unchecked Sendable {  // used by one test's thread
        var list: [String] = []
    }

    final class CountingSource: BatchSource {
        let schema = OwnedSchema(fields: [ArrowField("n", .int64)])
        let batches: Int
        let failAt: Int?
        let events: Events
        private var produced = 0

        init(batches: Int, failAt: Int? = nil, events: Events) {
            self.batches = batches
            self.failAt = failAt
            self.events = events
        }

        func next() throws -> OwnedBatch? {
            if produced == failAt { throw InvalidInput("page \(produced) failed") }
            guard produced < batches else { return nil }
            let builder = BatchBuilder(fields: schema.fields)
            for i in 0..<10 { try builder.columns[0].append(int: Int64(produced * 10 + i)) }
            produced += 1
            return try OwnedBatch(exporting: builder)
        }

        func finish() throws { events.list.append("finish") }
    }

    final class RecordingSink: BatchSink {
        let events: Events
        let failCommit: Bool
        var rows = 0
        init(events: Events, failCommit: Bool = false) {
            self.events = events
            self.failCommit = failCommit
        }
        func begin(_ schema: OwnedSchema) throws { events.list.append("begin") }
        func write(_ batch: OwnedBatch) throws { rows += batch.length }
        func commit() throws {
            if failCommit { throw InvalidInput("commit failed") }
            events.list.append("commit")
        }
        func abort() { events.list.append("abort") }
    }

    /// A source that reads ahead on threads of its own: the pump calls it on its own thread,
    /// starting no reader in front of it. Any other is read a batch ahead on a reader thread.
    @Test func aSourceThatReadsAheadItselfGetsNoSecondReader() throws {
        final class Threads: BatchSource {
            let inner: CountingSource
            let ahead: Bool
            var threads: [ObjectIdentifier] = []
            init(ahead: Bool) {
                self.ahead = ahead
                inner = CountingSource(batches: 4, events: Events())
            }
            var schema: OwnedSchema { inner.schema }
            var readsAheadItself: Bool { ahead }
            func next() throws -> OwnedBatch? {
                threads.append(ObjectIdentifier(Thread.current))
                return try inner.next()
            }
        }
        let pump = ObjectIdentifier(Thread.current)
        let own = Threads(ahead: true)
        _ = try Pump.run(own, into: RecordingSink(events: Events()))
        #expect(own.threads.count == 5 && own.threads.allSatisfy { $0 == pump })
        let plain = Threads(ahead: false)
        _ = try Pump.run(plain, into: RecordingSink(events: Events()))
        #expect(plain.threads.count == 5 && plain.threads.dropFirst().allSatisfy { $0 != pump })
    }

    @Test func aSourceReadToItsEndIsFinishedAfterTheCommit() throws {
        let events = Events()
        let sink = RecordingSink(events: events)
        let result = try Pump.run(CountingSource(batches: 3, events: events), into: sink)
        #expect(events.list == ["begin", "commit", "finish"])
        #expect(sink.rows == 30 && result.progress.rowsWritten == 30 && result.sourceFinished)
    }

    @Test func aFailureAnywhereAbortsTheSinkAndLeavesTheSourceUnfinished() throws {
        let events = Events()
        #expect(throws: InvalidInput.self) { try Pump.run(CountingSource(batches: 3, failAt: 2, events: events), into: RecordingSink(events: events)) }
        #expect(events.list == ["begin", "abort"])

        let second = Events()
        #expect(throws: InvalidInput.self) { try Pump.run(CountingSource(batches: 3, events: second), into: RecordingSink(events: second, failCommit: true)) }
        #expect(second.list == ["begin", "abort"])

        // Stopped (a cancel, a client gone) between batches.
        let third = Events()
        var calls = 0
        #expect(throws: InvalidInput.self) {
            try Pump.run(
                CountingSource(batches: 3, events: third), into: RecordingSink(events: third),
                .init(checkStop: {
                    calls += 1
                    if calls == 3 { throw InvalidInput("stopped") }
                }))
        }
        #expect(third.list == ["begin", "abort"])
    }

    @Test func aRowLimitCutsTheLastBatchAndDoesNotFinishTheSource() throws {
        let events = Events()
        let sink = RecordingSink(events: events)
        let result = try Pump.run(CountingSource(batches: 3, events: events), into: sink, .init(rowLimit: 15))
        #expect(sink.rows == 15 && result.progress.rowsWritten == 15)
        #expect(events.list == ["begin", "commit"])
        #expect(!result.sourceFinished)
        // A limit the source never reaches: read to its end, finished.
        let more = Events()
        #expect(try Pump.run(CountingSource(batches: 2, events: more), into: RecordingSink(events: more), .init(rowLimit: 100)).sourceFinished)
    }

    /// A dataset sink keeps the table as it was when the run fails after some batches.
    @Test func aDatasetSinkThatAbortsLeavesTheTableAsItWas() throws {
        let gateway = try TestSupport.gateway()
        let dataset = try Dataset(id: "n", definition: DatasetDefinition(table: "numbers(n integer)"))
        try gateway.datasetTables.prepare(dataset)
        let events = Events()
        _ = try Pump.run(CountingSource(batches: 2, events: events), into: DatasetTableSink(tables: gateway.datasetTables, dataset: dataset, mode: .append))
        #expect(throws: InvalidInput.self) {
            try Pump.run(
                CountingSource(batches: 3, failAt: 2, events: events),
                into: DatasetTableSink(tables: gateway.datasetTables, dataset: dataset, mode: .replace))
        }
        let db = try SQLiteConnection(path: gateway.datasetsPath)
        #expect(try db.query("SELECT count(*), sum(n) FROM numbers").first == [.int(20), .int(190)])
        // The same run without the failure replaces every row.
        _ = try Pump.run(CountingSource(batches: 1, events: events), into: DatasetTableSink(tables: gateway.datasetTables, dataset: dataset, mode: .replace))
        #expect(try db.query("SELECT count(*) FROM numbers").first == [.int(10)])
    }

    /// Reading ahead keeps the batches in order, a failure where it happened, and a source
    /// dropped early is left at once, read at most one batch past what was taken.
    @Test func readingAheadKeepsOrderFailuresAndBounds() throws {
        let events = Events()
        let all = ReadAheadSource(CountingSource(batches: 5, events: events))
        var firsts: [Int64] = []
        while let batch = try all.next() { firsts.append(batch.view.columns[0].int64(0)) }
        #expect(firsts == [0, 10, 20, 30, 40])
        try all.finish()
        #expect(events.list == ["finish"])

        let failing = ReadAheadSource(CountingSource(batches: 5, failAt: 2, events: events))
        #expect(try failing.next() != nil && failing.next() != nil)
        #expect(throws: InvalidInput.self) { try failing.next() }

        final class Slow: BatchSource, @unchecked Sendable {  // read by the reader, checked after it stopped
            let schema = OwnedSchema(fields: [ArrowField("n", .int64)])
            var produced = 0
            func next() throws -> OwnedBatch? {
                produced += 1
                let builder = BatchBuilder(fields: schema.fields)
                try builder.columns[0].append(int: Int64(produced))
                return try OwnedBatch(exporting: builder)
            }
        }
        let endless = Slow()
        do {
            let ahead = ReadAheadSource(endless)
            _ = try ahead.next()
        }
        // One taken, then at most one waiting and one being read when the stop came.
        #expect((1...3).contains(endless.produced), "\(endless.produced)")
    }
}
