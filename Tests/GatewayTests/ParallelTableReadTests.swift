import CSQLite
import Foundation
import NIOCore
import Testing
@testable import Host

/// A whole dataset table read on several connections at once gives exactly what one
/// connection gives: the same rows in the same order, one snapshot (a write after the read
/// started is not seen in any range), the same row numbers in its errors; and it is not
/// tried while a write runs.
@Suite struct ParallelTableReadTests {
    /// `big` with ids 1…300,000 (rowids alike) less every 1,000th: five ranges, with gaps.
    static func table() throws -> (Gateway, SQLiteDatasetTables, Dataset)? {
        let gateway = try TestSupport.gateway()
        // Reading on several connections is the SQLite file's: PostgreSQL reads its own way.
        guard let tables = gateway.datasetTables as? SQLiteDatasetTables else { return nil }
        let dataset = try Dataset(id: "big", definition: DatasetDefinition(table: "big(id integer, name text, day date)"))
        try tables.prepare(dataset)
        try SQLiteConnection(path: gateway.datasetsPath).execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
            INSERT INTO big(rowid, id, name, day) SELECT i, i, 'n-' || i, date('2026-01-01', '+' || (i % 300) || ' days') FROM n;
            DELETE FROM big WHERE id % 1000 = 0;
            """)
        return (gateway, tables, dataset)
    }

    static func json(_ source: BatchSource) throws -> String {
        var text = ""
        var writer = JSONRowWriter { text += String(buffer: $0) }
        writer.begin(source.schema.fields)
        while let batch = try source.next() { try writer.write(batch.view) }
        try writer.finish()
        try source.finish()
        return text
    }

    static func oneConnection(_ tables: SQLiteDatasetTables, _ dataset: Dataset, filter: String = "", args: [SQLValue] = []) throws -> BatchSource {
        try tables.read(tables.selectAll(dataset, filter: filter), control: RunControl(timeBudgetSeconds: 60), options: TableReadOptions()) { _ in args }
    }

    static func severalConnections(_ tables: SQLiteDatasetTables, _ dataset: Dataset, filter: String = "", args: [SQLValue] = []) throws -> BatchSource {
        try tables.readTable(dataset, filter: filter, args: args, control: RunControl(timeBudgetSeconds: 60), options: TableReadOptions())
    }

    @Test func theRowsAndTheirOrderAreTheOneConnectionReads() throws {
        guard let (_, tables, dataset) = try Self.table() else { return }
        let parallel = try Self.severalConnections(tables, dataset)
        #expect(parallel is ParallelTableRead)
        let text = try Self.json(parallel)
        #expect(text == (try Self.json(Self.oneConnection(tables, dataset))))
        #expect(text.hasPrefix(#"[{"id":1,"name":"n-1","day":"2026-01-02"}"#))
        #expect(text.hasSuffix(#"{"id":299999,"name":"n-299999","day":"2026-10-27"}]"#))

        // With the query's filter: its placeholders come before the ranges' own.
        let (filter, args) = try QueryParameters.filter(dataset, ["name": ["n-7", "n-150001", "n-299999"]])
        let filtered = try Self.severalConnections(tables, dataset, filter: filter, args: args)
        #expect(filtered is ParallelTableRead)
        let some = try Self.json(filtered)
        #expect(some == (try Self.json(Self.oneConnection(tables, dataset, filter: filter, args: args))))
        #expect(some.components(separatedBy: #""id":"#).count == 4)
    }

    /// The ranges read last start long after the write; each connection still reads the
    /// snapshot its pin took, before it.
    @Test func aWriteAfterTheReadStartedIsNotSeenInAnyRange() throws {
        guard let (gateway, tables, dataset) = try Self.table() else { return }
        let before = try Self.json(Self.oneConnection(tables, dataset))
        let parallel = try Self.severalConnections(tables, dataset)
        #expect(parallel is ParallelTableRead)
        try SQLiteConnection(path: gateway.datasetsPath).execute("UPDATE big SET name = 'changed'; DELETE FROM big WHERE id > 250000")
        #expect(try Self.json(parallel) == before)
        #expect(try Self.json(Self.oneConnection(tables, dataset)).contains("changed"))
    }

    @Test func aRowNumberInAnErrorCountsTheRowsOfEveryRangeBefore() throws {
        guard let (gateway, tables, dataset) = try Self.table() else { return }
        try SQLiteConnection(path: gateway.datasetsPath).execute("UPDATE big SET day = 'not a day' WHERE id = 270001")
        let expected = "row 269731, column 'day'"  // 270,001 less the 270 thousandths before it
        do {
            _ = try Self.json(Self.oneConnection(tables, dataset))
            Issue.record("the one-connection read did not fail")
        } catch {
            #expect("\(error)".contains(expected))
        }
        let parallel = try Self.severalConnections(tables, dataset)
        #expect(parallel is ParallelTableRead)
        do {
            _ = try Self.json(parallel)
            Issue.record("the parallel read did not fail")
        } catch {
            #expect("\(error)".contains(expected))
        }
    }

    /// The connections must start on one snapshot: while a write holds the store's lock,
    /// one connection reads instead of waiting.
    @Test func whileAWriteRunsOneConnectionReads() throws {
        guard let (_, tables, dataset) = try Self.table() else { return }
        let session = try tables.beginWrite(dataset, mode: .append)
        let source = try Self.severalConnections(tables, dataset)
        #expect(!(source is ParallelTableRead))
        session.rollback()
        #expect(try Self.json(source).hasSuffix(#""n-299999","day":"2026-10-27"}]"#))
        #expect(try Self.severalConnections(tables, dataset) is ParallelTableRead)
    }

    /// Readers ahead of the consumer wait once the batches waiting pass the budget, mid-range
    /// too, and the consumer's own range is read two batches ahead at most: a slow consumer
    /// holds about a batch a reader, not a window of ranges. Without a budget the same read
    /// holds several ranges' batches.
    @Test func aSlowConsumerHoldsWhatTheBudgetAllows() throws {
        guard let (gateway, _, dataset) = try Self.table() else { return }
        func peak(budget: Int) throws -> (peak: Int, batch: Int) {
            let tables = try SQLiteDatasetTables(path: gateway.datasetsPath, readAheadBytes: budget)
            let options = TableReadOptions(batchRows: 8_192)  // eight batches a range
            let source = try tables.readTable(dataset, filter: "", args: [], control: RunControl(timeBudgetSeconds: 60), options: options)
            let parallel = try #require(source as? ParallelTableRead)
            var largest = 0, rows = 0
            while let batch = try parallel.next() {
                // A consumer that stops a while after its first batch: the readers go as far
                // as they may.
                if rows == 0 { Thread.sleep(forTimeInterval: 0.5) }
                rows += batch.length
                largest = max(largest, batch.length)
            }
            #expect(rows == 299_700)
            return (parallel.peakWaitingBytes, largest)
        }
        let tight = try peak(budget: 1)
        let loose = try peak(budget: Int.max)
        // A batch of 8,192 rows of (integer, ~8-byte text, date) counts about 8,192 * 33 bytes.
        let batchBytes = 8_192 * 40
        // Two of the consumer's own range, one a reader ahead of it.
        #expect(tight.peak <= (SQLiteDatasetTables.readConnections + 2) * batchBytes)
        #expect(loose.peak > tight.peak * 2)
    }

    /// After an error, the read ends there: a later call meets the same error, never a
    /// wait for ranges no reader will read.
    @Test func afterAnErrorEveryCallMeetsIt() throws {
        guard let (gateway, tables, dataset) = try Self.table() else { return }
        try SQLiteConnection(path: gateway.datasetsPath).execute("UPDATE big SET day = 'not a day' WHERE id = 70001")
        let parallel = try Self.severalConnections(tables, dataset)
        #expect(parallel is ParallelTableRead)
        var failures = 0
        for _ in 0..<10 {
            do { _ = try parallel.next() } catch { failures += 1 }
        }
        #expect(failures >= 9)
        #expect(throws: InvalidInput.self) { _ = try parallel.next() }
    }

    /// Its connections go back to the pool when it ends, with no statement left on them (no
    /// read transaction: the next query reads the table as it is then). A small table is
    /// read on one connection: the look at its rowids is all it costs.
    @Test func itsConnectionsGoBackToThePoolClosed() throws {
        guard let (gateway, tables, dataset) = try Self.table() else { return }
        do {
            let parallel = try Self.severalConnections(tables, dataset)
            #expect(parallel is ParallelTableRead)
            _ = try Self.json(parallel)
        }
        #expect(tables.readers.idleCount >= SQLiteDatasetTables.readConnections)
        let taken = try (0..<tables.readers.idleCount).map { _ in try ReadOnlySQL.open(tables.readers, control: RunControl(timeBudgetSeconds: 60)) }
        #expect(taken.allSatisfy { sqlite3_next_stmt($0.handle, nil) == nil })

        let small = try Dataset(id: "small", definition: DatasetDefinition(table: "small(id integer)"))
        try tables.prepare(small)
        try SQLiteConnection(path: gateway.datasetsPath).execute("INSERT INTO small VALUES (1), (2), (3)")
        let one = try Self.severalConnections(tables, small)
        #expect(!(one is ParallelTableRead))
        #expect(try Self.json(one) == #"[{"id":1},{"id":2},{"id":3}]"#)
        #expect(!(try Self.severalConnections(tables, small) is ParallelTableRead))  // known small: no look

        // Grown, and a write of the gateway's since: looked at again.
        try SQLiteConnection(path: gateway.datasetsPath).execute(
            "WITH RECURSIVE n(i) AS (SELECT 4 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) INSERT INTO small SELECT i FROM n")
        try tables.prepare(small)
        let grown = try Self.severalConnections(tables, small)
        #expect(grown is ParallelTableRead)
        #expect(try Self.json(grown).hasSuffix(#"{"id":299999},{"id":300000}]"#))
    }

    /// The cut into ranges: inclusive bounds, never past Int64's ends, none for a table
    /// spanning few or too many.
    @Test func theRanges() {
        let r = ParallelTableRead.rangeRows
        #expect(ParallelTableRead.ranges(min: 1, max: 3 * r) == nil)  // three ranges: one connection
        let four = ParallelTableRead.ranges(min: 1, max: 4 * r)
        #expect(four?.map(\.lo) == [1, 1 + r, 1 + 2 * r, 1 + 3 * r])
        #expect(four?.last?.hi == 4 * r)
        #expect(four?.first?.hi == r)
        let top = ParallelTableRead.ranges(min: Int64.max - 5 * r, max: Int64.max)
        #expect(top?.last?.hi == Int64.max)
        #expect(ParallelTableRead.ranges(min: Int64.min, max: Int64.max) == nil)
        #expect(ParallelTableRead.ranges(min: 1, max: r * ParallelTableRead.maximumRanges * 2) == nil)
        #expect(ParallelTableRead.ranges(min: 5, max: 4) == nil)
    }
}
