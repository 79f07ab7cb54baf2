import CSQLite
import Foundation
import SQLiteTuning

public struct SQLiteError: MessageError, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }
    /// True for a UNIQUE or PRIMARY KEY violation.
    public var isConstraint: Bool { code & 0xFF == SQLITE_CONSTRAINT }
    /// True when a progress handler stopped the statement.
    public var isInterrupt: Bool { code & 0xFF == SQLITE_INTERRUPT }
    /// True when a value grew past the connection's length limit.
    public var isTooBig: Bool { code & 0xFF == SQLITE_TOOBIG }
    /// True when a write found no room (the disk, or the temporary-file cap).
    public var isFull: Bool { code & 0xFF == SQLITE_FULL }
}

// SQLITE_TRANSIENT tells SQLite to copy bound bytes before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection. Not thread-safe by itself: `Store` serializes access to it.
public final class SQLiteConnection: SQLSession {
    public var dialect: SQLDialect { .sqlite }
    let handle: OpaquePointer
    /// Objects SQLite calls back with (progress checks, authorizer state): they live as long
    /// as the connection.
    var callbackObjects: [AnyObject] = []
    /// The check `interrupt(every:when:)` installed: one at a time, replaced by the next.
    private var progressCheck: ProgressCheck?
    /// Called when the last prepared statement of this connection is finalized: a pooled
    /// read-only connection goes back to its pool then (see ReadOnlyPool).
    var whenIdle: ((SQLiteConnection) -> Void)?
    /// When set, `query` and `run` keep their statements prepared, by SQL text, for the next
    /// call. The store's connection answers the same few statements on every request (a
    /// token lookup on each), and parsing them again was a tenth of a small query's time.
    /// Never on a pooled connection: it goes back to its pool when its last statement is
    /// finalized, which kept statements never are.
    var keepsStatements = false
    private var kept: [String: OpaquePointer] = [:]
    /// Dynamic SQL (a table name in the text) must not grow the set without bound.
    private static let keptLimit = 64

    final class ProgressCheck {
        let shouldStop: () -> Bool
        init(_ shouldStop: @escaping () -> Bool) { self.shouldStop = shouldStop }
    }

    /// Runs `shouldStop` every `instructions` virtual-machine steps of any statement on this
    /// connection; when it returns true the statement fails with SQLITE_INTERRUPT. The way
    /// to stop a query that never ends (a WITH RECURSIVE without a bound).
    func interrupt(every instructions: Int32, when shouldStop: @escaping () -> Bool) {
        let check = ProgressCheck(shouldStop)
        progressCheck = check
        sqlite3_progress_handler(
            handle, instructions,
            { context in
                guard let context else { return 0 }
                return Unmanaged<ProgressCheck>.fromOpaque(context).takeUnretainedValue().shouldStop() ? 1 : 0
            }, Unmanaged.passUnretained(check).toOpaque())
    }

    /// Removes the check (and what it holds on to).
    func stopInterrupting() {
        sqlite3_progress_handler(handle, 0, nil, nil)
        progressCheck = nil
    }

    /// Process-wide SQLite settings, applied before the first connection opens.
    private static let configured: Bool = gw_sqlite_configure() == 1

    public init(path: String, readOnly: Bool = false, vfs: String? = nil) throws {
        _ = Self.configured
        // Created by us, private: SQLite gives its -wal and -shm files the mode of the database.
        // ":memory:" and "" name no file: creating one would leave a stray file behind.
        if !readOnly && path != ":memory:" && !path.isEmpty { Self.makePrivate(path) }
        var db: OpaquePointer?
        let flags =
            readOnly
            ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, vfs)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw SQLiteError(code: rc, message: "\(path): \(message)")
        }
        handle = db
        sqlite3_busy_timeout(db, 5_000)
        _ = gw_sqlite_strict_quotes(db)
    }

    /// Creates the file readable by its owner only, or takes group and other bits off it.
    private static func makePrivate(_ path: String) {
        let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        if fd >= 0 {
            fchmod(fd, 0o600)
            close(fd)
        }
        // Journal files left by an earlier version keep their own modes.
        for suffix in ["-wal", "-shm"] { chmod(path + suffix, 0o600) }
    }

    deinit {
        for stmt in kept.values { sqlite3_finalize(stmt) }
        sqlite3_progress_handler(handle, 0, nil, nil)
        sqlite3_close_v2(handle)
    }

    public func execute(_ sql: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        guard rc == SQLITE_OK else {
            let message = errorMessage.map { String(cString: $0) } ?? "unknown"
            sqlite3_free(errorMessage)
            throw SQLiteError(code: rc, message: message)
        }
    }

    public func prepare(_ sql: String) throws -> SQLiteStatement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw lastError(rc) }
        return SQLiteStatement(stmt, connection: self)
    }

    /// A statement for `query` and `run`: a kept one when this connection keeps them.
    private func reusable(_ sql: String) throws -> SQLiteStatement {
        guard keepsStatements else { return try prepare(sql) }
        if let stmt = kept[sql] { return SQLiteStatement(stmt, connection: self, kept: true) }
        let statement = try prepare(sql)
        guard kept.count < Self.keptLimit else { return statement }
        statement.keep()
        kept[sql] = statement.stmt
        return statement
    }

    /// Runs a statement that returns no rows (or whose rows are ignored); says how many
    /// rows it changed.
    @discardableResult
    public func run(_ sql: String, _ args: [SQLValue] = []) throws -> Int {
        let stmt = try reusable(sql)
        try stmt.bind(args)
        while try stmt.step() {}
        return changes
    }

    /// Runs a query and collects every row (for small results).
    public func query(_ sql: String, _ args: [SQLValue] = []) throws -> [[SQLValue]] {
        let stmt = try reusable(sql)
        try stmt.bind(args)
        var rows: [[SQLValue]] = []
        while try stmt.step() { rows.append(stmt.row()) }
        return rows
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
    /// Gives back the page cache's unused memory (the cache refills from the OS's file cache).
    public func releaseMemory() { sqlite3_db_release_memory(handle) }

    /// The rowid of the last row inserted on this connection.
    public var lastInsertRowid: Int64 { sqlite3_last_insert_rowid(handle) }

    func lastError(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
    }
}

/// A prepared statement; finalized when dropped, unless its connection keeps it (then it is
/// reset, its bindings cleared, for the next use).
public final class SQLiteStatement {
    let stmt: OpaquePointer
    private let connection: SQLiteConnection
    private var kept: Bool

    init(_ stmt: OpaquePointer, connection: SQLiteConnection, kept: Bool = false) {
        self.stmt = stmt
        self.connection = connection
        self.kept = kept
    }

    /// The connection finalizes it, when it closes.
    fileprivate func keep() { kept = true }

    deinit {
        if kept {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
            return
        }
        sqlite3_finalize(stmt)
        // Only a connection with no statement left may serve another query.
        if let idle = connection.whenIdle, sqlite3_next_stmt(connection.handle, nil) == nil { idle(connection) }
    }

    public func bind(_ args: [SQLValue]) throws {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
        for (i, value) in args.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(stmt, index)
            case .int(let v): rc = sqlite3_bind_int64(stmt, index, v)
            case .double(let v): rc = sqlite3_bind_double(stmt, index, v)
            // With its length: a NUL inside the text is part of it (a length of -1 would
            // stop there, and "north\0' OR …" would bind as "north").
            case .text(let v):
                var text = v
                rc = text.withUTF8 { bytes in
                    sqlite3_bind_text(
                        stmt, index,
                        UnsafeRawPointer(bytes.baseAddress ?? Self.empty.utf8Start)
                            .assumingMemoryBound(to: CChar.self), Int32(clamping: bytes.count), transient)
                }
            case .blob(let v):
                rc = v.withUnsafeBytes { sqlite3_bind_blob(stmt, index, $0.baseAddress, Int32($0.count), transient) }
            }
            guard rc == SQLITE_OK else { throw connection.lastError(rc) }
        }
    }

    // Typed binds for bulk paths (1-based index), without building SQLValues.
    @inline(__always) public func bindNull(_ index: Int32) { sqlite3_bind_null(stmt, index) }
    @inline(__always) public func bind(_ index: Int32, int value: Int64) { sqlite3_bind_int64(stmt, index, value) }
    @inline(__always) public func bind(_ index: Int32, double value: Double) { sqlite3_bind_double(stmt, index, value) }
    @inline(__always) public func bind(_ index: Int32, text: UnsafeRawBufferPointer) {
        // A zero-length string still needs a non-NULL pointer, or SQLite stores NULL.
        let start = text.baseAddress ?? UnsafeRawPointer(Self.empty.utf8Start)
        sqlite3_bind_text(stmt, index, start.assumingMemoryBound(to: CChar.self), Int32(text.count), transient)
    }
    @inline(__always) public func bind(_ index: Int32, blob: UnsafeRawBufferPointer) {
        sqlite3_bind_blob(stmt, index, blob.baseAddress ?? UnsafeRawPointer(Self.empty.utf8Start), Int32(blob.count), transient)
    }
    private static let empty: StaticString = ""

    /// Runs a statement that returns no row, then resets it for the next bindings.
    public func execute() throws {
        defer { sqlite3_reset(stmt) }
        let rc = sqlite3_step(stmt)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw connection.lastError(rc) }
    }

    /// Advances to the next row; false when done.
    public func step() throws -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw connection.lastError(rc)
    }

    public var columnCount: Int { Int(sqlite3_column_count(stmt)) }

    public func columnName(_ i: Int) -> String { String(cString: sqlite3_column_name(stmt, Int32(i))) }

    public func value(_ i: Int) -> SQLValue {
        let index = Int32(i)
        switch sqlite3_column_type(stmt, index) {
        case SQLITE_INTEGER: return .int(sqlite3_column_int64(stmt, index))
        case SQLITE_FLOAT: return .double(sqlite3_column_double(stmt, index))
        case SQLITE_TEXT: return .text(Self.text(stmt, index))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(stmt, index))
            guard count > 0, let bytes = sqlite3_column_blob(stmt, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: return .null
        }
    }

    public func row() -> [SQLValue] { (0..<columnCount).map(value) }

    /// A text column's value, whole: read by its length, not up to a NUL.
    static func text(_ stmt: OpaquePointer, _ index: Int32) -> String {
        guard let start = sqlite3_column_text(stmt, index) else { return "" }
        let count = Int(sqlite3_column_bytes(stmt, index))
        return String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    }
}
