import Foundation
import PluginABI

extension HostServices {
    /// Sends a request through `send`, and again after a transport failure, a 5xx or a 429,
    /// up to `retries` more times: after a 429 or 5xx its Retry-After (at most 60 s) or else a
    /// doubling pause from `backoffMs`. The pause is slept in small steps so that a cancel
    /// (or `stopped`) is noticed at once. Returns the first reply that is neither 429 nor
    /// 5xx; the caller judges it. `what` names the request in logs and errors ("page 3").
    public func sendRetrying(
        _ what: String, retries: Int, backoffMs: Int, stopped: () -> Bool = { false },
        _ send: () throws -> HTTPResponse
    ) throws -> HTTPResponse {
        var attempt = 0
        while true {
            try checkCancelled()
            if stopped() { throw PluginError.cancelled }
            attempt += 1
            let pause: Double
            do {
                let reply = try send()
                guard reply.status == 429 || reply.status >= 500 else { return reply }
                guard attempt <= retries else {
                    let status = reply.status == 429 ? GW_RATE_LIMITED : GW_UNAVAILABLE
                    throw RetriesExhausted(error: PluginError(status: status, "\(what): HTTP \(reply.status) after \(attempt) attempts"))
                }
                pause =
                    reply.header("retry-after").flatMap(Double.init).flatMap { $0.isFinite && $0 >= 0 ? min($0, 60) : nil }
                    ?? Self.backoff(attempt, backoffMs)
                log(.warning, "\(what): HTTP \(reply.status), retrying in \(pause) s")
            } catch let e as PluginError where e.status == GW_UNAVAILABLE {
                guard attempt <= retries else { throw PluginError.unavailable("\(what): \(e.message) after \(attempt) attempts") }
                pause = Self.backoff(attempt, backoffMs)
                log(.warning, "\(what): \(e.message), retrying in \(pause) s")
            } catch let e as RetriesExhausted {
                throw e.error
            }
            let until = Date().addingTimeInterval(pause)
            while Date() < until {
                try checkCancelled()
                if stopped() { throw PluginError.cancelled }
                Thread.sleep(forTimeInterval: min(0.05, max(0, until.timeIntervalSinceNow)))
            }
        }
    }

    /// Doubling from `backoffMs`, and never more than a minute between two attempts (as a
    /// Retry-After is capped): a large configured backoff must not park a read for days.
    private static func backoff(_ attempt: Int, _ backoffMs: Int) -> Double {
        min(60, Double(backoffMs) * Double(1 << min(attempt - 1, 10)) / 1000)
    }

    /// Carries the final failure past the transport-failure catch above.
    private struct RetriesExhausted: Error { let error: PluginError }
}
