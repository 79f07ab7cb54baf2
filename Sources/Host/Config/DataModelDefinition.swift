import Foundation

/// A data model as an administrator writes it (seed 001's third kind of document): the
/// tables it draws on, how they relate, the dimensions clients group and filter by, the
/// measures they aggregate, and the parameters a query may fill. Validated into a
/// `DataModel` before any query uses it; see docs/api.md ("Data models").
public struct DataModelDefinition: Codable, Sendable, Equatable {
    /// A table of the model: a pushed dataset or a named query (`queries` in the config).
    public struct Table: Codable, Sendable, Equatable {
        public var dataset: String?
        public var query: String?
        /// Row-level security on this table of the model: column → context
        /// (`{"region": "user.regions"}`), on top of any filter of the dataset or named
        /// query it reads (ContextRowFilter).
        public var rowFilter: [String: String]

        public init(dataset: String? = nil, query: String? = nil, rowFilter: [String: String] = [:]) {
            self.dataset = dataset
            self.query = query
            self.rowFilter = rowFilter
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            dataset = try c.decodeIfPresent(String.self, forKey: .dataset)
            query = try c.decodeIfPresent(String.self, forKey: .query)
            rowFilter = try c.decodeIfPresent([String: String].self, forKey: .rowFilter) ?? [:]
        }

        /// Left out while empty: models stored before row filters read back unchanged.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeIfPresent(dataset, forKey: .dataset)
            try c.encodeIfPresent(query, forKey: .query)
            if !rowFilter.isEmpty { try c.encode(rowFilter, forKey: .rowFilter) }
        }

        enum CodingKeys: String, CodingKey { case dataset, query, rowFilter }
    }

    /// Many rows of `from`'s table point at one row of `to`'s: `"orders.customer_id"` →
    /// `"customers.id"`.
    public struct Relationship: Codable, Sendable, Equatable {
        public var from: String
        public var to: String

        public init(from: String, to: String) {
            self.from = from
            self.to = to
        }
    }

    /// A column (`"customers.region"`) or an SQL expression over `table.column` names with
    /// its type (`{"sql": "strftime('%Y-%m', orders.day)", "type": "text"}`).
    public struct Dimension: Codable, Sendable, Equatable {
        public var column: String?
        public var sql: String?
        public var type: ColumnType?

        public init(column: String? = nil, sql: String? = nil, type: ColumnType? = nil) {
            self.column = column
            self.sql = sql
            self.type = type
        }
    }

    /// An aggregation (`{"aggregate": "sum", "column": "orders.amount"}`; `count` without a
    /// column counts the rows of `table`) or the ratio of two other measures
    /// (`{"ratio": ["revenue", "orders"]}`).
    public struct Measure: Codable, Sendable, Equatable {
        public var aggregate: String?
        public var column: String?
        public var table: String?
        public var ratio: [String]?

        public init(aggregate: String? = nil, column: String? = nil, table: String? = nil, ratio: [String]? = nil) {
            self.aggregate = aggregate
            self.column = column
            self.table = table
            self.ratio = ratio
        }
    }

    public var tables: [String: Table]
    public var relationships: [Relationship]
    public var dimensions: [String: Dimension]
    public var measures: [String: Measure]
    /// Values a query's filters (`{"param": "name"}`) and the named queries' `:name` take.
    public var parameters: [String: NamedQuery.Parameter]

    public init(
        tables: [String: Table], relationships: [Relationship] = [], dimensions: [String: Dimension] = [:],
        measures: [String: Measure] = [:], parameters: [String: NamedQuery.Parameter] = [:]
    ) {
        self.tables = tables
        self.relationships = relationships
        self.dimensions = dimensions
        self.measures = measures
        self.parameters = parameters
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tables = try c.decode([String: Table].self, forKey: .tables)
        relationships = try c.decodeIfPresent([Relationship].self, forKey: .relationships) ?? []
        dimensions = try c.decodeIfPresent([String: Dimension].self, forKey: .dimensions) ?? [:]
        measures = try c.decodeIfPresent([String: Measure].self, forKey: .measures) ?? [:]
        parameters = try c.decodeIfPresent([String: NamedQuery.Parameter].self, forKey: .parameters) ?? [:]
    }

    enum CodingKeys: String, CodingKey { case tables, relationships, dimensions, measures, parameters }
}
