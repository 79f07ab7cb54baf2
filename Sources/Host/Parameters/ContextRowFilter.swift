import Foundation

/// A row filter declared on a named query or on a data model's table (column → context, the
/// structured form a dataset's `rowFilter` takes): only rows whose column is one of the
/// caller's claim values come out.
///
/// A dataset's filter is the store's to enforce on the table itself, for every statement
/// that reads it, the client's own SQL included (RowFilterViews, PostgresRowFilters). These
/// narrow a statement the administrator wrote, which no client can change, so they are
/// compiled into that statement: the statement becomes a subquery, and each context is a
/// parameter bound from the caller's identity (a context parameter: never from a request).
enum ContextRowFilter {
    /// The context parameters a filtered statement takes: lists, since a claim may hold
    /// several values (`regions: ["west", "north"]`).
    static func parameters(_ filter: [String: String]) -> [String: NamedQuery.Parameter] {
        Dictionary(filter.values.map { (RowFilterDeclaration.parameter($0), NamedQuery.Parameter(multi: true, context: $0)) }, uniquingKeysWith: { a, _ in a })
    }

    /// `sql` as a subquery whose rows pass every condition of `filter` (unchanged without
    /// one). A value compares as text, as a dataset's filter compares it.
    static func wrap(_ sql: String, _ filter: [String: String], dialect: SQLDialect) -> String {
        guard !filter.isEmpty else { return sql }
        let conditions = filter.sorted(by: { $0.key < $1.key }).map { column, context in
            let values =
                switch dialect {
                case .sqlite: "SELECT value FROM json_each(:\(RowFilterDeclaration.parameter(context)))"
                case .postgres: "SELECT jsonb_array_elements_text(CAST(:\(RowFilterDeclaration.parameter(context)) AS jsonb))"
                }
            return "CAST(row_filtered.\(Dataset.quote(column)) AS TEXT) IN (\(values))"
        }
        // On lines of its own: a `--` comment ending the statement must not swallow the `)`.
        return "SELECT * FROM (\n\(SQLText.trimmed(sql))\n) AS row_filtered WHERE " + conditions.joined(separator: " AND ")
    }

    /// A named query's filter names columns the query returns: checked at start where the
    /// query compiles then (it may read a table defined later: its first read then says
    /// what is wrong, as the store words it).
    static func checkColumns(of queries: [String: NamedQuery], tables: any DatasetTables) throws {
        for (id, query) in queries.sorted(by: { $0.key < $1.key }) where !query.rowFilter.isEmpty {
            guard let shape = try? tables.describe(query.sql, readingNoTable: false) else { continue }
            let returned = Set(shape.columns.map { $0.name.lowercased() })
            for column in query.rowFilter.keys.sorted() where !returned.contains(column.lowercased()) {
                throw InvalidInput(
                    "configuration: query '\(id)': rowFilter names '\(column)', which is not a column it returns (\(shape.columns.map(\.name).joined(separator: ", ")))"
                )
            }
        }
    }
}

extension NamedQuery {
    /// The statement as it runs: the administrator's SQL under the query's row filter.
    func filteredSQL(_ dialect: SQLDialect) -> String { ContextRowFilter.wrap(sql, rowFilter, dialect: dialect) }

    /// The parameters it takes: the declared ones and its row filter's contexts.
    var allParameters: [String: Parameter] { parameters.merging(ContextRowFilter.parameters(rowFilter)) { a, _ in a } }
}
