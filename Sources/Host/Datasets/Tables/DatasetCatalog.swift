import Foundation

/// Every dataset the gateway knows: those in the configuration file (read-only here) and
/// those administrators define through the admin API (kept in the store).
public final class DatasetCatalog: Sendable {
    let store: any DefinitionRepository
    let tables: any DatasetTables
    let configured: [String: Dataset]

    init(config: [String: DatasetDefinition], store: any DefinitionRepository, tables: any DatasetTables) throws {
        self.store = store
        self.tables = tables
        var parsed: [String: Dataset] = [:]
        for (id, definition) in config {
            parsed[id] = try Dataset(id: id, definition: definition)
        }
        configured = parsed
        for dataset in try all() { try tables.prepare(dataset) }
    }

    public func dataset(_ id: String) throws -> Dataset? {
        if let d = configured[id] { return d }
        guard let text = try store.definition(.dataset, id: id) else { return nil }
        return try Dataset(id: id, definition: JSONDecoder().decode(DatasetDefinition.self, from: Data(text.utf8)))
    }

    public func all() throws -> [Dataset] {
        try Self.all(configured: configured, store: store)
    }

    /// The configured datasets, then those defined through the admin API.
    static func all(configured: [String: Dataset], store: any DefinitionRepository) throws -> [Dataset] {
        let fromStore = try store.definitions(.dataset).compactMap { id, text -> Dataset? in
            guard configured[id] == nil else { return nil }
            return try Dataset(id: id, definition: JSONDecoder().decode(DatasetDefinition.self, from: Data(text.utf8)))
        }
        return configured.values.sorted { $0.id < $1.id } + fromStore
    }

    public func isConfigured(_ id: String) -> Bool { configured[id] != nil }

    /// Defines or replaces a dataset (not one from the configuration file).
    public func define(_ id: String, _ definition: DatasetDefinition) throws -> Dataset {
        guard configured[id] == nil else {
            throw InvalidInput("dataset '\(id)' is defined in the configuration file; change it there")
        }
        let dataset = try Dataset(id: id, definition: definition)
        try tables.checkMatchesTable(dataset)
        try tables.prepare(dataset)
        let json = String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
        try store.saveDefinition(.dataset, id: id, json: json)
        return dataset
    }

    /// Removes the definition; the table and its rows stay (drop them with SQL if wanted).
    public func remove(_ id: String) throws -> Bool {
        guard configured[id] == nil else {
            throw InvalidInput("dataset '\(id)' is defined in the configuration file; change it there")
        }
        return try store.deleteDefinition(.dataset, id: id)
    }
}
