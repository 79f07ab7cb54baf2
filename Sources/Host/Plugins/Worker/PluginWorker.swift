import Foundation
import Glibc
import Logging
import PluginABI
import PluginKit
import Synchronization

/// The worker process's side (`gateway plugin-worker`): it loads one plugin's `.so` behind
/// the same C ABI as the gateway does, opens one source instance, and serves the gateway's
/// calls on the socket at fd 0. What the plugin asks of the host goes back over the same
/// socket: its log lines, progress, state and shared state (kept by the gateway, in its
/// store). HTTP requests are made here, under the gateway's allow-list; locks and `pace`
/// hold among this worker's own calls only (see docs/administration.md).
///
/// One thread reads the socket: the gateway's cancel takes effect at once, and the replies
/// to the plugin's state requests reach the thread that waits for them; the gateway's calls
/// run one at a time on the main thread, as the ABI asks of one instance.
public enum PluginWorker {
    public static func run(pluginPath: String, http: GatewayConfig.Outbound, limits: WorkerLimits) -> Int32 {
        // The limits hold before the plugin's first instruction runs.
        if limits.memoryMB > 0 {
            var limit = rlimit(rlim_cur: rlim_t(limits.memoryMB) << 20, rlim_max: rlim_t(limits.memoryMB) << 20)
            setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
        }
        if limits.cpuSeconds > 0 {
            // SIGXCPU at the limit, SIGKILL a second later if it is ignored.
            var limit = rlimit(rlim_cur: rlim_t(limits.cpuSeconds), rlim_max: rlim_t(limits.cpuSeconds + 1))
            setrlimit(__rlimit_resource_t(RLIMIT_CPU.rawValue), &limit)
        }
        // A write to a closed pipe or socket fails with EPIPE instead of killing the worker,
        // as in the gateway's own process.
        signal(SIGPIPE, SIG_IGN)
        // Nothing of the gateway's reaches the plugin: no inherited descriptor but the socket
        // (fd 0) and the output streams.
        closefrom(3)
        // The socket moves off fd 0 and closes on exec: a child the plugin starts (system,
        // popen) neither inherits it nor keeps the gateway from seeing this worker end.
        let socket = fcntl(0, F_DUPFD_CLOEXEC, 3)
        guard socket >= 0 else { return 1 }
        let devNull = open("/dev/null", O_RDONLY)
        if devNull >= 0 {
            dup2(devNull, 0)
            close(devNull)
        }
        let channel = WireChannel(fd: socket)
        let worker = Worker(channel: channel, http: http)
        switch PluginLoader.load(path: pluginPath) {
        case .failure(let refusal):
            try? channel.send(.failure, id: 0, Worker.failure(GW_INTERNAL, refusal.reason))
            return 1
        case .success(let plugin):
            worker.plugin = plugin
            try? channel.send(.ok, id: 0)
        }
        return worker.serve()
    }
}

/// @unchecked Sendable: `plugin`, `source`, `stream`, `sink`, `consumer` and `batches` are used by the main
/// thread only; what the reader thread touches is behind `waiters` (a Mutex) or the context's
/// own locks.
private final class Worker: @unchecked Sendable {
    let channel: WireChannel
    let http: GatewayConfig.Outbound
    var plugin: LoadedPlugin?
    var source: SourceHandle?
    var stream: SourceStream?
    var sink: SinkHandle?
    /// A format or exporter instance.
    var consumer: ConsumerHandle?
    /// A sink's or consumer's batches are built here from what the gateway sends, for the
    /// schema it began.
    var batches: BatchBuilder?
    /// The reply to the next `next`, read as soon as the last one was sent when the gateway
    /// reads the stream to its end (it said so in its `next`): the plugin reads while the
    /// gateway takes the last batch in. One batch at most; dropped with the stream.
    private var readAhead: Result<[UInt8], Error>?
    private let context = Mutex<InstanceContext?>(nil)
    /// The gateway's calls, handed from the reader thread to the main one.
    private let calls = CallQueue()
    /// Replies the plugin's host-service requests wait for, by id.
    let waiters = Mutex<[UInt32: Reply]>([:])
    private let nextId = Atomic<UInt32>(1)
    private let cancelledEarly = Atomic<Bool>(false)

    init(channel: WireChannel, http: GatewayConfig.Outbound) {
        self.channel = channel
        self.http = http
    }

    static func failure(_ status: gw_status, _ message: String) -> [UInt8] {
        var w = WireWriter()
        w.u32(UInt32(bitPattern: status))
        w.string(message)
        return w.bytes
    }

    func serve() -> Int32 {
        let reader = Thread { [self] in readLoop() }
        reader.start()
        while let (kind, id, payload) = calls.take() {
            let reply: (WireKind, [UInt8])
            do {
                reply = (.ok, try handle(kind, payload))
            } catch let e as PluginError {
                reply = (.failure, Self.failure(e.status, e.message))
            } catch {
                reply = (.failure, Self.failure(GW_INTERNAL, "\(error)"))
            }
            if kind == .close {
                readAhead = nil
                stream = nil
                source = nil
                batches = nil
                sink = nil
                consumer = nil
                try? channel.send(.ok, id: id)
                return 0
            }
            do {
                try channel.send(reply.0, id: id, reply.1)
            } catch let tooLarge as FrameTooLarge {
                try? channel.send(.failure, id: id, Self.failure(GW_INTERNAL, tooLarge.description))
            } catch {
                return 1
            }
            // A batch went and the gateway wants them all: the next is read now.
            if kind == .next, payload.first == 1, reply.0 == .ok, reply.1.first == 1 {
                readAhead = Result { try nextBatch() }
            }
        }
        return 0
    }

    private func readLoop() {
        var closing = false
        while true {
            // The socket ends. After the gateway's `close`, that is the worker's orderly end;
            // otherwise the gateway died, or the socket failed under the worker (a plugin
            // closed or reused its descriptor): a failure, as when the main thread cannot
            // send. _exit: no atexit handler runs under the plugin's feet on the main thread.
            guard let frame = try? channel.receive(), let kind = WireKind(rawValue: frame.kind) else { _exit(closing ? 0 : 1) }
            if kind == .close { closing = true }
            switch kind {
            case .cancel:
                // Before open made the context, the cancel waits for it.
                let current = context.withLock { ctx -> InstanceContext? in
                    if ctx == nil { cancelledEarly.store(true, ordering: .releasing) }
                    return ctx
                }
                current?.cancel()
            case .ok, .failure:
                let waiter = waiters.withLock { $0.removeValue(forKey: frame.id) }
                waiter?.set(kind == .ok, frame.payload)
            default:
                calls.put((kind, frame.id, frame.payload))
            }
        }
    }

    private func handle(_ kind: WireKind, _ payload: [UInt8]) throws -> [UInt8] {
        var r = WireReader(payload)
        switch kind {
        case .open:
            guard let plugin else { throw PluginError(status: GW_INTERNAL, "no plugin loaded") }
            let config = try r.string(), instance = try r.string()
            source = try SourceHandle(plugin: plugin, config: config, context: makeContext(plugin, instance))
            return []
        case .openSink:
            guard let plugin else { throw PluginError(status: GW_INTERNAL, "no plugin loaded") }
            let config = try r.string(), instance = try r.string()
            let made = makeContext(plugin, instance)
            made.onRejectedRow { [channel] row, reason in
                var w = WireWriter()
                w.i64(row)
                w.string(reason)
                try? channel.send(.rejectRow, id: 0, w.bytes)
            }
            sink = try SinkHandle(plugin: plugin, config: config, context: made)
            return []
        case .openFormat:
            guard let plugin else { throw PluginError(status: GW_INTERNAL, "no plugin loaded") }
            let config = try r.string(), instance = try r.string()
            // What the format writes goes to the gateway as it comes (in pieces a frame holds).
            let made = makeContext(plugin, instance)
            consumer = try FormatHandle(plugin: plugin, config: config, context: made) { [channel] bytes in
                // The client gone (the gateway cancelled the instance): the format hears it
                // from its write, as in process.
                if made.isCancelled { return GW_CANCELLED }
                var at = 0
                while at < bytes.count {
                    let piece = min(bytes.count - at, 1 << 24)
                    guard (try? channel.send(.bytes, id: 0, Array(bytes[at..<(at + piece)]))) != nil else { return GW_IO }
                    at += piece
                }
                return GW_OK
            }
            return []
        case .openExporter:
            guard let plugin else { throw PluginError(status: GW_INTERNAL, "no plugin loaded") }
            let config = try r.string(), instance = try r.string(), directory = try r.string(), baseName = try r.string()
            consumer = try ExporterHandle(
                plugin: plugin, config: config, context: makeContext(plugin, instance), outputDirectory: directory, baseName: baseName)
            return []
        case .begin:
            let fields = try WorkerBatches.decodeFields(payload)
            let schema = OwnedSchema(fields: fields)
            if let sink {
                try sink.begin(schema)
            } else if let consumer {
                try consumer.begin(schema)
            } else {
                throw PluginError(status: GW_INTERNAL, "begin before open")
            }
            batches = BatchBuilder(fields: fields)
            return []
        case .write:
            guard let batches else { throw PluginError(status: GW_INTERNAL, "write before begin") }
            let batch = try WorkerBatches.decode(payload, into: batches)
            if let sink { try sink.write(batch) } else { try consumer?.write(batch) }
            return []
        case .commit:
            guard let sink else { throw PluginError(status: GW_INTERNAL, "commit before open") }
            try sink.commit()
            return []
        case .abort:
            sink?.abort()
            return []
        case .end:
            guard let consumer else { throw PluginError(status: GW_INTERNAL, "finish before open") }
            try consumer.finish()
            return []
        case .writeError:
            let written = (consumer as? FormatHandle)?.writeError(try r.string()) ?? false
            return [written ? 1 : 0]
        case .read:
            guard let source else { throw PluginError(status: GW_INTERNAL, "read before open") }
            let opened = try source.read(requestJSON: try r.string())
            readAhead = nil
            stream = opened
            return WorkerBatches.encode(fields: opened.fields)
        case .next:
            if let ahead = readAhead {
                readAhead = nil
                return try ahead.get()
            }
            return try nextBatch()
        case .finish:
            readAhead = nil
            try source?.finish()
            return []
        case .release:
            // The instance ends (its `destroy` runs now); the plugin stays loaded for the next.
            readAhead = nil
            stream = nil
            source = nil
            batches = nil
            sink = nil
            consumer = nil
            context.withLock { $0 = nil }
            return []
        default:
            return []
        }
    }

    /// The stream's next batch as a reply to `next`: 1 and the batch, or 0 at its end.
    private func nextBatch() throws -> [UInt8] {
        guard let stream else { throw PluginError(status: GW_INTERNAL, "next before read") }
        guard let batch = try stream.next() else { return [0] }
        return WorkerBatches.encode(batch.view, flag: 1)
    }

    /// An instance's context: its host services are the gateway's, asked over the socket.
    private func makeContext(_ plugin: LoadedPlugin, _ instance: String) -> InstanceContext {
        let services = HostServiceProvider(
            store: RemoteState(worker: self), http: OutboundHTTP(config: http), logger: Logger(label: "plugin") { _ in RemoteLog(worker: self) },
            coordination: PluginCoordination(remote: RemoteCoordination(worker: self)))
        let made = InstanceContext(pluginId: plugin.id, instanceName: instance, services: services) { [channel] progress in
            var w = WireWriter()
            w.i64(progress.done)
            w.i64(progress.total)
            w.string(progress.message ?? "")
            try? channel.send(.progress, id: 0, w.bytes)
        }
        context.withLock { $0 = made }
        if cancelledEarly.load(ordering: .acquiring) { made.cancel() }
        return made
    }

    /// Sends a host-service request and waits for its reply.
    func request(_ kind: WireKind, _ payload: [UInt8]) throws -> (ok: Bool, payload: [UInt8]) {
        let id = nextId.wrappingAdd(1, ordering: .relaxed).oldValue | 0x8000_0000
        let reply = Reply()
        waiters.withLock { $0[id] = reply }
        try channel.send(kind, id: id, payload)
        return reply.wait()
    }
}

/// One reply, waited for by the thread that asked.
private final class Reply: @unchecked Sendable {
    // @unchecked Sendable: `value` is written once before `ready` is signalled, read after.
    private var value: (Bool, [UInt8]) = (false, [])
    private let ready = DispatchSemaphore(value: 0)

    func set(_ ok: Bool, _ payload: [UInt8]) {
        value = (ok, payload)
        ready.signal()
    }

    func wait() -> (ok: Bool, payload: [UInt8]) {
        ready.wait()
        return value
    }
}

/// The gateway's calls, from the reader thread to the main thread.
private final class CallQueue: @unchecked Sendable {
    // @unchecked Sendable: `items` is only touched with `condition` locked.
    private let condition = NSCondition()
    private var items: [(WireKind, UInt32, [UInt8])] = []

    func put(_ item: (WireKind, UInt32, [UInt8])) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    func take() -> (WireKind, UInt32, [UInt8])? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty { condition.wait() }
        return items.removeFirst()
    }
}

/// The plugin's state, kept by the gateway: each call a request over the socket.
private struct RemoteState: PluginStateRepository {
    let worker: Worker
    var clock: any GatewayClock { SystemClock() }

    private func call(_ kind: WireKind, _ fill: (inout WireWriter) -> Void) throws -> [UInt8] {
        var w = WireWriter()
        fill(&w)
        let reply = try worker.request(kind, w.bytes)
        guard reply.ok else {
            var r = WireReader(reply.payload)
            _ = try r.u32()
            throw PluginError(status: GW_IO, try r.string())
        }
        return reply.payload
    }

    func pluginState(plugin: String, instance: String, key: String) throws -> [UInt8]? {
        var r = WireReader(
            try call(.stateGet) {
                $0.string(instance); $0.string(key)
            })
        guard try r.u8() == 1 else { return nil }
        return Array(try r.blob())
    }

    func setPluginState(plugin: String, instance: String, key: String, value: [UInt8]) throws {
        _ = try call(.stateSet) {
            $0.string(instance)
            $0.string(key)
            $0.blob(value)
        }
    }

    func deletePluginState(plugin: String, instance: String, key: String) throws -> Bool {
        var r = WireReader(
            try call(.stateDelete) {
                $0.string(instance); $0.string(key)
            })
        return try r.u8() == 1
    }
}

/// The plugin's locks and pace, decided by the gateway with every other instance's.
private struct RemoteCoordination: CoordinationForwarding {
    let worker: Worker

    /// The reply: 0 done, 1 timed out, 2 cancelled, 3 failed (with a reason).
    private func ask(_ kind: WireKind, _ fill: (inout WireWriter) -> Void) -> (code: UInt8, reason: String) {
        var w = WireWriter()
        fill(&w)
        guard let reply = try? worker.request(kind, w.bytes), reply.ok else { return (3, "the gateway did not answer") }
        var r = WireReader(reply.payload)
        return ((try? r.u8()) ?? 3, (try? r.string()) ?? "")
    }

    func lock(name: String, timeout: Double) -> PluginCoordination.LockResult {
        let answer = ask(.lock) {
            $0.string(name)
            $0.f64(timeout)
        }
        switch answer.code {
        case 0: return .acquired
        case 1: return .timedOut
        case 2: return .cancelled
        default: return .failed(answer.reason)
        }
    }

    func unlock(name: String) {
        var w = WireWriter()
        w.string(name)
        try? worker.channel.send(.unlock, id: 0, w.bytes)
    }

    func pace(bucket: String, perSecond: Int, perMinute: Int) -> PluginCoordination.PaceResult {
        let answer = ask(.pace) {
            $0.string(bucket)
            $0.i64(Int64(perSecond))
            $0.i64(Int64(perMinute))
        }
        switch answer.code {
        case 0: return .counted
        case 2: return .cancelled
        default: return .failed(answer.reason)
        }
    }
}

/// The plugin's log lines, sent to the gateway, which logs them as its own instance's.
private struct RemoteLog: LogHandler {
    let worker: Worker
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var w = WireWriter()
        w.string(event.level.rawValue)
        w.string("\(event.message)")
        try? worker.channel.send(.log, id: 0, w.bytes)
    }
}
