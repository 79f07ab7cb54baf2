import Foundation

// The repositories' SQL is written once, for both stores: `?` placeholders, and the SQL the
// two databases share (RETURNING, ON CONFLICT … DO NOTHING/UPDATE, partial unique indexes,
// WITH RECURSIVE). Where they differ (the schema, how a table is ordered by insertion)
// the session's dialect says which.

/// A value bound to or read from SQLite or PostgreSQL.
public enum SQLValue: Equatable, Sendable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])

    public var int: Int64? { if case .int(let v) = self { v } else { nil } }
    public var text: String? { if case .text(let v) = self { v } else { nil } }
    public var blob: [UInt8]? { if case .blob(let v) = self { v } else { nil } }
}

/// Which database a session speaks to.
public enum SQLDialect: Sendable {
    case sqlite, postgres
}

/// One connection, used by one thread at a time, for the length of a `withSession` call.
public protocol SQLSession {
    var dialect: SQLDialect { get }
    /// Runs a query and collects every row (for small results).
    func query(_ sql: String, _ args: [SQLValue]) throws -> [[SQLValue]]
    /// Runs a statement and says how many rows it changed.
    @discardableResult func run(_ sql: String, _ args: [SQLValue]) throws -> Int
    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T
}

extension SQLSession {
    func query(_ sql: String) throws -> [[SQLValue]] { try query(sql, []) }
}

/// Where a store's sessions come from: one SQLite file, or a PostgreSQL server's pool.
/// `withSession` blocks its thread until a connection is free: call it from a worker
/// thread, never from the cooperative pool or an event loop.
public protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    func withSession<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// Closes connections; sessions after this fail.
    func close() async
    /// Why the last attempt to reach the database failed, until one succeeds; nil while it
    /// answers (an embedded file always does). For `/healthz`: read, never a round trip.
    var unreachable: String? { get }
}
