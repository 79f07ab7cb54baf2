import Foundation
import Hummingbird
import Synchronization

/// Admission of the heavy requests (queries, pushes, uploads, dataflow routes): at most
/// `maxTotal` run at once, and at most `maxPerClient` of one client (a token, a signing
/// visitor, an address), so that one client can never take every worker.
///
/// Beyond those, a request **waits** instead of being refused: dashboards load 8 to 16
/// widgets at once with one service token, and the systems they are used to (Trino's resource
/// groups, Cube's query queue, pgbouncer) queue them. Waiting requests are admitted in fair
/// order: round-robin across the clients that wait, each in its own arrival order, and only
/// a client below its running share is admitted. So a client with 64 connections gets its
/// share of the slots and no more, and a second client's request takes the next free slot
/// whatever is queued before it.
///
/// Waiting is bounded: at most `maxQueuedPerClient` requests of one client (beyond: 429) and
/// `maxQueued` in all (beyond: 503) wait, each at most `maxWait` (then 503); every refusal
/// carries `Retry-After`. A waiting request whose client goes away leaves the queue.
///
/// A permit is held until its last reference goes (the response's producer and writer may
/// each hold one), so it cannot leak on an error path.
public final class RequestLimiter: Sendable {
    public let maxTotal: Int
    public let maxPerClient: Int
    public let maxQueuedPerClient: Int
    public let maxQueued: Int
    public let maxWait: Duration

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, Error>
        let deadline: ContinuousClock.Instant
    }

    private struct State {
        var total = 0
        var running: [String: Int] = [:]
        /// Per client, its waiting requests in arrival order.
        var queues: [String: [Waiter]] = [:]
        /// Clients with waiting requests, in round-robin order; `turn` is the next one asked.
        var waitingClients: [String] = []
        var turn = 0
        var queued = 0
        var nextId: UInt64 = 0
        /// Waiters told to wait whose continuation is not queued yet, and those of them
        /// cancelled in that moment (their task was cancelled first). Both only ever hold
        /// ids between `acquire`'s decision and `enqueue`.
        var notQueuedYet: Set<UInt64> = []
        var cancelledEarly: Set<UInt64> = []
        /// A sweep of waits that ran out is scheduled (one at a time, while anyone waits).
        var sweeping = false
    }

    private let state = Mutex(State())

    public init(maxTotal: Int, maxPerClient: Int, maxQueuedPerClient: Int = 256, maxQueued: Int = 4_096, maxWait: Duration = .seconds(30)) {
        self.maxTotal = maxTotal
        self.maxPerClient = maxPerClient
        self.maxQueuedPerClient = maxQueuedPerClient
        self.maxQueued = maxQueued
        self.maxWait = maxWait
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

    private enum Admission {
        case now
        case wait(UInt64)
        case refused(GatewayError, limit: String)
    }

    /// A permit for `client` (e.g. "token:tok_1a2b", "visitor:alice", "address:10.0.0.7"):
    /// at once when the client is below its share and a slot is free, else after waiting
    /// its turn. 429 when this client already has `maxQueuedPerClient` waiting, 503 when
    /// `maxQueued` wait in all or the wait passed `maxWait`.
    public func acquire(client: String) async throws -> Permit {
        let admission: Admission = state.withLock { s in
            let mine = s.running[client, default: 0]
            let waitingAhead = s.queues[client]?.count ?? 0
            // Nobody of this client waits ahead, and there is room: in at once. (Whoever else
            // waits with a slot free is at their own share: admitting is never left undone.)
            if mine < maxPerClient && s.total < maxTotal && waitingAhead == 0 {
                s.total += 1
                s.running[client] = mine + 1
                return .now
            }
            guard waitingAhead < maxQueuedPerClient else {
                return .refused(
                    GatewayError(
                        .tooManyRequests,
                        "\(maxPerClient) requests of this client are running and \(waitingAhead) are waiting (limits.maxConcurrentPerClient, limits.maxQueuedPerClient); retry when one has finished",
                        retryAfterSeconds: 1), limit: "client")
            }
            guard s.queued < maxQueued else {
                return .refused(
                    GatewayError(
                        .serviceUnavailable,
                        "the gateway runs \(maxTotal) requests and \(s.queued) are waiting (limits.maxConcurrentRequests, limits.maxQueued); retry in a moment",
                        retryAfterSeconds: 1), limit: "total")
            }
            s.nextId += 1
            s.notQueuedYet.insert(s.nextId)
            return .wait(s.nextId)
        }
        switch admission {
        case .now:
            return Permit(self, client)
        case .refused(let error, let limit):
            GatewayMetrics.requestRefused(limit: limit)
            throw error
        case .wait(let id):
            let started = ContinuousClock.now
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                    enqueue(Waiter(id: id, continuation: continuation, deadline: started + maxWait), client: client)
                }
            } onCancel: {
                self.remove(id, client: client, with: CancellationError())
            }
            GatewayMetrics.admissionWait(seconds: (ContinuousClock.now - started).timeInterval)
            return Permit(self, client)
        }
    }

    private func enqueue(_ waiter: Waiter, client: String) {
        let (cancelled, sweep) = state.withLock { s -> (Bool, Bool) in
            s.notQueuedYet.remove(waiter.id)
            if s.cancelledEarly.remove(waiter.id) != nil { return (true, false) }
            if s.queues[client] == nil { s.waitingClients.append(client) }
            s.queues[client, default: []].append(waiter)
            s.queued += 1
            defer { s.sweeping = true }
            return (false, !s.sweeping)
        }
        if cancelled {
            waiter.continuation.resume(throwing: CancellationError())
            return
        }
        // A slot may have freed between the first look and now.
        admitWaiting()
        if sweep { scheduleSweep() }
    }

    /// Every quarter of a second while anyone waits: the waits that ran out end with 503.
    /// One timer for every waiter (a timer each, at thousands of requests a second, would
    /// hold a closure per request for the whole wait).
    private func scheduleSweep() {
        // A short check, not blocking work: a Dispatch timer is fine for it.
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + 0.25) { [weak self] in
            self?.sweep()
        }
    }

    private func sweep() {
        let now = ContinuousClock.now
        let (expired, again) = state.withLock { s -> ([Waiter], Bool) in
            var expired: [Waiter] = []
            for client in s.waitingClients {
                guard var queue = s.queues[client], queue.contains(where: { $0.deadline <= now }) else { continue }
                expired += queue.filter { $0.deadline <= now }
                queue.removeAll { $0.deadline <= now }
                s.queues[client] = queue.isEmpty ? nil : queue
            }
            for client in s.waitingClients where s.queues[client] == nil { dropWaitingClient(client, &s) }
            s.queued -= expired.count
            s.sweeping = s.queued > 0
            return (expired, s.sweeping)
        }
        let seconds = maxWait.components.seconds
        for waiter in expired {
            GatewayMetrics.requestRefused(limit: "wait")
            waiter.continuation.resume(
                throwing: GatewayError(
                    .serviceUnavailable,
                    "waited \(seconds) s for one of the gateway's \(maxTotal) request slots (limits.queueTimeoutSeconds); retry in a moment",
                    retryAfterSeconds: 1))
        }
        if again { scheduleSweep() }
    }

    /// Takes a waiter out of the queue (its client left) and fails it; false when it was not
    /// queued (admitted already, or not queued yet).
    @discardableResult
    private func remove(_ id: UInt64, client: String, with error: Error) -> Bool {
        let found: Waiter? = state.withLock { s in
            guard var queue = s.queues[client], let index = queue.firstIndex(where: { $0.id == id }) else {
                // Cancelled before its continuation was queued: `enqueue` fails it. Admitted
                // (or timed out) already: nothing to do.
                if s.notQueuedYet.contains(id) { s.cancelledEarly.insert(id) }
                return nil
            }
            let waiter = queue.remove(at: index)
            s.queued -= 1
            if queue.isEmpty {
                s.queues[client] = nil
                dropWaitingClient(client, &s)
            } else {
                s.queues[client] = queue
            }
            return waiter
        }
        found?.continuation.resume(throwing: error)
        return found != nil
    }

    private func dropWaitingClient(_ client: String, _ s: inout State) {
        guard let index = s.waitingClients.firstIndex(of: client) else { return }
        s.waitingClients.remove(at: index)
        if index < s.turn { s.turn -= 1 }
        if s.turn >= s.waitingClients.count { s.turn = 0 }
    }

    /// Admits waiting requests while slots are free: round-robin across waiting clients,
    /// skipping those at their running share.
    private func admitWaiting() {
        while true {
            let admitted: Waiter? = state.withLock { s in
                guard s.total < maxTotal, !s.waitingClients.isEmpty else { return nil }
                for step in 0..<s.waitingClients.count {
                    let index = (s.turn + step) % s.waitingClients.count
                    let client = s.waitingClients[index]
                    guard s.running[client, default: 0] < maxPerClient, var queue = s.queues[client], !queue.isEmpty else { continue }
                    let waiter = queue.removeFirst()
                    s.queued -= 1
                    s.total += 1
                    s.running[client, default: 0] += 1
                    if queue.isEmpty {
                        s.queues[client] = nil
                        s.waitingClients.remove(at: index)
                        s.turn = s.waitingClients.isEmpty ? 0 : index % s.waitingClients.count
                    } else {
                        s.queues[client] = queue
                        s.turn = (index + 1) % s.waitingClients.count
                    }
                    return waiter
                }
                return nil
            }
            guard let admitted else { return }
            admitted.continuation.resume()
        }
    }

    private func release(_ client: String) {
        let anyoneWaits = state.withLock { s -> Bool in
            s.total -= 1
            let left = s.running[client, default: 1] - 1
            s.running[client] = left > 0 ? left : nil
            return s.queued > 0
        }
        if anyoneWaits { admitWaiting() }
    }

    /// Requests running now (for tests and metrics).
    public var running: Int { state.withLock { $0.total } }
    /// Requests waiting for a slot now.
    public var waiting: Int { state.withLock { $0.queued } }
}
