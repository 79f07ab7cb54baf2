import Foundation
import PluginKit
import Testing
@testable import Host

/// The http.writer sink plugin against a mock integration-platform write API
/// (Fixtures/platform_mock.py): seed 003 both sides as one flow, refused rows, retries.
@Suite struct HttpWriterTests {
    /// Off the cooperative threads, which the in-process gateway's handlers need.
    static func platform(_ port: Int, _ path: String, post: [String: Any]? = nil) async throws -> Any? {
        let arguments =
            try [
                "python3", "-c",
                """
                import urllib.request, sys
                data = sys.argv[2].encode() if len(sys.argv) > 2 else None
                print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=data)).read().decode())
                """, "http://127.0.0.1:\(port)\(path)",
            ] + (post.map { [String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self)] } ?? [])
        let result = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", arguments) }
        return try? JSONSerialization.jsonObject(with: Data(result.output.utf8))
    }

    static func writer(_ port: Int, _ extra: [String: Any] = [:]) -> [String: Any] {
        [
            "url": "http://127.0.0.1:\(port)/write",
            "secret_headers": ["X-Token": "secret-1"],
            "body": ["wrap": "data", "extra": ["app": "erp"]],
            "success": ["field": "code", "equals": 0],
            "rejected": ["field": "data.failed", "index": "index", "reason": "reason"],
            "retries": 3, "backoff_ms": 100,
        ].merging(extra) { $1 }
    }

    static func logs(_ server: TestServer, _ flow: Int) async throws -> [String] {
        let reply = try await DataflowTests.call(server, .GET, "/get-dataflow-logs/\(flow)?page_size=100", token: nil)
        return ((reply.1["data"] as? [String: Any])?["logs"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
    }

    /// Seed 003 as one flow: Jushuitan orders → mapping → the platform, in batches of 50 at
    /// most 100 rows a second. Every order arrives once across runs; a batch refused mid-run
    /// fails the run and leaves the connector's cursor; the next run delivers the rest
    /// without sending again what the platform took (id_check).
    @Test func seed003BothSidesDeliversEveryOrderOnce() async throws {
        try await JushuitanTests.withMock { base in
            try await TestSupport.withHelperServer("platform_mock.py") { port in
                let (gateway, _) = try DataflowTests.gateway(requireToken: false)
                let connector = try JSONSerialization.jsonObject(
                    with: Data(
                        JushuitanTests.config(base).replacingOccurrences(
                            of: #","end":"2026-11-20 00:00:00""#, with: #","lag_seconds":0"#
                        ).utf8))
                let config: [String: Any] = [
                    "source": ["type": "plugin", "plugin": "jushuitan", "config": connector],
                    "transforms": [
                        ["select": ["o_id", "so_id", "modified", "pay_amount", "shop.name"]], ["rename": ["shop.name": "shop"]],
                        ["cast": ["pay_amount": "real"]],
                    ],
                    "target": [
                        "type": "plugin", "plugin": "http.writer",
                        "config": Self.writer(port, ["batch_size": 50, "rows_per_second": 100, "id_check": "o_id"]),
                    ],
                ]
                try await TestServer.with(gateway) { server in
                    let created = try await DataflowTests.call(
                        server, .POST, "/add-dataflow", token: nil, body: ["name": "聚水潭订单写入集成平台", "description": "seed 003", "config": config])
                    let id = try #require((created.1["data"] as? [String: Any])?["id"] as? Int)
                    func run() async throws -> [String: Any] {
                        _ = try await DataflowTests.call(server, .POST, "/execute-dataflow/\(id)", token: nil, body: [:])
                        return try await DataflowTests.waitForEnd(server, flow: id, token: "")
                    }
                    func delivered() async throws -> (rows: Int, distinct: Int) {
                        let rows = try await Self.platform(port, "/rows") as? [[String: Any]] ?? []
                        return (rows.count, Set(rows.compactMap { $0["o_id"] as? Int }).count)
                    }

                    let started = Date()
                    let first = try await run()
                    #expect(first["status"] as? String == "completed" && first["rows_written"] as? Int == 230, "\(first)")
                    #expect(try await delivered() == (230, 230))
                    // Paced: never more than 100 rows in any second as the pacer let them go. At
                    // the platform, arrivals can bunch by the machine's load (a request paced in
                    // time but delayed 150 ms lands with the next): there, one batch of slack.
                    let paced = try await TestSupport.onThread {
                        try gateway.services.coordination.recentCalls(plugin: "http.writer", bucket: "rows http://127.0.0.1:\(port)/write")
                    }
                    #expect(paced.count == 230, "every row paced (and counted where the test looks)")
                    for (i, t) in paced.enumerated() where i >= 100 { #expect(t - paced[i - 100] >= 1.0, "101 rows paced within a second") }
                    let stats = try await Self.platform(port, "/stats") as? [String: Any] ?? [:]
                    // At the platform only a gross breach is judged: its arrival stamps bunch on a
                    // loaded machine (see JushuitanTests.expectNoGrossBreach); two pacers apart
                    // would let 200 rows through in a second.
                    #expect((stats["max_rows_per_second"] as? Int ?? .max) < 200, "\(stats)")
                    #expect(Date().timeIntervalSince(started) >= 1.3, "230 rows at 100 a second take more than 2 s")
                    let row = try #require((try await Self.platform(port, "/rows") as? [[String: Any]])?.first { $0["o_id"] as? Int == 1000 })
                    #expect(row["shop"] as? String == "旗舰店" && row["pay_amount"] as? Double == 0.5, "\(row)")

                    _ = try JushuitanTests.mock(base, "/control", post: ["add_orders": 3])
                    try await Task.sleep(for: .milliseconds(1_100))
                    let second = try await run()
                    #expect(second["status"] as? String == "completed" && second["rows_written"] as? Int == 3, "\(second)")
                    #expect(try await delivered() == (233, 233))

                    // 120 new orders; the platform takes the first batch of 50, refuses the second.
                    _ = try JushuitanTests.mock(base, "/control", post: ["add_orders": 120])
                    _ = try await Self.platform(port, "/control", post: ["refuse_after": 1])
                    try await Task.sleep(for: .milliseconds(1_100))
                    let failed = try await run()
                    #expect(failed["status"] as? String == "failed", "\(failed)")
                    let reason = failed["error_message"] as? String ?? ""
                    #expect(reason.hasPrefix("batch 2 (rows 50–99) refused: 'code' is 1, not 0: ") && reason.contains("app quota exceeded"), "\(reason)")
                    #expect(try await delivered() == (283, 283))

                    // The cursor did not move: the next run reads the 120 again, sends the 70
                    // the platform does not have, and skips the 50 it took.
                    let third = try await run()
                    #expect(third["status"] as? String == "completed" && third["rows_read"] as? Int == 120, "\(third)")
                    #expect(try await delivered() == (353, 353))
                    #expect(try await Self.logs(server, id).contains { $0.contains("50 rows not sent: their id_check ids were accepted before") })

                    // Nothing new: nothing sent.
                    let fourth = try await run()
                    #expect(fourth["status"] as? String == "completed" && fourth["rows_read"] as? Int == 0, "\(fourth)")
                    #expect(try await delivered() == (353, 353))
                }
            }
        }
    }

    /// Rows refused one by one are logged and counted, the rest delivered; 503s and a 429
    /// are retried (and logged in the run); a wrong credential fails the run at once.
    @Test func refusedRowsRetriesAndAuthFailures() async throws {
        try await TestSupport.withHelperServer("platform_mock.py") { port in
            let (gateway, _) = try DataflowTests.gateway(requireToken: false)
            let source: [String: Any] = [
                "type": "sql",
                "query":
                    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 25) SELECT n AS o_id, CASE WHEN n % 10 = 0 THEN -n ELSE n * 1.5 END AS pay_amount FROM c",
            ]
            try await TestServer.with(gateway) { server in
                func flow(_ name: String, _ writer: [String: Any]) async throws -> Int {
                    let body: [String: Any] = [
                        "name": name, "description": "d",
                        "config": ["source": source, "target": ["type": "plugin", "plugin": "http.writer", "config": writer]],
                    ]
                    let created = try await DataflowTests.call(server, .POST, "/add-dataflow", token: nil, body: body)
                    return try #require((created.1["data"] as? [String: Any])?["id"] as? Int)
                }
                func run(_ id: Int) async throws -> [String: Any] {
                    _ = try await DataflowTests.call(server, .POST, "/execute-dataflow/\(id)", token: nil, body: [:])
                    return try await DataflowTests.waitForEnd(server, flow: id, token: "")
                }
                _ = try await Self.platform(port, "/control", post: ["unavailable_next": 2, "limit_next": 1])
                let id = try await flow("refusals", Self.writer(port, ["batch_size": 10]))
                let ended = try await run(id)
                #expect(ended["status"] as? String == "completed" && ended["rows_written"] as? Int == 23 && ended["rows_rejected"] as? Int == 2, "\(ended)")
                let rows = try await Self.platform(port, "/rows") as? [[String: Any]] ?? []
                #expect(rows.count == 23 && !rows.contains { ($0["pay_amount"] as? Double ?? 0) < 0 })
                let lines = try await Self.logs(server, id)
                #expect(lines.contains { $0.contains("row 9 refused by 'http.writer': pay_amount -10 is negative") }, "\(lines)")
                #expect(
                    lines.filter { $0.contains("HTTP 503, retrying") }.count == 2 && lines.contains { $0.contains("HTTP 429, retrying in 1.0 s") }, "\(lines)")

                var badToken = Self.writer(port)
                badToken["secret_headers"] = ["X-Token": "wrong"]
                let refused = try await run(try await flow("bad token", badToken))
                #expect(
                    refused["status"] as? String == "failed"
                        && (refused["error_message"] as? String ?? "").hasPrefix("batch 1 (rows 0–24) refused: HTTP 401: "), "\(refused)")
                // The secret is not in the stored run nor in its log.
                #expect(!(try await Self.logs(server, id)).joined().contains("secret-1"))
            }
        }
    }

    @Test func verifyAndConfigRefusals() throws {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory])
        let checks = PluginVerifier(services: gateway.services, scratchDirectory: gateway.dataDirectory)
            .verify(path: "\(TestSupport.productsDirectory)/libHttpWriter.so")
        #expect(checks.allSatisfy { $0.passed }, "\(checks)")
        let plugin = try #require(gateway.registry.plugin(id: "http.writer"))
        let context = InstanceContext(pluginId: plugin.id, instanceName: "t", services: gateway.services)
        for (config, message) in [
            (#"{}"#, "missing required field 'url'"),
            (#"{"url": "ftp://x/y"}"#, "'url' must be an absolute http(s) URL"),
            (#"{"url": "http://h/w", "batch_size": 0}"#, "'batch_size' must be 1 to 100000"),
            (#"{"url": "http://h/w", "body": {"extra": {"a": 1}}}"#, "'body.extra' needs 'body.wrap': a JSON array has no room for other fields"),
            (#"{"url": "http://h/w", "headers": {"Bad Name": "v"}}"#, "header name 'Bad Name' is not a valid HTTP header name"),
        ] {
            #expect {
                _ = try SinkHandle(plugin: plugin, config: config, context: context)
            } throws: { ($0 as? PluginError)?.message == message }
        }
    }
}
