import Foundation
import Hummingbird
import PluginKit

/// Where the datasets' rows live, and the one way to write and read them: a SQLite file of
/// the gateway's own (`datasets.sqlite`, the default) or, with the store on PostgreSQL, the
/// `datasets` schema of that database, shared by every gateway of the store.
///
/// Writes are sessions: preSql, the rows, postSql in ONE transaction. Reads are one
/// read-only statement each, which no write can ever run through, streamed as batches.
protocol DatasetTables: AnyObject, Sendable {
    /// "sqlite" or "postgres": the SQL dialect the administrator's queries are written in.
    var dialect: SQLDialect { get }

    /// Creates the dataset's table (and key index) when it does not exist yet, and puts its
    /// row filter in force (or lifts it). A filter stays in force on its table when the
    /// definition is removed (from the admin API or the configuration file): the rows stay,
    /// and who may read them is the filter's to say until a definition without one lifts it.
    func prepare(_ dataset: Dataset) throws
    /// Whether the dataset's table is under a row filter: its own, or one another definition
    /// of the table put in force. Reads of such a table go through the read connections only.
    func isFiltered(_ dataset: Dataset) throws -> Bool
    /// Refuses a definition that does not describe its table as it already exists: a
    /// column the table lacks, or one declared with another type.
    func checkMatchesTable(_ dataset: Dataset) throws
    /// How many rows each dataset's table holds (absent: no table yet).
    func rowCounts(_ datasets: [Dataset]) throws -> [String: Int64]
    /// Starts a write (takes what the store needs to keep writes to one table in order).
    func beginWrite(_ dataset: Dataset, mode: DatasetWriteMode) throws -> any DatasetWriteSession

    /// `SELECT <the dataset's columns> FROM <its table><filter>`, in the order its rows were
    /// stored. `filter` is " WHERE …" or "", with `?` placeholders.
    func selectAll(_ dataset: Dataset, filter: String) -> String
    /// Runs one read-only statement; `bind` gives the values of its parameters, as the store
    /// numbers them. Stops when `control` says so.
    func read(_ sql: String, control: RunControl, options: TableReadOptions, bind: (ParameterSlots) throws -> [SQLValue]) throws -> BatchSource
    /// The rows of `dataset` that `filter` keeps (see `selectAll`; `args` its values), in
    /// their stored order: what `read(selectAll(…))` gives, however the store reads it.
    func readTable(_ dataset: Dataset, filter: String, args: [SQLValue], control: RunControl, options: TableReadOptions) throws -> BatchSource
    /// What a statement would make, without running it: its columns and parameters. With
    /// `readingNoTable`, reading any table of the datasets is refused.
    func describe(_ sql: String, readingNoTable: Bool) throws -> StatementShape
}

extension DatasetTables {
    func readTable(_ dataset: Dataset, filter: String, args: [SQLValue], control: RunControl, options: TableReadOptions) throws -> BatchSource {
        try read(selectAll(dataset, filter: filter), control: control, options: options) { _ in args }
    }

    /// preSql, the rows `feed` pushes, and postSql in ONE transaction: any failure leaves
    /// every table as it was. Returns the number of rows written.
    func write(_ dataset: Dataset, update: Bool, feed: (inout DatasetImport) throws -> Void) throws -> Int {
        let session = try beginWrite(dataset, mode: update ? .upsert : .append)
        do {
            try feed(&session.importer)
            return try session.commit()
        } catch {
            session.rollback()
            throw error
        }
    }
}

/// One write into a dataset's table: preSql, the rows, postSql, in ONE transaction held
/// from begin to commit or rollback. Whatever fails, the table is left as it was.
protocol DatasetWriteSession: AnyObject {
    /// Where the rows go, converted to the columns' types as they arrive.
    var importer: DatasetImport { get set }
    /// Copies the rows `select` reads from another table of the datasets (`select` ends in
    /// a WHERE clause), counted among the rows the commit reports. Each column has the same
    /// type at both ends (the caller checked), so no value needs converting.
    func copy(columns: [String], select: String, args: [SQLValue], update: Bool) throws -> Int
    /// Every row of `table` when its columns are the target's own (names, order, types);
    /// nil, with nothing written, when they differ.
    func copyWhole(_ table: String) throws -> Int?
    /// Runs postSql and commits; returns the number of rows written.
    func commit() throws -> Int
    /// Undoes everything the session wrote. Safe to call any number of times.
    func rollback()
}

/// How a write treats the rows already in the table.
public enum DatasetWriteMode: String, Sendable, CaseIterable {
    /// Adds the rows (a duplicate key is an error).
    case append
    /// Adds the rows, replacing those with the same key (seed 000's update=1).
    case upsert
    /// Deletes every row first: the table holds exactly the rows written.
    case replace
}

/// What a read is asked for besides its SQL.
struct TableReadOptions {
    var rowLimit: Int?
    var unknownTypes: UnknownTypeHandle = .ignore
    var batchRows = 65_536
    /// One row may hold at most this many bytes.
    var maxRowBytes = 64 << 20
    /// The output columns' types when the caller knows them (a data model).
    var columnTypes: [ArrowType]?
    /// Who reads: row filters read its claims.
    var identity: Identity?
}

/// A statement's parameters in the order the store numbers them: each one's name without
/// its `:` (nil for `?`, which only the gateway's own SQL writes).
struct ParameterSlots {
    let names: [String?]
    /// The statement's text, for telling how it reads a parameter (as a list or one value).
    let sql: String
    /// How the statement spells each unnamed one (`?`, `?1`), for saying which is refused.
    var unnamed: [String] = []

    /// The names of its named parameters.
    var named: Set<String> { Set(names.compactMap { $0 }) }
}

enum SQLText {
    /// Without the `;` a client may end a statement with: it is also run as a subquery.
    static func trimmed(_ sql: String) -> String {
        var text = Substring(sql)
        while let last = text.last, last == ";" || last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}

/// What a statement makes, found without running it.
struct StatementShape {
    /// Each result column's name and declared type (`any` when it declares none).
    let columns: [(name: String, type: ColumnType)]
    let parameters: ParameterSlots
}

/// Why a write was refused; each says what to fix.
public enum DatasetWriteError: Error, CustomStringConvertible {
    case header(String)
    case row(String)
    case sql(String)

    public var description: String {
        switch self {
        case .header(let m), .row(let m), .sql(let m): m
        }
    }
}

/// A header or a row the client sent is theirs to fix; a statement that fails is ours.
extension DatasetWriteError: StatusError {
    public var status: HTTPResponse.Status {
        if case .sql = self { return .internalServerError }
        return .badRequest
    }
}
