import Foundation

/// A dataflow as seed 004 describes it: a named, described flow whose `config` says what a
/// run does (see `FlowPlan`), linked to tags and to child flows.
public struct Dataflow: Sendable, Equatable {
    public let id: Int64
    public var name: String
    public var enName: String
    public var description: String
    /// "active" (its schedule runs) or "inactive".
    public var status: String
    public var createdBy: String
    /// The JSON object the client gave, as text, exactly as stored.
    public var config: String
    public let createdAt: Date
    public var updatedAt: Date
    /// Who its runs read as: the identity that last created or changed it (nil: none, as
    /// with `dataflows.requireToken` off, or a flow from before identities were kept).
    public var runAs: Identity?

    public static let statuses = ["active", "inactive"]

    /// A stored config is at most this much JSON: the scheduler and every run read it, and
    /// pages of flows show it.
    public static let maxConfigBytes = 256 << 10
    /// An execute's `params` likewise: every run keeps them, and pages of runs show them.
    public static let maxParamsBytes = 64 << 10
}

/// One run of a flow: started by `execute-dataflow` or by its schedule.
public struct DataflowRun: Sendable, Equatable {
    public enum Status: String, Sendable {
        case pending, running, completed, failed, cancelled
        public var isActive: Bool { self == .pending || self == .running }
    }

    public let id: Int64
    public let executionId: String
    public let dataflowId: Int64
    public var status: Status
    /// "manual" or "schedule".
    public let trigger: String
    /// The execute call's `params` object, as JSON text.
    public let params: String
    public var progress: Int
    public var rowsRead: Int64
    public var rowsWritten: Int64
    public var errorMessage: String?
    /// The export task holding the run's file, for flows whose target is an export.
    public var exportKey: String
    public let startedAt: Date
    public var completedAt: Date?
    /// Rows a sink plugin's destination refused one by one (not counted as written).
    public var rowsRejected: Int64 = 0
    /// The id of the gateway running it (`gateway.id`; several gateways share a store).
    public var gateway = ""
    /// 1, and one more each time another gateway took the run over from one that stopped.
    public var attempt: Int64 = 1
}

/// One line of a flow's log.
public struct DataflowLog: Sendable, Equatable {
    public enum Level: String, Sendable, CaseIterable {
        case info = "INFO", warning = "WARNING", error = "ERROR"
    }

    public let id: Int64
    public let runId: Int64?
    public let at: Date
    public let level: Level
    public let component: String
    public let message: String
}

/// A tag flows are grouped by.
public struct DataflowTag: Sendable, Equatable, Encodable {
    public let id: Int64
    public let name: String
}

/// A flow as another flow's child or parent: id and name.
public struct DataflowRef: Sendable, Equatable, Encodable {
    public let id: Int64
    public let name: String
}

/// A flow to create (`add-dataflow`).
public struct NewFlow: Sendable {
    public var name: String
    public var description: String
    public var status: String
    public var createdBy: String
    public var config: String
    public var childrenIds: [Int64]
    public var tagId: Int64?
    public var runAs: Identity?

    public init(
        name: String, description: String, status: String, createdBy: String, config: String, childrenIds: [Int64], tagId: Int64? = nil,
        runAs: Identity? = nil
    ) {
        (self.name, self.description, self.status, self.createdBy, self.config, self.childrenIds, self.tagId, self.runAs) =
            (name, description, status, createdBy, config, childrenIds, tagId, runAs)
    }
}

/// The fields an `update-dataflow` changes; nil leaves one as it is.
public struct FlowChanges: Sendable {
    public init(
        name: String? = nil, description: String? = nil, status: String? = nil, config: String? = nil,
        childrenIds: [Int64]? = nil, tagId: Int64? = nil
    ) {
        (self.name, self.description, self.status, self.config, self.childrenIds, self.tagId) =
            (name, description, status, config, childrenIds, tagId)
    }
    public var name: String?
    public var description: String?
    public var status: String?
    public var config: String?
    public var childrenIds: [Int64]?
    public var tagId: Int64?
    /// Who made the change (nil: no identity): the flow's runs read as them from now on.
    public var runAs: Identity?
}

/// The run already pending or running for a flow, when another is asked for.
public struct RunConflict: Error, Sendable {
    public let executionId: String
}

/// A scheduled time that has its run already (started by another gateway sharing the store).
public struct TickTaken: Error, Sendable {
    public let executionId: String
}
