import Foundation
import Synchronization

/// The one machinery export tasks and dataflow runs are run with: a bounded set of threads
/// of their own (never the threads that serve HTTP, see DedicatedThreads), the jobs of this
/// process by key with the one token that stops each (`RunControl`: cancel, time budget,
/// shutdown), work deaf to its stop abandoned after a grace, and shutdown (no new job;
/// running ones get until a deadline, then are ended and stopped).
///
/// What a job is and how it ends in the store stays with its service: the service hands
/// `submit` the work, and `drain` and `StuckWork` call back the service's ending.
final class JobRunner<Key: Hashable & Sendable, Handle: Sendable>: Sendable {
    private struct Entry: Sendable {
        let handle: Handle
        let control: RunControl
    }

    /// What the metric of abandoned threads calls these jobs ("export", "dataflow").
    let kind: String
    let maxRunning: Int
    private let threads: DedicatedThreads
    private let jobs = Mutex<[Key: Entry]>([:])
    /// False once the gateway is shutting down: no new job starts.
    private let open = Atomic<Bool>(true)

    init(kind: String, threadName: String, maxRunning: Int) {
        self.kind = kind
        self.maxRunning = maxRunning
        threads = DedicatedThreads(name: threadName, limit: maxRunning)
    }

    var isAccepting: Bool { open.load(ordering: .relaxed) }
    /// Jobs of this process, running or waiting for a thread.
    var count: Int { jobs.withLock { $0.count } }
    /// Jobs waiting for a thread.
    var waiting: Int { max(0, count - maxRunning) }
    subscript(_ key: Key) -> Handle? { jobs.withLock { $0[key]?.handle } }
    var all: [(key: Key, handle: Handle)] { jobs.withLock { $0.map { ($0.key, $0.value.handle) } } }

    /// Runs `work` on a thread of its own when one is free. Stopped through `control` and
    /// not back after `StuckWork.grace` (a plugin deaf to cancel), the job is abandoned:
    /// it leaves the set, its thread's place goes to the next job, and `abandoned` ends it.
    func submit(
        _ key: Key, _ handle: Handle, control: RunControl, work: @escaping @Sendable () -> Void,
        abandoned: @escaping @Sendable () -> Void
    ) {
        attach(key, handle, control: control)
        let job = threads.submit { [self] in
            defer { detach(key) }
            work()
        }
        StuckWork.watch(control, job: job, on: threads, kind: kind) { [self] in
            detach(key)
            abandoned()
        }
    }

    /// A job that runs on another job's thread (a dataflow's child step): in the set, so
    /// that cancel and shutdown reach it, until `detach`.
    func attach(_ key: Key, _ handle: Handle, control: RunControl) {
        jobs.withLock { $0[key] = Entry(handle: handle, control: control) }
    }

    func detach(_ key: Key) {
        _ = jobs.withLock { $0.removeValue(forKey: key) }
    }

    /// Stops the job (it ends at its next check, with this reason); false when it is not
    /// running in this process.
    @discardableResult
    func stop(_ key: Key, _ reason: RunControl.Reason) -> Bool {
        guard let control = jobs.withLock({ $0[key]?.control }) else { return false }
        control.stop(reason)
        return true
    }

    /// The keys of the jobs stopped through `control` (a run and its child steps share one).
    func keys(stoppedBy control: RunControl) -> [Key] {
        jobs.withLock { $0.filter { $0.value.control === control }.map(\.key) }
    }

    /// No new job starts from now on.
    func beginShutdown() {
        open.store(false, ordering: .relaxed)
    }

    /// Lets running jobs finish until `deadline`; each still running then is ended by
    /// `interrupted` first (so that its own thread, woken by the stop, cannot record
    /// another end before it), then stopped; then waits a few seconds for them to unwind.
    func drain(until deadline: ContinuousClock.Instant, interrupted: @Sendable (Key, Handle) async -> Void) async {
        beginShutdown()
        await waitUntilIdle(until: deadline)
        for (key, entry) in jobs.withLock({ Array($0) }) {
            await interrupted(key, entry.handle)
            entry.control.stop(.shutdown)
        }
        await waitUntilIdle(until: .now + .seconds(5))
    }

    /// Returns once no job runs, or at `deadline`.
    private func waitUntilIdle(until deadline: ContinuousClock.Instant) async {
        while ContinuousClock.now < deadline, count > 0 {
            // Cancelled (a second signal, SIGQUIT): stop waiting rather than spin.
            do { try await Task.sleep(for: .milliseconds(50)) } catch { return }
        }
    }
}
