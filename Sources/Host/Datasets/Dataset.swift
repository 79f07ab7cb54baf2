import CSQLite
import Foundation

/// A dataset definition, validated and parsed: safe to build SQL from.
public struct Dataset: Sendable, Equatable {
    public struct Column: Sendable, Equatable {
        public let name: String
        public let type: ColumnType
    }

    public let id: String
    public let table: String
    public let columns: [Column]
    public let keys: [String]
    public let preSql: [String]
    public let postSql: [String]
    public let visitors: [String]
    /// Column → context name (`user.regions`): see `DatasetDefinition.rowFilter`.
    public let rowFilter: [String: String]

    /// Validates names (identifiers only: letters of any script, digits, `_`), types and keys.
    public init(id: String, definition d: DatasetDefinition) throws {
        try ResourceId.check(id, what: "dataset")
        self.id = id
        let spec = d.table.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let open = spec.firstIndex(of: "("), spec.hasSuffix(")") else {
            throw InvalidInput("dataset '\(id)': table must look like \"name(column1, column2, ...)\"")
        }
        table = String(spec[..<open]).trimmingCharacters(in: .whitespaces)
        try Self.checkIdentifier(table, what: "table name", dataset: id)
        var columns: [Column] = []
        for part in spec[spec.index(after: open)..<spec.index(before: spec.endIndex)].split(separator: ",") {
            let words = part.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let name = words.first, words.count <= 2 else {
                throw InvalidInput("dataset '\(id)': column '\(part.trimmingCharacters(in: .whitespaces))' must be a name and an optional type")
            }
            try Self.checkIdentifier(name, what: "column name", dataset: id)
            let typeName = words.count == 2 ? words[1].lowercased() : "any"
            guard let type = ColumnType(rawValue: typeName) else {
                throw InvalidInput(
                    "dataset '\(id)': column '\(name)' has unknown type '\(words[1])' (use \(ColumnType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard !columns.contains(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw InvalidInput("dataset '\(id)': column '\(name)' appears twice")
            }
            columns.append(Column(name: name, type: type))
        }
        guard !columns.isEmpty else { throw InvalidInput("dataset '\(id)': table has no columns") }
        guard columns.count <= Self.maxColumns else {
            throw InvalidInput(
                "dataset '\(id)': \(columns.count) columns is more than the \(Self.maxColumns) a table of the store can hold (SQLite's column limit)")
        }
        self.columns = columns
        for key in d.keys where !columns.contains(where: { $0.name == key }) {
            throw InvalidInput("dataset '\(id)': key '\(key)' is not a column of \(table)")
        }
        keys = d.keys
        preSql = d.preSql
        postSql = d.postSql
        visitors = d.visitors
        for column in d.rowFilter.keys.sorted() {
            guard columns.contains(where: { $0.name == column }) else {
                throw InvalidInput("dataset '\(id)': rowFilter names '\(column)', which is not a column of \(table)")
            }
        }
        if let problem = RowFilterDeclaration.problem(d.rowFilter) { throw InvalidInput("dataset '\(id)': \(problem)") }
        rowFilter = d.rowFilter
    }

    /// The most columns a table (and an index over its keys) may have: SQLite's limit, as
    /// this build of SQLite reports it (2,000 by default). A definition past it is refused
    /// when it is given, not when the table is first created.
    static let maxColumns: Int = {
        guard let db = try? SQLiteConnection(path: ":memory:") else { return 2_000 }
        return Int(sqlite3_limit(db.handle, SQLITE_LIMIT_COLUMN, -1))
    }()

    /// Letters (any script), digits and `_`, not starting with a digit, at most 64.
    static func checkIdentifier(_ name: String, what: String, dataset: String) throws {
        guard let first = name.first, !first.isNumber, name.count <= 64,
            name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
        else {
            throw InvalidInput("dataset '\(dataset)': \(what) '\(name)' must be letters, digits and _ (not starting with a digit)")
        }
        // rowid and its aliases would hide the table's own row order (queries read it).
        guard !name.lowercased().hasPrefix("sqlite_"), !["rowid", "oid", "_rowid_"].contains(name.lowercased()) else {
            throw InvalidInput("dataset '\(dataset)': \(what) '\(name)' is reserved by SQLite")
        }
    }

    /// A quoted identifier (names are validated, so quoting never needs escaping).
    static func quote(_ name: String) -> String { "\"\(name)\"" }

    /// A text as an SQL string literal (both stores: quotes doubled).
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    /// The table as the gateway creates it when it does not exist yet.
    var createSQL: String {
        let cols = columns.map { "\(Self.quote($0.name)) \($0.type.sqlType)".trimmingCharacters(in: .whitespaces) }
        var sql = "CREATE TABLE IF NOT EXISTS \(Self.quote(table)) (\(cols.joined(separator: ", ")))"
        if !keys.isEmpty {
            sql +=
                "; CREATE UNIQUE INDEX IF NOT EXISTS \(Self.quote("gw_keys_\(table)")) ON \(Self.quote(table)) (\(keys.map(Self.quote).joined(separator: ", ")))"
        }
        return sql
    }
}
