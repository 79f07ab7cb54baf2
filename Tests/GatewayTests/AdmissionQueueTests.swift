import AsyncHTTPClient
import Foundation
import Synchronization
import Testing
@testable import Host

/// Requests beyond a client's share, or beyond the gateway's slots, wait their turn instead
/// of getting 429 at once (dashboards load 8 to 16 widgets with one token), in fair order
/// across clients, within bounds.
@Suite struct AdmissionQueueTests {
    /// The order in which waiting requests got their permits.
    final class Order: Sendable {
        let list = Mutex<[String]>([])
        func append(_ s: String) { list.withLock { $0.append(s) } }
        var all: [String] { list.withLock { $0 } }
    }

    /// Two clients waiting behind a full gateway are admitted in turn (round-robin), each
    /// in its own arrival order, however many of them the first client queued.
    @Test func waitersAreAdmittedInTurnAcrossClients() async throws {
        let limiter = RequestLimiter(maxTotal: 1, maxPerClient: 1)
        var held: RequestLimiter.Permit? = try await limiter.acquire(client: "a")
        let order = Order()
        var tasks: [Task<Void, Error>] = []
        for (i, client) in ["a", "a", "a", "b", "b"].enumerated() {
            tasks.append(
                Task {
                    let permit = try await limiter.acquire(client: client)
                    order.append("\(client)\(i)")
                    try await Task.sleep(for: .milliseconds(20))
                    withExtendedLifetime(permit) {}
                })
            while limiter.waiting < i + 1 { try await Task.sleep(for: .milliseconds(5)) }
        }
        held = nil
        for task in tasks { try await task.value }
        _ = held
        #expect(order.all == ["a0", "b3", "a1", "b4", "a2"])
        #expect(limiter.running == 0 && limiter.waiting == 0)
    }

    /// A waiting request whose client went away leaves the queue (its place is not kept).
    @Test func aCancelledWaiterLeavesTheQueue() async throws {
        let limiter = RequestLimiter(maxTotal: 1, maxPerClient: 1)
        let held = try await limiter.acquire(client: "a")
        let waiting = Task { try await limiter.acquire(client: "b") }
        while limiter.waiting == 0 { try await Task.sleep(for: .milliseconds(5)) }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(limiter.waiting == 0)
        withExtendedLifetime(held) {}
        #expect(limiter.running == 1)
    }

    /// Sixteen widgets of one dashboard, with one token, at once: every one answered (four
    /// run, twelve wait their turn), none refused.
    @Test func sixteenParallelDashboardQueriesAreAllAnswered() async throws {
        let (gateway, token) = try ResourceLimitTests.gateway()
        try await TestServer.with(gateway) { server in
            let sql = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 200000) SELECT count(*) AS n FROM r"
            let replies = try await withThrowingTaskGroup(of: TestServer.Reply.self) { group in
                for _ in 0..<16 { group.addTask { try await server.request(.GET, ResourceLimitTests.storeQuery(sql, token: token)) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.count == 16 && replies.allSatisfy { $0.status == 200 && $0.text == #"[{"n":200000}]"# }, "\(replies.map(\.status))")
        }
    }

    /// A hostile client with 64 connections of queries that never end runs its share (4) and
    /// no more: another client's query is admitted at once, and answered while the 64 still
    /// run or wait.
    @Test func aHostileClientDoesNotHoldBackAnother() async throws {
        let (gateway, token) = try ResourceLimitTests.gatewayWithSlowSource { $0.limits.queryTimeoutSeconds = 300 }
        let (_, other) = try gateway.tokens.create(name: "other", scopes: ["query"])
        // A client of its own: the shared one opens at most 8 connections to a host.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { _ = client.shutdown() }
        try await TestServer.with(gateway) { server in
            let url = server.base + ResourceLimitTests.slowQuery(token: token)
            let hostile = (0..<64).map { _ in Task { _ = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(300)) } }
            #expect(await ResourceLimitTests.eventually { gateway.limiter.running == 4 && gateway.limiter.waiting == 60 })
            for _ in 0..<5 {
                let reply = try await server.request(.GET, ResourceLimitTests.storeQuery("SELECT 1 AS one", token: other))
                #expect(reply.text == #"[{"one":1}]"#)
            }
            #expect(gateway.limiter.running == 4 && gateway.limiter.waiting == 60)
            for task in hostile { task.cancel() }
            #expect(await ResourceLimitTests.eventually { gateway.limiter.running == 0 && gateway.limiter.waiting == 0 })
        }
    }
}
