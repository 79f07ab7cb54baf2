import Foundation
import Synchronization

/// Threads of our own for work that blocks: SQLite statements, calls into plugin code, a
/// dataflow run, an export, a callback waiting between its attempts. Never Dispatch's global
/// queues, an `OperationQueue` or the cooperative pool: on Linux, Swift's tasks run on
/// Dispatch's global root-queue threads (as many as cores), and so does every
/// `OperationQueue` and `DispatchQueue.global()` block. Two long dataflow runs on an
/// `OperationQueue` took both of them and froze every route of the gateway until they ended.
///
/// At most `limit` jobs run at once, in the order submitted; the others wait. A thread that
/// finishes a job takes the next waiting one, else waits up to `idleSeconds` for one if
/// fewer than `keepIdle` threads wait already, else ends: an idle pool holds at most
/// `keepIdle` threads, for a while, and nothing needs shutting down.
///
/// A job that never returns (a plugin blocked in its own code, deaf to cancel) can be
/// `abandon`ed: its place goes to the next job at once, on another thread, and its own
/// thread ends if the job ever returns. Nothing can stop a thread from outside; this keeps
/// one stuck call from taking the pool's places for ever.
final class DedicatedThreads: @unchecked Sendable {
    // @unchecked Sendable: every `var` below is read and written with `condition` locked.
    let name: String
    let limit: Int
    let keepIdle: Int
    let idleSeconds: Double
    private let condition = NSCondition()
    /// Submitted jobs without a place yet, from `head` on.
    private var waiting: [Job] = []
    private var head = 0
    /// Jobs holding a place (running, or handed over); abandoned ones are not counted.
    private var placed = 0
    /// Threads waiting for a job, the latest to start waiting last: a job goes to the thread
    /// that ran one most recently (its stack and caches warm; the others time out and end),
    /// not to whichever a shared condition wakes. (`condition` is only a lock now.)
    private var idle: [IdleThread] = []

    /// A thread waiting for a job, woken by its own semaphore once handed one.
    /// @unchecked Sendable: `job` is written with the pool's `condition` locked, before the
    /// semaphore is signalled, and read after the wait returns or with `condition` locked.
    private final class IdleThread: @unchecked Sendable {
        var job: Job?
        let wake = DispatchSemaphore(value: 0)
    }

    /// One submitted job: waiting, then running, then over (returned, or abandoned).
    final class Job: Sendable {
        fileprivate static let waiting: UInt8 = 0, running: UInt8 = 1, over: UInt8 = 2
        /// Taken (and so let go) when the job starts: whoever keeps the job to abandon it
        /// later (a stop hook) does not keep what the work captured alive after it ran.
        private let work: Mutex<(@Sendable () -> Void)?>
        fileprivate let state = Atomic<UInt8>(Job.waiting)
        fileprivate init(_ work: @escaping @Sendable () -> Void) { self.work = Mutex(work) }

        /// Runs the work, unless the job was abandoned before it started (then it is
        /// skipped). False when it was abandoned while it ran: its place is given away.
        fileprivate func run() -> Bool {
            let work = self.work.withLock { w in
                defer { w = nil }
                return w
            }
            guard state.compareExchange(expected: Job.waiting, desired: Job.running, ordering: .acquiringAndReleasing).exchanged else {
                return true  // abandoned while it waited: never run, its place is kept
            }
            work?()
            return state.exchange(Job.over, ordering: .acquiringAndReleasing) == Job.running
        }
    }

    init(name: String, limit: Int, keepIdle: Int = 0, idleSeconds: Double = 60) {
        self.name = name
        self.limit = max(1, limit)
        self.keepIdle = keepIdle
        self.idleSeconds = idleSeconds
    }

    /// Jobs running now (abandoned ones not counted).
    var running: Int { condition.withLock { placed } }
    /// Jobs waiting for a place.
    var queued: Int { condition.withLock { waiting.count - head } }

    @discardableResult
    func submit(_ work: @escaping @Sendable () -> Void) -> Job {
        let job = Job(work)
        let start = condition.withLock { () -> Job? in
            waiting.append(job)
            return placeNext()
        }
        if let start { spawn(start) }
        return job
    }

    /// What `abandon` found the job doing.
    enum Abandoned {
        /// It ran: its thread is left to it, its place went to the next job.
        case running
        /// It had not started: it never will.
        case waiting
        /// It had returned (or was abandoned before): nothing changed.
        case over
    }

    /// Gives up on `job` (see the type's comment): a running job's place goes to the next
    /// waiting job; a job still waiting will be skipped when its turn comes. A job that has
    /// returned already, or was abandoned before, is left alone.
    @discardableResult
    func abandon(_ job: Job) -> Abandoned {
        switch job.state.exchange(Job.over, ordering: .acquiringAndReleasing) {
        case Job.waiting: return .waiting
        case Job.running: break
        default: return .over
        }
        let start = condition.withLock { () -> Job? in
            placed -= 1
            return placeNext()
        }
        if let start { spawn(start) }
        return .running
    }

    /// With `condition` locked: gives the next waiting job a place if there is one free,
    /// handing it to a waiting thread if one waits. Returns the job when a thread must be
    /// started for it.
    private func placeNext() -> Job? {
        guard placed < limit, let job = popWaiting() else { return nil }
        placed += 1
        guard let thread = idle.popLast() else { return job }
        thread.job = job
        thread.wake.signal()
        return nil
    }

    /// With `condition` locked: the first waiting job, taken out of the queue.
    private func popWaiting() -> Job? {
        guard head < waiting.count else { return nil }
        let job = waiting[head]
        head += 1
        if head > 64 && head * 2 > waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
        return job
    }

    private func spawn(_ first: Job) {
        let thread = Thread { [self] in run(first) }
        thread.name = name
        // Plugin code and SQLite's parser may recurse deeply: the size Linux gives a process's
        // main thread, not Foundation's smaller default.
        thread.stackSize = 8 << 20
        thread.start()
    }

    private func run(_ first: Job) {
        var job = first
        while true {
            // Abandoned while it ran: its place was given away already; this thread just ends.
            guard job.run() else { return }
            guard let next = nextJob() else { return }
            job = next
        }
    }

    /// After a job: the next one this thread runs (keeping its place, or waited for), or
    /// nil when the thread should end.
    private func nextJob() -> Job? {
        let me = IdleThread()
        let ready = condition.withLock { () -> Job?? in
            // The place passes to the next waiting job.
            if let job = popWaiting() { return .some(job) }
            placed -= 1
            guard idle.count < keepIdle else { return .some(nil) }
            idle.append(me)
            return .none
        }
        if let ready { return ready }
        if me.wake.wait(timeout: .now() + idleSeconds) == .success { return me.job }
        // Timed out; a job handed over at that very moment is still taken.
        return condition.withLock {
            idle.removeAll { $0 === me }
            return me.job
        }
    }
}
