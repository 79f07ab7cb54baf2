// http.pager: crawls a paginated HTTP API that follows seed 002's demo convention
// (`data.data[0]` is the header, `data.pagetag.total_page` the page count): page 1 first,
// then the rest concurrently through the host's HTTP service, emitted in page order.
import Foundation
import PluginABI
import PluginKit

struct PagerConfig: Decodable {
    var url: String
    var method: String?
    var header: [String: String]?
    var param: [String: JSONScalar]?
    var concurrency: Int?
    var timeoutMs: Int?
    var retries: Int?
    var backoffMs: Int?
    var pageParam: String?
    var limitParam: String?
    var maxPages: Int?
    var bufferBytes: Int?

    enum CodingKeys: String, CodingKey {
        case url, method, header, param, concurrency, retries
        case timeoutMs = "timeout_ms", backoffMs = "backoff_ms", pageParam = "page_param", limitParam = "limit_param"
        case maxPages = "max_pages", bufferBytes = "buffer_bytes"
    }
}

final class HttpPagerSource: SourceInstance {
    let settings: PageRequest
    let concurrency: Int
    /// Fetched pages waiting to be emitted hold at most this many bytes (the page being
    /// waited for is always fetched): memory stays bounded however large the pages are.
    let bufferBytes: Int
    let host: HostServices

    init(config: PluginConfig, host: HostServices) throws {
        let c = try config.decode(PagerConfig.self)
        guard let url = URL(string: c.url), url.scheme == "http" || url.scheme == "https" else {
            throw PluginError.invalidConfig("'url' must be an absolute http(s) URL")
        }
        let method = (c.method ?? "GET").uppercased()
        guard method == "GET" || method == "POST" else { throw PluginError.invalidConfig("'method' must be GET or POST") }
        let concurrency = c.concurrency ?? 8
        guard (1...64).contains(concurrency) else { throw PluginError.invalidConfig("'concurrency' must be 1 to 64") }
        guard (0...100).contains(c.retries ?? 3), (1...3_600_000).contains(c.timeoutMs ?? 30_000),
            (0...600_000).contains(c.backoffMs ?? 500)
        else {
            throw PluginError.invalidConfig("'retries' must be 0 to 100, 'timeout_ms' 1 to 3600000 and 'backoff_ms' 0 to 600000")
        }
        guard (1...10_000_000).contains(c.maxPages ?? 100_000), (1...(1 << 40)).contains(c.bufferBytes ?? 64 << 20) else {
            throw PluginError.invalidConfig("'max_pages' must be 1 to 10000000 and 'buffer_bytes' positive")
        }
        var params = c.param ?? [:]
        let limitParam = c.limitParam ?? "limit"
        if params[limitParam] == nil { params[limitParam] = .number(100) }
        settings = PageRequest(
            url: c.url, method: method, headers: (c.header ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            params: params, pageParam: c.pageParam ?? "page", timeoutMs: UInt32(c.timeoutMs ?? 30_000),
            retries: c.retries ?? 3, backoffMs: c.backoffMs ?? 500, maxPages: c.maxPages ?? 100_000)
        self.concurrency = concurrency
        bufferBytes = c.bufferBytes ?? 64 << 20
        self.host = host
    }

    func read(_ request: ReadRequest) throws -> BatchProducer {
        let body = try settings.fetch(page: 1, host: host)
        let first = try PageRequest.parse(body, page: 1, maxPages: settings.maxPages)
        guard let header = first.rows.first else {
            throw PluginError.invalidArgument("page 1: data.data is empty; its first row must be the header")
        }
        let table = try SeedTable(header: header, sample: Array(first.rows.dropFirst()))
        return PageProducer(
            table: table, first: Array(first.rows.dropFirst()), totalPages: first.totalPages,
            settings: settings, concurrency: concurrency, bufferBytes: bufferBytes, firstPageBytes: body.count,
            host: host, rowLimit: request.rowLimit)
    }
}

/// How to ask for one page, and what a page holds.
struct PageRequest: Sendable {
    struct Page {
        let rows: [OrderedJSON]
        let totalPages: Int
    }

    let url: String
    let method: String
    let headers: [(String, String)]
    let params: [String: JSONScalar]
    let pageParam: String
    let timeoutMs: UInt32
    let retries: Int
    let backoffMs: Int
    let maxPages: Int

    /// Fetches one page's body, retrying transport failures, HTTP 5xx and 429. Gives up
    /// (as cancelled) once the host cancels or `stopped` turns true.
    func fetch(page: Int, host: HostServices, stopped: () -> Bool = { false }) throws -> [UInt8] {
        let reply = try host.sendRetrying("page \(page)", retries: retries, backoffMs: backoffMs, stopped: stopped) {
            try send(page: page, host: host)
        }
        guard (200..<300).contains(reply.status) else { throw PluginError.invalidArgument("page \(page): HTTP \(reply.status)") }
        return reply.body
    }

    private func send(page: Int, host: HostServices) throws -> HostServices.HTTPResponse {
        var all = params
        all[pageParam] = .number(page)
        if method == "GET" {
            guard var components = URLComponents(string: url) else { throw PluginError.invalidConfig("'url' is not a URL") }
            let existing = components.queryItems ?? []
            components.queryItems = existing + all.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value.text) }
            guard let full = components.string else { throw PluginError.invalidConfig("'url' cannot take query parameters") }
            return try host.http(method: "GET", url: full, headers: headers, timeoutMilliseconds: timeoutMs)
        }
        return try host.http(
            method: "POST", url: url, headers: headers + [("Content-Type", "application/json")],
            body: Array(JSONScalar.objectText(all).utf8), timeoutMilliseconds: timeoutMs)
    }

    static func parse(_ body: [UInt8], page: Int, maxPages: Int) throws -> Page {
        let json: OrderedJSON
        do {
            json = try OrderedJSON.parse(body)
        } catch {
            throw PluginError.invalidArgument("page \(page): the reply is not JSON (\(error))")
        }
        if let code = json["errcode"]?.int, code != 0 {
            throw PluginError.invalidArgument("page \(page): errcode \(code): \(json["msg"]?.string ?? "")")
        }
        guard let rows = json["data"]?["data"]?.array else {
            throw PluginError.invalidArgument("page \(page): the reply has no data.data array")
        }
        let tag = json["data"]?["pagetag"]
        var total = tag?["total_page"]?.int ?? 0
        if total <= 0, let count = tag?["total"]?.int, let limit = tag?["limit"]?.int, limit > 0, count > 0 {
            total = count / limit + (count % limit == 0 ? 0 : 1)  // ceil, without count + limit overflowing
        }
        guard total <= maxPages else {
            throw PluginError.invalidArgument("page \(page): the API reports \(total) pages, more than max_pages (\(maxPages))")
        }
        return Page(rows: rows, totalPages: max(1, total))
    }
}

/// Emits page 1, then each further page in order as the fetcher delivers it.
final class PageProducer: BatchProducer {
    let fields: [ArrowField]
    private let table: SeedTable
    private var first: [OrderedJSON]?
    private let fetcher: OrderedFetcher<[UInt8]>?
    private let totalPages: Int
    private var nextPage = 2
    private var remaining: Int
    private let host: HostServices

    init(
        table: SeedTable, first: [OrderedJSON], totalPages: Int, settings: PageRequest, concurrency: Int,
        bufferBytes: Int, firstPageBytes: Int, host: HostServices, rowLimit: Int?
    ) {
        self.table = table
        fields = table.fields
        self.first = first
        self.totalPages = totalPages
        self.host = host
        remaining = rowLimit ?? Int.max
        fetcher =
            totalPages > 1
            ? OrderedFetcher(
                pages: 2...totalPages, concurrency: concurrency, bufferBytes: bufferBytes, firstPageBytes: firstPageBytes,
                size: { $0.count }, fetch: { page, stopped in try settings.fetch(page: page, host: host, stopped: stopped) }) : nil
        host.progress(done: 1, total: Int64(totalPages))
    }

    // The fetcher's threads call the host on this instance's behalf: they must all have
    // returned before the instance (and its host context) can go. The host cancels the
    // context of an abandoned stream first, so their requests end promptly.
    deinit { fetcher?.stopAndWait() }

    func next(into batch: BatchBuilder) throws -> Bool {
        let rows: [OrderedJSON]
        let page: Int
        if let first {
            rows = first
            page = 1
            self.first = nil
        } else {
            guard nextPage <= totalPages, remaining > 0, let fetcher else { return false }
            page = nextPage
            rows = try PageRequest.parse(try fetcher.take(page), page: page, maxPages: .max).rows.dropFirst().map { $0 }  // every page repeats the header
            nextPage += 1
            host.progress(done: Int64(page), total: Int64(totalPages))
        }
        for (i, row) in rows.prefix(remaining).enumerated() {
            try table.append(row, to: batch, place: "page \(page), row \(i + 1)")
        }
        remaining -= min(remaining, rows.count)
        return nextPage <= totalPages && remaining > 0
    }
}

@_cdecl("gw_plugin_init_v1")
public func httpPagerPluginInit(
    _ host: UnsafePointer<gw_host_api>?, _ err: UnsafeMutablePointer<gw_error>?
) -> UnsafePointer<gw_plugin_descriptor>? {
    PluginExport.initialize(host, err) {
        PluginDefinition(
            id: "http.pager", version: "1.0.0",
            description: "Crawls a paginated HTTP API (seed 002's demo convention) concurrently, in page order.",
            configSchema: """
                {"type":"object","required":["url"],"properties":{
                  "url":{"type":"string","description":"the page API; must be in the host's allow-list"},
                  "method":{"type":"string","enum":["GET","POST"],"default":"GET"},
                  "header":{"type":"object","additionalProperties":{"type":"string"},"description":"sent with every page request"},
                  "param":{"type":"object","description":"sent with every page (GET: query string, POST: JSON body); 'limit' is the page size"},
                  "concurrency":{"type":"integer","minimum":1,"maximum":64,"default":8},
                  "timeout_ms":{"type":"integer","minimum":1,"default":30000},
                  "retries":{"type":"integer","minimum":0,"default":3},
                  "backoff_ms":{"type":"integer","minimum":0,"default":500},
                  "page_param":{"type":"string","default":"page"},
                  "limit_param":{"type":"string","default":"limit"},
                  "max_pages":{"type":"integer","minimum":1,"default":100000,"description":"a crawl whose API reports more pages fails instead"},
                  "buffer_bytes":{"type":"integer","minimum":1,"default":67108864,"description":"fetched pages waiting to be written hold at most this much"}}}
                """,
            source: HttpPagerSource.self)
    }
}
