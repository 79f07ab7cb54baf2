import Foundation
import Synchronization

/// Idle workers, by plugin, kept for the plugin's next instances: a new instance reuses one
/// instead of starting a process and loading the plugin again. A kept worker has its plugin
/// loaded and nothing of its last instance (destroyed in it before it was kept), and was never
/// cancelled or killed. Each plugin keeps at most `keptPerPlugin` idle workers, each for
/// `idleSeconds`; a worker serves at most `maxInstances` instances, so what a plugin leaks
/// stays bounded.
final class WorkerPool: Sendable {
    static let idleSeconds = 60.0
    static let maxInstances = 100
    let keptPerPlugin: Int
    /// A worker using more than this is not kept (MB; 0: no limit): half its memory limit,
    /// so that what a plugin leaks never fails a later instance's call.
    let maxResidentMegabytes: Int
    private let idle = Mutex<[String: [(worker: WorkerProcess, since: Date)]]>([:])
    /// Set at the gateway's shutdown: no worker is kept from then on.
    private let closed = Atomic<Bool>(false)

    init(keptPerPlugin: Int, memoryLimitMegabytes: Int = 0) {
        self.keptPerPlugin = keptPerPlugin
        maxResidentMegabytes = memoryLimitMegabytes / 2
    }

    /// Lets every idle worker go (they end), and keeps none from now on.
    func closeAll() {
        closed.store(true, ordering: .releasing)
        let dropped = idle.withLock { all in
            defer { all.removeAll() }
            return all.values.flatMap { $0.map(\.worker) }
        }
        _ = dropped  // freed here, outside the lock: each one's deinit closes it
    }

    /// The key of a plugin's workers: the same id loaded from another file is another plugin.
    static func key(_ plugin: LoadedPlugin) -> String { "\(plugin.id)\n\(plugin.loadedFrom)" }

    /// An idle worker of the plugin, if one is kept and still alive.
    func take(_ plugin: LoadedPlugin) -> WorkerProcess? {
        let key = Self.key(plugin)
        // Dead ones are freed after the lock is let go (their deinit writes to them).
        var dropped: [WorkerProcess] = []
        return idle.withLock { all in
            while let last = all[key]?.popLast() {
                if last.worker.reusable { return last.worker }
                dropped.append(last.worker)
            }
            return nil
        }
    }

    /// An instance ended: a worker that may serve another is released (the plugin's
    /// `destroy` runs in it, on a worker thread: it may take its time) and kept; any other is
    /// let go (and closed once nothing holds it).
    func instanceEnded(_ worker: WorkerProcess, context: InstanceContext, plugin: LoadedPlugin) {
        guard keptPerPlugin > 0, !closed.load(ordering: .acquiring), worker.reusable, !context.isCancelled else { return }
        Workers.submit { [self] in
            if worker.release(context: context) { keep(worker, for: plugin) }
        }
    }

    /// Keeps a released worker, unless the plugin keeps enough already or it served its share.
    private func keep(_ worker: WorkerProcess, for plugin: LoadedPlugin) {
        guard worker.instancesOpened < Self.maxInstances, !closed.load(ordering: .acquiring) else { return }
        if maxResidentMegabytes > 0, (worker.residentMegabytes ?? Int.max) > maxResidentMegabytes { return }
        let key = Self.key(plugin)
        let kept = idle.withLock { all -> Bool in
            guard all[key, default: []].count < keptPerPlugin else { return false }
            all[key, default: []].append((worker, Date()))
            return true
        }
        guard kept else { return }
        // A check, not blocking work: a Dispatch timer is fine for it.
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + Self.idleSeconds + 0.5) { [weak self] in
            self?.dropExpired()
        }
    }

    /// Idle workers kept now, for one plugin.
    func idleCount(_ plugin: LoadedPlugin) -> Int { idle.withLock { $0[Self.key(plugin)]?.count ?? 0 } }

    private func dropExpired() {
        let cutoff = Date().addingTimeInterval(-Self.idleSeconds)
        var dropped: [WorkerProcess] = []
        idle.withLock { all in
            for (key, workers) in all {
                dropped += workers.filter { $0.since <= cutoff }.map(\.worker)
                all[key] = workers.filter { $0.since > cutoff }
            }
        }
    }
}

/// An instance's way to its worker for a cancel, cut when the instance ends: a late cancel of
/// an ended instance never reaches a worker kept for another.
final class WorkerLink: Sendable {
    private let worker: Mutex<WorkerProcess?>

    init(_ worker: WorkerProcess) { self.worker = Mutex(worker) }

    func cancel() { worker.withLock { $0 }?.cancel() }

    func cut() { worker.withLock { $0 = nil } }
}
