import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Pushed rows into PostgreSQL through `COPY … FROM STDIN` (text format): cells are
/// converted by `CellBinding` exactly as for SQLite and written as COPY text into 1 MiB
/// chunks, which a task streams to the server while the worker thread goes on converting.
/// For an upsert the rows are copied into a temporary table first and merged with one
/// `INSERT … ON CONFLICT` (COPY cannot upsert); of two rows with one key the later wins,
/// as on SQLite.
final class PostgresCopyRows: ImportedRows {
    private let dataset: Dataset
    private let session: PostgresSession
    private var columns: [Dataset.Column] = []
    private var update = false
    /// The chunk being filled.
    private let text = CopyText()
    /// The COPY under way: its chunks' queue and its outcome.
    private var running: (queue: ThreadToTaskQueue<ByteBuffer>, done: CopyOutcome)?
    /// Rows sent before the COPY under way (COPY's line numbers count from its own start).
    private var rowsBefore = 0
    private var rowsPending = 0
    private static let chunkBytes = 1 << 20
    /// The temporary table an upsert copies into, and the column that keeps arrival order.
    private static let staging = "gw_push"
    private static let arrival = "__gw_arrival"

    init(dataset: Dataset, session: PostgresSession) {
        self.dataset = dataset
        self.session = session
    }

    func begin(columns: [Dataset.Column], update: Bool) throws {
        self.columns = columns
        self.update = update
        guard update else { return }
        try session.run(
            "CREATE TEMP TABLE IF NOT EXISTS \(Self.staging) (LIKE \(PostgresDatasetTables.qualified(dataset.table)), \(Dataset.quote(Self.arrival)) bigserial) ON COMMIT DROP",
            [])
    }

    func cell(_ value: PushedCell, column: Int, type: ColumnType) throws {
        if column > 0 { text.buffer.writeInteger(UInt8(ascii: "\t")) }
        try CellBinding.bind(value, to: text, type: type)
        if text.sawNUL {
            text.sawNUL = false
            throw CellBinding.Refusal(problem: "holds a NUL character, which PostgreSQL text cannot store")
        }
    }

    func endRow(_ row: Int) throws {
        text.buffer.writeInteger(UInt8(ascii: "\n"))
        rowsPending += 1
        if text.buffer.readableBytes >= Self.chunkBytes { try send() }
    }

    /// Hands the chunk to the COPY, starting one if none is under way.
    private func send() throws {
        guard text.buffer.readableBytes > 0 else { return }
        if running == nil { start() }
        guard let running else { return }
        let chunk = text.buffer
        text.buffer = ByteBuffer()
        text.buffer.reserveCapacity(Self.chunkBytes + 4096)
        do {
            try running.queue.put(chunk)
        } catch {
            // The server refused the COPY: its own error says which row.
            try finishCopy()
            throw error
        }
    }

    private func start() {
        let queue = ThreadToTaskQueue<ByteBuffer>(capacity: 4)
        let done = CopyOutcome()
        let connection = session.connection, logger = session.logger
        let table = update ? Self.staging : dataset.table
        let names = columns.map(\.name)
        Task.detached {
            do {
                try await connection.copyFrom(table: table, columns: names, logger: logger) { writer in
                    while let chunk = try await queue.next() { try await writer.write(chunk) }
                }
                done.set(.success(()))
            } catch {
                queue.close(error)
                done.set(.failure(error))
            }
        }
        running = (queue, done)
    }

    func flush(lastRow: Int) throws {
        try send()
        try finishCopy()
        guard update, rowsPending > 0 || rowsBefore > 0 else { return }
        try merge()
    }

    /// Ends the COPY under way and waits for the server's answer.
    private func finishCopy() throws {
        guard let (queue, done) = running else { return }
        running = nil
        queue.finish()
        let first = rowsBefore + 1
        rowsBefore += rowsPending
        rowsPending = 0
        if case .failure(let error) = done.wait() { throw Self.describe(error, firstRow: first) }
    }

    /// Moves the staged rows into the table: the last row of each key wins.
    private func merge() throws {
        let names = columns.map(\.name)
        let keys = dataset.keys.map(Dataset.quote).joined(separator: ", ")
        let select =
            "SELECT DISTINCT ON (\(keys)) \(names.map(Dataset.quote).joined(separator: ", ")) FROM \(Self.staging) ORDER BY \(keys), \(Dataset.quote(Self.arrival)) DESC"
        do {
            try session.run(
                DatasetImport.insertSQL(dataset, table: PostgresDatasetTables.qualified(dataset.table), columns: names, update: true, rows: select), [])
            try session.run("TRUNCATE \(Self.staging)", [])
        } catch let e as PostgresStoreError {
            throw DatasetWriteError.row("rows 1–\(rowsBefore): \(e.message)")
        }
        rowsBefore = 0
    }

    /// Stops a COPY under way (the write is being rolled back).
    func abandon() {
        guard let (queue, done) = running else { return }
        running = nil
        queue.close(CancellationError())  // the COPY fails (CopyFail): nothing queued is taken
        _ = done.wait()
    }

    /// The server's refusal as the row at fault: COPY's error context names its line.
    static func describe(_ error: any Error, firstRow: Int) -> Error {
        guard let psql = error as? PSQLError else { return DatasetWriteError.sql("the COPY failed: \(error)") }
        let message = PostgresSession.message(psql)
        let state = psql.serverInfo?[.sqlState] ?? ""
        var row: Int?
        if let context = psql.serverInfo?[.locationContext], let range = context.range(of: #"line \d+"#, options: String.CompareOptions.regularExpression) {
            row = Int(context[range].dropFirst(5)).map { $0 + firstRow - 1 }
        }
        guard state.hasPrefix("22") || state.hasPrefix("23") else { return DatasetWriteError.sql("the COPY failed: \(message)") }
        let what = state.hasPrefix("23") ? "duplicate key or constraint violated (\(message))" : message
        return DatasetWriteError.row(row.map { "row \($0): \(what)" } ?? what)
    }
}

/// Cells as COPY's text format writes them: `\N` for NULL, fields escaped with
/// backslashes, bytea as `\\x` and hex digits.
private final class CopyText: CellTarget {
    var buffer = ByteBuffer()
    /// Set when a text held a NUL, which PostgreSQL text cannot store (the caller refuses it).
    var sawNUL = false
    private static let hexDigits = Array("0123456789abcdef".utf8)

    func null() { buffer.writeStaticString("\\N") }

    func int(_ value: Int64) {
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var n = 20
            repeat {
                n -= 1
                digits[n] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 { buffer.writeInteger(UInt8(ascii: "-")) }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(digits)[n...]))
        }
    }

    func double(_ value: Double) { buffer.writeString(value.description) }

    func text(_ bytes: UnsafeRawBufferPointer) {
        // Most text needs no escape: one copy.
        guard bytes.contains(where: { $0 == 0x5C || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || $0 == 0 }) else {
            buffer.writeBytes(bytes)
            return
        }
        for byte in bytes {
            switch byte {
            case 0x5C: buffer.writeStaticString("\\\\")
            case 0x0A: buffer.writeStaticString("\\n")
            case 0x0D: buffer.writeStaticString("\\r")
            case 0x09: buffer.writeStaticString("\\t")
            case 0:
                sawNUL = true
                return
            default: buffer.writeInteger(byte)
            }
        }
    }

    func blob(_ bytes: UnsafeRawBufferPointer) {
        buffer.writeStaticString("\\\\x")
        buffer.reserveCapacity(minimumWritableBytes: bytes.count * 2)
        for byte in bytes {
            buffer.writeInteger(Self.hexDigits[Int(byte >> 4)])
            buffer.writeInteger(Self.hexDigits[Int(byte & 15)])
        }
    }
}

/// A COPY's result, set once by its task and waited for by the writing thread.
private final class CopyOutcome: Sendable {
    private let result = Mutex<Result<Void, any Error>?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func set(_ outcome: Result<Void, any Error>) {
        result.withLock { $0 = outcome }
        ready.signal()
    }

    func wait() -> Result<Void, any Error> {
        ready.wait()
        ready.signal()  // a second wait (rollback after a failed flush) returns at once
        return result.withLock { $0 } ?? .success(())
    }
}
