import Foundation
import PostgresNIO

/// One write into a dataset's table on PostgreSQL: one connection and one transaction from
/// begin to commit or rollback, holding the table's write lock (other gateways' writes to
/// the same table wait; readers do not). Rows go in by `COPY … FROM STDIN`.
final class PostgresWriteSession: DatasetWriteSession {
    private let tables: PostgresDatasetTables
    let dataset: Dataset
    var importer: DatasetImport
    private let connection: PostgresConnection
    private let session: PostgresSession
    private let rows: PostgresCopyRows
    private var open = true
    /// Rows written by `copy`, and whether one ran (a copy needs no header row).
    private var copied = 0
    private var didCopy = false

    init(tables: PostgresDatasetTables, dataset: Dataset, mode: DatasetWriteMode) throws {
        self.tables = tables
        self.dataset = dataset
        connection = try tables.owner.take()
        session = PostgresSession(connection: connection, logger: tables.logger)
        rows = PostgresCopyRows(dataset: dataset, session: session)
        importer = DatasetImport(dataset: dataset, update: mode == .upsert, output: rows, maxValueBytes: tables.maxValueBytes)
        do {
            try session.run("BEGIN", [])
            // preSql and postSql name the tables as on SQLite: without a schema.
            try session.run("SET LOCAL search_path TO \(PostgresDatasetTables.schema)", [])
            try PostgresDatasetTables.lockTable(session, dataset.table)
            for sql in PostgresDatasetTables.createSQL(dataset) { try session.run(sql, []) }
            for sql in dataset.preSql { try run(sql, phase: "preSql") }
            if mode == .replace { try session.run("DELETE FROM \(PostgresDatasetTables.qualified(dataset.table))", []) }
        } catch {
            rollback()
            throw error
        }
    }

    deinit { rollback() }

    private func run(_ sql: String, phase: String) throws {
        do {
            try session.run(sql, [])
        } catch let e as PostgresStoreError {
            throw DatasetWriteError.sql("\(phase) of dataset '\(dataset.id)' failed: \(e.message.replacingOccurrences(of: "PostgreSQL: ", with: ""))")
        }
    }

    func copy(columns: [String], select: String, args: [SQLValue], update: Bool) throws -> Int {
        try copy(DatasetImport.insertSQL(dataset, table: PostgresDatasetTables.qualified(dataset.table), columns: columns, update: update, rows: select), args)
    }

    func copyWhole(_ table: String) throws -> Int? {
        try importer.flush()  // no COPY of this session may still be open on its connection
        let layout =
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position"
        let schema = SQLValue.text(PostgresDatasetTables.schema)
        guard try session.query(layout, [schema, .text(table)]) == session.query(layout, [schema, .text(dataset.table)]) else { return nil }
        return try copy("INSERT INTO \(PostgresDatasetTables.qualified(dataset.table)) SELECT * FROM \(PostgresDatasetTables.qualified(table))", [])
    }

    private func copy(_ sql: String, _ args: [SQLValue]) throws -> Int {
        guard open else { throw InvalidInput("the write to dataset '\(dataset.id)' has already ended") }
        try importer.flush()
        let changed: Int
        do {
            changed = try session.run(sql, args)
        } catch let e as PostgresStoreError {
            let constraint = e.sqlState?.hasPrefix("23") == true
            let what = constraint ? "duplicate key or constraint violated (\(e.message))" : e.message
            throw DatasetWriteError.row("copying into dataset '\(dataset.id)': \(what)")
        }
        copied += changed
        didCopy = true
        return changed
    }

    func commit() throws -> Int {
        guard open else { throw InvalidInput("the write to dataset '\(dataset.id)' has already ended") }
        do {
            guard importer.sawHeader || didCopy else { throw InvalidInput("no header row") }
            try importer.flush()
            for sql in dataset.postSql { try run(sql, phase: "postSql") }
            try session.run("COMMIT", [])
        } catch {
            rollback()
            throw error
        }
        open = false
        tables.owner.giveBack(connection, healthy: true)
        return importer.rows + copied
    }

    func rollback() {
        guard open else { return }
        open = false
        rows.abandon()
        let healthy = (try? session.run("ROLLBACK", [])) != nil
        tables.owner.giveBack(connection, healthy: healthy)
    }
}
