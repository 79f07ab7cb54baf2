import Foundation

/// Persistent key/value state of plugin instances (the `state_*` host services).
extension SQLStore: PluginStateRepository {
    public func pluginState(plugin: String, instance: String, key: String) throws -> [UInt8]? {
        try withConnection { db in
            try db.query(
                "SELECT value FROM plugin_state WHERE plugin_id = ? AND instance = ? AND key = ?",
                [.text(plugin), .text(instance), .text(key)]
            ).first?.first?.blob
        }
    }

    public func setPluginState(plugin: String, instance: String, key: String, value: [UInt8]) throws {
        try withConnection { db in
            try db.run(
                """
                INSERT INTO plugin_state (plugin_id, instance, key, value, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (plugin_id, instance, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                """, [.text(plugin), .text(instance), .text(key), .blob(value), .int(Int64(clock.now.timeIntervalSince1970))])
        }
    }

    /// Returns false when there was nothing to delete.
    public func deletePluginState(plugin: String, instance: String, key: String) throws -> Bool {
        try withConnection { db in
            try db.run(
                "DELETE FROM plugin_state WHERE plugin_id = ? AND instance = ? AND key = ?",
                [.text(plugin), .text(instance), .text(key)]) > 0
        }
    }
}
