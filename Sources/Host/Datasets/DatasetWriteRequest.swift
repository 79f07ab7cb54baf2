import Foundation
import Logging

/// What every write into a dataset checks first, for pushes and uploads alike: the signed
/// token, the dataset, the visitor's right to write it, and the `update` mode.
struct DatasetWriteRequest {
    let dataset: Dataset
    let update: Bool
    /// Who signed it, and who that is (`auth.visitorIdentities`, "" when unmapped).
    let visitor: String
    let identity: String

    /// `field` reads one request field by name.
    static func authorize(_ field: (String) -> String?, gateway: Gateway) throws -> DatasetWriteRequest {
        let visitor = field("visitor") ?? "", type = field("type") ?? ""
        try gateway.signedTokens.verify(
            visitor: visitor, type: type, stamp: field("stamp") ?? "", token: field("token") ?? "",
            key: gateway.config.auth.signedKeys[visitor])
        guard let dataset = try gateway.datasets.dataset(type) else {
            throw GatewayError.notFound("unknown dataset '\(type)'")
        }
        guard dataset.visitors.isEmpty || dataset.visitors.contains(visitor) else {
            throw GatewayError.forbidden("visitor '\(visitor)' may not write dataset '\(type)'")
        }
        return DatasetWriteRequest(
            dataset: dataset, update: try updateMode(field("update")), visitor: visitor,
            identity: gateway.config.auth.visitorIdentities[visitor] ?? "")
    }

    /// Records who wrote what (the rows are committed already: a failure to record is
    /// logged, never turned into a failed write the client would send again).
    func record(_ kind: DatasetWrite.Kind, rows: Int, update: Bool, gateway: Gateway, logger: Logger) async {
        let write = DatasetWrite(
            datasetId: dataset.id, visitor: visitor, identity: identity, kind: kind, rows: Int64(rows), update: update, at: gateway.clock.now)
        do {
            try await Workers.run { try gateway.store.recordDatasetWrite(write) }
        } catch {
            logger.error("the \(kind.rawValue) of \(rows) rows into dataset '\(dataset.id)' by '\(visitor)' is written but not recorded: \(error)")
        }
    }

    /// The `update` field: 0 (or absent) adds rows, 1 updates rows by key and adds the rest.
    static func updateMode(_ value: String?) throws -> Bool {
        switch value ?? "0" {
        case "0", "": false
        case "1": true
        default: throw GatewayError.badRequest("update must be 0 (add rows) or 1 (update rows by key, add the rest)")
        }
    }
}
