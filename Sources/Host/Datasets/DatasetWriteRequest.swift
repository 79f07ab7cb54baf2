import Foundation

/// What every write into a dataset checks first, for pushes and uploads alike: the signed
/// token, the dataset, the visitor's right to write it, and the `update` mode.
struct DatasetWriteRequest {
    let dataset: Dataset
    let update: Bool

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
        return DatasetWriteRequest(dataset: dataset, update: try updateMode(field("update")))
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
