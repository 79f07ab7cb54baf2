import Foundation

/// One write into a dataset by a seed-000 client (a push or an upload): who signed it, who
/// that visitor is (`auth.visitorIdentities`), and what it wrote. Kept 90 days.
public struct DatasetWrite: Sendable, Equatable {
    public enum Kind: String, Sendable { case push, upload }

    public let datasetId: String
    public let visitor: String
    /// The identity the visitor is mapped to, or "" when it is not.
    public let identity: String
    public let kind: Kind
    public let rows: Int64
    /// `update=1`: rows were updated by key (and the rest added).
    public let update: Bool
    public let at: Date

    public init(datasetId: String, visitor: String, identity: String, kind: Kind, rows: Int64, update: Bool, at: Date) {
        self.datasetId = datasetId
        self.visitor = visitor
        self.identity = identity
        self.kind = kind
        self.rows = rows
        self.update = update
        self.at = at
    }
}
