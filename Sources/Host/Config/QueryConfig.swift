import Foundation
import PluginKit

/// A named, parameterized query over the datasets file: a dataset of seed 001's "direct"
/// kind. Parameters appear in the SQL as `:name` and are always bound, never spliced.
public struct NamedQuery: Codable, Sendable, Equatable {
    public struct Parameter: Codable, Sendable, Equatable {
        /// Used when the request does not give the parameter (MissParameterHandle=Default).
        public var `default`: [String]?
        /// Several values: bound as a JSON array, for `IN (SELECT value FROM json_each(:name))`.
        public var multi: Bool
        /// Seed 001's context parameter: bound from the caller's identity (`user.region`
        /// reads its claim `region`, `org.id` its claim `org.id`), never from the request.
        public var context: String?

        public init(default: [String]? = nil, multi: Bool = false, context: String? = nil) {
            self.default = `default`
            self.multi = multi
            self.context = context
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let one = try? c.decodeIfPresent(String.self, forKey: .default) {
                `default` = [one]
            } else {
                `default` = try c.decodeIfPresent([String].self, forKey: .default)
            }
            multi = try c.decodeIfPresent(Bool.self, forKey: .multi) ?? false
            context = try c.decodeIfPresent(String.self, forKey: .context)
            if let context {
                guard ContextName(context) != nil else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .context, in: c, debugDescription: "a context parameter reads user.<claim> or org.<name>, not '\(context.prefix(100))'")
                }
                guard `default` == nil else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .default, in: c, debugDescription: "a context parameter ('\(context)') takes no default: its value is the caller's")
                }
            }
        }

        enum CodingKeys: String, CodingKey { case `default`, multi, context }
    }

    public var sql: String
    public var parameters: [String: Parameter]
    /// Row-level security on what the query returns: output column → context
    /// (`{"region": "user.regions"}`); only rows whose column is one of the caller's claim
    /// values come out, here and wherever a data model reads the query (ContextRowFilter).
    public var rowFilter: [String: String]

    public init(sql: String, parameters: [String: Parameter] = [:], rowFilter: [String: String] = [:]) {
        self.sql = sql
        self.parameters = parameters
        self.rowFilter = rowFilter
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sql = try c.decode(String.self, forKey: .sql)
        parameters = try c.decodeIfPresent([String: Parameter].self, forKey: .parameters) ?? [:]
        rowFilter = try c.decodeIfPresent([String: String].self, forKey: .rowFilter) ?? [:]
        if let problem = RowFilterDeclaration.problem(rowFilter) {
            throw DecodingError.dataCorruptedError(forKey: .rowFilter, in: c, debugDescription: problem)
        }
        for name in parameters.keys where RowFilterDeclaration.isFilterParameter(name) {
            throw DecodingError.dataCorruptedError(
                forKey: .parameters, in: c, debugDescription: "parameter '\(name)': names starting \(RowFilterDeclaration.parameterPrefix) are the row filters'"
            )
        }
    }

    enum CodingKeys: String, CodingKey { case sql, parameters, rowFilter }
}

/// A datasource served by a source plugin instance.
public struct DatasourceDefinition: Codable, Sendable, Equatable {
    /// The plugin's id, e.g. "jushuitan.orders".
    public var plugin: String
    /// The instance configuration, passed to the plugin as JSON.
    public var config: JSONValue

    public init(plugin: String, config: JSONValue = .object([:])) {
        self.plugin = plugin
        self.config = config
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        plugin = try c.decode(String.self, forKey: .plugin)
        config = try c.decodeIfPresent(JSONValue.self, forKey: .config) ?? .object([:])
    }

    enum CodingKeys: String, CodingKey { case plugin, config }
}
