import Foundation
import PluginABI
import PluginKit

/// How an endpoint pages, checked.
struct Paging: Sendable {
    let kind: PaginationSpec.Kind
    let start: Int
    let size: Int
    let cursorPath: JSONPath?
    let nextPath: JSONPath?
    let hasMorePath: JSONPath?
    let totalPagesPath: JSONPath?
    let totalPath: JSONPath?

    init(_ spec: PaginationSpec?, what: String) throws {
        kind = spec?.type ?? .none
        start = spec?.start ?? (kind == .offset ? 0 : 1)
        size = spec?.size ?? 100
        guard (0...1_000_000).contains(start), (1...100_000).contains(size) else {
            throw PluginError.invalidConfig("\(what): start must be 0 to 1000000 and size 1 to 100000")
        }
        func path(_ text: String?, _ name: String) throws -> JSONPath? { try text.map { try JSONPath($0, what: "\(what).\(name)") } }
        cursorPath = try path(spec?.cursorPath, "cursor_path")
        nextPath = try path(spec?.nextPath, "next_path")
        hasMorePath = try path(spec?.hasMorePath, "has_more_path")
        totalPagesPath = try path(spec?.totalPagesPath ?? (kind == .pagetag ? "data.pagetag.total_page" : nil), "total_pages_path")
        totalPath = try path(spec?.totalPath ?? (kind == .pagetag ? "data.pagetag.total" : nil), "total_path")
        if kind == .cursor && cursorPath == nil { throw PluginError.invalidConfig("\(what): a cursor pagination needs cursor_path") }
    }
}

/// Walks an endpoint's pages, window after window (an incremental read in steps), and
/// stops: on the reply's own signal (has_more false, the last page of a total, no next
/// cursor or link), on an empty page, or on a short page when the reply gives no signal.
/// It never loops: a cursor or link seen before, a page identical to the one before, or
/// more than `max_pages` pages end the read with an error saying which.
final class PageWalker {
    private let connection: Connection
    private let endpoint: Endpoint
    private let base: Variables
    private var windows: [Variables]
    private var window: Variables?
    private var page = 0
    private var offset = 0
    private var cursor: String?
    private var next: String?
    private var seen = Set<String>()
    private var previousPage: [OrderedJSON]?
    private var recordsInWindow = 0
    private var windowDone = true
    private(set) var fetched = 0
    /// Fetches the rest of a window's pages concurrently once its first page said how many
    /// there are (page, offset and pagetag paging without a has-more flag).
    private var fetcher: OrderedFetcher<Connection.Reply>?
    private var lastPage = 0
    private var lastReplyBytes = 0

    init(connection: Connection, endpoint: Endpoint, variables: Variables, windows: [Variables]) {
        self.connection = connection
        self.endpoint = endpoint
        base = variables
        self.windows = windows.reversed()
    }

    // The fetcher's threads call the host on this instance's behalf: they must all have
    // returned before the instance (and its host context) can go.
    deinit { fetcher?.stopAndWait() }

    private var pageStart: Int { endpoint.paging.kind == .offset ? 1 : endpoint.paging.start }
    private var offsetStart: Int { endpoint.paging.kind == .offset ? endpoint.paging.start : 0 }

    /// The values of one page's request.
    private func variables(page: Int, offset: Int, cursor: String?) -> Variables {
        Self.pageVariables(base.merging(window ?? [:]) { _, b in b }, size: endpoint.paging.size, page: page, offset: offset, cursor: cursor)
    }

    private static func pageVariables(_ values: Variables, size: Int, page: Int, offset: Int, cursor: String?) -> Variables {
        var vars = values
        vars["limit"] = .integer(size)
        vars["page"] = .integer(page)
        vars["offset"] = .integer(offset)
        vars["cursor"] = cursor.map(TemplateValue.text)
        return vars
    }

    private static func send(
        _ connection: Connection, _ endpoint: Endpoint, _ vars: Variables, next: String?, what: String, stopped: @escaping () -> Bool = { false }
    ) throws -> Connection.Reply {
        try connection.send(what, check: endpoint.check, stopped: stopped) { now in
            try endpoint.request(vars.merging(now) { a, _ in a }, base: connection.baseURL, next: next)
        }
    }

    /// The header's titles from the first page that had one (seed 002's header row).
    private(set) var titles: [(String, String)]?

    /// The next page's records (possibly none), or nil once every window is read.
    func nextPage() throws -> [OrderedJSON]? {
        if windowDone {
            fetcher?.stopAndWait()
            fetcher = nil
            guard let w = windows.popLast() else { return nil }
            window = w
            page = pageStart
            offset = offsetStart
            cursor = nil
            next = nil
            seen = []
            previousPage = nil
            recordsInWindow = 0
            windowDone = false
        }
        fetched += 1
        guard fetched <= connection.maxPages else {
            throw PluginError.invalidArgument(
                "endpoint '\(endpoint.name)': more than max_pages (\(connection.maxPages)) pages; the API may not be paging (raise max_pages if it is that long)"
            )
        }
        let what = "endpoint '\(endpoint.name)', page \(fetched)"
        let reply: Connection.Reply
        if let fetcher, page <= lastPage {
            reply = try fetcher.take(page)
        } else {
            reply = try Self.send(connection, endpoint, variables(page: page, offset: offset, cursor: cursor), next: next, what: what)
        }
        lastReplyBytes = reply.response.body.count
        let (records, titles) = try endpoint.records(reply.json, what: what)
        if self.titles == nil { self.titles = titles }
        recordsInWindow += records.count
        try advance(reply, records, what: what)
        return records
    }

    private func advance(_ reply: Connection.Reply, _ records: [OrderedJSON], what: String) throws {
        let paging = endpoint.paging
        let body = reply.json
        if paging.kind == .none || records.isEmpty {
            windowDone = true
            return
        }
        // An API that ignores the page parameter answers the same page forever.
        // Compared as values (stopping at the first difference), not serialized page by page.
        if [.page, .offset, .pagetag].contains(paging.kind) {
            if records == previousPage {
                throw PluginError.invalidArgument("\(what) repeats the page before it: the API does not seem to read the paging parameters")
            }
            previousPage = records
        }
        if let more = paging.hasMorePath, let value = more.select(body) {
            if !Self.truthy(value) {
                windowDone = true
                return
            }
        } else if paging.hasMorePath != nil {
            windowDone = true
            return
        }
        switch paging.kind {
        case .none: windowDone = true
        case .page, .pagetag, .offset:
            page += 1
            offset += records.count
            let total = paging.totalPath.flatMap { $0.select(body)?.int }
            // Seed 002's pagetag says the page size it used, which may be below the one asked.
            let pageSize = paging.kind == .pagetag ? body["data"]?["pagetag"]?["limit"]?.int.flatMap { $0 > 0 ? $0 : nil } ?? paging.size : paging.size
            // Pages are numbered ahead only after a full one: an API that answers fewer
            // records than asked (its own cap) is read page after page, so that an offset
            // never skips what a shorter page left out.
            let full = records.count == pageSize
            if let pages = paging.totalPagesPath.flatMap({ $0.select(body)?.int }), pages > 0 {
                windowDone = page - pageStart >= pages
                if full { try fetchConcurrently(pages: pages) }
            } else if let total, total >= 0 {
                windowDone = recordsInWindow >= total
                // Rounded up without `total + size` overflowing (a reply may say Int.max).
                if full { try fetchConcurrently(pages: total / pageSize + (total % pageSize == 0 ? 0 : 1)) }
            } else if paging.hasMorePath == nil {
                windowDone = records.count < paging.size
            }
        case .cursor:
            guard let value = paging.cursorPath?.select(body)?.scalarText, !value.isEmpty else {
                windowDone = true
                return
            }
            guard seen.insert(Self.key(value)).inserted else {
                throw PluginError.invalidArgument("\(what): the cursor '\(value.prefix(60))' came back again: the API would loop")
            }
            cursor = value
        case .nextLink:
            guard let link = try nextLink(reply) else {
                windowDone = true
                return
            }
            guard seen.insert(Self.key(link)).inserted else {
                throw PluginError.invalidArgument("\(what): the next link '\(link.prefix(100))' came back again: the API would loop")
            }
            next = link
        }
    }

    /// Once the first page of a window says how many there are, the rest are fetched on
    /// `concurrency` threads (in order, within a memory budget) rather than one by one.
    private func fetchConcurrently(pages: Int) throws {
        guard fetcher == nil, !windowDone, endpoint.paging.hasMorePath == nil, connection.concurrency > 1 else { return }
        // Compared without adding to the reply's number: it may be near Int.max.
        guard pages <= connection.maxPages - (fetched - 1) else {
            throw PluginError.invalidArgument("endpoint '\(endpoint.name)': the API reports \(pages) pages, more than max_pages (\(connection.maxPages))")
        }
        lastPage = pageStart + pages - 1
        guard page <= lastPage else { return }
        let (connection, endpoint, size, first, firstOffset) = (connection, endpoint, endpoint.paging.size, page, offset)
        let values = base.merging(window ?? [:]) { _, b in b }
        let counted = fetched
        fetcher = OrderedFetcher(
            pages: page...lastPage, concurrency: connection.concurrency, bufferBytes: 64 << 20,
            firstPageBytes: Self.heldBytes(lastReplyBytes), size: { Self.heldBytes($0.response.body.count) },
            fetch: { number, stopped in
                // Each page's values when it is fetched: a reply claiming a million pages costs nothing up front.
                let vars = Self.pageVariables(values, size: size, page: number, offset: firstOffset + (number - first) * size, cursor: nil)
                let what = "endpoint '\(endpoint.name)', page \(counted + number - first + 1)"
                return try Self.send(connection, endpoint, vars, next: nil, what: what, stopped: stopped)
            })
    }

    /// What a fetched page holds in memory: its body, and its parsed tree (a few times the text).
    private static func heldBytes(_ body: Int) -> Int { body.multipliedReportingOverflow(by: 8).overflow ? Int.max / 2 : body * 8 }

    /// The next page's URL: at `next_path`, else the Link header's rel="next"; resolved
    /// against the base URL, and on its origin only (a reply must not send the credential
    /// elsewhere).
    private func nextLink(_ reply: Connection.Reply) throws -> String? {
        let raw: String?
        if let path = endpoint.paging.nextPath {
            raw = path.select(reply.json)?.scalarText
        } else {
            raw = reply.response.header("link").flatMap(Self.relNext)
        }
        guard let raw, !raw.isEmpty else { return nil }
        guard let base = URL(string: connection.baseURL), let url = URL(string: raw, relativeTo: base)?.absoluteURL else {
            throw PluginError.invalidArgument("the next link '\(raw.prefix(100))' is not a URL")
        }
        guard url.scheme == base.scheme, url.host == base.host, url.port == base.port else {
            throw PluginError.invalidArgument("the next link '\(raw.prefix(100))' leaves \(base.scheme ?? "")://\(base.host ?? ""): refused")
        }
        return url.absoluteString
    }

    /// What is remembered of a cursor or link seen: itself when short, else its digest (a
    /// read of many pages must not keep every long cursor a reply sent).
    private static func key(_ value: String) -> String {
        guard value.utf8.count > 64 else { return value }
        return (try? Signer.digest(.sha256, Array(value.utf8)))?.map { String(format: "%02x", $0) }.joined() ?? String(value.prefix(64))
    }

    /// `<https://api/x?page=2>; rel="next", <…>; rel="last"` → the next one.
    static func relNext(_ header: String) -> String? {
        for link in header.split(separator: ",") {
            let parts = link.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let target = parts.first, target.hasPrefix("<"), target.hasSuffix(">") else { continue }
            if parts.dropFirst().contains(where: { $0.replacingOccurrences(of: " ", with: "").lowercased() == "rel=\"next\"" || $0.lowercased() == "rel=next" })
            {
                return String(target.dropFirst().dropLast())
            }
        }
        return nil
    }

    static func truthy(_ v: OrderedJSON) -> Bool {
        switch v {
        case .bool(let b): b
        case .number(let n): Double(n).map { $0 != 0 } ?? false
        case .string(let s): ["true", "1", "yes"].contains(s.lowercased())
        default: false
        }
    }
}
