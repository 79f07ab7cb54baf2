import Foundation
import Hummingbird
import Synchronization

/// Bounds the heavy requests running at once (queries, pushes, uploads), in all and per
/// client: one client cannot take every worker, and a flood gets a clear 429 or 503 at
/// once instead of a hang. A permit is held until its last reference goes (the response's
/// producer and writer may each hold one), so it cannot leak on an error path.
public final class RequestLimiter: Sendable {
    public let maxTotal: Int
    public let maxPerClient: Int
    private let counts = Mutex<(total: Int, byClient: [String: Int])>((0, [:]))

    public init(maxTotal: Int, maxPerClient: Int) {
        self.maxTotal = maxTotal
        self.maxPerClient = maxPerClient
    }

    /// Held while the request runs; released when the last reference goes.
    public final class Permit: Sendable {
        let limiter: RequestLimiter
        let client: String
        init(_ limiter: RequestLimiter, _ client: String) {
            self.limiter = limiter
            self.client = client
        }
        deinit { limiter.release(client) }
    }

    /// A permit for `client` (e.g. "token:tok_1a2b", "visitor:alice", "address:10.0.0.7"),
    /// or 429 (this client has too many running) / 503 (the gateway has too many).
    public func acquire(client: String) throws -> Permit {
        try counts.withLock { c in
            let mine = c.byClient[client, default: 0]
            guard mine < maxPerClient else {
                GatewayMetrics.requestRefused(limit: "client")
                throw APIError(.tooManyRequests, "\(maxPerClient) requests of this client are already running (limits.maxConcurrentPerClient); retry when one has finished",
                               retryAfterSeconds: 1)
            }
            guard c.total < maxTotal else {
                GatewayMetrics.requestRefused(limit: "total")
                throw APIError(.serviceUnavailable, "the gateway is running \(maxTotal) requests (limits.maxConcurrentRequests); retry in a moment",
                               retryAfterSeconds: 1)
            }
            c.total += 1
            c.byClient[client] = mine + 1
        }
        return Permit(self, client)
    }

    private func release(_ client: String) {
        counts.withLock { c in
            c.total -= 1
            let left = c.byClient[client, default: 1] - 1
            c.byClient[client] = left > 0 ? left : nil
        }
    }

    /// Requests running now (for tests and metrics).
    public var running: Int { counts.withLock { $0.total } }
}
