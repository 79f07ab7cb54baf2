import Foundation
import Synchronization

/// The repositories (Repositories.swift) over a SQL database: SQLite for one gateway, or
/// PostgreSQL shared by several. The SQL is the same for both (see SQLSession.swift); the
/// tables' files are in `Tables/`, each database's connection and schema in its folder.
public final class SQLStore: GatewayStore, Sendable {
    public let database: any SQLDatabase
    /// The time rows are stamped with (created, updated, ended).
    public let clock: any GatewayClock
    /// This gateway's id in the store: the tasks and runs it starts are marked with it, and
    /// a restart fails only those (several gateways may share a PostgreSQL store).
    public let worker: String
    /// How long a claim on a task or run holds without being renewed (LeaseTables.swift).
    public let leaseSeconds: Int
    private let probing = Atomic<Bool>(false)

    public init(database: any SQLDatabase, clock: any GatewayClock = SystemClock(), worker: String = "", leaseSeconds: Int = 60) {
        self.database = database
        self.clock = clock
        self.worker = worker
        self.leaseSeconds = leaseSeconds
    }

    /// The store `config` names: PostgreSQL when `store.url` is set, else the SQLite file
    /// `gateway.sqlite` in the data folder.
    public static func open(
        _ config: GatewayConfig.Store, dataDirectory: String, clock: any GatewayClock = SystemClock(), worker: String = ""
    ) throws -> SQLStore {
        let database: any SQLDatabase =
            config.url.isEmpty ? try SQLiteDatabase(path: dataDirectory + "/gateway.sqlite") : try PostgresDatabase(try StoreLocation(config))
        return SQLStore(database: database, clock: clock, worker: worker, leaseSeconds: config.leaseSeconds)
    }

    /// Runs `body` on one of the database's connections (blocking this thread until one is free).
    @discardableResult
    func withConnection<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try database.withSession(body)
    }

    public func close() async { await database.close() }

    /// "sqlite" or "postgres", for `/healthz` and logs.
    public var unreachable: String? {
        guard let reason = database.unreachable else { return nil }
        probe()
        return reason
    }

    /// Tries the database once more, on a worker, one try at a time: a store marked
    /// unreachable is marked reachable again by its next use, and a gateway that a load
    /// balancer stopped sending requests to has no other use.
    private func probe() {
        guard probing.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        Workers.submit { [self] in
            _ = try? withConnection { try $0.query("SELECT 1", []) }
            probing.store(false, ordering: .releasing)
        }
    }
    public var sharedByGateways: Bool { database.dialect == .postgres }
    public var kind: String { database.dialect == .sqlite ? "sqlite" : "postgres" }
}
