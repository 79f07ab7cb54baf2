import Foundation
import Synchronization

/// What instances of one plugin share (ABI 1.1): named locks and rate-limit pacing. Keys
/// are scoped by plugin id, so plugins never see each other's. Within one gateway, in memory;
/// when several gateways share a PostgreSQL store (`shared`), across all of them too: a lock
/// is then the gateway's in memory and a row in the store, and a bucket's calls are counted in
/// the store, so a remote API's limits hold for the cluster, not per gateway.
public final class PluginCoordination: Sendable {
    private let locks = LockTable()
    private let windows = Mutex<[String: [Double]]>([:])
    private let shared: (any CoordinationRepository)?
    /// In a plugin worker: the gateway's coordination, asked over the worker's socket, so that
    /// a worker's instances share locks and pace with every other instance of the plugin.
    private let remote: (any CoordinationForwarding)?
    /// How long a store lock holds unrenewed: a gateway that stops holding one frees it then.
    static let lockLeaseSeconds = 60.0

    public init(shared: (any CoordinationRepository)? = nil) {
        self.shared = shared
        remote = nil
    }

    init(remote: any CoordinationForwarding) {
        shared = nil
        self.remote = remote
    }

    /// A plugin's name for a lock or bucket, unambiguous (the plugin id's length first) and
    /// free of NUL, which PostgreSQL's text refuses.
    static func key(_ plugin: String, _ name: String) -> String { "\(plugin.utf8.count):\(plugin)/\(name)" }

    enum LockResult: Equatable { case acquired, timedOut, cancelled, failed(String) }

    /// Takes the lock `name` of `plugin`, waiting at most `timeout` seconds; gives up when
    /// `cancelled` turns true.
    func lock(plugin: String, name: String, timeout: Double, cancelled: () -> Bool) -> LockResult {
        if let remote { return remote.lock(name: name, timeout: timeout) }
        let key = Self.key(plugin, name)
        let deadline = Date().addingTimeInterval(timeout)
        let local = locks.acquire(key, timeout: timeout, cancelled: cancelled)
        guard local == .acquired, let shared else { return local }
        while true {
            do {
                if try shared.takeLock(key, until: Date().addingTimeInterval(Self.lockLeaseSeconds)) { return .acquired }
            } catch {
                locks.release(key)
                return .failed("the store could not take the lock: \(failureMessage(error))")
            }
            let late: LockResult? = cancelled() ? .cancelled : Date() >= deadline ? .timedOut : nil
            if let late {
                locks.release(key)
                return late
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    func unlock(plugin: String, name: String) {
        if let remote { return remote.unlock(name: name) }
        let key = Self.key(plugin, name)
        try? shared?.releaseLock(key)
        locks.release(key)
    }

    /// Extends the store locks this gateway holds (its upkeep, every few seconds).
    func renewHeldLocks() throws {
        guard let shared, locks.holdsAny else { return }
        try shared.renewLocks(until: Date().addingTimeInterval(Self.lockLeaseSeconds))
    }

    /// Waits until one more call fits `perSecond` / `perMinute` for the bucket, then counts it.
    /// Windows are measured with a small margin: the remote side counts arrivals, which
    /// network jitter can bring closer together.
    static let margin = 0.1

    /// The times (seconds since 1970) of the calls counted for a bucket in the last minute
    /// (every gateway's, on a shared store).
    func recentCalls(plugin: String, bucket: String) throws -> [Double] {
        guard let shared else { return windows.withLock { $0[Self.key(plugin, bucket), default: []] } }
        return try shared.paceCalls(bucket: Self.key(plugin, bucket), since: Date().timeIntervalSince1970 - 60 - Self.margin)
    }

    enum PaceResult: Equatable { case counted, cancelled, failed(String) }

    func pace(plugin: String, bucket: String, perSecond: Int, perMinute: Int, cancelled: () -> Bool) -> PaceResult {
        if let remote { return remote.pace(bucket: bucket, perSecond: perSecond, perMinute: perMinute) }
        let key = Self.key(plugin, bucket)
        let started = Date()
        var waited = false
        defer { if waited { GatewayMetrics.rateLimitWait(plugin: plugin, seconds: Date().timeIntervalSince(started)) } }
        while true {
            if cancelled() { return .cancelled }
            let now = Date().timeIntervalSince1970
            let since = now - 60 - Self.margin
            let decide = { (calls: [Double]) in Self.wait(calls: calls, now: now, perSecond: perSecond, perMinute: perMinute) }
            let wait: Double
            if let shared {
                do {
                    wait = try shared.paceWindow(bucket: key, since: since, now: now, decide: decide)
                } catch {
                    return .failed("the store could not count the call: \(failureMessage(error))")
                }
            } else {
                wait = windows.withLock { all in
                    var calls = all[key, default: []].filter { $0 > since }
                    let wait = decide(calls)
                    if wait <= 0 { calls.append(now) }
                    all[key] = calls
                    return wait
                }
            }
            if wait <= 0 { return .counted }
            waited = true
            Thread.sleep(forTimeInterval: min(wait, 0.05))
        }
    }

    /// How long a call at `now` waits for `calls` (the bucket's calls of the last minute, oldest
    /// first) to leave room under the limits: 0 when it fits now.
    static func wait(calls: [Double], now: Double, perSecond: Int, perMinute: Int) -> Double {
        let calls = calls.filter { $0 > now - 60 - margin }
        var earliest = now
        if perSecond > 0 {
            let lastSecond = calls.filter { $0 > now - 1 - margin }
            if lastSecond.count >= perSecond { earliest = max(earliest, lastSecond[lastSecond.count - perSecond] + 1 + margin) }
        }
        if perMinute > 0, calls.count >= perMinute {
            earliest = max(earliest, calls[calls.count - perMinute] + 60 + margin)
        }
        return earliest - now
    }
}

/// Where a plugin worker's locks and pace are decided: the gateway that runs it.
protocol CoordinationForwarding: Sendable {
    func lock(name: String, timeout: Double) -> PluginCoordination.LockResult
    func unlock(name: String)
    func pace(bucket: String, perSecond: Int, perMinute: Int) -> PluginCoordination.PaceResult
}

/// Named locks with timeouts, held across calls (not scoped to a closure).
private final class LockTable: Sendable {
    private let held = Mutex<Set<String>>([])

    func acquire(_ key: String, timeout: Double, cancelled: () -> Bool) -> PluginCoordination.LockResult {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if held.withLock({ $0.insert(key).inserted }) { return .acquired }
            if cancelled() { return .cancelled }
            if Date() >= deadline { return .timedOut }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }

    func release(_ key: String) {
        _ = held.withLock { $0.remove(key) }
    }

    var holdsAny: Bool { held.withLock { !$0.isEmpty } }
}
