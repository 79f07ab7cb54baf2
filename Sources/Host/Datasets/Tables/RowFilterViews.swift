import CSQLite
import Foundation
import Synchronization

/// Row-level security on the datasets file (`DatasetDefinition.rowFilter`), enforced by
/// SQLite itself on every read-only connection, so that no path of SQL reads around it:
///
/// - a TEMP view `gw_rls_<secret>_<n>` selects the table's rows whose filtered columns are
///   among the caller's claim values (`gateway_claim()`, set per query from its identity);
/// - a TEMP view named like the table shadows it (SQLite resolves an unqualified name in
///   `temp` first), so a dataset query, a named query, store SQL and a data model all read
///   the filtered rows without knowing it;
/// - the authorizer lets the table itself (`main.sales`) be read only from inside the first
///   view, which SQLite names as the innermost view of each read. A CTE is named there too,
///   so the view's name is a per-process secret, and what could tell it (the temp schema,
///   EXPLAIN) is refused.
///
/// A caller without an identity, or whose identity lacks the claim, gets no rows: the
/// claim function fails the statement, and the reader turns that into a 403 saying which.
final class RowFilterViews: Sendable {
    struct Filter: Sendable, Equatable {
        let datasetId: String
        let table: String
        let columns: [String]
        /// Column → claim name (the context's claim: `user.regions` → `regions`).
        let claims: [(column: String, claim: String)]

        static func == (a: Filter, b: Filter) -> Bool {
            a.datasetId == b.datasetId && a.table == b.table && a.columns == b.columns
                && a.claims.map(\.column) == b.claims.map(\.column) && a.claims.map(\.claim) == b.claims.map(\.claim)
        }
    }

    private struct State {
        var version = 0
        var filters: [String: Filter] = [:]  // by table, lower-cased
    }

    private let state = Mutex(State())

    /// A table name as SQLite compares it: ASCII letters folded, nothing else (`Ä` and `ä`
    /// are two tables there).
    static func folded(_ name: String) -> String {
        String(String.UnicodeScalarView(name.unicodeScalars.map { ("A"..."Z").contains($0) ? Unicode.Scalar($0.value + 32) ?? $0 : $0 }))
    }
    /// Unguessable, and never shown: see the type's comment.
    let secret = Crypto.hex(Crypto.randomBytes(12))

    /// Counts up whenever a filter changes: a pooled connection made under another version
    /// is closed instead of reused.
    var version: Int { state.withLock { $0.version } }

    enum Change { case recorded, lifted, unchanged }

    /// Records the dataset's filter, or that it has none. The first definition to filter a
    /// table owns the filter: only that dataset changes or lifts it, and any other definition
    /// of the table reads through it (never past it).
    @discardableResult
    func set(_ dataset: Dataset) -> Change {
        let key = Self.folded(dataset.table)
        let filter =
            dataset.rowFilter.isEmpty
            ? nil
            : Filter(
                datasetId: dataset.id, table: dataset.table, columns: dataset.columns.map(\.name),
                claims: dataset.rowFilter.sorted { $0.key < $1.key }.map { ($0.key, ContextName($0.value)?.claim ?? $0.value) })
        return state.withLock { s in
            if let owner = s.filters[key], owner.datasetId != dataset.id { return .unchanged }
            guard s.filters[key] != filter else { return .unchanged }
            s.filters[key] = filter
            s.version += 1
            return filter == nil ? .lifted : .recorded
        }
    }

    /// The filters now, with the version they belong to.
    func snapshot() -> (version: Int, filters: [Filter]) {
        state.withLock { s in (s.version, s.filters.values.sorted { $0.table < $1.table }) }
    }

    /// The view reads of the dataset's table go through, when the table has a filter.
    func innerView(of dataset: Dataset) -> String? {
        state.withLock { s in s.filters.isEmpty ? nil : s.filters[Self.folded(dataset.table)] }.map { innerView($0) }
    }

    func innerView(_ filter: Filter) -> String { "gw_rls_\(secret)_\(filter.table)" }

    /// The column the inner view carries the table's rowid in (for the stored order).
    static let rowidColumn = "__gw_rowid"

    /// The statements that make a connection's views for `filters`.
    func viewStatements(_ filters: [Filter]) -> [String] {
        filters.flatMap { f -> [String] in
            let inner = Dataset.quote(innerView(f)), table = Dataset.quote(f.table)
            let columns = f.columns.map(Dataset.quote).joined(separator: ", ")
            let conditions = f.claims.map { column, claim in
                "CAST(\(Dataset.quote(column)) AS TEXT) IN (SELECT value FROM json_each(gateway_claim(\(Dataset.literal(claim)), \(Dataset.literal(f.datasetId)))))"
            }
            // LIMIT -1 makes the view a barrier: SQLite neither flattens it into the caller's
            // query nor pushes the caller's conditions into it, so no expression of the
            // caller is ever evaluated on a row outside the filter (an error or a cost would
            // tell it apart: an automatic index over the table, a key index's search).
            return [
                "CREATE TEMP VIEW \(inner) AS SELECT rowid AS \(Self.rowidColumn), \(columns) FROM main.\(table) WHERE \(conditions.joined(separator: " AND ")) LIMIT -1",
                "CREATE TEMP VIEW \(table) AS SELECT \(columns) FROM temp.\(inner)",
            ]
        }
    }

}

/// Who the query on a connection is for: its claims, read by `gateway_claim(name, dataset)`.
/// Set before each statement and cleared when the connection goes back to its pool.
final class RowFilterCaller {
    var identity: Identity?
    /// Why the last statement was refused rows (no identity, a claim missing), for a 403.
    var refusal: String?

    /// Registers `gateway_claim` on the connection, reading this object.
    func install(on db: SQLiteConnection) throws {
        db.callbackObjects.append(self)
        let rc = sqlite3_create_function_v2(
            db.handle, "gateway_claim", 2, SQLITE_UTF8, Unmanaged.passUnretained(self).toOpaque(), claimFunction, nil, nil, nil)
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, message: "cannot set up the row filters' claim function") }
    }

    enum Values { case json(String), refused(String) }

    /// The claim's values as a JSON array, or why there are none.
    func values(claim: String, dataset: String) -> Values {
        guard let identity else {
            return .refused("dataset '\(dataset)' has a row filter, and this read has no identity to filter by")
        }
        guard let values = identity.claims[claim], !values.isEmpty,
            let json = try? JSONSerialization.data(withJSONObject: values)
        else {
            return .refused("dataset '\(dataset)' is filtered by the claim '\(claim)', which the identity '\(identity.name)' does not carry")
        }
        return .json(String(decoding: json, as: UTF8.self))
    }
}

private func claimFunction(_ context: OpaquePointer?, _ count: Int32, _ arguments: UnsafeMutablePointer<OpaquePointer?>?) {
    guard let context, let data = sqlite3_user_data(context), count == 2, let arguments else { return }
    let caller = Unmanaged<RowFilterCaller>.fromOpaque(data).takeUnretainedValue()
    let text = { (i: Int) in sqlite3_value_text(arguments[i]).map { String(cString: $0) } ?? "" }
    switch caller.values(claim: text(0), dataset: text(1)) {
    case .json(let json):
        sqlite3_result_text(context, json, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
    case .refused(let why):
        caller.refusal = why
        sqlite3_result_error(context, why, -1)
    }
}
