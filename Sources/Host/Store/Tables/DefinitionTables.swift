import Foundation

/// Datasets and data models defined through the admin API, as JSON (those of the
/// configuration file are not stored).
extension SQLStore: DefinitionRepository {
    public func definition(_ kind: DefinitionKind, id: String) throws -> String? {
        try withConnection { db in
            try db.query("SELECT definition FROM \(Self.table(kind)) WHERE id = ?", [.text(id)]).first?.first?.text
        }
    }

    public func definitions(_ kind: DefinitionKind) throws -> [(id: String, json: String)] {
        try withConnection { db in
            try db.query("SELECT id, definition FROM \(Self.table(kind)) ORDER BY id").compactMap { row in
                guard let id = row[0].text, let json = row[1].text else { return nil }
                return (id, json)
            }
        }
    }

    public func saveDefinition(_ kind: DefinitionKind, id: String, json: String) throws {
        try withConnection { db in
            try db.run(
                """
                INSERT INTO \(Self.table(kind)) (id, definition, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at
                """, [.text(id), .text(json), .int(Int64(clock.now.timeIntervalSince1970))])
        }
    }

    public func deleteDefinition(_ kind: DefinitionKind, id: String) throws -> Bool {
        try withConnection { db in
            try db.run("DELETE FROM \(Self.table(kind)) WHERE id = ?", [.text(id)]) > 0
        }
    }

    /// A fixed table per kind: never text from outside.
    private static func table(_ kind: DefinitionKind) -> String {
        switch kind {
        case .dataset: "datasets"
        case .datamodel: "datamodels"
        }
    }
}
