import Foundation
import Synchronization

/// Threads of our own for jobs that block for long: a dataflow run, an export, a callback
/// waiting between its attempts. Never Dispatch's global queues, an `OperationQueue` or the
/// cooperative pool: on Linux, Swift's tasks run on Dispatch's global root-queue threads (as
/// many as cores), and so does every `OperationQueue` and `DispatchQueue.global()` block.
/// Two long dataflow runs on an `OperationQueue` took both of them and froze every route of
/// the gateway until the runs ended.
///
/// At most `limit` jobs run at once, in the order submitted; the others wait in the queue.
/// A job runs on a thread started for it, which then takes the next waiting job or ends:
/// an idle service holds no thread, and nothing needs shutting down.
final class DedicatedThreads: Sendable {
    let name: String
    let limit: Int

    private struct State {
        var running = 0
        var waiting: [Job] = []
        var head = 0
        var waitingCount: Int { waiting.count - head }

        mutating func popWaiting() -> Job? {
            guard head < waiting.count else { return nil }
            let job = waiting[head]
            head += 1
            if head > 64 && head * 2 > waiting.count {
                waiting.removeFirst(head)
                head = 0
            }
            return job
        }
    }

    /// One submitted job. `abandon()` gives its place back while it still runs (a plugin
    /// call that never returns): the next waiting job starts on a new thread, and the
    /// abandoned job's thread ends when (if ever) the job returns.
    final class Job: Sendable {
        fileprivate let work: @Sendable () -> Void
        fileprivate let abandoned = Atomic<Bool>(false)
        fileprivate init(_ work: @escaping @Sendable () -> Void) { self.work = work }
    }

    private let state = Mutex(State())

    init(name: String, limit: Int) {
        self.name = name
        self.limit = max(1, limit)
    }

    /// Jobs running now (abandoned ones not counted).
    var running: Int { state.withLock { $0.running } }
    /// Jobs waiting for a thread.
    var waiting: Int { state.withLock { $0.waitingCount } }

    @discardableResult
    func submit(_ work: @escaping @Sendable () -> Void) -> Job {
        let job = Job(work)
        let start = state.withLock { s -> Bool in
            guard s.running < limit else {
                s.waiting.append(job)
                return false
            }
            s.running += 1
            return true
        }
        if start { spawn(job) }
        return job
    }

    /// Gives `job`'s place to the next waiting job (see `Job`). Once per job; a job that has
    /// already returned is left alone.
    func abandon(_ job: Job) {
        guard !job.abandoned.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if let next = finishedOne() { spawn(next) }
    }

    private func spawn(_ first: Job) {
        let thread = Thread { [self] in
            var job = first
            while true {
                job.work()
                // An abandoned job gave its place back already: this thread just ends.
                guard !job.abandoned.exchange(true, ordering: .acquiringAndReleasing), let next = finishedOne() else { return }
                job = next
            }
        }
        thread.name = name
        thread.start()
    }

    /// One running job ended (or was abandoned): the next waiting one, which keeps the
    /// place, or nil (the place is free).
    private func finishedOne() -> Job? {
        state.withLock { s in
            if let next = s.popWaiting() { return next }
            s.running -= 1
            return nil
        }
    }
}
