import Foundation
import Hummingbird
import NIOCore
import PluginKit

/// Seed 002's routes, in its `{"errcode", "msg", "data", "request_id"}` envelope:
/// `/demo/page`, `/v1/export/{http,raw,detail,history,cancel}` and `/v1/down/{key}.zip`.
enum ExportRoutes {
    static func register(on routes: GuardedRoutes, styles: EnvelopeStyles, gateway: Gateway) {
        styles.register("/demo", .errcode)
        styles.register("/v1/export", .errcode)
        styles.register("/v1/down", .errcode)
        routes.get("/demo/page", access: .open) { request, context -> Response in
            Envelope.successRaw(.errcode, data: try DemoPage(request).json, requestId: context.requestId)
        }

        let guarded = routes.group("/v1/export", access: .scope("export", required: gateway.config.exports.requireToken))
        let exports = gateway.exports
        guarded.post("/http") { request, context -> Response in
            let requester = Requester(context)
            let body = Data(try await request.collectBody(limit: 1 << 20).readableBytesView)
            let key = try await Workers.run { try exports.start(try ExportRequests.make("http", body: body, owner: requester.owner, gateway: gateway)) }
            return Envelope.success(.errcode, data: ["hash_key": key], requestId: context.requestId)
        }
        guarded.post("/raw") { request, context -> Response in
            let requester = Requester(context)
            let body = Data(try await request.collectBody(limit: gateway.config.server.maxBodyBytes).readableBytesView)
            // Checking 64 MB of rows is seconds of work: on a worker, not a cooperative thread.
            let key = try await Workers.run { try exports.start(try ExportRequests.make("raw", body: body, owner: requester.owner, gateway: gateway)) }
            return Envelope.success(.errcode, data: ["hash_key": key], requestId: context.requestId)
        }
        guarded.get("/detail") { request, context -> Response in
            let task = try task(request, of: Requester(context), gateway: gateway)
            let detail = ExportDetail(task, downloadURL: exports.downloadURL(task, base: baseURL(request, gateway)))
            return Envelope.success(.errcode, data: detail, requestId: context.requestId)
        }
        guarded.get("/history") { request, context -> Response in
            let requester = Requester(context)
            // The documented `user_id`, and `uid`, which the original service read; without
            // either, every user's tasks that the token may see (the console's list).
            let user = (request.query["user_id"] ?? request.query["uid"]).flatMap { $0.isEmpty ? nil : $0 }
            let tasks = try gateway.store.tasks(
                userId: user, since: gateway.clock.now.addingTimeInterval(-7 * 86_400),
                owner: requester.isAdmin ? nil : requester.owner)
            return Envelope.success(
                .errcode, data: tasks.map { ExportDetail(exports.effective($0), downloadURL: "", summary: true) }, requestId: context.requestId)
        }
        let cancel: GuardedRoutes.Handler = { request, context in
            let mine = try task(request, of: Requester(context), gateway: gateway)
            let task = try await Workers.run { try exports.cancel(mine.hashKey) }
            let detail = ExportDetail(task, downloadURL: exports.downloadURL(task, base: baseURL(request, gateway)))
            return Envelope.success(.errcode, data: detail, requestId: context.requestId)
        }
        guarded.post("/cancel", use: cancel)
        guarded.get("/cancel", use: cancel)

        // A download needs the signed link that detail and callbacks hand out, or the token
        // of the task's owner (or an admin's). The key alone is not enough.
        routes.get("/v1/down/:file", access: .signedLinkOrToken) { request, context -> Response in
            let file = try context.pathParameter("file")
            guard file.hasSuffix(".zip"), case let key = String(file.dropLast(4)), key.count == 32,
                key.allSatisfy({ $0.isHexDigit && !$0.isUppercase })
            else {
                throw GatewayError.notFound("no such download")
            }
            let signed = exports.isValidLink(key: key, expires: request.query["expires"], signature: request.query["signature"])
            let token = signed ? nil : context.identity
            guard signed || token?.allows("export") == true else {
                throw GatewayError.forbidden("this download link is not signed or has expired: ask /v1/export/detail for a fresh down_url")
            }
            guard let task = try gateway.store.task(hashKey: key).map(exports.effective),
                signed || token.map({ $0.allows("admin") || $0.id == task.owner }) == true,
                let path = exports.downloadPath(task)
            else {
                throw GatewayError.notFound("no such download (the task is unknown, not finished, or expired)")
            }
            return try download(path: path, title: task.title)
        }
    }

    /// Who asks: the token's id (the owner of the tasks it makes), and whether it sees all.
    struct Requester: Sendable {
        let owner: String
        let isAdmin: Bool

        /// The admitted token's; with exports open to anyone (`exports.requireToken` false),
        /// everyone is the same requester, who sees the tasks made without a token.
        init(_ context: GatewayRequestContext) {
            owner = context.identity?.id ?? ""
            isAdmin = context.identity?.allows("admin") ?? false
        }

        func sees(_ task: ExportTask) -> Bool { isAdmin || task.owner == owner }
    }

    /// The task `key` names, if the requester may see it: another token's task is "not
    /// found" (its existence is not theirs to learn).
    static func task(_ request: Request, of requester: Requester, gateway: Gateway) throws -> ExportTask {
        guard let key = request.query["key"], !key.isEmpty else { throw GatewayError.badRequest("give key") }
        guard let task = try gateway.store.task(hashKey: key), requester.sees(task) else { throw GatewayError.notFound("no export task '\(key)'") }
        return gateway.exports.effective(task)
    }

    /// Where clients reach us: the configured public address, else the request's Host.
    static func baseURL(_ request: Request, _ gateway: Gateway) -> String {
        if !gateway.config.exports.publicBaseUrl.isEmpty { return gateway.config.exports.publicBaseUrl }
        let host = request.head.authority ?? "\(gateway.config.server.host):\(gateway.config.server.port)"
        return "http://\(host)"
    }

    /// Streams the zip with a Content-Disposition that names it after the task's title.
    static func download(path: String, title: String) throws -> Response {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw GatewayError.notFound("the file is gone") }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        let name = ExportService.fileName(title) + ".zip"
        let ascii = String(name.map { $0.isASCII && $0 != "\"" && $0 != "\\" ? $0 : "_" })
        let encoded = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ascii
        let body = ResponseBody(contentLength: size) { writer in
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/zip",
                .contentDisposition: "attachment; filename=\"\(ascii)\"; filename*=UTF-8''\(encoded)",
            ], body: body)
    }
}

/// `/demo/page`: the seed's demo source, 500 rows; the first row of `data.data` is the
/// header. Written by hand: the header's key order (ID, Name, Age) is the column order.
struct DemoPage {
    static let total = 500
    let json: String

    init(_ request: Request) throws {
        let page = try Self.positive(request, "page", default: 1)
        let limit = try Self.positive(request, "limit", default: 10)
        let totalPage = (Self.total + limit - 1) / limit  // ceil: the original dropped the last partial page
        let start = (page - 1) * limit
        var rows = [#"{"ID":"编号","Name":"姓名","Age":"年龄"}"#]
        if start < Self.total {
            for i in start..<min(Self.total, start + limit) { rows.append(#"{"ID":\#(i),"Name":"Demo","Age":\#(15 + i % 50)}"#) }
        }
        json = #"{"data":[\#(rows.joined(separator: ","))],"pagetag":{"page":\#(page),"limit":\#(limit),"total":\#(Self.total),"total_page":\#(totalPage)}}"#
    }

    private static func positive(_ request: Request, _ name: String, default value: Int) throws -> Int {
        guard let text = request.query[name] else { return value }
        guard let n = Int(text), n > 0, n <= 10_000 else { throw GatewayError.badRequest("\(name) must be a whole number from 1 to 10000") }
        return n
    }
}

/// Fields both export requests carry, decoded beside each request's source.
struct ExportCommonFields: Decodable {
    let timestamp: Int64?
    let ext_type: String?
    let title: String?
    let user_id: String?
    let callback: String?
    let call_back: String?
    /// Exporter settings the request may choose (those its schema marks `per_request`).
    let ext_options: [String: JSONValue]?

    /// The fields, checked and with their defaults.
    struct Checked {
        let title: String, user: String, ext: String, callback: String, timestamp: Int64
        let options: [String: JSONValue]

        /// The request's fields for its canonical form (identical requests share a task).
        func canonical(_ source: (String, Any)) throws -> String {
            var fields: [String: Any] = ["timestamp": timestamp, "ext_type": ext, "title": title, source.0: source.1]
            // Absent when empty: requests from before ext_options keep their hash.
            if !options.isEmpty { fields["ext_options"] = JSONValue.object(options).text }
            return String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]), as: UTF8.self)
        }
    }

    func validated(gateway: Gateway) throws -> Checked {
        let callback = (callback ?? "").isEmpty ? (call_back ?? "") : (callback ?? "")
        if !callback.isEmpty {
            do {
                // The allow-list alone: the gateway's own pages are no callback target.
                _ = try gateway.services.http.allowList.check(url: callback)
            } catch {
                throw GatewayError.badRequest("callback: \(error.message)")
            }
        }
        guard let user = user_id, !user.isEmpty else { throw GatewayError.badRequest("missing field 'user_id'") }
        let ext = (ext_type ?? "XLSX").uppercased()
        try gateway.exports.checkOptions(ext_options ?? [:], extType: ext)
        return Checked(
            title: title ?? "export", user: user, ext: ext, callback: callback, timestamp: timestamp ?? 0,
            options: ext_options ?? [:])
    }
}

/// An export request from its body, as `/v1/export/raw` and `/v1/export/http` received it:
/// its common fields and its source, from one JSON object. A gateway taking over the task of
/// one that stopped makes it again from the same body, checked against its own config.
enum ExportRequests {
    static func make(_ sourceType: String, body: Data, owner: String, gateway: Gateway) throws -> ExportService.Request {
        do {
            let fields = try JSONDecoder().decode(ExportCommonFields.self, from: body)
            switch sourceType {
            case "raw": return try JSONDecoder().decode(RawExportBody.self, from: body).exportRequest(fields, owner: owner, gateway: gateway, body: body)
            case "http": return try JSONDecoder().decode(HTTPExportBody.self, from: body).exportRequest(fields, owner: owner, gateway: gateway, body: body)
            default: throw InvalidInput("no export source type '\(sourceType)'")
            }
        } catch let e as DecodingError {
            throw GatewayError.badRequest(PluginConfig.describe(e))
        }
    }
}

struct RawExportBody: Decodable {
    let source_raw: String

    func exportRequest(_ fields: ExportCommonFields, owner: String, gateway: Gateway, body: Data) throws -> ExportService.Request {
        let c = try fields.validated(gateway: gateway)
        // Parsed now, once: a malformed source_raw is the client's 400, not a failed task.
        let parsed = SourceBox(try RawRowsSource(sourceRaw: source_raw))
        let canonical = try c.canonical(("source_raw", source_raw))
        let stored = try c.canonical(("source_raw", "<\(source_raw.utf8.count) bytes of rows>"))
        return ExportService.Request(
            owner: owner, title: c.title, userId: c.user, extType: c.ext, callback: c.callback,
            extOptions: c.options, sourceType: "raw", json: canonical, storedJSON: stored, body: body
        ) { _ in parsed.source }
    }
}

struct HTTPExportBody: Decodable {
    struct SourceHTTP: Decodable {
        let url: String
        let method: String?
        let header: [String: String]?
        let param: [String: JSONValue]?
    }

    let source_http: SourceHTTP

    func exportRequest(_ fields: ExportCommonFields, owner: String, gateway: Gateway, body: Data) throws -> ExportService.Request {
        let c = try fields.validated(gateway: gateway)
        do {
            _ = try gateway.services.http.check(url: source_http.url)
        } catch {
            throw GatewayError.badRequest("source_http.url: \(error.message)")
        }
        let method = (source_http.method ?? "GET").uppercased()
        guard method == "GET" || method == "POST" else { throw GatewayError.badRequest("source_http.method must be GET or POST") }
        guard (try? gateway.registry.source(id: SourceOpener.pagerPlugin)) != nil else {
            throw GatewayError(.serviceUnavailable, "HTTP exports need the '\(SourceOpener.pagerPlugin)' plugin, which is not loaded")
        }
        func pagerConfig(headerValue: (String) -> String) -> JSONValue {
            .object([
                "url": .string(source_http.url), "method": .string(method),
                "header": .object((source_http.header ?? [:]).mapValues { .string(headerValue($0)) }),
                "param": .object(source_http.param ?? [:]),
                "concurrency": .number(gateway.config.exports.concurrency),
            ])
        }
        let config = pagerConfig { $0 }
        func canonical(_ config: JSONValue) throws -> String { try c.canonical(("source_http", config.text)) }
        // Header values (an upstream Authorization) never reach the store.
        let stored = try canonical(pagerConfig { _ in "********" })
        return ExportService.Request(
            owner: owner, title: c.title, userId: c.user, extType: c.ext, callback: c.callback,
            extOptions: c.options, sourceType: "http", json: try canonical(config), storedJSON: stored, body: body
        ) { task in
            try SourceOpener(gateway: gateway, control: RunControl(timeBudgetSeconds: 0)).open(.httpCrawl(config: config.text, task: task))
        }
    }
}
