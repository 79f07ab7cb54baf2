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

/// The times of seed 004: `2023-12-01 10:00:00` for a flow's own dates, and
/// `2023-12-01T16:00:00` for runs and logs, in the server's time zone, as the doc shows them.
enum FlowTimes {
    static func plain(_ date: Date) -> String { format(date, separator: " ") }
    static func iso(_ date: Date) -> String { format(date, separator: "T") }

    private static func format(_ date: Date, separator: String) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone.current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d-%02d-%02d%@%02d:%02d:%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0, separator,
                      c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }
}
