import Foundation
import Logging
import NIOCore
import PluginKit
import PostgresNIO
import Synchronization

/// Reads a query on the PostgreSQL datasets as Arrow batches, in bounded memory: the query
/// is a cursor in a read-only transaction of the reader role, fetched a slice at a time
/// (each slice about 4 MB), with `statement_timeout` and the query API's own time budget.
/// A stop (client gone, time spent) closes the connection, which ends the query on the
/// server.
///
/// Types come from PostgreSQL's result columns: integers, floats, numeric, boolean, text,
/// date, timestamp and bytea read as their Arrow types; a column of any other type is an
/// "unknown type", read as text (CastToString), left out (Ignore) or refused (Error).
/// Values arrive in PostgreSQL's binary format and are decoded here.
final class PostgresBatchSource: BatchSource {
    let schema: OwnedSchema
    private let builder: BatchBuilder
    /// For each output column: the result column it reads, and how.
    private let plans: [(column: Int, kind: PhysicalKind)]
    private let read: Cursor
    private var rows: [PostgresRow]
    private var at = 0
    private var remaining: Int
    private var rowNumber = 0
    private let batchSize: Int
    private let maxRowBytes: Int
    private static let maxBatchBytes = 8 << 20

    init(
        readers: BlockingConnectionPool, sql: String, values: [SQLValue], control: RunControl, options: TableReadOptions,
        logger: Logger
    ) throws {
        batchSize = options.batchRows
        maxRowBytes = options.maxRowBytes
        remaining = options.rowLimit ?? Int.max
        read = try Cursor(readers: readers, control: control, logger: logger)
        try read.declare(sql, values)
        rows = try read.fetch(rowBytes: nil)
        var columns = try rows.first.map { try Self.columns(of: $0) } ?? read.shape(of: sql, values)
        // Columns of types with no Arrow equivalent: read again with them cast to text.
        let unknown = columns.indices.filter { Self.kind(of: columns[$0].type) == nil && options.columnTypes == nil }
        if !unknown.isEmpty && options.unknownTypes == .castToString {
            let list = columns.enumerated().map { i, c in "q.\(Self.quote(c.name))\(unknown.contains(i) ? "::text" : "")" }
            let cast = "SELECT \(list.joined(separator: ", ")) FROM (\(sql)) AS q"
            try read.declare(cast, values)
            rows = try read.fetch(rowBytes: nil)
            columns = try rows.first.map { try Self.columns(of: $0) } ?? read.shape(of: cast, values)
        }
        var fields: [ArrowField] = []
        var plans: [(Int, PhysicalKind)] = []
        var names = Set<String>()
        for (i, column) in columns.enumerated() {
            guard names.insert(column.name).inserted else {
                throw InvalidInput("the result has two columns named '\(column.name)': give them different names with AS")
            }
            let type: ArrowType
            if let known = options.columnTypes.flatMap({ i < $0.count ? $0[i] : nil }) {
                type = known
            } else if let mapped = Self.arrowType(of: column.type) {
                type = mapped
            } else if options.unknownTypes == .error {
                throw InvalidInput("column '\(column.name)' has a type with no Arrow equivalent (\(column.type))")
            } else {
                continue
            }
            fields.append(ArrowField(column.name, type))
            plans.append((i, PhysicalKind(type)))
        }
        self.plans = plans
        builder = BatchBuilder(fields: fields)
        schema = OwnedSchema(fields: fields)
        if rows.isEmpty { try read.end() }
    }

    var isExhausted: Bool { remaining <= 0 || (read.ended && at >= rows.count) }

    func next() throws -> OwnedBatch? {
        var count = 0, batchBytes = 0
        while count < batchSize && remaining > 0 && batchBytes < Self.maxBatchBytes {
            if at >= rows.count {
                guard !read.ended else { break }
                rows = try read.fetch(rowBytes: rowNumber > 0 ? read.bytesRead / rowNumber : nil)
                at = 0
                if rows.isEmpty {
                    try read.end()
                    break
                }
            }
            let row = rows[at]
            at += 1
            rowNumber += 1
            var rowBytes = 0
            // Cells in order: a row finds its n-th cell by walking the ones before it.
            var out = 0
            for (i, cell) in row.enumerated() where out < plans.count && plans[out].column == i {
                rowBytes += try append(cell, plans[out].kind, to: builder.columns[out])
                out += 1
                guard rowBytes <= maxRowBytes else {
                    throw InvalidInput("row \(rowNumber) of the result is larger than \(maxRowBytes) bytes; select fewer or smaller columns")
                }
            }
            batchBytes += rowBytes
            count += 1
            remaining -= 1
        }
        if remaining <= 0 && !read.ended { try read.end() }
        guard count > 0 else { return nil }
        return try OwnedBatch(exporting: builder)
    }

    // MARK: values

    /// Appends one value; returns about how many bytes it added.
    private func append(_ cell: PostgresCell, _ kind: PhysicalKind, to b: ColumnBuilder) throws -> Int {
        guard var bytes = cell.bytes else {
            b.appendNull()
            return 1
        }
        let size = bytes.readableBytes
        do {
            switch kind {
            case .int64:
                if let v = Self.integer(&bytes, cell.dataType) {
                    try b.append(int: v)
                } else if cell.dataType == .numeric, let v = Int64(try cell.decode(Decimal.self).description) {
                    try b.append(int: v)  // sum() of a bigint column is numeric
                } else {
                    try b.append(double: try Self.real(cell, &bytes))
                }
            case .float64: try b.append(double: try Self.real(cell, &bytes))
            case .bool: try b.append(bool: (bytes.readInteger(as: UInt8.self) ?? 0) != 0)
            case .utf8, .binary: try bytes.withUnsafeReadableBytes { try b.append(bytes: $0) }
            case .date32:
                guard cell.dataType == .date, let days = bytes.readInteger(as: Int32.self) else { throw mismatch(cell, b.field) }
                try b.append(int: Int64(days) + Self.daysFrom1970To2000)
            case .timestamp:
                guard cell.dataType == .timestamp || cell.dataType == .timestamptz, let micros = bytes.readInteger(as: Int64.self) else {
                    throw mismatch(cell, b.field)
                }
                let (unix, overflow) = micros.addingReportingOverflow(Self.microsFrom1970To2000)
                guard !overflow else { throw mismatch(cell, b.field) }
                try b.append(int: unix)
            case .decimal128:
                if let v = Self.integer(&bytes, cell.dataType) {
                    try b.append(string: String(v))
                    return size + 4
                }
                guard cell.dataType == .numeric else { throw mismatch(cell, b.field) }
                try b.append(string: try cell.decode(Decimal.self).description)
            default:
                throw mismatch(cell, b.field)
            }
        } catch let e as ArrowError {
            throw InvalidInput("row \(rowNumber), column '\(b.field.name)': \(e.description)")
        }
        return size + 4
    }

    /// An integer column's value (int2, int4, int8), big-endian as PostgreSQL sends it.
    private static func integer(_ bytes: inout ByteBuffer, _ type: PostgresDataType) -> Int64? {
        switch type {
        case .int2: bytes.readInteger(as: Int16.self).map(Int64.init)
        case .int4: bytes.readInteger(as: Int32.self).map(Int64.init)
        case .int8: bytes.readInteger(as: Int64.self)
        default: nil
        }
    }

    private static func real(_ cell: PostgresCell, _ bytes: inout ByteBuffer) throws -> Double {
        switch cell.dataType {
        case .float8: if let bits = bytes.readInteger(as: UInt64.self) { return Double(bitPattern: bits) }
        case .float4: if let bits = bytes.readInteger(as: UInt32.self) { return Double(Float(bitPattern: bits)) }
        case .int2, .int4, .int8: if let v = integer(&bytes, cell.dataType) { return Double(v) }
        case .numeric: return NSDecimalNumber(decimal: try cell.decode(Decimal.self)).doubleValue
        default: break
        }
        throw InvalidInput("column '\(cell.columnName)': a \(cell.dataType) value is not a number")
    }

    private func mismatch(_ cell: PostgresCell, _ field: ArrowField) -> InvalidInput {
        InvalidInput("row \(rowNumber), column '\(field.name)': a \(cell.dataType) value is not a \(field.type.name) value")
    }

    static let daysFrom1970To2000: Int64 = 10_957
    static let microsFrom1970To2000: Int64 = 946_684_800_000_000

    // MARK: types

    /// The Arrow type a PostgreSQL type reads as; nil for one with no equivalent.
    static func arrowType(of type: PostgresDataType) -> ArrowType? {
        switch type {
        case .int2, .int4, .int8: .int64
        case .float4, .float8: .float64
        case .numeric: .decimal128(precision: 38, scale: SQLiteBatchSource.decimalScale)
        case .bool: .bool
        case .text, .varchar, .bpchar, .name: .utf8
        case .date: .date32
        case .timestamp, .timestamptz: .timestamp(.micro, timezone: "UTC")
        case .bytea: .binary
        default: nil
        }
    }

    private static func kind(of type: PostgresDataType) -> PhysicalKind? { arrowType(of: type).map(PhysicalKind.init) }

    /// The column type a PostgreSQL type stands for (`any` when none).
    static func columnType(of type: PostgresDataType) -> ColumnType {
        switch type {
        case .int2, .int4, .int8: .integer
        case .float4, .float8: .real
        case .numeric: .decimal
        case .bool: .bool
        case .text, .varchar, .bpchar, .name: .text
        case .date: .date
        case .timestamp, .timestamptz: .timestamp
        case .bytea: .blob
        default: .any
        }
    }

    static func columns(of row: PostgresRow) throws -> [(name: String, type: PostgresDataType)] {
        row.map { ($0.columnName, $0.dataType) }
    }

    static func quote(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    // MARK: shapes

    /// The columns `sql` would make, planned but not run.
    static func describe(
        readers: BlockingConnectionPool, sql: String, values: [SQLValue], logger: Logger
    ) throws -> [(name: String, type: ColumnType)] {
        let read = try Cursor(readers: readers, control: RunControl(timeBudgetSeconds: 30), logger: logger)
        defer { try? read.end() }
        return try read.shape(of: sql, values).map { ($0.name, columnType(of: $0.type)) }
    }

    /// The first table of the datasets `sql` reads, from its plan; nil when it reads none.
    static func firstTableRead(readers: BlockingConnectionPool, sql: String, values: [SQLValue], logger: Logger) throws -> String? {
        let read = try Cursor(readers: readers, control: RunControl(timeBudgetSeconds: 30), logger: logger)
        defer { try? read.end() }
        let plan = try read.session.rows("EXPLAIN (FORMAT JSON) \(sql)", values, untyped: true).first?.first?.decode(String.self) ?? ""
        guard let range = plan.range(of: #""Relation Name": "[^"]*""#, options: .regularExpression) else { return nil }
        return String(plan[range].dropFirst(#""Relation Name": ""#.count).dropLast())
    }
}

/// One read on a reader connection: a read-only transaction and its cursor.
final class Cursor {
    let session: PostgresSession
    private let readers: BlockingConnectionPool
    private let stop: StopHook
    private(set) var ended = false
    private var declared = false
    /// Bytes of the rows fetched so far (for sizing the next fetch).
    private(set) var bytesRead = 0
    private static let name = "gw_read"
    private static let fetchBytes = 4 << 20

    /// `statement_timeout` is what is left of `control`'s budget: the server stops a
    /// statement on its own even when the stop cannot reach it (0: a run without a budget).
    init(readers: BlockingConnectionPool, control: RunControl, logger: Logger) throws {
        self.readers = readers
        let connection = try readers.take()
        session = PostgresSession(connection: connection, logger: logger)
        stop = StopHook(connection)
        control.onStop { [stop] in stop.fire() }
        do {
            try session.run("BEGIN READ ONLY", [])
            // Off: a large table's scan would start where another scan is, not at its first row.
            _ = try session.query(
                "SELECT set_config('statement_timeout', ?, true), set_config('synchronize_seqscans', 'off', true), set_config('search_path', ?, true)",
                [.text("\(control.secondsLeft ?? 0)s"), .text(PostgresDatasetTables.schema)])
        } catch {
            finish(healthy: false)
            throw error
        }
    }

    deinit { finish(healthy: false) }

    func declare(_ sql: String, _ values: [SQLValue]) throws {
        if declared { try session.run("CLOSE \(Self.name)", []) }
        _ = try session.rows("DECLARE \(Self.name) NO SCROLL CURSOR FOR \(sql)", values, untyped: true)
        declared = true
    }

    /// The next slice of rows: about 4 MB, by the rows' average size so far.
    func fetch(rowBytes: Int?) throws -> [PostgresRow] {
        let count = max(16, min(65_536, Self.fetchBytes / max(1, rowBytes ?? 4096)))
        let rows = try session.rows("FETCH \(count) FROM \(Self.name)")
        for row in rows { bytesRead += row.reduce(0) { $0 + ($1.bytes?.readableBytes ?? 0) + 4 } }
        return rows
    }

    /// The columns of `sql` with no row to read them from: one row of NULLs (the query
    /// joined on false, planned but never scanned) carries them.
    func shape(of sql: String, _ values: [SQLValue]) throws -> [(name: String, type: PostgresDataType)] {
        let probe = try session.rows("SELECT q.* FROM (SELECT 1) AS gw_one LEFT JOIN (\(sql)) AS q ON false", values, untyped: true)
        guard let row = probe.first else { return [] }
        return try PostgresBatchSource.columns(of: row)
    }

    /// Ends the transaction and gives the connection back.
    func end() throws {
        guard !ended else { return }
        try session.run("COMMIT", [])
        finish(healthy: true)
    }

    private func finish(healthy: Bool) {
        guard !ended else { return }
        ended = true
        let open = stop.disarm()  // false: the stop closed it
        readers.giveBack(session.connection, healthy: healthy && open)
    }
}

/// Closes a read's connection when its run is stopped, unless the read ended first (the
/// connection then belongs to the pool, and another read).
private final class StopHook: Sendable {
    private let state: Mutex<PostgresConnection?>

    init(_ connection: PostgresConnection) { state = Mutex(connection) }

    func fire() {
        guard
            let connection = state.withLock({ c -> PostgresConnection? in
                defer { c = nil }; return c
            })
        else { return }
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// False when the stop already closed the connection.
    func disarm() -> Bool {
        state.withLock { c in
            defer { c = nil }; return c != nil
        }
    }
}
