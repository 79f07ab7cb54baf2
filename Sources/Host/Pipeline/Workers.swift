import NIOPosix

/// Where blocking work runs: SQLite statements over many rows and every call into plugin
/// code. Never on an event loop, never on Swift's cooperative pool (as many threads as
/// cores: two blocked calls would stall every request).
public enum Workers {
    /// Sized for work that mostly waits (plugin HTTP calls, SQLite locks), not for CPU.
    static let threads = 32
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        return pool
    }()

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }
}
