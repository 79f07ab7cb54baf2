import Foundation

/// Where the gateway reads the time and waits for it. One clock per gateway (`Gateway.clock`,
/// handed to the store and the services): production runs on `SystemClock`; tests give a
/// clock they move by hand, so that schedules, retention, retries with backoff and callback
/// retries are tested without waiting in real time.
///
/// Two things stay on real time on purpose: durations measured for metrics and logs, and
/// the rate-limit pacing of plugins (`PluginCoordination.pace`), which exists to space real
/// arrivals at another system.
public protocol GatewayClock: Sendable {
    /// The time now, as the gateway records and compares it.
    var now: Date { get }

    /// Blocks the calling thread for `seconds` of this clock, or until `stopped()` turns
    /// true (checked at least every 50 ms). For dedicated threads only (runs, tasks,
    /// callbacks), never the cooperative pool. Returns false when it was stopped.
    @discardableResult
    func wait(seconds: Double, unless stopped: () -> Bool) -> Bool

    /// Suspends the task for `seconds` of this clock (the maintenance ticks); throws when
    /// the task is cancelled.
    func sleep(seconds: Double) async throws
}

extension GatewayClock {
    @discardableResult
    public func wait(seconds: Double) -> Bool { wait(seconds: seconds, unless: { false }) }
}

/// The system's wall clock; waits are real.
public struct SystemClock: GatewayClock {
    public init() {}

    public var now: Date { Date() }

    public func wait(seconds: Double, unless stopped: () -> Bool) -> Bool {
        let until = ContinuousClock.now + .seconds(max(0, seconds))
        while case let left = until - ContinuousClock.now, left > .zero {
            if stopped() { return false }
            Thread.sleep(forTimeInterval: min(0.05, left.timeInterval))
        }
        return !stopped()
    }

    public func sleep(seconds: Double) async throws {
        try await Task.sleep(for: .seconds(max(0, seconds)))
    }
}
