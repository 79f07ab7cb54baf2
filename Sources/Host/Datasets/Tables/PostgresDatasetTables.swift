import Foundation
import Logging
import PostgresNIO

/// The datasets' tables in the PostgreSQL store's database, schema `datasets`: one set of
/// tables for every gateway of the store, so a push to any gateway is read on every other.
///
/// Writes run as the store's own role, each in one transaction (`PostgresWriteSession`).
/// Reads run as a second role that can only read the `datasets` schema
/// (`PostgresReaderRole`), in read-only transactions with `statement_timeout`: neither a
/// query's SQL nor anything it calls can reach the gateway's own tables or write.
final class PostgresDatasetTables: DatasetTables {
    var dialect: SQLDialect { .postgres }
    static let schema = "datasets"

    let owner: BlockingConnectionPool
    let readers: BlockingConnectionPool
    let maxValueBytes: Int
    let logger: Logger

    init(config: GatewayConfig, logger: Logger) throws {
        let location = try StoreLocation(config.store)
        self.logger = logger
        maxValueBytes = config.limits.maxValueBytes
        owner = try BlockingConnectionPool(location, logger: logger)
        let reader = try owner.withSession { session in
            try PostgresReaderRole.setUp(session, location: location, configured: config.store)
        }
        readers = try BlockingConnectionPool(reader, logger: logger)
        try Self.keepReadersFromSignallingEachOther(owner, logger: logger)
    }

    /// Every query runs as the one reader role, and PostgreSQL lets a role cancel or end its
    /// own backends: one caller's SQL could end every other caller's read. Taken from
    /// everyone in this database (superusers keep them); when the store's role may not, the
    /// log says what to run.
    static func keepReadersFromSignallingEachOther(_ owner: BlockingConnectionPool, logger: Logger) throws {
        let revoke = "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_cancel_backend, pg_catalog.pg_terminate_backend FROM PUBLIC"
        do {
            _ = try owner.withSession { try $0.run(revoke, []) }
        } catch let e as PostgresStoreError where e.sqlState != nil {
            logger.warning(
                "the datasets' reader role can end other readers' queries (pg_terminate_backend); run as a superuser on this database: \(revoke) (\(e.message))"
            )
        }
    }

    deinit {
        owner.close()
        readers.close()
    }

    /// `datasets."table"`.
    static func qualified(_ table: String) -> String { "\(schema).\(Dataset.quote(table))" }

    /// The table as PostgreSQL creates it, with its key index.
    static func createSQL(_ dataset: Dataset) -> [String] {
        let columns = dataset.columns.map { "\(Dataset.quote($0.name)) \($0.type.postgresType)" }
        var statements = ["CREATE TABLE IF NOT EXISTS \(qualified(dataset.table)) (\(columns.joined(separator: ", ")))"]
        if !dataset.keys.isEmpty {
            statements.append(
                "CREATE UNIQUE INDEX IF NOT EXISTS \(Dataset.quote("gw_keys_\(dataset.table)")) ON \(qualified(dataset.table)) (\(dataset.keys.map(Dataset.quote).joined(separator: ", ")))"
            )
        }
        return statements
    }

    /// Serializes the writes (and the creation) of one table across every gateway, until
    /// the transaction ends. Readers are never blocked.
    static func lockTable(_ session: PostgresSession, _ table: String) throws {
        _ = try session.query("SELECT pg_advisory_xact_lock(hashtext(?))", [.text("gateway.datasets.\(table)")])
    }

    func prepare(_ dataset: Dataset) throws {
        try owner.withSession { session in
            try session.transaction {
                try Self.lockTable(session, dataset.table)
                for sql in Self.createSQL(dataset) { try session.run(sql, []) }
                try PostgresRowFilters.apply(dataset, session)
            }
        }
    }

    func isFiltered(_ dataset: Dataset) throws -> Bool {
        try owner.withSession { session in
            try !session.query("SELECT 1 FROM dataset_row_filters WHERE table_name = ?", [.text(dataset.table)]).isEmpty
        }
    }

    func checkMatchesTable(_ dataset: Dataset) throws {
        let existing = try owner.withSession { session in
            try session.query(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [.text(Self.schema), .text(dataset.table)])
        }
        guard !existing.isEmpty else { return }
        var types: [String: String] = [:]
        for row in existing { types[(row[0].text ?? "").lowercased()] = row[1].text ?? "" }
        let names = existing.compactMap { $0[0].text }.joined(separator: ", ")
        for column in dataset.columns {
            guard let type = types[column.name.lowercased()] else {
                throw InvalidInput(
                    "table '\(dataset.table)' already exists without a column '\(column.name)' (its columns: \(names)): "
                        + "declare the table's own columns, or name a new table")
            }
            let wanted = column.type.postgresType.split(separator: "(").first.map(String.init) ?? ""
            guard type == wanted else {
                throw InvalidInput("table '\(dataset.table)' already has column '\(column.name)' as '\(type)', not '\(wanted)'")
            }
        }
    }

    func rowCounts(_ datasets: [Dataset]) throws -> [String: Int64] {
        try owner.withSession { session in
            var counts: [String: Int64] = [:]
            for d in datasets {
                let exists = try session.query("SELECT to_regclass(?) IS NOT NULL", [.text(Self.qualified(d.table))])
                guard exists.first?.first == .int(1) else { continue }
                counts[d.id] = try session.query("SELECT count(*) FROM \(Self.qualified(d.table))", []).first?.first?.int
            }
            return counts
        }
    }

    func beginWrite(_ dataset: Dataset, mode: DatasetWriteMode) throws -> any DatasetWriteSession {
        try PostgresWriteSession(tables: self, dataset: dataset, mode: mode)
    }

    // MARK: reads

    /// No order is asked for: a table read alone in one scan comes in the order its rows
    /// are stored (the read turns off synchronized scans, which would start mid-table).

    func selectAll(_ dataset: Dataset, filter: String) -> String {
        "SELECT \(dataset.columns.map { Dataset.quote($0.name) }.joined(separator: ", ")) FROM \(Self.qualified(dataset.table))\(filter)"
    }

    func read(_ sql: String, control: RunControl, options: TableReadOptions, bind: (ParameterSlots) throws -> [SQLValue]) throws -> BatchSource {
        let numbered = PostgresParameters.number(SQLText.trimmed(sql))
        let values = try bind(ParameterSlots(names: numbered.names, sql: sql))
        return try PostgresBatchSource(
            readers: readers, sql: numbered.sql, values: values, control: control, options: options, logger: logger, owner: owner)
    }

    /// A statement PostgreSQL refuses to plan is refused with its reason (an unknown column
    /// or function, a syntax error), as SQLite's prepare refuses it.
    func describe(_ sql: String, readingNoTable: Bool) throws -> StatementShape {
        do {
            return try shape(sql, readingNoTable: readingNoTable)
        } catch let e as PostgresStoreError where e.sqlState != nil {
            throw ReadOnlySQL.Refused(description: "the query does not compile: \(e.message.replacingOccurrences(of: "PostgreSQL: ", with: ""))")
        }
    }

    private func shape(_ sql: String, readingNoTable: Bool) throws -> StatementShape {
        let numbered = PostgresParameters.number(SQLText.trimmed(sql))
        let nulls = [SQLValue](repeating: .null, count: numbered.names.count)
        let columns = try PostgresBatchSource.describe(
            readers: readers, sql: numbered.sql, values: nulls, logger: logger)
        if readingNoTable, let table = try PostgresBatchSource.firstTableRead(readers: readers, sql: numbered.sql, values: nulls, logger: logger) {
            throw ReadOnlySQL.Refused(
                description:
                    "it reads the table \(table), which is not one of the model's: an expression reads its tables' columns as table.column, nothing else")
        }
        return StatementShape(columns: columns, parameters: ParameterSlots(names: numbered.names, sql: sql))
    }
}

extension PostgresDatasetTables {
    // For `gateway store migrate` (Migration/).

    /// Whether `datasets.<table>` exists and has a row.
    func holdsRows(_ table: String) throws -> Bool {
        try owner.withSession { session in
            guard try session.query("SELECT to_regclass(?) IS NOT NULL", [.text(Self.qualified(table))]).first?.first == .int(1) else { return false }
            return try !session.query("SELECT 1 FROM \(Self.qualified(table)) LIMIT 1", []).isEmpty
        }
    }

    func drop(_ table: String) throws {
        _ = try owner.withSession { try $0.run("DROP TABLE IF EXISTS \(Self.qualified(table))", []) }
    }
}
