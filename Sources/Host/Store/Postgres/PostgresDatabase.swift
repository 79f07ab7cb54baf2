import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// The shared store of several gateways: a PostgreSQL database, reached with postgres-nio.
///
/// Why not `PostgresClient`'s pool here: the repositories are synchronous, and are called
/// from worker threads, from threads a plugin owns (`state_get` through the C ABI) and, for
/// short calls, from tasks. `PostgresClient` makes its connections from a task on Swift's
/// cooperative pool (two threads on two cores): two store calls blocking those threads
/// while they wait for a connection would wait forever. So the store keeps a small pool of
/// its own whose connections are made and driven by futures on NIO's event loops, which a
/// waiting thread never needs; a statement costs one round trip, as with libpq.
public final class PostgresDatabase: SQLDatabase {
    public var dialect: SQLDialect { .postgres }
    public let location: StoreLocation
    private let connections: BlockingConnectionPool
    private let logger: Logger

    /// Connects (waiting up to `connectTimeoutSeconds` for the server) and migrates the
    /// schema under an advisory lock, so gateways starting together migrate once.
    public init(_ location: StoreLocation, logger: Logger = Logger(label: "gateway.store")) throws {
        self.location = location
        self.logger = logger
        connections = try BlockingConnectionPool(location, logger: logger)
        try withPostgresSession { try PostgresMigrations.apply(to: $0) }
    }

    public func withSession<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try withPostgresSession(body)
    }

    func withPostgresSession<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        try connections.withSession(body)
    }

    public func close() async { connections.close() }
    public var unreachable: String? { connections.unreachable }
}

/// The store cannot be reached now: 503, the client may retry.
public struct StoreUnavailable: StatusError, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
    public var status: HTTPResponse.Status { .serviceUnavailable }
    public var retryAfterSeconds: Int? { 5 }
    public var description: String { message }
}
