import Foundation

/// A data model checked against what it names: every table exists, every column is one of
/// its table's, relationships form no cycle (one join path between any two tables), names
/// are unique. Safe to compile queries from: every identifier in its SQL is quoted from a
/// checked name, and every expression was written by an administrator (and still runs
/// only on a read-only connection, under the read-only authorizer).
struct DataModel: Sendable {
    /// Why a definition or a query cannot be used; the message says what to change.
    struct Invalid: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    struct Table: Sendable {
        let name: String
        /// What follows FROM or JOIN: a quoted table name, or a named query in parentheses.
        let fromSQL: String
        /// Column names (lower-cased) and their types.
        let columns: [String: ColumnType]
        /// The `:name` parameters a named query's SQL takes.
        let parameters: Set<String>
    }

    /// Many rows of `from` point at one row of `to`.
    struct Edge: Sendable {
        let from: String, fromColumn: String
        let to: String, toColumn: String
    }

    /// A dimension or a measure: something a query selects, filters or orders by.
    struct Member: Sendable {
        enum Kind: Sendable {
            case dimension
            /// `fanSafe`: the aggregate gives the same answer when its table's rows repeat
            /// (count distinct, min, max), so it may be read through a join from a table
            /// with many rows per row of its own.
            case measure(fanSafe: Bool)
        }
        let name: String
        let kind: Kind
        /// The SQL expression, over `"table"."column"` names.
        let sql: String
        /// The tables the expression reads.
        let tables: Set<String>
        /// The type its values are read as (and filter values converted to).
        let type: ColumnType
        /// Written by the administrator as SQL (an `sql` dimension), not built from a column.
        var isExpression = false

        var isMeasure: Bool { if case .measure = kind { true } else { false } }
    }

    let id: String
    let tables: [String: Table]
    let edges: [Edge]
    let members: [String: Member]
    let parameters: [String: NamedQuery.Parameter]

    static let aggregates = ["sum", "count", "count_distinct", "avg", "min", "max"]

    /// The table read through its own row filter (a subquery over what it read before).
    private static func filtered(_ table: Table, _ filter: [String: String], dialect: SQLDialect) throws -> Table {
        if let problem = RowFilterDeclaration.problem(filter) { throw Invalid("table '\(table.name)': \(problem)") }
        for column in filter.keys.sorted() where table.columns[column.lowercased()] == nil {
            throw Invalid(
                "table '\(table.name)': rowFilter names '\(column)', which is not one of its columns (\(table.columns.keys.sorted().joined(separator: ", ")))")
        }
        let sql = ContextRowFilter.wrap("SELECT * FROM \(table.fromSQL) AS \(Dataset.quote(table.name))", filter, dialect: dialect)
        return Table(name: table.name, fromSQL: "(\(sql))", columns: table.columns, parameters: table.parameters)
    }

    /// `lookup` finds a table's source: a dataset (its SQL table name and columns) or a
    /// named query (its SQL, whose columns are found by preparing it).
    /// `dialect`: the store's, which the row filters of the model's tables are written in.
    init(
        id: String, definition d: DataModelDefinition, datasets: (String) throws -> Dataset?,
        namedQueries: [String: NamedQuery], dialect: SQLDialect,
        columnsOfQuery: (String) throws -> (columns: [(String, ColumnType)], parameters: Set<String>)
    ) throws {
        self.id = id
        guard !d.tables.isEmpty else { throw Invalid("a model needs at least one table in 'tables'") }
        for name in d.parameters.keys {
            guard Self.isIdentifier(name) else { throw Invalid("parameter name '\(name)' must be letters, digits and _") }
            guard !RowFilterDeclaration.isFilterParameter(name) else {
                throw Invalid("parameter name '\(name)': names starting \(RowFilterDeclaration.parameterPrefix) are the row filters'")
            }
        }
        var parameters = d.parameters
        var tables: [String: Table] = [:]
        for (name, spec) in d.tables.sorted(by: { $0.key < $1.key }) {
            guard Self.isIdentifier(name) else {
                throw Invalid("table name '\(name)' must be letters, digits and _ (not starting with a digit): expressions name its columns as \(name).column")
            }
            guard tables.keys.allSatisfy({ $0.lowercased() != name.lowercased() }) else { throw Invalid("two tables are named '\(name)' (names ignore case)") }
            var table: Table
            switch (spec.dataset, spec.query) {
            case (let dataset?, nil):
                guard let found = try datasets(dataset) else { throw Invalid("table '\(name)': there is no dataset '\(dataset)'") }
                let columns = Dictionary(found.columns.map { ($0.name.lowercased(), $0.type) }, uniquingKeysWith: { a, _ in a })
                table = Table(name: name, fromSQL: Dataset.quote(found.table), columns: columns, parameters: [])
            case (nil, let query?):
                guard let named = namedQueries[query] else { throw Invalid("table '\(name)': there is no named query '\(query)' (config 'queries')") }
                // The query's own row filter holds wherever it is read.
                let sql = named.filteredSQL(dialect)
                let (columns, taken) = try columnsOfQuery(sql)
                parameters.merge(ContextRowFilter.parameters(named.rowFilter)) { a, _ in a }
                for p in taken.sorted() where parameters[p] == nil {
                    throw Invalid("table '\(name)': its query takes :\(p), which the model does not declare in 'parameters'")
                }
                table = Table(
                    name: name, fromSQL: "(\(sql))", columns: Dictionary(columns.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { a, _ in a }),
                    parameters: taken)
            default:
                throw Invalid("table '\(name)' needs exactly one of 'dataset' or 'query'")
            }
            if !spec.rowFilter.isEmpty {
                table = try Self.filtered(table, spec.rowFilter, dialect: dialect)
                parameters.merge(ContextRowFilter.parameters(spec.rowFilter)) { a, _ in a }
            }
            tables[name] = table
        }
        self.tables = tables
        self.parameters = parameters

        var edges: [Edge] = []
        var component = Dictionary(uniqueKeysWithValues: tables.keys.map { ($0, $0) })
        func root(_ t: String) -> String {
            var t = t
            while let up = component[t], up != t { t = up }
            return t
        }
        for r in d.relationships {
            let (from, fromColumn) = try Self.column(r.from, in: tables, what: "relationship from '\(r.from)'")
            let (to, toColumn) = try Self.column(r.to, in: tables, what: "relationship to '\(r.to)'")
            guard from != to else { throw Invalid("relationship \(r.from) → \(r.to) joins a table to itself") }
            // A second path between two tables would make the join ambiguous (and a cycle).
            guard root(from) != root(to) else {
                throw Invalid(
                    "relationship \(r.from) → \(r.to) makes a second join path between '\(from)' and '\(to)' (the relationships would form a cycle): keep one")
            }
            component[root(from)] = root(to)
            edges.append(Edge(from: from, fromColumn: fromColumn, to: to, toColumn: toColumn))
        }
        self.edges = edges

        var members: [String: Member] = [:]
        func add(_ m: Member) throws {
            guard Self.isMemberName(m.name) else { throw Invalid("member name '\(m.name)' must be 1 to 128 letters, digits, _ or -") }
            guard members.keys.allSatisfy({ $0.lowercased() != m.name.lowercased() }) else {
                throw Invalid("'\(m.name)' names both a dimension and a measure (or two members alike but for case): output columns need distinct names")
            }
            members[m.name] = m
        }
        for (name, dim) in d.dimensions.sorted(by: { $0.key < $1.key }) {
            try add(try Self.dimension(name, dim, tables: tables))
        }
        let ratios = d.measures.filter { $0.value.ratio != nil }
        for (name, measure) in d.measures.sorted(by: { $0.key < $1.key }) where measure.ratio == nil {
            try add(try Self.measure(name, measure, tables: tables))
        }
        for (name, measure) in ratios.sorted(by: { $0.key < $1.key }) {
            guard let parts = measure.ratio, parts.count == 2 else { throw Invalid("measure '\(name)': ratio takes two measures, [numerator, denominator]") }
            guard measure.aggregate == nil, measure.column == nil else { throw Invalid("measure '\(name)': give either 'ratio' or 'aggregate', not both") }
            let sides = try parts.map { part -> Member in
                guard let m = members[part], m.isMeasure, d.measures[part]?.ratio == nil else {
                    throw Invalid("measure '\(name)': '\(part)' is not a measure of this model (ratios divide two aggregate measures)")
                }
                return m
            }
            let fanSafe = sides.allSatisfy { if case .measure(let safe) = $0.kind { safe } else { false } }
            try add(
                Member(
                    name: name, kind: .measure(fanSafe: fanSafe),
                    sql: "CAST(\(sides[0].sql) AS DOUBLE PRECISION) / NULLIF(\(sides[1].sql), 0)",
                    tables: sides[0].tables.union(sides[1].tables), type: .real))
        }
        guard !members.isEmpty else { throw Invalid("a model needs at least one dimension or measure") }
        self.members = members
    }

    // MARK: members

    private static func dimension(_ name: String, _ dim: DataModelDefinition.Dimension, tables: [String: Table]) throws -> Member {
        switch (dim.column, dim.sql) {
        case (let column?, nil):
            let (table, col) = try Self.column(column, in: tables, what: "dimension '\(name)'")
            let stored = tables[table]?.columns[col.lowercased()] ?? .any
            let type = dim.type ?? stored
            // A typed column holds only values of its type (pushes convert or refuse them):
            // read it as it is, which keeps any index on it usable in filters.
            let sql = type == stored && type != .any && type != .decimal ? qualified(table, col) : typed(qualified(table, col), type)
            return Member(name: name, kind: .dimension, sql: sql, tables: [table], type: type == .any ? .text : type)
        case (nil, let sql?):
            guard let type = dim.type else {
                throw Invalid("dimension '\(name)': an 'sql' dimension declares its 'type' (\(ColumnType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            try checkExpression(sql, what: "dimension '\(name)'")
            let used = try referencedTables(sql, tables: tables, what: "dimension '\(name)'")
            return Member(
                name: name, kind: .dimension, sql: typed("(\(sql))", type), tables: used, type: type == .any ? .text : type,
                isExpression: true)
        default:
            throw Invalid("dimension '\(name)' needs exactly one of 'column' or 'sql'")
        }
    }

    private static func measure(_ name: String, _ m: DataModelDefinition.Measure, tables: [String: Table]) throws -> Member {
        guard let aggregate = m.aggregate?.lowercased(), aggregates.contains(aggregate) else {
            throw Invalid("measure '\(name)' needs 'aggregate' (\(aggregates.joined(separator: ", "))) or 'ratio'")
        }
        guard let columnName = m.column else {
            guard aggregate == "count" else { throw Invalid("measure '\(name)': \(aggregate) needs a 'column' (table.column)") }
            guard let given = m.table ?? (tables.count == 1 ? tables.keys.first : nil),
                let table = tables.keys.first(where: { $0.lowercased() == given.lowercased() })
            else {
                throw Invalid(
                    "measure '\(name)': count without a column counts the rows of 'table': name one of \(tables.keys.sorted().joined(separator: ", "))")
            }
            return Member(name: name, kind: .measure(fanSafe: false), sql: "COUNT(*)", tables: [table], type: .integer)
        }
        let (table, column) = try Self.column(columnName, in: tables, what: "measure '\(name)'")
        if let other = m.table, other.lowercased() != table.lowercased() {
            throw Invalid("measure '\(name)': its column belongs to '\(table)', not '\(other)'")
        }
        let type = tables[table]?.columns[column.lowercased()] ?? .any
        let ref = qualified(table, column)
        // Decimals are stored as their digits: add them up as numbers.
        let value = type == .decimal ? "CAST(\(ref) AS DOUBLE PRECISION)" : ref
        switch aggregate {
        case "sum":
            return Member(name: name, kind: .measure(fanSafe: false), sql: "SUM(\(value))", tables: [table], type: type == .integer ? .integer : .real)
        case "avg":
            return Member(name: name, kind: .measure(fanSafe: false), sql: "AVG(\(value))", tables: [table], type: .real)
        case "count":
            return Member(name: name, kind: .measure(fanSafe: false), sql: "COUNT(\(ref))", tables: [table], type: .integer)
        case "count_distinct":
            return Member(name: name, kind: .measure(fanSafe: true), sql: "COUNT(DISTINCT \(ref))", tables: [table], type: .integer)
        default:  // min, max
            let kept = type == .any ? .text : type
            return Member(name: name, kind: .measure(fanSafe: true), sql: typed("\(aggregate.uppercased())(\(value))", kept), tables: [table], type: kept)
        }
    }

    /// Casts an expression to what its type reads as, so that every row's value has the
    /// column's type whatever the expression made of it. The type names are ones both
    /// stores read alike (PostgreSQL's INTEGER and REAL are 32 bits; SQLite reads BIGINT and
    /// DOUBLE PRECISION as its INTEGER and REAL).
    private static func typed(_ sql: String, _ type: ColumnType) -> String {
        switch type {
        case .text, .any: "CAST(\(sql) AS TEXT)"
        case .integer: "CAST(\(sql) AS BIGINT)"
        case .real: "CAST(\(sql) AS DOUBLE PRECISION)"
        // Decimals are stored as their digits (text): as numbers they group, sort and
        // compare by value ("10" after "9", "1.50" with "1.5").
        case .decimal: "CAST(\(sql) AS NUMERIC)"
        default: sql
        }
    }

    static func qualified(_ table: String, _ column: String) -> String {
        "\(Dataset.quote(table)).\(Dataset.quote(column))"
    }

    /// `"table.column"` split and checked.
    private static func column(_ text: String, in tables: [String: Table], what: String) throws -> (String, String) {
        let parts = text.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw Invalid("\(what): write the column as table.column") }
        guard let table = tables.keys.first(where: { $0.lowercased() == parts[0].lowercased() }), let spec = tables[table] else {
            throw Invalid("\(what): there is no table '\(parts[0])' in the model (tables: \(tables.keys.sorted().joined(separator: ", ")))")
        }
        guard spec.columns[parts[1].lowercased()] != nil else {
            throw Invalid("\(what): table '\(table)' has no column '\(parts[1])' (columns: \(spec.columns.keys.sorted().joined(separator: ", ")))")
        }
        return (table, parts[1])
    }

    /// An administrator's expression must stay one expression inside the parentheses the
    /// compiler puts around it: no statement separator, no comment (which could hide the
    /// rest of the compiled query), and parentheses that close only what they opened (a
    /// `x) AS TEXT) AS a, (SELECT …` would close the compiler's CAST and add columns).
    /// What it reads is checked when the model is (DataModelCatalog): its own tables only.
    static func checkExpression(_ sql: String, what: String) throws {
        let chars = Array(sql.unicodeScalars)
        var depth = 0, i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "'" || c == "\"" || c == "`" || c == "[" {
                let close: Unicode.Scalar = c == "[" ? "]" : c
                i += 1
                while i < chars.count, chars[i] != close { i += 1 }
                guard i < chars.count else { throw Invalid("\(what): a quote or bracket is not closed") }
                i += 1
                continue
            }
            let next: Unicode.Scalar? = i + 1 < chars.count ? chars[i + 1] : nil
            if c == ";" { throw Invalid("\(what): an expression has no ';' (one expression, not statements)") }
            if (c == "-" && next == "-") || (c == "/" && next == "*") { throw Invalid("\(what): an expression has no comments") }
            if c == "(" { depth += 1 }
            if c == ")" {
                depth -= 1
                guard depth >= 0 else { throw Invalid("\(what): a ')' closes a parenthesis the expression did not open") }
            }
            i += 1
        }
        guard depth == 0 else { throw Invalid("\(what): a '(' is not closed") }
    }

    /// The model tables an expression names as `table.column` (outside string literals).
    /// A qualifier that is not a model table is refused: it could only be a mistake or an
    /// attempt to reach something else.
    static func referencedTables(_ sql: String, tables: [String: Table], what: String) throws -> Set<String> {
        var used = Set<String>()
        let chars = Array(sql.unicodeScalars)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "'" {
                i += 1
                while i < chars.count { if chars[i] == "'" { if i + 1 < chars.count && chars[i + 1] == "'" { i += 2; continue }; break }; i += 1 }
                i += 1
                continue
            }
            var word: String?
            if c == "\"" {
                var j = i + 1, text = ""
                while j < chars.count, chars[j] != "\"" { text.unicodeScalars.append(chars[j]); j += 1 }
                word = text
                i = j + 1
            } else if c == "_" || (c.isASCII && c.properties.isAlphabetic) {
                var j = i, text = ""
                while j < chars.count, chars[j] == "_" || (chars[j].isASCII && (chars[j].properties.isAlphabetic || ("0"..."9").contains(chars[j]))) {
                    text.unicodeScalars.append(chars[j]); j += 1
                }
                word = text
                i = j
            } else {
                i += 1
                continue
            }
            guard let word, i < chars.count, chars[i] == "." else { continue }
            guard let table = tables.keys.first(where: { $0.lowercased() == word.lowercased() }) else {
                throw Invalid("\(what): '\(word).' names no table of the model (tables: \(tables.keys.sorted().joined(separator: ", ")))")
            }
            used.insert(table)
        }
        guard !used.isEmpty else { throw Invalid("\(what): the expression names no column (write them as table.column)") }
        return used
    }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.count <= 64, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    static func isMemberName(_ name: String) -> Bool {
        (1...128).contains(name.count)
            && name.unicodeScalars.allSatisfy { $0 == "_" || $0 == "-" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
