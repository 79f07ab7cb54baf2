/// Where blocking work runs: SQLite statements over many rows and every call into plugin
/// code. Never on an event loop, never on Swift's cooperative pool (as many threads as
/// cores: two blocked calls would stall every request), never on Dispatch's global queues
/// (the same threads, on Linux).
public enum Workers {
    /// Sized for work that mostly waits (plugin HTTP calls, SQLite locks), not for CPU.
    static let threads = 32
    /// Threads are kept while busy, and for a minute after: a burst of small requests reuses
    /// them instead of starting one per request.
    static let pool = DedicatedThreads(name: "gateway.worker", limit: threads, keepIdle: threads, idleSeconds: 60)

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            pool.submit { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Starts `body` on a worker and returns at once; the job can be abandoned (see
    /// DedicatedThreads) when it does not return after being told to stop.
    @discardableResult
    static func submit(_ body: @escaping @Sendable () -> Void) -> DedicatedThreads.Job {
        pool.submit(body)
    }
}
