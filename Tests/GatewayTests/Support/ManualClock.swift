import Foundation
import Synchronization
@testable import Host

/// A gateway clock the test moves. With `advancesOnWait`, every blocking wait moves the
/// clock by what it asked and returns at once (a retry loop with backoff runs in no real
/// time, and `waits` says what it waited); otherwise waits and sleeps last until the test
/// calls `advance(by:)`.
final class ManualClock: GatewayClock {
    private let state: Mutex<(now: Date, waits: [Double])>
    let advancesOnWait: Bool

    init(_ start: Date, advancesOnWait: Bool = false) {
        state = Mutex((start, []))
        self.advancesOnWait = advancesOnWait
    }

    var now: Date { state.withLock { $0.now } }
    /// Every blocking wait asked for, in seconds, in order.
    var waits: [Double] { state.withLock { $0.waits } }

    func advance(by seconds: Double) {
        state.withLock { $0.now = $0.now.addingTimeInterval(seconds) }
    }

    func wait(seconds: Double, unless stopped: () -> Bool) -> Bool {
        let deadline = state.withLock { s -> Date in
            s.waits.append(seconds)
            if advancesOnWait { s.now = s.now.addingTimeInterval(seconds) }
            return s.now.addingTimeInterval(advancesOnWait ? 0 : seconds)
        }
        while now < deadline {
            if stopped() { return false }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return !stopped()
    }

    func sleep(seconds: Double) async throws {
        let deadline = now.addingTimeInterval(seconds)
        while now < deadline { try await Task.sleep(for: .milliseconds(2)) }
    }
}
