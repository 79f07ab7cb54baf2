import Foundation

// What the gateway keeps, as one protocol per domain. `SQLStore` implements them all, over
// one SQLite file (the embedded default) or a PostgreSQL database that several gateways
// share, with the same SQL (Tables/). No SQL is written outside `Store/`, except the read-only
// query engine over the datasets and the datasets' own tables (`Datasets/Tables/`).
//
// Every method is one transaction: a change that touches several rows (a flow with its
// children and tag, a run's end with its counts) happens whole or not at all. Times come
// from the store's clock unless a method takes one.

/// What every repository shares: the time rows are stamped with.
public protocol Repository: Sendable {
    var clock: any GatewayClock { get }
}

/// Bearer tokens (only their hashes) and the seed-000 signed tokens already used.
public protocol TokenRepository: Repository {
    func insertToken(_ token: ApiToken, hash: [UInt8]) throws
    /// The token stored under `hash`, with the hash as stored (compared in constant time).
    func token(hash: [UInt8]) throws -> (token: ApiToken, hash: [UInt8])?
    func tokens() throws -> [ApiToken]
    /// False when no active token has that id.
    func revokeToken(id: String, at time: Date) throws -> Bool
    /// Records a used signed token until it expires (forgetting the expired first); false
    /// when it was recorded already: a replay.
    func recordSignedToken(hash: [UInt8], expiresAtMillis: Int64, nowMillis: Int64) throws -> Bool
}

/// What an administrator defined through the admin API: datasets and data models.
public enum DefinitionKind: Sendable {
    case dataset, datamodel
}

/// Definitions as the JSON they were given in, by kind and id.
public protocol DefinitionRepository: Repository {
    func definition(_ kind: DefinitionKind, id: String) throws -> String?
    func definitions(_ kind: DefinitionKind) throws -> [(id: String, json: String)]
    func saveDefinition(_ kind: DefinitionKind, id: String, json: String) throws
    func deleteDefinition(_ kind: DefinitionKind, id: String) throws -> Bool
}

/// Seed 002's export tasks and their logs.
public protocol ExportTaskRepository: Repository {
    /// `sealedRequest`: the whole request, sealed, kept while the task runs so that another
    /// gateway can restart it ('' : it cannot be restarted).
    func insertTask(
        hashKey: String, requestHash: String, owner: String, userId: String, title: String, extType: String,
        sourceType: String, request: String, callback: String, sealedRequest: String
    ) throws -> ExportTask
    func task(hashKey: String) throws -> ExportTask?
    func task(requestHash: String) throws -> ExportTask?
    /// A user's tasks (nil: every user's) since a time, of one owner (nil: every owner's).
    func tasks(userId: String?, since: Date, owner: String?) throws -> [ExportTask]
    /// Tasks still processing that this gateway started (or no gateway in particular).
    func ownUnfinishedTasks() throws -> [ExportTask]
    func tasks(createdBefore: Date) throws -> [ExportTask]
    /// Progress of the task's attempt `attempt` (none once another gateway took it over).
    func updateProgress(taskId: Int64, attempt: Int64, done: Int64, total: Int64) throws
    /// Ends a task still processing (in its attempt `attempt`; nil: whichever runs it, as a
    /// cancel does); false when it had already ended, or another attempt runs it.
    func finishTask(id: Int64, status: ExportTask.Status, failReason: String, file: String, at time: Date?, attempt: Int64?) throws -> Bool
    func deleteTask(id: Int64) throws
    func logTask(id: Int64, _ message: String) throws
    func taskLogs(id: Int64) throws -> [String]
}

extension ExportTaskRepository {
    @discardableResult
    func finishTask(
        id: Int64, status: ExportTask.Status, failReason: String = "", file: String = "", at time: Date? = nil, attempt: Int64? = nil
    ) throws -> Bool {
        try finishTask(id: id, status: status, failReason: failReason, file: file, at: time, attempt: attempt)
    }

    func insertTask(
        hashKey: String, requestHash: String, owner: String, userId: String, title: String, extType: String,
        sourceType: String, request: String, callback: String
    ) throws -> ExportTask {
        try insertTask(
            hashKey: hashKey, requestHash: requestHash, owner: owner, userId: userId, title: title, extType: extType,
            sourceType: sourceType, request: request, callback: callback, sealedRequest: "")
    }
}

/// Seed 004's dataflows, tags, links between flows, runs and logs.
public protocol DataflowRepository: Repository {
    func dataflows(page: Int, pageSize: Int, search: String) throws -> (list: [Dataflow], total: Int)
    func dataflow(id: Int64) throws -> Dataflow?
    /// The active flows' ids and config revisions (the scheduler's tick reads only these).
    func activeRevisions() throws -> [(id: Int64, revision: Int64)]
    func activeConfig(id: Int64) throws -> (config: String, revision: Int64)?
    func activeDataflows() throws -> [Dataflow]
    func insertDataflow(_ new: NewFlow, enNameBase: String) throws -> Dataflow
    func updateDataflow(id: Int64, _ changes: FlowChanges) throws -> Dataflow?
    /// Throws `RunConflict` while the flow has a run pending or running.
    func deleteDataflow(id: Int64) throws -> Bool
    func children(of id: Int64) throws -> [DataflowRef]
    func parents(of id: Int64) throws -> [DataflowRef]
    func createTag(name: String) throws -> DataflowTag
    func tags() throws -> [DataflowTag]
    func tags(of flow: Int64) throws -> [DataflowTag]
    /// Starts a run (pending) unless one is pending or running already (`RunConflict`), or,
    /// for a scheduled run, unless its cron time has a run already (`TickTaken`): the store
    /// decides, so two gateways on one store cannot both start one.
    func insertRun(flow: Int64, trigger: String, params: String, now: Date?, scheduledFor: Date?) throws -> DataflowRun
    func run(executionId: String) throws -> DataflowRun?
    func latestRun(flow: Int64) throws -> DataflowRun?
    func runs(flow: Int64, page: Int, pageSize: Int) throws -> (list: [DataflowRun], total: Int)
    /// Runs pending or running that this gateway started (or no gateway in particular).
    func ownActiveRuns() throws -> [DataflowRun]
    func markRunning(run: Int64) throws
    /// Progress of the run's attempt `attempt` (none once another gateway took it over).
    func updateRunProgress(run: Int64, attempt: Int64, progress: Int, rowsRead: Int64, rowsWritten: Int64) throws
    /// Says the run's target is about to commit, while this gateway still runs attempt
    /// `attempt` of it; false when it does not (another gateway took the run over, or it
    /// ended): then the target must not commit. Once said, the run is never run again elsewhere.
    func beginCommit(run: Int64, attempt: Int64) throws -> Bool
    /// Sets a run's counts whatever its status: a run cancelled while it wrote learns what its
    /// target committed only once its thread has unwound.
    /// (Of its attempt `attempt`: a gateway that lost the run sets nothing.)
    func setRunCounts(run: Int64, attempt: Int64, rowsRead: Int64, rowsWritten: Int64, rowsRejected: Int64) throws
    /// Ends a run still pending or running (in its attempt `attempt`; nil: whichever runs
    /// it, as a cancel does); false when it had already ended, or another attempt runs it.
    func finishRun(
        run: Int64, status: DataflowRun.Status, error: String?, progress: Int?,
        rowsRead: Int64?, rowsWritten: Int64?, rowsRejected: Int64?, exportKey: String?, at time: Date?, attempt: Int64?
    ) throws -> Bool
    func setRunExport(run: Int64, key: String) throws
    func deleteRuns(before cutoff: Date) throws -> Int
    func logFlow(_ flow: Int64, run: Int64?, _ level: DataflowLog.Level, component: String, _ message: String) throws
    func flowLogs(
        _ flow: Int64, page: Int, pageSize: Int, level: DataflowLog.Level?, runId: Int64?, newestFirst: Bool
    ) throws
        -> (list: [DataflowLog], total: Int)
}

extension DataflowRepository {
    func insertRun(flow: Int64, trigger: String, params: String, now: Date? = nil, scheduledFor: Date? = nil) throws -> DataflowRun {
        try insertRun(flow: flow, trigger: trigger, params: params, now: now, scheduledFor: scheduledFor)
    }

    @discardableResult
    func finishRun(
        run: Int64, status: DataflowRun.Status, error: String? = nil, progress: Int? = nil,
        rowsRead: Int64? = nil, rowsWritten: Int64? = nil, rowsRejected: Int64? = nil, exportKey: String? = nil,
        at time: Date? = nil, attempt: Int64? = nil
    ) throws -> Bool {
        try finishRun(
            run: run, status: status, error: error, progress: progress, rowsRead: rowsRead, rowsWritten: rowsWritten,
            rowsRejected: rowsRejected, exportKey: exportKey, at: time, attempt: attempt)
    }
}

/// The claim each gateway holds on the tasks and runs it started (several gateways may
/// share a store). A claim lasts `leaseSeconds` from its start and is renewed by the gateway's
/// upkeep while it lives; a claim past its time is a gateway that stopped: the first other
/// gateway to see it takes the work over, once: as a new attempt it runs itself, or ended
/// failed ("interrupted: gateway … stopped") when it cannot run again. A gateway that comes
/// back finds its work taken: its writes name the old attempt and change nothing.
public protocol LeaseRepository: Repository {
    /// Extends this gateway's claims on its unfinished tasks and runs.
    func renewLeases() throws
    /// Takes over the unfinished tasks of other gateways whose claims passed: those with a
    /// sealed request and fewer than `maxAttempts` attempts become this gateway's next
    /// attempt (returned with the request, to restart); the others end failed.
    func takeOverTasks(maxAttempts: Int64) throws -> (failed: [ExportTask], restarted: [TakenOver<ExportTask>])
    /// Takes over the pending or running runs of other gateways whose claims passed: a
    /// run whose target had not begun to commit, with fewer than `maxAttempts` attempts,
    /// becomes this gateway's next attempt (pending again, counts reset); the others, and a
    /// child flow's step run (its parent runs it again), end failed.
    func takeOverRuns(maxAttempts: Int64) throws -> (failed: [DataflowRun], requeued: [TakenOver<DataflowRun>])
    /// Whether other gateways may use this store too (PostgreSQL).
    var sharedByGateways: Bool { get }
}

/// Work this gateway took over from one that stopped: now its own next attempt.
public struct TakenOver<Work: Sendable>: Sendable {
    public let work: Work
    /// The id of the gateway that stopped.
    public let stopped: String
    /// An export's request, sealed ('' for a run).
    public var sealedRequest = ""
}

/// What a plugin's instances on several gateways sharing the store coordinate through
/// (ABI 1.1 `shared_lock` and `pace`, see Plugins/PluginCoordination.swift).
public protocol CoordinationRepository: Repository {
    /// Takes the lock `key` for this gateway until `until`, unless another gateway holds it
    /// and its time has not passed; true when taken.
    func takeLock(_ key: String, until: Date) throws -> Bool
    func releaseLock(_ key: String) throws
    /// Extends every lock this gateway holds (its upkeep, while it lives).
    func renewLocks(until: Date) throws
    /// Reads the calls counted for `bucket` since `since`, asks `decide` how long the call
    /// at `now` must wait (0: it fits), and counts it when it fits: all in one transaction,
    /// which every gateway's call on the bucket waits its turn for. Returns the wait.
    func paceWindow(bucket: String, since: Double, now: Double, decide: ([Double]) -> Double) throws -> Double
    /// The calls counted for `bucket` since `since`, oldest first.
    func paceCalls(bucket: String, since: Double) throws -> [Double]
}

/// Plugins' persistent key/value state, per plugin and instance (the `state_*` and
/// `shared_state_*` host services).
public protocol PluginStateRepository: Repository {
    func pluginState(plugin: String, instance: String, key: String) throws -> [UInt8]?
    func setPluginState(plugin: String, instance: String, key: String, value: [UInt8]) throws
    func deletePluginState(plugin: String, instance: String, key: String) throws -> Bool
}

/// Everything one gateway keeps.
/// Who pushed or uploaded what into each dataset (`DatasetWrite`), newest first.
public protocol DatasetWriteRepository: Repository {
    func recordDatasetWrite(_ write: DatasetWrite) throws
    func datasetWrites(datasetId: String, limit: Int) throws -> [DatasetWrite]
}

public protocol GatewayStore: TokenRepository, DefinitionRepository, ExportTaskRepository, DataflowRepository, PluginStateRepository,
    LeaseRepository, CoordinationRepository, DatasetWriteRepository
{
    /// Closes the store's connections (at shutdown, after the jobs drained).
    func close() async
    /// "sqlite" or "postgres".
    var kind: String { get }
    /// Why the store could not be reached the last time it was tried; nil while it answers.
    var unreachable: String? { get }
}
