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
/// Types come from PostgreSQL's result columns (found first, planned but not run):
/// integers, floats, numeric, boolean, text, date, timestamp and bytea read as their Arrow
/// types; a column of any other type is an "unknown type", read as text (CastToString),
/// left out (Ignore) or refused (Error). Each row comes as one binary record of the kept
/// columns (`ROW(…)`), decoded here (`PostgresBinaryValues`).
final class PostgresBatchSource: BatchSource {
    let schema: OwnedSchema
    private let builder: BatchBuilder
    /// Each output column's Arrow kind and the PostgreSQL type its values come in.
    private let plans: [(kind: PhysicalKind, source: PostgresDataType)]
    private let read: Cursor
    private var rows: [PostgresRow]
    private var at = 0
    private var remaining: Int
    private var rowNumber = 0
    private let batchSize: Int
    private let maxRowBytes: Int
    /// The most bytes one FETCH may bring: twice the largest row allowed.
    private var fetchBudget: Int { 2 * maxRowBytes }
    private var fields: [(type: UInt32, bytes: UnsafeRawBufferPointer?)] = []
    private static let maxBatchBytes = 8 << 20

    init(
        readers: BlockingConnectionPool, sql: String, values: [SQLValue], control: RunControl, options: TableReadOptions,
        logger: Logger, owner: BlockingConnectionPool? = nil
    ) throws {
        batchSize = options.batchRows
        maxRowBytes = options.maxRowBytes
        remaining = options.rowLimit ?? Int.max
        read = try Cursor(readers: readers, control: control, logger: logger, reading: owner.map { ($0, options.identity) })
        var arrowFields: [ArrowField] = []
        var plans: [(PhysicalKind, PostgresDataType)] = []
        var selected: [String] = []
        var names = Set<String>()
        for (i, column) in try read.shape(of: sql, values).enumerated() {
            guard names.insert(column.name).inserted else {
                throw InvalidInput("the result has two columns named '\(column.name)': give them different names with AS")
            }
            var source = column.type
            let type: ArrowType
            if let known = options.columnTypes.flatMap({ i < $0.count ? $0[i] : nil }) {
                type = known
                // A model's text member over a type PostgreSQL sends otherwise (jsonb, uuid, a
                // number): read as its text, never as its binary form.
                if known == .utf8 && Self.arrowType(of: column.type) != .utf8 { source = .text }
                if known == .binary && column.type != .bytea { source = .text }
            } else if let mapped = Self.arrowType(of: column.type) {
                type = mapped
            } else if options.unknownTypes == .castToString {
                (type, source) = (.utf8, .text)
            } else if options.unknownTypes == .error {
                throw InvalidInput("column '\(column.name)' has a type with no Arrow equivalent (\(column.type))")
            } else {
                continue
            }
            selected.append("q.\(Self.quote(column.name))\(source == column.type ? "" : "::text")")
            arrowFields.append(ArrowField(column.name, type))
            plans.append((PhysicalKind(type), source))
        }
        try read.declare("SELECT ROW(\(selected.joined(separator: ", "))) FROM (\(sql)) AS q", values)
        rows = try read.fetch(rowBytes: nil, limit: remaining, budget: 2 * options.maxRowBytes)
        self.plans = plans
        builder = BatchBuilder(fields: arrowFields)
        schema = OwnedSchema(fields: arrowFields)
        if read.atLastSlice { try read.end() }
    }

    var isExhausted: Bool { remaining <= 0 || (read.ended && at >= rows.count) }
    var commitsOnFinish: Bool { false }

    func next() throws -> OwnedBatch? {
        var count = 0, batchBytes = 0
        while count < batchSize && remaining > 0 && batchBytes < Self.maxBatchBytes {
            if at >= rows.count {
                guard !read.ended else { break }
                rows = try read.fetch(rowBytes: rowNumber > 0 ? read.bytesRead / rowNumber : nil, limit: remaining, budget: fetchBudget)
                at = 0
                if read.atLastSlice { try read.end() }
                if rows.isEmpty { break }
            }
            let row = rows[at]
            at += 1
            rowNumber += 1
            batchBytes += try append(row)
            count += 1
            remaining -= 1
        }
        if remaining <= 0 && !read.ended { try read.end() }
        guard count > 0 else { return nil }
        return try OwnedBatch(exporting: builder)
    }

    // MARK: values

    /// Appends one row's values; returns about how many bytes they are.
    private func append(_ row: PostgresRow) throws -> Int {
        guard let record = row.first?.bytes else { throw InvalidInput("row \(rowNumber) of the result came without its values") }
        return try record.withUnsafeReadableBytes { raw in
            guard PostgresBinaryValues.fields(raw, expected: plans.count, into: &fields) else {
                throw InvalidInput("row \(rowNumber) of the result is not a well-formed record")
            }
            guard raw.count <= maxRowBytes else {
                throw InvalidInput("row \(rowNumber) of the result is larger than \(maxRowBytes) bytes; select fewer or smaller columns")
            }
            for (i, field) in fields.enumerated() {
                try append(field.bytes, plans[i], to: builder.columns[i])
            }
            return raw.count
        }
    }

    /// Appends one value, given in the binary form of `plan.source`.
    private func append(_ value: UnsafeRawBufferPointer?, _ plan: (kind: PhysicalKind, source: PostgresDataType), to b: ColumnBuilder) throws {
        guard let raw = value else { return b.appendNull() }
        let type = plan.source.rawValue
        do {
            switch plan.kind {
            case .int64:
                if let v = PostgresBinaryValues.int(raw, type: type) {
                    try b.append(int: v)
                } else if plan.source == .numeric, let v = PostgresBinaryValues.numericText(raw).flatMap(PostgresBinaryValues.wholeNumber) {
                    try b.append(int: v)  // sum() of a bigint column is numeric
                } else {
                    guard let d = PostgresBinaryValues.double(raw, type: type) else { throw mismatch(plan.source, b.field) }
                    try b.append(double: d)  // throws unless integral
                }
            case .float64:
                guard let d = PostgresBinaryValues.double(raw, type: type) else { throw mismatch(plan.source, b.field) }
                try b.append(double: d)
            case .bool:
                guard plan.source == .bool, raw.count == 1 else { throw mismatch(plan.source, b.field) }
                try b.append(bool: raw[0] != 0)
            case .utf8, .binary:
                try b.append(bytes: raw)
            case .date32:
                guard plan.source == .date, raw.count == 4, let days = PostgresBinaryValues.integer(raw, at: 0, as: Int32.self) else {
                    throw mismatch(plan.source, b.field)
                }
                try b.append(int: Int64(days) + Self.daysFrom1970To2000)
            case .timestamp:
                guard plan.source == .timestamp || plan.source == .timestamptz, raw.count == 8,
                    let micros = PostgresBinaryValues.integer(raw, at: 0, as: Int64.self)
                else { throw mismatch(plan.source, b.field) }
                let (unix, overflow) = micros.addingReportingOverflow(Self.microsFrom1970To2000)
                guard !overflow else { throw mismatch(plan.source, b.field) }
                try b.append(int: unix)
            case .decimal128:
                if let v = PostgresBinaryValues.int(raw, type: type) {
                    try b.append(string: String(v))
                } else if plan.source == .numeric, let text = PostgresBinaryValues.numericText(raw) {
                    try b.append(string: PostgresBinaryValues.rounded(text, scale: SQLiteBatchSource.decimalScale))
                } else {
                    throw mismatch(plan.source, b.field)
                }
            default:
                throw mismatch(plan.source, b.field)
            }
        } catch let e as ArrowError {
            throw InvalidInput("row \(rowNumber), column '\(b.field.name)': \(e.description)")
        }
    }

    private func mismatch(_ type: PostgresDataType, _ field: ArrowField) -> InvalidInput {
        InvalidInput("row \(rowNumber), column '\(field.name)': a \(type) value is not a \(field.type.name) value")
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
    /// The last fetch returned fewer rows than it asked for: there are no more.
    private(set) var atLastSlice = false
    private static let name = "gw_read"
    private static let fetchBytes = 4 << 20

    /// `statement_timeout` is what is left of `control`'s budget: the server stops a
    /// statement on its own even when the stop cannot reach it (0: a run without a budget).
    /// `reading`: who the read is for and the pool to record it with, when row filters may
    /// apply (see PostgresRowFilters).
    init(
        readers: BlockingConnectionPool, control: RunControl, logger: Logger, reading: (owner: BlockingConnectionPool, identity: Identity?)? = nil
    ) throws {
        self.readers = readers
        let connection = try readers.take()
        session = PostgresSession(connection: connection, logger: logger)
        stop = StopHook(connection)
        control.onStop { [stop] in stop.fire() }
        do {
            try session.run("BEGIN READ ONLY", [])
            // Off: a large table's scan would start where another scan is, not at its first row.
            let state = try session.query(
                """
                SELECT set_config('statement_timeout', ?, true), set_config('synchronize_seqscans', 'off', true),
                       set_config('search_path', ?, true), pg_backend_pid(),
                       EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polname = '\(PostgresRowFilters.policy)')
                """,
                [.text("\(control.secondsLeft ?? 0)s"), .text(PostgresDatasetTables.schema)]
            ).first
            // Some table has a row filter: record who this read is for, under a new token.
            if let reading, let state, state.count == 5, state[4] == .int(1) || state[4] == .text("t"), let pid = state[3].int {
                let token = Crypto.hex(Crypto.randomBytes(16))
                try PostgresRowFilters.announce(pid: pid, token: token, identity: reading.identity, owner: reading.owner)
                _ = try session.query("SELECT set_config('gateway.read', ?, true)", [.text(token)])
            }
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

    /// The next slice of rows: about 4 MB, by the rows' average size so far, and at most
    /// `limit`. A short slice is the last: `end()` may follow at once.
    /// Rows are taken as they arrive and counted: a slice whose rows outgrow `budget` bytes
    /// (rows that were small and suddenly are not) is stopped, never held whole.
    func fetch(rowBytes: Int?, limit: Int, budget: Int) throws -> [PostgresRow] {
        let count = max(1, min(limit, max(16, min(65_536, Self.fetchBytes / max(1, rowBytes ?? 4096)))))
        let slice = FetchedSlice(budget: budget)
        do {
            try session.connection.query("FETCH \(count) FROM \(Self.name)", [], onRow: { try slice.take($0) }).wait()
        } catch {
            // postgres-nio reports a stream its row callback stopped as cancelled: the slice knows why.
            guard !slice.overflowed else {
                throw InvalidInput(
                    "the result's rows outgrew \(budget >> 20) MB in one read of \(count) rows; select fewer or smaller columns, or fewer rows at once")
            }
            throw PostgresStoreError(error)
        }
        let (rows, bytes) = slice.taken
        atLastSlice = rows.count < count
        bytesRead += bytes
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
    /// A query's SQL may leave session state behind (an advisory lock, a changed setting):
    /// it is discarded before the connection serves another read, or the connection goes.
    func end() throws {
        guard !ended else { return }
        try session.run("COMMIT", [])
        finish(healthy: (try? session.run("DISCARD ALL", [])) != nil)
    }

    private func finish(healthy: Bool) {
        guard !ended else { return }
        ended = true
        let open = stop.disarm()  // false: the stop closed it
        readers.giveBack(session.connection, healthy: healthy && open)
    }
}

/// One FETCH's rows, taken on the connection's event loop as they arrive, within a budget.
private final class FetchedSlice: Sendable {
    struct TooLarge: Error {}

    private let state = Mutex<(rows: [PostgresRow], bytes: Int, overflowed: Bool)>(([], 0, false))
    let budget: Int

    init(budget: Int) { self.budget = budget }

    func take(_ row: PostgresRow) throws {
        let size = row.reduce(0) { $0 + ($1.bytes?.readableBytes ?? 0) + 4 }
        try state.withLock { s in
            guard s.bytes + size <= budget else {
                s.overflowed = true
                s.rows = []  // what was taken goes now, not when the reply ends
                throw TooLarge()
            }
            s.rows.append(row)
            s.bytes += size
        }
    }

    var taken: (rows: [PostgresRow], bytes: Int) { state.withLock { ($0.rows, $0.bytes) } }
    var overflowed: Bool { state.withLock { $0.overflowed } }
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
