import Foundation

/// A row filter as an administrator declares it on a dataset, a named query or a model's
/// table: column → context (`{"region": "user.regions"}`). Checked here when it is read;
/// compiled into SQL by ContextRowFilter (named queries, model tables) or put in force on the
/// table by the datasets' store (RowFilterViews, PostgresRowFilters).
enum RowFilterDeclaration {
    /// Parameters of row filters are named by their context, so two filters on one context
    /// (a named query's and a model table's over it) bind one value.
    static let parameterPrefix = "row_filter_"

    /// Hex keeps any claim name (`user.org-unit:x`) a plain parameter name on both stores.
    static func parameter(_ context: String) -> String {
        parameterPrefix + context.utf8.map { String(format: "%02x", $0) }.joined()
    }

    static func isFilterParameter(_ name: String) -> Bool { name.hasPrefix(parameterPrefix) }

    /// Why a declared filter cannot be used, or nil: columns are plain names (they are
    /// quoted into SQL) and contexts read `user.<claim>` or `org.<name>`.
    static func problem(_ filter: [String: String]) -> String? {
        for (column, context) in filter.sorted(by: { $0.key < $1.key }) {
            guard let first = column.first, !first.isNumber, column.count <= 64, column.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                return "rowFilter names '\(column.prefix(100))': a column name is letters, digits and _ (not starting with a digit)"
            }
            guard ContextName(context) != nil else {
                return "rowFilter.\(column) reads user.<claim> or org.<name>, not '\(context.prefix(100))'"
            }
        }
        return nil
    }
}
