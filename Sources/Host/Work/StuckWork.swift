import Foundation
import Synchronization

/// Work that was told to stop and does not: a plugin blocked in its own code that ignores
/// cancel. Nothing can stop a thread from outside; what the host can do is stop waiting for
/// it. Once a run is stopped (its deadline passed, its client left, a cancel, a shutdown),
/// its job gets `grace` to return; if it has not, the job is abandoned on its pool (its place
/// goes to the next job; a job that had not started yet never will) and `giveUp` runs: the
/// caller answers its client or ends its run and lets go of what the work held (its request
/// slot). An abandoned thread is counted in `/metrics` (`gateway_abandoned_threads_total`),
/// and ends if the call ever returns.
enum StuckWork {
    /// How long stopped work may take to notice.
    static let grace: Duration = .seconds(2)

    /// Once `control` stops: if `job` has not returned `grace` later, gives up on it.
    static func watch(
        _ control: RunControl, job: DedicatedThreads.Job, on pool: DedicatedThreads, kind: String,
        giveUp: @escaping @Sendable () -> Void
    ) {
        watch(whenStopped: control.onStop, job: job, on: pool, kind: kind, giveUp: giveUp)
    }

    /// The same for work stopped through `whenStopped` (a plugin context's cancel).
    static func watch(
        whenStopped: (@escaping @Sendable () -> Void) -> Void, job: DedicatedThreads.Job, on pool: DedicatedThreads,
        kind: String, giveUp: @escaping @Sendable () -> Void
    ) {
        whenStopped {
            // A short check, not blocking work: a Dispatch timer is fine for it.
            DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + grace.timeInterval) {
                switch pool.abandon(job) {
                case .over: return
                case .running: GatewayMetrics.abandonedThread(kind: kind)
                case .waiting: break
                }
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

/// A flag set once and read from any thread (whether a response has started).
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
