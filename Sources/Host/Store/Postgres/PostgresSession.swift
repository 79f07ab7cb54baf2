import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO

/// One leased PostgreSQL connection as an `SQLSession`: the repositories' `?` placeholders
/// become `$1…$n`, `SQLValue`s are bound and read back by PostgreSQL type, and each
/// statement's future is waited for on the calling (worker) thread.
struct PostgresSession: SQLSession {
    let connection: PostgresConnection
    let logger: Logger
    var dialect: SQLDialect { .postgres }

    func query(_ sql: String, _ args: [SQLValue]) throws -> [[SQLValue]] {
        try execute(sql, args).rows.map { row in try row.map(Self.value) }
    }

    @discardableResult
    func run(_ sql: String, _ args: [SQLValue]) throws -> Int {
        try execute(sql, args).metadata.rows ?? 0
    }

    /// The rows as postgres-nio gives them (typed cells, binary values). With `untyped`,
    /// every value is sent as text of no declared type: PostgreSQL gives each parameter the
    /// type its place in the statement needs (`$1` compared with a bigint column is a
    /// bigint), as SQLite's dynamic typing did for the same SQL. Untyped statements come
    /// numbered already (`$1`…, by `PostgresParameters`): a `?` in them is left alone.
    func rows(_ sql: String, _ args: [SQLValue] = [], untyped: Bool = false) throws -> [PostgresRow] {
        try execute(sql, args, untyped: untyped).rows
    }

    func transaction<T>(_ body: () throws -> T) throws -> T {
        try run("BEGIN", [])
        do {
            let result = try body()
            try run("COMMIT", [])
            return result
        } catch {
            _ = try? run("ROLLBACK", [])
            throw error
        }
    }

    /// Several statements separated by `;` (migrations: no `;` inside their literals), one
    /// by one: postgres-nio speaks only the extended protocol, one statement a message.
    func script(_ sql: String) throws {
        for statement in sql.split(separator: ";") where !statement.allSatisfy(\.isWhitespace) {
            try run(String(statement), [])
        }
    }

    private func execute(_ sql: String, _ args: [SQLValue], untyped: Bool = false) throws -> PostgresQueryResult {
        var bindings = PostgresBindings(capacity: args.count)
        for arg in args {
            if untyped {
                if let text = UntypedText(arg) { bindings.append(text) } else { bindings.appendNull() }
                continue
            }
            switch arg {
            case .null: bindings.appendNull()
            case .int(let v): bindings.append(v)
            case .double(let v): bindings.append(v)
            case .text(let v): bindings.append(v)
            case .blob(let v): bindings.append(ByteBuffer(bytes: v))
            }
        }
        do {
            return try connection.query(PostgresQuery(unsafeSQL: untyped ? sql : Self.numbered(sql), binds: bindings), logger: logger).wait()
        } catch {
            throw PostgresStoreError(error)
        }
    }

    /// `?` → `$1`, `$2`, … outside quoted strings and identifiers.
    static func numbered(_ sql: String) -> String {
        var out = "", n = 0
        var quote: Character?
        out.reserveCapacity(sql.utf8.count + 8)
        for c in sql {
            if let q = quote {
                if c == q { quote = nil }
                out.append(c)
            } else if c == "'" || c == "\"" {
                quote = c
                out.append(c)
            } else if c == "?" {
                n += 1
                out += "$\(n)"
            } else {
                out.append(c)
            }
        }
        return out
    }

    private static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .int(try cell.decode(Int64.self))
        case .bool: return .int(try cell.decode(Bool.self) ? 1 : 0)
        case .float4, .float8: return .double(try cell.decode(Double.self))
        case .bytea:
            var buffer = try cell.decode(ByteBuffer.self)
            return .blob(buffer.readBytes(length: buffer.readableBytes) ?? [])
        default: return .text(try cell.decode(String.self))
        }
    }

    /// What an error from postgres-nio says: the server's own message when there is one
    /// (PSQLError's description hides it, to keep secrets out of logs by default).
    static func message(_ error: any Error) -> String {
        guard let psql = error as? PSQLError else { return "\(error)" }
        if let server = psql.serverInfo, let text = server[.message] {
            return server[.detail].map { "\(text) (\($0))" } ?? text
        }
        return "\(psql.code)"
    }
}

/// A parameter sent as text with no declared type (OID 0): the server infers its type.
private struct UntypedText: PostgresDynamicTypeEncodable {
    let text: String
    var psqlType: PostgresDataType { PostgresDataType(0) }
    var psqlFormat: PostgresFormat { .text }

    init?(_ value: SQLValue) {
        switch value {
        case .null: return nil
        case .int(let v): text = String(v)
        case .double(let v): text = "\(v)"
        case .text(let v): text = v
        case .blob(let v): text = "\\x" + v.map { String(format: "%02x", $0) }.joined()
        }
    }

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeString(text)
    }
}

/// A statement PostgreSQL refused, with its message and SQLSTATE. A value it cannot take
/// (SQLSTATE class 22: text with a NUL byte, a number out of range) came from the client: 400.
public struct PostgresStoreError: StatusError, Sendable {
    public let message: String
    /// The five-character SQLSTATE ("23505": a unique violation), when the server sent one.
    public let sqlState: String?

    init(_ error: any Error) {
        // The callback API (a FETCH read row by row) reports the server's error in the older
        // form: the same fields, read alike.
        if case .server(let server)? = error as? PostgresError {
            let text = server.fields[.message] ?? "\(server)"
            message = "PostgreSQL: " + (server.fields[.detail].map { "\(text) (\($0))" } ?? text)
            sqlState = server.fields[.sqlState]
            return
        }
        message = "PostgreSQL: " + PostgresSession.message(error)
        sqlState = (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    public var description: String { message }
    public var status: HTTPResponse.Status { sqlState?.hasPrefix("22") == true ? .badRequest : .internalServerError }
}
