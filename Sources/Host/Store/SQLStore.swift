import Foundation

/// The repositories (Repositories.swift) over a SQL database: SQLite for one gateway, or
/// PostgreSQL shared by several. The SQL is the same for both (see SQLSession.swift); the
/// tables' files are in `Tables/`, each database's connection and schema in its folder.
public final class SQLStore: GatewayStore, Sendable {
    public let database: any SQLDatabase
    /// The time rows are stamped with (created, updated, ended).
    public let clock: any GatewayClock

    public init(database: any SQLDatabase, clock: any GatewayClock = SystemClock()) {
        self.database = database
        self.clock = clock
    }

    /// The store `config` names: PostgreSQL when `store.url` is set, else the SQLite file
    /// `gateway.sqlite` in the data folder.
    public static func open(_ config: GatewayConfig.Store, dataDirectory: String, clock: any GatewayClock = SystemClock()) throws -> SQLStore {
        guard config.url.isEmpty else {
            return SQLStore(database: try PostgresDatabase(try StoreLocation(config)), clock: clock)
        }
        return SQLStore(database: try SQLiteDatabase(path: dataDirectory + "/gateway.sqlite"), clock: clock)
    }

    /// Runs `body` on one of the database's connections (blocking this thread until one is free).
    @discardableResult
    func withConnection<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try database.withSession(body)
    }

    public func close() async { await database.close() }
}
