import Foundation
import Synchronization

/// What instances of one plugin share inside a host (ABI 1.1): named locks and rate-limit
/// pacing. Keys are scoped by plugin id, so plugins never see each other's.
public final class PluginCoordination: Sendable {
    private let locks = LockTable()
    private let windows = Mutex<[String: [Double]]>([:])

    public init() {}

    /// Takes the lock `name` of `plugin`, waiting at most `timeout` seconds; gives up when
    /// `cancelled` turns true.
    func lock(plugin: String, name: String, timeout: Double, cancelled: () -> Bool) -> LockResult {
        locks.acquire("\(plugin)\u{0}\(name)", timeout: timeout, cancelled: cancelled)
    }

    func unlock(plugin: String, name: String) {
        locks.release("\(plugin)\u{0}\(name)")
    }

    enum LockResult { case acquired, timedOut, cancelled }

    /// Waits until one more call fits `perSecond` / `perMinute` for the bucket, then counts it.
    /// Returns false when cancelled first. Windows are measured with a small margin: the
    /// remote side counts arrivals, which network jitter can bring closer together.
    static let margin = 0.1

    /// The times (seconds since 1970) of the calls counted for a bucket in the last minute.
    func recentCalls(plugin: String, bucket: String) -> [Double] {
        windows.withLock { $0["\(plugin)\u{0}\(bucket)", default: []] }
    }

    func pace(plugin: String, bucket: String, perSecond: Int, perMinute: Int, cancelled: () -> Bool) -> Bool {
        let key = "\(plugin)\u{0}\(bucket)"
        let started = Date()
        var waited = false
        defer { if waited { GatewayMetrics.rateLimitWait(plugin: plugin, seconds: Date().timeIntervalSince(started)) } }
        while true {
            if cancelled() { return false }
            let now = Date().timeIntervalSince1970
            let wait: Double = windows.withLock { all in
                var calls = all[key, default: []].filter { $0 > now - 60 - Self.margin }
                var earliest = now
                if perSecond > 0 {
                    let lastSecond = calls.filter { $0 > now - 1 - Self.margin }
                    if lastSecond.count >= perSecond { earliest = max(earliest, lastSecond[lastSecond.count - perSecond] + 1 + Self.margin) }
                }
                if perMinute > 0, calls.count >= perMinute {
                    earliest = max(earliest, calls[calls.count - perMinute] + 60 + Self.margin)
                }
                if earliest <= now {
                    calls.append(now)
                    all[key] = calls
                    return 0
                }
                all[key] = calls
                return earliest - now
            }
            if wait == 0 { return true }
            waited = true
            Thread.sleep(forTimeInterval: min(wait, 0.05))
        }
    }
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
}
