import Foundation

/// The JSON configuration of one instance (or the JSON request of one read). Decode it into
/// your own Decodable type; a decoding failure becomes GW_INVALID_CONFIG naming the field.
public struct PluginConfig: Sendable {
    public let json: Data

    public init(json: Data) { self.json = json }

    public init(_ pointer: UnsafePointer<CChar>?, length: Int) {
        guard let pointer, length > 0 else {
            json = Data("{}".utf8)
            return
        }
        json = Data(bytes: pointer, count: length)
    }

    public func decode<T: Decodable>(_ type: T.Type, status: gw_status = GW_INVALID_CONFIG) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: json)
        } catch let error as DecodingError {
            throw PluginError(status: status, PluginConfig.describe(error))
        } catch {
            throw PluginError(status: status, "not valid JSON: \(error)")
        }
    }

    /// One line naming the field and what is wrong with it.
    public static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            let p = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "the document" : "'\(p)'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing required field \(path(context.codingPath + [key]))"
        case .typeMismatch(let type, let context):
            return "field \(path(context.codingPath)) must be \(describe(type))"
        case .valueNotFound(let type, let context):
            return "field \(path(context.codingPath)) must be \(describe(type)), not null"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "not valid JSON" }
            return "field \(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is Bool.Type: "true or false"
        default: "of type \(type)"
        }
    }
}

import PluginABI

/// What a source is asked to read; see gw_source_vtable.read in gateway_plugin.h.
public struct ReadRequest: Decodable, Sendable {
    public var params: [String: [String]]
    public var query: String?
    public var queryType: String?
    public var rowLimit: Int?
    public var file: String?
    /// A dataflow run's `force_refresh`: an incremental source reads from its configured
    /// start, not from its saved cursor.
    public var forceRefresh = false
    /// The endpoint of a datasource with several (`?endpoint=orders`), when the request names one.
    public var endpoint: String?

    enum CodingKeys: String, CodingKey {
        case params, query, queryType = "query_type", rowLimit = "row_limit", file, forceRefresh = "force_refresh", endpoint
    }

    public init(
        params: [String: [String]] = [:], query: String? = nil, queryType: String? = nil,
        rowLimit: Int? = nil, file: String? = nil
    ) {
        self.params = params
        self.query = query
        self.queryType = queryType
        self.rowLimit = rowLimit
        self.file = file
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        params = try c.decodeIfPresent([String: [String]].self, forKey: .params) ?? [:]
        query = try c.decodeIfPresent(String.self, forKey: .query)
        queryType = try c.decodeIfPresent(String.self, forKey: .queryType)
        rowLimit = try c.decodeIfPresent(Int.self, forKey: .rowLimit)
        file = try c.decodeIfPresent(String.self, forKey: .file)
        forceRefresh = try c.decodeIfPresent(Bool.self, forKey: .forceRefresh) ?? false
        endpoint = try c.decodeIfPresent(String.self, forKey: .endpoint)
    }

    /// The first value of a parameter, if given.
    public func param(_ name: String) -> String? { params[name]?.first }
}
