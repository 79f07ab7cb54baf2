import Foundation

/// Writes pushed rows into a dataset's table: checks the header against the dataset's
/// columns and each cell against the limits, converts it to its column's type
/// (`CellBinding`), and hands it to the store's rows (`ImportedRows`): blocks of SQLite
/// inserts, or a PostgreSQL COPY stream.
public struct DatasetImport: RowSink {
    let dataset: Dataset
    let update: Bool
    let maxValueBytes: Int
    let output: any ImportedRows
    private(set) var sawHeader = false
    private(set) var rows = 0
    private var columns: [Dataset.Column] = []
    /// The columns' types alone: read per cell, without copying the column's name.
    private var types: [ColumnType] = []
    /// Which header columns are keys (with update=1 a key cannot be null: a unique index
    /// lets any number of nulls in, and every push would add the row again).
    private var isKey: [Bool] = []

    init(dataset: Dataset, update: Bool, output: any ImportedRows, maxValueBytes: Int = 16 << 20) {
        self.dataset = dataset
        self.update = update
        self.output = output
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
        try output.begin(columns: columns, update: update)
        types = columns.map(\.type)
        isKey = columns.map { update && dataset.keys.contains($0.name) }
        sawHeader = true
    }

    /// `INSERT INTO table (columns) <rows>`, as an upsert on the dataset's keys when `update`.
    static func insertSQL(_ dataset: Dataset, table: String? = nil, columns: [String], update: Bool, rows: String) -> String {
        var sql = "INSERT INTO \(table ?? Dataset.quote(dataset.table)) (\(columns.map(Dataset.quote).joined(separator: ", "))) \(rows)"
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
            try output.cell(value, column: column, type: types[column])
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
        try output.endRow(rows)
    }

    /// Stores the rows handed over so far. Called before anything else the write does (a
    /// copy, postSql, the commit).
    func flush() throws {
        try output.flush(lastRow: rows)
    }
}

/// Where an importer's converted cells go, one store's way. Row numbers count from 1 in
/// the order rows arrived, for naming a row at fault.
protocol ImportedRows: AnyObject {
    /// The header was checked: rows of these columns follow.
    func begin(columns: [Dataset.Column], update: Bool) throws
    /// One cell, converted by `CellBinding` (which throws its `Refusal`).
    func cell(_ value: PushedCell, column: Int, type: ColumnType) throws
    /// Row `row` is complete.
    func endRow(_ row: Int) throws
    /// Stores every row handed over, the last being row `lastRow`.
    func flush(lastRow: Int) throws
}
