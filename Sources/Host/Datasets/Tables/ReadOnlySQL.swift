import CSQLite
import SQLiteTuning
import Foundation

/// Read-only access to the datasets file for queries: a read-only connection, an
/// authorizer that allows nothing but reading (no writes, no ATTACH, no PRAGMA), and one
/// statement per query. A refused statement never runs, so nothing is rolled back.
enum ReadOnlySQL {
    struct Refused: Error, CustomStringConvertible {
        let description: String
    }

    /// A read-only connection from `pool` whose statements stop when `control` says so
    /// (client gone, time budget spent). It returns to the pool when its statement is
    /// finalized.
    /// `identity`: who the statement reads for (row filters read its claims).
    static func open(_ pool: ReadOnlyPool, control: RunControl, identity: Identity? = nil) throws -> SQLiteConnection {
        let db = try pool.take()
        db.interrupt(every: 10_000) { control.isStopped }
        caller(of: db)?.identity = identity
        return db
    }

    /// The connection's row-filter caller, when it has row filters.
    static func caller(of db: SQLiteConnection) -> RowFilterCaller? {
        db.callbackObjects.lazy.compactMap { $0 as? RowFilterCaller }.first
    }

    /// A new read-only connection whose values are at most `maxValueBytes` long, with the
    /// views of `rowFilters` (see RowFilterViews).
    static func connect(_ path: String, maxValueBytes: Int, maxTempBytes: Int, rowFilters: RowFilterViews? = nil) throws -> SQLiteConnection {
        // The capped VFS bounds the temporary files a sort may spill (limits.maxTempBytes).
        guard let vfs = gw_sqlite_capped_vfs(Int64(maxTempBytes)) else {
            throw SQLiteError(code: SQLITE_ERROR, message: "cannot set up the cap on temporary files")
        }
        let db = try SQLiteConnection(path: path, readOnly: true, vfs: String(cString: vfs))
        let refusals = Refusals()
        if let rowFilters {
            // Before query_only and the authorizer: the views are the connection's own (TEMP).
            let (version, filters) = rowFilters.snapshot()
            try RowFilterCaller().install(on: db)
            for statement in rowFilters.viewStatements(filters) { try db.execute(statement) }
            refusals.rowFilterVersion = version
            refusals.filteredTables = Dictionary(
                filters.map { (RowFilterViews.folded($0.table), (view: RowFilterViews.folded(rowFilters.innerView($0)), dataset: $0.datasetId)) },
                uniquingKeysWith: { a, _ in a })
        }
        // query_only first: the authorizer installed next refuses every PRAGMA.
        // A small page cache: a query reads its pages once, and the OS keeps the file cached;
        // dozens of concurrent queries with SQLite's default 2 MB each grew the heap with
        // every table they scanned.
        try db.execute("PRAGMA query_only = 1; PRAGMA cache_size = -256")
        db.callbackObjects.append(refusals)
        sqlite3_set_authorizer(db.handle, readOnlyAuthorizer, Unmanaged.passUnretained(refusals).toOpaque())
        sqlite3_limit(db.handle, SQLITE_LIMIT_LENGTH, Int32(clamping: maxValueBytes))
        // LIKE and GLOB patterns are matched backtracking: keep them short.
        sqlite3_limit(db.handle, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1_000)
        // No single function call may run longer than its input is long (see the C file).
        guard gw_sqlite_register_linear_functions(db.handle) == SQLITE_OK else {
            throw SQLiteError(code: SQLITE_ERROR, message: "cannot set up the query functions")
        }
        return db
    }

    /// Prepares exactly one read-only statement. With `readingNoTable`, a statement that
    /// reads any table of the file is refused too: an expression checked against stand-in
    /// tables (a model's dimension) must not reach past them.
    static func prepare(_ db: SQLiteConnection, _ sql: String, readingNoTable: Bool = false) throws -> SQLiteStatement {
        let refusals = db.callbackObjects.lazy.compactMap { $0 as? Refusals }.first
        refusals?.denyTableReads = readingNoTable
        refusals?.table = nil
        refusals?.filteredDataset = nil
        refusals?.schemaRead = false
        defer { refusals?.denyTableReads = false }
        var stmt: OpaquePointer?
        // `tail` points into the C string, which lives only inside withCString: read it there.
        var onlyOneStatement = true
        let rc = sql.withCString { text in
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v2(db.handle, text, -1, &stmt, &tail)
            if let tail { onlyOneStatement = isBlank(tail) }
            return rc
        }
        guard rc == SQLITE_OK, let stmt else {
            let message = String(cString: sqlite3_errmsg(db.handle))
            // A refused function fails with SQLITE_ERROR ("not authorized to use function").
            if let function = refusals?.function {
                throw Refused(description: "the function \(function)() is not allowed in queries (see docs/api.md for the functions that are)")
            }
            if let dataset = refusals?.filteredDataset {
                throw Refused(
                    description: "dataset '\(dataset)' has a row filter: its table is read by its name only (not main.<table>), so that the filter applies")
            }
            if refusals?.schemaRead == true {
                throw Refused(
                    description: "while datasets have row filters, the temporary schema, dbstat, sqlite_stat tables and the record of filters are not readable")
            }
            if let table = refusals?.table {
                throw Refused(
                    description:
                        "it reads the table \(table), which is not one of the model's: an expression reads its tables' columns as table.column, nothing else")
            }
            if rc == SQLITE_AUTH {
                throw Refused(description: "only reading queries are allowed: writes, ATTACH, PRAGMA and schema changes are refused")
            }
            throw Refused(description: "the query does not compile: \(message)")
        }
        let statement = SQLiteStatement(stmt, connection: db)
        // EXPLAIN shows how a statement reads, row filters' views included.
        if refusals?.filteredTables.isEmpty == false && sqlite3_stmt_isexplain(stmt) != 0 {
            throw Refused(description: "EXPLAIN is not available while datasets have row filters")
        }
        if !onlyOneStatement {
            throw Refused(description: "one statement per query")
        }
        guard sqlite3_stmt_readonly(stmt) != 0 else {
            throw Refused(description: "only reading queries are allowed: writes, ATTACH, PRAGMA and schema changes are refused")
        }
        return statement
    }

    /// Whether what follows a statement is only white space and semicolons. The usual tail
    /// (nothing, or ASCII blanks) is read in place; one with other bytes is trimmed as text
    /// (Unicode white space counts too).
    private static func isBlank(_ tail: UnsafePointer<CChar>) -> Bool {
        var p = tail
        while true {
            switch UInt8(bitPattern: p.pointee) {
            case 0: return true
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0C, UInt8(ascii: ";"): p += 1
            default: return String(cString: p).trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: ";"))).isEmpty
            }
        }
    }
}

/// What the authorizer refused last, for the message, and whether it refuses reading tables.
final class Refusals {
    var function: String?
    var table: String?
    var denyTableReads = false
    /// Tables under a row filter (lower-cased) → the view allowed to read them, and their dataset.
    var filteredTables: [String: (view: String, dataset: String)] = [:]
    /// The row filters' version the connection's views were made for.
    var rowFilterVersion = 0
    /// A filtered table read other than through its view; the temp schema read.
    var filteredDataset: String?
    var schemaRead = false
}

/// SQL functions a query may call: SQLite's core scalar, date, math, aggregate, window and
/// JSON functions. An allow-list, so that whatever an SQLite build adds (fts3_tokenizer,
/// which hands out and accepts raw pointers; load_extension) stays out.
let allowedSQLFunctions: Set<String> = [
    // scalar
    "abs", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex", "if", "ifnull", "iif", "instr",
    "length", "like", "likelihood", "likely", "lower", "ltrim", "max", "min", "nullif", "octet_length", "printf",
    "quote", "random", "randomblob", "replace", "round", "rtrim", "sign", "soundex", "substr", "substring", "trim",
    "typeof", "unhex", "unicode", "unistr", "unlikely", "upper", "zeroblob",
    // dates and times
    "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff",
    "current_date", "current_time", "current_timestamp",
    // aggregates and windows
    "avg", "count", "group_concat", "string_agg", "sum", "total",
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
    // math
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "ceiling", "cos", "cosh", "degrees", "exp",
    "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow", "power", "radians", "sin", "sinh", "sqrt", "tan",
    "tanh", "trunc",
    // JSON
    "json", "jsonb", "json_array", "jsonb_array", "json_array_length", "json_error_position", "json_extract",
    "jsonb_extract", "->", "->>", "json_insert", "jsonb_insert", "json_object", "jsonb_object", "json_patch",
    "jsonb_patch", "json_pretty", "json_remove", "jsonb_remove", "json_replace", "jsonb_replace", "json_set",
    "jsonb_set", "json_type", "json_valid", "json_quote", "json_group_array", "jsonb_group_array",
    "json_group_object", "jsonb_group_object", "json_each", "json_tree",
]

private func readOnlyAuthorizer(
    _ context: UnsafeMutableRawPointer?, _ action: Int32, _ a: UnsafePointer<CChar>?, _ b: UnsafePointer<CChar>?,
    _ database: UnsafePointer<CChar>?, _ trigger: UnsafePointer<CChar>?
) -> Int32 {
    switch action {
    case SQLITE_READ:
        guard let context else { return SQLITE_OK }
        let refusals = Unmanaged<Refusals>.fromOpaque(context).takeUnretainedValue()
        if !refusals.filteredTables.isEmpty {
            let schema = database.map { String(cString: $0).lowercased() } ?? ""
            let table = a.map { RowFilterViews.folded(String(cString: $0)) } ?? ""
            // A filtered table is read only from inside its filter's view (the innermost view
            // of the read, as SQLite names it); the temp schema would tell the view's name.
            if schema == "main", let filtered = refusals.filteredTables[table], trigger.map({ RowFilterViews.folded(String(cString: $0)) }) != filtered.view {
                refusals.filteredDataset = filtered.dataset
                return SQLITE_DENY
            }
            // The temp schema would tell the view's name; page and statistics tables would
            // tell how many rows the filter hides, and the record of filters what they are.
            if (schema == "temp" && table.hasPrefix("sqlite_")) || ["dbstat", "sqlite_dbpage", "sqlite_stat1", "sqlite_stat4"].contains(table)
                || table == SQLiteDatasetTables.rowFiltersTable
            {
                refusals.schemaRead = true
                return SQLITE_DENY
            }
        }
        guard refusals.denyTableReads else { return SQLITE_OK }
        refusals.table = a.map { String(cString: $0) } ?? "?"
        return SQLITE_DENY
    case SQLITE_SELECT, SQLITE_RECURSIVE:
        return SQLITE_OK
    case SQLITE_FUNCTION:
        let name = b.map { String(cString: $0).lowercased() } ?? ""
        if allowedSQLFunctions.contains(name) || name == "gateway_claim" { return SQLITE_OK }
        if let context { Unmanaged<Refusals>.fromOpaque(context).takeUnretainedValue().function = name }
        return SQLITE_DENY
    case SQLITE_UPDATE where a.map({ String(cString: $0) }) == "sqlite_master":
        // SQLite's own nested parse when a table-valued function (json_each) declares its
        // schema. A statement that really writes is still refused: the connection is
        // read-only and `prepare` checks sqlite3_stmt_readonly.
        return SQLITE_OK
    default:
        return SQLITE_DENY
    }
}

/// Idle read-only connections to the datasets file, kept for the next query. Opening one
/// reads and parses the whole schema and sets up the authorizer and functions: that was a
/// fifth of the CPU of a small query (perf, bench/small_requests.py).
///
/// @unchecked Sendable: a connection in `idle` has no statement and no progress check, and
/// only the pool refers to it until `take` hands it to one query; `idle` is read and
/// written under `lock` only.
final class ReadOnlyPool: @unchecked Sendable {
    let path: String
    let maxValueBytes: Int
    let maxTempBytes: Int
    /// More idle connections than this are closed (concurrent queries beyond it open their own).
    let maxIdle: Int
    private var idle: [SQLiteConnection] = []
    private let lock = NSLock()

    /// As many idle connections as queries can run at once (one per worker thread): fewer
    /// made the pool close and reopen connections under load, and a new connection reads the
    /// schema again at its first statement.
    /// The datasets' row filters, which every connection's views follow.
    let rowFilters: RowFilterViews?

    init(path: String, maxValueBytes: Int, maxTempBytes: Int, maxIdle: Int = Workers.threads, rowFilters: RowFilterViews? = nil) {
        self.path = path
        self.maxValueBytes = maxValueBytes
        self.maxTempBytes = maxTempBytes
        self.maxIdle = maxIdle
        self.rowFilters = rowFilters
    }

    /// An idle connection made for the row filters as they are now, or a new one.
    func take() throws -> SQLiteConnection {
        let version = rowFilters?.version ?? 0
        while let db = lock.withLock({ idle.popLast() }) {
            if Self.rowFilterVersion(of: db) == version { return db }
            db.whenIdle = nil  // made for filters since changed: closed as it goes
        }
        let db = try ReadOnlySQL.connect(path, maxValueBytes: maxValueBytes, maxTempBytes: maxTempBytes, rowFilters: rowFilters)
        db.whenIdle = { [weak self] db in self?.put(db) }
        return db
    }

    /// Connections waiting in the pool (for tests).
    var idleCount: Int { lock.withLock { idle.count } }

    private static func rowFilterVersion(of db: SQLiteConnection) -> Int {
        db.callbackObjects.lazy.compactMap { ($0 as? Refusals)?.rowFilterVersion }.first ?? 0
    }

    private func put(_ db: SQLiteConnection) {
        db.stopInterrupting()
        for case let refusals as Refusals in db.callbackObjects {
            refusals.function = nil
            refusals.table = nil
            refusals.denyTableReads = false
            refusals.filteredDataset = nil
            refusals.schemaRead = false
        }
        if let caller = ReadOnlySQL.caller(of: db) {
            caller.identity = nil
            caller.refusal = nil
        }
        lock.withLock {
            if idle.count < maxIdle { idle.append(db) }
        }
    }
}
