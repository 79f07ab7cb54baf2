import Foundation
import PluginKit

/// The manifest an administrator writes for `http.json` (docs/http-json.md): a connection
/// (base URL, headers, secrets, authentication, signing, limits, how an error body looks)
/// and its endpoints. Read from the instance config; `Connector` checks it as a whole.
struct Manifest: Decodable {
    var baseUrl: String
    var headers: [String: String]?
    /// Headers whose values are credentials: sent, never logged nor shown.
    var secretHeaders: [String: String]?
    /// Values templates read as `{secrets.name}` (a signing key, a client secret).
    var secrets: [String: String]?
    var timeoutMs: Int?
    var retries: Int?
    var backoffMs: Int?
    var rateLimit: RateLimit?
    var auth: AuthSpec?
    var signature: SignatureSpec?
    var error: ErrorSpec?
    /// The most pages one read may fetch: a read past it fails (an API that never stops).
    var maxPages: Int?
    var concurrency: Int?
    var endpoints: [String: EndpointSpec]
    /// The endpoint a query that names none reads (default: the only one).
    var defaultEndpoint: String?

    enum CodingKeys: String, CodingKey {
        case baseUrl = "base_url", headers, secretHeaders = "secret_headers", secrets, timeoutMs = "timeout_ms", retries
        case backoffMs = "backoff_ms", rateLimit = "rate_limit", auth, signature, error, maxPages = "max_pages", concurrency
        case endpoints, defaultEndpoint = "default_endpoint"
    }
}

struct RateLimit: Decodable {
    var perSecond: Int?
    var perMinute: Int?
    /// Instances pacing on one bucket share its limits (default: the base URL's host).
    var bucket: String?

    enum CodingKeys: String, CodingKey { case perSecond = "per_second", perMinute = "per_minute", bucket }
}

/// A 200 whose body says it failed: `{"code": 100, "msg": "token expired"}`.
struct ErrorSpec: Decodable {
    /// Where the body says how it went (`code`, `data.status`).
    var path: String
    /// The values meaning success; any other value is an error. A body without the path is
    /// a success.
    var ok: [JSONScalar]
    var messagePath: String?
    /// Values meaning "too many requests": waited out and retried, like HTTP 429.
    var retry: [JSONScalar]?
    /// Values meaning "the token is no longer good": refreshed once and retried, like 401.
    var reauth: [JSONScalar]?

    enum CodingKeys: String, CodingKey { case path, ok, messagePath = "message_path", retry, reauth }
}

struct ParameterSpec: Decodable {
    enum Kind: String, Decodable { case string, integer, number, boolean, date, datetime }
    var type: Kind?
    var required: Bool?
    var `default`: [JSONScalar]?
    var multi: Bool?
    /// The values it may take.
    var values: [String]?

    enum CodingKeys: String, CodingKey { case type, required, `default`, multi, values }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decodeIfPresent(Kind.self, forKey: .type)
        required = try c.decodeIfPresent(Bool.self, forKey: .required)
        if let one = try? c.decodeIfPresent(JSONScalar.self, forKey: .default) {
            `default` = [one]
        } else {
            `default` = try c.decodeIfPresent([JSONScalar].self, forKey: .default)
        }
        multi = try c.decodeIfPresent(Bool.self, forKey: .multi)
        values = try c.decodeIfPresent([String].self, forKey: .values)
    }
}

struct PaginationSpec: Decodable {
    enum Kind: String, Decodable {
        /// No paging: one request.
        case none
        /// `{page}` counts from `start` (default 1), `{limit}` is `size`.
        case page
        /// `{offset}` counts records from 0 by `size`, `{limit}` is `size`.
        case offset
        /// `{cursor}` is read from each reply at `cursor_path`; empty on the first request.
        case cursor
        /// The next request is the URL found at `next_path` (or in the `Link` header).
        case nextLink = "next_link"
        /// Seed 002's convention: `data.pagetag.total_page` (or `total` and `limit`) says
        /// how many pages; `{page}` from 1, `{limit}` is `size`.
        case pagetag
    }
    var type: Kind
    var start: Int?
    var size: Int?
    var cursorPath: String?
    /// Where the next link is; absent with `next_link`: the `Link` header's `rel="next"`.
    var nextPath: String?
    /// A boolean that is false on the last page.
    var hasMorePath: String?
    var totalPagesPath: String?
    var totalPath: String?

    enum CodingKeys: String, CodingKey {
        case type, start, size, cursorPath = "cursor_path", nextPath = "next_path", hasMorePath = "has_more_path"
        case totalPagesPath = "total_pages_path", totalPath = "total_path"
    }
}

struct RecordsSpec: Decodable {
    /// Where the rows are in a reply (`data.list`); empty: the reply itself.
    var path: String?
    /// The rows are arrays whose first row (on every page) names the columns (seed 002).
    var headerRow: Bool?
    /// Nested objects become columns named with this between the parts (default ".").
    var separator: String?
    /// Arrays inside a record: kept as JSON text ("json", the default) or dropped.
    var arrays: String?
    /// Column (its name after flattening) → int64 | float64 | bool | utf8 | timestamp.
    var types: [String: String]?
    var rename: [String: String]?
    var drop: [String]?
    /// The columns, in this order; default: those of the first page.
    var select: [String]?
    /// A reply without the path is an error, unless this says it means no rows.
    var missingIsEmpty: Bool?

    enum CodingKeys: String, CodingKey {
        case path, headerRow = "header_row", separator, arrays, types, rename, drop, select, missingIsEmpty = "missing_is_empty"
    }
}

struct IncrementalSpec: Decodable {
    enum Kind: String, Decodable { case time, id }
    /// The record field the cursor follows.
    var field: String
    var kind: Kind?
    /// Where the first read starts (a time, or an id) while no cursor is saved.
    var start: String
    /// How times are written: "iso8601" (default), "unix", "unix_ms" or a pattern such as
    /// "yyyy-MM-dd HH:mm:ss".
    var format: String?
    /// The zone of a pattern's times ("+08:00"; default UTC).
    var timezone: String?
    /// Each read starts this far before the saved cursor (late writes are read again).
    var lookbackSeconds: Int?
    /// A read ends this far behind now.
    var lagSeconds: Int?
    /// Reads the range in windows of at most this long (APIs that limit a query's span).
    var stepSeconds: Int?

    enum CodingKeys: String, CodingKey {
        case field, kind, start, format, timezone, lookbackSeconds = "lookback_seconds", lagSeconds = "lag_seconds"
        case stepSeconds = "step_seconds"
    }
}

struct EndpointSpec: Decodable {
    var method: String?
    /// Appended to the base URL; `{name}` parts are filled in (and percent-encoded).
    var path: String
    var query: [String: JSONValue]?
    var body: JSONValue?
    /// "json" (default) or "form" (an object or array value is sent as its JSON text).
    var bodyFormat: String?
    var headers: [String: String]?
    var parameters: [String: ParameterSpec]?
    var pagination: PaginationSpec?
    var records: RecordsSpec?
    /// A record's id: a record seen again in one read is dropped.
    var primaryKey: String?
    var incremental: IncrementalSpec?
    var error: ErrorSpec?

    enum CodingKeys: String, CodingKey {
        case method, path, query, body, bodyFormat = "body_format", headers, parameters, pagination, records
        case primaryKey = "primary_key", incremental, error
    }
}
