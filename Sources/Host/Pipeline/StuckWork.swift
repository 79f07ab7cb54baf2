import Foundation
import Synchronization

/// Work that was told to stop and does not: a plugin blocked in its own code that ignores
/// cancel. Nothing can stop a thread from outside; what the host can do is stop waiting for
/// it. Once a run is stopped (its deadline passed, its client left, a cancel, a shutdown),
/// its work gets `grace` to notice; if it is still running then, `giveUp` runs: the caller
/// answers its client or ends its run, gives the thread's place to the next job, and lets
/// go of what the work held (its request slot). The abandoned thread is counted in
/// `/metrics` (`gateway_abandoned_threads_total`), and ends if the call ever returns.
enum StuckWork {
    /// How long stopped work may take to notice.
    static let grace: Duration = .seconds(2)

    /// Once `control` stops: if `done` is not set `grace` later, runs `giveUp` (once).
    static func watch(_ control: RunControl, done: Flag, kind: String, giveUp: @escaping @Sendable () -> Void) {
        watch(whenStopped: control.onStop, done: done, kind: kind, giveUp: giveUp)
    }

    /// The same for work stopped through `whenStopped` (a plugin context's cancel).
    static func watch(whenStopped: (@escaping @Sendable () -> Void) -> Void, done: Flag, kind: String, giveUp: @escaping @Sendable () -> Void) {
        whenStopped {
            // A short check, not blocking work: a Dispatch timer is fine for it.
            DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + grace.timeInterval) {
                guard !done.isSet else { return }
                GatewayMetrics.abandonedThread(kind: kind)
                giveUp()
            }
        }
    }
}

/// What a piece of work holds for its request (its slot, its connection watch) until it
/// returns, or until it is given up on, whichever comes first.
final class HeldForWork: Sendable {
    private let held: Mutex<[any Sendable]>

    init(_ things: any Sendable...) { held = Mutex(things) }

    func release() { held.withLock { $0.removeAll() } }
}

/// A flag set once and read from any thread (whether watched work has returned, whether a
/// response has started).
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
