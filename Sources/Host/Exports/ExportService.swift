import Foundation
import CLinuxExtras
import Logging
import PluginABI
import PluginKit
import Synchronization

/// Seed 002's export service: tasks that read a source (rows sent in the request, or a
/// paginated HTTP API crawled by the HttpPager plugin), write them with an exporter plugin
/// (XLSX) or the host's CSV writer, zip the files for download, and call back when done.
/// Tasks and their logs live in the store; a task never stays "processing" across a
/// restart, and old tasks are deleted with their files.
public final class ExportService: Sendable {
    let store: any ExportTaskRepository & LeaseRepository
    var clock: any GatewayClock { store.clock }
    /// Opens the files' writer (CSV, or an exporter plugin's instance).
    let sinks: SinkOpener
    let services: HostServiceProvider
    let config: GatewayConfig.Exports
    /// `plugins.config`: each exporter plugin's own config.
    let directory: String
    let logger: Logger
    let secret: ServerSecret
    /// The tasks running (or waiting to) in this process, by key, at most
    /// `exports.maxRunning` at once: a long crawl never takes a worker that queries and
    /// pushes need, nor a thread that serves HTTP.
    private let running: JobRunner<String, ExportTask>
    /// Callbacks wait between their attempts: on threads of their own likewise.
    private let callbacks: DedicatedThreads
    /// Ends of tasks the store could not take yet (a full disk): shown, and written again.
    let endings: UnrecordedEndings<Int64, TaskEnding>
    /// Makes a task's request again from the body it came with: how a task another gateway
    /// left is restarted here. Set once by the gateway that owns this service.
    private let restorer = Mutex<Restorer?>(nil)
    typealias Restorer = @Sendable (_ sourceType: String, _ body: Data, _ owner: String) throws -> Request
    /// Attempts at one task, across gateways that stopped while running it: a task that
    /// takes every gateway down with it is not passed on for ever.
    static let maxAttempts: Int64 = 3

    /// How a task ended, as the store is asked to record it.
    struct TaskEnding: Sendable {
        let status: ExportTask.Status
        var failReason = ""
        var file = ""
        let at: Date
        /// The attempt that ended (nil: whichever runs it, as a cancel).
        var attempt: Int64?
    }

    init(
        store: any ExportTaskRepository & LeaseRepository, sinks: SinkOpener, services: HostServiceProvider, config: GatewayConfig.Exports,
        directory: String, secret: ServerSecret, logger: Logger
    ) throws {
        self.secret = secret
        self.store = store
        self.sinks = sinks
        self.services = services
        self.config = config
        self.directory = directory
        self.logger = logger
        running = JobRunner(kind: "export", threadName: "gateway.export", maxRunning: config.maxRunning)
        callbacks = DedicatedThreads(name: "gateway.export-callback", limit: 4)
        endings = UnrecordedEndings(what: "export task", logger: logger)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    // MARK: creating tasks

    struct Request: Sendable {
        /// The id of the token that asks ('' when exports need no token).
        let owner: String
        let title: String
        let userId: String
        let extType: String
        let callback: String
        /// Options for the exporter (`ext_options`), already checked against what its schema lets a request set.
        var extOptions: [String: JSONValue] = [:]
        let sourceType: String
        /// The canonical request, secrets included: identical requests are told by its keyed hash.
        let json: String
        /// The same with secrets (header values) and bulk (raw rows) left out: what the store keeps.
        let storedJSON: String
        /// The request's body as it came: with several gateways on one store it is kept
        /// sealed while the task runs, so that another gateway can restart the task.
        let body: Data
        let makeSource: @Sendable (InstanceContext) throws -> BatchSource
    }

    /// Called once by the gateway that owns this service, when it is complete.
    func attach(restorer: @escaping Restorer) {
        self.restorer.withLock { $0 = restorer }
    }

    /// Starts a task, or returns the key of an identical request already known.
    func start(_ request: Request) throws -> String {
        guard running.isAccepting else {
            throw GatewayError(.serviceUnavailable, "the gateway is shutting down; send the export again in a moment", retryAfterSeconds: 5)
        }
        // Waiting tasks hold their requests (a raw export its rows): the queue is bounded.
        guard running.waiting < config.maxQueued else {
            throw GatewayError(
                .serviceUnavailable, "\(config.maxQueued) export tasks are already waiting (exports.maxQueued); send it again later",
                retryAfterSeconds: 10)
        }
        // Keyed: the request may hold a secret (an upstream Authorization), which a plain
        // hash in the store would let anyone test guesses against.
        let requestHash = secret.sign("export-request", request.owner, request.userId, request.json)
        if let existing = try store.task(requestHash: requestHash) { return existing.hashKey }
        _ = try sinks.exporter(for: request.extType)  // refuse an unknown ext_type before queueing
        let key = Crypto.hex(Crypto.randomBytes(16))
        // Only another gateway could restart it: sealed only when others share the store.
        let sealed = store.sharedByGateways ? secret.seal(Array(request.body), purpose: Self.sealPurpose) ?? "" : ""
        let task = try store.insertTask(
            hashKey: key, requestHash: requestHash, owner: request.owner, userId: request.userId,
            title: request.title, extType: request.extType.uppercased(), sourceType: request.sourceType,
            request: request.storedJSON, callback: request.callback, sealedRequest: sealed)
        log(task.id, "created: \(request.sourceType) export '\(request.title)' as \(task.extType)")
        launch(task, request)
        return key
    }

    static let sealPurpose = "export-request"

    /// Queues a task's attempt: run on a thread of the export pool when one is free.
    private func launch(_ task: ExportTask, _ request: Request) {
        let context = InstanceContext(pluginId: "export", instanceName: "export:\(task.hashKey)", services: services) { [store] progress in
            try? store.updateProgress(taskId: task.id, attempt: task.attempt, done: progress.done, total: progress.total)
        }
        // The task's one stop token; its plugins hear it through the task's context.
        let control = RunControl(timeBudgetSeconds: 0)
        control.onStop { context.cancel() }
        // Stopped and still not back after the grace: a plugin deaf to cancel. The task ends.
        running.submit(
            task.hashKey, task, control: control,
            work: { [self] in
                run(task, request: request, context: context)
            },
            abandoned: { [self] in
                if finish(task, .failed, failReason: "stopped, but a plugin did not return when told to: its thread was abandoned") {
                    log(task.id, "failed: a plugin did not return when told to stop; its thread was abandoned")
                    endedHere(task)
                }
            })
    }

    /// Cancels a running task (status 4); the crawl stops at its next page or batch.
    func cancel(_ key: String) throws -> ExportTask {
        guard let task = try store.task(hashKey: key) else { throw GatewayError.notFound("no export task '\(key)'") }
        let current = effective(task)
        guard current.status == .processing else {
            throw GatewayError(.conflict, "export task '\(key)' has already ended (status \(current.status.rawValue))")
        }
        if try store.finishTask(id: task.id, status: .cancelled, failReason: "cancelled by request") {
            log(task.id, "cancelled by request")
        }
        running.stop(key, .cancelled)
        let ended = effective(try store.task(hashKey: key) ?? task)
        callBack(ended)
        return ended
    }

    // MARK: running

    private func run(_ task: ExportTask, request: Request, context: InstanceContext) {
        let (work, archive) = files(task.hashKey, attempt: task.attempt)
        defer {
            try? FileManager.default.removeItem(atPath: work)
            // A crawl of large pages leaves glibc's arenas grown: give the memory back.
            gw_release_free_memory()
        }
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            let source = try request.makeSource(context)
            let sink = try sinks.open(
                .exportFiles(
                    extType: request.extType, options: request.extOptions, workDirectory: work,
                    baseName: Self.fileName(task.title), archivePath: archive.path, task: context))
            let raw = task.sourceType == "raw"
            let result = try Pump.run(
                source, into: sink,
                .init(
                    checkStop: context.checkNotCancelled,
                    onBatch: { progress in
                        if raw { context.report(.init(done: progress.rowsWritten, total: -1, message: nil)) }
                    }))
            let rows = result.progress.rowsWritten
            if finish(task, .success, file: archive.name) {
                log(task.id, "done: \(rows) rows")
                endedHere(task)
            } else {
                // Cancelled meanwhile, or taken over by another gateway (this one was taken
                // for stopped): its file is not the task's.
                try? FileManager.default.removeItem(atPath: archive.path)
            }
        } catch {
            // A cancelled task was already ended (and called back) by cancel().
            let reason = Self.reason(error, cancelled: context.isCancelled)
            if finish(task, .failed, failReason: reason) {
                log(task.id, "failed: \(reason)")
                endedHere(task)
            }
        }
    }

    /// An attempt's scratch folder and finished archive (name, and path in the exports
    /// folder): the first attempt's keep the names they always had; each later attempt has
    /// its own, so a gateway that was only paused never writes over its successor's.
    func files(_ key: String, attempt: Int64) -> (work: String, archive: (name: String, path: String)) {
        let stem = attempt <= 1 ? key : "\(key).a\(attempt)"
        return (work: "\(directory)/\(stem).work", archive: (name: "\(stem).zip", path: "\(directory)/\(stem).zip"))
    }

    private func endedHere(_ task: ExportTask) {
        if let ended = try? store.task(hashKey: task.hashKey) { callBack(effective(ended)) }
    }

    // MARK: ending tasks

    /// Ends a task still processing: recorded in the store, or kept until the store takes
    /// it (see UnrecordedEndings). False when it had ended already (a cancel came first).
    @discardableResult
    func finish(_ task: ExportTask, _ status: ExportTask.Status, failReason: String = "", file: String = "") -> Bool {
        let ending = TaskEnding(status: status, failReason: failReason.bounded(toUTF8Bytes: 4_096), file: file, at: clock.now, attempt: task.attempt)
        return endings.record(task.id, ending) { e in try writeEnd(task.id, e) }
    }

    /// The task as it stands: as stored, or as it ended when the store could not record
    /// its end yet.
    func effective(_ task: ExportTask) -> ExportTask {
        guard task.status == .processing, let ending = endings[task.id] else { return task }
        var task = task
        task.status = ending.status
        task.failReason = ending.failReason
        task.file = ending.file
        task.finishedAt = ending.at
        return task
    }

    /// Writes again the ends the store could not take (called every maintenance tick).
    func recordEndings() {
        endings.retry { id, e in _ = try writeEnd(id, e) }
    }

    /// Writes a task's end; false when it had ended already.
    private func writeEnd(_ task: Int64, _ e: TaskEnding) throws -> Bool {
        try store.finishTask(id: task, status: e.status, failReason: e.failReason, file: e.file, at: e.at, attempt: e.attempt)
    }

    /// Writes a line into a task's log; a line the store cannot take goes to the server log.
    func log(_ task: Int64, _ message: String) {
        do {
            try store.logTask(id: task, message.bounded(toUTF8Bytes: 8_192))
        } catch {
            logger.error("export task \(task): the store could not take this line of its log (\(error)): \(message)")
        }
    }

    /// Checks a request's `ext_options`: only what the exporter's schema marks `per_request`,
    /// of the right type. A refusal is the client's 400.
    func checkOptions(_ options: [String: JSONValue], extType: String) throws {
        guard !options.isEmpty else { return }
        guard let plugin = try sinks.exporter(for: extType) else {
            throw GatewayError.badRequest("ext_options: the built-in CSV export takes none")
        }
        let schema = ConfigSchema.parse(plugin.configSchema) ?? .object([:])
        let allowed = ConfigSchema.perRequestKeys(schema)
        if let refused = options.keys.sorted().first(where: { !allowed.contains($0) }) {
            let list = allowed.isEmpty ? "none" : allowed.sorted().joined(separator: ", ")
            throw GatewayError.badRequest("ext_options.\(refused): the \(extType) exporter does not take it per request (it takes: \(list))")
        }
        if let problem = ConfigSchema.problems(sinks.exporterConfig(plugin, options: options), schema: schema).first {
            throw GatewayError.badRequest("ext_options: \(problem)")
        }
    }

    /// A task's title as a file name: path separators and control characters replaced.
    static func fileName(_ title: String) -> String {
        let cleaned = String(title.map { "/\\:*?\"<>|".contains($0) || $0.isNewline || ($0.asciiValue ?? 32) < 32 ? "_" : $0 })
            .trimmingCharacters(in: .whitespaces)
        return cleaned.isEmpty ? "export" : String(cleaned.prefix(100))
    }

    /// A failure reason for people: the message, whatever its length (the original service
    /// crashed on short ones).
    static func reason(_ error: Error, cancelled: Bool) -> String {
        cancelled ? "cancelled by request" : failureMessage(error)
    }

    // MARK: callbacks

    /// POSTs the task's detail to its callback URL, retrying with backoff; every attempt is logged.
    func callBack(_ task: ExportTask) {
        guard !task.callback.isEmpty else { return }
        callbacks.submit { [self] in deliverCallback(task, until: nil) }
    }

    /// POSTs the detail, retrying with backoff (until `deadline`, when shutting down).
    private func deliverCallback(_ task: ExportTask, until deadline: ContinuousClock.Instant?) {
        let detail = ExportDetail(task, downloadURL: config.publicBaseUrl.isEmpty ? "" : downloadURL(task, base: config.publicBaseUrl))
        let body = (try? JSONEncoder().encode(detail)) ?? Data()
        let attempts = max(1, config.callbackRetries + 1)
        let backoff = max(1, config.callbackBackoffMs)
        for attempt in 1...attempts {
            do {
                let reply = try services.http.perform(
                    method: "POST", url: task.callback,
                    headers: [("Content-Type", "application/json")],
                    body: Array(body), timeoutMilliseconds: 10_000, context: nil)
                log(task.id, "callback attempt \(attempt): HTTP \(reply.status)")
                if (200..<300).contains(reply.status) { return }
            } catch {
                let e = PluginError(error)
                log(task.id, "callback attempt \(attempt) failed: \(e.message)")
                if e.status == GW_DENIED || e.status == GW_INVALID_ARGUMENT { return }
            }
            guard attempt < attempts else { break }
            let wait = Duration.milliseconds(min(backoff << (attempt - 1), 600_000))
            if let deadline, ContinuousClock.now + wait > deadline { break }
            clock.wait(seconds: wait.timeInterval)
        }
        log(task.id, "callback gave up after \(attempts) attempts")
    }

    // MARK: shutting down

    /// No new task starts from now on.
    func beginShutdown() {
        running.beginShutdown()
    }

    /// Lets running tasks finish until `deadline`; a task still running then ends failed,
    /// "interrupted by restart" (as after a crash), and its callback is made before this
    /// returns (a few more seconds at most).
    func drain(until deadline: ContinuousClock.Instant) async {
        await running.drain(until: deadline) { [self] key, task in
            // Ended first, then stopped: woken by the stop, the task's own thread would
            // otherwise record "cancelled by request" before this could.
            let ended = finish(task, .failed, failReason: "interrupted by restart")
            running.stop(key, .shutdown)
            guard ended, let ended = (try? store.task(hashKey: key)).map(effective) else { return }
            log(task.id, "failed: interrupted by restart (the gateway shut down)")
            if !ended.callback.isEmpty {
                let callbackDeadline = ContinuousClock.now + .seconds(5)
                _ = try? await Workers.run { [self] in deliverCallback(ended, until: callbackDeadline) }
            }
        }
    }

    // MARK: restarts and retention

    /// Tasks left "processing" by a previous run cannot resume their half-written files:
    /// they end as failed, with that reason, and their callbacks fire.
    func recoverAfterRestart() throws {
        for task in try store.ownUnfinishedTasks() where running[task.hashKey] == nil {
            if try store.finishTask(id: task.id, status: .failed, failReason: "interrupted by restart") {
                log(task.id, "failed: interrupted by restart")
                try? FileManager.default.removeItem(atPath: files(task.hashKey, attempt: task.attempt).work)
                if let ended = try store.task(hashKey: task.hashKey) { callBack(ended) }
            }
        }
    }

    /// Takes over the tasks of gateways that stopped (their claims on the shared store ran
    /// out): each is restarted here from its sealed request, from its first page (the stopped
    /// gateway's half-written files are removed; a crawl cannot resume mid-way). A task that
    /// cannot be restarted (made by a flow, or on its last attempt) ends failed, with its
    /// callback from here.
    func takeOverOthers() throws {
        guard running.isAccepting else { return }
        let (failed, restarted) = try store.takeOverTasks(maxAttempts: Self.maxAttempts)
        for task in failed {
            log(task.id, "failed: \(task.failReason)")
            removeFiles(of: task.hashKey, attempt: task.attempt)
            callBack(task)
        }
        for taken in restarted { restart(taken) }
    }

    private func restart(_ taken: TakenOver<ExportTask>) {
        let task = taken.work
        removeFiles(of: task.hashKey, attempt: task.attempt - 1)
        let request: Request
        do {
            guard let restore = restorer.withLock({ $0 }) else { throw InvalidInput("this gateway cannot make export requests") }
            guard let body = secret.open(taken.sealedRequest, purpose: Self.sealPurpose) else {
                throw InvalidInput("its request was sealed under another auth.secretKey (gateways sharing a store must share it)")
            }
            request = try restore(task.sourceType, Data(body), task.owner)
        } catch {
            let reason = "interrupted: gateway \(taken.stopped) stopped, and it could not be restarted here: \(failureMessage(error))"
            if finish(task, .failed, failReason: reason) {
                log(task.id, "failed: \(reason)")
                endedHere(task)
            }
            return
        }
        log(task.id, "restarted from its first page (attempt \(task.attempt) of \(Self.maxAttempts)): gateway \(taken.stopped) stopped while it ran")
        launch(task, request)
    }

    /// An attempt's scratch folder and archive (of a gateway that stopped: in a shared
    /// exports folder they are this gateway's to remove).
    private func removeFiles(of key: String, attempt: Int64) {
        let (work, archive) = files(key, attempt: attempt)
        try? FileManager.default.removeItem(atPath: work)
        try? FileManager.default.removeItem(atPath: archive.path)
    }

    /// Deletes tasks older than the retention, with their files. Returns how many.
    @discardableResult
    func deleteExpired(now: Date? = nil) throws -> Int {
        let now = now ?? clock.now
        let cutoff = now.addingTimeInterval(-Double(config.retentionDays) * 86_400)
        let old = try store.tasks(createdBefore: cutoff).filter { $0.status != .processing }
        for task in old {
            if !task.file.isEmpty { try? FileManager.default.removeItem(atPath: "\(directory)/\(task.file)") }
            try store.deleteTask(id: task.id)
        }
        return old.count
    }

    // MARK: download links

    /// A signed link to a finished task's file, valid for `exports.downloadLinkHours`;
    /// "" while there is nothing to download.
    func downloadURL(_ task: ExportTask, base: String, now: Date? = nil) -> String {
        let now = now ?? clock.now
        guard task.status == .success, !task.file.isEmpty else { return "" }
        let expires = String(Int64(now.timeIntervalSince1970) + Int64(config.downloadLinkHours) * 3_600)
        return "\(base)/v1/down/\(task.hashKey).zip?expires=\(expires)&signature=\(secret.sign("download", task.hashKey, expires))"
    }

    /// True for a link this gateway signed for `key` that has not expired.
    func isValidLink(key: String, expires: String?, signature: String?, now: Date? = nil) -> Bool {
        let now = now ?? clock.now
        guard let expires, let signature, let until = Int64(expires), until >= Int64(now.timeIntervalSince1970) else { return false }
        return secret.verify(signature, "download", key, expires)
    }

    func downloadPath(_ task: ExportTask) -> String? {
        guard task.status == .success, !task.file.isEmpty else { return nil }
        return "\(directory)/\(task.file)"
    }
}

extension InstanceContext {
    func checkNotCancelled() throws {
        if isCancelled { throw PluginError.cancelled }
    }
}

/// A task as `/v1/export/detail` and callbacks show it; as a history row (`summary`) it
/// leaves out the download address and progress.
struct ExportDetail: Encodable {
    let created_at: String
    let down_url: String
    let ext_type: String
    let fail_reason: String
    let hash_key: String
    let id: Int64
    let source_type: String
    let status: Int
    let title: String
    let progress: Progress
    /// The gateway that runs (or ran) it, by its id (`gateway.id`).
    let gateway: String
    /// 1, and one more each time another gateway restarted it (its gateway had stopped).
    let attempt: Int64
    let summary: Bool

    struct Progress: Encodable {
        let done: Int64
        let total: Int64
    }

    enum CodingKeys: String, CodingKey {
        case created_at, down_url, ext_type, fail_reason, hash_key, id, source_type, status, title, progress, gateway, attempt
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(created_at, forKey: .created_at)
        if !summary { try c.encode(down_url, forKey: .down_url) }
        try c.encode(ext_type, forKey: .ext_type)
        try c.encode(fail_reason, forKey: .fail_reason)
        try c.encode(hash_key, forKey: .hash_key)
        try c.encode(id, forKey: .id)
        try c.encode(source_type, forKey: .source_type)
        try c.encode(status, forKey: .status)
        try c.encode(title, forKey: .title)
        if !summary { try c.encode(progress, forKey: .progress) }
        try c.encode(gateway, forKey: .gateway)
        try c.encode(attempt, forKey: .attempt)
    }

    init(_ t: ExportTask, downloadURL: String, summary: Bool = false) {
        self.summary = summary
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone.current
        created_at = formatter.string(from: t.createdAt)
        down_url = downloadURL
        ext_type = t.extType
        fail_reason = t.failReason
        hash_key = t.hashKey
        id = t.id
        source_type = t.sourceType
        status = t.status.rawValue
        title = t.title
        progress = Progress(done: t.progressDone, total: t.progressTotal)
        gateway = t.gateway
        attempt = t.attempt
    }
}
