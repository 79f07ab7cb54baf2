import CSQLite
import Foundation

/// Read-only access to the datasets file for queries: a read-only connection, an
/// authorizer that allows nothing but reading (no writes, no ATTACH, no PRAGMA), and one
/// statement per query. A refused statement never runs, so nothing is rolled back.
enum ReadOnlySQL {
    struct Refused: Error, CustomStringConvertible {
        let description: String
    }

    static func open(_ path: String) throws -> SQLiteConnection {
        let db = try SQLiteConnection(path: path, readOnly: true)
        // query_only first: the authorizer installed next refuses every PRAGMA.
        try db.execute("PRAGMA query_only = 1")
        sqlite3_set_authorizer(db.handle, readOnlyAuthorizer, nil)
        return db
    }

    /// Prepares exactly one read-only statement.
    static func prepare(_ db: SQLiteConnection, _ sql: String) throws -> SQLiteStatement {
        var stmt: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let rc = sql.withCString { sqlite3_prepare_v2(db.handle, $0, -1, &stmt, &tail) }
        guard rc == SQLITE_OK, let stmt else {
            let message = String(cString: sqlite3_errmsg(db.handle))
            if rc == SQLITE_AUTH {
                throw Refused(description: "only reading queries are allowed: writes, ATTACH, PRAGMA and schema changes are refused")
            }
            throw Refused(description: "the query does not compile: \(message)")
        }
        let statement = SQLiteStatement(stmt, connection: db)
        if let tail, String(cString: tail).trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: ";"))) != "" {
            throw Refused(description: "one statement per query")
        }
        guard sqlite3_stmt_readonly(stmt) != 0 else {
            throw Refused(description: "only reading queries are allowed: writes, ATTACH, PRAGMA and schema changes are refused")
        }
        return statement
    }
}

private func readOnlyAuthorizer(
    _ context: UnsafeMutableRawPointer?, _ action: Int32, _ a: UnsafePointer<CChar>?, _ b: UnsafePointer<CChar>?,
    _ database: UnsafePointer<CChar>?, _ trigger: UnsafePointer<CChar>?
) -> Int32 {
    switch action {
    case SQLITE_SELECT, SQLITE_READ, SQLITE_FUNCTION, SQLITE_RECURSIVE:
        return SQLITE_OK
    case SQLITE_UPDATE where a.map({ String(cString: $0) }) == "sqlite_master":
        // SQLite's own nested parse when a table-valued function (json_each) declares its
        // schema. A statement that really writes is still refused: the connection is
        // read-only and `prepare` checks sqlite3_stmt_readonly.
        return SQLITE_OK
    default:
        return SQLITE_DENY
    }
}
