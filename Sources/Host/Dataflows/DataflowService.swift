import Foundation
import Logging
import PluginABI
import PluginKit
import Synchronization

/// Runs dataflows (seed 004): each run is the one pipeline (source → transforms → pump →
/// target) for the flow's own step and then each child's, in order. Runs live in the
/// store with their logs; one pending or running run per flow is a constraint there, and a
/// child's step holds a run of the child (so a flow never runs twice at once, whether by
/// its own execute, its schedule or a parent's run). A run left running by a stopped
/// gateway ends failed "interrupted by restart".
public final class DataflowService: Sendable {
    let store: any GatewayStore
    var clock: any GatewayClock { store.clock }
    let config: GatewayConfig.Dataflows
    private let logger: Logger
    /// Runs of this process, by run id (a child step's too, on its parent's thread), at most
    /// `dataflows.maxRunning` at once: how cancel and shutdown reach them.
    private let running: JobRunner<Int64, DataflowRun>
    /// Ends of runs the store could not take yet (a full disk): shown, and written again.
    let endings: UnrecordedEndings<Int64, RunEnding>
    /// For each scheduled flow, the config revision it was read at, its schedule (nil: the
    /// flow has none) and the next time it fires: the scheduler reads a flow's config
    /// again only when it changed.
    let schedules = Mutex<[Int64: ScheduleEntry]>([:])
    /// The gateway whose datasets, plugins and exports runs use; weak: it owns this service.
    private let owner = Mutex<WeakGateway>(WeakGateway())

    private struct WeakGateway {
        weak var gateway: Gateway?
    }

    struct ScheduleEntry {
        let revision: Int64
        let schedule: CronSchedule?
        var next: Date?
    }

    /// How a run ended, as the store is asked to record it.
    struct RunEnding: Sendable {
        let flowId: Int64
        let status: DataflowRun.Status
        var error: String?
        var progress: Int?
        var counts: Counts?
        let completedAt: Date
        /// The attempt that ended (nil: whichever runs it, as a cancel).
        var attempt: Int64?
    }

    /// Attempts at one run, across gateways that stopped while running it: a run that takes
    /// every gateway down with it is not passed on for ever.
    static let maxAttempts: Int64 = 3

    init(store: any GatewayStore, config: GatewayConfig.Dataflows, logger: Logger) {
        self.store = store
        self.config = config
        self.logger = logger
        running = JobRunner(kind: "dataflow", threadName: "gateway.dataflow", maxRunning: config.maxRunning)
        endings = UnrecordedEndings(what: "dataflow run", logger: logger)
    }

    /// Called once by the gateway that owns this service, when it is complete.
    func attach(_ gateway: Gateway) {
        owner.withLock { $0.gateway = gateway }
    }

    private var gateway: Gateway {
        get throws {
            guard let g = owner.withLock({ $0.gateway }) else { throw InvalidInput("the gateway has stopped") }
            return g
        }
    }

    // MARK: starting and stopping

    /// Starts a run of `flow` (pending until a thread takes it). Throws RunConflict when
    /// one is already pending or running.
    /// `paramsJSON` is the execute call's `params` object as text.
    func execute(_ flow: Dataflow, paramsJSON: String, trigger: String, scheduledFor: Date? = nil) throws -> DataflowRun {
        guard running.isAccepting else {
            throw GatewayError(.serviceUnavailable, "the gateway is shutting down; execute the dataflow again in a moment", retryAfterSeconds: 5)
        }
        guard paramsJSON.utf8.count <= Dataflow.maxParamsBytes else {
            throw FlowInputError("参数错误: params is larger than \(Dataflow.maxParamsBytes) bytes of JSON")
        }
        // Checked now, not when the run reaches them: run options of the wrong type, and
        // for a flow that declares its params, unknown or missing ones (see RunParams).
        _ = try RunParams(json: paramsJSON, declared: (try? FlowPlan.parse(flow.config))?.declaredParams)
        // A run of this flow that ended while the store could not record it still holds
        // the flow's place in the store: record it first, or say why a new one cannot start.
        if !endings.isEmpty { recordEndings() }
        if let kept = endings.keys.first(where: { endings[$0]?.flowId == flow.id }) {
            throw GatewayError(
                .serviceUnavailable,
                "the last run of dataflow \(flow.id) (run \(kept)) has ended, but the store cannot record it yet (see the server log); execute again once it can",
                retryAfterSeconds: 10)
        }
        var run = try store.insertRun(flow: flow.id, trigger: trigger, params: paramsJSON, scheduledFor: scheduledFor)
        // A free thread takes it at once: say so now rather than "pending" for a moment.
        if running.count < config.maxRunning {
            try store.markRunning(run: run.id)
            run.status = .running
        }
        log(flow.id, run: run.id, .info, "dataflow", "\(run.executionId) queued (\(trigger))")
        launch(flow, run)
        return run
    }

    /// Queues a run's attempt: run on a thread of the dataflow pool when one is free.
    private func launch(_ flow: Dataflow, _ queued: DataflowRun) {
        let control = RunControl(timeBudgetSeconds: 0)
        // Stopped (its timeout, a cancel, a shutdown) and still not back: a plugin call
        // deaf to cancel. The run (and its child step's) ends now with the reason.
        running.submit(
            queued.id, queued, control: control,
            work: { [self] in
                perform(flow, run: queued, control: control)
            },
            abandoned: { [self, weak control] in
                guard let control else { return }
                let reason = control.stopReason.map { describe(RunStopped(reason: $0), control: control) } ?? "stopped"
                for id in [queued.id] + running.keys(stoppedBy: control) {
                    let active = id == queued.id ? queued : running[id]
                    running.detach(id)
                    if let active { fail(active, "\(reason); a plugin did not return when told to stop, and its thread was abandoned") }
                }
            })
    }

    /// Cancels a pending or running run; false when it had already ended.
    func cancel(_ run: DataflowRun) throws -> Bool {
        guard effective(run).status.isActive else { return false }
        let ended = try store.finishRun(run: run.id, status: .cancelled, error: "cancelled by request")
        if ended { log(run.dataflowId, run: run.id, .warning, "dataflow", "\(run.executionId) cancelled by request") }
        running.stop(run.id, .cancelled)
        return ended
    }

    /// The run as it stands: as stored, or as it ended when the store could not record
    /// its end yet.
    func effective(_ run: DataflowRun) -> DataflowRun {
        guard run.status.isActive, let ending = endings[run.id] else { return run }
        var run = run
        run.status = ending.status
        run.errorMessage = ending.error ?? run.errorMessage
        run.progress = ending.progress ?? run.progress
        if let counts = ending.counts {
            run.rowsRead = counts.read
            run.rowsWritten = counts.written
            run.rowsRejected = counts.rejected
        }
        run.completedAt = ending.completedAt
        return run
    }

    /// Runs this gateway left pending or running before it restarted cannot resume: they end
    /// failed. (Those of other gateways sharing the store are theirs.)
    func recoverAfterRestart() throws {
        for run in try store.ownActiveRuns() where running[run.id] == nil {
            if try store.finishRun(run: run.id, status: .failed, error: "interrupted by restart") {
                log(run.dataflowId, run: run.id, .error, "dataflow", "\(run.executionId) failed: interrupted by restart")
            }
        }
    }

    /// Takes over the runs of gateways that stopped (their claims on the shared store ran
    /// out; called every maintenance tick): a run whose target had not begun to commit runs
    /// again here from the start, as the next run after a failed one would (a target that
    /// commits nothing until the end holds none of its rows; a sink plugin's destination
    /// without transactions keeps what it took, as after any abort: see the ABI's `abort`).
    /// The others end failed, each in its flow's log.
    func takeOverOthers() throws {
        guard running.isAccepting else { return }
        let (failed, requeued) = try store.takeOverRuns(maxAttempts: Self.maxAttempts)
        for run in failed {
            log(run.dataflowId, run: run.id, .error, "dataflow", "\(run.executionId) failed: \(run.errorMessage ?? "interrupted")")
        }
        for taken in requeued {
            let run = taken.work
            guard let flow = try store.dataflow(id: run.dataflowId) else {
                fail(run, "interrupted: gateway \(taken.stopped) stopped, and the flow no longer exists")
                continue
            }
            log(
                flow.id, run: run.id, .warning, "dataflow",
                "\(run.executionId) runs again from the start here (attempt \(run.attempt) of \(Self.maxAttempts)): gateway \(taken.stopped) stopped before its target committed"
            )
            launch(flow, run)
        }
    }

    /// Writes again the ends the store could not take (called every maintenance tick).
    func recordEndings() {
        endings.retry { id, e in _ = try writeEnd(id, e) }
    }

    /// Writes a run's end; false when it had ended already.
    private func writeEnd(_ run: Int64, _ e: RunEnding) throws -> Bool {
        try store.finishRun(
            run: run, status: e.status, error: e.error, progress: e.progress, rowsRead: e.counts?.read,
            rowsWritten: e.counts?.written, rowsRejected: e.counts?.rejected, at: e.completedAt, attempt: e.attempt)
    }

    /// No new run starts from now on (the gateway is shutting down).
    func beginShutdown() {
        running.beginShutdown()
    }

    /// Lets running runs finish until `deadline`; those still running then are stopped and
    /// end failed, "interrupted by restart" (their targets rolled back), as after a crash.
    func drain(until deadline: ContinuousClock.Instant) async {
        // The pumps stop at their next batch and roll their targets back.
        await running.drain(until: deadline) { [store, logger] id, _ in
            if (try? store.finishRun(run: id, status: .failed, error: "interrupted by restart")) == true {
                logger.info("dataflow run \(id) interrupted by the shutdown")
            }
        }
        recordEndings()
    }

    /// Deletes runs and log lines older than the retention; returns how many runs.
    @discardableResult
    func deleteExpired(now: Date? = nil) throws -> Int {
        let now = now ?? clock.now
        return try store.deleteRuns(before: now.addingTimeInterval(-Double(config.retentionDays) * 86_400))
    }

    // MARK: the run's log

    /// Writes one line into a flow's log. A line the store cannot take goes to the server
    /// log instead, with the reason: never lost without a word.
    func log(_ flow: Int64, run: Int64?, _ level: DataflowLog.Level, _ component: String, _ message: String) {
        do {
            try store.logFlow(flow, run: run, level, component: component, message.bounded(toUTF8Bytes: Self.maxLogLineBytes))
        } catch {
            logger.error(
                "dataflow \(flow)\(run.map { " run \($0)" } ?? ""): the store could not take this \(level.rawValue) line of its log (\(error)): [\(component)] \(message)"
            )
        }
    }

    func logScheduler(_ message: String) {
        logger.error("dataflow scheduler: \(message)")
    }

    // MARK: running

    /// Writes one line into the run's log: level, component, message.
    typealias FlowLog = @Sendable (DataflowLog.Level, String, String) -> Void

    /// Rows a step (or a whole run) moved.
    struct Counts {
        var read: Int64 = 0
        var written: Int64 = 0
        /// Refused one by one by a sink plugin's destination.
        var rejected: Int64 = 0
    }

    /// One step of a run: a flow's own source → transforms → target.
    private struct Step {
        let flow: Dataflow
        let runId: Int64
        /// The run's attempt: its target commits only while this gateway still runs it.
        let attempt: Int64
        /// "" for the flow run, "child 'name': " for a child's step.
        let label: String
    }

    private func perform(_ flow: Dataflow, run: DataflowRun, control: RunControl) {
        let params: RunParams
        do {
            params = try RunParams(json: run.params, declared: (try? FlowPlan.parse(flow.config))?.declaredParams)
        } catch {
            return fail(run, "\(error)")
        }
        do {
            try store.markRunning(run: run.id)
            // A run cancelled while it waited has ended already.
            guard try store.run(executionId: run.executionId)?.status == .running else { return }
        } catch {
            return fail(run, "the store could not be written when the run started: \(error)")
        }
        let log: FlowLog = { level, component, message in self.log(flow.id, run: run.id, level, component, message) }
        log(.info, "dataflow", "\(run.executionId) started (\(run.trigger)), params \(run.params)")
        let steps: [Step]
        do {
            steps =
                [Step(flow: flow, runId: run.id, attempt: run.attempt, label: "")]
                + (try descendants(of: flow.id)).map { Step(flow: $0, runId: run.id, attempt: run.attempt, label: "child \($0.id) '\($0.name)': ") }
        } catch {
            return fail(run, "reading the flow's children failed: \(error)")
        }
        var totals = Counts()
        for (index, step) in steps.enumerated() {
            // A child's step is a run of the child: it cannot start while the child runs
            // already (its own execute, its schedule), nor can the child start while it runs.
            var childRun: DataflowRun?
            if index > 0 {
                do {
                    childRun = try claimChild(step.flow, parent: run, control: control)
                } catch let conflict as RunConflict {
                    return fail(run, "\(step.label)the flow is already running as \(conflict.executionId): a flow runs once at a time")
                } catch {
                    return fail(run, "\(step.label)its run could not start: \(error)")
                }
            }
            let counts: Counts
            // What the step has read and handed to its target so far: not written until the
            // target commits (a failed step's target rolls them back).
            let handed = Mutex<(read: Int64, written: Int64)>((0, 0))
            do {
                let plan = try FlowPlan.parse(step.flow.config)
                guard plan.problems.isEmpty else { throw FlowInputError(plan.problems.joined(separator: "; ")) }
                if let timeout = plan.timeout, index == 0 { control.stopAfter(seconds: timeout) }
                counts = try runWithRetries(step, plan: plan, params: params, control: control, log: log) { progress, read, written in
                    handed.withLock { $0 = (read, written) }
                    let overall = Int((Double(index) + progress) / Double(steps.count) * 100)
                    try? self.store.updateRunProgress(
                        run: run.id, attempt: run.attempt, progress: min(99, overall), rowsRead: totals.read + read, rowsWritten: totals.written + written)
                }
            } catch {
                let message = (error as? FlowInputError)?.description ?? describe(error, control: control)
                let (read, rolledBack) = handed.withLock { $0 }
                if let childRun {
                    endChild(childRun, control: control, .failed, error: message, counts: Counts(read: read, written: 0))
                }
                // Written is what targets committed: the steps before this one. The rows this
                // step handed its target were rolled back with it, and the log says so.
                let committed = Counts(read: totals.read + read, written: totals.written, rejected: totals.rejected)
                let note = rolledBack > 0 ? " (\(rolledBack) rows handed to its target were rolled back, not written)" : ""
                return fail(run, step.label + message, counts: committed, logNote: note)
            }
            if let childRun { endChild(childRun, control: control, .completed, counts: counts) }
            totals.read += counts.read
            totals.written += counts.written
            totals.rejected += counts.rejected
        }
        let refused = totals.rejected > 0 ? ", \(totals.rejected) refused by the destination" : ""
        end(
            run, RunEnding(flowId: run.dataflowId, status: .completed, progress: 100, counts: totals, completedAt: clock.now),
            .info, "\(run.executionId) completed: \(totals.read) rows read, \(totals.written) written\(refused)")
    }

    private func fail(_ run: DataflowRun, _ message: String, counts: Counts? = nil, logNote: String = "") {
        let ended = end(
            run, RunEnding(flowId: run.dataflowId, status: .failed, error: Self.bounded(message), counts: counts, completedAt: clock.now),
            .error, "\(run.executionId) failed: \(message)\(logNote)")
        // Ended already (cancelled while it wrote): its counts still say what was committed.
        guard !ended, let counts else { return }
        try? store.setRunCounts(run: run.id, attempt: run.attempt, rowsRead: counts.read, rowsWritten: counts.written, rowsRejected: counts.rejected)
        if !logNote.isEmpty { log(run.dataflowId, run: run.id, .warning, "dataflow", "\(run.executionId) stopped\(logNote)") }
    }

    /// Ends a run: its end recorded in the store (or kept until the store takes it), and
    /// the line said in its log. False when it had ended already (a cancel came first).
    @discardableResult
    private func end(_ run: DataflowRun, _ ending: RunEnding, _ level: DataflowLog.Level, _ line: String) -> Bool {
        var ending = ending
        // This attempt's end: if another gateway took the run over, it is not this one's to end.
        ending.attempt = run.attempt
        let ended = endings.record(run.id, ending) { e in try writeEnd(run.id, e) }
        if ended { log(run.dataflowId, run: run.id, level, "dataflow", line) }
        return ended
    }

    /// A run of `child` for its step in `parent`'s run: running at once, stopped with the
    /// parent's run (and stopping it when cancelled).
    private func claimChild(_ child: Dataflow, parent: DataflowRun, control: RunControl) throws -> DataflowRun {
        var run = try store.insertRun(flow: child.id, trigger: "parent:\(parent.executionId)", params: parent.params)
        try store.markRunning(run: run.id)
        run.status = .running
        running.attach(run.id, run, control: control)
        log(child.id, run: run.id, .info, "dataflow", "\(run.executionId) started as a step of \(parent.executionId) (dataflow \(parent.dataflowId))")
        return run
    }

    private func endChild(_ run: DataflowRun, control: RunControl, _ status: DataflowRun.Status, error: String? = nil, counts: Counts? = nil) {
        defer { running.detach(run.id) }
        // Stopped by a cancel (of the parent's run, or of this step's): cancelled, as the parent.
        let status = status == .failed && control.stopReason == .cancelled ? .cancelled : status
        let stopped = control.stopReason.map { describe(RunStopped(reason: $0), control: control) }
        let message = error ?? stopped
        let line =
            status == .completed
            ? "\(run.executionId) completed: \(counts?.read ?? 0) rows read, \(counts?.written ?? 0) written"
            : "\(run.executionId) failed: \(message ?? "")"
        end(
            run,
            RunEnding(
                flowId: run.dataflowId, status: status, error: message.map(Self.bounded), progress: status == .completed ? 100 : nil,
                counts: counts, completedAt: clock.now), status == .completed ? .info : .error, line)
    }

    /// Error messages are stored whole up to this many bytes (a plugin's message could be
    /// anything): a page of runs stays small.
    static let maxErrorBytes = 4_096
    /// Log lines likewise.
    static let maxLogLineBytes = 8_192

    static func bounded(_ text: String) -> String { text.bounded(toUTF8Bytes: maxErrorBytes) }

    /// Every flow below `id`, depth first, children in their order.
    private func descendants(of id: Int64) throws -> [Dataflow] {
        var out: [Dataflow] = []
        for child in try store.children(of: id) {
            guard let flow = try store.dataflow(id: child.id) else { continue }
            out.append(flow)
            out += try descendants(of: child.id)
        }
        return out
    }

    /// Runs a step, again after a retryable failure (network, 5xx, rate limit) up to
    /// `retry_count` times with a doubling pause; a bad config is never retried. Each
    /// attempt starts from the source's last committed position: a failed one wrote nothing.
    private func runWithRetries(
        _ step: Step, plan: FlowPlan, params: RunParams, control: RunControl,
        log: @escaping FlowLog,
        progress: @escaping (Double, Int64, Int64) -> Void
    ) throws -> Counts {
        var attempt = 0
        while true {
            do {
                return try runStep(step, plan: plan, params: params, control: control, log: log, progress: progress)
            } catch {
                guard attempt < plan.retryCount, Self.isRetryable(error), control.stopReason == nil else { throw error }
                attempt += 1
                let pause = min(60.0, pow(2.0, Double(attempt - 1)))
                log(
                    .warning, "dataflow",
                    "\(step.label)attempt \(attempt) failed (\(describe(error, control: control))); retry \(attempt) of \(plan.retryCount) in \(Int(pause)) s")
                guard clock.wait(seconds: pause, unless: { control.stopReason != nil }) else { throw error }
            }
        }
    }

    static func isRetryable(_ error: Error) -> Bool {
        switch error {
        case let e as PluginError: e.status == GW_RATE_LIMITED || e.status == GW_UNAVAILABLE
        case let e as GatewayError: [429, 502, 503, 504].contains(Int(e.status.code))
        case let e as SQLiteError: e.code & 0xFF == 5 || e.code & 0xFF == 6  // SQLITE_BUSY, SQLITE_LOCKED
        default: false
        }
    }

    private func runStep(
        _ step: Step, plan: FlowPlan, params: RunParams, control: RunControl,
        log: @escaping FlowLog,
        progress: @escaping (Double, Int64, Int64) -> Void
    ) throws -> Counts {
        guard let sourceSpec = plan.source, let targetSpec = plan.target else { throw FlowInputError("config names no source or target") }
        let batchSize = params.batchSize ?? plan.batchSize
        let bound = try bindable(params, for: sourceSpec, step: step, batchSize: batchSize, log: log)
        if let copied = try copyInPlace(step, plan: plan, params: bound, control: control, log: log) { return copied }
        let sourceProgress = Mutex<Double>(0)
        let onProgress: @Sendable (InstanceContext.Progress) -> Void = { p in
            if p.total > 0 { sourceProgress.withLock { $0 = min(1, max(0, Double(p.done) / Double(p.total))) } }
        }
        let context = InstanceContext(pluginId: "dataflow", instanceName: "dataflow:\(step.flow.id)", services: try gateway.services)
        control.onStop { context.cancel() }
        let opened = try openSource(
            sourceSpec, flow: step.flow, params: bound, forceRefresh: params.forceRefresh, batchSize: batchSize,
            control: control, log: log, onProgress: onProgress)
        // A source that infers its columns from its rows (the Jushuitan connector) has none
        // when nothing is new: an empty run, not a transform naming a missing column.
        if opened.schema.fields.isEmpty {
            guard try opened.next() == nil else { throw FlowInputError("\(Self.name(of: sourceSpec)) gave rows without columns") }
            try opened.finish()
            log(.info, "source", "\(step.label)opened \(Self.name(of: sourceSpec)): no rows")
            return Counts()
        }
        log(.info, "source", "\(step.label)opened \(Self.name(of: sourceSpec)): columns \(opened.schema.fields.map(\.name).joined(separator: ", "))")
        let transforms = plan.transforms.map { $0.make() }
        let source = transforms.isEmpty ? opened : try TransformedSource(opened, transforms: transforms)
        if !transforms.isEmpty {
            log(.info, "transform", "\(step.label)\(transforms.count) transforms: columns become \(source.schema.fields.map(\.name).joined(separator: ", "))")
        }
        let sink = try openTarget(targetSpec, flow: step.flow, context: context, control: control, label: step.label, log: log)
        var lastLog = Date()
        let result = try Pump.run(
            source, into: sink,
            .init(
                checkStop: {
                    if let reason = control.stopReason { throw RunStopped(reason: reason) }
                },
                onBatch: { p in
                    progress(sourceProgress.withLock { $0 }, (source as? TransformedSource)?.rowsRead ?? p.rowsRead, p.rowsWritten)
                    if Date().timeIntervalSince(lastLog) >= 5 {
                        lastLog = Date()
                        log(.info, "target", "\(step.label)\(p.rowsWritten) rows written so far (\(p.batches) batches)")
                    }
                },
                beforeCommit: { try self.beginCommit(step) }))
        for case let dedupe as DedupeRows in transforms where dedupe.dropped > 0 {
            log(.warning, "transform", "\(step.label)dedupe dropped \(dedupe.dropped) rows with a key seen before")
        }
        let rejected = (sink as? DestinationSink)?.rowsRejected ?? 0
        let written = result.progress.rowsWritten - rejected
        let batches = " in \(result.progress.batches) batch\(result.progress.batches == 1 ? "" : "es")"
        switch targetSpec {
        case .dataset(let id, let mode): log(.info, "target", "\(step.label)committed \(written) rows into dataset '\(id)' (\(mode.rawValue))\(batches)")
        case .export(let format, _):
            if let export = sink as? FlowExportSink {
                try? store.setRunExport(run: step.runId, key: export.task.hashKey)
                log(.info, "target", "\(step.label)wrote \(written) rows into a \(format.uppercased()) export (task \(export.task.hashKey))\(batches)")
            }
        case .plugin(let id, _):
            log(
                .info, "target",
                "\(step.label)sink plugin '\(id)' committed \(written) rows\(batches)" + (rejected > 0 ? "; the destination refused \(rejected)" : ""))
        }
        if let failure = result.finishFailure {
            log(
                .warning, "source", "\(step.label)the rows were committed but the source could not save its position; the next run reads them again: \(failure)"
            )
        }
        return Counts(read: (source as? TransformedSource)?.rowsRead ?? result.progress.rowsRead, written: written, rejected: rejected)
    }

    /// A dataset copied into another with no transform and the same column types at both
    /// ends runs as one `INSERT … SELECT` inside the target's transaction: the store moves the
    /// records itself, many times faster than through batches, with the same result (no
    /// value needs converting). One statement: a cancel or timeout takes effect when it
    /// ends, and rolls it back. Nil when the step does not qualify.
    private func copyInPlace(
        _ step: Step, plan: FlowPlan, params: [String: [String]], control: RunControl,
        log: FlowLog
    ) throws -> Counts? {
        guard plan.transforms.isEmpty, case .dataset(let sourceId) = plan.source, case .dataset(let targetId, let mode) = plan.target else { return nil }
        let gateway = try self.gateway
        // Not under a row filter (the dataset's own, or another definition's of its table): the
        // copy runs on the writer's connection, which reads every row.
        guard let source = try gateway.datasets.dataset(sourceId), let target = try gateway.datasets.dataset(targetId),
            source.table != target.table, try !gateway.datasetTables.isFiltered(source)
        else { return nil }
        for column in source.columns where target.columns.first(where: { $0.name == column.name })?.type != column.type { return nil }
        let (filter, args) = try QueryParameters.filter(source, params)
        let names = source.columns.map(\.name)
        let select = gateway.datasetTables.selectAll(source, filter: filter.isEmpty ? " WHERE true" : filter)
        log(
            .info, "source",
            "\(step.label)opened dataset '\(sourceId)': columns \(names.joined(separator: ", ")); same columns and types as the target: copied in one INSERT … SELECT"
        )
        let session = try gateway.datasetTables.beginWrite(target, mode: mode)
        do {
            if let reason = control.stopReason { throw RunStopped(reason: reason) }
            let whole = filter.isEmpty && mode != .upsert ? try session.copyWhole(source.table) : nil
            let rows = try whole ?? session.copy(columns: names, select: select, args: args, update: mode == .upsert)
            if let reason = control.stopReason { throw RunStopped(reason: reason) }
            try beginCommit(step)
            _ = try session.commit()
            log(.info, "target", "\(step.label)committed \(rows) rows into dataset '\(targetId)' (\(mode.rawValue))")
            return Counts(read: Int64(rows), written: Int64(rows))
        } catch {
            session.rollback()
            throw error
        }
    }

    /// Marks the run's target as committing, or throws when this gateway no longer runs the
    /// run (another took it over while this one was taken for stopped; or it ended).
    private func beginCommit(_ step: Step) throws {
        guard try store.beginCommit(run: step.runId, attempt: step.attempt) else {
            throw InvalidInput("this gateway no longer runs this run (it ended, or another gateway took it over): its target was not committed")
        }
    }

    /// The run's variables its source reads, as parameter values; the others are recorded
    /// (said in the log, kept in the run's params), never an error (see RunParams).
    private func bindable(_ params: RunParams, for source: FlowPlan.Source, step: Step, batchSize: Int, log: FlowLog) throws -> [String: [String]] {
        let opener = SourceOpener(gateway: try gateway, control: RunControl(timeBudgetSeconds: 0))
        let accepted: Set<String>?
        switch source {
        case .dataset(let id): accepted = try opener.parameterNames(.dataset, id: id)
        case .sql(let sql): accepted = try opener.parameterNames(.datasource, id: SourceOpener.storeDatasource, sql: sql)
        case .datamodel(let id, _): accepted = try opener.parameterNames(.datamodel, id: id)
        case .datasource, .plugin: accepted = nil  // a plugin reads what it knows
        }
        let unused = params.unused(accepted: accepted)
        if !unused.isEmpty {
            log(.info, "dataflow", "\(step.label)params not read by \(Self.name(of: source)), recorded on the run: \(unused.joined(separator: ", "))")
        }
        if params.batchSize != nil { log(.info, "dataflow", "\(step.label)run option batch_size: \(batchSize) rows per batch") }
        if params.forceRefresh {
            let incremental = if case .datasource = source { true } else if case .plugin = source { true } else { false }
            log(
                .info, "dataflow",
                "\(step.label)run option force_refresh: "
                    + (incremental
                        ? "the source plugin reads from its configured start, not its saved cursor"
                        : "\(Self.name(of: source)) keeps no cursor: every run reads it whole"))
        }
        var values = params.parameterValues
        for name in unused { values[name] = nil }
        for option in RunParams.options where accepted?.contains(option) != true { values[option] = nil }
        return values
    }

    // MARK: ends

    /// Who a run reads as: the flow's recorded identity, unless it was a gateway token that
    /// has since been revoked (the run then reads with none: a filtered dataset refuses it).
    static func runIdentity(_ flow: Dataflow, tokens: ApiTokens) throws -> Identity? {
        guard let identity = flow.runAs else { return nil }
        guard identity.kind == .token else { return identity }
        return try tokens.list().contains { $0.id == identity.id && $0.revokedAt == nil } ? identity : nil
    }

    private static func name(of source: FlowPlan.Source) -> String {
        switch source {
        case .dataset(let id): "dataset '\(id)'"
        case .datasource(let id, _): "datasource '\(id)'"
        case .plugin(let id, _): "source plugin '\(id)'"
        case .sql: "SQL over the datasets"
        case .datamodel(let id, _): "data model '\(id)'"
        }
    }

    /// The source a flow reads. Datasets, datasources and SQL open as the query API opens
    /// them (with `params` as their parameters); a plugin source is an instance of the
    /// flow's own, whose state (a cursor) belongs to the flow.
    private func openSource(
        _ spec: FlowPlan.Source, flow: Dataflow, params: [String: [String]], forceRefresh: Bool, batchSize: Int, control: RunControl,
        log: @escaping FlowLog, onProgress: @escaping @Sendable (InstanceContext.Progress) -> Void
    ) throws -> BatchSource {
        let gateway = try self.gateway
        var query = QueryRequest()
        query.parameters = params
        query.forceRefresh = forceRefresh
        query.identity = try Self.runIdentity(flow, tokens: gateway.tokens)
        var opener = SourceOpener(gateway: gateway, control: control)
        opener.batchRows = batchSize
        switch spec {
        case .dataset(let id):
            return try opener.open(.query(.dataset, id: id, query))
        case .datasource(let id, let endpoint):
            query.endpoint = endpoint
            return try opener.open(.query(.datasource, id: id, query), onProgress: onProgress)
        case .sql(let sql):
            query.query = sql
            query.queryType = "sql"
            return try opener.open(.query(.datasource, id: SourceOpener.storeDatasource, query))
        case .datamodel(let id, let text):
            query.query = text
            return try opener.open(.query(.datamodel, id: id, query))
        case .plugin(let id, let config):
            // Parameters as the ABI gives them: each a list of strings.
            let request: [String: Any] = ["params": params, "batch_size": batchSize, "force_refresh": forceRefresh]
            let json = String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
            return try opener.open(.plugin(id: id, config: config, instance: "dataflow:\(flow.id)", request: json), onProgress: onProgress) { level, message in
                log(Self.level(level), id, message)
            }
        }
    }

    /// A plugin's log level as a run log's.
    private static func level(_ level: Int32) -> DataflowLog.Level {
        level >= GW_LOG_ERROR ? .error : level == GW_LOG_WARNING ? .warning : .info
    }

    /// Refusals of single rows written to the run's log, at most (the count covers all).
    static let rejectionsLogged = 1_000

    private func openTarget(
        _ spec: FlowPlan.Target, flow: Dataflow, context: InstanceContext, control: RunControl, label: String,
        log: @escaping FlowLog
    ) throws -> BatchSink {
        let gateway = try self.gateway
        switch spec {
        case .dataset(let id, let mode):
            guard let dataset = try gateway.datasets.dataset(id) else {
                throw FlowInputError("the target dataset '\(id)' is not defined (define it with PUT /admin/datasets/\(id))")
            }
            return try gateway.sinks().open(.datasetTable(dataset, mode: mode))
        case .export(let format, let title):
            return try gateway.exports.flowExportSink(title: title ?? flow.name, extType: format, userId: "dataflow:\(flow.id)", context: context)
        case .plugin(let id, let config):
            let logged = Mutex(0)
            // Its own state (accepted ids, say), apart from a source plugin's cursor.
            return try gateway.sinks().open(
                .plugin(
                    id: id, config: config, instance: "dataflow:\(flow.id):target", control: control,
                    onLog: { level, message in
                        log(Self.level(level), id, label + message)
                    }
                ) { row, reason in
                    let n = logged.withLock { n in
                        n += 1
                        return n
                    }
                    if n <= Self.rejectionsLogged {
                        log(.warning, "target", "\(label)row \(row) refused by '\(id)': \(reason)")
                    } else if n == Self.rejectionsLogged + 1 {
                        log(.warning, "target", "\(label)more rows refused by '\(id)': counted, not logged one by one")
                    }
                })
        }
    }

    /// A failure for people: what went wrong, and for a stopped run why it stopped.
    private func describe(_ error: Error, control: RunControl) -> String {
        switch control.stopReason {
        case .timeBudget(let seconds): return "the run took longer than its timeout of \(seconds) s"
        case .cancelled: return "cancelled by request"
        case .shutdown: return "interrupted by restart"
        case .clientGone, nil: break
        }
        return failureMessage(error)
    }
}

/// Thrown between batches when a run was stopped; the run's message says why.
struct RunStopped: Error {
    let reason: RunControl.Reason
}
