import Foundation
import Synchronization

/// Every data model the gateway knows: those in the configuration file (read-only here)
/// and those administrators define through the admin API (kept in the store). A model is
/// checked in full when it is defined (and at start-up for the configured ones): every
/// member is compiled and prepared, so a wrong column or expression is refused with its
/// reason then, not at a client's first query.
public final class DataModelCatalog: Sendable {
    let store: any DefinitionRepository
    let datasets: DatasetCatalog
    let queries: [String: NamedQuery]
    let tables: any DatasetTables
    let configured: [String: DataModelDefinition]
    /// A named query's result columns, by its SQL: every model query over it would prepare
    /// it again otherwise. They cannot change while the gateway runs (the queries come from
    /// the configuration, and a dataset's table keeps the columns it was created with).
    private let queryColumns = Mutex<[String: (columns: [(String, ColumnType)], parameters: Set<String>)]>([:])

    init(
        config: [String: DataModelDefinition], queries: [String: NamedQuery], store: any DefinitionRepository, datasets: DatasetCatalog,
        tables: any DatasetTables
    ) throws {
        self.store = store
        self.datasets = datasets
        self.queries = queries
        self.tables = tables
        configured = config
        for (id, definition) in config.sorted(by: { $0.key < $1.key }) {
            do {
                _ = try check(id, definition)
            } catch let e as DataModel.Invalid {
                throw InvalidInput("configuration: data model '\(id)': \(e.description)")
            }
        }
    }

    /// The model, built from its definition (which it was checked against when defined;
    /// a dataset it names may since have gone, which this says).
    func model(_ id: String) throws -> DataModel? {
        guard let definition = try definition(id) else { return nil }
        return try build(id, definition)
    }

    public func definition(_ id: String) throws -> DataModelDefinition? {
        if let d = configured[id] { return d }
        guard let text = try store.definition(.datamodel, id: id) else { return nil }
        return try JSONDecoder().decode(DataModelDefinition.self, from: Data(text.utf8))
    }

    public func all() throws -> [(id: String, definition: DataModelDefinition, configured: Bool)] {
        let fromStore = try store.definitions(.datamodel).compactMap { id, text -> (String, DataModelDefinition, Bool)? in
            guard configured[id] == nil else { return nil }
            return (id, try JSONDecoder().decode(DataModelDefinition.self, from: Data(text.utf8)), false)
        }
        return configured.sorted { $0.key < $1.key }.map { ($0.key, $0.value, true) } + fromStore
    }

    public func isConfigured(_ id: String) -> Bool { configured[id] != nil }

    /// Checks and stores a model (not one from the configuration file).
    public func define(_ id: String, _ definition: DataModelDefinition) throws {
        try ResourceId.check(id, what: "data model")
        guard configured[id] == nil else { throw InvalidInput("data model '\(id)' is defined in the configuration file; change it there") }
        do {
            _ = try check(id, definition)
        } catch let e as DataModel.Invalid {
            throw InvalidInput(e.description)
        }
        let json = String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
        try store.saveDefinition(.datamodel, id: id, json: json)
    }

    public func remove(_ id: String) throws -> Bool {
        guard configured[id] == nil else { throw InvalidInput("data model '\(id)' is defined in the configuration file; change it there") }
        return try store.deleteDefinition(.datamodel, id: id)
    }

    // MARK: checking

    private func build(_ id: String, _ definition: DataModelDefinition) throws -> DataModel {
        try DataModel(
            id: id, definition: definition, datasets: { try self.datasets.dataset($0) }, namedQueries: queries, dialect: tables.dialect,
            columnsOfQuery: columns(ofQuery:))
    }

    /// Builds the model and prepares a query of each member alone: SQLite names an unknown
    /// column, a misspelt function or a refused one in an expression. An administrator's
    /// expression is also prepared over stand-ins of the model's tables (one row of NULLs
    /// with their columns), where reading any real table is refused: it reads its own
    /// tables' columns and nothing else (no subquery into another dataset).
    func check(_ id: String, _ definition: DataModelDefinition) throws -> DataModel {
        let model = try build(id, definition)
        for member in model.members.values.sorted(by: { $0.name < $1.name }) where member.isExpression {
            do {
                let shape = try tables.describe("SELECT \(member.sql) FROM \(Self.standIns(model))", readingNoTable: true)
                guard shape.columns.count == 1 else { throw DataModel.Invalid("its SQL must be one expression (it makes \(shape.columns.count) columns)") }
            } catch let e as ReadOnlySQL.Refused {
                throw DataModel.Invalid("dimension '\(member.name)': \(e.description)")
            } catch let e as DataModel.Invalid {
                throw DataModel.Invalid("dimension '\(member.name)': \(e.description)")
            }
        }
        for member in model.members.values.sorted(by: { $0.name < $1.name }) {
            var q = ModelQuery()
            if member.isMeasure { q.measures = [member.name] } else { q.dimensions = [member.name] }
            let what = "\(member.isMeasure ? "measure" : "dimension") '\(member.name)'"
            do {
                let compiled = try ModelCompiler.compile(model, q, request: QueryRequest())
                try Self.checkParameters(try tables.describe(compiled.sql, readingNoTable: false).parameters, declared: model.parameters)
            } catch let e as ReadOnlySQL.Refused {
                throw DataModel.Invalid("\(what): \(e.description)")
            } catch let e as DataModel.Invalid {
                throw DataModel.Invalid("\(what): \(e.description)")
            }
        }
        return model
    }

    /// Each model table as a one-row subquery of NULLs under the table's name, with its
    /// columns: what an expression may read, with no real table behind it. Typed NULLs:
    /// PostgreSQL checks an expression's functions against its arguments' types.
    private static func standIns(_ model: DataModel) -> String {
        model.tables.values.sorted { $0.name < $1.name }.map { table in
            let columns = table.columns.sorted { $0.key < $1.key }.map { name, type in
                "CAST(NULL AS \(type.postgresType)) AS \(Dataset.quote(name))"
            }.joined(separator: ", ")
            return "(SELECT \(columns)) AS \(Dataset.quote(table.name))"
        }.joined(separator: ", ")
    }

    /// A model's own SQL (its expressions, its named queries) may take model parameters as
    /// `:name` only: a `?` would take a value the compiler binds to a filter.
    private static func checkParameters(_ slots: ParameterSlots, declared: [String: NamedQuery.Parameter]) throws {
        for slot in slots.names {
            guard let name = slot else { throw DataModel.Invalid("its SQL uses '?': take parameters by name (:name)") }
            guard declared[name] != nil else {
                throw DataModel.Invalid("its SQL takes :\(name), which the model does not declare in 'parameters'")
            }
        }
    }

    /// A named query's result columns with their declared types, and the parameters it
    /// takes (found by preparing it).
    private func columns(ofQuery sql: String) throws -> (columns: [(String, ColumnType)], parameters: Set<String>) {
        if let known = queryColumns.withLock({ $0[sql] }) { return known }
        let shape: StatementShape
        do {
            shape = try tables.describe("SELECT * FROM (\(sql)) AS q", readingNoTable: false)
        } catch let e as ReadOnlySQL.Refused {
            throw DataModel.Invalid("its named query: \(e.description)")
        }
        if let unnamed = shape.parameters.names.firstIndex(where: { $0 == nil }) {
            throw DataModel.Invalid("its named query uses an unnamed parameter (number \(unnamed + 1)): take parameters by name (:name)")
        }
        let found = (columns: shape.columns.map { ($0.name, $0.type) }, parameters: shape.parameters.named)
        queryColumns.withLock { $0[sql] = found }
        return found
    }
}

extension ColumnType {
    /// The column type SQLite's declared type stands for (the affinity rules the query
    /// API reads columns by); `any` when it declares none.
    init(declared: String) {
        switch SQLiteBatchSource.declaredType(declared.uppercased()) {
        case .date32?: self = .date
        case .decimal128?: self = .decimal
        case .timestamp?: self = .timestamp
        case .bool?: self = .bool
        case .int64?: self = .integer
        case .utf8?: self = .text
        case .binary?: self = .blob
        case .float64?: self = .real
        default: self = .any
        }
    }
}
