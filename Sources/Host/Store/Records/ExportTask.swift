import Foundation

/// One export task as seed 002 shows it (`/v1/export/detail`, `/v1/export/history`).
public struct ExportTask: Sendable, Equatable {
    public enum Status: Int, Sendable {
        case processing = 1, success = 2, failed = 3, cancelled = 4
    }

    public let id: Int64
    public let hashKey: String
    public let userId: String
    public let title: String
    public let extType: String
    public let sourceType: String
    public let request: String
    public let callback: String
    public var status: Status
    public var failReason: String
    public var progressDone: Int64
    public var progressTotal: Int64
    public var file: String
    public let createdAt: Date
    public var finishedAt: Date?
    /// The id of the token that made the task ('' when exports need no token).
    public let owner: String
    /// The id of the gateway running it (`gateway.id`; several gateways share a store).
    public var gateway = ""
    /// 1, and one more each time another gateway took the task over from one that stopped.
    public var attempt: Int64 = 1
}
