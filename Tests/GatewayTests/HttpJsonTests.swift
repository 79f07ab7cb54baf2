import Foundation
import PluginKit
import Testing
@testable import Host

/// The declarative HTTP/JSON source (`http.json`, issue 27) against local APIs of every
/// shape (Fixtures/json_api_mock.py): each authentication, paging style and record shape,
/// and each way an API can fail, through the query API as a client would read it.
@Suite(.serialized) struct HttpJsonTests {
    static let records = 57

    static func withMock<T>(_ body: (String) async throws -> T) async throws -> T {
        try await TestSupport.withHelperServer("json_api_mock.py") { try await body("http://127.0.0.1:\($0)") }
    }

    /// A gateway with one `http.json` datasource per manifest (JSON text).
    static func gateway(_ manifests: [String: String]) throws -> (Gateway, String) {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.http.allowHosts = ["127.0.0.1"]
            for (id, text) in manifests {
                guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
                    Issue.record("manifest \(id) is not JSON")
                    continue
                }
                config.datasources[id] = DatasourceDefinition(plugin: "http.json", config: value)
            }
        }
        return (gateway, try gateway.tokens.create(name: "reader", scopes: ["query"]).secret)
    }

    struct Answer {
        let status: Int
        let rows: [[String: Any]]
        let message: String
    }

    static func query(_ server: TestServer, _ path: String, token: String) async throws -> Answer {
        let reply = try await server.request(.GET, path, headers: [("Authorization", "Bearer \(token)")])
        let json = try? JSONSerialization.jsonObject(with: Data(reply.body))
        let message = ((json as? [String: Any])?["error"] as? [String: Any])?["message"] as? String ?? reply.text
        return Answer(status: reply.status, rows: json as? [[String: Any]] ?? [], message: message)
    }

    static func ids(_ a: Answer) -> [Int] { a.rows.compactMap { $0["id"] as? Int } }

    /// Every auth and paging style reads all 57 records once, in order, with nested fields
    /// flattened, arrays kept as JSON text, types inferred from the first page.
    @Test func everyAuthenticationAndPagingStyleReadsEveryRecordOnce() async throws {
        try await Self.withMock { base in
            let manifest = """
                {"base_url": "\(base)", "secrets": {"hmac_key": "hk"},
                 "endpoints": {
                  "items": {"path": "/v1/items", "query": {"page": "{page}", "per_page": "{limit}"}, "headers": {"X-Api-Key": "k1"},
                            "pagination": {"type": "page", "size": 10, "has_more_path": "data.has_more"}, "records": {"path": "data.list"}},
                  "offset": {"path": "/v1/offset", "query": {"offset": "{offset}", "limit": "{limit}", "api_key": "k1"},
                             "pagination": {"type": "offset", "size": 7, "total_path": "total"}, "records": {"path": "items"}},
                  "hmac": {"path": "/v1/hmac", "query": {"page": "{page}", "z": "last", "a": "first"},
                           "pagination": {"type": "page", "size": 25}, "records": {"path": "data"}}
                 },
                 "signature": {"algorithm": "hmac-sha256", "key": "{secrets.hmac_key}", "string": "{params}", "pair": "{key}={value}",
                               "separator": "&", "into": {"in": "header", "name": "X-Signature"}}}
                """
            let manifests = [
                "plain": manifest,
                "cursor":
                    #"{"base_url": "\#(base)", "auth": {"type": "bearer", "token": "tok-static"}, "endpoints": {"c": {"path": "/v1/cursor", "query": {"cursor": "{cursor}", "limit": "{limit}"}, "pagination": {"type": "cursor", "size": 9, "cursor_path": "meta.next"}, "records": {"path": "results"}}}}"#,
                "linked":
                    #"{"base_url": "\#(base)", "auth": {"type": "basic", "username": "user", "password": "pa ss"}, "endpoints": {"l": {"path": "/v1/linked", "pagination": {"type": "next_link"}}}}"#,
                "keyquery":
                    #"{"base_url": "\#(base)", "auth": {"type": "api_key", "in": "query", "name": "api_key", "value": "k1"}, "endpoints": {"o": {"path": "/v1/offset", "query": {"offset": "{offset}", "limit": "{limit}"}, "pagination": {"type": "offset", "size": 20}, "records": {"path": "items"}}}}"#,
                "oauth":
                    #"{"base_url": "\#(base)", "auth": {"type": "oauth2_client_credentials", "token_url": "\#(base)/oauth/token", "client_id": "cid", "client_secret": "csecret"}, "endpoints": {"n": {"path": "/v1/nextbody", "pagination": {"type": "next_link", "next_path": "links.next"}, "records": {"path": "records"}}}}"#,
                "refresh":
                    #"{"base_url": "\#(base)", "auth": {"type": "oauth2_refresh_token", "token_url": "\#(base)/oauth/token", "client_id": "cid", "refresh_token": "rt0"}, "endpoints": {"r": {"path": "/v1/refreshed", "query": {"page": "{page}"}, "pagination": {"type": "page", "size": 5, "has_more_path": "more"}, "records": {"path": "records"}}}}"#,
            ]
            let (gateway, token) = try Self.gateway(manifests)
            try await TestServer.with(gateway) { server in
                for path in [
                    "plain/query?endpoint=items", "plain/query?endpoint=offset", "plain/query?endpoint=hmac", "cursor/query", "linked/query",
                    "keyquery/query", "oauth/query", "refresh/query", "plain/query?queryType=endpoint&query=items",
                ] {
                    let answer = try await Self.query(server, "/api/v1/datasource/\(path)", token: token)
                    #expect(answer.status == 200 && Self.ids(answer) == Array(1...Self.records), "\(path): \(answer.status) \(answer.message.prefix(300))")
                    guard let first = answer.rows.first else { continue }
                    #expect(first["meta.size.w"] as? Int == 1 && first["meta.color"] as? String == "green", "\(path): \(first)")
                    #expect(
                        first["tags"] as? String == #"["t1","all"]"# && first["price"] as? Double == 1.25 && first["active"] as? Bool == false,
                        "\(path): \(first)")
                }
                // Tokens last 3 calls: a crawl of 12 pages refreshed them mid-crawl, once per expiry.
                let stats = try JushuitanTests.mock(base, "/stats")
                #expect((stats["refreshes"] as? Int ?? 0) >= 3, "\(stats)")
                let none = try await Self.query(server, "/api/v1/datasource/plain/query", token: token)
                #expect(none.status == 400 && none.message.contains("name the endpoint") && none.message.contains("hmac, items, offset"), "\(none.message)")
                let wrong = try await Self.query(server, "/api/v1/datasource/plain/query?endpoint=nope", token: token)
                #expect(wrong.status == 400 && wrong.message.contains("no endpoint 'nope'"), "\(wrong.message)")
            }
        }
    }

    /// Parameters: typed, required or defaulted, multi-valued; qualified names as seed 001
    /// defines them; unknown names a 400 naming them.
    @Test func parametersAreTypedQualifiedAndCheckedByName() async throws {
        try await Self.withMock { base in
            let manifest = """
                {"base_url": "\(base)", "endpoints": {
                  "orders": {"path": "/v1/orders/{shop}", "query": {"status": "{status}", "min": "{min}"},
                             "parameters": {"shop": {"required": true}, "status": {"multi": true, "default": ["open"], "values": ["open", "paid", "shipped"]},
                                            "min": {"type": "integer"}}},
                  "other": {"path": "/v1/orders/x", "parameters": {"status": {}}}}}
                """
            let (gateway, token) = try Self.gateway(["api": manifest])
            try await TestServer.with(gateway) { server in
                func ask(_ q: String) async throws -> Answer { try await Self.query(server, "/api/v1/datasource/api/query?endpoint=orders&\(q)", token: token) }
                let plain = try await ask("$shop=a%20b")
                #expect(plain.rows.first?["shop"] as? String == "a b" && plain.rows.first?["status"] as? String == "open", "\(plain.message)")
                let many = try await ask("$shop=s&$orders.status=paid&$orders.status=shipped&$other.status=zzz&$min=5")
                #expect(many.rows.first?["status"] as? String == "paid,shipped" && many.rows.first?["min"] as? String == "5", "\(many.message)")
                let shared = try await ask("$shop=s&$status=paid")
                #expect(shared.rows.first?["status"] as? String == "paid", "\(shared.message)")
                let missing = try await ask("$status=paid")
                #expect(missing.status == 400 && missing.message.contains("needs parameter 'shop'"), "\(missing.message)")
                let typed = try await ask("$shop=s&$min=five")
                #expect(typed.status == 400 && typed.message.contains("'min' must be an integer"), "\(typed.message)")
                let unknown = try await ask("$shop=s&$colour=red")
                #expect(unknown.status == 400 && unknown.message.contains("unknown parameter 'colour'"), "\(unknown.message)")
                let outside = try await ask("$shop=s&$status=lost")
                #expect(outside.status == 400 && outside.message.contains("must be one of open, paid, shipped"), "\(outside.message)")
            }
        }
    }

    /// Records: a selector, nested fields flattened with a chosen separator, declared types,
    /// renamed and dropped fields, duplicates by primary key dropped.
    @Test func recordsAreSelectedFlattenedTypedRenamedAndDeduplicated() async throws {
        try await Self.withMock { base in
            let manifest = #"""
                {"base_url": "\#(base)", "endpoints": {"items": {"path": "/v1/items", "headers": {"X-Api-Key": "k1"},
                  "query": {"page": "{page}", "per_page": "{limit}"}, "pagination": {"type": "page", "size": 10, "has_more_path": "data.has_more"},
                  "records": {"path": "data.list", "separator": "_", "arrays": "drop", "types": {"price": "utf8", "updated_at": "timestamp"},
                              "rename": {"meta_color": "colour"}, "drop": ["meta_size_h", "name"]}}},
                 "default_endpoint": "items"}
                """#
            let loop =
                #"{"base_url": "\#(base)", "endpoints": {"e": {"path": "/v1/ignorespage", "query": {"page": "{page}"}, "pagination": {"type": "page", "size": 5}, "records": {"path": "data"}, "primary_key": "id"}}}"#
            let (gateway, token) = try Self.gateway(["api": manifest, "loop": loop])
            try await TestServer.with(gateway) { server in
                let answer = try await Self.query(server, "/api/v1/datasource/api/query?format=arrow", token: token)
                #expect(answer.status == 200, "\(answer.message)")
                let json = try await Self.query(server, "/api/v1/datasource/api/query", token: token)
                let first = try #require(json.rows.first, "\(json.message)")
                #expect(Set(first.keys) == ["id", "price", "active", "colour", "meta_size_w", "updated_at"], "\(first.keys.sorted())")
                #expect(first["price"] as? String == "1.25" && first["colour"] as? String == "green")
                #expect((first["updated_at"] as? String)?.hasPrefix("2026-11-01T07:00:00") == true, "\(first)")
                // An API that ignores the page parameter: found, not crawled to max_pages.
                let looped = try await Self.query(server, "/api/v1/datasource/loop/query", token: token)
                #expect(looped.status == 400 && looped.message.contains("repeats the page before it"), "\(looped.message)")
            }
        }
    }

    /// Each way an API fails ends the read with a clear error, no duplicates and no endless
    /// loop: a 429 storm and a busy body are waited out, a page that is not JSON, an error
    /// body, a selector that matches nothing, a repeating cursor each say what happened.
    @Test func failuresAreClearAndBounded() async throws {
        try await Self.withMock { base in
            func endpoint(_ path: String, _ extra: String) -> String {
                #"{"base_url": "\#(base)", "backoff_ms": 1, "retries": 4, "endpoints": {"e": {"path": "\#(path)", \#(extra)}}}"#
            }
            let (gateway, token) = try Self.gateway([
                "storm": endpoint("/v1/storm", #""query": {"page": "{page}"}, "pagination": {"type": "page", "size": 25}, "records": {"path": "data"}"#),
                "busy": endpoint(
                    "/v1/busybody",
                    #""query": {"page": "{page}"}, "pagination": {"type": "page", "size": 25}, "records": {"path": "data"}, "error": {"path": "code", "ok": [0], "message_path": "msg", "retry": [429]}"#
                ),
                "errbody": endpoint("/v1/errbody", #""records": {"path": "data"}, "error": {"path": "code", "ok": [0], "message_path": "msg"}"#),
                "notjson": endpoint("/v1/notjson", #""query": {"page": "{page}"}, "pagination": {"type": "page", "size": 10}, "records": {"path": "data"}"#),
                "empty": endpoint("/v1/empty", #""records": {"path": "data.list"}"#),
                "loop": endpoint(
                    "/v1/loopcursor",
                    #""query": {"cursor": "{cursor}"}, "pagination": {"type": "cursor", "cursor_path": "next"}, "records": {"path": "results"}"#),
                "unauthorized": endpoint("/v1/items", #""records": {"path": "data.list"}"#),
                "badclient":
                    #"{"base_url": "\#(base)", "auth": {"type": "oauth2_client_credentials", "token_url": "\#(base)/oauth/token", "client_id": "cid", "client_secret": "wrong"}, "endpoints": {"e": {"path": "/v1/nextbody", "records": {"path": "records"}}}}"#,
                "capped": endpoint(
                    "/v1/capped",
                    #""query": {"offset": "{offset}", "limit": "{limit}"}, "pagination": {"type": "offset", "size": 25, "total_path": "total"}, "records": {"path": "items"}"#
                ),
                "bounded":
                    #"{"base_url": "\#(base)", "max_pages": 3, "endpoints": {"e": {"path": "/v1/offset", "query": {"api_key": "k1", "offset": "{offset}", "limit": "{limit}"}, "pagination": {"type": "offset", "size": 2}, "records": {"path": "items"}}}}"#,
            ])
            try await TestServer.with(gateway) { server in
                func ask(_ id: String) async throws -> Answer { try await Self.query(server, "/api/v1/datasource/\(id)/query", token: token) }
                let storm = try await ask("storm")
                #expect(storm.status == 200 && Self.ids(storm) == Array(1...Self.records), "\(storm.message)")
                // An API capping its pages below the size asked: read page after page, nothing skipped.
                let capped = try await ask("capped")
                #expect(capped.status == 200 && Self.ids(capped) == Array(1...Self.records), "\(capped.message)")
                let busy = try await ask("busy")
                #expect(busy.status == 200 && Self.ids(busy) == Array(1...Self.records), "\(busy.message)")
                let errbody = try await ask("errbody")
                #expect(errbody.status == 502 && errbody.message.contains("code = 5: account suspended"), "\(errbody.message)")
                let notJSON = try await ask("notjson")
                #expect(notJSON.status == 502 && notJSON.message.contains("page 2: the reply is not JSON: <html>oops"), "\(notJSON.message)")
                let empty = try await ask("empty")
                #expect(empty.status == 400 && empty.message.contains("records.path 'data.list' matches nothing"), "\(empty.message)")
                let loop = try await ask("loop")
                #expect(loop.status == 400 && loop.message.contains("the cursor 'same' came back again"), "\(loop.message)")
                let unauthorized = try await ask("unauthorized")
                #expect(unauthorized.status == 502 && unauthorized.message.contains("HTTP 401"), "\(unauthorized.message)")
                let badClient = try await ask("badclient")
                #expect(badClient.status == 502 && badClient.message.contains("the token request: HTTP 401"), "\(badClient.message)")
                let bounded = try await ask("bounded")
                #expect(bounded.status == 400 && bounded.message.contains("more than max_pages (3)"), "\(bounded.message)")
            }
        }
    }

    /// A manifest with a mistake is refused when the datasource is opened, saying where.
    @Test func aBadManifestSaysWhatIsWrong() async throws {
        let cases: [(String, String)] = [
            (#"{"base_url": "ftp://x", "endpoints": {"e": {"path": "/"}}}"#, "base_url must be an absolute http(s) URL"),
            (#"{"base_url": "http://127.0.0.1", "endpoints": {"e": {"path": "/{nope}"}}}"#, "{nope} is neither one of its parameters"),
            (#"{"base_url": "http://127.0.0.1", "endpoints": {"e": {"path": "/{open"}}}"#, "'{' without its '}'"),
            (#"{"base_url": "http://127.0.0.1", "endpoints": {"e": {"path": "/", "pagination": {"type": "cursor"}}}}"#, "needs cursor_path"),
            (#"{"base_url": "http://127.0.0.1", "auth": {"type": "magic"}, "endpoints": {"e": {"path": "/"}}}"#, "auth.type must be"),
            (#"{"base_url": "http://127.0.0.1", "endpoints": {}}"#, "declare at least one"),
            (#"{"base_url": "http://127.0.0.1", "endpoints": {"e": {"path": "/", "records": {"types": {"a": "money"}}}}}"#, "records.types.a"),
        ]
        let (gateway, token) = try Self.gateway(Dictionary(uniqueKeysWithValues: cases.enumerated().map { ("m\($0.offset)", $0.element.0) }))
        try await TestServer.with(gateway) { server in
            for (i, (_, expected)) in cases.enumerated() {
                let answer = try await Self.query(server, "/api/v1/datasource/m\(i)/query", token: token)
                // The administrator's mistake, not the client's: a 500 that says what to fix.
                #expect(
                    answer.status == 500 && answer.message.contains("misconfigured") && answer.message.contains(expected),
                    "m\(i): \(answer.status) \(answer.message)")
            }
        }
    }

    /// The Jushuitan order pull re-expressed as a manifest (docs/http-json.md) passes the
    /// strict platform mock the connector passes: signed form posts, the token refreshed
    /// when the platform refuses it, both rate limits paced, 7-day windows, every order once.
    static func jushuitanManifest(_ base: String) throws -> String {
        // The doc's manifest, pointed at the mock's app; pages of 20 so that a pull outlasts
        // the mock's tokens (12 calls each).
        try Self.docManifest("jushuitan").replacingOccurrences(of: "https://openapi.jushuitan.com", with: base)
            .replacingOccurrences(of: "APP_KEY", with: "app").replacingOccurrences(of: #""app_secret": "…""#, with: #""app_secret": "secret""#)
            .replacingOccurrences(of: #""access_token": "…", "refresh_token": "…""#, with: #""access_token": "at0", "refresh_token": "rt0""#)
            .replacingOccurrences(of: #""size": 50"#, with: #""size": 20"#)
    }

    /// A manifest of docs/http-json.md: the JSON block after `<!-- example:NAME`.
    static func docManifest(_ name: String) throws -> String {
        let text = try String(contentsOfFile: TestSupport.packageRoot.appendingPathComponent("docs/http-json.md").path, encoding: .utf8)
        let start = try #require(text.range(of: "<!-- example:\(name)")?.upperBound, "no example \(name)")
        let open = try #require(text.range(of: "```json\n", range: start..<text.endIndex))
        let close = try #require(text.range(of: "\n```", range: open.upperBound..<text.endIndex))
        return String(text[open.upperBound..<close.lowerBound])
    }

    /// Every example of docs/http-json.md that reads the local API, as shown (with the
    /// mock's port): each endpoint its comment names reads its count of distinct records.
    @Test func theDocsExamplesWorkAsShown() async throws {
        let text = try String(contentsOfFile: TestSupport.packageRoot.appendingPathComponent("docs/http-json.md").path, encoding: .utf8)
        let examples = text.components(separatedBy: "<!-- example:").dropFirst().compactMap { part -> (String, [(String, Int)])? in
            let head = part.prefix { $0 != "-" }.split(separator: " ")
            guard head.count == 2, head[1].hasPrefix("expect:") else { return nil }
            let expected = head[1].dropFirst("expect:".count).split(separator: ",").compactMap { pair -> (String, Int)? in
                let kv = pair.split(separator: "=")
                return kv.count == 2 ? (String(kv[0]), Int(kv[1]) ?? -1) : nil
            }
            return (String(head[0]), expected)
        }
        #expect(examples.count == 5, "\(examples.map(\.0))")
        try await Self.withMock { base in
            let manifests = try Dictionary(
                uniqueKeysWithValues: examples.map { ($0.0, try Self.docManifest($0.0).replacingOccurrences(of: "http://127.0.0.1:8900", with: base)) })
            let (gateway, token) = try Self.gateway(manifests)
            try await TestServer.with(gateway) { server in
                for (name, expected) in examples {
                    for (endpoint, count) in expected {
                        let answer = try await Self.query(server, "/api/v1/datasource/\(name)/query?endpoint=\(endpoint)", token: token)
                        #expect(
                            answer.status == 200 && Set(Self.ids(answer)).count == count && answer.rows.count == count,
                            "\(name).\(endpoint): \(answer.message.prefix(300))")
                    }
                }
            }
        }
    }

    @Test func theJushuitanPullAsAManifestPassesTheStrictMock() async throws {
        try await JushuitanTests.withMock { base in
            let (gateway, token) = try Self.gateway(["jst": try Self.jushuitanManifest(base)])
            try await TestServer.with(gateway) { server in
                let answer = try await Self.query(server, "/api/v1/datasource/jst/query", token: token)
                #expect(answer.status == 200, "\(answer.message)")
                let ids = answer.rows.compactMap { $0["o_id"] as? Int }
                #expect(ids.count == 230 && Set(ids) == Set(1000..<1230), "\(ids.count) orders, \(Set(ids).count) distinct")
                #expect(answer.rows.first?["shop.name"] as? String == "旗舰店", "\(answer.rows.first ?? [:])")
                let stats = try JushuitanTests.mock(base, "/stats")
                let codes = stats["codes"] as? [String: Int] ?? [:]
                #expect(codes["10"] == nil && codes["140"] == nil && codes["130"] == nil, "signature, timestamp and window all accepted: \(codes)")
                #expect((stats["refreshes"] as? Int ?? 0) >= 1 && codes["100", default: 0] >= 1, "the token expired and was refreshed: \(stats)")
                JushuitanTests.expectNoGrossBreach(stats)
                // The cursor was committed: a second read finds nothing new, then the new order.
                let again = try await Self.query(server, "/api/v1/datasource/jst/query", token: token)
                #expect(again.status == 200 && again.rows.count <= 1, "\(again.rows.count) rows")
            }
        }
    }

    /// Seed 002's demo API crawled through a manifest gives exactly http.pager's rows.
    @Test func seed002PagesThroughAManifestMatchHttpPager() async throws {
        try await TestSupport.withHelperServer("page_server.py") { port in
            let base = "http://127.0.0.1:\(port)"
            let manifest = try Self.docManifest("seed002").replacingOccurrences(of: "https://demo.example.com", with: base)
            let (gateway, _) = try Self.gateway(["declared": manifest, "slow": manifest.replacingOccurrences(of: #""/pages""#, with: #""/slow""#)])
            var config = gateway.config
            config.datasources["coded"] = DatasourceDefinition(
                plugin: "http.pager", config: .object(["url": .string("\(base)/pages"), "param": .object(["limit": .number(100)])]))
            let both = try Gateway(config: config)
            let reader = try both.tokens.create(name: "r", scopes: ["query"]).secret
            try await TestServer.with(both) { server in
                // Once page 1 says how many there are, the others are fetched at once (the
                // slow pages take 300 ms each), and still emitted in order.
                let slow = try await server.request(.GET, "/api/v1/datasource/slow/query", headers: [("Authorization", "Bearer \(reader)")])
                #expect(slow.status == 200 && slow.text.contains(#""编号":499"#), "\(slow.text.prefix(200))")
                let stats = try JushuitanTests.mock(base, "/stats")
                #expect((stats["max_in_flight"] as? Int ?? 0) >= 2, "\(stats)")
                for format in ["json", "arrow"] {
                    let declared = try await server.request(
                        .GET, "/api/v1/datasource/declared/query?format=\(format)", headers: [("Authorization", "Bearer \(reader)")])
                    let coded = try await server.request(
                        .GET, "/api/v1/datasource/coded/query?format=\(format)", headers: [("Authorization", "Bearer \(reader)")])
                    #expect(declared.status == 200 && coded.status == 200, "\(declared.text.prefix(300)) \(coded.text.prefix(300))")
                    #expect(declared.body == coded.body, "\(format): \(declared.text.prefix(300))\n\(coded.text.prefix(300))")
                    if format == "json" { #expect(declared.text.contains(#""编号":499"#), "\(declared.text.suffix(200))") }
                }
            }
        }
    }

    /// An incremental endpoint reads from its cursor, which advances only when a read ran to
    /// its end and was delivered: a read cut short by RowLimit leaves it where it was.
    @Test func anIncrementalCursorAdvancesOnlyWithADeliveredRead() async throws {
        try await Self.withMock { base in
            let manifest = #"""
                {"base_url": "\#(base)", "endpoints": {"changes": {"path": "/v1/changes",
                  "query": {"since": "{incremental.start}", "until": "{incremental.end}", "page": "{page}"},
                  "pagination": {"type": "page", "size": 10, "has_more_path": "has_more"}, "records": {"path": "data"}, "primary_key": "id",
                  "incremental": {"field": "updated_at", "start": "2026-11-01T00:00:00Z", "step_seconds": 864000}}}}
                """#
            let (gateway, token) = try Self.gateway(["api": manifest])
            try await TestServer.with(gateway) { server in
                let cut = try await Self.query(server, "/api/v1/datasource/api/query?RowLimit=5", token: token)
                #expect(Self.ids(cut) == Array(1...5), "\(cut.message)")
                let first = try await Self.query(server, "/api/v1/datasource/api/query", token: token)
                #expect(Self.ids(first) == Array(1...Self.records), "\(first.message)")
                let none = try await Self.query(server, "/api/v1/datasource/api/query", token: token)
                #expect(none.status == 200 && none.rows.isEmpty, "\(none.rows.count) rows")
                _ = try JushuitanTests.mock(base, "/control", post: ["add": 3])
                // The new records are stamped now, inside this read's window only once it ends after them.
                try await Task.sleep(for: .milliseconds(1100))
                let new = try await Self.query(server, "/api/v1/datasource/api/query", token: token)
                #expect(Self.ids(new) == [58, 59, 60], "\(new.message)")
            }
        }
    }

    /// `gateway connector check` reads the first rows of each endpoint and prints the
    /// columns they make, or why an endpoint cannot be read (exit 1); `plugins verify`
    /// checks the plugin's contract.
    @Test func theConnectorCheckCommandShowsEachEndpointsColumns() async throws {
        try await Self.withMock { base in
            let work = TestSupport.temporaryDirectory("connector-check")
            let manifest = "\(work)/manifest.json"
            try #"""
            {"base_url": "\#(base)", "endpoints": {
              "items": {"path": "/v1/items", "headers": {"X-Api-Key": "k1"}, "query": {"page": "{page}", "per_page": "{limit}"},
                        "pagination": {"type": "page", "size": 10, "has_more_path": "data.has_more"}, "records": {"path": "data.list"}},
              "orders": {"path": "/v1/orders/{shop}", "parameters": {"shop": {"required": true}}},
              "broken": {"path": "/v1/empty", "records": {"path": "data.list"}}}}
            """#.write(toFile: manifest, atomically: true, encoding: .utf8)
            let binary = try TestSupport.product("gateway")
            let checked = try await TestSupport.onThread {
                try TestSupport.run(binary, ["connector", "check", manifest, "--data-dir", work, "--rows", "2", "--param", "orders.shop=s1"])
            }
            #expect(checked.status == 1, "\(checked.output)")
            #expect(checked.output.contains("endpoint items:\n  columns: id int64, name utf8"), "\(checked.output)")
            #expect(checked.output.contains(#"{"active":false,"id":1,"#), "\(checked.output)")
            #expect(checked.output.contains(#""shop":"s1""#), "\(checked.output)")
            #expect(checked.output.contains("endpoint broken:\n  error: ") && checked.output.contains("matches nothing"), "\(checked.output)")
            #expect(!checked.output.contains("\"id\":3"), "two rows per endpoint: \(checked.output)")
            let one = try await TestSupport.onThread {
                try TestSupport.run(binary, ["connector", "check", manifest, "--data-dir", work, "--endpoint", "items"])
            }
            #expect(one.status == 0 && !one.output.contains("broken"), "\(one.output)")
            let verified = try await TestSupport.onThread {
                try TestSupport.run(binary, ["plugins", "verify", "--data-dir", work, try TestSupport.product("libHttpJson.so")])
            }
            #expect(verified.status == 0 && verified.output.contains("6 passed, 0 failed"), "\(verified.output)")
        }
    }

    /// Two reads at once whose token runs out together refresh it once between them: the
    /// refresh token rotates (the old one is refused), so a second refresh would fail one
    /// read. In worker processes too (the plugin's shared lock and state are the gateway's).
    @Test(arguments: ["in_process", "process"])
    func concurrentReadsRefreshARotatingTokenOnce(isolation: String) async throws {
        try await Self.withMock { base in
            let manifest =
                #"{"base_url": "\#(base)", "concurrency": 1, "auth": {"type": "oauth2_refresh_token", "token_url": "\#(base)/oauth/token", "client_id": "cid", "refresh_token": "rt0"}, "endpoints": {"r": {"path": "/v1/refreshed", "query": {"page": "{page}"}, "pagination": {"type": "page", "size": 5, "has_more_path": "more"}, "records": {"path": "records"}}}}"#
            let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
                config.http.allowHosts = ["127.0.0.1"]
                config.plugins.isolation["http.json"] = isolation
                config.datasources["a"] = DatasourceDefinition(
                    plugin: "http.json", config: try! JSONDecoder().decode(JSONValue.self, from: Data(manifest.utf8)))
                config.datasources["b"] = config.datasources["a"]
            }
            let token = try gateway.tokens.create(name: "reader", scopes: ["query"]).secret
            try await TestServer.with(gateway) { server in
                async let a = Self.query(server, "/api/v1/datasource/a/query", token: token)
                async let b = Self.query(server, "/api/v1/datasource/b/query", token: token)
                let (first, second) = try await (a, b)
                #expect(Self.ids(first) == Array(1...Self.records), "\(first.message)")
                #expect(Self.ids(second) == Array(1...Self.records), "\(second.message)")
                let stats = try JushuitanTests.mock(base, "/stats")
                // 24 pages at 3 calls a token: about 8 tokens, each obtained once for both.
                #expect((stats["refreshes"] as? Int ?? 0) <= 10, "\(stats)")
            }
        }
    }

    /// A dataflow reads an endpoint (`"endpoint"` in its source) into a dataset; a lookback
    /// reads late writes again, and the target's key keeps them once.
    @Test func aFlowReadsAnEndpointAndALookbackRereadsRecentRecords() async throws {
        try await Self.withMock { base in
            let manifest = #"""
                {"base_url": "\#(base)", "endpoints": {
                  "items": {"path": "/v1/items", "headers": {"X-Api-Key": "k1"}, "query": {"page": "{page}", "per_page": "{limit}"},
                            "pagination": {"type": "page", "size": 10, "has_more_path": "data.has_more"}, "records": {"path": "data.list", "select": ["id", "name"]}},
                  "changes": {"path": "/v1/changes", "query": {"since": "{incremental.start}", "until": "{incremental.end}", "page": "{page}"},
                              "pagination": {"type": "page", "size": 10, "has_more_path": "has_more"}, "records": {"path": "data", "select": ["id", "name"]},
                              "incremental": {"field": "updated_at", "start": "2026-11-01T00:00:00Z", "lookback_seconds": 3600}}}}
                """#
            let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
                config.http.allowHosts = ["127.0.0.1"]
                config.datasources["api"] = DatasourceDefinition(
                    plugin: "http.json", config: try! JSONDecoder().decode(JSONValue.self, from: Data(manifest.utf8)))
                config.datasets = [
                    "items": DatasetDefinition(table: "items(id integer, name text)"),
                    "changes": DatasetDefinition(table: "changes(id integer, name text)", keys: ["id"]),
                ]
            }
            let admin = try gateway.tokens.create(name: "admin", scopes: ["admin"]).secret
            try await TestServer.with(gateway) { server in
                func run(_ endpoint: String, mode: String) async throws -> [String: Any] {
                    let config: [String: Any] = [
                        "source": ["type": "datasource", "id": "api", "endpoint": endpoint], "target": ["type": "dataset", "id": endpoint, "mode": mode],
                    ]
                    let made = try await DataflowTests.call(
                        server, .POST, "/add-dataflow", token: admin,
                        body: ["name": "\(endpoint) \(mode) \(UUID().uuidString.prefix(6))", "description": "d", "config": config])
                    let flow = try #require((made.1["data"] as? [String: Any])?["id"] as? Int, "\(made)")
                    _ = try await DataflowTests.call(server, .POST, "/execute-dataflow/\(flow)", token: admin, body: [:])
                    return try await DataflowTests.waitForEnd(server, flow: flow, token: admin)
                }
                let items = try await run("items", mode: "append")
                #expect(items["status"] as? String == "completed" && items["rows_written"] as? Int == Self.records, "\(items)")
                _ = try JushuitanTests.mock(base, "/control", post: ["add": 2])
                try await Task.sleep(for: .milliseconds(1100))
                let changes = try await run("changes", mode: "upsert")
                #expect(changes["status"] as? String == "completed" && changes["rows_written"] as? Int == Self.records + 2, "\(changes)")
                let rows = try SQLiteConnection(path: gateway.datasetsPath).query("SELECT count(*) FROM changes")[0][0].int
                #expect(rows == Int64(Self.records + 2))
            }
            // The flow's own instance keeps its cursor; read through the query API the
            // datasource's instance starts from the beginning, and a second read gets only
            // the last hour again (the two records stamped just now).
            let reader = try gateway.tokens.create(name: "reader", scopes: ["query"]).secret
            try await TestServer.with(gateway) { server in
                _ = try await Self.query(server, "/api/v1/datasource/api/query?endpoint=changes", token: reader)
                let again = try await Self.query(server, "/api/v1/datasource/api/query?endpoint=changes", token: reader)
                #expect(Self.ids(again) == [58, 59], "\(again.message)")
            }
        }
    }

    /// What a hostile review found, each now refused with a clear error: a reply claiming
    /// Int64.max records or pages (an overflow trap before), a credential in a URL shown in an
    /// error, a path parameter walking up the API, two datasources sharing a token endpoint
    /// with other credentials, two fields made one column.
    @Test func hostileRepliesAndCallersGetClearErrors() async throws {
        try await Self.withMock { base in
            let oauth = { (secret: String) in
                #"{"base_url": "\#(base)", "auth": {"type": "oauth2_client_credentials", "token_url": "\#(base)/oauth/token", "client_id": "cid", "client_secret": "\#(secret)"}, "endpoints": {"e": {"path": "/v1/nextbody", "pagination": {"type": "next_link", "next_path": "links.next"}, "records": {"path": "records"}}}}"#
            }
            let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
                config.http.allowHosts = ["127.0.0.1"]
                config.http.maxResponseBytes = 2_000
                let manifests = [
                    "hugetotal":
                        #"{"base_url": "\#(base)", "endpoints": {"e": {"path": "/v1/hugetotal", "pagination": {"type": "offset", "size": 10, "total_path": "total"}, "records": {"path": "items"}}}}"#,
                    "hugepages":
                        #"{"base_url": "\#(base)", "endpoints": {"e": {"path": "/v1/hugepages", "query": {"page": "{page}"}, "pagination": {"type": "page", "size": 5, "total_pages_path": "total_pages"}, "records": {"path": "data"}}}}"#,
                    "big":
                        #"{"base_url": "\#(base)", "endpoints": {"e": {"path": "/v1/offset", "query": {"api_key": "k1", "offset": "0", "limit": "50"}, "records": {"path": "items"}}}}"#,
                    "walk": #"{"base_url": "\#(base)", "endpoints": {"e": {"path": "/v1/orders/{shop}", "parameters": {"shop": {"required": true}}}}}"#,
                    "good": oauth("csecret"), "bad": oauth("wrong"),
                    "twice":
                        #"{"base_url": "\#(base)", "headers": {"X-Api-Key": "k1"}, "endpoints": {"e": {"path": "/v1/items", "records": {"path": "data.list", "rename": {"name": "id"}}}}}"#,
                ]
                for (id, text) in manifests {
                    config.datasources[id] = DatasourceDefinition(plugin: "http.json", config: try! JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)))
                }
            }
            let token = try gateway.tokens.create(name: "reader", scopes: ["query"]).secret
            try await TestServer.with(gateway) { server in
                func ask(_ path: String) async throws -> Answer { try await Self.query(server, "/api/v1/datasource/\(path)", token: token) }
                let total = try await ask("hugetotal/query")
                #expect(total.status == 400 && total.message.contains("more than max_pages"), "\(total.message)")
                let pages = try await ask("hugepages/query")
                #expect(pages.status == 400 && pages.message.contains("more than max_pages"), "\(pages.message)")
                let big = try await ask("big/query")
                #expect(big.status == 502 && big.message.contains("larger than http.maxResponseBytes") && !big.message.contains("k1"), "\(big.message)")
                let walk = try await ask("walk/query?$shop=..")
                #expect(walk.status == 400 && walk.message.contains("'..' is not a value for {shop}"), "\(walk.message)")
                #expect(Self.ids(try await ask("good/query")) == Array(1...Self.records))
                let bad = try await ask("bad/query")
                #expect(bad.status == 502 && bad.message.contains("the token request: HTTP 401"), "another secret, another token: \(bad.message)")
                let twice = try await ask("twice/query")
                #expect(twice.status == 400 && twice.message.contains("would both be the column 'id'"), "\(twice.message)")
            }
        }
    }
}
