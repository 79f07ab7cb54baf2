import Foundation
import PluginABI
import PluginKit

/// The instance configuration. Credentials are marked secret in the schema.
struct ConnectorConfig: Decodable {
    struct Orders: Decodable {
        /// First modification time to pull ("2026-11-01 00:00:00"), when no cursor is saved yet.
        var start: String
        /// Last one; default: now minus `lag_seconds`.
        var end: String?
        /// Without `end`, a pull stops this far behind now (default 60), for writes that
        /// the platform makes visible late.
        var lagSeconds: Int?
        /// One row per order item instead of one per order.
        var items: Bool?
        var pageSize: Int?

        enum CodingKeys: String, CodingKey { case start, end, items, pageSize = "page_size", lagSeconds = "lag_seconds" }
    }

    /// Another paginated API, described as seed 003's metadata does.
    struct Endpoint: Decodable {
        struct Pagination: Decodable { var pageSize: Int? }
        var api: String
        var method: String?
        /// The field of `data` that holds the records.
        var number: String
        /// The records' id field, for idCheck.
        var id: String?
        var pagination: Pagination?
        var idCheck: Bool?
        /// Fixed biz parameters sent with every page.
        var biz: [String: JSONScalar]?
    }

    struct Fields: Decodable {
        /// Source name (dotted for nested fields) → column name.
        var rename: [String: String]?
        /// Columns to keep, by source name, in this order; default: the first page's fields.
        var select: [String]?
        /// Source name → int64 | float64 | bool | utf8 | timestamp.
        var types: [String: String]?
        /// Fields whose values are arrays or objects: "string" keeps them as JSON text, "drop" drops them.
        var unknown: String?
    }

    var baseUrl: String?
    var appKey: String
    var appSecret: String
    var accessToken: String
    var refreshToken: String
    var stream: String?
    var orders: Orders?
    var endpoint: Endpoint?
    var fields: Fields?
    var perSecond: Int?
    var perMinute: Int?

    enum CodingKeys: String, CodingKey {
        case baseUrl = "base_url", appKey = "app_key", appSecret = "app_secret", accessToken = "access_token"
        case refreshToken = "refresh_token", stream, orders, endpoint, fields, perSecond = "per_second", perMinute = "per_minute"
    }
}

final class JushuitanSource: SourceInstance {
    let config: ConnectorConfig
    let platform: OpenPlatform
    let host: HostServices
    /// The window end the last read reached, committed by finish().
    private var pendingCursor: String?

    static let maxWindow: TimeInterval = 7 * 86_400

    init(config: PluginConfig, host: HostServices) throws {
        let c = try config.decode(ConnectorConfig.self)
        let stream = c.stream ?? (c.endpoint == nil ? "orders" : "endpoint")
        guard stream == "orders" || stream == "endpoint" else { throw PluginError.invalidConfig("'stream' must be orders or endpoint") }
        if stream == "orders" {
            guard let orders = c.orders else { throw PluginError.invalidConfig("the orders stream needs 'orders' with a 'start'") }
            guard Times.parse(orders.start) != nil else { throw PluginError.invalidConfig("'orders.start' must be \"YYYY-MM-DD HH:MM:SS\"") }
            if let end = orders.end, Times.parse(end) == nil { throw PluginError.invalidConfig("'orders.end' must be \"YYYY-MM-DD HH:MM:SS\"") }
            guard (1...100).contains(orders.pageSize ?? 50) else { throw PluginError.invalidConfig("'orders.page_size' must be 1 to 100") }
        } else {
            guard let endpoint = c.endpoint else { throw PluginError.invalidConfig("the endpoint stream needs 'endpoint'") }
            guard endpoint.api.hasPrefix("/") else { throw PluginError.invalidConfig("'endpoint.api' must be a path such as /open/…") }
        }
        guard !c.appKey.isEmpty, !c.appSecret.isEmpty else { throw PluginError.invalidConfig("'app_key' and 'app_secret' are required") }
        let base = c.baseUrl ?? "https://openapi.jushuitan.com"
        guard let url = URL(string: base), url.scheme == "https" || url.scheme == "http" else {
            throw PluginError.invalidConfig("'base_url' must be an http(s) URL")
        }
        self.config = c
        self.host = host
        platform = OpenPlatform(
            baseURL: base.hasSuffix("/") ? String(base.dropLast()) : base, appKey: c.appKey, appSecret: c.appSecret,
            initialTokens: .init(accessToken: c.accessToken, refreshToken: c.refreshToken, expiresAt: 0),
            perSecond: UInt32(clamping: c.perSecond ?? 5), perMinute: UInt32(clamping: c.perMinute ?? 100), host: host)
    }

    var isOrders: Bool { (config.stream ?? (config.endpoint == nil ? "orders" : "endpoint")) == "orders" }

    func read(_ request: ReadRequest) throws -> BatchProducer {
        let pages: RecordPages
        if isOrders, let orders = config.orders {
            // force_refresh (a dataflow run's option) reads from orders.start again.
            let saved = request.forceRefresh ? nil : try host.state("cursor").map { String(decoding: $0, as: UTF8.self) }
            guard var start = Times.parse(saved ?? orders.start) else {
                throw PluginError(
                    status: GW_INTERNAL,
                    "the saved cursor '\(saved ?? orders.start)' is not a time; delete the instance's 'cursor' state to start from orders.start")
            }
            var end = orders.end.flatMap(Times.parse) ?? Date().addingTimeInterval(-Double(max(0, min(orders.lagSeconds ?? 60, 86_400))))
            // A date window (params start_date / end_date: "2023-12-01" or "2023-12-01 08:00:00")
            // reads those modification times and leaves the cursor where it was: a backfill.
            let windowStart = try request.param("start_date").map { try Times.window($0, "start_date", endOfDay: false) }
            let windowEnd = try request.param("end_date").map { try Times.window($0, "end_date", endOfDay: true) }
            if let windowStart { start = windowStart }
            if let windowEnd { end = windowEnd }
            guard start <= end else {
                throw PluginError(status: GW_INVALID_ARGUMENT, "start_date \(Times.format(start)) is after end_date \(Times.format(end))")
            }
            pages = OrderPages(
                platform: platform, from: start, to: end, pageSize: orders.pageSize ?? 50,
                items: orders.items ?? false, host: host)
            pendingCursor = windowStart == nil && windowEnd == nil ? Times.format(end) : nil
        } else {
            pages = EndpointPages(platform: platform, endpoint: config.endpoint!)
            pendingCursor = nil
        }
        let idField = isOrders ? (config.orders?.items == true ? nil : "o_id") : (config.endpoint?.idCheck == true ? config.endpoint?.id : nil)
        return try RecordProducer.make(pages: pages, fields: config.fields ?? .init(), idField: idField, rowLimit: request.rowLimit)
    }

    /// The rows of the last read were stored: the next read starts where it ended.
    func finish() throws {
        guard let cursor = pendingCursor else { return }
        try host.setState("cursor", Array(cursor.utf8))
        pendingCursor = nil
    }
}

/// Pages of records from the platform; nil when there are no more.
protocol RecordPages: AnyObject {
    func next() throws -> [OrderedJSON]?
}

/// The orders API over [from, to], in windows of at most 7 days, each paged until has_next is false.
final class OrderPages: RecordPages {
    private let platform: OpenPlatform
    private let to: Date
    private let pageSize: Int
    private let items: Bool
    private let host: HostServices
    private var windowStart: Date
    private var page = 1

    init(platform: OpenPlatform, from: Date, to: Date, pageSize: Int, items: Bool, host: HostServices) {
        self.platform = platform
        windowStart = from
        self.to = to
        self.pageSize = pageSize
        self.items = items
        self.host = host
    }

    func next() throws -> [OrderedJSON]? {
        guard windowStart < to else { return nil }
        let windowEnd = min(to, windowStart.addingTimeInterval(JushuitanSource.maxWindow))
        let biz = String(
            decoding: try JSONSerialization.data(
                withJSONObject: [
                    "page_index": page, "page_size": pageSize,
                    "modified_begin": Times.format(windowStart), "modified_end": Times.format(windowEnd),
                ], options: [.sortedKeys]), as: UTF8.self)
        let data = try platform.call("/open/orders/single/query", biz: biz)
        let orders = data["orders"]?.array ?? []
        if data["has_next"] == .bool(true) {
            page += 1
        } else {
            windowStart = windowEnd
            page = 1
        }
        return items ? Self.itemRows(orders) : orders
    }

    /// One row per item: the order's fields, and the item's under `items.`.
    static func itemRows(_ orders: [OrderedJSON]) -> [OrderedJSON] {
        orders.flatMap { order -> [OrderedJSON] in
            guard case .object(let fields) = order else { return [] }
            let base = fields.filter { $0.0 != "items" }
            let list = order["items"]?.array ?? []
            return list.map { item in
                guard case .object(let itemFields) = item else { return .object(base) }
                return .object(base + itemFields.map { ("items.\($0.0)", $0.1) })
            }
        }
    }
}

/// Any other paginated API, as configured: page_index from 1, `number` names the list.
final class EndpointPages: RecordPages {
    private let platform: OpenPlatform
    private let endpoint: ConnectorConfig.Endpoint
    private var page = 1
    private var done = false

    init(platform: OpenPlatform, endpoint: ConnectorConfig.Endpoint) {
        self.platform = platform
        self.endpoint = endpoint
    }

    func next() throws -> [OrderedJSON]? {
        guard !done else { return nil }
        var biz = endpoint.biz ?? [:]
        let size = endpoint.pagination?.pageSize ?? 50
        biz["page_index"] = .number(page)
        biz["page_size"] = .number(size)
        let data = try platform.call(endpoint.api, biz: JSONScalar.objectText(biz))
        let records = data[endpoint.number]?.array ?? []
        if data["has_next"] == .bool(true) || (data["has_next"] == nil && records.count == size) {
            page += 1
        } else {
            done = true
        }
        return records
    }
}

/// Records as batches (PluginKit's RecordPageProducer and RecordColumns: nested objects
/// flattened with dotted names, columns selected, renamed and typed by configuration),
/// duplicates by id dropped within the run.
enum RecordProducer {
    static func make(pages: RecordPages, fields config: ConnectorConfig.Fields, idField: String?, rowLimit: Int?) throws -> BatchProducer {
        var options = RecordColumns.Options()
        options.keepArrays = config.unknown != "drop"
        options.rename = config.rename ?? [:]
        options.select = (config.select ?? []).isEmpty ? nil : config.select
        for (name, declared) in config.types ?? [:] {
            guard let type = RecordColumns.type(named: declared) else {
                throw PluginError.invalidConfig("fields.types.\(name) must be int64, float64, bool, utf8 or timestamp, not '\(declared)'")
            }
            options.types[name] = type
        }
        options.parseTime = { Times.parse($0) }
        // The first page with orders decides the columns (unless `select` does) and their types.
        return try RecordPageProducer(
            rowLimit: rowLimit, key: idField.map { field in { $0[field].map { $0.scalarText ?? $0.compactText } } }, next: { try pages.next() },
            columns: { try RecordColumns(sample: $0, options: options) })
    }
}

/// The platform's time format, in China Standard Time (UTC+8), as its APIs use.
enum Times {
    static let zone = TimeZone(secondsFromGMT: 8 * 3600)!

    static func parse(_ s: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = zone
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.date(from: s)
    }

    /// A window bound from a parameter: a full time, or a date (its first second, or with
    /// `endOfDay` its last).
    static func window(_ text: String, _ name: String, endOfDay: Bool) throws -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let time = parse(trimmed) { return time }
        if let day = parse(trimmed + " 00:00:00") { return endOfDay ? day.addingTimeInterval(86_399) : day }
        throw PluginError(status: GW_INVALID_ARGUMENT, "\(name) '\(text.prefix(40))' is not a date (2023-12-01) or a time (2023-12-01 08:00:00)")
    }

    static func format(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = zone
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: d)
    }
}
