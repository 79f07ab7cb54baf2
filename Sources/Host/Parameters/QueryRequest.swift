import Foundation
import PluginKit

/// What a query asks of its source, however it came: an HTTP request (seed 001's GET with
/// `$name=value` and options, or POST with a JSON body; read by
/// `APIs/Query/QueryRequest+HTTP.swift`) or a dataflow run's params.
struct QueryRequest: Sendable {
    enum MissParameterHandle: String, Sendable { case `default` = "Default", error = "Error" }

    var format: String = "json"
    var queryType: String?
    var query: String?
    /// A POST's `Query` given as a JSON object (a data model query) rather than text.
    var queryDocument: OrderedJSON?
    /// Parameter values by name, as given (qualified names like `endpoint1.p1` kept whole).
    var parameters: [String: [String]] = [:]
    var rowLimit: Int?
    /// The endpoint of a datasource with several (`http.json`): `?endpoint=orders`.
    var endpoint: String?
    /// A dataflow run's `force_refresh`, passed on to a datasource plugin (see RunParams).
    var forceRefresh = false
    var unknownTypes: UnknownTypeHandle = .ignore
    var missParameter: MissParameterHandle = .default
    /// Who asks: context parameters read its claims. Nil for a request let in without a
    /// credential, and for a dataflow's run.
    var identity: Identity?

    /// A query's body is a few parameters: a megabyte is plenty.
    static let maxBodyBytes = 1 << 20
    /// Parameter values in all (each becomes an SQL variable).
    static let maxValues = 10_000

    /// The values of parameter `name`: given plainly, or qualified as `qualifier.name`.
    func values(of name: String, qualifier: String? = nil) -> [String]? {
        if let qualifier, let v = parameters["\(qualifier).\(name)"] { return v }
        return parameters[name]
    }
}
