import Foundation
import Glibc
import Logging
import PluginABI
import PluginKit
import Synchronization

/// A plugin worker (`gateway plugin-worker`, this binary again) seen from the gateway: the
/// process, the socket to it, and its calls, made one at a time. While a call runs, the
/// worker's requests for host services are answered on the calling thread, for the
/// instance's own context. A worker that dies (a signal, an abort, a plugin's exit) fails
/// the call it was in with the signal and the call named; one that does not answer a
/// cancel within `cancelGrace` is killed.
final class WorkerProcess: @unchecked Sendable {
    // @unchecked Sendable: `pid` and `channel` are set in init; `outputWriter` is used under `callLock`; `busy` and `killed` are
    // Mutex/Atomic; calls are serialized by `callLock`.
    let pluginId: String
    private let pid: pid_t
    private let channel: WireChannel
    private let callLock = NSLock()
    /// The id of the call running, if any.
    private let busy = Mutex<UInt32?>(nil)
    /// Set by a cancel: every call from then on gets the kill timer at once.
    private let cancelRequested = Atomic<Bool>(false)
    /// The first death's error, which every later call rethrows (one crash counted once).
    private let dead = Mutex<PluginError?>(nil)
    private let killed = Atomic<Bool>(false)
    private let nextId = Atomic<UInt32>(1)
    private let health: WorkerHealth
    private let limits: WorkerLimits
    /// The locks the worker holds, released for it when it dies or ends holding them.
    private let heldLocks = HeldLocks()
    /// How the worker ended, as the thread that reaps it heard it.
    private let exit = WorkerExit()
    static let cancelGrace: TimeInterval = 2

    /// Starts a worker for the plugin file at `pluginPath` and waits until it has loaded it.
    init(
        executable: String, pluginPath: String, pluginId: String, http: GatewayConfig.Outbound, limits: WorkerLimits, health: WorkerHealth
    ) throws(PluginError) {
        self.pluginId = pluginId
        self.health = health
        self.limits = limits
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw PluginError(status: GW_INTERNAL, "cannot make a socket for the worker of '\(pluginId)': errno \(errno)")
        }
        let httpJSON = (try? JSONEncoder().encode(http)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        // A crash ends the worker at once: Swift's backtracer would first symbolicate the
        // stack for up to a minute, the call waiting all that time.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        channel = WireChannel(fd: fds[0])
        do {
            // The socket is the worker's fd 0; what the plugin prints goes to the gateway's stderr.
            pid = try spawnWorker(
                executable: executable,
                arguments: [
                    "plugin-worker", "--plugin", pluginPath, "--http", httpJSON, "--memory-mb", String(limits.memoryMB), "--cpu-seconds",
                    String(limits.cpuSeconds),
                ],
                environment: environment, stdinFD: fds[1])
        } catch {
            close(fds[1])  // fds[0] is the channel's, closed when it is freed
            throw PluginError(status: GW_INTERNAL, "cannot start the worker of '\(pluginId)' (\(executable)): \(error)")
        }
        close(fds[1])
        GatewayMetrics.workerStarted(plugin: pluginId)
        // The worker's end, whoever else holds its socket (a child the plugin started): the
        // gateway's read wakes then, not when the last holder closes it; the locks it held
        // are released once it can no longer use them.
        exit.watch(pid: pid) { [channel, heldLocks] in
            channel.close()
            // On a worker thread: releasing a lock may be a statement on the shared store.
            Workers.submit { heldLocks.releaseAll() }
        }
        // The worker's first frame: the plugin loaded, or why not. A load that hangs (a slow
        // `init`) is killed after `plugins.workerLoadSeconds`.
        busy.withLock { $0 = 0 }
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(limits.loadSeconds)) { [weak self] in
            guard let self, self.busy.withLock({ $0 }) == 0, !self.exit.hasEnded else { return }
            self.killed.store(true, ordering: .releasing)
            kill(self.pid, SIGKILL)
        }
        defer { busy.withLock { $0 = nil } }
        _ = try answer(to: 0, what: "load", context: nil)
    }

    deinit {
        try? channel.send(.close, id: nextId.wrappingAdd(1, ordering: .relaxed).oldValue)
        channel.close()
        // A worker that ignores the close is killed after the grace (a check, not a wait:
        // its reaper thread hears the end and releases the locks it held).
        let pid = self.pid, exit = self.exit
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.cancelGrace) {
            if !exit.hasEnded { kill(pid, SIGKILL) }
        }
    }

    /// Makes a call and returns its reply's payload.
    func call(_ kind: WireKind, _ payload: [UInt8] = [], what: String, context: InstanceContext) throws(PluginError) -> [UInt8] {
        callLock.lock()
        defer { callLock.unlock() }
        if let dead = dead.withLock({ $0 }) { throw dead }
        let id = nextId.wrappingAdd(1, ordering: .relaxed).oldValue
        busy.withLock { $0 = id }
        defer { busy.withLock { $0 = nil } }
        // A release (the plugin's `destroy`) gets the same grace as a cancelled call.
        if cancelRequested.load(ordering: .acquiring) || context.isCancelled || kind == .release { startKillTimer(for: id) }
        do {
            try channel.send(kind, id: id, payload)
        } catch {
            throw died(during: what)
        }
        return try answer(to: id, what: what, context: context)
    }

    /// A read went to its end, or a commit was made: the plugin works again (its crashes in
    /// a row start over).
    func succeeded() { health.succeeded(pluginId) }

    /// Where a format instance's bytes go (what an in-process format writes to); read while
    /// a call runs, set between calls, both under `callLock`.
    private var outputWriter: ((UnsafeRawBufferPointer) -> gw_status)?

    func output(to write: ((UnsafeRawBufferPointer) -> gw_status)?) {
        callLock.withLock { outputWriter = write }
    }

    /// Instances this worker has opened (a pooled one retires after `WorkerPool.maxInstances`).
    private let opened = Atomic<Int>(0)
    var instancesOpened: Int { opened.load(ordering: .relaxed) }
    func openingInstance() { opened.add(1, ordering: .relaxed) }

    /// The worker's resident memory in MB (from /proc), or nil when it cannot be read.
    var residentMegabytes: Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) >> 20
    }

    /// Whether the worker may serve another instance: alive, and never cancelled or killed
    /// (a cancel could still be on its way to it).
    var reusable: Bool {
        dead.withLock({ $0 }) == nil && !cancelRequested.load(ordering: .acquiring) && !killed.load(ordering: .acquiring) && !exit.hasEnded
    }

    /// Ends the worker's instance (its `destroy` runs in the worker; one that does not return
    /// within the grace gets the worker killed) and releases the locks it held, keeping the
    /// process and its loaded plugin. True when the worker is ready for another instance.
    func release(context: InstanceContext) -> Bool {
        do {
            _ = try call(.release, what: "destroy", context: context)
        } catch {
            return false
        }
        heldLocks.releaseAll()
        return reusable
    }

    /// Receives until the reply to `id`, serving the worker's requests meanwhile.
    private func answer(to id: UInt32, what: String, context: InstanceContext?) throws(PluginError) -> [UInt8] {
        while true {
            let frame: (kind: UInt8, id: UInt32, payload: [UInt8])?
            do {
                frame = try channel.receive()
            } catch {
                throw died(during: what)
            }
            guard let frame, let kind = WireKind(rawValue: frame.kind) else { throw died(during: what) }
            switch kind {
            case .ok where frame.id == id: return frame.payload
            case .failure where frame.id == id:
                var r = WireReader(frame.payload)
                let status = (try? r.u32()).map { gw_status(bitPattern: $0) } ?? GW_INTERNAL
                throw PluginError(status: status, (try? r.string()) ?? "\(pluginId): \(what) failed")
            default:
                guard let context else { throw died(during: what) }
                serve(kind, frame.id, frame.payload, for: context)
            }
        }
    }

    /// Asks the running call (and any later one) to stop; kills the worker when a call has
    /// not returned within the grace (a plugin deaf to cancel, or hung).
    func cancel() {
        cancelRequested.store(true, ordering: .releasing)
        try? channel.send(.cancel, id: 0)
        if let running = busy.withLock({ $0 }) { startKillTimer(for: running) }
    }

    private func startKillTimer(for call: UInt32) {
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.cancelGrace) { [weak self] in
            guard let self, self.busy.withLock({ $0 }) == call, !self.exit.hasEnded else { return }
            self.killed.store(true, ordering: .releasing)
            GatewayMetrics.workerKilled(plugin: self.pluginId)
            kill(self.pid, SIGKILL)
        }
    }

    /// Why the worker stopped answering, as the call's error (the same for every later call).
    private func died(during what: String) -> PluginError {
        if let known = dead.withLock({ $0 }) { return known }
        let error = diagnose(during: what)
        dead.withLock { $0 = error }
        return error
    }

    private func diagnose(during what: String) -> PluginError {
        channel.close()
        // A worker whose plugin closed the socket itself lives on: it is ended, not waited for.
        var ended = exit.wait(seconds: 1)
        if ended == nil {
            kill(pid, SIGKILL)
            ended = exit.wait(seconds: 30)
        }
        heldLocks.releaseAll()
        if killed.load(ordering: .acquiring) {
            return PluginError(
                status: GW_CANCELLED,
                "plugin '\(pluginId)' did not return from \(what) in time (\(what == "load" ? "a load longer than \(limits.loadSeconds) s (plugins.workerLoadSeconds)" : "\(Int(Self.cancelGrace)) s after its cancel")): its worker was killed"
            )
        }
        GatewayMetrics.workerCrashed(plugin: pluginId)
        let how: String
        switch ended {
        case (true, let signal)?: how = "crashed (signal \(signal), \(String(cString: strsignal(signal)))"
        case (false, let status)?: how = "exited (status \(status)"
        case nil: how = "stopped (its end was never reported"
        }
        var limit = ""
        if let (signalled, status) = ended, signalled {
            if status == SIGXCPU || (status == SIGKILL && limits.cpuSeconds > 0) {
                limit = limits.cpuSeconds > 0 ? ", at its CPU limit of \(limits.cpuSeconds) s (plugins.workerCpuSeconds)?" : ""
            } else if limits.memoryMB > 0 {
                limit = ", perhaps out of memory: its limit is \(limits.memoryMB) MB (plugins.workerMemoryMegabytes)"
            }
        }
        health.crashed(pluginId, "\(how)\(limit)) during \(what)")
        return PluginError(status: GW_INTERNAL, "plugin '\(pluginId)' \(how)\(limit)) during \(what); its worker process ended, the gateway did not")
    }

    // MARK: host services, for the worker

    private func serve(_ kind: WireKind, _ id: UInt32, _ payload: [UInt8], for context: InstanceContext) {
        var r = WireReader(payload)
        do {
            switch kind {
            case .log:
                let level = try r.string(), message = try r.string()
                switch Logger.Level(rawValue: level) ?? .info {
                case .trace, .debug: context.logger.debug("\(message)")
                case .info, .notice: context.logger.info("\(message)")
                case .warning: context.logger.warning("\(message)")
                case .error, .critical: context.logger.error("\(message)")
                }
                context.logged(level: Self.abiLevel(level), message)
            case .progress:
                let done = try r.i64(), total = try r.i64(), message = try r.string()
                context.report(InstanceContext.Progress(done: done, total: total, message: message.isEmpty ? nil : message))
            case .bytes:
                // A format's output, for the client: one that is gone stops the instance.
                let status = payload.withUnsafeBytes { outputWriter?($0) } ?? GW_INTERNAL
                if status != GW_OK { context.cancel() }
            case .rejectRow:
                // The plugin's word about a row: whoever counts refusals checks it was given.
                let row = try r.i64(), reason = try r.string()
                context.rejected(row: row, reason: reason)
            case .stateGet, .stateSet, .stateDelete:
                try channel.send(.ok, id: id, try state(kind, &r, context))
            case .lock, .unlock, .pace:
                if let answer = try coordinate(kind, &r, context) { try channel.send(.ok, id: id, answer) }
            default:
                try channel.send(.failure, id: id, Self.failure(GW_UNSUPPORTED, "unknown request \(kind)"))
            }
        } catch let e as PluginError {
            try? channel.send(.failure, id: id, Self.failure(e.status, e.message))
        } catch {
            try? channel.send(.failure, id: id, Self.failure(GW_IO, "\(error)"))
        }
    }

    /// The instance's own state or its plugin's shared state, nothing else: the plugin is
    /// the gateway's (never the worker's word), the instance one of these two.
    private func state(_ kind: WireKind, _ r: inout WireReader, _ context: InstanceContext) throws -> [UInt8] {
        let instance = try r.string(), key = try r.string()
        guard instance == context.instanceName || instance == sharedStateInstance else {
            throw PluginError(status: GW_INVALID_ARGUMENT, "state of another instance")
        }
        let store = context.services.store
        var w = WireWriter()
        switch kind {
        case .stateGet:
            if let value = try store.pluginState(plugin: context.pluginId, instance: instance, key: key) {
                w.u8(1)
                w.blob(value)
            } else {
                w.u8(0)
            }
        case .stateSet:
            try store.setPluginState(plugin: context.pluginId, instance: instance, key: key, value: Array(try r.blob()))
        default:
            w.u8(try store.deletePluginState(plugin: context.pluginId, instance: instance, key: key) ? 1 : 0)
        }
        return w.bytes
    }

    /// Locks and pace, decided by the gateway's coordination for the instance's plugin (the
    /// gateway's word, never the worker's): shared with every instance, in process or not.
    /// Nil for an unlock, which has no reply.
    private func coordinate(_ kind: WireKind, _ r: inout WireReader, _ context: InstanceContext) throws -> [UInt8]? {
        let coordination = context.services.coordination
        var w = WireWriter()
        switch kind {
        case .lock:
            let name = try r.string(), timeout = try r.f64()
            let result = coordination.lock(plugin: context.pluginId, name: name, timeout: min(max(0, timeout), 3_600)) { context.isCancelled }
            switch result {
            case .acquired:
                heldLocks.add(name, context: context)
                w.u8(0)
            case .timedOut: w.u8(1)
            case .cancelled: w.u8(2)
            case .failed(let reason):
                w.u8(3)
                w.string(reason)
            }
        case .unlock:
            let name = try r.string()
            guard heldLocks.remove(name) else { return nil }
            coordination.unlock(plugin: context.pluginId, name: name)
            return nil
        default:
            let bucket = try r.string(), perSecond = try r.i64(), perMinute = try r.i64()
            let result = coordination.pace(
                plugin: context.pluginId, bucket: bucket, perSecond: Int(clamping: perSecond), perMinute: Int(clamping: perMinute)
            ) { context.isCancelled }
            switch result {
            case .counted: w.u8(0)
            case .cancelled: w.u8(2)
            case .failed(let reason):
                w.u8(3)
                w.string(reason)
            }
        }
        return w.bytes
    }

    static func failure(_ status: gw_status, _ message: String) -> [UInt8] {
        var w = WireWriter()
        w.u32(UInt32(bitPattern: status))
        w.string(message)
        return w.bytes
    }

    private static func abiLevel(_ level: String) -> Int32 {
        switch Logger.Level(rawValue: level) ?? .info {
        case .trace, .debug: GW_LOG_DEBUG
        case .info, .notice: GW_LOG_INFO
        case .warning: GW_LOG_WARNING
        case .error, .critical: GW_LOG_ERROR
        }
    }
}

/// The locks a worker holds (through its host services), released for it once it is gone.
private final class HeldLocks: Sendable {
    private let held = Mutex<(context: InstanceContext?, names: Set<String>)>((nil, []))

    func add(_ name: String, context: InstanceContext) {
        held.withLock {
            $0.context = context
            $0.names.insert(name)
        }
    }

    /// False when the worker did not hold `name`.
    func remove(_ name: String) -> Bool { held.withLock { $0.names.remove(name) } != nil }

    func releaseAll() {
        let (context, names) = held.withLock { held in
            defer { held.names = [] }
            return (held.context, held.names)
        }
        guard let context else { return }
        for name in names { context.services.coordination.unlock(plugin: context.pluginId, name: name) }
    }
}
