import Foundation

/// Where a PostgreSQL store is, read from `store.url` (libpq's URL form) and
/// `store.passwordFile`. Checked when the configuration loads: a typo in the URL is a
/// start-up error naming it, not a connection that fails later.
public struct StoreLocation: Sendable, Equatable {
    public enum TLS: String, Sendable { case disable, prefer, require }

    public var host: String
    public var port: Int
    /// A Unix socket (`?host=/var/run/postgresql`), instead of `host` and `port`.
    public var socketPath: String?
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLS
    public var maxConnections: Int
    public var connectTimeoutSeconds: Int

    public init(_ config: GatewayConfig.Store) throws {
        try self.init(url: config.url, of: config)
        if !config.passwordFile.isEmpty {
            guard let text = try? String(contentsOfFile: config.passwordFile, encoding: .utf8) else {
                throw InvalidInput("configuration: store.passwordFile: cannot read \(config.passwordFile)")
            }
            password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
    }

    /// `text` (libpq's URL form) with the store's pool settings.
    public init(url text: String, of config: GatewayConfig.Store, key: String = "store.url") throws {
        let shown = Self.redacted(text)
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            throw InvalidInput("configuration: \(key) must be postgres://user:password@host:port/database, not '\(shown)'")
        }
        let query = Dictionary((url.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        for name in query.keys where !["sslmode", "host"].contains(name) {
            throw InvalidInput("configuration: \(key): unknown parameter '\(name)' (known: sslmode, host)")
        }
        let port = url.port ?? 5432
        guard (1...65_535).contains(port) else { throw InvalidInput("configuration: \(key): port \(port) is out of range") }
        self.port = port
        host = url.host ?? ""
        socketPath = nil
        if let other = query["host"] {
            if other.hasPrefix("/") { socketPath = "\(other)/.s.PGSQL.\(port)" } else { host = other }
        }
        guard !host.isEmpty || socketPath != nil else { throw InvalidInput("configuration: \(key) names no host: '\(shown)'") }
        user = url.percentEncodedUser?.removingPercentEncoding ?? NSUserName()
        password = url.percentEncodedPassword?.removingPercentEncoding
        database = String(url.path.drop { $0 == "/" })
        if database.isEmpty { database = user }
        let mode = query["sslmode"] ?? "prefer"
        guard let tls = TLS(rawValue: mode) else {
            throw InvalidInput("configuration: \(key): sslmode must be disable, prefer or require, not '\(mode)'")
        }
        self.tls = tls
        maxConnections = config.maxConnections
        connectTimeoutSeconds = config.connectTimeoutSeconds
    }

    /// The URL with its password masked, for logs and `gateway config`.
    public static func redacted(_ url: String) -> String {
        guard var parts = URLComponents(string: url), parts.password != nil else { return url }
        parts.password = "********"
        return parts.string ?? "(unreadable store.url)"
    }

    /// "host:port/database" (or the socket), for messages.
    public var described: String { "\(socketPath ?? "\(host):\(port)")/\(database)" }
}
