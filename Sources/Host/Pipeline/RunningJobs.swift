import Synchronization

/// The jobs a service (exports, dataflows) is running in this process, with the handle
/// that stops each: what cancel reaches, what a restart check skips, and what shutdown
/// waits for and then stops.
final class RunningJobs<Key: Hashable & Sendable, Handle: Sendable>: Sendable {
    private let jobs = Mutex<[Key: Handle]>([:])
    /// False once the gateway is shutting down: no new job starts.
    private let open = Atomic<Bool>(true)

    var isAccepting: Bool { open.load(ordering: .relaxed) }
    func stopAccepting() { open.store(false, ordering: .relaxed) }

    var count: Int { jobs.withLock { $0.count } }
    subscript(_ key: Key) -> Handle? { jobs.withLock { $0[key] } }
    var all: [(key: Key, value: Handle)] { jobs.withLock { Array($0) } }

    func add(_ key: Key, _ handle: Handle) { jobs.withLock { $0[key] = handle } }
    func remove(_ key: Key) { _ = jobs.withLock { $0.removeValue(forKey: key) } }

    /// Returns once no job runs, or at `deadline`.
    func waitUntilIdle(until deadline: ContinuousClock.Instant) async {
        while ContinuousClock.now < deadline, count > 0 {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
