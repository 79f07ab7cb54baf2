import Foundation
import Logging
import Synchronization

/// What the host services need besides the instance: shared by every instance of a host.
public struct HostServiceProvider: Sendable {
    public let store: any PluginStateRepository
    public let http: OutboundHTTP
    public let logger: Logger
    public let coordination: PluginCoordination

    public init(store: any PluginStateRepository, http: OutboundHTTP, logger: Logger, coordination: PluginCoordination = PluginCoordination()) {
        self.store = store
        self.http = http
        self.logger = logger
        self.coordination = coordination
    }

    /// The same services, logging through `logger`: a request's logger, so that what a
    /// plugin logs while serving it carries the request id the client sees.
    public func logging(to logger: Logger) -> HostServiceProvider {
        HostServiceProvider(store: store, http: http, logger: logger, coordination: coordination)
    }
}

/// The host side of a `gw_host_ctx`: who the instance is, and the cancellation and
/// progress of the work it is doing. Plugins see it only as an opaque pointer.
public final class InstanceContext: Sendable {
    public struct Progress: Sendable, Equatable {
        public var done: Int64
        public var total: Int64
        public var message: String?
    }

    public let pluginId: String
    /// Names the instance's persistent state (a datasource id, a task id, ...).
    public let instanceName: String
    let services: HostServiceProvider
    let logger: Logger

    private let cancelled = Atomic<Bool>(false)
    private let cancelHooks = Mutex<[UInt64: @Sendable () -> Void]>([:])
    private let nextHook = Atomic<UInt64>(0)
    private let progressState = Mutex<Progress?>(nil)
    private let progressObserver: (@Sendable (Progress) -> Void)?

    public init(
        pluginId: String, instanceName: String, services: HostServiceProvider,
        onProgress: (@Sendable (Progress) -> Void)? = nil
    ) {
        self.pluginId = pluginId
        self.instanceName = instanceName
        self.services = services
        var logger = services.logger
        logger[metadataKey: "plugin"] = "\(pluginId)"
        logger[metadataKey: "instance"] = "\(instanceName)"
        self.logger = logger
        progressObserver = onProgress
    }

    /// The pointer handed to the plugin. Valid while this object is alive, which the
    /// instance handle that owns it guarantees until close() and stream release.
    var opaque: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func from(_ pointer: OpaquePointer?) -> InstanceContext? {
        guard let pointer else { return nil }
        return Unmanaged<InstanceContext>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }

    // MARK: cancellation

    public var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    /// Asks the running work to stop: is_cancelled() turns 1 and pending HTTP requests are
    /// aborted. Safe from any thread, any number of times.
    public func cancel() {
        guard !cancelled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let hooks = cancelHooks.withLock { hooks in
            defer { hooks.removeAll() }
            return Array(hooks.values)
        }
        hooks.forEach { $0() }
    }

    /// Runs `hook` when this context is cancelled (at once if it already is).
    public func onCancel(_ hook: @escaping @Sendable () -> Void) {
        let id = nextHook.wrappingAdd(1, ordering: .relaxed).oldValue
        cancelHooks.withLock { $0[id] = hook }
        if isCancelled { hook() }
    }

    /// Runs `hook` on cancel while `body` runs (at once if already cancelled).
    func whileRunning<T>(onCancel hook: @escaping @Sendable () -> Void, _ body: () throws -> T) rethrows -> T {
        let id = nextHook.wrappingAdd(1, ordering: .relaxed).oldValue
        cancelHooks.withLock { $0[id] = hook }
        defer { _ = cancelHooks.withLock { $0.removeValue(forKey: id) } }
        if isCancelled { hook() }
        return try body()
    }

    // MARK: the plugin's log lines

    private let logObserver = Mutex<(@Sendable (Int32, String) -> Void)?>(nil)

    /// Also receives the plugin's log lines at INFO and above (a dataflow run keeps them in
    /// its own log, so a retry or a skipped row is seen where the run is watched).
    public func onLog(_ observer: @escaping @Sendable (Int32, String) -> Void) {
        logObserver.withLock { $0 = observer }
    }

    func logged(level: Int32, _ message: String) {
        logObserver.withLock { $0 }?(level, message)
    }

    // MARK: rows a sink's destination refused

    private let rejectionObserver = Mutex<(@Sendable (Int64, String) -> Void)?>(nil)

    /// Receives each row a sink instance reports refused (its position in the stream, the
    /// destination's reason).
    public func onRejectedRow(_ observer: @escaping @Sendable (Int64, String) -> Void) {
        rejectionObserver.withLock { $0 = observer }
    }

    func rejected(row: Int64, reason: String) {
        if let observer = rejectionObserver.withLock({ $0 }) {
            observer(row, reason)
        } else {
            logger.warning("row \(row) refused by the destination: \(reason)")
        }
    }

    // MARK: progress

    public var progress: Progress? { progressState.withLock { $0 } }

    func report(_ progress: Progress) {
        progressState.withLock { $0 = progress }
        progressObserver?(progress)
    }
}
