import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// Connections lent to one thread at a time, opened on demand up to a maximum, closed
/// after half a minute unused (a second gateway or a restart needs its share of the
/// server's connections). A thread waits for a free one at most the connect timeout.
///
/// @unchecked Sendable: `guarded` is only touched with `condition` locked (`locked`).
final class BlockingConnectionPool: @unchecked Sendable {
    private struct State {
        var idle: [(connection: PostgresConnection, since: Date)] = []
        var open = 0
        var closed = false
        var nextId = 0
        /// Why the last connection could not be made, until one is.
        var unreachable: String?
    }

    private let condition = NSCondition()
    private var guarded = State()
    private let configuration: PostgresConnection.Configuration
    private let location: StoreLocation
    private let logger: Logger
    private static let idleSeconds: TimeInterval = 30

    init(_ location: StoreLocation, logger: Logger) throws {
        self.location = location
        self.logger = logger
        if let socket = location.socketPath {
            configuration = .init(unixSocketPath: socket, username: location.user, password: location.password, database: location.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch location.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            var configuration = PostgresConnection.Configuration(
                host: location.host, port: location.port, username: location.user, password: location.password,
                database: location.database, tls: tls)
            configuration.options.connectTimeout = .seconds(Int64(location.connectTimeoutSeconds))
            self.configuration = configuration
        }
    }

    /// A store dropped without `close()` (a one-shot command, a test) closes its connections too.
    deinit { close() }

    private func locked<T>(_ body: (inout State) throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body(&guarded)
    }

    var unreachable: String? { locked { $0.unreachable } }

    func take() throws -> PostgresConnection {
        let deadline = Date().addingTimeInterval(TimeInterval(location.connectTimeoutSeconds))
        enum Next { case reuse(PostgresConnection), connect(Int) }
        var stale: [PostgresConnection] = []
        defer { stale.forEach(Self.shut) }
        let next: Next = try locked { s in
            while true {
                guard !s.closed else { throw StoreUnavailable("the store is closed (the gateway is stopping)") }
                let now = Date()
                while let first = s.idle.first, now.timeIntervalSince(first.since) > Self.idleSeconds || first.connection.isClosed {
                    stale.append(s.idle.removeFirst().connection)
                    s.open -= 1
                    GatewayMetrics.storeConnections(open: s.open)
                }
                // The most recently used first; one the server closed (it restarted) goes.
                while let last = s.idle.popLast() {
                    guard last.connection.isClosed else { return .reuse(last.connection) }
                    stale.append(last.connection)
                    s.open -= 1
                    GatewayMetrics.storeConnections(open: s.open)
                }
                if s.open < location.maxConnections {
                    s.open += 1
                    GatewayMetrics.storeConnections(open: s.open)
                    s.nextId += 1
                    return .connect(s.nextId)
                }
                guard condition.wait(until: deadline) else {
                    throw StoreUnavailable(
                        "the store (PostgreSQL at \(location.described)) had no free connection within \(location.connectTimeoutSeconds) s (store.maxConnections is \(location.maxConnections))"
                    )
                }
            }
        }
        switch next {
        case .reuse(let connection): return connection
        case .connect(let id):
            do {
                let connection = try PostgresConnection.connect(
                    on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: id, logger: logger
                ).wait()
                locked { $0.unreachable = nil }
                return connection
            } catch {
                let failure = StoreUnavailable("the store (PostgreSQL at \(location.described)) is unreachable: \(PostgresSession.message(error))")
                locked {
                    $0.open -= 1
                    $0.unreachable = failure.message
                    GatewayMetrics.storeConnections(open: $0.open)
                }
                GatewayMetrics.storeConnectFailed()
                condition.signal()
                throw failure
            }
        }
    }

    /// A connection for the length of `body`, as a session; one whose connection failed
    /// (not the server refusing a statement) is closed instead of kept.
    func withSession<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        let connection = try take()
        var healthy = true
        defer { giveBack(connection, healthy: healthy) }
        do {
            return try body(PostgresSession(connection: connection, logger: logger))
        } catch let error as PostgresStoreError where error.sqlState == nil {
            healthy = false
            throw error
        }
    }

    func giveBack(_ connection: PostgresConnection, healthy: Bool) {
        let keep = locked { s -> Bool in
            guard healthy, !s.closed, !connection.isClosed else {
                s.open -= 1
                GatewayMetrics.storeConnections(open: s.open)
                return false
            }
            s.idle.append((connection, Date()))
            // A session ended well: the server answers, whatever a connect found before.
            s.unreachable = nil
            return true
        }
        if !keep { Self.shut(connection) }
        condition.signal()
    }

    func close() {
        let idle = locked { s -> [PostgresConnection] in
            s.closed = true
            defer { s.idle = [] }
            return s.idle.map(\.connection)
        }
        idle.forEach(Self.shut)
        condition.broadcast()
    }

    /// Closes without waiting (the future API: never a task). The connection must outlive
    /// its close (postgres-nio asserts so), hence the reference held until it completes.
    private static func shut(_ connection: PostgresConnection) {
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }
}
