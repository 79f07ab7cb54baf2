import Foundation
import Hummingbird
import PluginABI
import PluginKit
import Synchronization

/// How each plugin's workers have been ending. Three crashes in a row mark the plugin
/// `failing` (`/admin/plugins`, the console): its next worker starts only after a backoff
/// that doubles with each further crash (1 s, 2 s, … at most 60 s); until then opening it
/// is a 503 saying why and when. A call that returns normally clears the count.
public final class WorkerHealth: Sendable {
    private struct Record {
        var crashesInARow = 0
        var lastCrash = ""
        var retryAt: Date?
    }

    private let records = Mutex<[String: Record]>([:])
    static let crashesToFail = 3
    static let maxBackoffSeconds = 60.0

    public init() {}

    func crashed(_ plugin: String, _ reason: String) {
        records.withLock { all in
            var r = all[plugin, default: Record()]
            r.crashesInARow += 1
            r.lastCrash = reason
            if r.crashesInARow >= Self.crashesToFail {
                let backoff = min(Self.maxBackoffSeconds, pow(2, Double(r.crashesInARow - Self.crashesToFail)))
                r.retryAt = Date().addingTimeInterval(backoff)
            }
            all[plugin] = r
        }
    }

    func succeeded(_ plugin: String) {
        _ = records.withLock { $0.removeValue(forKey: plugin) }
    }

    /// Refuses to start a worker while the plugin's backoff runs (503, with Retry-After).
    public func checkStart(_ plugin: String) throws(BackingOff) {
        guard let r = records.withLock({ $0[plugin] }), let retryAt = r.retryAt else { return }
        let wait = retryAt.timeIntervalSinceNow
        guard wait > 0 else { return }
        throw BackingOff(
            seconds: Int(wait.rounded(.up)),
            message:
                "plugin '\(plugin)' is failing: its worker crashed \(r.crashesInARow) times in a row (last: \(r.lastCrash)); it is tried again in \(Int(wait.rounded(.up))) s"
        )
    }

    /// A plugin waiting out its backoff: the client may try again in `seconds`.
    public struct BackingOff: Error, Sendable {
        public let seconds: Int
        public let message: String
    }

    /// Why the plugin is failing; nil while it is not.
    public func failing(_ plugin: String) -> String? {
        guard let r = records.withLock({ $0[plugin] }), r.crashesInARow >= Self.crashesToFail else { return nil }
        return "its worker crashed \(r.crashesInARow) times in a row (last: \(r.lastCrash))"
    }
}

/// A plugin whose workers keep crashing, waiting out its backoff: the gateway's decision, 503.
extension WorkerHealth.BackingOff: StatusError {
    public var status: HTTPResponse.Status { .serviceUnavailable }
    public var retryAfterSeconds: Int? { seconds }
    public var description: String { message }
}
