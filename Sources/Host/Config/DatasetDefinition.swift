import Foundation

/// A dataset an administrator defined: the seed-000 `type` id, its table and columns, the
/// SQL run before and after each write, the key columns that `update=1` matches on, and
/// which visitors may write it.
public struct DatasetDefinition: Codable, Sendable, Equatable {
    /// `"表名(字段1,字段2....)"` as in seed 000; a column may carry a type:
    /// `sales(region text, amount real, day date)`.
    public var table: String
    public var preSql: [String]
    public var postSql: [String]
    /// Columns that identify a row for `update=1`.
    public var keys: [String]
    /// Visitors (names in `auth.signedKeys`) allowed to write; empty means any of them.
    public var visitors: [String]
    /// Row-level security: column → context (`{"region": "user.regions"}`). Every read of
    /// the table, whatever path it takes (dataset query, named query, store SQL, data model,
    /// dataflow), sees only the rows whose column is one of the caller's claim values.
    public var rowFilter: [String: String]

    public init(
        table: String, preSql: [String] = [], postSql: [String] = [], keys: [String] = [], visitors: [String] = [],
        rowFilter: [String: String] = [:]
    ) {
        self.table = table
        self.preSql = preSql
        self.postSql = postSql
        self.keys = keys
        self.visitors = visitors
        self.rowFilter = rowFilter
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        table = try c.decode(String.self, forKey: .table)
        preSql = try c.decodeIfPresent([String].self, forKey: .preSql) ?? []
        postSql = try c.decodeIfPresent([String].self, forKey: .postSql) ?? []
        keys = try c.decodeIfPresent([String].self, forKey: .keys) ?? []
        visitors = try c.decodeIfPresent([String].self, forKey: .visitors) ?? []
        rowFilter = try c.decodeIfPresent([String: String].self, forKey: .rowFilter) ?? [:]
    }

    /// Left out while empty: definitions stored before row filters read back unchanged.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(table, forKey: .table)
        try c.encode(preSql, forKey: .preSql)
        try c.encode(postSql, forKey: .postSql)
        try c.encode(keys, forKey: .keys)
        try c.encode(visitors, forKey: .visitors)
        if !rowFilter.isEmpty { try c.encode(rowFilter, forKey: .rowFilter) }
    }

    enum CodingKeys: String, CodingKey { case table, preSql, postSql, keys, visitors, rowFilter }
}

/// The column types a dataset may declare. `any` keeps whatever the client sent (number,
/// text, null), as SQLite does.
public enum ColumnType: String, Sendable, CaseIterable, Codable {
    case any, text, integer, real, decimal, bool, date, timestamp, blob

    /// The SQLite declared type: it picks the column affinity and, for the query API, the
    /// Arrow type the column is read back as.
    var sqlType: String {
        switch self {
        case .any: ""
        case .text: "TEXT"
        case .integer: "INTEGER"
        case .real: "REAL"
        // TEXT affinity ("DECIMAL" alone would be NUMERIC, which stores a REAL and rounds):
        // the digits are kept as sent, and the query API still reads the column as decimal.
        case .decimal: "DECIMAL TEXT"
        case .bool: "BOOLEAN"
        case .date: "DATE"
        case .timestamp: "TIMESTAMP"
        case .blob: "BLOB"
        }
    }

    /// The PostgreSQL type (as `information_schema.columns.data_type` names it). `any` is
    /// text there: PostgreSQL has no column that keeps each value's own type.
    var postgresType: String {
        switch self {
        case .any, .text: "text"
        case .integer: "bigint"
        case .real: "double precision"
        case .decimal: "numeric(38,10)"
        case .bool: "boolean"
        case .date: "date"
        case .timestamp: "timestamp without time zone"
        case .blob: "bytea"
        }
    }
}
