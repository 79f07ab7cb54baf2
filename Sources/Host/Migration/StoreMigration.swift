import Foundation
import Logging

/// `gateway store migrate --to postgres://…`: a gateway's SQLite store (`StoreCopy`) and its
/// datasets' tables (`DatasetTablesCopy`) moved into one PostgreSQL database.
public enum StoreMigration {
    /// The store and, unless `config.store.datasets` keeps them in SQLite, the datasets'
    /// tables (`datasets.<table>` in the counts): the datasets first, dropped again if the
    /// store's copy fails, so that nothing is half-moved.
    public static func copyAll(config: GatewayConfig, dataDirectory: String) throws -> [(table: String, rows: Int)] {
        let directory = URL(fileURLWithPath: dataDirectory)
        let store = try SQLiteDatabase(path: directory.appendingPathComponent("gateway.sqlite").path)
        let target = try PostgresDatabase(try StoreLocation(config.store))
        let file = directory.appendingPathComponent("datasets.sqlite").path
        guard config.store.datasetsOnPostgres, FileManager.default.fileExists(atPath: file) else { return try StoreCopy.copy(from: store, to: target) }
        let tables = try PostgresDatasetTables(config: config, logger: Logger(label: "gateway.store"))
        let configured = try Dictionary(uniqueKeysWithValues: config.datasets.map { ($0.key, try Dataset(id: $0.key, definition: $0.value)) })
        let definitions = try DatasetCatalog.all(configured: configured, store: SQLStore(database: store))
        let datasets = try DatasetTablesCopy.copy(file: file, to: tables, datasets: definitions)
        do {
            return datasets.map { ("datasets.\($0.table)", $0.rows) } + (try StoreCopy.copy(from: store, to: target))
        } catch {
            for table in datasets { try? tables.drop(table.table) }
            throw error
        }
    }
}
