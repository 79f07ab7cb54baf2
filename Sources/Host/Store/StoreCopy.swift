import Foundation

/// `gateway store migrate --to postgres://…`: everything one gateway's SQLite store holds,
/// copied into a PostgreSQL store in one transaction (all of it or none), ids kept, so that
/// links between rows, export download keys and execution ids stay valid. The target must
/// hold no rows yet: copying into a store other gateways already use would mix two histories.
public enum StoreCopy {
    /// The tables in an order that satisfies their foreign keys, with the columns both
    /// schemas share (SQLite's export_logs has no id: PostgreSQL numbers them in order).
    static let tables: [(name: String, columns: [String])] = [
        ("api_tokens", ["id", "name", "token_hash", "scopes", "created_at", "revoked_at"]),
        ("plugin_state", ["plugin_id", "instance", "key", "value", "updated_at"]),
        ("used_signed_tokens", ["token_hash", "expires_at"]),
        ("datasets", ["id", "definition", "updated_at"]),
        ("datamodels", ["id", "definition", "updated_at"]),
        (
            "export_tasks",
            [
                "id", "hash_key", "request_hash", "owner", "user_id", "title", "ext_type", "source_type", "request", "callback", "status",
                "fail_reason", "progress_done", "progress_total", "file", "created_at", "finished_at", "worker", "lease_until",
            ]
        ),
        ("export_logs", ["task_id", "at", "message"]),
        ("dataflows", ["id", "name", "en_name", "description", "status", "created_by", "config", "created_at", "updated_at", "revision"]),
        ("dataflow_tags", ["id", "name", "created_at"]),
        ("dataflow_tag_links", ["dataflow_id", "tag_id"]),
        ("dataflow_links", ["parent_id", "child_id", "position"]),
        (
            "dataflow_runs",
            [
                "id", "execution_id", "dataflow_id", "status", "trigger", "params", "progress", "rows_read", "rows_written", "rows_rejected",
                "error_message", "export_key", "started_at", "completed_at", "worker", "scheduled_for", "lease_until",
            ]
        ),
        ("dataflow_logs", ["id", "dataflow_id", "run_id", "at", "level", "component", "message"]),
    ]
    /// Tables whose ids PostgreSQL generates: their sequences continue after the copied ids.
    static let numbered = ["export_tasks", "export_logs", "dataflows", "dataflow_tags", "dataflow_runs", "dataflow_logs"]
    /// Rows per INSERT: one round trip carries many, within PostgreSQL's 65,535 parameters.
    static let rowsPerInsert = 500

    /// Copies every row; returns how many rows of each table.
    public static func copy(from source: any SQLDatabase, to target: any SQLDatabase) throws -> [(table: String, rows: Int)] {
        try source.withSession { from in
            try target.withSession { to in
                try to.transaction {
                    for (table, _) in tables where try !to.query("SELECT 1 FROM \(table) LIMIT 1", []).isEmpty {
                        throw InvalidInput("the target store already holds rows (in \(table)): copy into a new, empty database")
                    }
                    // One snapshot of the source: a gateway still running cannot tear it.
                    return try from.transaction {
                        var counts: [(String, Int)] = []
                        for (table, columns) in tables {
                            counts.append((table, try copyTable(table, columns, from: from, to: to)))
                        }
                        for table in numbered {
                            _ = try to.query(
                                "SELECT setval(pg_get_serial_sequence('\(table)', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM \(table)", [])
                        }
                        return counts
                    }
                }
            }
        }
    }

    private static func copyTable(_ table: String, _ columns: [String], from: any SQLSession, to: any SQLSession) throws -> Int {
        let list = columns.joined(separator: ", ")
        let order = from.dialect == .sqlite ? "rowid" : columns[0]
        let rows = try from.query("SELECT \(list) FROM \(table) ORDER BY \(order)", [])
        let row = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + rowsPerInsert, rows.count)]
            try to.run(
                "INSERT INTO \(table) (\(list)) VALUES " + Array(repeating: row, count: chunk.count).joined(separator: ", "),
                chunk.flatMap { $0 })
            start += chunk.count
        }
        return rows.count
    }
}
