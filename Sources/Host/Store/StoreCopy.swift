import Foundation

/// `gateway store migrate --to postgres://…`: everything one gateway's SQLite store holds,
/// copied into a PostgreSQL store in one transaction (all of it or none), ids kept, so that
/// links between rows, export download keys and execution ids stay valid. The target must
/// hold no rows yet: copying into a store other gateways already use would mix two histories.
public enum StoreCopy {
    /// The tables, in an order that satisfies their foreign keys. Their columns are read from
    /// both schemas, not listed here: a column a later migration adds is copied without a
    /// change here, and one the target lacks is an error, never a value silently left behind.
    static let tables = [
        "api_tokens", "plugin_state", "used_signed_tokens", "datasets", "datamodels", "export_tasks", "export_logs", "dataflows",
        "dataflow_tags", "dataflow_tag_links", "dataflow_links", "dataflow_runs", "dataflow_logs",
    ]
    /// Rows per INSERT: one round trip carries many, within PostgreSQL's 65,535 parameters.
    static func rowsPerInsert(columns: Int) -> Int { max(1, min(500, 65_000 / max(columns, 1))) }

    /// Copies every row; returns how many rows of each table.
    public static func copy(from source: any SQLDatabase, to target: any SQLDatabase) throws -> [(table: String, rows: Int)] {
        try source.withSession { from in
            try target.withSession { to in
                try to.transaction {
                    for table in tables where try !to.query("SELECT 1 FROM \(table) LIMIT 1", []).isEmpty {
                        throw InvalidInput("the target store already holds rows (in \(table)): copy into a new, empty database")
                    }
                    // One snapshot of the source: a gateway still running cannot tear it.
                    return try from.transaction {
                        var counts: [(String, Int)] = []
                        for table in tables {
                            counts.append((table, try copyTable(table, try sharedColumns(table, from: from, to: to), from: from, to: to)))
                            // Ids PostgreSQL generates continue after the copied ones.
                            guard try columns(of: table, in: to).contains("id"),
                                try to.query("SELECT pg_get_serial_sequence(?, 'id')", [.text(table)]).first?.first?.text != nil
                            else { continue }
                            _ = try to.query(
                                "SELECT setval(pg_get_serial_sequence('\(table)', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM \(table)", [])
                        }
                        return counts
                    }
                }
            }
        }
    }

    /// The source table's columns, each of which the target must have (SQLite's export log has
    /// no id; PostgreSQL numbers those rows itself).
    private static func sharedColumns(_ table: String, from: any SQLSession, to: any SQLSession) throws -> [String] {
        let source = try columns(of: table, in: from), target = Set(try columns(of: table, in: to))
        if let missing = source.first(where: { !target.contains($0) }) {
            throw InvalidInput("the target store has no column \(table).\(missing): it was made by another version of the gateway")
        }
        return source
    }

    private static func columns(of table: String, in db: any SQLSession) throws -> [String] {
        let sql =
            db.dialect == .sqlite
            ? "SELECT name FROM pragma_table_info(?) ORDER BY cid"
            : "SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position"
        let names = try db.query(sql, [.text(table)]).compactMap { $0[0].text }
        guard !names.isEmpty else { throw InvalidInput("the \(db.dialect) store has no table \(table)") }
        return names
    }

    private static func copyTable(_ table: String, _ columns: [String], from: any SQLSession, to: any SQLSession) throws -> Int {
        let list = columns.joined(separator: ", ")
        let order = from.dialect == .sqlite ? "rowid" : columns[0]
        let rows = try from.query("SELECT \(list) FROM \(table) ORDER BY \(order)", [])
        let row = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + rowsPerInsert(columns: columns.count), rows.count)]
            try to.run(
                "INSERT INTO \(table) (\(list)) VALUES " + Array(repeating: row, count: chunk.count).joined(separator: ", "),
                chunk.flatMap { $0 })
            start += chunk.count
        }
        return rows.count
    }
}
