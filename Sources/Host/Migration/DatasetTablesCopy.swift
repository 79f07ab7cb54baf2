import CSQLite
import Foundation

/// The datasets' tables of a gateway's `datasets.sqlite`, copied into the `datasets` schema
/// of a PostgreSQL store (`gateway store migrate`), on the one path rows travel: each table
/// read as batches (`SQLiteBatchSource`) and written by `DatasetTableSink` (COPY), each
/// value converted to its column's type exactly as a push converts it. Every table of the
/// file moves, the pushed ones and those an administrator's preSql made.
enum DatasetTablesCopy {
    /// Copies every table; returns how many rows each had. All or nothing: a table that fails
    /// drops the tables this copy made before it, so the copy can simply run again.
    static func copy(file path: String, to target: PostgresDatasetTables, datasets: [Dataset]) throws -> [(table: String, rows: Int)] {
        let source = try SQLiteConnection(path: path, readOnly: true)
        let names = try source.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
            .compactMap { $0[0].text }
        let tables = try names.map { try layout(of: $0, in: source, datasets: datasets) }
        for table in tables where try target.holdsRows(table.table) {
            throw InvalidInput("the target store already holds rows in datasets.\(table.table): copy into a new, empty database")
        }
        var made: [String] = []
        do {
            var counts: [(String, Int)] = []
            for table in tables {
                made.append(table.table)
                counts.append((table.table, try copy(table, from: path, to: target)))
            }
            return counts
        } catch {
            for table in made { try? target.drop(table) }
            throw error
        }
    }

    /// The table as a dataset: its columns with the types their declared types stand for,
    /// and the keys of the dataset that pushes into it.
    private static func layout(of table: String, in db: SQLiteConnection, datasets: [Dataset]) throws -> Dataset {
        let columns = try db.query("SELECT name, type FROM pragma_table_info(?) ORDER BY cid", [.text(table)]).map { row in
            let type = ColumnType(declared: row[1].text ?? "")
            return "\(row[0].text ?? "") \(type.rawValue)"
        }
        let keys = datasets.first { $0.table == table }?.keys ?? []
        do {
            return try Dataset(id: "copy", definition: DatasetDefinition(table: "\(table)(\(columns.joined(separator: ", ")))", keys: keys))
        } catch let e as InvalidInput {
            throw InvalidInput("the datasets' table \(table) cannot be copied: \(e.description)")
        }
    }

    private static func copy(_ table: Dataset, from path: String, to target: PostgresDatasetTables) throws -> Int {
        let reader = try SQLiteConnection(path: path, readOnly: true)
        let select = "SELECT \(table.columns.map { Dataset.quote($0.name) }.joined(separator: ", ")) FROM \(Dataset.quote(table.table)) ORDER BY rowid"
        let source = try SQLiteBatchSource(statement: try reader.prepare(select), rowLimit: nil, unknownTypes: .castToString)
        let sink = DatasetTableSink(tables: target, dataset: table, mode: .append)
        do {
            _ = try Pump.run(source, into: sink)
        } catch {
            throw InvalidInput("copying the datasets' table \(table.table) failed: \(error)")
        }
        return sink.rowsWritten
    }
}
