import CSQLite
import Foundation

/// Pushed rows into SQLite: cells bound directly into one prepared INSERT (or upsert) that
/// takes a block of rows at a time.
///
/// Why blocks: one statement per row spent a third of SQLite's time per row on running the
/// statement itself; one per 32 rows does not. The statement reads
/// `INSERT … SELECT * FROM (VALUES (…), (…), …) LIMIT ? OFFSET ?`, so that a part-filled
/// last block runs with its row count as the limit, and a block that fails runs again one
/// row at a time (the failed statement undid its own rows) until the row at fault names
/// itself in the error, as it did when every row was its own statement.
final class SQLiteBlockInsert: ImportedRows {
    let dataset: Dataset
    let db: SQLiteConnection
    private var statement: SQLiteStatement?
    private var width = 0
    /// Rows per block, and how many of the current block are bound.
    private var blockRows = 1
    private var pending = 0
    /// At most this many rows a block: beyond it the statement grows without saving more.
    static let maxBlockRows = 32

    init(dataset: Dataset, db: SQLiteConnection) {
        self.dataset = dataset
        self.db = db
    }

    func begin(columns: [Dataset.Column], update: Bool) throws {
        width = columns.count
        // Two more parameters than the cells: the block's LIMIT and OFFSET.
        let maxParameters = Int(sqlite3_limit(db.handle, SQLITE_LIMIT_VARIABLE_NUMBER, -1)) - 2
        blockRows = max(1, min(Self.maxBlockRows, maxParameters / max(1, width)))
        let row = "(" + Array(repeating: "?", count: width).joined(separator: ", ") + ")"
        // WHERE true: without it, SQLite would read an upsert's ON CONFLICT as a join's ON.
        let block = "SELECT * FROM (VALUES " + Array(repeating: row, count: blockRows).joined(separator: ", ") + ") WHERE true LIMIT ? OFFSET ?"
        statement = try db.prepare(DatasetImport.insertSQL(dataset, columns: columns.map(\.name), update: update, rows: block))
    }

    func cell(_ value: PushedCell, column: Int, type: ColumnType) throws {
        guard let statement else { throw DatasetWriteError.header("a row came before the header") }
        try CellBinding.bind(value, to: Parameter(statement: statement, index: Int32(pending * width + column + 1)), type: type)
    }

    func endRow(_ row: Int) throws {
        pending += 1
        if pending == blockRows { try flush(lastRow: row) }
    }

    func flush(lastRow: Int) throws {
        guard let statement, pending > 0 else { return }
        let first = lastRow - pending + 1
        defer { pending = 0 }
        do {
            try run(statement, limit: pending, offset: 0)
            return
        } catch let e as SQLiteError {
            // Some failures (a full disk, an I/O error) roll back the whole transaction:
            // rows run again now would each commit on their own.
            guard sqlite3_get_autocommit(db.handle) == 0 else {
                throw DatasetWriteError.row("rows \(first)–\(lastRow): \(e.message)")
            }
        }
        for row in 0..<pending {
            do {
                try run(statement, limit: 1, offset: row)
            } catch let e as SQLiteError {
                let what = e.isConstraint ? "duplicate key or constraint violated (\(e.message))" : e.message
                throw DatasetWriteError.row("row \(first + row): \(what)")
            }
        }
    }

    private func run(_ statement: SQLiteStatement, limit: Int, offset: Int) throws {
        let cells = Int32(blockRows * width)
        statement.bind(cells + 1, int: Int64(limit))
        statement.bind(cells + 2, int: Int64(offset))
        try statement.execute()
    }

    /// One parameter of the block statement.
    private struct Parameter: CellTarget {
        let statement: SQLiteStatement
        let index: Int32
        func null() { statement.bindNull(index) }
        func int(_ value: Int64) { statement.bind(index, int: value) }
        func double(_ value: Double) { statement.bind(index, double: value) }
        func text(_ bytes: UnsafeRawBufferPointer) { statement.bind(index, text: bytes) }
        func blob(_ bytes: UnsafeRawBufferPointer) { statement.bind(index, blob: bytes) }
    }
}
