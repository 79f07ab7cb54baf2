import Foundation
import PluginKit

/// http.writer's configuration, as an administrator or a flow gives it (see docs/http-writer.md).
struct WriterConfig: Decodable, Sendable {
    struct Body: Decodable, Sendable {
        /// Wrap the rows under this key of an object (absent: the body is the JSON array).
        var wrap: String?
        /// Fixed fields beside the wrapped array.
        var extra: [String: JSONScalar]?
    }

    /// How a reply says the batch was taken: its HTTP status is 2xx, and, when `field` is
    /// given, the reply's JSON value at that dotted path equals `equals`.
    struct Success: Decodable, Sendable {
        var field: String?
        var equals: JSONScalar?
    }

    /// Where a successful reply lists the rows the destination refused one by one: an array
    /// at `field` of objects naming the row by its position in the request (`index`) and why
    /// (`reason`).
    struct Rejected: Decodable, Sendable {
        var field: String
        var index: String?
        var reason: String?
    }

    var url: String
    var method: String?
    var headers: [String: String]?
    var secretHeaders: [String: String]?
    var body: Body?
    var batchSize: Int?
    var rowsPerSecond: Int?
    var success: Success?
    var rejected: Rejected?
    var idCheck: String?
    var retries: Int?
    var backoffMs: Int?
    var timeoutMs: Int?

    enum CodingKeys: String, CodingKey {
        case url, method, headers, body, success, rejected, retries
        case secretHeaders = "secret_headers", batchSize = "batch_size", rowsPerSecond = "rows_per_second"
        case idCheck = "id_check", backoffMs = "backoff_ms", timeoutMs = "timeout_ms"
    }

    static let schema = """
        {"type":"object","required":["url"],"properties":{
        "url":{"type":"string","description":"absolute http(s) URL the batches are sent to"},
        "method":{"type":"string","enum":["POST","PUT","PATCH"],"default":"POST"},
        "headers":{"type":"object","additionalProperties":{"type":"string"}},
        "secret_headers":{"type":"object","additionalProperties":{"type":"string"},"secret":true,"description":"headers holding credentials: never logged or returned"},
        "body":{"type":"object","properties":{"wrap":{"type":"string"},"extra":{"type":"object"}}},
        "batch_size":{"type":"integer","minimum":1,"maximum":100000,"default":1000},
        "rows_per_second":{"type":"integer","minimum":0,"default":0,"description":"0: no limit"},
        "success":{"type":"object","properties":{"field":{"type":"string"},"equals":{}}},
        "rejected":{"type":"object","required":["field"],"properties":{"field":{"type":"string"},"index":{"type":"string","default":"index"},"reason":{"type":"string","default":"reason"}}},
        "id_check":{"type":"string","description":"column whose value identifies a row: a row whose id was accepted before is never sent again"},
        "retries":{"type":"integer","minimum":0,"maximum":100,"default":5},
        "backoff_ms":{"type":"integer","minimum":0,"maximum":600000,"default":500},
        "timeout_ms":{"type":"integer","minimum":1,"maximum":3600000,"default":30000}}}
        """

    /// Checks every value; the messages name the field.
    func validated() throws -> WriterConfig {
        guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil else {
            throw PluginError.invalidConfig("'url' must be an absolute http(s) URL")
        }
        guard ["POST", "PUT", "PATCH"].contains((method ?? "POST").uppercased()) else {
            throw PluginError.invalidConfig("'method' must be POST, PUT or PATCH")
        }
        guard (1...100_000).contains(batchSize ?? 1000) else { throw PluginError.invalidConfig("'batch_size' must be 1 to 100000") }
        guard (0...1_000_000).contains(rowsPerSecond ?? 0) else { throw PluginError.invalidConfig("'rows_per_second' must be 0 to 1000000") }
        guard (0...100).contains(retries ?? 5), (0...600_000).contains(backoffMs ?? 500), (1...3_600_000).contains(timeoutMs ?? 30_000) else {
            throw PluginError.invalidConfig("'retries' must be 0 to 100, 'backoff_ms' 0 to 600000 and 'timeout_ms' 1 to 3600000")
        }
        if let wrap = body?.wrap, wrap.isEmpty { throw PluginError.invalidConfig("'body.wrap' must not be empty") }
        if body?.wrap == nil, !(body?.extra ?? [:]).isEmpty {
            throw PluginError.invalidConfig("'body.extra' needs 'body.wrap': a JSON array has no room for other fields")
        }
        if success?.field != nil && success?.equals == nil { throw PluginError.invalidConfig("'success.field' needs 'success.equals'") }
        if let idCheck, idCheck.isEmpty { throw PluginError.invalidConfig("'id_check' must name a column") }
        for name in Array((headers ?? [:]).keys) + Array((secretHeaders ?? [:]).keys) {
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
                throw PluginError.invalidConfig("header name '\(name)' is not a valid HTTP header name")
            }
        }
        return self
    }
}
