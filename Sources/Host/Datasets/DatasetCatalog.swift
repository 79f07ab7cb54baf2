import Foundation

/// Every dataset the gateway knows: those in the configuration file (read-only here) and
/// those administrators define through the admin API (kept in the store).
public final class DatasetCatalog: Sendable {
    let store: Store
    let tables: DatasetStore
    let configured: [String: Dataset]

    public init(config: [String: DatasetDefinition], store: Store, tables: DatasetStore) throws {
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
        guard let row = try store.withConnection({ try $0.query("SELECT definition FROM datasets WHERE id = ?", [.text(id)]) }).first,
            let text = row[0].text
        else { return nil }
        return try Dataset(id: id, definition: JSONDecoder().decode(DatasetDefinition.self, from: Data(text.utf8)))
    }

    public func all() throws -> [Dataset] {
        let stored = try store.withConnection { try $0.query("SELECT id, definition FROM datasets ORDER BY id") }
        let fromStore = try stored.compactMap { row -> Dataset? in
            guard let id = row[0].text, let text = row[1].text, configured[id] == nil else { return nil }
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
        try store.withConnection { db in
            try db.run("""
                INSERT INTO datasets (id, definition, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at
                """, [.text(id), .text(json), .int(Int64(store.clock.now.timeIntervalSince1970))])
        }
        return dataset
    }

    /// Removes the definition; the table and its rows stay (drop them with SQL if wanted).
    public func remove(_ id: String) throws -> Bool {
        guard configured[id] == nil else {
            throw InvalidInput("dataset '\(id)' is defined in the configuration file; change it there")
        }
        return try store.withConnection { db in
            try db.run("DELETE FROM datasets WHERE id = ?", [.text(id)])
            return db.changes > 0
        }
    }
}
