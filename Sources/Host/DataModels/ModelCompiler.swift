import Foundation
import PluginKit

/// Compiles a model query to one read-only SELECT: the selected members over only the
/// tables they need, joined along the model's relationships from the table with the most
/// rows per row (so no aggregate counts a row twice), with every value bound, never spliced.
struct CompiledModelQuery {
    let sql: String
    /// Values of the `?` placeholders, in the order they appear in `sql`.
    let values: [SQLValue]
    /// The Arrow type of each output column.
    let types: [ArrowType]
    /// What the `:name` parameters (of named queries, of expressions) take their values from.
    let model: DataModel
    let request: QueryRequest

    /// The values of the statement's parameters by position: the store numbers each `?`
    /// among the `:name`s in text order. Only the compiler writes `?` (a model's own SQL may
    /// use `:name` only, checked when it is defined).
    func values(_ slots: ParameterSlots) throws -> [SQLValue] {
        var anonymous = values.makeIterator()
        return try slots.names.map { slot in
            if let name = slot { return try ModelCompiler.parameterValue(name, model: model, request: request) }
            guard let next = anonymous.next() else { throw DataModel.Invalid("the model's SQL uses '?': name its parameters (:name)") }
            return next
        }
    }
}

enum ModelCompiler {
    static func compile(_ model: DataModel, _ q: ModelQuery, request: QueryRequest) throws -> CompiledModelQuery {
        try checkParameters(model, request)
        let selected = try q.dimensions.map { try member(model, $0, dimension: true) } + q.measures.map { try member(model, $0, dimension: false) }
        var seen = Set<String>()
        for m in selected where !seen.insert(m.name.lowercased()).inserted { throw DataModel.Invalid("'\(m.name)' is selected twice") }

        // WHERE comes before HAVING in the statement: so do their values.
        var whereValues: [SQLValue] = [], havingValues: [SQLValue] = []
        var whereParts: [String] = [], havingParts: [String] = []
        var filtered: [DataModel.Member] = []
        for f in q.filters {
            guard let m = model.members[f.member] else { throw unknown(model, f.member) }
            if m.isMeasure {
                guard let condition = try condition(m, f, model: model, request: request, values: &havingValues) else { continue }
                havingParts.append(condition)
            } else {
                guard let condition = try condition(m, f, model: model, request: request, values: &whereValues) else { continue }
                whereParts.append(condition)
            }
            filtered.append(m)
        }
        var values = whereValues + havingValues
        guard values.count <= QueryRequest.maxValues else {
            throw DataModel.Invalid("the filters hold more than \(QueryRequest.maxValues) values in all")
        }

        let needed = Set((selected + filtered).flatMap(\.tables))
        let (root, joins) = try plan(model, needed: needed)
        for m in selected + filtered {
            if case .measure(let fanSafe) = m.kind, !fanSafe, m.tables != [root] {
                let other = m.tables.subtracting([root]).sorted().joined(separator: ", ")
                throw DataModel.Invalid(
                    "measure '\(m.name)' aggregates \(other), which this query joins through '\(root)' (several \(root) rows per \(other) row): each \(other) row would count once per \(root) row. Ask for it with members of \(other) (and the tables it points at) only, or use count_distinct, min or max"
                )
            }
        }

        let dims = selected.filter { !$0.isMeasure }
        var sql = "SELECT " + selected.map { "\($0.sql) AS \(Dataset.quote($0.name))" }.joined(separator: ", ")
        sql += " FROM \(model.tables[root]!.fromSQL) AS \(Dataset.quote(root))"
        for j in joins {
            sql += " LEFT JOIN \(model.tables[j.table]!.fromSQL) AS \(Dataset.quote(j.table)) ON \(j.on)"
        }
        if !whereParts.isEmpty { sql += " WHERE " + whereParts.joined(separator: " AND ") }
        if !dims.isEmpty { sql += " GROUP BY " + (1...dims.count).map(String.init).joined(separator: ", ") }
        if !havingParts.isEmpty { sql += " HAVING " + havingParts.joined(separator: " AND ") }
        let order = try orderBy(q, selected: selected)
        if !order.isEmpty { sql += " ORDER BY " + order.joined(separator: ", ") }
        if let limit = q.limit {
            sql += " LIMIT ?"
            values.append(.int(Int64(limit)))
        }
        return CompiledModelQuery(
            sql: sql, values: values, types: selected.map { SQLiteBatchSource.declaredType($0.type.sqlType) ?? .utf8 },
            model: model, request: request)
    }

    // MARK: members and parameters

    private static func member(_ model: DataModel, _ name: String, dimension: Bool) throws -> DataModel.Member {
        guard let m = model.members[name] else { throw unknown(model, name) }
        guard m.isMeasure != dimension else {
            throw DataModel.Invalid("'\(name)' is a \(m.isMeasure ? "measure" : "dimension"): list it under '\(m.isMeasure ? "measures" : "dimensions")'")
        }
        return m
    }

    private static func unknown(_ model: DataModel, _ name: String) -> DataModel.Invalid {
        let dims = model.members.values.filter { !$0.isMeasure }.map(\.name).sorted()
        let measures = model.members.values.filter(\.isMeasure).map(\.name).sorted()
        return DataModel.Invalid(
            "model '\(model.id)' has no member '\(name)' (dimensions: \(dims.joined(separator: ", ")); measures: \(measures.joined(separator: ", ")))")
    }

    /// A parameter the model does not declare would be ignored: say so instead.
    private static func checkParameters(_ model: DataModel, _ request: QueryRequest) throws {
        let declared = model.parameters.keys.filter { !RowFilterDeclaration.isFilterParameter($0) }.sorted()
        try QueryParameters.checkGiven(request, qualifier: model.id, declared: model.parameters, takes: { model.parameters[$0] != nil }) { name in
            DataModel.Invalid(
                "unknown parameter '\(name)': model '\(model.id)' declares \(declared.isEmpty ? "none" : declared.joined(separator: ", "))"
            )
        }
    }

    /// The values of a model parameter (given, else its default); nil when it has none.
    private static func parameterValues(_ name: String, model: DataModel, request: QueryRequest) throws -> [String]? {
        guard let spec = model.parameters[name] else {
            throw DataModel.Invalid("the query names parameter '\(name)', which model '\(model.id)' does not declare")
        }
        return try QueryParameters.parameterValues(name, spec: spec, query: request, qualifier: model.id)
    }

    /// The bound value of a `:name` in a model's own SQL (a named query's, an expression's):
    /// NULL without a value, a JSON array for a `multi` parameter.
    static func parameterValue(_ name: String, model: DataModel, request: QueryRequest) throws -> SQLValue {
        guard let values = try parameterValues(name, model: model, request: request) else { return .null }
        return try QueryParameters.boundValue(name, values, asList: model.parameters[name]?.multi ?? false)
    }

    // MARK: filters

    /// The condition of one filter, its values appended; nil when every value is a parameter
    /// without a value (the filter is left out, as an unset optional filter).
    private static func condition(
        _ m: DataModel.Member, _ f: ModelQuery.Filter, model: DataModel, request: QueryRequest,
        values: inout [SQLValue]
    ) throws -> String? {
        var texts: [String] = []
        var hadParameterOnly = !f.values.isEmpty
        for v in f.values {
            switch v {
            case .literal(let s):
                texts.append(s)
                hadParameterOnly = false
            case .parameter(let name):
                texts += try parameterValues(name, model: model, request: request) ?? []
            }
        }
        if texts.isEmpty && hadParameterOnly { return nil }
        let arity: ClosedRange<Int>
        switch f.op {
        case .equals, .notEquals: arity = 1...QueryRequest.maxValues
        case .gt, .gte, .lt, .lte: arity = 1...1
        case .between: arity = 2...2
        case .set, .notSet: arity = 0...0
        }
        guard arity.contains(texts.count) else {
            let wanted = arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "at least \(arity.lowerBound)"
            throw DataModel.Invalid("filter on '\(m.name)': \(f.op.rawValue) takes \(wanted) value\(arity.upperBound == 1 ? "" : "s") (\(texts.count) given)")
        }
        let converted = try texts.map { text -> SQLValue in
            guard let value = FilterValues.convert(text, m.type) else {
                throw DataModel.Invalid("filter on '\(m.name)': '\(text.prefix(60))' is not a \(m.type.rawValue) value")
            }
            return value
        }
        values += converted
        let expr = m.sql
        let marks = Array(repeating: "?", count: converted.count).joined(separator: ", ")
        switch f.op {
        case .equals: return "\(expr) IN (\(marks))"
        case .notEquals: return "\(expr) NOT IN (\(marks))"
        case .gt: return "\(expr) > ?"
        case .gte: return "\(expr) >= ?"
        case .lt: return "\(expr) < ?"
        case .lte: return "\(expr) <= ?"
        case .between: return "\(expr) BETWEEN ? AND ?"
        case .set: return "\(expr) IS NOT NULL"
        case .notSet: return "\(expr) IS NULL"
        }
    }

    private static func orderBy(_ q: ModelQuery, selected: [DataModel.Member]) throws -> [String] {
        if q.order.isEmpty {
            // Without an order, groups come sorted by their dimensions: the same query gives
            // the same rows in the same order.
            return selected.indices.filter { !selected[$0].isMeasure }.map { "\($0 + 1) NULLS FIRST" }
        }
        return try q.order.map { item in
            guard let index = selected.firstIndex(where: { $0.name == item.member }) else {
                throw DataModel.Invalid("order by '\(item.member)': order by members the query selects")
            }
            // NULL sorts first ascending, last descending: SQLite's order, asked of PostgreSQL too.
            return "\(index + 1)\(item.descending ? " DESC NULLS LAST" : " NULLS FIRST")"
        }
    }

    // MARK: joins

    struct Join {
        let table: String
        let on: String
    }

    /// The table to read from (every other needed table is reached from it by following
    /// relationships from their many side to their one side) and the joins, in order.
    static func plan(_ model: DataModel, needed: Set<String>) throws -> (root: String, joins: [Join]) {
        guard let anchor = needed.sorted().first else { throw DataModel.Invalid("the query reads no table") }
        // The relationships form a forest: the tables joining the needed ones are the paths
        // between them.
        var parent: [String: String] = [anchor: anchor]
        var queue = [anchor]
        while let t = queue.popLast() {
            for e in model.edges {
                for (a, b) in [(e.from, e.to), (e.to, e.from)] where a == t && parent[b] == nil {
                    parent[b] = t
                    queue.append(b)
                }
            }
        }
        var subtree: Set<String> = [anchor]
        for t in needed {
            guard parent[t] != nil else {
                throw DataModel.Invalid("no relationship connects '\(t)' with '\(anchor)': a query cannot combine their members")
            }
            var at = t
            while at != anchor, let up = parent[at] {
                subtree.insert(at)
                at = up
            }
        }
        for candidate in subtree.sorted() {
            var joins: [Join] = []
            var reached: Set<String> = [candidate]
            var frontier = [candidate]
            while !frontier.isEmpty {
                let t = frontier.removeFirst()
                for e in model.edges where e.from == t && subtree.contains(e.to) && !reached.contains(e.to) {
                    reached.insert(e.to)
                    frontier.append(e.to)
                    joins.append(Join(table: e.to, on: "\(DataModel.qualified(e.from, e.fromColumn)) = \(DataModel.qualified(e.to, e.toColumn))"))
                }
            }
            if reached == subtree { return (candidate, joins) }
        }
        throw DataModel.Invalid(
            "the members come from \(subtree.sorted().joined(separator: ", ")), and no one of them holds the others' keys: joining them would repeat rows. Query them separately"
        )
    }
}
