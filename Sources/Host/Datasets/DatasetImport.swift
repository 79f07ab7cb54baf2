import CSQLite
import Foundation

/// Writes pushed rows into a dataset's table: cells converted to the column types and bound
/// directly into one prepared INSERT (or upsert) that takes a block of rows at a time.
///
/// Why blocks: one statement per row spent a third of SQLite's time per row on running the
/// statement itself; one per 32 rows does not. The statement reads
/// `INSERT … SELECT * FROM (VALUES (…), (…), …) LIMIT ? OFFSET ?`, so that a part-filled
/// last block runs with its row count as the limit, and a block that fails runs again one
/// row at a time (the failed statement undid its own rows) until the row at fault names
/// itself in the error, as it did when every row was its own statement.
public struct DatasetImport: RowSink {
    let dataset: Dataset
    let update: Bool
    let db: SQLiteConnection
    let maxValueBytes: Int
    private(set) var sawHeader = false
    private(set) var rows = 0
    private var statement: SQLiteStatement?
    private var columns: [Dataset.Column] = []
    /// The columns' types alone: read per cell, without copying the column's name.
    private var types: [ColumnType] = []
    /// Which header columns are keys (with update=1 a key cannot be null: SQLite's unique
    /// index lets any number of nulls in, and every push would add the row again).
    private var isKey: [Bool] = []
    /// Rows per block, and how many of the current block are bound.
    private var blockRows = 1
    private var pending = 0
    /// At most this many rows a block: beyond it the statement grows without saving more.
    static let maxBlockRows = 32

    init(dataset: Dataset, update: Bool, db: SQLiteConnection, maxValueBytes: Int = 16 << 20) {
        self.dataset = dataset
        self.update = update
        self.db = db
        self.maxValueBytes = maxValueBytes
    }

    public mutating func header(_ names: [String]) throws {
        var seen = Set<String>()
        columns = try names.map { name in
            guard let column = dataset.columns.first(where: { $0.name == name }) else {
                throw DatasetWriteError.header(
                    "header column '\(name)' is not a column of \(dataset.table) (\(dataset.columns.map(\.name).joined(separator: ", ")))")
            }
            guard seen.insert(name).inserted else { throw DatasetWriteError.header("header column '\(name)' appears twice") }
            return column
        }
        if update {
            guard !dataset.keys.isEmpty else {
                throw DatasetWriteError.header("update=1 needs key columns, and dataset '\(dataset.id)' defines none")
            }
            for key in dataset.keys where !seen.contains(key) {
                throw DatasetWriteError.header("update=1 needs the key column '\(key)' in the header")
            }
        }
        // Two more parameters than the cells: the block's LIMIT and OFFSET.
        let maxParameters = Int(sqlite3_limit(db.handle, SQLITE_LIMIT_VARIABLE_NUMBER, -1)) - 2
        blockRows = max(1, min(Self.maxBlockRows, maxParameters / max(1, names.count)))
        let row = "(" + Array(repeating: "?", count: names.count).joined(separator: ", ") + ")"
        // WHERE true: without it, SQLite would read an upsert's ON CONFLICT as a join's ON.
        let block = "SELECT * FROM (VALUES " + Array(repeating: row, count: blockRows).joined(separator: ", ") + ") WHERE true LIMIT ? OFFSET ?"
        statement = try db.prepare(Self.insertSQL(dataset, columns: columns.map(\.name), update: update, rows: block))
        types = columns.map(\.type)
        isKey = columns.map { update && dataset.keys.contains($0.name) }
        sawHeader = true
    }

    /// `INSERT INTO table (columns) <rows>`, as an upsert on the dataset's keys when `update`.
    static func insertSQL(_ dataset: Dataset, columns: [String], update: Bool, rows: String) -> String {
        var sql = "INSERT INTO \(Dataset.quote(dataset.table)) (\(columns.map(Dataset.quote).joined(separator: ", "))) \(rows)"
        if update {
            let others = columns.filter { !dataset.keys.contains($0) }.map { "\(Dataset.quote($0)) = excluded.\(Dataset.quote($0))" }
            sql += " ON CONFLICT (\(dataset.keys.map(Dataset.quote).joined(separator: ", "))) DO "
            sql += others.isEmpty ? "NOTHING" : "UPDATE SET \(others.joined(separator: ", "))"
        }
        return sql
    }

    public mutating func cell(_ value: PushedCell, column: Int) throws {
        guard column < types.count else {
            throw DatasetWriteError.row("row \(rows + 1) has more cells than the header's \(columns.count)")
        }
        switch value {
        case .null where isKey[column]:
            throw DatasetWriteError.row("row \(rows + 1), column '\(columns[column].name)': a key column cannot be null with update=1")
        case .text(let raw) where raw.count > maxValueBytes, .number(let raw) where raw.count > maxValueBytes:
            throw DatasetWriteError.row(
                "row \(rows + 1), column '\(columns[column].name)': the value is larger than \(maxValueBytes) bytes (limits.maxValueBytes)")
        default: break
        }
        do {
            try CellBinding.bind(value, to: statement!, index: Int32(pending * types.count + column + 1), type: types[column])
        } catch let refusal as CellBinding.Refusal {
            var shown = value.description
            if shown.count > 60 { shown = String(shown.prefix(60)) + "…" }
            throw DatasetWriteError.row("row \(rows + 1), column '\(columns[column].name)': '\(shown)' \(refusal.problem)")
        }
    }

    public mutating func endRow(cells: Int) throws {
        rows += 1
        guard cells == columns.count else {
            throw DatasetWriteError.row("row \(rows) has \(cells) cells, the header has \(columns.count)")
        }
        pending += 1
        if pending == blockRows { try flush() }
    }

    /// Inserts the rows bound so far. Called when a block is full, and before anything else
    /// the write does (a copy, postSql, the commit).
    mutating func flush() throws {
        guard let statement, pending > 0 else { return }
        let first = rows - pending + 1
        defer { pending = 0 }
        do {
            try run(statement, limit: pending, offset: 0)
            return
        } catch let e as SQLiteError {
            // Some failures (a full disk, an I/O error) roll back the whole transaction:
            // rows run again now would each commit on their own.
            guard sqlite3_get_autocommit(db.handle) == 0 else {
                throw DatasetWriteError.row("rows \(first)–\(rows): \(e.message)")
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
        let cells = Int32(blockRows * types.count)
        statement.bind(cells + 1, int: Int64(limit))
        statement.bind(cells + 2, int: Int64(offset))
        try statement.execute()
    }
}
